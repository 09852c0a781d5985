// Reads behind the REST API. Timestamps are stored as epoch milliseconds and leave as ISO strings.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

import type { Clock } from '../telemetry/collector.ts';
import { LATENCY_BUCKET_COUNT, histogramQuantile } from '../telemetry/report.ts';
import type {
  ImageStatsT,
  LayersPageT,
  LayersQueryT,
  LayerStatsT,
  NodeStatusT,
  PodStartupT,
  PodsPageT,
  PodsQueryT,
  SummaryT,
  TimeseriesQueryT,
  TimeseriesT,
} from './api-schemas.ts';
import { StatementCache } from './db.ts';
import { distributions, runsSql, type RunRow as Run } from './distribution-sql.ts';
import { currentBuildSql, normalizeImage } from './images.ts';
import {
  BASELINE_JOIN_SQL,
  BASIS_CODES,
  BASIS_SQL,
  BaselineCache,
  compressedSizeSql,
  SAVED_SECONDS_SQL,
  SavingsModel,
} from './savings.ts';

/** A node whose last report is older than this is unhealthy. */
export const NODE_STALE_MS = 60_000;
/** ... and older than this, its mount state is unknown. */
export const NODE_UNKNOWN_MS = 300_000;
const DEFAULT_WINDOW_MS = 86_400_000;
/**
 * Pods of a time window by the covering index on (created_at, kind, image, startup_seconds):
 * named, because without statistics SQLite prefers walking a whole image-ordered index to skip
 * the sort, which costs seconds at a million pods whatever the window.
 */
const WINDOW_PODS = 'pods INDEXED BY pods_created_kind_image_startup';

export class QueryError extends Error {
  override readonly name = 'QueryError';
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
  image_pull_seconds: number | null;
  image_digest: string | null;
  kind: string;
}

interface LayerRow {
  digest: string;
  size_bytes: number;
  on_demand: number;
  prefetch: number;
  background: number;
  chunk_fetches: number;
  latency: string;
}

