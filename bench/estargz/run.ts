// eStargz codec benchmark (not a test): TOC parse time and retained memory at 10k/100k entries,
// chunk read throughput, conversion throughput against ctr-remote on the same image in the same
// run, and peak RSS while converting a large generated layer (streaming, bounded memory).
//
//   source scripts/node-env.sh
//   node --expose-gc bench/estargz/run.ts [--source-tar PATH] [--big-gib N] [--skip-ctr]
//
// Prints a Markdown section for docs/benchmarks.md and writes bench/results/estargz.json.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import {
  buildEstargz,
  openLayerIndex,
  parseToc,
  readChunk,
} from '../../backend/src/estargz/index.ts';
import { OciLayoutRepository } from '../../backend/src/image/oci-layout.ts';
import { MediaTypes } from '../../backend/src/image/types.ts';
import { encodeHeader, newHeader } from '../../backend/src/tar/header.ts';
import { END_OF_ARCHIVE } from '../../backend/src/tar/writer.ts';
import { startContainerd } from '../../backend/test/support/containerd.ts';
import { run } from '../../backend/test/support/process.ts';
import { startRegistry } from '../../backend/test/support/registry.ts';
import { makeTempDir, removeDir } from '../../backend/test/support/tmp.ts';

const here = new URL('.', import.meta.url).pathname;
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    'source-tar': { type: 'string' },
    'big-gib': { type: 'string', default: '1' },
    'skip-ctr': { type: 'boolean', default: false },
  },
});

const gc = (globalThis as { gc?: () => void }).gc;
const MiB = 1024 * 1024;
const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function heapNow(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A realistic TOC: nested dirs, files with digests, some multi-chunk files, symlinks. */
function syntheticToc(entries: number): Buffer {
  const list: Record<string, unknown>[] = [
    { name: '.no.prefetch.landmark', type: 'reg', size: 1, offset: 0, chunkDigest: sha('l') },
  ];
  let offset = 100;
  let dir = '';
  for (let i = 0; list.length < entries; i++) {
    if (i % 25 === 0) {
      dir = `usr/lib/python3/dist-packages/pkg${Math.floor(i / 25)}/`;
      list.push({ name: dir, type: 'dir', mode: 0o755, modtime: '2024-05-01T10:00:00Z' });
      continue;
    }
    if (i % 40 === 0) {
      list.push({
        name: `${dir}link${i}`,
        type: 'symlink',
        linkName: `module_${i - 1}.py`,
        mode: 0o777,
      });
      continue;
    }
    const size = 1000 + ((i * 7919) % 50_000);
    const d = sha(String(i));
    list.push({
      name: `${dir}module_${i}.py`,
      type: 'reg',
      size,
      modtime: '2024-05-01T10:00:00Z',
      mode: 0o644,
      offset,
      digest: d,
      chunkDigest: d,
    });
    offset += 1 + Math.floor(size / 3);
  }
  return Buffer.from(JSON.stringify({ version: 1, entries: list }));
}

function tocBench(entries: number) {
  const json = syntheticToc(entries);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < 7; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    parseToc(json, { tocOffset: 2 ** 40 });
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
  }
  const before = heapNow();
  const index = parseToc(json, { tocOffset: 2 ** 40 });
  const retained = heapNow() - before;
  const beforeNaive = heapNow();
  const naive = JSON.parse(json.toString()) as unknown;
  const naiveRetained = heapNow() - beforeNaive;
  // keep both alive until measured
  if (!index || !naive) throw new Error('unreachable');
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) {
    const ino = 2 + (i % (index.inodeCount - 1));
    hits += index.chunksFor(ino, 500, 10).length;
  }
  const lookupNs = ((performance.now() - t0) * 1e6) / 200_000;
  return {
    entries,
    tocJsonBytes: json.length,
    parseMsMedian: median(times),
    parseMinMs: Math.min(...times),
    parseCpuMsMedian: median(cpuTimes),
    retainedBytes: retained,
    jsonParseRetainedBytes: naiveRetained,
    chunksForNs: lookupNs,
    lookupHits: hits,
  };
}

