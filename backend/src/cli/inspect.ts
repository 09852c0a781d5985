// `slipstream inspect REF|FILE`: each layer's format, TOC digest check, entries, landmark,
// prefetch size and sizes; `--verify-chunks` reads and verifies every chunk.
import { open, stat } from 'node:fs/promises';

import type { Command } from 'commander';

import {
  inspectImage,
  inspectLayer,
  reportIsClean,
  type ImageReport,
  type LayerReport,
  type UncompressedSizeCheck,
} from '../convert/inspect.ts';
import { formatBytes } from '../convert/progress.ts';
import { createCliRegistryClient, openImage } from '../convert/refs.ts';

interface InspectFlags {
  json?: boolean;
  insecure?: boolean;
  verifyChunks?: boolean;
}

/** A blob file to inspect (false: a reference); a path that names nothing is an error. */
async function isLocalFile(ref: string): Promise<boolean> {
  if (ref.startsWith('oci:')) return false;
  try {
    return (await stat(ref)).isFile();
  } catch (err) {
    // A path (no registry reference starts like one) that is not there: say so, not that it
    // is a bad reference.
    if (/^(?:\/|\.{1,2}\/)/.test(ref) && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${ref}: no such file or directory`);
    }
    return false;
  }
}

async function inspectFile(path: string, verifyChunks: boolean): Promise<LayerReport> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const read = async (start: number, end: number) => {
      const buf = Buffer.alloc(end - start);
      await handle.read(buf, 0, buf.length, start);
      return buf;
    };
    return await inspectLayer(
      { mediaType: 'application/octet-stream', digest: `file:${path}`, size },
      read,
      { verifyChunks },
    );
  } finally {
    await handle.close();
  }
}

/** The words for a check that passed (true), failed (false) or had nothing to check (null). */
function outcome(check: boolean | null, [passed, failed, none]: [string, string, string]): string {
  return check === null ? none : check ? passed : failed;
}

/** The uncompressed size the annotation gives, or why it is wrong. */
function uncompressedWords(check: UncompressedSizeCheck | null): string {
  if (check === null) return '';
  if (check.agrees) {
    return `, uncompressed ${formatBytes(Number(check.annotation))}${check.exact ? ' (annotation checked)' : ''}`;
  }
  const says = /^\d+$/.test(check.annotation)
    ? `${check.annotation} bytes`
    : JSON.stringify(check.annotation);
  const actual = check.exact
    ? `the layer decompresses to ${check.measured} bytes`
    : `its files alone take ${check.measured} bytes`;
  return `, uncompressed-size annotation WRONG: says ${says}, ${actual}`;
}

function layerLines(l: LayerReport): string[] {
  const lines = [`  ${l.digest}  ${formatBytes(l.size)}  ${l.format}  (${l.reason})`];
  if (l.error) lines.push(`    error: ${l.error}`);
  if (l.toc) {
    const check = outcome(l.toc.verified, ['matches annotation', 'MISMATCH', 'no annotation']);
    const hint = outcome(l.toc.offsetHint, [', offset annotated', ', offset annotation WRONG', '']);
    const boot = outcome(l.toc.bootRangesHint, [
      ', boot files annotated',
      ', boot-ranges annotation WRONG',
      '',
    ]);
    lines.push(`    toc ${l.toc.digest} (${check}) at ${l.toc.offset}${hint}${boot}`);
    lines.push(
      `    ${l.toc.entries} entries, ${l.toc.chunks} chunks, landmark ${l.toc.landmark}, ` +
        `prefetch ${formatBytes(l.toc.prefetchBytes)}, files ${formatBytes(l.toc.fileBytes)}` +
        uncompressedWords(l.toc.uncompressedSizeCheck) +
        (l.toc.verifiable ? '' : ', NOT verifiable'),
    );
  }
  if (l.chunkCheck) {
    lines.push(
      `    chunks verified: ${l.chunkCheck.checked - l.chunkCheck.failed}/${l.chunkCheck.checked}` +
        (l.chunkCheck.firstError ? ` (first error: ${l.chunkCheck.firstError})` : ''),
    );
  }
  return lines;
}

function imageLines(r: ImageReport): string[] {
  const lines = [`${r.reference}  ${r.mediaType}  ${r.digest}`];
  for (const m of r.manifests) {
    const platform = m.platform ? `${m.platform.os}/${m.platform.architecture}` : 'manifest';
    lines.push(`${platform} ${m.digest}`);
    for (const l of m.layers) lines.push(...layerLines(l));
  }
  return lines;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      "Show an image's layers (registry reference, oci:PATH[:TAG], or a local blob file): " +
        'format, TOC digest check, entries, landmark, prefetch and uncompressed size',
    )
    .argument('<ref>', 'image reference, oci:PATH[:TAG], or a layer blob file')
    .option('--json', 'print JSON')
    .option('--insecure', 'allow plain http / unverified TLS for registries')
    .option('--verify-chunks', 'fetch and verify every chunk of every eStargz layer')
    .action(async (ref: string, flags: InspectFlags) => {
      const verifyChunks = flags.verifyChunks ?? false;
      try {
        if (await isLocalFile(ref)) {
          const layer = await inspectFile(ref, verifyChunks);
          process.stdout.write(
            flags.json
              ? JSON.stringify(layer, null, 2) + '\n'
              : layerLines(layer).join('\n') + '\n',
          );
          if (!reportIsClean([layer])) process.exitCode = 1;
          return;
        }
        const insecure = flags.insecure ?? false;
        const client = await createCliRegistryClient(insecure);
        const image = openImage(ref, { insecure, client });
        try {
          const report = await inspectImage(image, { verifyChunks });
          process.stdout.write(
            flags.json
              ? JSON.stringify(report, null, 2) + '\n'
              : imageLines(report).join('\n') + '\n',
          );
          if (!reportIsClean(report.manifests.flatMap((m) => m.layers))) process.exitCode = 1;
        } finally {
          await image.close();
          await client.close();
        }
      } catch (err) {
        process.stderr.write(`slipstream inspect: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
