// The local demo (README's main job): real components only, on 127.0.0.1, in temp dirs.
//   1. a registry (docker-registry) and a sample image — busybox, an app script and a 256 MiB
//      incompressible "model" of which the app reads a header and a slice — pushed as plain gzip;
//   2. `slipstream convert` to eStargz (the app's start files prioritized) and `slipstream inspect`;
//   3. the hub (HTTPS, SQLite in a temp dir; the stand-in Kubernetes API server is the one stand-in)
//      and `slipstream agent` mounted at a temp mountpoint, reporting to the hub;
//   4. podman pulls + runs the gzip image normally, and a second podman with the agent as its
//      Additional Layer Store pulls + runs the eStargz image lazily: seconds, registry bytes, the
//      agent's counters; then the background fetch brings the rest of the image;
//   5. the two pods as the kubelet would record them go to the hub, which computes the savings;
//   6. the built plugin's dashboards on that hub, photographed by headless chromium.
// SLIPSTREAM_DEMO_KEEP=1 keeps everything up until Ctrl-C; SLIPSTREAM_DEMO_OUTPUT=<dir> moves
// the screenshots and summary.json (default: demo-output/ in the repository).
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { startTestHub } from '../test/support/hub.ts';
import { Resources } from '../test/support/kube-api.ts';
import { createPodman, type PodmanFixture } from '../test/support/podman.ts';
import { startRegistry, type RegistryFixture } from '../test/support/registry.ts';
import { makeTempDir, removeDir, waitFor } from '../test/support/tmp.ts';
import { startDemoAgent, type AgentNumbers, type DemoAgent } from './agent.ts';
import { hubSummary, lazyPodRow, recordPod, type MeasuredStart } from './cluster.ts';
import { prepareHostPage, showDashboards } from './dashboards.ts';
import { convertToEstargz, inspectImage, MODEL_BYTES, pushSampleImage } from './sample-image.ts';
import { bytesServedSince, Cleanup, mib, say, secs } from './steps.ts';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const NODE = 'demo-worker-0.ocp.local';
const cleanup = new Cleanup();

