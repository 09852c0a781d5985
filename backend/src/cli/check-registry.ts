// `slipstream check-registry REF`: does this repository support what lazy pulling needs?
// Exit code 0 = lazy pulling can work, 1 = it cannot (a blocking check failed), 2 = bad input.
import { stat } from 'node:fs/promises';

import { Option, type Command } from 'commander';

import { checkRegistry, type RegistryCheckReport } from '../registry/check.ts';
import { RegistryClient } from '../registry/client.ts';
import { CredentialStore } from '../registry/credentials.ts';
import { RegistryError } from '../registry/errors.ts';
import { parsePlatform } from '../registry/manifest.ts';
import { parseReference } from '../registry/reference.ts';
import { loadRegistriesConf } from '../registry/registries-conf.ts';

interface CheckFlags {
  json?: boolean;
  insecure?: boolean;
  platform?: string;
  authFile?: string[];
  registriesConf: string;
  certsDir?: string[];
  timeout: string;
}

function formatReport(r: RegistryCheckReport): string {
  const lines = [`${r.reference}: lazy pulling ${r.ok ? 'CAN' : 'CANNOT'} work here`];
  if (r.source)
    lines.push(
      `  source     ${r.source.registry}/${r.source.repository}${r.source.mirror ? ' (mirror)' : ''}`,
    );
  lines.push(`  auth       ${r.auth}`);
  if (r.manifest)
    lines.push(
      `  manifest   ${r.manifest.mediaType}${r.manifest.fromIndex ? ' (from an index)' : ''}, ${r.manifest.layers} layers`,
    );
  for (const c of r.checks) {
    const mark = c.ok ? 'ok  ' : c.blocking ? 'FAIL' : 'warn';
    lines.push(`  [${mark}] ${c.name.padEnd(12)} ${c.detail}`);
  }
  if (r.smallRangeLatencyMs !== undefined)
    lines.push(
      `  latency    ${r.smallRangeLatencyMs.toFixed(1)} ms to first byte of a 4 KiB range (median of 3)`,
    );
  if (r.throughput) {
    const t = r.throughput;
    lines.push(
      `  throughput ${t.mibPerSecond.toFixed(1)} MiB/s for a ${(t.bytes / (1 << 20)).toFixed(2)} MiB range (${(t.seconds * 1000).toFixed(0)} ms)`,
    );
  }
  for (const l of r.layers)
    lines.push(
      `  layer ${l.digest.slice(0, 19)}… ${String(l.size).padStart(11)} B  ${l.format}${l.lazySupported ? '' : ` — ${l.reason}`}`,
    );
  return lines.join('\n');
}

/** Repeatable options collect their values (a variadic one would swallow the reference). */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Files and directories named on the command line must exist (the defaults may not). */
async function checkGiven(paths: string[] | undefined, what: string, dir: boolean) {
  for (const path of paths ?? []) {
    const found = await stat(path).catch(() => undefined);
    if (!found) throw new Error(`${what} ${path} does not exist`);
    if (found.isDirectory() !== dir) {
      throw new Error(`${what} ${path} is ${dir ? 'not a directory' : 'a directory'}`);
    }
  }
}

async function run(reference: string, flags: CheckFlags): Promise<number> {
  const timeoutSeconds = Number(flags.timeout);
  try {
    parseReference(reference);
    if (!(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0)) {
      throw new Error(`--timeout must be a positive number of seconds, not "${flags.timeout}"`);
    }
    await checkGiven(flags.authFile, '--auth-file', false);
    await checkGiven(flags.certsDir, '--certs-dir', true);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  const credentials = await CredentialStore.fromFiles(flags.authFile);
  for (const warning of credentials.warnings) process.stderr.write(`warning: ${warning}\n`);
  const registries = await loadRegistriesConf(flags.registriesConf);
  const client = new RegistryClient({
    credentials,
    registries,
    ...(flags.insecure ? { insecure: true } : {}),
    ...(flags.certsDir ? { certsDirs: flags.certsDir } : {}),
    timeoutMs: timeoutSeconds * 1000,
  });
  try {
    const report = await checkRegistry(
      client,
      reference,
      flags.platform ? { platform: parsePlatform(flags.platform) } : {},
    );
    process.stdout.write(
      flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`,
    );
    return report.ok ? 0 : 1;
  } finally {
    await client.close();
  }
}

export function registerCheckRegistry(program: Command): void {
  program
    .command('check-registry')
    .description(
      'check that a registry repository supports lazy pulling (auth, ranges, redirects, eStargz layers)',
    )
    .argument('<ref>', 'image reference, e.g. quay.io/org/app:tag')
    .option('--json', 'print the report as JSON')
    .option('--insecure', 'allow plain http and unverified TLS for every registry')
    .option('--platform <os/arch[/variant]>', 'platform to resolve (default: this machine)')
    .option(
      '--auth-file <path>',
      'auth.json / config.json file, repeatable (default: the containers and docker locations)',
      collect,
    )
    .option(
      '--registries-conf <path>',
      'registries.conf with mirrors (drop-ins in <path>.d)',
      '/etc/containers/registries.conf',
    )
    .option('--certs-dir <dir>', 'certs.d directory with <host>/ca.crt, repeatable', collect)
    .addOption(
      new Option('--timeout <seconds>', 'deadline per request, retries included').default('30'),
    )
    .action(async (reference: string, flags: CheckFlags) => {
      try {
        process.exitCode = await run(reference, flags);
      } catch (e) {
        // Typed errors (bad config files, unsupported credential helpers) are one line, never a trace.
        process.stderr.write(`error: ${e instanceof RegistryError ? e.message : String(e)}\n`);
        process.exitCode = 2;
      }
    });
}
