// `slipstream convert SRC DST`: converts an image (every layer of every platform) to eStargz.
import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';

import { convertImage, removeConversionTempDirs } from '../convert/convert-image.ts';
import { createProgress } from '../convert/progress.ts';
import { createCliRegistryClient, openImage, type OpenedImage } from '../convert/refs.ts';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../estargz/writer.ts';

interface ConvertFlags {
  insecure?: boolean;
  prioritize?: string;
  chunkSize?: string;
  level?: string;
}

function intIn(value: string | undefined, what: string, min: number, max: number) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${what} must be ${min}..${max}`);
  return n;
}

async function readPrioritized(file: string | undefined): Promise<string[]> {
  if (!file) return [];
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new Error(`cannot read the --prioritize file: ${(err as Error).message}`);
  });
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description(
      'Convert an image to eStargz (lazy-pullable). SRC and DST are registry references ' +
        '(host/repo:tag) or OCI layout directories (oci:PATH[:TAG]); multi-arch indexes are kept.',
    )
    .argument('<src>', 'source image')
    .argument('<dst>', 'destination image')
    .option('--insecure', 'allow plain http / unverified TLS for registries')
    .option('--prioritize <file>', 'file listing paths (one per line) to place first and prefetch')
    .option('--chunk-size <bytes>', 'uncompressed chunk size for large files', String(4 << 20))
    .option('--level <n>', 'gzip compression level 1..9', '9')
    .action(async (src: string, dst: string, flags: ConvertFlags) => {
      const progress = createProgress(process.stderr);
      const insecure = flags.insecure ?? false;
      const client = await createCliRegistryClient(insecure).catch((err: unknown) => {
        process.stderr.write(`slipstream convert: ${(err as Error).message}\n`);
        process.exitCode = 1;
      });
      if (!client) return;
      let source: OpenedImage | undefined;
      let target: OpenedImage | undefined;
      try {
        source = openImage(src, { insecure, client });
        target = openImage(dst, {
          insecure,
          defaultTag: 'latest',
          client,
          onUploadRetry: (message) => progress.log(`warning: ${message}`),
        });
        const chunkSize = intIn(flags.chunkSize, '--chunk-size', MIN_CHUNK_SIZE, MAX_CHUNK_SIZE);
        const level = intIn(flags.level, '--level', 1, 9);
        const started = Date.now();
        const prioritize = await readPrioritized(flags.prioritize);
        // Ctrl-C or a SIGTERM must not leave a converted layer (up to its whole size) in $TMPDIR.
        for (const [signal, code] of [
          ['SIGINT', 130],
          ['SIGTERM', 143],
        ] as const) {
          process.once(signal, () => {
            removeConversionTempDirs();
            process.stderr.write(`\nslipstream convert: ${signal}: stopped\n`);
            process.exit(code);
          });
        }
        const result = await convertImage({
          src: source.repo,
          srcRef: source.reference,
          dst: target.repo,
          dstRef: target.reference,
          prioritize,
          progress,
          ...(chunkSize !== undefined && { chunkSize }),
          ...(level !== undefined && { level }),
        });
        if (prioritize.length > 0 && result.layers.every((l) => l.prioritized === 0)) {
          progress.log(
            `warning: none of the ${prioritize.length} paths in ${flags.prioritize} is in the image; nothing was prioritized`,
          );
        }
        progress.log(
          `converted ${result.layers.length} layer(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
        process.stdout.write(`${result.digest}\n`);
      } catch (err) {
        process.stderr.write(`\nslipstream convert: ${(err as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        await source?.close();
        await target?.close();
        await client.close();
      }
    });
}