async function chunkReadBench() {
  const data = Buffer.alloc(64 * MiB);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  data.fill('text text text ', 0, 32 * MiB);
  const tar = Buffer.concat([
    encodeHeader(newHeader({ name: 'f', type: 'file', size: data.length })),
    data,
    END_OF_ARCHIVE,
  ]);
  const parts: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, cb) => (parts.push(c), cb()) });
  await buildEstargz(() => Promise.resolve([tar]), sink, { level: 6 });
  const blob = Buffer.concat(parts);
  const index = await openLayerIndex({
    blobSize: blob.length,
    readRange: (s, e) => Promise.resolve(blob.subarray(s, e)),
  });
  const chunks = index.chunksOf(index.resolve('f')!);
  const t0 = performance.now();
  let bytes = 0;
  for (const c of chunks)
    bytes += (await readChunk(c, blob.subarray(c.compressedOffset, c.compressedEnd))).length;
  const seconds = (performance.now() - t0) / 1000;
  return { chunks: chunks.length, mibPerSecond: bytes / MiB / seconds };
}

/** Runs stream.ts in a fresh process so that its peak RSS is the converter's alone. */
async function streamingBench(gib: number) {
  const { stdout } = await run(process.execPath, [join(here, 'stream.ts'), String(gib)], {
    timeoutMs: 3_600_000,
  });
  return JSON.parse(stdout) as {
    inputBytes: number;
    outputBytes: number;
    seconds: number;
    mibPerSecond: number;
    peakRssBytes: number;
  };
}

async function findSourceTar(): Promise<string> {
  if (args['source-tar']) return args['source-tar'];
  const cache = join(repoRoot, 'bench', '.cache', 'rootfs');
  const found = (await readdir(cache).catch(() => [] as string[])).find((f) => f.endsWith('.tar'));
  if (found) return join(cache, found);
  const tar = join(repoRoot, 'bench', '.cache', 'usr-lib.tar');
  await mkdir(join(repoRoot, 'bench', '.cache'), { recursive: true });
  await run('tar', ['-C', '/', '-cf', tar, 'usr/lib/x86_64-linux-gnu']);
  return tar;
}

/** Wall time, CPU time and peak RSS of a child process (GNU time). */
async function measured(cmd: string, argv: string[]) {
  const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %e %U %S %M', cmd, ...argv], {
    timeoutMs: 3_600_000,
  });
  const m = /TIME (\S+) (\S+) (\S+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr.slice(-500)}`);
  return {
    seconds: Number(m[1]),
    cpuSeconds: Number(m[2]) + Number(m[3]),
    peakRssBytes: Number(m[4]) * 1024,
  };
}

async function conversionBench(sourceTar: string) {
  const dir = await makeTempDir('bench-estargz');
  try {
    const tarBytes = (await stat(sourceTar)).size;
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(sourceTar)) chunks.push(c as Buffer);
    const tar = Buffer.concat(chunks);
    const layer = gzipSync(tar);
    const src = new OciLayoutRepository(join(dir, 'src'));
    await src.putBlob(layer);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [sha(tar)] },
      }),
    );
    await src.putBlob(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: sha(config), size: config.length },
        layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: sha(layer), size: layer.length }],
      }),
    );
    await src.putManifest('gzip', MediaTypes.ociManifest, manifest);
    const ours: Record<string, unknown> = {};
    for (const level of [9, 6]) {
      const m = await measured(process.execPath, [
        join(repoRoot, 'backend', 'bin', 'slipstream.js'),
        'convert',
        '--level',
        String(level),
        `oci:${join(dir, 'src')}:gzip`,
        `oci:${join(dir, `dst${level}`)}:esgz`,
      ]);
      const dst = new OciLayoutRepository(join(dir, `dst${level}`));
      const manifest = JSON.parse((await dst.getManifest('esgz')).bytes.toString()) as {
        layers: { size: number }[];
      };
      ours[`level${level}`] = {
        ...m,
        mibPerSecond: tarBytes / MiB / m.seconds,
        outputBytes: manifest.layers[0].size,
      };
    }
    let ctr: Record<string, unknown> | string = 'skipped';
    if (!args['skip-ctr']) ctr = await ctrRemoteBench(dir, tarBytes);
    return { sourceTar, tarBytes, gzipBytes: layer.length, ours, ctrRemote: ctr };
  } finally {
    await removeDir(dir);
  }
}

async function ctrRemoteBench(dir: string, tarBytes: number) {
  const registry = await startRegistry();
  const containerd = await startContainerd();
  try {
    const src = `${registry.host}/bench:gzip`;
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${join(dir, 'src')}:gzip`,
      `docker://${src}`,
    ]);
    await containerd.ctrRemote(['image', 'pull', '--plain-http', src]);
    const m = await measured('ctr-remote', [
      '--address',
      containerd.address,
      'image',
      'convert',
      '--estargz',
      '--oci',
      src,
      `${registry.host}/bench:ctr`,
    ]);
    return {
      ...m,
      mibPerSecond: tarBytes / MiB / m.seconds,
      note: 'gzip level 9 (BestCompression), local content store',
    };
  } finally {
    await containerd.stop();
    await registry.stop();
  }
}

