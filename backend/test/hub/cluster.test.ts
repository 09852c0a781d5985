// The hub's Kubernetes side: Pods (through their phases) and kubelet Pulled events (every message
// form) in recorded real shapes (kube-fixtures.ts), served over the real list/watch protocol by the
// stand-in Kubernetes API server — the only stand-in, because no Kubernetes API can run here — and
// recorded by the hub's client-node informers into a real SQLite file.
import { jest } from '@jest/globals';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

import type { ImageStatsT, PodStartupT, PodsPageT } from '../../src/hub/api-schemas.ts';
import { startTestHub, makeReport, type TestHub } from '../support/hub.ts';
import { Resources } from '../support/kube-api.ts';
import { PulledMessages, machineConfigPool, type PodPlan } from '../support/kube-fixtures.ts';
import { waitFor } from '../support/tmp.ts';

// Waits on the hub's watchers; generous for a busy machine (no timing is asserted).
jest.setTimeout(60_000);

let hub: TestHub;
const T0 = Date.parse('2026-11-22T07:00:00Z');

beforeAll(async () => {
  hub = await startTestHub();
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

function plan(
  name: string,
  namespace: string,
  image: string,
  node = 'worker-1.ocp.example.com',
  offset = 0,
): PodPlan {
  return {
    namespace,
    name,
    node,
    containers: [{ name: 'app', image, imageDigest: `sha256:${'5d'.repeat(32)}` }],
    createdAt: T0 + offset * 1000,
    scheduledAfter: 1,
    sandboxReadyAfter: 3,
    startedAfter: 20,
    readyAfter: 25,
  };
}

async function recordedPod(namespace: string, name: string): Promise<PodStartupT> {
  let found: PodStartupT | undefined;
  await waitFor(`pod ${namespace}/${name} with its pull recorded`, async () => {
    const { body } = await hub.get<PodsPageT>(`/api/v1/pods?namespace=${namespace}`);
    found = body.items.find((p) => p.name === name);
    const container = found?.containers[0];
    // done when the Pulled event (either kind) and the Ready condition have both arrived
    return (
      container !== undefined &&
      (container.pullSeconds !== null || container.alreadyPresent) &&
      found?.readyAt !== null
    );
  });
  return found!;
}

describe('pods through their phases, with each Pulled message form', () => {
  const forms: [
    string,
    (image: string) => string,
    { pullSeconds: number | null; alreadyPresent: boolean },
  ][] = [
    [
      'pulled, with image size',
      (i) => PulledMessages.pulledWithSize(i, '14.2s', '15.002s', 52_428_800),
      { pullSeconds: 14.2, alreadyPresent: false },
    ],
    [
      'pulled, including waiting',
      (i) => PulledMessages.pulledWithWaiting(i, '1m2.5s', '1m3s'),
      { pullSeconds: 62.5, alreadyPresent: false },
    ],
    [
      'pulled, plain',
      (i) => PulledMessages.pulledPlain(i, '850ms'),
      { pullSeconds: 0.85, alreadyPresent: false },
    ],
    [
      'already present',
      (i) => PulledMessages.alreadyPresent(i),
      { pullSeconds: null, alreadyPresent: true },
    ],
    [
      'already present and accessible',
      (i) => PulledMessages.alreadyPresentAccessible(i),
      { pullSeconds: null, alreadyPresent: true },
    ],
  ];

  it.each(forms)('records timestamps and the pull for "%s"', async (label, message, expected) => {
    const name = `web-${label.replace(/[^a-z]+/g, '-')}-x1`.replace(/-+/g, '-');
    const p = plan(name, 'phases', 'quay.io/example/web:2.1');
    const uid = await hub.seedPod(p, { pulled: [message('quay.io/example/web:2.1')] });
    const pod = await recordedPod('phases', name);
    expect(pod).toMatchObject({
      uid,
      node: 'worker-1.ocp.example.com',
      createdAt: '2026-11-22T07:00:00.000Z',
      scheduledAt: '2026-11-22T07:00:01.000Z',
      readyToStartAt: '2026-11-22T07:00:03.000Z',
      firstStartedAt: '2026-11-22T07:00:20.000Z',
      readyAt: '2026-11-22T07:00:25.000Z',
      startupSeconds: 25,
      pullSeconds: expected.pullSeconds,
      lazy: false,
    });
    expect(pod.containers).toEqual([
      {
        name: 'app',
        image: 'quay.io/example/web:2.1',
        imageDigest: `sha256:${'5d'.repeat(32)}`,
        lazy: false,
        pullSeconds: expected.pullSeconds,
        alreadyPresent: expected.alreadyPresent,
        startedAt: '2026-11-22T07:00:20.000Z',
        readyAt: '2026-11-22T07:00:25.000Z',
      },
    ]);
  });
});

describe('lazy pulls and savings', () => {
  it('marks a pod lazy only when its own node served the image lazily, and estimates savings from throughput', async () => {
    const image = 'quay.io/example/estimate-me:7';
    const lazyNode = 'worker-2.ocp.example.com';
    // The agent on worker-2 served the image lazily just after the pod was created, measured
    // 100 MiB in 2 s from the registry, and knows the image is 300 MiB compressed.
    const report = makeReport({
      node: lazyNode,
      registry: { bytes: 100 * 2 ** 20, seconds: 2 },
      images: [{ image, digest: null, compressedSizeBytes: 300 * 2 ** 20, layers: [] }],
      lazyPulls: [
        {
          image,
          digest: null,
          layers: [`sha256:${'71'.repeat(32)}`],
          at: new Date(T0 + 5_000).toISOString(),
        },
      ],
    });
    expect((await hub.postReport(report)).status).toBe(200);
    await hub.seedPod(plan('est-lazy-1', 'savings', image, lazyNode), {
      pulled: [PulledMessages.pulledWithSize(image, '1.5s', '1.5s', 900_000_000)],
    });
    // The same image at the same time on another node, where no lazy pull happened (the image was
    // already there): not lazy, and not a normal pull either, so no baseline.
    await hub.seedPod(plan('est-other-1', 'savings', image, 'worker-3.ocp.example.com'), {
      pulled: [PulledMessages.alreadyPresent(image)],
    });
    const lazy = await recordedPod('savings', 'est-lazy-1');
    const other = await recordedPod('savings', 'est-other-1');
    expect(lazy.lazy).toBe(true);
    expect(other.lazy).toBe(false);
    // baseline = startup 25 s − lazy pull 1.5 s + 300 MiB / (50 MiB/s) = 29.5 s
    expect(lazy.savings).toEqual({
      seconds: 4.5,
      baselineSeconds: 29.5,
      basis: 'estimated-throughput',
    });
    expect(other.savings.basis).toBe('none');
  });

  it('replaces only the pull of the lazily served image in the estimate, not a sidecar pull', async () => {
    const image = 'quay.io/example/estimate-with-sidecar:1';
    const sidecar = 'quay.io/example/proxy-sidecar:1';
    const lazyNode = 'worker-4.ocp.example.com';
    // 10 MB/s measured; the image is 100 MB: a full download would have taken 10 s.
    const report = makeReport({
      node: lazyNode,
      registry: { bytes: 100e6, seconds: 10 },
      images: [{ image, digest: null, compressedSizeBytes: 100e6, layers: [] }],
      lazyPulls: [
        {
          image,
          digest: null,
          layers: [`sha256:${'72'.repeat(32)}`],
          at: new Date(T0 + 5_000).toISOString(),
        },
      ],
    });
    expect((await hub.postReport(report)).status).toBe(200);
    const withSidecar = plan('est-sidecar-1', 'savings-sidecar', image, lazyNode);
    withSidecar.containers.push({
      name: 'proxy',
      image: sidecar,
      imageDigest: `sha256:${'5e'.repeat(32)}`,
    });
    // The app's image came lazily in 1 s, the sidecar's normally in 30 s (both in the startup).
    await hub.seedPod(withSidecar, {
      pulled: [
        PulledMessages.pulledWithSize(image, '1s', '1s', 100e6),
        PulledMessages.pulledWithSize(sidecar, '30s', '30s', 5e6),
      ],
    });
    let pod: PodStartupT | undefined;
    await waitFor('both pulls recorded', async () => {
      const { body } = await hub.get<PodsPageT>('/api/v1/pods?namespace=savings-sidecar');
      pod = body.items[0];
      return pod?.containers.every((c) => c.pullSeconds !== null) === true && pod.lazy;
    });
    expect(pod!.pullSeconds).toBe(31); // the pod waited for both pulls
    // baseline = startup 25 s − the image's lazy pull 1 s + 100 MB / (10 MB/s) = 34 s
    expect(pod!.savings).toEqual({
      seconds: 9,
      baselineSeconds: 34,
      basis: 'estimated-throughput',
    });
    // The image view computes the same in SQL.
    const { body: images } = await hub.get<{ items: ImageStatsT[] }>(
      `/api/v1/images?since=${new Date(T0 - 60_000).toISOString()}`,
    );
    expect(images.items.find((i) => i.image === image)?.savings).toEqual({
      medianSeconds: 9,
      basis: 'estimated-throughput',
    });
  });
});

describe('watch robustness', () => {
  it('keeps recording after the API server ends every watch, and re-lists after 410 Gone', async () => {
    hub.kube.closeWatches();
    await hub.seedPod(plan('after-close-1', 'robust', 'quay.io/example/web:2.1'), {
      pulled: [PulledMessages.pulledPlain('quay.io/example/web:2.1', '2s')],
    });
    expect((await recordedPod('robust', 'after-close-1')).pullSeconds).toBe(2);
    const listsBefore = hub.kube.requests.filter((r) => r.path === '/api/v1/pods').length;
    hub.kube.compactHistory();
    hub.kube.closeWatches();
    await hub.seedPod(plan('after-gone-1', 'robust', 'quay.io/example/web:2.1'), {
      pulled: [PulledMessages.pulledPlain('quay.io/example/web:2.1', '3s')],
    });
    expect((await recordedPod('robust', 'after-gone-1')).pullSeconds).toBe(3);
    expect(hub.kube.requests.filter((r) => r.path === '/api/v1/pods').length).toBeGreaterThan(
      listsBefore,
    );
    // a deleted pod keeps its history
    hub.kube.remove(Resources.pods, 'robust', 'after-close-1');
    hub.kube.apply(Resources.pods, {
      metadata: {
        name: 'marker-1',
        namespace: 'robust',
        creationTimestamp: new Date(T0).toISOString(),
      },
      spec: { containers: [] },
    });
    await waitFor(
      'marker pod',
      async () => (await hub.get<PodsPageT>('/api/v1/pods?namespace=robust')).body.total === 3,
    );
  });
});

describe('recorded MachineConfigPool shapes', () => {
  it('are served by the stand-in to client-node as a real cluster would', async () => {
    hub.kube.apply(
      Resources.machineConfigPools,
      machineConfigPool('worker', { machineCount: 3, updated: 1 }),
    );
    hub.kube.apply(Resources.machineConfigPools, machineConfigPool('master'));
    const kc = new KubeConfig();
    kc.loadFromFile(hub.kube.kubeconfigPath);
    const list = (await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({
      group: 'machineconfiguration.openshift.io',
      version: 'v1',
      plural: 'machineconfigpools',
    })) as { items: { metadata: { name: string }; status: { updatedMachineCount: number } }[] };
    expect(list.items.map((p) => [p.metadata.name, p.status.updatedMachineCount])).toEqual([
      ['worker', 1],
      ['master', 3],
    ]);
  });
});
