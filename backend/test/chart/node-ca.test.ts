// The chart hands the agent the node's CA bundle through an environment variable
// (agent.registries.nodeCABundle). This runs the real registry client (`slipstream check-registry`,
// the same TLS code as the agent) against a real HTTPS registry whose certificate no bundled root
// signs: with the variable the chart sets, pointed at that CA, the registry is trusted.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeServerCert, type TestCert } from '../support/tls.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { createRenderer, find, repoRoot } from './render.ts';

interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  name: string;
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
}

let dir: string;
let cert: TestCert;
let registry: RegistryFixture;
let caVariable: string;

beforeAll(async () => {
  const renderer = await createRenderer();
  try {
    const { objects } = await renderer.render();
    const ds = find(objects, 'DaemonSet', 'slipstream-agent') as unknown as {
      spec: { template: { spec: { containers: Container[] } } };
    };
    const agent = ds.spec.template.spec.containers.find((c) => c.name === 'agent')!;
    const mount = agent.volumeMounts!.find((m) => m.name === 'node-ca')!;
    // The variable whose value is where the node's bundle is mounted.
    const variable = agent.env!.find((e) => e.value === mount.mountPath);
    if (!variable) throw new Error('the agent has no variable naming the node CA bundle');
    caVariable = variable.name;
  } finally {
    await renderer.cleanup();
  }
  dir = await makeTempDir('node-ca');
  cert = await makeServerCert(dir);
  registry = await startRegistry({ tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
  await writeFile(join(dir, 'registries.conf'), '');
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  if (dir) await removeDir(dir);
});

/** The `reachable` check of `slipstream check-registry --json` for a tag that does not exist. */
async function reachability(env: Record<string, string>): Promise<string> {
  const args = [
    join(repoRoot, 'backend/bin/slipstream.js'),
    'check-registry',
    '--json',
    '--registries-conf',
    join(dir, 'registries.conf'),
    `${registry.host}/absent:tag`,
  ];
  const stdout = await new Promise<string>((resolve) => {
    // Exit status 1: the check fails either way (the tag does not exist); the detail tells why.
    execFile(process.execPath, args, { env: { PATH: process.env.PATH, ...env } }, (_e, out) =>
      resolve(out),
    );
  });
  const report = JSON.parse(stdout) as { checks: { name: string; detail: string }[] };
  return report.checks.find((c) => c.name === 'reachable')!.detail;
}

it('the agent sets NODE_EXTRA_CA_CERTS to the mounted bundle', () => {
  expect(caVariable).toBe('NODE_EXTRA_CA_CERTS');
});

it('without the node bundle the registry’s certificate is refused', async () => {
  expect(await reachability({})).toMatch(/SELF_SIGNED|certificate/i);
});

it('with the variable the chart sets, the registry is trusted and answers', async () => {
  const detail = await reachability({ [caVariable]: cert.certFile });
  expect(detail).not.toMatch(/certificate|SELF_SIGNED/i);
  expect(detail).toMatch(/not.found/i);
});
