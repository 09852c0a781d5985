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

import type { PodStartupT, SummaryT } from '../src/hub/api-schemas.ts';
import { startTestHub, type TestHub } from '../test/support/hub.ts';
import { Resources } from '../test/support/kube-api.ts';
import { createPodman } from '../test/support/podman.ts';
import { startRegistry, type RegistryFixture } from '../test/support/registry.ts';
import { makeTempDir, removeDir, waitFor } from '../test/support/tmp.ts';
import { startDemoAgent, type AgentNumbers, type DemoAgent } from './agent.ts';
import { hubSummary, lazyPodRow, recordPod } from './cluster.ts';
import { prepareHostPage, showDashboards } from './dashboards.ts';
import { layerBytes, layerDigests, pullAndRun, waitForWholeImage, type PullRun } from './pulls.ts';
import { convertToEstargz, inspectImage, MODEL_BYTES, pushSampleImage } from './sample-image.ts';
import { Cleanup, mib, say, secs } from './steps.ts';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const NODE = 'demo-worker-0.ocp.local';
const cleanup = new Cleanup();

interface Images {
  registry: RegistryFixture;
  gzip: { ref: string; bytes: number };
  esgz: { ref: string; bytes: number; layers: string[] };
}

/** 1 + 2. The registry, the sample image as plain gzip, and its eStargz conversion. */
async function stepImages(work: string): Promise<Images> {
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

  const esgzRef = `${registry.host}/demo-app:esgz`;
  const converted = await convertToEstargz(work, gzipRef, esgzRef);
  const layers = await layerDigests(registry, 'demo-app', 'esgz');
  const esgzBytes = layers.reduce((sum, layer) => sum + layer.size, 0);
  say(`2. slipstream convert --prioritize: ${converted.trim()} → ${esgzRef}, ${mib(esgzBytes)}`);
  say(`   slipstream inspect ${esgzRef}:`);
  for (const line of (await inspectImage(esgzRef)).split('\n')) say(`     ${line}`);
  return {
    registry,
    gzip: { ref: gzipRef, bytes: gzipBytes },
    esgz: { ref: esgzRef, bytes: esgzBytes, layers: layers.map((l) => l.digest) },
  };
}

/** 3. The hub (with the stand-in Kubernetes API) and the agent reporting to it. */
async function stepServices(work: string, outDir: string): Promise<[TestHub, DemoAgent]> {
  const hub = await startTestHub();
  cleanup.add('the hub', () => hub.stop());
  say(
    `3. hub on ${hub.url} (SQLite ${hub.dbPath}); Kubernetes API: the stand-in server on ` +
      `${hub.kube.url} — the only stand-in, as no Kubernetes API runs here`,
  );
  const agent = await startDemoAgent(join(work, 'agent'), NODE, {
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
  return [hub, agent];
}

interface Pulls {
  normal: PullRun;
  lazy: PullRun;
  agentAtReady: AgentNumbers;
  agentWhole: AgentNumbers;
}

/** 4. A normal pull + run of the gzip image, then a lazy one of the eStargz image via the agent. */
async function stepPulls(images: Images, agent: DemoAgent): Promise<Pulls> {
  const { registry } = images;
  const normalPodman = await createPodman({ insecureRegistries: [registry.host] });
  cleanup.add('the normal podman', () => normalPodman.stop());
  const normal = await pullAndRun(normalPodman, registry, images.gzip.ref, images.gzip.bytes);
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
  const lazy = await pullAndRun(lazyPodman, registry, images.esgz.ref, images.esgz.bytes);
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
  const whole = await waitForWholeImage(agent, images.esgz.layers, lazyBegan);
  return { normal, lazy, agentAtReady: atReady, agentWhole: whole };
}

/** 5. The two pods, as the kubelet would record them, to the hub; its summary and the lazy pod. */
async function stepHub(hub: TestHub, pulls: Pulls): Promise<[SummaryT, PodStartupT]> {
  const lazyPod = 'demo-app-lazy-7c5d9f8b6-x4k2m';
  await recordPod(hub, NODE, 'demo-app-normal-7c5d9f8b6-q8w3e', pulls.normal);
  await recordPod(hub, NODE, lazyPod, pulls.lazy);
  const row = await lazyPodRow(hub, lazyPod);
  const whole = pulls.agentWhole;
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
  return [summary, row];
}

/** A path as short as it can be said: relative to the working directory when below it. */
const shortPath = (file: string): string => {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
};

async function main(): Promise<void> {
  const outDir = resolve(process.env.SLIPSTREAM_DEMO_OUTPUT ?? join(REPO, 'demo-output'));
  const work = await makeTempDir('demo');
  cleanup.add('the temp dir', () => removeDir(work));
  const hostPage = await prepareHostPage();
  cleanup.add('the host page build', () => hostPage.remove());
  say(`0. built the plugin (dist/) and the browser-test host page that loads it`);

  const images = await stepImages(work);
  const [hub, agent] = await stepServices(work, outDir);
  const pulls = await stepPulls(images, agent);
  const [summary, row] = await stepHub(hub, pulls);

  // 6. The plugin's dashboards on that hub.
  const dashboards = await showDashboards(
    hostPage,
    { url: hub.url, ca: hub.ca, token: hub.tokens.admin },
    { nodes: [NODE], pods: hub.kube.list(Resources.pods), pod: row },
    outDir,
  );
  cleanup.add('the dashboards host page', () => dashboards.stop());
  say(
    `6. dashboards at ${dashboards.url}; screenshots: ` +
      dashboards.screenshots.map(shortPath).join(', '),
  );
  const record = { ...pulls, hub: summary, lazyPod: row };
  await writeFile(join(outDir, 'summary.json'), JSON.stringify(record, null, 2) + '\n');

  if (process.env.SLIPSTREAM_DEMO_KEEP === '1') {
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
