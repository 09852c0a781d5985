// The Reporter against a real hub (HTTPS, real SQLite file, the stand-in Kubernetes API server for
// TokenReview — the only stand-in, because no Kubernetes API can run here). The agent side runs
// on a simulated clock, so an hour of 10-second windows passes in moments.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import type { LayerStatsT, NodeStatusT } from '../../src/hub/api-schemas.ts';
import { TelemetryCollector, type Clock } from '../../src/telemetry/collector.ts';
import { AgentMetrics } from '../../src/telemetry/metrics.ts';
import { Reporter } from '../../src/telemetry/reporter.ts';
import { startTestHub, type TestHub } from '../support/hub.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const NODE = 'worker-7.ocp.example.com';
const IMAGE = 'quay.io/slipstream/outage-test:1';
const LAYER = `sha256:${'e7'.repeat(32)}`;

// Real hub restarts and many spool writes: give a busy machine time (no timing is asserted).
jest.setTimeout(120_000);

let hub: TestHub;
let dir: string;

beforeAll(async () => {
  hub = await startTestHub();
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

beforeEach(async () => {
  dir = await makeTempDir('reporter');
});

afterEach(async () => {
  await removeDir(dir);
});

function simulatedClock(): Clock & { advance(ms: number): void } {
  let now = Date.parse('2026-11-22T06:00:00Z');
  return { now: () => now, advance: (ms) => (now += ms) };
}

async function agentSide(node: string, spoolMaxBytes?: number) {
  const clock = simulatedClock();
  const metrics = new AgentMetrics();
  const collector = new TelemetryCollector({ node, agentVersion: '0.1.0', metrics, clock });
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${hub.tokens.agent(node)}\n`);
  const reporter = new Reporter({
    collector,
    hubUrl: hub.url,
    tokenFile,
    caFile: hub.caFile,
    spoolDir: join(dir, 'spool'),
    ...(spoolMaxBytes ? { spoolMaxBytes } : {}),
  });
  collector.setMountState('mounted');
  collector.layerMounted({
    image: IMAGE,
    imageDigest: null,
    imageCompressedSize: 64 << 20,
    layer: LAYER,
    sizeBytes: 64 << 20,
  });
  return { clock, metrics, collector, reporter };
}

const layerStats = async () =>
  (await hub.get<{ items: LayerStatsT[] }>(`/api/v1/images/layers?image=${IMAGE}`)).body.items[0];

const reportsFrom = (node: string) =>
  (
    hub.hub.db.prepare('SELECT count(*) AS n FROM reports WHERE node = ?').get(node) as {
      n: number;
    }
  ).n;

it('keeps every report through an hour-long hub outage and delivers them, oldest first, when it returns', async () => {
  const { clock, collector, reporter, metrics } = await agentSide(NODE);
  collector.onDemandFetch(LAYER, 1000, 0.01);
  expect(await reporter.flush()).toEqual({ sent: 1, dropped: 0, pending: 0 });

  await hub.down();
  const windows = 360; // one hour of 10 s windows
  for (let i = 0; i < windows; i++) {
    clock.advance(10_000);
    collector.onDemandFetch(LAYER, 1000, 0.01);
    if (i === 100) collector.lazyPull(IMAGE, null, [LAYER]);
    const result = await reporter.flush();
    expect(result.sent).toBe(0);
    expect(result.pending).toBe(i + 1);
  }
  await hub.up();

  clock.advance(10_000);
  const delivered = await reporter.flush();
  expect(delivered).toEqual({ sent: windows + 1, dropped: 0, pending: 0 });
  expect(reportsFrom(NODE)).toBe(windows + 2);
  const stats = await layerStats();
  expect(stats?.chunkFetches).toBe(windows + 1);
  expect(stats?.bytes.onDemand).toBe((windows + 1) * 1000);
  const lazyPulls = hub.hub.db.prepare('SELECT at FROM lazy_pulls WHERE node = ?').all(NODE) as {
    at: number;
  }[];
  expect(lazyPulls.map((p) => new Date(p.at).toISOString())).toEqual(['2026-11-22T06:16:50.000Z']);
  // gauges come from the newest window, even though older windows arrived in the same burst
  const node = (await hub.get<{ items: NodeStatusT[] }>('/api/v1/nodes')).body.items.find(
    (n) => n.node === NODE,
  );
  expect(node).toMatchObject({ mountState: 'mounted', layersServed: 1 });
  expect((await metrics.render()).body).toContain(
    `slipstream_hub_reports_sent_total ${windows + 2}`,
  );
  await reporter.stop();
}, 120_000);

it('loses nothing across a hub restart, and a resent report is stored once', async () => {
  const node = 'worker-8.ocp.example.com';
  const { clock, collector, reporter } = await agentSide(node);
  for (let i = 0; i < 5; i++) {
    clock.advance(10_000);
    collector.onDemandFetch(LAYER, 500, 0.01);
    await reporter.flush();
  }
  await hub.restart();
  for (let i = 0; i < 5; i++) {
    clock.advance(10_000);
    collector.onDemandFetch(LAYER, 500, 0.01);
    await reporter.flush();
  }
  expect(reportsFrom(node)).toBe(10);
  // An agent that never saw the answer resends: the hub answers 200 and stores nothing twice.
  const row = hub.hub.db.prepare('SELECT id FROM reports WHERE node = ? LIMIT 1').get(node) as {
    id: string;
  };
  const again = await hub.postReport({
    schemaVersion: 1,
    reportId: row.id.slice(`${node}/`.length), // stored per node: `<node>/<reportId>`
    node,
    agentVersion: '0.1.0',
    windowStart: '2026-11-22T06:00:00Z',
    windowEnd: '2026-11-22T06:00:10Z',
    mount: { state: 'mounted', error: null },
    cache: { usedBytes: 0, capBytes: 0 },
    layersServed: 1,
    registry: { bytes: 0, seconds: 0 },
    images: [
      {
        image: IMAGE,
        digest: null,
        compressedSizeBytes: null,
        layers: [
          {
            digest: LAYER,
            sizeBytes: 1,
            bytes: { onDemand: 999999, prefetch: 0, background: 0 },
            chunkFetches: 1,
            latency: new Array<number>(14).fill(0),
            fetchedBytes: 0,
            prefetchUsedBytes: 0,
            hotFiles: [],
          },
        ],
      },
    ],
    lazyPulls: [],
    fallbacks: [],
  });
  expect(again).toEqual({ status: 200, body: { accepted: true, duplicate: true } });
  expect(reportsFrom(node)).toBe(10);
  await reporter.stop();
});

it('bounds the on-disk spool by dropping the oldest reports, and counts them', async () => {
  const node = 'worker-9.ocp.example.com';
  const { clock, collector, reporter, metrics } = await agentSide(node, 4096);
  await hub.down();
  try {
    for (let i = 0; i < 40; i++) {
      clock.advance(10_000);
      collector.onDemandFetch(LAYER, 100, 0.01);
      await reporter.flush();
    }
  } finally {
    await hub.up();
  }
  clock.advance(10_000);
  const delivered = await reporter.flush();
  expect(delivered.pending).toBe(0);
  const body = (await metrics.render()).body;
  const dropped = Number(/slipstream_hub_reports_dropped_total (\d+)/.exec(body)?.[1]);
  expect(dropped).toBeGreaterThan(0);
  expect(delivered.sent + dropped).toBe(41);
  // what survived is the newest windows
  const ends = hub.hub.db
    .prepare('SELECT last_window_end AS e FROM nodes WHERE node = ?')
    .get(node) as { e: number };
  expect(ends.e).toBe(clock.now());
  await reporter.stop();
});

it('drops a report the hub refuses as too large instead of holding every later one behind it', async () => {
  // A hub front that refuses the first report with 413 and takes the others (what a proxy with a
  // smaller body limit, or the hub's own 16 MiB limit, answers).
  const seen: number[] = [];
  const front = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = seen.length === 0 ? 413 : 200;
      seen.push(status);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{"accepted":true,"duplicate":false}' : '{"error":"too large"}');
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const { port } = front.address() as AddressInfo;
  const clock = simulatedClock();
  const metrics = new AgentMetrics();
  const collector = new TelemetryCollector({ node: NODE, agentVersion: '0.1.0', metrics, clock });
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'agent-token\n');
  const reporter = new Reporter({
    collector,
    hubUrl: `http://127.0.0.1:${port}`,
    tokenFile,
    spoolDir: join(dir, 'spool'),
  });
  try {
    collector.onDemandFetch(LAYER, 1000, 0.01);
    expect(await reporter.flush()).toEqual({ sent: 0, dropped: 1, pending: 0 });
    clock.advance(10_000);
    collector.onDemandFetch(LAYER, 1000, 0.01);
    expect(await reporter.flush()).toEqual({ sent: 1, dropped: 0, pending: 0 });
    expect(seen).toEqual([413, 200]);
    expect((await metrics.render()).body).toContain('slipstream_hub_reports_dropped_total 1');
  } finally {
    await reporter.stop();
    await new Promise<void>((resolve) => front.close(() => resolve()));
  }
});
