// The startup benchmark (issue 10): for each image and emulated link, in one run, alternating
// modes, warm-up then N repetitions: full pull + run to ready (gzip) against lazy pull + run to
// ready through the Slipstream agent, with and without prefetch. Writes
// bench/results/startup[-full].json, docs/img/startup[-full]-<link>.svg and the "Startup benchmark" section of
// docs/benchmarks.md. Cleans up its namespaces, processes and temp dirs, also on failure/Ctrl-C.
//
//   node bench/startup/run.ts [--scale small|full] [--images python,node,ml] [--links 20ms-1gbit,...]
//                             [--modes full,lazy,lazy-prefetch,full-read,lazy-read] [--reps 5] [--warmup 1]
//                             [--no-doc] [--render-only]
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { createPodman, type PodmanFixture } from '../../backend/test/support/podman.ts';
import { startRegistry, type RegistryFixture } from '../../backend/test/support/registry.ts';
import { makeTempDir, removeDir } from '../../backend/test/support/tmp.ts';
import { findImage, IMAGES, type Scale } from '../images/catalog.ts';
import { produceImage, type ProducedImage } from '../images/produce.ts';
import { profileToText } from '../images/profile.ts';
import {
  createLink,
  destroyAllLinks,
  findProfile,
  LINK_PROFILES,
  type LinkProfile,
} from '../netem/link.ts';
import { measureLink, summarize, uploadRandomBlob } from '../netem/measure.ts';
import { agentUnavailableReason, startAgent } from './agent.ts';
import {
  coldStart,
  pullAndReadFile,
  pullAndRunSmallCommand,
  registryBytesSoFar,
} from './podman-steps.ts';
import {
  MODES,
  outputName,
  READ_MODES,
  SMALL_MODES,
  renderChart,
  renderMarkdown,
  updateBenchmarksDoc,
  type CaseResult,
  type Mode,
  type RunSample,
  type StartupResults,
} from './report.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface Options {
  scale: Scale;
  images: string[];
  links: LinkProfile[];
  modes: Mode[];
  reps: number;
  warmup: number;
  doc: boolean;
  /** Only regenerate the charts and the docs section from bench/results/startup.json. */
  renderOnly: boolean;
  /** The agent's background-fetch quiet period; the agent's default when absent. */
  quietPeriodSeconds?: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: 'full' },
      images: { type: 'string', default: IMAGES.map((i) => i.name).join(',') },
      links: { type: 'string', default: LINK_PROFILES.map((l) => l.name).join(',') },
      modes: { type: 'string', default: MODES.join(',') },
      reps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      'no-doc': { type: 'boolean', default: false },
      'render-only': { type: 'boolean', default: false },
      'quiet-period': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: node bench/startup/run.ts [--scale small|full] [--images python,node,ml] [--links ' +
        LINK_PROFILES.map((l) => l.name).join(',') +
        '] [--modes ' +
        MODES.join(',') +
        '] [--reps N] [--warmup N] [--quiet-period SECONDS] [--no-doc] [--render-only]',
    );
    process.exit(0);
  }
  if (values.scale !== 'small' && values.scale !== 'full')
    throw new Error(`--scale must be small or full, not "${values.scale}"`);
  const list = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const modes = list(values.modes).map((m) => {
    if (!(MODES as readonly string[]).includes(m))
      throw new Error(`unknown mode "${m}" (known: ${MODES.join(', ')})`);
    return m as Mode;
  });
  const count = (name: string, s: string) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`--${name} must be a whole number, not "${s}"`);
    return n;
  };
  const seconds = (name: string, s: string) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be seconds ≥ 0, not "${s}"`);
    return n;
  };
  return {
    scale: values.scale,
    images: list(values.images).map((n) => findImage(n).name),
    links: list(values.links).map(findProfile),
    modes,
    reps: Math.max(1, count('reps', values.reps)),
    warmup: count('warmup', values.warmup),
    doc: !values['no-doc'],
    renderOnly: values['render-only'],
    ...(values['quiet-period'] !== undefined && {
      quietPeriodSeconds: seconds('quiet-period', values['quiet-period']),
    }),
  };
}

const log = (line: string) =>
  console.log(`[startup ${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.renderOnly) {
    const saved = await readFile(
      join(REPO, `bench/results/${outputName(opts.scale)}.json`),
      'utf8',
    );
    await writeOutputs(JSON.parse(saved) as StartupResults, opts);
    return;
  }
  const cacheDir = join(REPO, 'bench/.cache');
  const startedAt = new Date().toISOString();
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    while (cleanups.length)
      await cleanups
        .pop()?.()
        .catch((e: unknown) => log(`cleanup: ${String(e)}`));
    await destroyAllLinks();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const link = await createLink({ binDir: join(cacheDir, 'bin') });
    cleanups.push(() => link.destroy());
    const registry = await startRegistry({
      bindAddress: link.serverAddress,
      netns: link.serverNetns,
    });
    cleanups.push(async () => {
      // The registry's access log stays for inspection in bench/results/tmp (git-ignored).
      await mkdir(join(REPO, 'bench/results/tmp'), { recursive: true });
      await copyFile(registry.logFile, join(REPO, 'bench/results/tmp/registry.log'));
      await registry.stop();
    });
    log(`registry ${registry.url} in netns ${link.serverNetns}, behind router ${link.routerNetns}`);

    const agentReason = await agentUnavailableReason();
    if (agentReason) log(`lazy modes: ${agentReason}`);

    const produced: ProducedImage[] = [];
    const profiles: StartupResults['profiles'] = {};
    for (const name of opts.images) {
      const { variants, profile } = await produceImage(findImage(name), {
        registry,
        cacheDir,
        scale: opts.scale,
        log,
      });
      produced.push(...variants);
      profiles[name] = profile
        ? { files: profile.files.length, totalBytes: profile.totalBytes, method: profile.method }
        : null;
      if (profile) {
        await mkdir(join(REPO, 'bench/results/profiles'), { recursive: true });
        await writeFile(
          join(REPO, 'bench/results/profiles', `${name}.txt`),
          profileToText(profile),
        );
      }
    }

    const probeBytes = opts.scale === 'small' ? 16 * 2 ** 20 : 128 * 2 ** 20;
    const probe = await uploadRandomBlob(registry.url, 'bench/probe', probeBytes);
    const links: StartupResults['links'] = [];
    const cases: CaseResult[] = [];
    for (const profile of opts.links) {
      await link.configure(profile);
      const measured = await measureLink(registry.url, 'bench/probe', probe);
      log(
        `link ${profile.name}: RTT ${measured.rttMs.median.toFixed(1)} ms, ${measured.download.mbitPerSecond.toFixed(0)} Mbit/s`,
      );
      links.push({ ...profile, measured });
      for (const image of opts.images) {
        cases.push(
          ...(await benchImageOnLink(image, profile, produced, registry, opts, agentReason)),
        );
      }
    }
    await link.configure(null);

    const results: StartupResults = {
      name: 'startup',
      startedAt,
      finishedAt: new Date().toISOString(),
      host: { cpus: cpus().length, kernel: release() },
      scale: opts.scale,
      warmup: opts.warmup,
      repetitions: opts.reps,
      images: produced.map(({ image, variant, ref, producer, compressedBytes, layers }) => ({
        image,
        variant,
        ref,
        producer,
        compressedBytes,
        layers,
      })),
      profiles,
      links,
      cases,
    };
    await writeOutputs(results, opts);
  } finally {
    await cleanup();
  }
}

