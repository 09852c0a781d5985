// The summary and images aggregates, which SQLite computes (grouped runs, covering indexes),
// checked against a plain JavaScript computation from the stored rows on a varied cluster written
// through the hub's own ingestion (HubIngest) into a real SQLite file: several windows, images
// with and without normal pulls (observed and estimated savings), nodes without a measured
// throughput, pods that never became ready, cached pods and pods with two containers of one image.
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

import type { DistT, ImageStatsT, SavingsBasisT, SummaryT } from '../../src/hub/api-schemas.ts';
import { openDatabase } from '../../src/hub/db.ts';
import { HubIngest } from '../../src/hub/ingest.ts';
import { observePod, observePulledEvent } from '../../src/hub/pod-record.ts';
import { HubQueries } from '../../src/hub/queries.ts';
import { BASELINE_SAMPLE } from '../../src/hub/savings.ts';
import type { AgentReport } from '../../src/telemetry/report.ts';
import { makeReport, zeroLatency } from '../support/hub.ts';
import { PulledMessages, podPhases, pulledEvent, type PodPlan } from '../support/kube-fixtures.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const image = (i: number) => `registry.example.com/team/app-${i}:1.${i}`;
const node = (i: number) => `worker-${i}.ocp.example.com`;

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An agent report that its node served `img` (build `digest`, if known) lazily at `at`. */
function reportLazyPull(
  ingest: HubIngest,
  onNode: string,
  img: string,
  at: number,
  digest: string | null = null,
): void {
  ingest.ingestReport(
    makeReport({
      node: onNode,
      windowEnd: new Date(at + 7_000).toISOString(),
      lazyPulls: [{ image: img, digest, layers: [], at: new Date(at).toISOString() }],
    }),
  );
}

/** Image 5 was rebuilt under its tag: pods before REBUILT_AT ran build A, later ones build B. */
const REBUILT = 5;
const REBUILT_AT = NOW - 2 * DAY;
const BUILD_A = `sha256:${'a5'.repeat(32)}`;
const BUILD_B = `sha256:${'b5'.repeat(32)}`;
const buildOf = (img: number, at: number) =>
  img !== REBUILT ? null : at < REBUILT_AT ? BUILD_A : BUILD_B;

const layerReport = (
  n: number,
  sizeBytes: number,
  bytes: AgentReport['images'][0]['layers'][0]['bytes'],
  prefetchUsedBytes: number,
) => ({
  digest: `sha256:${n.toString(16).padStart(64, '0')}`,
  sizeBytes,
  bytes,
  chunkFetches: 3,
  latency: zeroLatency(),
  fetchedBytes: 10_000,
  prefetchUsedBytes,
  hotFiles: [],
});

/** A pod as the informer sees it at one of its phases (default: Ready), and its Pulled events. */
function recordPod(
  ingest: HubIngest,
  plan: PodPlan & { uid: string },
  pulls: { container: string; message: string; at: number }[],
  phase = -1,
): void {
  ingest.upsertPod(observePod(podPhases(plan).at(phase))!);
  for (const pull of pulls) {
    const event = pulledEvent({
      ...pull,
      namespace: plan.namespace,
      podName: plan.name,
      podUid: plan.uid,
      node: plan.node,
    });
    ingest.recordPulled(observePulledEvent(event)!);
  }
}

/**
 * A cluster over the last 10 days: 8 images, 6 nodes. Images 0-3 are also pulled normally (image
 * 0 more than BASELINE_SAMPLE times), 4-7 only lazily; the agents reported sizes for 0-5, layers
 * only for 6, nothing for 7; nodes 0-3 measured their registry throughput, 4-5 did not. Image 5
 * was rebuilt two days ago (REBUILT_AT): a smaller build B, while nodes still report build A.
 */