const fmt = (n: number, d = 1) => n.toFixed(d);

async function main() {
  if (!gc) console.error('note: run with --expose-gc for exact retained-memory numbers');
  const toc = [tocBench(10_000), tocBench(100_000)];
  const chunkRead = await chunkReadBench();
  const streaming = await streamingBench(Number(args['big-gib']));
  const conversion = await conversionBench(await findSourceTar());
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  const results = {
    load,
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memBytes: totalmem(),
    node: process.version,
    toc,
    chunkRead,
    streaming,
    conversion,
  };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(
    join(repoRoot, 'bench', 'results', 'estargz.json'),
    JSON.stringify(results, null, 2),
  );
  const ours = conversion.ours as Record<
    string,
    {
      seconds: number;
      cpuSeconds: number;
      mibPerSecond: number;
      outputBytes: number;
      peakRssBytes: number;
    }
  >;
  const ctr = conversion.ctrRemote as
    { seconds: number; mibPerSecond: number; cpuSeconds: number; peakRssBytes: number } | string;
  const lines = [
    `Run ${results.date}, ${results.cpus} × ${results.cpuModel}, Node ${results.node}, load average at the end ${load} (shared machine).`,
    '',
    '| TOC entries | TOC JSON | parse + verify + index: wall median (min) | CPU median | retained by the index | retained by plain JSON.parse | chunksFor |',
    '|---|---|---|---|---|---|---|',
    ...toc.map(
      (t) =>
        `| ${t.entries.toLocaleString('en')} | ${fmt(t.tocJsonBytes / MiB)} MiB | ${fmt(t.parseMsMedian, 0)} ms (${fmt(t.parseMinMs, 0)} ms) | ${fmt(t.parseCpuMsMedian, 0)} ms | ${fmt(t.retainedBytes / MiB)} MiB | ${fmt(t.jsonParseRetainedBytes / MiB)} MiB | ${fmt(t.chunksForNs, 0)} ns |`,
    ),
    '',
    `Chunk read (inflate + sha256 verify, 4 MiB chunks): ${fmt(chunkRead.mibPerSecond)} MiB/s on one core.`,
    '',
    `Streaming: a generated ${fmt(streaming.inputBytes / 1024 / MiB, 2)} GiB layer converted at ${fmt(streaming.mibPerSecond)} MiB/s (level 6) with peak RSS ${fmt(streaming.peakRssBytes / MiB, 0)} MiB.`,
    '',
    `Conversion of one ${fmt(conversion.tarBytes / MiB)} MiB layer (${conversion.sourceTar.split('/').pop()}; ${fmt(conversion.gzipBytes / MiB)} MiB gzip), wall time:`,
    '',
    '| converter | time | throughput (uncompressed) | CPU time | output | peak RSS |',
    '|---|---|---|---|---|---|',
    ...Object.entries(ours).map(
      ([k, v]) =>
        `| slipstream convert, gzip ${k.replace('level', 'level ')} | ${fmt(v.seconds)} s | ${fmt(v.mibPerSecond)} MiB/s | ${fmt(v.cpuSeconds)} s | ${fmt(v.outputBytes / MiB)} MiB | ${fmt(v.peakRssBytes / MiB, 0)} MiB |`,
    ),
    typeof ctr === 'string'
      ? '| ctr-remote | skipped | | | | |'
      : `| ctr-remote image convert --estargz --oci (gzip level 9) | ${fmt(ctr.seconds)} s | ${fmt(ctr.mibPerSecond)} MiB/s | ${fmt(ctr.cpuSeconds)} s (client only) | – | ${fmt(ctr.peakRssBytes / MiB, 0)} MiB |`,
  ];
  console.log(lines.join('\n'));
}

await main();
