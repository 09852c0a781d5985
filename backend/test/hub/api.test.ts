// The hub's REST API on a real SQLite file, fed through its real ingestion paths: Pods and Events
// (recorded shapes, kube-fixtures.ts) served by the stand-in Kubernetes API server — the only
// stand-in, because no Kubernetes API can run here — and agent reports POSTed over HTTPS.
import { jest } from '@jest/globals';

import type {
  ImageStatsT,
  LayerStatsT,
  NodeStatusT,
  PodsPageT,
  SummaryT,
  TimeseriesT,
} from '../../src/hub/api-schemas.ts';
import { startTestHub, type TestHub } from '../support/hub.ts';

// Waits on the hub's watchers; generous for a busy machine (no timing is asserted).
jest.setTimeout(60_000);

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
  await hub.seedDemo();
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

describe('read API over the demo cluster', () => {
  it('summarises lazy and normal startups and the savings against the observed median', async () => {
    const { status, body } = await hub.get<SummaryT>('/api/v1/summary');
    expect(status).toBe(200);
    // 5 demo-app pods (2 pulled normally, 2 lazily, 1 already present) + 1 base pod already present
    expect(body.pods).toEqual({ total: 6, lazy: 2, normal: 2 });
    expect(body.startupSeconds.normal).toMatchObject({ count: 2, min: 48, max: 52 });
    expect(body.startupSeconds.lazy).toMatchObject({ count: 2, min: 9, max: 11 });
    // baseline = median(48, 52) = 50 → savings 41 and 39
    expect(body.savedSecondsTotal).toBe(80);
    expect(body.nodes).toEqual({ total: 3, healthy: 3 });
    expect(body.lazyPulls).toBe(2);
    expect(body.bytes.onDemand).toBe(3 * (4 + 5) * 2 ** 20);
  });

  it('lists pods newest first with containers, pull seconds and savings basis', async () => {
    const { body } = await hub.get<PodsPageT>('/api/v1/pods?namespace=demo&limit=2');
    expect(body.total).toBe(5);
    expect(body.items).toHaveLength(2);
    expect(body.nextCursor).toEqual(expect.any(String));
    const next = await hub.get<PodsPageT>(
      `/api/v1/pods?namespace=demo&limit=2&cursor=${body.nextCursor}`,
    );
    const rest = await hub.get<PodsPageT>(
      `/api/v1/pods?namespace=demo&limit=10&cursor=${next.body.nextCursor}`,
    );
    const names = [...body.items, ...next.body.items, ...rest.body.items].map((p) => p.name);
    expect(new Set(names).size).toBe(5);
    const lazy = await hub.get<PodsPageT>('/api/v1/pods?lazy=true');
    expect(lazy.body.items.map((p) => p.name).sort()).toEqual([
      'demo-app-7d9f8b6c5d-r2v7t',
      'demo-app-7d9f8b6c5d-w5j9c',
    ]);
    const r2 = lazy.body.items.find((p) => p.name.endsWith('r2v7t'));
    expect(r2).toMatchObject({
      startupSeconds: 9,
      pullSeconds: 1.312,
      lazy: true,
      savings: { seconds: 41, baselineSeconds: 50, basis: 'observed-median' },
    });
    expect(r2?.containers[0]).toMatchObject({
      name: 'app',
      lazy: true,
      alreadyPresent: false,
      pullSeconds: 1.312,
    });
    const cached = await hub.get<PodsPageT>('/api/v1/pods?namespace=tools');
    expect(cached.body.items[0]?.containers[0]).toMatchObject({
      alreadyPresent: true,
      pullSeconds: null,
      lazy: false,
    });
    expect(cached.body.items[0]?.savings.basis).toBe('none');
  });

  it('reports per-image distributions, bytes and per-layer statistics with hot files', async () => {
    const { body } = await hub.get<{ items: ImageStatsT[] }>('/api/v1/images');
    const demo = body.items.find((i) => i.image === 'quay.io/slipstream/demo-app:1.4');
    expect(demo?.pods).toEqual({ lazy: 2, normal: 2 });
    expect(demo?.bytes.total).toBe(180 * 2 ** 20);
    expect(demo?.savings.basis).toBe('observed-median');
    expect(demo?.prefetchHitRatio).toBeCloseTo((700 * 1024) / 2 ** 20, 5);
    const layers = await hub.get<{ items: LayerStatsT[] }>(
      '/api/v1/images/layers?image=quay.io/slipstream/demo-app:1.4',
    );
    expect(layers.body.items).toHaveLength(2);
    expect(layers.body.items[0]?.hotFiles[0]).toEqual({
      path: '/usr/bin/demo-app',
      bytes: 9 * 2 ** 20,
    });
    expect(layers.body.items[0]?.chunkFetches).toBe(165);
  });

  it('serves nodes, a time series and the OpenAPI document', async () => {
    const nodes = await hub.get<{ items: NodeStatusT[] }>('/api/v1/nodes');
    expect(nodes.body.items).toHaveLength(3);
    expect(nodes.body.items[0]).toMatchObject({
      mountState: 'mounted',
      healthy: true,
      layersServed: 2,
    });
    const end = new Date();
    const start = new Date(end.getTime() - 3_600_000);
    const ts = await hub.get<TimeseriesT>(
      `/api/v1/timeseries?start=${start.toISOString()}&end=${end.toISOString()}&step=300`,
    );
    expect(ts.status).toBe(200);
    expect(ts.body.points).toHaveLength(12);
    // three reports × two layers × 55 on-demand chunk fetches, wherever the buckets split them
    const fetches = ts.body.points.reduce((sum, p) => sum + p.chunkFetchesPerSecond * 300, 0);
    expect(fetches).toBeCloseTo(330, 6);
    const doc = await hub.get<{ openapi: string; paths: Record<string, unknown> }>('/openapi.json');
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/api/v1/pods', '/api/v1/reports']),
    );
  });
});