function writeCluster(db: DatabaseSync): void {
  const rnd = random(7);
  const pick = (n: number) => Math.floor(rnd() * n);
  const ingest = new HubIngest(db, { now: () => NOW });
  for (let n = 0; n < 6; n++) {
    const images = n < 4 ? [0, 1, 2, 3, 4, 5, 6] : [];
    ingest.ingestReport(
      makeReport({
        node: node(n),
        windowEnd: new Date(NOW - (n + 1) * 20 * HOUR).toISOString(),
        registry:
          n < 4 ? { bytes: (n + 1) * 37_000_123, seconds: 1.7 + n / 3 } : { bytes: 0, seconds: 0 },
        images: images.map((i) => ({
          image: image(i),
          digest: i === REBUILT ? BUILD_A : null,
          compressedSizeBytes: i < 6 ? 90_000_000 + i * 7_777_777 : null,
          layers: [0, 1].map((l) =>
            layerReport(
              i * 2 + l + 1,
              40_000_000 + l * 1_234_567,
              { onDemand: 1000 * (n + 1), prefetch: 500 * (i + 1), background: 7 * (l + 1) },
              100 * (n + i),
            ),
          ),
        })),
      }),
    );
  }
  ingest.ingestReport(
    makeReport({
      node: node(0),
      windowEnd: new Date(REBUILT_AT + HOUR).toISOString(),
      images: [
        {
          image: image(REBUILT),
          digest: BUILD_B,
          compressedSizeBytes: 31_000_000,
          layers: [layerReport(100, 31_000_000, { onDemand: 10, prefetch: 20, background: 0 }, 5)],
        },
      ],
    }),
  );
  const usedSeconds = new Set<number>();
  for (let p = 0; p < 1400; p++) {
    // Pod 141 is created exactly at the edge of the one-day window (which includes it).
    let createdS = (NOW - DAY) / 1000;
    while (p !== 141 && (usedSeconds.has(createdS) || createdS === (NOW - DAY) / 1000)) {
      createdS = Math.floor((NOW - pick(10 * DAY)) / 1000);
    }
    usedSeconds.add(createdS);
    const created = createdS * 1000;
    const img = p < 140 ? 0 : pick(8);
    const n = pick(6);
    const kind = p < 140 || (img < 4 && rnd() < 0.5) ? 'normal' : rnd() < 0.85 ? 'lazy' : 'cached';
    const pull = kind === 'normal' ? 5 + rnd() * 80 : 0.3 + rnd() * 2;
    const startedAfter = 3 + Math.ceil(pull) + pick(4);
    const twoOfOne = p % 9 === 0; // a second container of the same image, listed first by name
    const containers = [
      { name: 'zz-app', image: image(img), imageDigest: `sha256:${'ab'.repeat(32)}` },
      ...(twoOfOne
        ? [{ name: 'aa-side', image: image(img), imageDigest: `sha256:${'ab'.repeat(32)}` }]
        : []),
    ];
    const uid = `uid-${p}`;
    const plan = {
      namespace: `ns-${p % 3}`,
      name: `app-${p}-7d9f8b6c5d-x${p.toString(36)}`,
      node: node(n),
      containers,
      createdAt: created,
      scheduledAfter: 1,
      sandboxReadyAfter: 2,
      startedAfter,
      readyAfter: startedAfter + 1 + pick(30),
      uid,
    };
    if (kind === 'lazy') {
      reportLazyPull(ingest, node(n), image(img), created + 3_000, buildOf(img, created));
    }
    // Every 13th pod's Pulled event carries a time after its start (clock skew between the
    // kubelet and the API server): a negative pulled-to-started, which the medians leave out.
    const skew = p % 13 === 0 ? startedAfter + 3 : 0;
    const pulls = containers.map((c, i) => {
      const seconds = pull + i * 7.25; // the second container's pull ends later
      const message =
        kind === 'cached'
          ? PulledMessages.alreadyPresent(c.image)
          : PulledMessages.pulledWithSize(
              c.image,
              `${seconds.toFixed(3)}s`,
              `${seconds.toFixed(3)}s`,
              1,
            );
      return { container: c.name, message, at: created + Math.round((2 + seconds + skew) * 1000) };
    });
    // Every 12th pod never becomes ready: running, not Ready.
    recordPod(ingest, plan, pulls, p % 12 === 5 ? 4 : -1);
  }
}

// --- the reference: the definitions, computed in the plainest way from the stored rows ---------

interface PodRow {
  uid: string;
  image: string | null;
  image_digest: string | null;
  kind: string;
  node: string | null;
  created_at: number;
  ready_at: number | null;
  startup_seconds: number | null;
  pull_seconds: number | null;
}

function dist(values: number[]): DistT | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return {
    count: s.length,
    min: s[0],
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: s[s.length - 1],
  };
}