async function layerDigests(
  registry: RegistryFixture,
  repo: string,
  tag: string,
): Promise<{ digest: string; size: number }[]> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (!res.ok) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.status}`);
  const manifest = (await res.json()) as { layers: { digest: string; size: number }[] };
  return manifest.layers;
}

async function layerBytes(registry: RegistryFixture, repo: string, tag: string): Promise<number> {
  return (await layerDigests(registry, repo, tag)).reduce((sum, layer) => sum + layer.size, 0);
}

interface PullRun extends MeasuredStart {
  registryBytes: number;
  appSaid: string;
}

/** `podman pull` then `podman run` of the app, timed, with the registry bytes they cost. */
async function pullAndRun(
  podman: PodmanFixture,
  registry: RegistryFixture,
  image: string,
  imageBytes: number,
): Promise<PullRun> {
  const before = (await registry.accessLog()).length;
  const pullStartedAt = Date.now();
  const started = performance.now();
  await podman.run(['pull', image]);
  const pulled = performance.now();
  const { stdout } = await podman.run(['run', '--rm', image, 'sh', '/app/start.sh']);
  const ran = performance.now();
  return {
    image,
    pullStartedAt,
    pullMs: pulled - started,
    runMs: ran - pulled,
    imageBytes,
    registryBytes: await bytesServedSince(registry, before),
    appSaid: stdout.trim(),
  };
}

/** Waits for the agent's background fetcher to finish every layer, with a progress line now and then. */
async function waitForWholeImage(
  agent: DemoAgent,
  layers: string[],
  since: number,
): Promise<AgentNumbers> {
  let lastSaid = performance.now();
  await waitFor(
    'the background fetch to bring the whole image',
    async () => {
      const done = await agent.layersComplete();
      if (layers.every((layer) => done.has(layer))) return true;
      if (performance.now() - lastSaid > 10_000) {
        lastSaid = performance.now();
        const n = await agent.metrics();
        say(`   background fetch: ${mib(n.backgroundBytes)} so far`);
      }
      return false;
    },
    300_000,
    500,
  );
  const numbers = await agent.metrics();
  say(
    `   background fetch done: the whole image is local ${secs(performance.now() - since)} after the ` +
      `lazy pull began (agent: ${mib(numbers.onDemandBytes)} on demand + ${mib(numbers.prefetchBytes)} ` +
      `prefetched + ${mib(numbers.backgroundBytes)} in the background)`,
  );
  return numbers;
}

async function main(): Promise<void> {
  const keep = process.env.SLIPSTREAM_DEMO_KEEP === '1';
  const outDir = resolve(process.env.SLIPSTREAM_DEMO_OUTPUT ?? join(REPO, 'demo-output'));
  const work = await makeTempDir('demo');
  cleanup.add('the temp dir', () => removeDir(work));
  const hostPage = await prepareHostPage();
  cleanup.add('the host page build', () => hostPage.remove());
  say(`0. built the plugin (dist/) and the browser-test host page that loads it`);

  // 1. Registry and the sample image, plain gzip.
  const registry = await startRegistry();
  cleanup.add('the registry', () => registry.stop());
  const builder = await createPodman({ insecureRegistries: [registry.host] });
  cleanup.add('the builder podman', () => builder.stop());
  const gzipRef = `${registry.host}/demo-app:gzip`;
  await pushSampleImage(builder, gzipRef);
  const gzipBytes = await layerBytes(registry, 'demo-app', 'gzip');
  say(
    `1. registry on ${registry.url}; pushed ${gzipRef}: busybox + /app/start.sh + a ` +
      `${mib(MODEL_BYTES)} incompressible model, plain gzip, ${mib(gzipBytes)} of layers`,
  );

  // 2. eStargz by `slipstream convert`, described by `slipstream inspect`.
  const esgzRef = `${registry.host}/demo-app:esgz`;
  const converted = await convertToEstargz(work, gzipRef, esgzRef);
  const esgzBytes = await layerBytes(registry, 'demo-app', 'esgz');
  say(`2. slipstream convert --prioritize: ${converted.trim()} → ${esgzRef}, ${mib(esgzBytes)}`);
  say(`   slipstream inspect ${esgzRef}:`);
  for (const line of (await inspectImage(esgzRef)).split('\n')) say(`     ${line}`);

  // 3. Hub (with the stand-in Kubernetes API) and the agent reporting to it.
  const hub = await startTestHub();
  cleanup.add('the hub', () => hub.stop());
  say(
    `3. hub on ${hub.url} (SQLite ${hub.dbPath}); Kubernetes API: the stand-in server on ` +
      `${hub.kube.url} — the only stand-in, as no Kubernetes API runs here`,
  );
  const agentDir = join(work, 'agent');
  const agent = await startDemoAgent(agentDir, NODE, {
    url: hub.url,
    caFile: hub.caFile,
    token: hub.tokens.agent(NODE),
  });
  // Added before the agent's stop, so it runs after it: the whole log, kept for a person to read.
  cleanup.add('the agent log', async () => {
    await mkdir(outDir, { recursive: true });
    await copyFile(agent.logFile, join(outDir, 'agent.log'));
  });
  cleanup.add('the agent', () => agent.stop());
  say(
    `   slipstream agent (node ${NODE}) mounted at ${agent.mountpoint}, metrics ${agent.metricsUrl}, ` +
      `reporting to the hub`,
  );

  // 4. A normal pull + run, then a lazy one through the agent.
  const normalPodman = await createPodman({ insecureRegistries: [registry.host] });
  cleanup.add('the normal podman', () => normalPodman.stop());
  const normal = await pullAndRun(normalPodman, registry, gzipRef, gzipBytes);
  say(
    `4. normal pull ${secs(normal.pullMs)}, run ${secs(normal.runMs)}, ` +
      `${mib(normal.registryBytes)} from the registry; ${normal.appSaid}`,
  );
  const lazyPodman = await createPodman({
    additionalLayerStore: agent.mountpoint,
    insecureRegistries: [registry.host],
  });
  cleanup.add('the lazy podman', () => lazyPodman.stop());
  const lazyBegan = performance.now();
  const lazy = await pullAndRun(lazyPodman, registry, esgzRef, esgzBytes);
  const atReady = await agent.metrics();
  say(
    `   lazy pull   ${secs(lazy.pullMs)}, run ${secs(lazy.runMs)}, ` +
      `${mib(lazy.registryBytes)} from the registry (some of it the background fetch already); ` +
      lazy.appSaid,
  );
  say(
    `   agent at app ready: ${mib(atReady.onDemandBytes)} on demand (${atReady.onDemandFetches} ` +
      `chunk fetches), ${mib(atReady.prefetchBytes)} prefetched, ${mib(atReady.backgroundBytes)} ` +
      `in the background so far`,
  );
  say(
    `   lazy vs normal: ${(normal.registryBytes / Math.max(lazy.registryBytes, 1)).toFixed(0)}× fewer ` +
      `registry bytes, pull+run ${secs(lazy.pullMs + lazy.runMs)} vs ${secs(normal.pullMs + normal.runMs)}`,
  );
  const esgzLayers = (await layerDigests(registry, 'demo-app', 'esgz')).map((l) => l.digest);
  const whole = await waitForWholeImage(agent, esgzLayers, lazyBegan);

  // 5. The pods, as the kubelet would record them, to the hub.
  const lazyPod = 'demo-app-lazy-7c5d9f8b6-x4k2m';
  await recordPod(hub, NODE, 'demo-app-normal-7c5d9f8b6-q8w3e', normal);
  await recordPod(hub, NODE, lazyPod, lazy);
  const row = await lazyPodRow(hub, lazyPod);
  let summary = await hubSummary(hub);
  await waitFor(
    "the hub to have the agent's last report",
    async () => {
      summary = await hubSummary(hub);
      const b = summary.bytes;
      return (
        b.onDemand + b.prefetch + b.background >=
        whole.onDemandBytes + whole.prefetchBytes + whole.backgroundBytes
      );
    },
    30_000,
    500,
  );
  say(
    `5. hub summary: ${summary.pods.total} pods (${summary.pods.lazy} lazy, ${summary.pods.normal} normal), ` +
      `startup p50 lazy ${summary.startupSeconds.lazy?.p50 ?? '-'} s vs normal ` +
      `${summary.startupSeconds.normal?.p50 ?? '-'} s, saved ${summary.savedSecondsTotal.toFixed(1)} s, ` +
      `${summary.lazyPulls} lazy pull(s), bytes on demand ${mib(summary.bytes.onDemand)}, prefetch ` +
      `${mib(summary.bytes.prefetch)}, background ${mib(summary.bytes.background)}; ` +
      `nodes ${summary.nodes.healthy}/${summary.nodes.total} healthy`,
  );
  say(
    `   pod ${row.namespace}/${row.name}: lazy=${row.lazy}, pull ${row.pullSeconds} s, startup ` +
      `${row.startupSeconds} s, savings ${row.savings.seconds?.toFixed(1) ?? '-'} s ` +
      `(baseline ${row.savings.baselineSeconds?.toFixed(1) ?? '-'} s, ${row.savings.basis})`,
  );

  // 6. The plugin's dashboards on that hub.
  const dashboards = await showDashboards(
    hostPage,
    { url: hub.url, ca: hub.ca, token: hub.tokens.admin },
    { nodes: [NODE], pods: hub.kube.list(Resources.pods), pod: row },
    outDir,
  );
  cleanup.add('the dashboards host page', () => dashboards.stop());
  const shown = dashboards.screenshots
    .map((f) => (relative(process.cwd(), f).startsWith('..') ? f : relative(process.cwd(), f)))
    .join(', ');
  say(`6. dashboards at ${dashboards.url}; screenshots: ${shown}`);

  await writeFile(
    join(outDir, 'summary.json'),
    JSON.stringify(
      { normal, lazy, agentAtReady: atReady, agentWhole: whole, hub: summary, lazyPod: row },
      null,
      2,
    ) + '\n',
  );
  if (keep) {
    say(`everything is up; open ${dashboards.url} — press Ctrl-C to stop`);
    await new Promise<void>((resolveKeep) => {
      releaseKeep = resolveKeep;
    });
  }
}

/** Set while the demo waits in KEEP mode: Ctrl-C then ends the wait and cleans up normally. */
let releaseKeep: (() => void) | null = null;

let stopping = false;
const stopOnSignal = (signal: NodeJS.Signals) => {
  if (releaseKeep) {
    releaseKeep();
    return;
  }
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping everything`);
  void cleanup.run().finally(() => process.exit(130));
};
process.on('SIGINT', stopOnSignal);
process.on('SIGTERM', stopOnSignal);

main()
  .catch((error: unknown) => {
    // After Ctrl-C the children die with it; their errors are not the demo failing.
    if (stopping) return;
    process.stderr.write(
      `[demo] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  })
  .finally(async () => {
    if (stopping) return;
    stopping = true;
    await cleanup.run();
    say('stopped and cleaned up');
    // The in-process hub's HTTP clients may hold idle sockets; nothing is left to wait for.
    process.exit(process.exitCode ?? 0);
  });
