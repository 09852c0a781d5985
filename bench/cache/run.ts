// Chunk cache start-up benchmark (not a test): how long a restarted agent's store waits for the
// chunk cache it left on disk. A node that ran many images holds hundreds of thousands of chunk
// files; the cache must know them before it serves (a chunk it does not know is fetched again).
// Measured: ChunkCache.open() until it serves, and until its index is complete (sizes counted,
// eviction possible), with serveWhileIndexing (what the agent uses: served once the files are
// known by name) and without (served once every file has been sized), alternating, in one run;
// plus the first read of a chunk right after open().
//
//   source scripts/node-env.sh
//   node bench/cache/run.ts [--files 300000] [--layers 60] [--reps 3]
//
// Writes bench/results/cache.json and its section of docs/benchmarks.md.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { ChunkCache } from '../../backend/src/cache/chunk-cache.ts';
import { makeTempDir, removeDir } from '../../backend/test/support/tmp.ts';
import { writeDocSection } from '../doc-section.ts';

const here = new URL('.', import.meta.url).pathname;
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '300000' },
    layers: { type: 'string', default: '60' },
    reps: { type: 'string', default: '3' },
  },
});
const FILES = Number(args.files);
const LAYERS = Number(args.layers);
const REPS = Number(args.reps);

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A previous run's cache: FILES chunk files of 200 bytes under LAYERS layer directories. */
function writeCache(dir: string): { layer: string; digest: string; data: Buffer } {
  let sample: { layer: string; digest: string; data: Buffer } | undefined;
  for (let l = 0; l < LAYERS; l++) {
    const layerHex = sha256(`layer ${l}`);
    const layerDir = join(dir, `sha256-${layerHex}`);
    mkdirSync(layerDir, { recursive: true });
    for (let i = 0; i < FILES / LAYERS; i++) {
      const data = randomBytes(200);
      const hex = sha256(data);
      writeFileSync(join(layerDir, `sha256-${hex}`), data);
      sample ??= { layer: `sha256:${layerHex}`, digest: `sha256:${hex}`, data };
    }
  }
  return sample!;
}

interface Sample {
  serveWhileIndexing: boolean;
  servesMs: number;
  indexedMs: number;
  firstReadMs: number;
  chunks: number;
}

async function measure(
  dir: string,
  serveWhileIndexing: boolean,
  probe: { layer: string; digest: string; data: Buffer },
): Promise<Sample> {
  const started = performance.now();
  const cache = await ChunkCache.open({
    dir,
    capBytes: 1e12,
    minFreePercent: 0,
    memoryBytes: 0,
    serveWhileIndexing,
  });
  const servesMs = performance.now() - started;
  const readStarted = performance.now();
  const data = cache.has(probe.layer, probe.digest)
    ? await cache.get(probe.layer, probe.digest)
    : undefined;
  if (!data?.equals(probe.data)) throw new Error('the first read after open() missed');
  const firstReadMs = performance.now() - readStarted;
  await cache.indexed();
  const indexedMs = performance.now() - started;
  return { serveWhileIndexing, servesMs, indexedMs, firstReadMs, chunks: cache.stats().chunks };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const dir = await makeTempDir('bench-cache');
  try {
    const cacheDir = join(dir, 'cache');
    await mkdir(cacheDir);
    const writeStarted = performance.now();
    const probe = writeCache(cacheDir);
    const writeSeconds = (performance.now() - writeStarted) / 1000;
    console.log(`wrote ${FILES} chunk files in ${writeSeconds.toFixed(1)} s`);
    const load = loadavg()[0];
    await measure(cacheDir, true, probe); // a warm-up: the directory entries in the kernel's cache
    const samples: Sample[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      for (const serve of rep % 2 === 0 ? [true, false] : [false, true]) {
        const s = await measure(cacheDir, serve, probe);
        if (s.chunks !== FILES) throw new Error(`indexed ${s.chunks} of ${FILES} chunks`);
        samples.push(s);
        console.log(JSON.stringify(s));
      }
    }
    const summary = (serve: boolean) => {
      const mine = samples.filter((s) => s.serveWhileIndexing === serve);
      return {
        servesMs: median(mine.map((s) => s.servesMs)),
        indexedMs: median(mine.map((s) => s.indexedMs)),
        firstReadMs: median(mine.map((s) => s.firstReadMs)),
      };
    };
    const result = {
      date: new Date().toISOString(),
      cpus: cpus().length,
      loadAverage: [load, loadavg()[0]],
      files: FILES,
      layers: LAYERS,
      reps: REPS,
      byName: summary(true),
      whole: summary(false),
      samples,
    };
    await mkdir(join(repoRoot, 'bench/results'), { recursive: true });
    await writeFile(
      join(repoRoot, 'bench/results/cache.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    const ms = (v: number) => `${Math.round(v)} ms`;
    const body = [
      `Measured ${result.date.slice(0, 10)} on the ${result.cpus}-vCPU dev VM (1-minute load ${load.toFixed(1)} at the start); ${FILES} chunk files of 200 bytes in ${LAYERS} layer directories (a previous run's cache, in the kernel's directory cache after a warm-up open), ${REPS} opens each, alternating, medians. Raw data: \`bench/results/cache.json\`. Run: \`node bench/cache/run.ts\`.`,
      '',
      '| open() | serves after | index complete after | first read after open() |',
      '|---|---|---|---|',
      `| names first, sizes in the background (\`serveWhileIndexing\`, the agent's) | ${ms(result.byName.servesMs)} | ${ms(result.byName.indexedMs)} | ${ms(result.byName.firstReadMs)} |`,
      `| whole index first | ${ms(result.whole.servesMs)} | ${ms(result.whole.indexedMs)} | ${ms(result.whole.firstReadMs)} |`,
      '',
      'Reading: knowing the files by name takes one readdir per layer directory; their sizes take one lstat per file. The store serves once the names are in, every read re-verified against its digest as always; until the sizes are in, the cache is not evicted and its usage metric counts only what was sized. The complete index may come later than when it is built first (the sizing then shares the threads with what the store serves meanwhile); the first read is a disk read in both cases.',
    ].join('\n');
    await writeDocSection(
      join(repoRoot, 'docs/benchmarks.md'),
      {
        begin: '<!-- BEGIN cache-benchmark -->',
        end: '<!-- END cache-benchmark -->',
        preamble: '## Chunk cache start-up\n\n',
      },
      body,
    );
    console.log(body);
  } finally {
    await removeDir(dir);
  }
}

await main();