function reference(db: DatabaseSync) {
  const pods = db.prepare('SELECT * FROM pods').all() as unknown as PodRow[];
  const containers = db
    .prepare(
      'SELECT pod_uid, name, position, image, pulled_at, started_at, pull_seconds FROM containers',
    )
    .all() as unknown as {
    pod_uid: string;
    name: string;
    position: number;
    image: string;
    pulled_at: number | null;
    started_at: number | null;
    pull_seconds: number | null;
  }[];
  // The pull of the pod's image: its first container (in spec order) that ran it.
  const imagePull = (p: PodRow): number | null =>
    containers
      .filter((c) => c.pod_uid === p.uid && c.image === p.image)
      .sort((a, b) => a.position - b.position || (a.name < b.name ? -1 : 1))[0]?.pull_seconds ??
    null;
  const baseline = (img: string): number | null => {
    const latest = pods
      .filter((p) => p.image === img && p.kind === 'normal' && p.startup_seconds !== null)
      .sort((a, b) => b.created_at - a.created_at)
      .slice(0, BASELINE_SAMPLE)
      .map((p) => p.startup_seconds!)
      .sort((a, b) => a - b);
    const n = latest.length;
    if (n === 0) return null;
    return n % 2 === 1 ? latest[(n - 1) / 2] : (latest[n / 2 - 1] + latest[n / 2]) / 2;
  };
  const builds = db.prepare('SELECT * FROM image_builds').all() as unknown as {
    image: string;
    manifest: string;
    compressed_size: number | null;
    first_reported_at: number | null;
    pulled_at: number | null;
  }[];
  const members = db.prepare('SELECT * FROM build_layers').all() as unknown as {
    image: string;
    manifest: string;
    digest: string;
  }[];
  const layerSizes = db
    .prepare('SELECT image, digest, size_bytes FROM layers')
    .all() as unknown as {
    image: string;
    digest: string;
    size_bytes: number;
  }[];
  // The current build: the latest pulled or first reported.
  const current = (img: string): string | undefined =>
    builds
      .filter((b) => b.image === img)
      .map((b) => ({ ...b, seen: Math.max(b.pulled_at ?? 0, b.first_reported_at ?? 0) }))
      .sort((a, b) => b.seen - a.seen || (a.manifest < b.manifest ? 1 : -1))[0]?.manifest;
  const buildSize = (img: string, manifest: string | null | undefined): number | null => {
    const build = builds.find((b) => b.image === img && b.manifest === manifest);
    if (!build) return null;
    if (build.compressed_size !== null) return build.compressed_size;
    const sizes = members
      .filter((m) => m.image === img && m.manifest === manifest)
      .flatMap((m) => layerSizes.filter((l) => l.image === img && l.digest === m.digest));
    return sizes.length ? sizes.reduce((t, l) => t + l.size_bytes, 0) : null;
  };
  // A pod's image size: that of the build it ran, else of the image's current build.
  const size = (img: string, manifest: string | null = null): number | null =>
    buildSize(img, manifest) ?? buildSize(img, current(img));
  const rate = (n: string | null): number | null => {
    const row = db
      .prepare('SELECT registry_bytes AS b, registry_seconds AS s FROM nodes WHERE node = ?')
      .get(n) as { b: number; s: number } | undefined;
    return row && row.s > 0 && row.b > 0 ? row.b / row.s : null;
  };
  const saved = (p: PodRow): { seconds: number; basis: SavingsBasisT } | null => {
    if (p.startup_seconds === null || p.image === null) return null;
    const b = baseline(p.image);
    if (b !== null) return { seconds: b - p.startup_seconds, basis: 'observed-median' };
    const z = size(p.image, p.image_digest);
    const r = rate(p.node);
    if (z === null || r === null) return null;
    const estimate = p.startup_seconds - (imagePull(p) ?? 0) + z / r;
    return { seconds: estimate - p.startup_seconds, basis: 'estimated-throughput' };
  };
  const startups = (list: PodRow[]) =>
    dist(list.map((p) => p.startup_seconds).filter((s): s is number => s !== null));

  const summary = (since: number): Omit<SummaryT, 'since' | 'nodes' | 'bytes' | 'lazyPulls'> => {
    const inWindow = pods.filter((p) => p.created_at >= since);
    const lazy = inWindow.filter((p) => p.kind === 'lazy');
    const savings = lazy
      .map(saved)
      .filter((s) => s !== null)
      .map((s) => s.seconds);
    return {
      pods: {
        total: inWindow.length,
        lazy: lazy.length,
        normal: inWindow.filter((p) => p.kind === 'normal').length,
      },
      startupSeconds: {
        lazy: startups(lazy),
        normal: startups(inWindow.filter((p) => p.kind === 'normal')),
      },
      savedSecondsTotal: savings.reduce((t, s) => t + s, 0),
      savedSecondsMedian: dist(savings)?.p50 ?? null,
    };
  };

  const images = (since: number): ImageStatsT[] => {
    const inWindow = pods.filter((p) => p.created_at >= since && p.image !== null);
    const usage = db
      .prepare('SELECT image, on_demand, prefetch, background FROM usage WHERE t >= ?')
      .all(since) as { image: string; on_demand: number; prefetch: number; background: number }[];
    const names = [...new Set([...inWindow.map((p) => p.image!), ...usage.map((u) => u.image)])];
    return names
      .map((img): ImageStatsT => {
        const mine = inWindow.filter((p) => p.image === img);
        const lazy = mine.filter((p) => p.kind === 'lazy');
        const normal = mine.filter((p) => p.kind === 'normal');
        // The container that ran the pod's image: the first in the spec with that image.
        const ran = (p: PodRow) =>
          containers
            .filter((c) => c.pod_uid === p.uid && c.image === p.image)
            .sort((a, b) => a.position - b.position)[0];
        const medianOf = (f: (p: PodRow) => number | null) =>
          dist(lazy.map(f).filter((v): v is number => v !== null && v >= 0))?.p50 ?? null;
        const savings = lazy.map(saved).filter((s) => s !== null);
        const u = usage.filter((x) => x.image === img);
        const layers = db
          .prepare('SELECT prefetch, prefetch_used FROM layers WHERE image = ?')
          .all(img) as { prefetch: number; prefetch_used: number }[];
        const fetched = layers.reduce((t, l) => t + l.prefetch, 0);
        const used = layers.reduce((t, l) => t + l.prefetch_used, 0);
        return {
          image: img,
          pods: { lazy: lazy.length, normal: normal.length },
          startupSeconds: { lazy: startups(lazy), normal: startups(normal) },
          timeline: {
            createdToPulled: medianOf((p) => {
              const c = ran(p);
              return c?.pulled_at == null ? null : (c.pulled_at - p.created_at) / 1000;
            }),
            pulledToStarted: medianOf((p) => {
              const c = ran(p);
              return c?.pulled_at == null || c.started_at == null
                ? null
                : (c.started_at - c.pulled_at) / 1000;
            }),
            startedToReady: medianOf((p) => {
              const c = ran(p);
              return c?.started_at == null || p.ready_at === null
                ? null
                : (p.ready_at - c.started_at) / 1000;
            }),
          },
          bytes: {
            onDemand: u.reduce((t, x) => t + x.on_demand, 0),
            prefetch: u.reduce((t, x) => t + x.prefetch, 0),
            background: u.reduce((t, x) => t + x.background, 0),
            total: size(img),
          },
          prefetchHitRatio: layers.length && fetched ? Math.min(1, used / fetched) : null,
          savings: {
            medianSeconds: dist(savings.map((s) => s.seconds))?.p50 ?? null,
            basis: savings.some((s) => s.basis === 'observed-median')
              ? 'observed-median'
              : savings.length
                ? 'estimated-throughput'
                : 'none',
          },
        };
      })
      .sort(
        (a, b) =>
          b.pods.lazy + b.pods.normal - (a.pods.lazy + a.pods.normal) ||
          a.image.localeCompare(b.image),
      );
  };
  return { summary, images };
}