async function benchImageOnLink(
  image: string,
  profile: LinkProfile,
  produced: ProducedImage[],
  registry: RegistryFixture,
  opts: Options,
  agentReason: string | null,
): Promise<CaseResult[]> {
  const variantFor: Record<Mode, string> = {
    full: 'gzip',
    lazy: 'estargz-opt',
    'lazy-prefetch': 'estargz-opt',
    'lazy-plain': 'estargz',
    'full-read': 'gzip',
    'lazy-read': 'estargz-opt',
    'full-small': 'gzip',
    'lazy-small': 'estargz-opt',
    'lazy-small-plain': 'estargz',
  };
  const bigFile = findImage(image).bigFile;
  const modes = opts.modes.filter((m) => bigFile || !READ_MODES.includes(m));
  const cases = modes.map((mode): CaseResult => {
    const variant = produced.find((p) => p.image === image && p.variant === variantFor[mode]);
    if (!variant) throw new Error(`no ${variantFor[mode]} variant of ${image}`);
    const notRun = mode.startsWith('lazy') && agentReason ? `not run: ${agentReason}` : null;
    return {
      image,
      link: profile.name,
      mode,
      ref: variant.ref,
      status: notRun ?? 'ok',
      runs: [],
      summary: {},
    };
  });
  const layersOf = (c: CaseResult) => produced.find((p) => p.ref === c.ref)?.layers ?? 0;
  const rounds = opts.warmup + opts.reps;
  for (let round = 0; round < rounds; round++) {
    // Alternate: each round starts with a different mode, so drift hits all modes alike.
    const order = cases.map((_, i) => cases[(i + round) % cases.length]);
    for (const c of order) {
      if (c.status !== 'ok') continue;
      const label = `${image} ${profile.name} ${c.mode} ${round < opts.warmup ? 'warm-up' : `rep ${round - opts.warmup + 1}/${opts.reps}`}`;
      try {
        const sample = await runOnce(
          c,
          registry,
          layersOf(c),
          bigFile,
          `${image}-${profile.name}-${c.mode}-${round}`,
          opts.quietPeriodSeconds,
        );
        log(
          `${label}: pull ${sample.pullSeconds.toFixed(2)} s, create ${sample.createSeconds.toFixed(2)} s, run ${sample.runSeconds.toFixed(2)} s, ${(sample.registryBytes / 1e6).toFixed(1)} MB`,
        );
        if (round >= opts.warmup) c.runs.push(sample);
      } catch (err) {
        log(`${label}: FAILED ${(err as Error).message}`);
        c.status = `failed: ${(err as Error).message.split('\n')[0]}`;
      }
    }
  }
  for (const c of cases) c.summary = summarizeRuns(c.runs);
  return cases;
}

