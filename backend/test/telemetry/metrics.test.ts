// The agent's Prometheus metrics and the report collector, read back through the real exposition
// format and the AgentReport schema.
import { TelemetryCollector, type Clock } from '../../src/telemetry/collector.ts';
import { parseListenAddress, startMetricsServer } from '../../src/telemetry/metrics-server.ts';
import { AgentMetrics } from '../../src/telemetry/metrics.ts';
import {
  AgentReportSchema,
  LATENCY_BUCKETS_SECONDS,
  bucketIndex,
  histogramQuantile,
} from '../../src/telemetry/report.ts';

const LAYER = `sha256:${'ab'.repeat(32)}`;

function manualClock(
  start = Date.parse('2026-11-22T08:00:00Z'),
): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => (now += ms) };
}

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('AgentMetrics', () => {
  it('exposes every slipstream_* metric with units and _total counters', async () => {
    const metrics = new AgentMetrics();
    metrics.onDemandFetch(4096, 0.02);
    metrics.onDemandFetch(8192, 0.2);
    metrics.prefetch(1 << 20, 1.5);
    metrics.backgroundFetch(2 << 20);
    metrics.layerProgress(LAYER, 3 << 20, 10 << 20);
    metrics.layerMountToLastOnDemand(LAYER, 4.5);
    metrics.cacheHit(3);
    metrics.cacheMiss();
    metrics.verificationFailure('chunk');
    metrics.lookupServedLazily();
    metrics.lookupFellBack('timeout');
    metrics.lookupFellBack('something odd happened');
    metrics.fuseOp('lookup', 0.00004);
    metrics.fuseOp('setxattr', 0.00004);
    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain/);
    expect(sample(body, 'slipstream_ondemand_chunk_fetches_total')).toBe(2);
    expect(sample(body, 'slipstream_ondemand_fetched_bytes_total')).toBe(12288);
    expect(sample(body, 'slipstream_ondemand_chunk_fetch_duration_seconds_count')).toBe(2);
    expect(sample(body, 'slipstream_prefetch_fetched_bytes_total')).toBe(1 << 20);
    expect(sample(body, 'slipstream_background_fetched_bytes_total')).toBe(2 << 20);
    expect(sample(body, 'slipstream_cache_hits_total')).toBe(3);
    expect(sample(body, 'slipstream_cache_misses_total')).toBe(1);
    expect(body).toContain(`slipstream_layer_fetched_bytes{layer="${LAYER}"} ${3 << 20}`);
    expect(body).toContain(`slipstream_layer_size_bytes{layer="${LAYER}"} ${10 << 20}`);
    expect(body).toContain(
      `slipstream_layer_mount_to_last_ondemand_fetch_seconds{layer="${LAYER}"} 4.5`,
    );
    expect(body).toContain('slipstream_verification_failures_total{kind="chunk"} 1');
    expect(body).toContain('slipstream_lookups_total{result="lazy",reason="none"} 1');
    expect(body).toContain('slipstream_lookups_total{result="fallback",reason="timeout"} 1');
    // unknown reasons and ops fold into "other": label sets stay bounded
    expect(body).toContain('slipstream_lookups_total{result="fallback",reason="other"} 1');
    expect(body).toContain('slipstream_fuse_operation_duration_seconds_count{op="other"} 1');
    for (const line of body.split('\n').filter((l) => l.startsWith('# TYPE slipstream_'))) {
      const [, , name, type] = line.split(' ');
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).toMatch(/_(bytes|seconds)$/);
    }
    metrics.layerRemoved(LAYER);
    expect((await metrics.render()).body).not.toContain(LAYER);
  });

  it('serves /metrics, /healthz and /readyz over HTTP', async () => {
    const metrics = new AgentMetrics();
    metrics.cacheHit();
    let ready = false;
    const server = await startMetricsServer('127.0.0.1:0', metrics, () => ready);
    try {
      const base = `http://127.0.0.1:${server.address.port}`;
      expect(await (await fetch(`${base}/metrics`)).text()).toContain(
        'slipstream_cache_hits_total 1',
      );
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

// A node of an IPv6 single-stack cluster probes the pod's IPv6 address: `:port` must take both
// families (the chart renders it), where `0.0.0.0:port` would take IPv4 only.
it('listens on IPv4 and IPv6 alike for an address without a host', async () => {
  const server = await startMetricsServer(':0', new AgentMetrics(), () => true);
  try {
    const { port } = server.address;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://[::1]:${port}/healthz`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

it('refuses a listen address that is not host:port', () => {
  expect(() => parseListenAddress('9464')).toThrow(/want host:port/);
  expect(() => parseListenAddress(':70000')).toThrow(/want host:port/);
  expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
  expect(parseListenAddress(':9464')).toEqual({ host: '', port: 9464 });
});

describe('latency histograms in reports', () => {
  it('buckets and estimates quantiles like histogram_quantile', () => {
    expect(bucketIndex(0.0005)).toBe(0);
    expect(bucketIndex(0.02)).toBe(LATENCY_BUCKETS_SECONDS.indexOf(0.025));
    expect(bucketIndex(60)).toBe(LATENCY_BUCKETS_SECONDS.length);
    const counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
    counts[bucketIndex(0.02)] = 100; // all in (0.01, 0.025]
    expect(histogramQuantile(0.5, counts)).toBeCloseTo(0.0175, 6);
    expect(
      histogramQuantile(
        0.5,
        counts.map(() => 0),
      ),
    ).toBeNull();
  });
});

describe('TelemetryCollector', () => {
  it('turns agent events into a valid report of deltas, then starts a new window', () => {
    const clock = manualClock();
    const collector = new TelemetryCollector({
      node: 'worker-1',
      agentVersion: '0.1.0',
      metrics: new AgentMetrics(),
      clock,
    });
    const notable: number[] = [];
    collector.onNotable(() => notable.push(clock.now()));
    collector.setMountState('mounted');
    collector.setCacheUsage(5 << 20, 20 << 30);
    collector.layerMounted({
      image: 'quay.io/x/app:1',
      imageDigest: `sha256:${'cd'.repeat(32)}`,
      imageCompressedSize: 12 << 20,
      layer: LAYER,
      sizeBytes: 12 << 20,
    });
    collector.lazyPull('quay.io/x/app:1', `sha256:${'cd'.repeat(32)}`, [LAYER]);
    clock.advance(1_000);
    collector.onDemandFetch(LAYER, 65536, 0.03);
    collector.onDemandFetch(LAYER, 65536, 0.004);
    collector.prefetch(LAYER, 1 << 20, 0.8);
    collector.prefetchUsed(LAYER, 300_000);
    collector.layerProgress(LAYER, (1 << 20) + 131072);
    collector.registryTransfer((1 << 20) + 131072, 0.9);
    collector.fileRead(LAYER, '/usr/bin/app', 4000);
    collector.fileRead(LAYER, '/usr/lib/libssl.so', 9000);
    collector.fileRead(LAYER, '/usr/bin/app', 7000);
    collector.fallback('quay.io/x/plain:2', 'not-lazy-format');
    clock.advance(9_000);
    const report = collector.drain();
    expect(AgentReportSchema.safeParse(report).success).toBe(true);
    expect(notable).toHaveLength(3); // mount state change, lazy pull, fallback
    expect(report).toMatchObject({
      node: 'worker-1',
      windowStart: '2026-11-22T08:00:00.000Z',
      windowEnd: '2026-11-22T08:00:10.000Z',
      mount: { state: 'mounted', error: null },
      layersServed: 1,
      // the 1 MiB prefetch and the explicit transfer; 64 KiB chunk fetches measure latency, not throughput
      registry: { bytes: (1 << 20) + (1 << 20) + 131072, seconds: expect.closeTo(1.7, 9) },
      lazyPulls: [{ image: 'quay.io/x/app:1', layers: [LAYER], at: '2026-11-22T08:00:00.000Z' }],
      fallbacks: [{ image: 'quay.io/x/plain:2', reason: 'not-lazy-format' }],
    });
    const layer = report.images[0].layers[0];
    expect(layer).toMatchObject({
      bytes: { onDemand: 131072, prefetch: 1 << 20, background: 0 },
      chunkFetches: 2,
      fetchedBytes: (1 << 20) + 131072,
      prefetchUsedBytes: 300_000,
      hotFiles: [
        { path: '/usr/bin/app', bytes: 11000 },
        { path: '/usr/lib/libssl.so', bytes: 9000 },
      ],
    });
    expect(layer.latency.reduce((s, c) => s + c, 0)).toBe(2);
    // the next window starts empty: no layer was touched, nothing to repeat
    const next = collector.drain();
    expect(next.images).toEqual([]);
    expect(next.lazyPulls).toEqual([]);
    expect(next.windowStart).toBe(report.windowEnd);
  });

  it('counts files as hot only inside the hot window', () => {
    const clock = manualClock();
    const collector = new TelemetryCollector({
      node: 'n',
      agentVersion: '0.1.0',
      metrics: new AgentMetrics(),
      clock,
      hotWindowSeconds: 30,
    });
    collector.layerMounted({
      image: 'a:1',
      imageDigest: null,
      imageCompressedSize: null,
      layer: LAYER,
      sizeBytes: 100,
    });
    collector.fileRead(LAYER, '/early', 10);
    clock.advance(31_000);
    collector.fileRead(LAYER, '/late', 10);
    expect(collector.drain().images[0].layers[0].hotFiles).toEqual([{ path: '/early', bytes: 10 }]);
  });
});