// --------------------------------------------------------------------------------------------------

let dir: string;
let db: DatabaseSync;
let queries: HubQueries;
let expected: ReturnType<typeof reference>;

beforeAll(async () => {
  dir = await makeTempDir('hub-aggregates');
  db = openDatabase(join(dir, 'hub.db'));
  writeCluster(db);
  queries = new HubQueries(db, { now: () => NOW });
  expected = reference(db);
});

afterAll(async () => {
  db.close();
  await removeDir(dir);
});

const windows: [string, number][] = [
  ['the last hour', NOW - HOUR],
  ['the last day', NOW - DAY],
  ['the last 3 days', NOW - 3 * DAY],
  ['all of it', NOW - 11 * DAY],
];

it('has a data set that exercises every branch', () => {
  const all = expected.images(NOW - 11 * DAY);
  const basis = (i: number) => all.find((s) => s.image === image(i))?.savings.basis;
  expect([0, 4, 6, 7].map(basis)).toEqual([
    'observed-median',
    'estimated-throughput', // from the agents' image size
    'estimated-throughput', // from the sum of its layers
    'none', // no size known
  ]);
  const kinds = db.prepare('SELECT kind, count(*) AS n FROM pods GROUP BY kind').all() as {
    kind: string;
    n: number;
  }[];
  expect(kinds.map((k) => k.kind).sort()).toEqual(['cached', 'lazy', 'normal']);
  const unready = db.prepare('SELECT count(*) AS n FROM pods WHERE ready_at IS NULL').get() as {
    n: number;
  };
  expect(unready.n).toBeGreaterThan(50);
  const edge = db.prepare('SELECT count(*) AS n FROM pods WHERE created_at = ?').get(NOW - DAY);
  expect(edge).toEqual({ n: 1 });
  const skewed = db
    .prepare('SELECT count(*) AS n FROM pods WHERE image_started_at < image_pulled_at')
    .get() as { n: number };
  expect(skewed.n).toBeGreaterThan(10);
  // Lazy pods of an estimated image on nodes without a measured throughput have no basis.
  const lazyNoBasis = db
    .prepare(
      `SELECT count(*) AS n FROM pods WHERE kind = 'lazy' AND image = ? AND node IN (?, ?)
       AND startup_seconds IS NOT NULL`,
    )
    .get(image(4), node(4), node(5)) as { n: number };
  expect(lazyNoBasis.n).toBeGreaterThan(0);
  // The rebuilt image's lazy pods ran both builds, of different sizes; the image shows build B.
  const ranBuilds = db
    .prepare(
      `SELECT image_digest AS build, count(*) AS n FROM pods WHERE kind = 'lazy' AND image = ?
       GROUP BY image_digest ORDER BY image_digest`,
    )
    .all(image(REBUILT));
  expect(ranBuilds).toEqual([
    { build: BUILD_A, n: expect.any(Number) },
    { build: BUILD_B, n: expect.any(Number) },
  ]);
  expect(all.find((s) => s.image === image(REBUILT))?.bytes.total).toBe(31_000_000);
});