async function runOnce(
  c: CaseResult,
  registry: RegistryFixture,
  layerCount: number,
  bigFile: string | undefined,
  label: string,
  quietPeriodSeconds: number | undefined,
): Promise<RunSample> {
  const readMode = READ_MODES.includes(c.mode);
  const smallMode = SMALL_MODES.includes(c.mode);
  if (readMode && !bigFile) throw new Error(`${c.image} has no big file to read`);
  // A pull followed by one timed step (the small command, or reading the big file).
  const pullThen = (pullSeconds: number, stepSeconds: number, registryBytes: number) => ({
    pullSeconds,
    createSeconds: 0,
    runSeconds: stepSeconds,
    totalSeconds: pullSeconds + stepSeconds,
    registryBytes,
    pullRegistryBytes: 0,
  });
  const measure = async (podman: PodmanFixture): Promise<RunSample> => {
    if (smallMode) {
      const small = await pullAndRunSmallCommand(podman, registry, c.ref);
      return pullThen(small.pullSeconds, small.runSeconds, small.registryBytes);
    }
    if (!readMode || !bigFile) return coldStart(podman, registry, c.ref, c.mode === 'full');
    const read = await pullAndReadFile(podman, registry, c.ref, bigFile);
    return {
      ...pullThen(read.pullSeconds, read.readSeconds, read.registryBytes),
      readSeconds: read.readSeconds,
      readBytes: read.readBytes,
      readMbitPerSecond: (read.readBytes * 8) / read.readSeconds / 1e6,
    };
  };
  if (c.mode.startsWith('full')) {
    const podman = await createPodman({ insecureRegistries: [registry.host] });
    try {
      return await measure(podman);
    } finally {
      await podman.stop();
    }
  }
  const dir = await makeTempDir('bench-agent');
  try {
    // lazy-read measures on-demand reads alone: no prefetch, no background fetch; the lazy-small
    // modes run the agent as installed (both on).
    const agent = await startAgent({
      dir,
      insecureRegistries: [registry.host],
      prefetch:
        c.mode === 'lazy-prefetch' || c.mode === 'lazy-plain' || c.mode.startsWith('lazy-small'),
      backgroundFetch: c.mode !== 'lazy-read',
      ...(quietPeriodSeconds !== undefined && { quietPeriodSeconds }),
    });
    try {
      const podman = await createPodman({
        insecureRegistries: [registry.host],
        additionalLayerStore: agent.mountpoint,
      });
      try {
        const bytesBefore = await registryBytesSoFar(registry);
        const pullStartedAt = Date.now();
        const times = await measure(podman);
        const background =
          readMode || smallMode
            ? {}
            : await waitForWholeImage(registry, join(dir, 'agent.log'), layerCount, {
                bytesBefore,
                pullStartedAt,
              });
        const usage = await agent.usage();
        return {
          ...times,
          agentCpuSeconds: usage.cpuSeconds,
          agentMaxRssBytes: usage.maxRssBytes,
          ...background,
        };
      } finally {
        await podman.stop();
      }
    } finally {
      await agent.stop();
    }
  } finally {
    // The agent's log stays for inspection in bench/results/tmp (git-ignored).
    await mkdir(join(REPO, 'bench/results/tmp'), { recursive: true });
    await copyFile(
      join(dir, 'agent.log'),
      join(REPO, 'bench/results/tmp', `${label}.agent.log`),
    ).catch(() => undefined);
    await removeDir(dir);
  }
}

