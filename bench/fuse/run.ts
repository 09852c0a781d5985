// FUSE server benchmark (not a test): per-op latency of fstat with attr timeout 0 (every call
// reaches the daemon) and of 4 KiB random reads on page-cache misses, sequential read throughput
// (first pass from the daemon, second pass from the page cache thanks to keep_cache), for the
// TypeScript server (epoll and threadpool readers) against tmpfs, libfuse3's hello_ll example
// (timeouts patched to 0, fstat only: it serves one 13-byte file) and ref_ll.c (the same minimal
// low-level libfuse3 filesystem with a large generated file), all in the same run, interleaved.
// The measuring client is C (client.c) so that its own cost is the same for every target.
//
//   source scripts/node-env.sh
//   node bench/fuse/run.ts [--rounds 3] [--size-mib 2048] [--fstat-n 50000] [--rand-n 20000]
//
// Writes bench/results/fuse.json and prints the Markdown section for docs/benchmarks.md.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { mountsAt, setReadAhead } from '../../backend/src/fuse/index.ts';
import { makeTempDir, removeDir } from '../../backend/test/support/tmp.ts';

const here = new URL('.', import.meta.url).pathname;
const repoRoot = join(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'size-mib': { type: 'string', default: '2048' },
    'fstat-n': { type: 'string', default: '50000' },
    'rand-n': { type: 'string', default: '20000' },
  },
});
const ROUNDS = Number(args.rounds);
const SIZE = Number(args['size-mib']) * 1024 * 1024;
const FSTAT_N = Number(args['fstat-n']);
const RAND_N = Number(args['rand-n']);
const BIG_READAHEAD_KB = 1024;

interface Latency {
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
}
interface Sample {
  fstat?: Latency;
  randread4k?: Latency;
  seqFirstGiBs?: number;
  seqSecondGiBs?: number;
  seqFirstReadahead1MGiBs?: number;
  seqSecondLongTimeoutGiBs?: number;
}

/** Attribute/entry timeout of the mount that measures the page-cache pass like the store sees it. */
const CACHED_ATTR_TIMEOUT_S = 60;

interface Target {
  name: string;
  description: string;
  /** Which measurements apply. */
  reads: boolean;
  /** Mounts with attribute/entry timeouts of `timeoutSeconds` (default 0). */
  start(mountpoint: string, timeoutSeconds?: number): Promise<() => Promise<void>>;
}

const work = await makeTempDir('bench-fuse');
const bin = (name: string): string => join(work, name);

function build(): void {
  const hello = readFileSync('/usr/share/doc/libfuse3-dev/examples/hello_ll.c', 'utf8');
  // Timeouts 0 so that every fstat reaches the daemon (the example caches for 1 s).
  const patched = hello.replace(/\b1\.0\b/g, '0.0');
  if (patched === hello) throw new Error('hello_ll.c: no 1.0 timeouts found to patch');
  writeFileSync(bin('hello_ll.c'), patched);
  copyFileSync(join(here, 'ref_ll.c'), bin('ref_ll.c'));
  copyFileSync(join(here, 'client.c'), bin('client.c'));
  const fuse = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' })
    .trim()
    .split(/\s+/);
  for (const name of ['hello_ll', 'ref_ll']) {
    execFileSync('gcc', ['-O2', '-Wall', '-o', bin(name), bin(`${name}.c`), ...fuse]);
  }
  execFileSync('gcc', ['-O2', '-Wall', '-o', bin('client'), bin('client.c')]);
}