describe.each(windows)('over %s', (_label, since) => {
  const sinceIso = new Date(since).toISOString();

  it('images: distributions, timeline medians, bytes and savings as computed from the rows', () => {
    expect(queries.images(sinceIso).items).toEqual(expected.images(since));
  });

  it('summary: counts, startup distributions and savings as computed from the rows', () => {
    const { savedSecondsTotal, ...rest } = expected.summary(since);
    const actual = queries.summary(sinceIso);
    expect(actual).toMatchObject(rest);
    // Summed in another order (run by run): equal up to rounding.
    expect(actual.savedSecondsTotal).toBeCloseTo(savedSecondsTotal, 6);
  });
});

it('times a pod by the first container in its spec that ran its image, not the first by name', () => {
  const other = openDatabase(join(dir, 'two-containers.db'));
  const ingest = new HubIngest(other, { now: () => NOW });
  const created = NOW - HOUR;
  const img = image(1);
  reportLazyPull(ingest, node(0), img, created + 3_000);
  const plan = {
    namespace: 'demo',
    name: 'demo-app-7d9f8b6c5d-q2x8z',
    node: node(0),
    containers: [
      { name: 'zz-app', image: img, imageDigest: `sha256:${'ab'.repeat(32)}` },
      { name: 'aa-side', image: img, imageDigest: `sha256:${'ab'.repeat(32)}` },
    ],
    createdAt: created,
    scheduledAfter: 1,
    sandboxReadyAfter: 2,
    startedAfter: 20,
    readyAfter: 25,
    uid: 'uid-two-containers',
  };
  const message = PulledMessages.pulledPlain(img, '1.5s');
  recordPod(ingest, plan, [
    { container: 'zz-app', message, at: created + 6_000 },
    { container: 'aa-side', message, at: created + 14_000 },
  ]);
  const [stats] = new HubQueries(other, { now: () => NOW }).images().items;
  other.close();
  expect(stats?.pods).toEqual({ lazy: 1, normal: 0 });
  expect(stats?.timeline).toEqual({ createdToPulled: 6, pulledToStarted: 14, startedToReady: 5 });
});