/** A build's layers (`m`) with their statistics (`l`, kept per reference). */
const BUILD_LAYERS = 'build_layers m JOIN layers l ON l.image = m.image AND l.digest = m.digest';
const BUILD_LAYER_COLUMNS =
  'l.digest, l.size_bytes, l.on_demand, l.prefetch, l.background, l.chunk_fetches, l.latency';

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
  private readonly statements: StatementCache;

  constructor(db: DatabaseSync, clock: Clock) {
    this.db = db;
    this.clock = clock;
    this.statements = new StatementCache(db);
  }

  private all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  private one<T>(sql: string, ...params: SQLInputValue[]): T {
    return this.db.prepare(sql).get(...params) as T;
  }

  /** A prepared statement, kept: the aggregates run the same few statements on every refresh. */
  private stmt(sql: string): StatementSync {
    return this.statements.get(sql);
  }

  private sinceMs(since: string | undefined): number {
    return since ? Date.parse(since) : this.clock.now() - DEFAULT_WINDOW_MS;
  }

  summary(sinceIso?: string): SummaryT {
    const since = this.sinceMs(sinceIso);
    const byKind = distributions<{ kind: string } & Run>(
      this.stmt(
        runsSql(`SELECT kind, startup_seconds AS v FROM ${WINDOW_PODS} WHERE created_at >= ?`, [
          'kind',
        ]),
      ),
      [since],
      (r) => r.kind,
    );
    const count = (kind: string) => byKind.get(kind)?.rows ?? 0;
    this.loadBaselines(
      this.all<{ image: string }>(
        `SELECT DISTINCT image FROM ${WINDOW_PODS} WHERE created_at >= ? AND kind = 'lazy'
         AND startup_seconds IS NOT NULL AND image IS NOT NULL`,
        since,
      ).map((r) => r.image),
    );
    const saved = distributions<Run>(
      this.stmt(
        runsSql(
          `SELECT ${SAVED_SECONDS_SQL} AS v FROM pods p ${BASELINE_JOIN_SQL}
           WHERE p.created_at >= ? AND p.kind = 'lazy' AND p.startup_seconds IS NOT NULL
             AND p.image IS NOT NULL`,
          [],
        ),
      ),
      [since],
      () => '',
    ).get('');
    const bytes = this.one<{ d: number | null; p: number | null; b: number | null }>(
      'SELECT total(on_demand) AS d, total(prefetch) AS p, total(background) AS b FROM usage WHERE t >= ?',
      since,
    );
    const nodes = this.nodes();
    return {
      since: new Date(since).toISOString(),
      pods: {
        total: [...byKind.values()].reduce((s, k) => s + k.rows, 0),
        lazy: count('lazy'),
        normal: count('normal'),
      },
      startupSeconds: {
        lazy: byKind.get('lazy')?.dist ?? null,
        normal: byKind.get('normal')?.dist ?? null,
      },
      savedSecondsTotal: saved?.sum ?? 0,
      savedSecondsMedian: saved?.dist?.p50 ?? null,
      nodes: { total: nodes.length, healthy: nodes.filter((n) => n.healthy).length },
      bytes: { onDemand: bytes.d ?? 0, prefetch: bytes.p ?? 0, background: bytes.b ?? 0 },
      lazyPulls: this.one<{ n: number }>(
        'SELECT count(*) AS n FROM lazy_pulls WHERE at >= ?',
        since,
      ).n,
    };
  }

  /** Observed baselines of these images, for BASELINE_JOIN_SQL in the statement that follows. */
  private loadBaselines(images: Iterable<string>): void {
    new SavingsModel(this.db, this.baselines).loadBaselines(images);
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
      nextCursor: more && last ? encodeCursor([last.created_at, last.uid]) : null,
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
              imagePullSeconds: p.image_pull_seconds,
              imageDigest: p.image_digest,
            })
          : { seconds: null, baselineSeconds: null, basis: 'none' as const },
    }));
  }

  images(sinceIso?: string): { items: ImageStatsT[] } {
    const since = this.sinceMs(sinceIso);
    // Every image a pod of the window ran (pods of each kind, startups), or agents moved bytes for.
    const pods = distributions<{ image: string; kind: string } & Run>(
      this.stmt(
        runsSql(
          `SELECT image, kind, startup_seconds AS v FROM ${WINDOW_PODS}
           WHERE created_at >= ? AND image IS NOT NULL`,
          ['image', 'kind'],
        ),
      ),
      [since],
      (r) => `${r.kind} ${r.image}`,
    );
    const usage = new Map(
      this.all<{ image: string; d: number; p: number; b: number }>(
        // The covering index: the window's rows only, not every row of an image.
        `SELECT image, total(on_demand) AS d, total(prefetch) AS p, total(background) AS b
         FROM usage INDEXED BY usage_t_image_bytes WHERE t >= ? GROUP BY image`,
        since,
      ).map((r) => [r.image, r]),
    );
    this.loadBaselines(
      [...pods.entries()].flatMap(([k, g]) =>
        k.startsWith('lazy ') && g.dist ? [k.slice(5)] : [],
      ),
    );
    // Over lazy pods: the timeline of the container that ran the pod's image (the first such in
    // the spec; its times are kept on the pod row) as metrics 0-2, and the pod's savings as
    // metric 3, with its basis.
    const lazy = distributions<{ image: string; m: number; basis: number | null } & Run, number>(
      this.stmt(
        runsSql(
          `SELECT t.image, m.m, CASE m.m WHEN 0 THEN (t.pulled - t.created) / 1000.0
               WHEN 1 THEN (t.started - t.pulled) / 1000.0
               WHEN 2 THEN (t.ready - t.started) / 1000.0
               ELSE t.saved END AS v, iif(m.m = 3, t.basis, NULL) AS basis
           FROM (SELECT p.image, p.created_at AS created, p.ready_at AS ready,
                   p.image_pulled_at AS pulled, p.image_started_at AS started,
                   ${SAVED_SECONDS_SQL} AS saved, ${BASIS_SQL} AS basis
                 FROM pods p ${BASELINE_JOIN_SQL}
                 WHERE p.created_at >= ? AND p.kind = 'lazy' AND p.image IS NOT NULL) t
           CROSS JOIN (SELECT 0 AS m UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) m
           WHERE v IS NOT NULL AND (m.m = 3 OR v >= 0)`,
          ['image', 'm'],
          ['max(basis) AS basis'],
        ),
      ),
      [since],
      (r) => `${r.m} ${r.image}`,
      (runs) => Math.max(...runs.map((r) => r.basis ?? 0)),
    );
    const meta = this.stmt(
      `SELECT ${compressedSizeSql('?1')} AS size,
         (SELECT total(prefetch_used) FROM layers WHERE image = ?1) AS used,
         (SELECT total(prefetch) FROM layers WHERE image = ?1) AS fetched`,
    );
    const images = new Set([
      ...[...pods.keys()].map((k) => k.slice(k.indexOf(' ') + 1)),
      ...usage.keys(),
    ]);
    const items = [...images].map((image): ImageStatsT => {
      const u = usage.get(image);
      const m = meta.get(image) as {
        size: number | null;
        used: number | null;
        fetched: number | null;
      };
      const median = (metric: number) => lazy.get(`${metric} ${image}`)?.dist?.p50 ?? null;
      const saved = lazy.get(`3 ${image}`);
      return {
        image,
        pods: {
          lazy: pods.get(`lazy ${image}`)?.rows ?? 0,
          normal: pods.get(`normal ${image}`)?.rows ?? 0,
        },
        startupSeconds: {
          lazy: pods.get(`lazy ${image}`)?.dist ?? null,
          normal: pods.get(`normal ${image}`)?.dist ?? null,
        },
        timeline: {
          createdToPulled: median(0),
          pulledToStarted: median(1),
          startedToReady: median(2),
        },
        bytes: {
          onDemand: u?.d ?? 0,
          prefetch: u?.p ?? 0,
          background: u?.b ?? 0,
          total: m.size,
        },
        prefetchHitRatio: m.fetched ? Math.min(1, (m.used ?? 0) / m.fetched) : null,
        savings: {
          medianSeconds: saved?.dist?.p50 ?? null,
          basis: BASIS_CODES[saved?.extra ?? 0] ?? 'none',
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

  /**
   * The layers of the image's current build, a page at a time: those with the most-read file
   * first (then the most bytes read on demand), so that the first page has the image's hottest
   * files whatever the number of layers.
   */
  layers(query: LayersQueryT): LayersPageT {
    const image = normalizeImage(query.image);
    const { manifest } = this.stmt(`SELECT ${currentBuildSql('?')} AS manifest`).get(image) as {
      manifest: string | null;
    };
    if (manifest === null) return { manifestDigest: null, items: [], nextCursor: null, total: 0 };
    const after = query.cursor ? decodeLayerCursor(query.cursor) : null;
    const rows = this.hottestLayers({ image, manifest }, after, query.limit + 1);
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    const total = this.stmt(
      `SELECT count(*) AS n FROM ${BUILD_LAYERS} WHERE m.image = ? AND m.manifest = ?`,
    ).get(image, manifest) as { n: number };
    return {
      manifestDigest: manifest === '' ? null : manifest,
      items: items.map((l) => this.layerStats(image, l)),
      nextCursor:
        rows.length > query.limit && last
          ? encodeCursor([last.hot, last.on_demand, last.digest])
          : null,
      total: total.n,
    };
  }

  /** Up to `limit` layers of a build after `after`, by their most-read file, then on-demand bytes. */
  private hottestLayers(
    build: { image: string; manifest: string },
    after: LayerCursor | null,
    limit: number,
  ): (LayerRow & { hot: number })[] {
    return this.stmt(
      `SELECT * FROM (SELECT ${BUILD_LAYER_COLUMNS},
           coalesce((SELECT max(h.bytes) FROM hot_files h
             WHERE h.image = l.image AND h.digest = l.digest), 0) AS hot
         FROM ${BUILD_LAYERS} WHERE m.image = ?1 AND m.manifest = ?2)
       WHERE ?3 IS NULL OR hot < ?3 OR (hot = ?3 AND (on_demand < ?4
         OR (on_demand = ?4 AND digest > ?5)))
       ORDER BY hot DESC, on_demand DESC, digest LIMIT ?6`,
    ).all(
      build.image,
      build.manifest,
      after?.hot ?? null,
      after?.onDemand ?? null,
      after?.digest ?? null,
      limit,
    ) as unknown as (LayerRow & { hot: number })[];
  }

  private layerStats(image: string, l: LayerRow): LayerStatsT {
    const counts = JSON.parse(l.latency) as number[];
    const p50 = histogramQuantile(0.5, counts);
    const fractions = (
      this.stmt('SELECT fetched_bytes AS f FROM layer_nodes WHERE image = ? AND digest = ?').all(
        image,
        l.digest,
      ) as { f: number }[]
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
      hotFiles: (
        this.stmt(
          'SELECT path, bytes FROM hot_files WHERE image = ? AND digest = ? ORDER BY bytes DESC, path LIMIT 20',
        ).all(image, l.digest) as { path: string; bytes: number }[]
      ).map((f) => ({ path: f.path, bytes: f.bytes })),
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
    const params: SQLInputValue[] = [];
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
      (_, i) => `total(lat${i}) AS l${i}`,
    ).join(', ');
    // One aggregate per point over its slice of the index on t: no sort of the window's rows
    // (a GROUP BY on the bucket sorted them all, every column, first).
    const bucket = this.stmt(
      `SELECT total(chunk_fetches) AS f, total(on_demand + prefetch + background) AS bt, ${lat}
       FROM usage WHERE ${where.join(' AND ')}`,
    );
    const points: TimeseriesT['points'] = [];
    for (let b = 0; start + b * stepMs < end; b++) {
      const from = start + b * stepMs;
      const to = Math.min(end, from + stepMs);
      // Rates over the bucket's own length: the last one is shorter when step does not divide
      // the range.
      const seconds = (to - from) / 1000;
      const row = bucket.get(from, to, ...params) as Record<string, number | null>;
      const counts = Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => row[`l${i}`] ?? 0);
      const p50 = histogramQuantile(0.5, counts);
      points.push({
        t: new Date(from).toISOString(),
        chunkFetchesPerSecond: (row.f ?? 0) / seconds,
        bytesPerSecond: (row.bt ?? 0) / seconds,
        latencySeconds:
          p50 === null
            ? null
            : { p50, p95: histogramQuantile(0.95, counts)!, p99: histogramQuantile(0.99, counts)! },
      });
    }
    return { step: query.step, points };
  }
}

/** Where a page of layers ended (see layers()). */
interface LayerCursor {
  hot: number;
  onDemand: number;
  digest: string;
}

/** An opaque cursor: the sort key of the last item of a page. */
function encodeCursor(key: (number | string)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key a cursor carries; a QueryError when it is not one of ours. */
function cursorKey(cursor: string): unknown[] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  throw new QueryError('invalid cursor');
}

function decodeCursor(cursor: string): { createdAt: number; uid: string } {
  const [createdAt, uid] = cursorKey(cursor);
  if (typeof createdAt === 'number' && typeof uid === 'string') return { createdAt, uid };
  throw new QueryError('invalid cursor');
}

function decodeLayerCursor(cursor: string): LayerCursor {
  const [hot, onDemand, digest] = cursorKey(cursor);
  if (typeof hot === 'number' && typeof onDemand === 'number' && typeof digest === 'string') {
    return { hot, onDemand, digest };
  }
  throw new QueryError('invalid cursor');
}