function client(op: string, path: string, n: number): Record<string, number> {
  const out = execFileSync(bin('client'), [op, path, String(n)], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, number>;
}

async function waitMounted(mountpoint: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (mountsAt(mountpoint).length > 0) return;
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${mountpoint} never got mounted`);
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A libfuse C daemon: unmounting ends its loop. */
function cTarget(name: string, description: string, program: string, reads: boolean): Target {
  return {
    name,
    description,
    reads,
    start: async (mountpoint, timeoutSeconds = 0) => {
      const child = spawn(bin(program), ['-f', '-s', mountpoint], {
        env: { ...process.env, REF_SIZE: String(SIZE), REF_TIMEOUT: String(timeoutSeconds) },
        stdio: 'ignore',
      });
      await waitMounted(mountpoint, child);
      return async () => {
        execFileSync('umount', [mountpoint]);
        await exited(child);
      };
    },
  };
}

function jsTarget(name: string, description: string, reader: string, threadpool: number): Target {
  return {
    name,
    description,
    reads: true,
    start: async (mountpoint, timeoutSeconds = 0) => {
      const child = spawn(
        process.execPath,
        [join(here, 'js-server.ts'), mountpoint, String(SIZE), String(timeoutSeconds), reader, '4'],
        {
          env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpool) },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout?.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`js-server exited with ${code}`)));
      });
      return async () => {
        child.kill('SIGTERM');
        await exited(child);
      };
    },
  };
}

const tmpfsTarget: Target = {
  name: 'tmpfs',
  description: 'tmpfs (kernel only, the page cache is the file)',
  reads: true,
  start: (mountpoint) => {
    execFileSync('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=${SIZE + 64 * 1024 * 1024}`,
      'tmpfs',
      mountpoint,
    ]);
    writeFileSync(join(mountpoint, 'hello'), 'Hello World!\n');
    execFileSync('fallocate', ['-l', String(SIZE), join(mountpoint, 'data')]);
    return Promise.resolve(() => {
      execFileSync('umount', [mountpoint]);
      return Promise.resolve();
    });
  },
};

const targets: Target[] = [
  tmpfsTarget,
  cTarget(
    'c-hello_ll',
    'libfuse3 3.14 hello_ll example, timeouts 0, single-threaded',
    'hello_ll',
    false,
  ),
  cTarget(
    'c-ref_ll',
    'ref_ll.c: minimal libfuse3 low-level fs, timeouts 0, keep_cache, single-threaded',
    'ref_ll',
    true,
  ),
  jsTarget('ts-epoll', 'this server, epoll reader (default)', 'epoll', 4),
  jsTarget(
    'ts-threadpool',
    'this server, threadpool reader (4 reads, UV_THREADPOOL_SIZE=8)',
    'threadpool',
    8,
  ),
];

async function measure(target: Target, mountpoint: string): Promise<Sample> {
  const sample: Sample = {};
  const stop = await target.start(mountpoint);
  try {
    if (target.reads) {
      const data = join(mountpoint, 'data');
      sample.seqFirstGiBs = client('seqread', data, 1 << 20).gibPerSecond;
      sample.seqSecondGiBs = client('seqread', data, 1 << 20).gibPerSecond;
    }
    sample.fstat = latency(client('fstat', join(mountpoint, 'hello'), FSTAT_N));
    if (target.reads)
      sample.randread4k = latency(client('randread', join(mountpoint, 'data'), RAND_N));
  } finally {
    await stop();
  }
  if (target.reads && target.name !== 'tmpfs') {
    const seqRead = () => client('seqread', join(mountpoint, 'data'), 1 << 20).gibPerSecond;
    // A fresh mount with a 1 MiB readahead window: sequential READs of 1 MiB instead of 128 KiB.
    sample.seqFirstReadahead1MGiBs = await onFreshMount(target, mountpoint, 0, () => {
      setReadAhead(mountpoint, BIG_READAHEAD_KB);
      return seqRead();
    });
    // With attr timeout 0 every read(2) of the cached file first asks the daemon for attributes;
    // the store's layers use long timeouts, so the page-cache pass is measured that way too.
    sample.seqSecondLongTimeoutGiBs = await onFreshMount(
      target,
      mountpoint,
      CACHED_ATTR_TIMEOUT_S,
      () => {
        seqRead();
        return seqRead();
      },
    );
  }
  return sample;
}

async function onFreshMount<T>(
  target: Target,
  mountpoint: string,
  timeoutSeconds: number,
  measure: () => T,
): Promise<T> {
  const stop = await target.start(mountpoint, timeoutSeconds);
  try {
    return measure();
  } finally {
    await stop();
  }
}

