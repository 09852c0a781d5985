// Reads behind the REST API. Timestamps are stored as epoch milliseconds and leave as ISO strings.
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

import type { Clock } from '../telemetry/collector.ts';
import { LATENCY_BUCKET_COUNT, histogramQuantile } from '../telemetry/report.ts';
import type {
  DistT,
  ImageStatsT,
  LayerStatsT,
  NodeStatusT,
  PodStartupT,
  PodsPageT,
  PodsQueryT,
  SummaryT,
  TimeseriesQueryT,
  TimeseriesT,
} from './api-schemas.ts';
import { normalizeImage } from './images.ts';
import { BaselineCache, SavingsModel, type SavingsInput } from './savings.ts';

/** A node whose last report is older than this is unhealthy. */
export const NODE_STALE_MS = 60_000;
/** ... and older than this, its mount state is unknown. */
export const NODE_UNKNOWN_MS = 300_000;
const DEFAULT_WINDOW_MS = 86_400_000;

export class QueryError extends Error {
  override readonly name = 'QueryError';
}

export function distribution(values: number[]): DistT | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return {
    count: sorted.length,
    min: sorted[0],
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1],
  };
}

export function median(values: number[]): number | null {
  return distribution(values)?.p50 ?? null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

interface PodRow {
  uid: string;
  namespace: string;
  name: string;
  node: string | null;
  image: string | null;
  created_at: number;
  scheduled_at: number | null;
  ready_to_start_at: number | null;
  first_started_at: number | null;
  ready_at: number | null;
  startup_seconds: number | null;
  pull_seconds: number | null;
  kind: string;
}

interface ContainerRow {
  pod_uid: string;
  name: string;
  image: string;
  image_digest: string | null;
  lazy: number;
  pull_seconds: number | null;
  already_present: number;
  started_at: number | null;
  ready_at: number | null;
}

export class HubQueries {
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  private readonly baselines = new BaselineCache();

  constructor(db: DatabaseSync, clock: Clock) {
    this.db = db;
    this.clock = clock;
  }

  private all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  private one<T>(sql: string, ...params: SQLInputValue[]): T {
    return this.db.prepare(sql).get(...params) as T;
  }

  private sinceMs(since: string | undefined): number {
    return since ? Date.parse(since) : this.clock.now() - DEFAULT_WINDOW_MS;
  }

  summary(sinceIso?: string): SummaryT {
    const since = this.sinceMs(sinceIso);
    const counts = this.all<{ kind: string; n: number }>(
      'SELECT kind, count(*) AS n FROM pods WHERE created_at >= ? GROUP BY kind',
      since,
    );
    const count = (kind: string) => counts.find((c) => c.kind === kind)?.n ?? 0;
    const startups = (kind: string) =>
      this.all<{ s: number }>(
        'SELECT startup_seconds AS s FROM pods WHERE kind = ? AND created_at >= ? AND startup_seconds IS NOT NULL',
        kind,
        since,
      ).map((r) => r.s);
    const savingsModel = new SavingsModel(this.db, this.baselines);
    const saved = this.all<SavingsInput>(
      `SELECT image, node, startup_seconds AS startupSeconds, pull_seconds AS pullSeconds
       FROM pods WHERE kind = 'lazy' AND created_at >= ? AND startup_seconds IS NOT NULL`,
      since,
    )
      .map((p) => savingsModel.savingsFor(p).seconds)
      .filter((s): s is number => s !== null);
    const bytes = this.one<{ d: number | null; p: number | null; b: number | null }>(
      'SELECT sum(on_demand) AS d, sum(prefetch) AS p, sum(background) AS b FROM usage WHERE t >= ?',
      since,
    );
    const nodes = this.nodes();
    return {
      since: new Date(since).toISOString(),
      pods: {
        total: counts.reduce((s, c) => s + c.n, 0),
        lazy: count('lazy'),
        normal: count('normal'),
      },
      startupSeconds: {
        lazy: distribution(startups('lazy')),
        normal: distribution(startups('normal')),
      },
      savedSecondsTotal: saved.reduce((s, v) => s + v, 0),
      savedSecondsMedian: median(saved),
      nodes: { total: nodes.length, healthy: nodes.filter((n) => n.healthy).length },
      bytes: { onDemand: bytes.d ?? 0, prefetch: bytes.p ?? 0, background: bytes.b ?? 0 },
      lazyPulls: this.one<{ n: number }>(
        'SELECT count(*) AS n FROM lazy_pulls WHERE at >= ?',
        since,
      ).n,
    };
  }

  pods(query: PodsQueryT): PodsPageT {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (query.namespace) {
      where.push('namespace = ?');
      params.push(query.namespace);
    }
    if (query.node) {
      where.push('node = ?');
      params.push(query.node);
    }
    if (query.since) {
      where.push('created_at >= ?');
      params.push(Date.parse(query.since));
    }
    if (query.until) {
      where.push('created_at < ?');
      params.push(Date.parse(query.until));
    }
    if (query.lazy !== undefined) where.push(query.lazy ? "kind = 'lazy'" : "kind <> 'lazy'");
    if (query.image) {
      where.push('uid IN (SELECT pod_uid FROM containers WHERE image = ?)');
      params.push(normalizeImage(query.image));
    }
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.one<{ n: number }>(`SELECT count(*) AS n FROM pods ${filter}`, ...params).n;
    const page = [...where];
    const pageParams = [...params];
    if (query.cursor) {
      const cursor = decodeCursor(query.cursor);
      page.push('(created_at < ? OR (created_at = ? AND uid < ?))');
      pageParams.push(cursor.createdAt, cursor.createdAt, cursor.uid);
    }
    const rows = this.all<PodRow>(
      `SELECT * FROM pods ${page.length ? `WHERE ${page.join(' AND ')}` : ''}
       ORDER BY created_at DESC, uid DESC LIMIT ?`,
      ...pageParams,
      query.limit + 1,
    );
    const more = rows.length > query.limit;
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: this.podStartups(items),
      nextCursor: more && last ? encodeCursor(last.created_at, last.uid) : null,
      total,
    };
  }

  private podStartups(rows: PodRow[]): PodStartupT[] {
    if (rows.length === 0) return [];
    const containers = this.all<ContainerRow>(
      `SELECT * FROM containers WHERE pod_uid IN (${rows.map(() => '?').join(',')}) ORDER BY position`,
      ...rows.map((r) => r.uid),
    );
    const savingsModel = new SavingsModel(this.db, this.baselines);
    return rows.map((p) => ({
      uid: p.uid,
      namespace: p.namespace,
      name: p.name,
      node: p.node,
      createdAt: new Date(p.created_at).toISOString(),
      scheduledAt: iso(p.scheduled_at),
      readyToStartAt: iso(p.ready_to_start_at),
      firstStartedAt: iso(p.first_started_at),
      readyAt: iso(p.ready_at),
      startupSeconds: p.startup_seconds,
      pullSeconds: p.pull_seconds,
      lazy: p.kind === 'lazy',
      containers: containers
        .filter((c) => c.pod_uid === p.uid)
        .map((c) => ({
          name: c.name,
          image: c.image,
          imageDigest: c.image_digest,
          lazy: c.lazy === 1,
          pullSeconds: c.pull_seconds,
          alreadyPresent: c.already_present === 1,
          startedAt: iso(c.started_at),
          readyAt: iso(c.ready_at),
        })),
      savings:
        p.kind === 'lazy'
          ? savingsModel.savingsFor({
              image: p.image,
              node: p.node,
              startupSeconds: p.startup_seconds,
              pullSeconds: p.pull_seconds,
            })
          : { seconds: null, baselineSeconds: null, basis: 'none' as const },
    }));
  }

  images(sinceIso?: string): { items: ImageStatsT[] } {
    const since = this.sinceMs(sinceIso);
    const rows = this.all<{
      uid: string;
      image: string;
      kind: string;
      node: string | null;
      startup: number | null;
      pull: number | null;
      created: number;
      ready: number | null;
      pulled: number | null;
      started: number | null;
    }>(
      `SELECT p.uid, p.image, p.kind, p.node, p.startup_seconds AS startup, p.pull_seconds AS pull,
         p.created_at AS created, p.ready_at AS ready, c.pulled_at AS pulled, c.started_at AS started
       FROM pods p LEFT JOIN containers c ON c.pod_uid = p.uid AND c.image = p.image
       WHERE p.created_at >= ? AND p.image IS NOT NULL`,
      since,
    );
    const byImage = new Map<string, typeof rows>();
    const seen = new Set<string>();
    for (const row of rows) {
      if (seen.has(row.uid)) continue; // two containers of one pod with the same image
      seen.add(row.uid);
      const list = byImage.get(row.image) ?? [];
      list.push(row);
      byImage.set(row.image, list);
    }
    const usage = this.all<{ image: string; d: number; p: number; b: number }>(
      `SELECT image, sum(on_demand) AS d, sum(prefetch) AS p, sum(background) AS b FROM usage
       WHERE t >= ? GROUP BY image`,
      since,
    );
    for (const u of usage) if (!byImage.has(u.image)) byImage.set(u.image, []);
    const savingsModel = new SavingsModel(this.db, this.baselines);
    const items = [...byImage.entries()].map(([image, pods]): ImageStatsT => {
      const lazy = pods.filter((p) => p.kind === 'lazy');
      const normal = pods.filter((p) => p.kind === 'normal');
      const startups = (list: typeof pods) =>
        list.map((p) => p.startup).filter((s): s is number => s !== null);
      const medianOf = (f: (p: (typeof pods)[number]) => number | null) =>
        median(lazy.map(f).filter((v): v is number => v !== null && v >= 0));
      const savings = lazy
        .filter((p) => p.startup !== null)
        .map((p) =>
          savingsModel.savingsFor({
            image,
            node: p.node,
            startupSeconds: p.startup,
            pullSeconds: p.pull,
          }),
        );
      const saved = savings.map((s) => s.seconds).filter((s): s is number => s !== null);
      const u = usage.find((x) => x.image === image);
      // The agent's figure, else the sum of the layers it reported (it resolves them all).
      const meta = this.one<{ compressed_size: number | null }>(
        `SELECT coalesce((SELECT compressed_size FROM images WHERE image = ?),
           (SELECT sum(size_bytes) FROM layers WHERE image = ?)) AS compressed_size`,
        image,
        image,
      );
      const prefetch = this.one<{ used: number | null; fetched: number | null }>(
        'SELECT sum(prefetch_used) AS used, sum(prefetch) AS fetched FROM layers WHERE image = ?',
        image,
      );
      return {
        image,
        pods: { lazy: lazy.length, normal: normal.length },
        startupSeconds: {
          lazy: distribution(startups(lazy)),
          normal: distribution(startups(normal)),
        },
        timeline: {
          createdToPulled: medianOf((p) =>
            p.pulled === null ? null : (p.pulled - p.created) / 1000,
          ),
          pulledToStarted: medianOf((p) =>
            p.pulled === null || p.started === null ? null : (p.started - p.pulled) / 1000,
          ),
          startedToReady: medianOf((p) =>
            p.started === null || p.ready === null ? null : (p.ready - p.started) / 1000,
          ),
        },
        bytes: {
          onDemand: u?.d ?? 0,
          prefetch: u?.p ?? 0,
          background: u?.b ?? 0,
          total: meta.compressed_size,
        },
        prefetchHitRatio: prefetch.fetched
          ? Math.min(1, (prefetch.used ?? 0) / prefetch.fetched)
          : null,
        savings: {
          medianSeconds: median(saved),
          basis: savings.find((s) => s.basis === 'observed-median')
            ? 'observed-median'
            : savings.find((s) => s.basis === 'estimated-throughput')
              ? 'estimated-throughput'
              : 'none',
        },
      };
    });
    items.sort(
      (a, b) =>
        b.pods.lazy + b.pods.normal - (a.pods.lazy + a.pods.normal) ||
        a.image.localeCompare(b.image),
    );
    return { items };
  }

  layers(imageRef: string): { items: LayerStatsT[] } {
    const image = normalizeImage(imageRef);
    const layers = this.all<{
      digest: string;
      size_bytes: number;
      on_demand: number;
      prefetch: number;
      background: number;
      chunk_fetches: number;
      latency: string;
    }>('SELECT * FROM layers WHERE image = ? ORDER BY position, digest', image);
    return {
      items: layers.map((l) => {
        const counts = JSON.parse(l.latency) as number[];
        const p50 = histogramQuantile(0.5, counts);
        const fractions = this.all<{ f: number }>(
          'SELECT fetched_bytes AS f FROM layer_nodes WHERE image = ? AND digest = ?',
          image,
          l.digest,
        ).map((r) => (l.size_bytes > 0 ? Math.min(1, r.f / l.size_bytes) : 1));
        return {
          digest: l.digest,
          image,
          sizeBytes: l.size_bytes,
          bytes: { onDemand: l.on_demand, prefetch: l.prefetch, background: l.background },
          chunkFetches: l.chunk_fetches,
          latencySeconds:
            p50 === null
              ? null
              : {
                  p50,
                  p95: histogramQuantile(0.95, counts)!,
                  p99: histogramQuantile(0.99, counts)!,
                },
          fetchedFraction: fractions.length
            ? fractions.reduce((s, f) => s + f, 0) / fractions.length
            : 0,
          hotFiles: this.all<{ path: string; bytes: number }>(
            'SELECT path, bytes FROM hot_files WHERE image = ? AND digest = ? ORDER BY bytes DESC, path LIMIT 20',
            image,
            l.digest,
          ).map((f) => ({ path: f.path, bytes: f.bytes })),
        };
      }),
    };
  }

  nodes(): NodeStatusT[] {
    const now = this.clock.now();
    return this.all<{
      node: string;
      agent_version: string;
      mount_state: 'mounted' | 'unmounted' | 'error';
      cache_used: number;
      cache_cap: number;
      last_report_at: number;
      layers_served: number;
    }>('SELECT * FROM nodes ORDER BY node').map((n) => {
      const age = now - n.last_report_at;
      return {
        node: n.node,
        agentVersion: n.agent_version,
        mountState: age > NODE_UNKNOWN_MS ? 'unknown' : n.mount_state,
        cache: { usedBytes: n.cache_used, capBytes: n.cache_cap },
        lastReportAt: new Date(n.last_report_at).toISOString(),
        healthy: age <= NODE_STALE_MS && n.mount_state === 'mounted',
        layersServed: n.layers_served,
      };
    });
  }

  timeseries(query: TimeseriesQueryT): TimeseriesT {
    const start = Date.parse(query.start);
    const end = Date.parse(query.end);
    const stepMs = query.step * 1000;
    const where = ['t >= ?', 't < ?'];
    const params: SQLInputValue[] = [start, end];
    if (query.node) {
      where.push('node = ?');
      params.push(query.node);
    }
    if (query.image) {
      where.push('image = ?');
      params.push(normalizeImage(query.image));
    }
    const lat = Array.from(
      { length: LATENCY_BUCKET_COUNT },
      (_, i) => `sum(lat${i}) AS l${i}`,
    ).join(', ');
    const rows = this.all<Record<string, number>>(
      `SELECT CAST((t - ?) / ? AS INTEGER) AS b, sum(chunk_fetches) AS f, sum(on_demand + prefetch + background) AS bt, ${lat}
       FROM usage WHERE ${where.join(' AND ')} GROUP BY b`,
      start,
      stepMs,
      ...params,
    );
    const byBucket = new Map(rows.map((r) => [Math.floor(r.b), r]));
    const points: TimeseriesT['points'] = [];
    for (let b = 0; start + b * stepMs < end; b++) {
      const row = byBucket.get(b);
      const counts = Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => row?.[`l${i}`] ?? 0);
      const p50 = histogramQuantile(0.5, counts);
      points.push({
        t: new Date(start + b * stepMs).toISOString(),
        chunkFetchesPerSecond: (row?.f ?? 0) / query.step,
        bytesPerSecond: (row?.bt ?? 0) / query.step,
        latencySeconds:
          p50 === null
            ? null
            : { p50, p95: histogramQuantile(0.95, counts)!, p99: histogramQuantile(0.99, counts)! },
      });
    }
    return { step: query.step, points };
  }
}

function encodeCursor(createdAt: number, uid: string): string {
  return Buffer.from(JSON.stringify([createdAt, uid])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: number; uid: string } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
      return { createdAt: value[0], uid: value[1] };
    }
  } catch {
    // fall through
  }
  throw new QueryError('invalid cursor');
}