/**
 * Waits until the agent has logged every layer of the image as complete (its background fetch
 * made the whole image local) and returns when the last one was, measured from the start of the
 * pull, with the bytes the registry sent since then. Gives up after 10 minutes of silence from
 * the registry.
 */
async function waitForWholeImage(
  registry: RegistryFixture,
  agentLog: string,
  layerCount: number,
  since: { bytesBefore: number; pullStartedAt: number },
): Promise<{ backgroundFetchSeconds?: number; backgroundFetchBytes?: number }> {
  let last = await registryBytesSoFar(registry);
  let lastChange = performance.now();
  for (;;) {
    const done = completedLayers(await readFile(agentLog, 'utf8').catch(() => ''));
    if (done.layers >= layerCount) {
      return {
        backgroundFetchSeconds: (done.lastAt - since.pullStartedAt) / 1000,
        backgroundFetchBytes: (await registryBytesSoFar(registry)) - since.bytesBefore,
      };
    }
    if (performance.now() - lastChange > 600_000) {
      return { backgroundFetchBytes: last - since.bytesBefore };
    }
    await new Promise((r) => setTimeout(r, 100));
    const now = await registryBytesSoFar(registry);
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    }
  }
}

/** Layers the agent's log reports complete, and the time (epoch ms) of the last of them. */
function completedLayers(log: string): { layers: number; lastAt: number } {
  const layers = new Set<string>();
  let lastAt = 0;
  for (const line of log.split('\n')) {
    if (!line.includes('background fetch: layer complete')) continue;
    let entry: { layer: string; time: number };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // the last line, read while the agent was writing it: the next poll sees it whole
    }
    layers.add(entry.layer);
    lastAt = Math.max(lastAt, entry.time);
  }
  return { layers: layers.size, lastAt };
}

function summarizeRuns(runs: RunSample[]): CaseResult['summary'] {
  const summary: CaseResult['summary'] = {};
  if (runs.length === 0) return summary;
  const keys = Object.keys(runs[0]) as (keyof RunSample)[];
  for (const key of keys) {
    const values = runs.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
    if (values.length) summary[key] = summarize(values);
  }
  return summary;
}

async function writeOutputs(results: StartupResults, opts: Options): Promise<void> {
  const name = outputName(results.scale);
  const resultsDir = join(REPO, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, `${name}.json`), JSON.stringify(results, null, 2) + '\n');
  const charts: Record<string, string> = {};
  await mkdir(join(REPO, 'docs/img'), { recursive: true });
  for (const l of results.links) {
    const file = `${name}-${l.name}.svg`;
    await writeFile(
      join(REPO, 'docs/img', file),
      renderChart(
        `Cold start to ready, ${l.name} (${results.scale} images)`,
        results.cases.filter((c) => c.link === l.name),
      ),
    );
    charts[l.name] = `img/${file}`;
  }
  if (opts.doc) {
    await updateBenchmarksDoc(
      join(REPO, 'docs/benchmarks.md'),
      renderMarkdown(results, charts),
      results.scale,
    );
  }
  log(
    `results: bench/results/${name}.json${opts.doc ? ', docs/benchmarks.md' : ''}, docs/img/${name}-*.svg`,
  );
}

main().catch((err: unknown) => {
  console.error(
    `startup benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  process.exitCode = 1;
});
