// End to end on localhost: a real `slipstream agent` (FUSE Additional Layer Store) serves a real
// podman pull of an eStargz image from a real registry, and reports to a real hub (HTTPS, SQLite
// file). The hub's numbers for that pull must match what the agent measured (its Prometheus
// counters) and what the registry served (its access log).
// Kubernetes is the one stand-in (no Kubernetes API can run here): the agent's token is reviewed
// by the stand-in API server, and the pod that "pulled" the image is what the kubelet would record
// for it — a recorded Pod shape and a Pulled event carrying the pull time podman took.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jest } from '@jest/globals';

import type { LayerStatsT, NodeStatusT, PodsPageT, SummaryT } from '../../src/hub/api-schemas.ts';
import { version } from '../../src/version.ts';
import { pushTwoLayerImage } from '../store/fixtures.ts';
import { startTestHub, type TestHub } from '../support/hub.ts';
import { PulledMessages } from '../support/kube-fixtures.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { run, startDaemon, stopProcess } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { freePort, makeTempDir, removeDir, waitFor } from '../support/tmp.ts';

jest.setTimeout(600_000);

const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));
const NODE = 'e2e-worker.ocp.example.com';

interface Manifest {
  layers: { digest: string; size: number }[];
}

function counter(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('agent → hub, end to end', () => {
  let dir: string;
  let registry: RegistryFixture;
  let hub: TestHub;
  let podman: PodmanFixture;
  let stopAgent: () => Promise<void>;
  let metricsUrl: string;
  let image: string;
  let manifest: Manifest;
  let pullSeconds: number;

  beforeAll(async () => {
    dir = await makeTempDir('agent-hub-e2e');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    await pushTwoLayerImage(dir, registry.host, 'hub-e2e', 'gzip');
    image = `${registry.host}/hub-e2e:lazy`;
    // The two files the container reads come first, before the prefetch landmark.
    const prioritized = join(dir, 'prioritize.txt');
    await writeFile(prioritized, '/opt/app/hello.txt\n/data/big.bin\n');
    await run(process.execPath, [
      bin,
      'convert',
      '--insecure',
      '--prioritize',
      prioritized,
      `${registry.host}/hub-e2e:gzip`,
      image,
    ]);
    const res = await fetch(`${registry.url}/v2/hub-e2e/manifests/lazy`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    manifest = (await res.json()) as Manifest;

    hub = await startTestHub();
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, hub.tokens.agent(NODE));
    const mountpoint = join(dir, 'store');
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    const configFile = join(dir, 'agent.yaml');
    await writeFile(
      configFile,
      [
        `mountpoint: ${mountpoint}`,
        `stateDir: ${join(dir, 'state')}`,
        'cacheSize: 1Gi',
        'cacheMinFreePercent: 0', // not the machine's disk fill
        'lookupTimeoutSeconds: 10',
        'prefetch: { enabled: true, maxBytes: 64Mi }',
        'backgroundFetch: { enabled: false, quietPeriodSeconds: 1, concurrency: 2 }',
        `registriesConf: ${join(dir, 'registries.conf')}`,
        'authFiles: []',
        `metricsAddress: 127.0.0.1:${port}`,
        `hub: { url: "${hub.url}", tokenFile: ${tokenFile}, caFile: ${hub.caFile}, reportIntervalSeconds: 1 }`,
        `nodeName: ${NODE}`,
        'logLevel: info',
      ].join('\n'),
    );
    const logFile = join(dir, 'agent.log');
    const child = startDaemon(process.execPath, [bin, 'agent', '--config', configFile], logFile);
    stopAgent = () => stopProcess(child, 15_000);
    await waitFor('agent mount', async () => (await fetch(metricsUrl)).ok, 30_000);

    podman = await createPodman({
      additionalLayerStore: mountpoint,
      insecureRegistries: [registry.host],
    });
    const started = performance.now();
    await podman.run(['pull', image]);
    pullSeconds = Math.round(performance.now() - started) / 1000;
    const { stdout } = await podman.run([
      'run',
      '--rm',
      image,
      'sh',
      '-c',
      // hello.txt and big.bin are prefetched (prioritized); second.bin comes on demand.
      'cat /opt/app/hello.txt; busybox sha256sum /data/big.bin /data/second.bin',
    ]);
    expect(stdout).toContain('hello from layer2');

    // The kubelet's view of this pull: a pod on the agent's node, and its Pulled event.
    const createdAt = Date.now() - 30_000;
    await hub.seedPod(
      {
        namespace: 'e2e',
        name: 'hub-e2e-6f7c9d8b5-k2m4p',
        node: NODE,
        containers: [{ name: 'app', image, imageDigest: `sha256:${'00'.repeat(32)}` }],
        createdAt,
        scheduledAfter: 1,
        sandboxReadyAfter: 2,
        startedAfter: 29,
        readyAfter: 30,
      },
      {
        pulled: [
          PulledMessages.pulledWithSize(image, `${pullSeconds}s`, `${pullSeconds}s`, 12_000_000),
        ],
      },
    );
  });

  afterAll(async () => {
    await podman?.stop();
    await stopAgent?.();
    await hub?.stop();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  it("reports the agent's own measurements of the pull, layer by layer", async () => {
    const metrics = await (await fetch(metricsUrl)).text();
    const onDemandBytes = counter(metrics, 'slipstream_ondemand_fetched_bytes_total');
    const chunkFetches = counter(metrics, 'slipstream_ondemand_chunk_fetches_total');
    const prefetchBytes = counter(metrics, 'slipstream_prefetch_fetched_bytes_total');
    expect(onDemandBytes).toBeGreaterThan(0);
    // The agent's own cost is visible too: memory and CPU of the serving process.
    expect(counter(metrics, 'slipstream_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(counter(metrics, 'slipstream_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    let layers: LayerStatsT[] = [];
    await waitFor(
      'the hub to have every on-demand byte',
      async () => {
        layers = (await hub.get<{ items: LayerStatsT[] }>(`/api/v1/images/layers?image=${image}`))
          .body.items;
        return layers.reduce((s, l) => s + l.bytes.onDemand, 0) === onDemandBytes;
      },
      30_000,
    );
    expect(layers.map((l) => [l.digest, l.sizeBytes]).sort()).toEqual(
      manifest.layers.map((l) => [l.digest, l.size]).sort(),
    );
    expect(layers.reduce((s, l) => s + l.chunkFetches, 0)).toBe(chunkFetches);
    expect(layers.reduce((s, l) => s + l.bytes.prefetch, 0)).toBe(prefetchBytes);
    // The registry served at least what the agent reports fetching (plus footers and TOCs).
    const served = (await registry.accessLog())
      .filter((l) => manifest.layers.some((m) => l.path.endsWith(`/blobs/${m.digest}`)))
      .reduce((s, l) => s + l.bytes, 0);
    const reported = layers.reduce(
      (s, l) => s + l.bytes.onDemand + l.bytes.prefetch + l.bytes.background,
      0,
    );
    expect(served).toBeGreaterThanOrEqual(reported);
    // Lazy means lazy: a fraction of the image crossed the network.
    expect(reported).toBeLessThan(manifest.layers.reduce((s, l) => s + l.size, 0));
    // Every FUSE request is timed by kind; the shell's binary was not prefetched: misses.
    expect(
      counter(metrics, 'slipstream_fuse_operation_duration_seconds_count{op="lookup"}'),
    ).toBeGreaterThan(0);
    expect(
      counter(metrics, 'slipstream_fuse_operation_duration_seconds_count{op="read"}'),
    ).toBeGreaterThan(0);
    expect(counter(metrics, 'slipstream_cache_misses_total')).toBeGreaterThan(0);
  });

  it('counts prefetched bytes the container read as prefetch hits', async () => {
    let images: { image: string; prefetchHitRatio: number | null }[] = [];
    await waitFor(
      'a prefetch hit ratio',
      async () => {
        images = (await hub.get<{ items: typeof images }>('/api/v1/images')).body.items;
        return (images.find((i) => i.image === image)?.prefetchHitRatio ?? 0) > 0;
      },
      30_000,
    );
    // The container read both prioritized files whole: most of what prefetch fetched was used.
    expect(images.find((i) => i.image === image)?.prefetchHitRatio).toBeGreaterThan(0.5);
  });

  it('shows the node healthy with its mount, and the pod as served lazily with its pull time', async () => {
    const nodes = (await hub.get<{ items: NodeStatusT[] }>('/api/v1/nodes')).body.items;
    expect(nodes).toEqual([
      expect.objectContaining({
        node: NODE,
        agentVersion: version,
        mountState: 'mounted',
        healthy: true,
      }),
    ]);
    let pods: PodsPageT | undefined;
    await waitFor(
      'the pod recorded as lazy',
      async () => {
        pods = (await hub.get<PodsPageT>('/api/v1/pods?namespace=e2e')).body;
        return pods.items[0]?.lazy === true;
      },
      30_000,
    );
    expect(pods?.items[0]).toMatchObject({ node: NODE, pullSeconds, startupSeconds: 30 });
    expect(pods?.items[0]?.containers[0]).toMatchObject({ image, lazy: true, pullSeconds });
    const summary = (await hub.get<SummaryT>('/api/v1/summary')).body;
    expect(summary.lazyPulls).toBeGreaterThanOrEqual(1);
    expect(summary.pods.lazy).toBe(1);
  });
});
