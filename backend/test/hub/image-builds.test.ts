// An image reference over time: a tag rebuilt and pulled again (its layers and size are those of
// its current build, while the pods that ran the older build keep their own), and an image with
// far more layers than any real one (stored up to a limit, and served a page at a time). A real
// hub on a real SQLite file, fed through its API and the stand-in Kubernetes API server.
import { jest } from '@jest/globals';

import type { ImageStatsT, LayersPageT, PodsPageT } from '../../src/hub/api-schemas.ts';
import { MAX_LAYERS_PER_IMAGE } from '../../src/hub/ingest.ts';
import type { AgentReport } from '../../src/telemetry/report.ts';
import { makeReport, startTestHub, zeroLatency, type TestHub } from '../support/hub.ts';
import { PulledMessages } from '../support/kube-fixtures.ts';
import { waitFor } from '../support/tmp.ts';

jest.setTimeout(60_000);

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub({ tls: false });
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

const MB = 1_000_000;
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function layer(n: number, sizeBytes: number, hotBytes = 0): AgentReport['images'][0]['layers'][0] {
  return {
    digest: digest(n),
    sizeBytes,
    bytes: { onDemand: n, prefetch: 0, background: 0 },
    chunkFetches: 1,
    latency: zeroLatency(),
    fetchedBytes: sizeBytes,
    prefetchUsedBytes: 0,
    hotFiles: hotBytes ? [{ path: `/layer-${n}/hot`, bytes: hotBytes }] : [],
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

async function post(report: AgentReport): Promise<void> {
  const answer = await hub.postReport(report);
  expect(answer).toMatchObject({ status: 200 });
}

describe('a tag rebuilt and pulled again', () => {
  const node = 'worker-rebuild.ocp.example.com';
  const image = 'quay.io/example/rebuilt:latest';
  const [buildA, buildB] = [`sha256:${'a0'.repeat(32)}`, `sha256:${'b0'.repeat(32)}`];
  const t0 = Date.now() - 1_800_000;
  const rebuiltAt = t0 + 600_000;

  const imageStats = async () =>
    (await hub.get<{ items: ImageStatsT[] }>('/api/v1/images')).body.items.find(
      (i) => i.image === image,
    );
  const layerPage = async () =>
    (await hub.get<LayersPageT>(`/api/v1/images/layers?image=${encodeURIComponent(image)}`)).body;
  const shown = async () => {
    const page = await layerPage();
    return {
      build: page.manifestDigest,
      layers: page.items.map((l) => l.digest).sort(),
      total: page.total,
    };
  };

  /** A lazy pod of the image on `node`, created 10 s before its lazy pull at `pulledAt`. */
  async function lazyPod(name: string, pulledAt: number): Promise<void> {
    await hub.seedPod(
      {
        namespace: 'rebuild',
        name,
        node,
        containers: [{ name: 'app', image, imageDigest: `sha256:${'cc'.repeat(32)}` }],
        createdAt: pulledAt - 10_000,
        scheduledAfter: 1,
        sandboxReadyAfter: 2,
        startedAfter: 12,
        readyAfter: 15,
      },
      { pulled: [PulledMessages.pulledWithSize(image, '1s', '1s', 1)] },
    );
  }

  beforeAll(async () => {
    // Build A: layers 1 and 2, 300 MB. The node measured 100 MB/s from its registry.
    await post(
      makeReport({
        node,
        windowEnd: iso(t0),
        registry: { bytes: 100 * MB, seconds: 1 },
        images: [
          {
            image,
            digest: buildA,
            compressedSizeBytes: 300 * MB,
            layers: [layer(1, 100 * MB), layer(2, 200 * MB)],
          },
        ],
        lazyPulls: [{ image, digest: buildA, layers: [digest(1), digest(2)], at: iso(t0 - 5_000) }],
      }),
    );
    await lazyPod('ran-build-a', t0 - 5_000);
    // Build B keeps layer 2 and replaces layer 1 with layer 3: 700 MB. On this node layer 2 is
    // still mounted for build A, so the agent reports it there: only the pull lists it for B.
    await post(
      makeReport({
        node,
        windowEnd: iso(rebuiltAt),
        images: [
          { image, digest: buildB, compressedSizeBytes: 700 * MB, layers: [layer(3, 500 * MB)] },
        ],
        lazyPulls: [
          { image, digest: buildB, layers: [digest(2), digest(3)], at: iso(rebuiltAt - 5_000) },
        ],
      }),
    );
    await lazyPod('ran-build-b', rebuiltAt - 5_000);
    // The pod of build A goes on reading: its node reports build A again, later.
    await post(
      makeReport({
        node,
        windowEnd: iso(rebuiltAt + 300_000),
        images: [
          { image, digest: buildA, compressedSizeBytes: 300 * MB, layers: [layer(1, 100 * MB)] },
        ],
      }),
    );
    await hub.waitForPods(2);
  });

  it('shows the layers and the size of the current build only', async () => {
    expect(await shown()).toEqual({
      build: buildB,
      layers: [digest(2), digest(3)],
      total: 2,
    });
    expect((await imageStats())?.bytes.total).toBe(700 * MB);
  });

  it('estimates the savings of each pod with the size of the build it ran', async () => {
    type Savings = PodsPageT['items'][number]['savings'];
    let savings: Record<string, Savings> = {};
    await waitFor('both pods lazy, with a savings estimate', async () => {
      const { body } = await hub.get<PodsPageT>('/api/v1/pods?namespace=rebuild');
      savings = Object.fromEntries(body.items.map((p) => [p.name, p.savings]));
      return Object.values(savings).filter((s) => s.seconds !== null).length === 2;
    });
    // A full download of the build at 100 MB/s instead of the 1 s lazy pull.
    expect(savings['ran-build-a']).toMatchObject({ basis: 'estimated-throughput' });
    expect(savings['ran-build-a']?.seconds).toBeCloseTo(3 - 1, 6);
    expect(savings['ran-build-b']?.seconds).toBeCloseTo(7 - 1, 6);
  });

  it('takes a report that names no build as one of the current build', async () => {
    await post(
      makeReport({
        node,
        windowEnd: iso(rebuiltAt + 400_000),
        images: [{ image, digest: null, compressedSizeBytes: null, layers: [layer(3, 500 * MB)] }],
      }),
    );
    expect(await shown()).toMatchObject({ build: buildB, total: 2 });
  });

  it('goes back to the older build when the tag is pulled as that build again', async () => {
    await post(
      makeReport({
        node,
        windowEnd: iso(rebuiltAt + 600_000),
        lazyPulls: [
          { image, digest: buildA, layers: [digest(1), digest(2)], at: iso(rebuiltAt + 590_000) },
        ],
      }),
    );
    expect(await shown()).toEqual({ build: buildA, layers: [digest(1), digest(2)], total: 2 });
    expect((await imageStats())?.bytes.total).toBe(300 * MB);
  });
});

describe('an image with more layers than any real one', () => {
  const node = 'worker-layers.ocp.example.com';
  const image = 'quay.io/example/many-layers:1';
  const layersPerReport = 300;
  const reports = 3;
  const pageOf = async (query: string) =>
    hub.get<LayersPageT>(`/api/v1/images/layers?image=${encodeURIComponent(image)}${query}`);

  beforeAll(async () => {
    // Three reports of 300 new layers each, the build unnamed (as the outside probe sent them);
    // every 7th layer has a hot file, the hotter the later.
    for (let r = 0; r < reports; r++) {
      const layers = Array.from({ length: layersPerReport }, (_, i) => {
        const n = 1000 + r * layersPerReport + i;
        return layer(n, 1000, n % 7 === 0 ? n : 0);
      });
      await post(
        makeReport({
          node,
          images: [{ image, digest: null, compressedSizeBytes: null, layers }],
        }),
      );
    }
  });

  it('stores at most the per-image limit of each report, and counts the rest', async () => {
    const stored = hub.hub.db
      .prepare('SELECT count(*) AS n FROM layers WHERE image = ?')
      .get(image) as { n: number };
    expect(stored.n).toBe(reports * MAX_LAYERS_PER_IMAGE);
    const metrics = (await hub.hub.metrics.expose()).text;
    expect(metrics).toContain(
      `slipstream_hub_report_layers_dropped_total ${reports * (layersPerReport - MAX_LAYERS_PER_IMAGE)}`,
    );
  });

  it('serves its layers a page at a time, the hottest first, every layer once', async () => {
    const first = await pageOf('&limit=20');
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(20);
    expect(first.body.total).toBe(reports * MAX_LAYERS_PER_IMAGE);
    // The hottest files of the image are on the first page.
    const hottest = hub.hub.db
      .prepare('SELECT bytes FROM hot_files WHERE image = ? ORDER BY bytes DESC LIMIT 20')
      .all(image)
      .map((r) => (r as { bytes: number }).bytes);
    expect(first.body.items.map((l) => l.hotFiles[0]?.bytes)).toEqual(hottest);

    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: LayersPageT = (
        await pageOf(`&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      ).body;
      for (const l of page.items) seen.add(l.digest);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(seen.size).toBe(reports * MAX_LAYERS_PER_IMAGE);
    expect(pages).toBe(Math.ceil((reports * MAX_LAYERS_PER_IMAGE) / 100));
  });

  it('answers 50 layers unless asked, never more than 500, and refuses a cursor not its own', async () => {
    expect((await pageOf('')).body.items).toHaveLength(50);
    expect((await pageOf('&limit=501')).status).toBe(400);
    expect((await pageOf('&cursor=bm90LWEtY3Vyc29y')).status).toBe(400);
  });
});