function latency(r: Record<string, number>): Latency {
  return { meanUs: r.meanUs, p50Us: r.p50Us, p90Us: r.p90Us, p99Us: r.p99Us };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

build();
const mountpoint = join(work, 'mnt');
mkdirSync(mountpoint);
const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
const loadBefore = loadavg()[0];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) {
      const sample = await measure(target, mountpoint);
      samples.get(target.name)!.push(sample);
      process.stderr.write(`round ${round + 1} ${target.name}: ${JSON.stringify(sample)}\n`);
    }
  }
} finally {
  if (mountsAt(mountpoint).length > 0) execFileSync('umount', ['-l', mountpoint]);
  rmdirSync(mountpoint);
  await removeDir(work);
}

type Summary = Record<string, number | null>;
function summarize(list: Sample[]): Summary {
  const pick = (f: (s: Sample) => number | undefined): number | null => {
    const values = list.map(f).filter((v): v is number => v !== undefined);
    return values.length ? median(values) : null;
  };
  return {
    fstatP50Us: pick((s) => s.fstat?.p50Us),
    fstatMeanUs: pick((s) => s.fstat?.meanUs),
    fstatP99Us: pick((s) => s.fstat?.p99Us),
    randread4kP50Us: pick((s) => s.randread4k?.p50Us),
    randread4kMeanUs: pick((s) => s.randread4k?.meanUs),
    randread4kP99Us: pick((s) => s.randread4k?.p99Us),
    seqFirstGiBs: pick((s) => s.seqFirstGiBs),
    seqFirstReadahead1MGiBs: pick((s) => s.seqFirstReadahead1MGiBs),
    seqSecondGiBs: pick((s) => s.seqSecondGiBs),
    seqSecondLongTimeoutGiBs: pick((s) => s.seqSecondLongTimeoutGiBs),
  };
}

const summary = Object.fromEntries(targets.map((t) => [t.name, summarize(samples.get(t.name)!)]));
const results = {
  date: new Date().toISOString(),
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
  loadAverage: { before: loadBefore, after: loadavg()[0] },
  parameters: {
    rounds: ROUNDS,
    fileBytes: SIZE,
    fstatN: FSTAT_N,
    randN: RAND_N,
    readaheadKb: BIG_READAHEAD_KB,
  },
  targets: targets.map((t) => ({ name: t.name, description: t.description })),
  summary,
  samples: Object.fromEntries(samples),
};
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(repoRoot, 'bench', 'results', 'fuse.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);

const fmt = (v: number | null | undefined, digits = 1): string =>
  v == null ? '–' : v.toFixed(digits);
const rows = targets.map((t) => {
  const s = summary[t.name];
  return `| ${t.name} | ${fmt(s.fstatP50Us)} / ${fmt(s.fstatMeanUs)} / ${fmt(s.fstatP99Us)} | ${fmt(s.randread4kP50Us)} / ${fmt(s.randread4kMeanUs)} / ${fmt(s.randread4kP99Us)} | ${fmt(s.seqFirstGiBs, 2)} | ${fmt(s.seqFirstReadahead1MGiBs, 2)} | ${fmt(s.seqSecondGiBs, 2)} | ${fmt(s.seqSecondLongTimeoutGiBs, 2)} |`;
});
process.stdout.write(
  [
    `Run ${results.date}, ${results.cpus} × ${results.cpuModel}, kernel ${results.kernel}, Node ${results.node}; ${ROUNDS} interleaved rounds, medians; load average ${loadBefore.toFixed(1)} → ${results.loadAverage.after?.toFixed(1)} (shared machine).`,
    '',
    `| target | fstat, attr timeout 0: p50 / mean / p99 µs | 4 KiB random pread, page-cache miss: p50 / mean / p99 µs | sequential 1st pass GiB/s (readahead 128 KiB) | 1st pass, readahead 1 MiB | 2nd pass (keep_cache) GiB/s | 2nd pass, attr timeout ${CACHED_ATTR_TIMEOUT_S} s |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
