// Per-pod startup savings of a lazily pulled pod, measured rather than guessed:
//  (a) observed-median: baseline = the median startup (created → Ready) of the latest (up to 101)
//      pods of the same image that pulled it normally on this cluster;
//  (b) estimated-throughput: when no such pod exists, baseline = this pod's own startup with the
//      (lazy) pull time of its image replaced by the image's compressed size / its node's measured
//      registry throughput, i.e. what a full download would have cost on that node (the pulls of
//      its other containers' images, sidecars and init containers, stay in both). It does not
//      charge the on-demand fetches after start, so it leans optimistic; the record says which
//      basis it used.
//  (c) none: neither is known.
// savings = baseline − startup (negative when lazy pulling made the pod slower).
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import type { SavingsBasisT } from './api-schemas.ts';
import { currentBuildSql } from './images.ts';

export interface SavingsInput {
  image: string | null;
  /** Manifest digest of the build of `image` the pod ran, when known. */
  imageDigest: string | null;
  node: string | null;
  startupSeconds: number | null;
  /** Pull time of the pod's image (its first container running it), not the pod's other pulls. */
  imagePullSeconds: number | null;
}

export interface Savings {
  seconds: number | null;
  baselineSeconds: number | null;
  basis: SavingsBasisT;
}

/** Normal pulls per image the baseline median is taken over. */
export const BASELINE_SAMPLE = 101;

const NONE: Savings = { seconds: null, baselineSeconds: null, basis: 'none' };

/** The compressed size of a build: the agent's figure, else the sum of its layers' sizes. */
function buildSizeSql(image: string, manifest: string): string {
  return `(SELECT coalesce(b.compressed_size, (SELECT iif(count(*) > 0, total(l.size_bytes), NULL)
      FROM build_layers m JOIN layers l ON l.image = m.image AND l.digest = m.digest
      WHERE m.image = b.image AND m.manifest = b.manifest))
    FROM image_builds b WHERE b.image = ${image} AND b.manifest = ${manifest})`;
}

/**
 * The compressed size of the build `manifest` of `image` (SQL expressions), else of the image's
 * current build: a pod that ran an older build of a tag keeps that build's size.
 */
export function compressedSizeSql(image: string, manifest = 'NULL'): string {
  return `coalesce(${buildSizeSql(image, manifest)},
    ${buildSizeSql(image, currentBuildSql(image))})`;
}

/** Registry throughput (bytes/s) the agent on `node` (an SQL expression) measured; NULL if unknown. */
export function nodeThroughputSql(node: string): string {
  return `(SELECT registry_bytes / registry_seconds FROM nodes
    WHERE node = ${node} AND registry_seconds > 0 AND registry_bytes > 0)`;
}

/** Per-connection table of the observed baselines a query uses (see SavingsModel.loadBaselines). */
const BASELINES_TABLE = 'temp.hub_savings_baselines';

/** Joins a pod row `p` to its image's observed baseline `b` (loadBaselines first). */
export const BASELINE_JOIN_SQL = `LEFT JOIN ${BASELINES_TABLE} b ON b.image = p.image`;

/**
 * savingsFor(p).seconds as SQL, for a pod row `p` joined by BASELINE_JOIN_SQL: the same
 * arithmetic in the same order, so the same doubles. NULL when no basis is known.
 */
export const SAVED_SECONDS_SQL = `CASE WHEN b.seconds IS NOT NULL THEN b.seconds - p.startup_seconds
  ELSE ((p.startup_seconds - coalesce(p.image_pull_seconds, 0))
    + ${compressedSizeSql('p.image', 'p.image_digest')} / ${nodeThroughputSql('p.node')})
    - p.startup_seconds END`;

/** The code of savingsFor(p).basis where SAVED_SECONDS_SQL is not NULL; see BASIS_CODES. */
export const BASIS_SQL = 'iif(b.seconds IS NOT NULL, 2, 1)';

/** Basis by code (one image's pods with a known saving share one basis: its baseline or not). */
export const BASIS_CODES: Record<number, SavingsBasisT> = {
  0: 'none',
  1: 'estimated-throughput',
  2: 'observed-median',
};

const BASELINE_TTL_MS = 60_000;

/**
 * Observed baselines shared across requests for a minute: computing them is the costly part of
 * a summary, and a baseline moves slowly (it is a median over the latest normal pulls).
 */
export class BaselineCache {
  private readonly entries = new Map<string, { value: number | null; at: number }>();

  get(image: string, now: number): number | null | undefined {
    const hit = this.entries.get(image);
    return hit && now - hit.at < BASELINE_TTL_MS ? hit.value : undefined;
  }

  set(image: string, value: number | null, now: number): void {
    if (this.entries.size > 100_000) this.entries.clear();
    this.entries.set(image, { value, at: now });
  }
}

/** Memoises sizes and throughputs for one request; baselines come from a shared cache. */
export class SavingsModel {
  private readonly db: DatabaseSync;
  private readonly observed: BaselineCache;
  private readonly sizes = new Map<string, number | null>();
  private readonly throughput = new Map<string, number | null>();
  private latestNormal: StatementSync | undefined;

  constructor(db: DatabaseSync, baselines: BaselineCache = new BaselineCache()) {
    this.db = db;
    this.observed = baselines;
  }

  /**
   * Puts the observed baselines of `images` (those that have one) into the connection's
   * baselines table, replacing what was there, for BASELINE_JOIN_SQL. Synchronous like the query
   * that follows it, so no other request can change the table in between.
   */
  loadBaselines(images: Iterable<string>): void {
    this.db.exec(
      `CREATE TABLE IF NOT EXISTS ${BASELINES_TABLE} (image TEXT PRIMARY KEY, seconds REAL NOT NULL) WITHOUT ROWID`,
    );
    const rows: [string, number][] = [];
    for (const image of images) {
      const seconds = this.observedMedian(image);
      if (seconds !== null) rows.push([image, seconds]);
    }
    const own = !this.db.isTransaction;
    if (own) this.db.exec('BEGIN');
    try {
      this.db.exec(`DELETE FROM ${BASELINES_TABLE}`);
      for (let i = 0; i < rows.length; i += 400) {
        const chunk = rows.slice(i, i + 400);
        const values = chunk.map(() => '(?, ?)').join(', ');
        this.db
          .prepare(`INSERT INTO ${BASELINES_TABLE} (image, seconds) VALUES ${values}`)
          .run(...chunk.flat());
      }
      if (own) this.db.exec('COMMIT');
    } catch (error) {
      if (own && this.db.isTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  savingsFor(pod: SavingsInput): Savings {
    if (pod.startupSeconds === null || pod.image === null) return NONE;
    const observed = this.observedMedian(pod.image);
    if (observed !== null) {
      return {
        seconds: observed - pod.startupSeconds,
        baselineSeconds: observed,
        basis: 'observed-median',
      };
    }
    const size = this.compressedSize(pod.image, pod.imageDigest);
    const rate = pod.node === null ? null : this.nodeThroughput(pod.node);
    if (size === null || rate === null) return NONE;
    const baseline = pod.startupSeconds - (pod.imagePullSeconds ?? 0) + size / rate;
    return {
      seconds: baseline - pod.startupSeconds,
      baselineSeconds: baseline,
      basis: 'estimated-throughput',
    };
  }

  /**
   * Median startup of the latest normally pulled pods of an image (at most BASELINE_SAMPLE, newest
   * first): bounded work per image, and the baseline follows the cluster as registries and nodes
   * change.
   */
  observedMedian(image: string): number | null {
    const now = Date.now();
    const cached = this.observed.get(image, now);
    if (cached !== undefined) return cached;
    this.latestNormal ??= this.db.prepare(
      `SELECT startup_seconds AS s FROM pods WHERE image = ? AND kind = 'normal'
       AND startup_seconds IS NOT NULL ORDER BY created_at DESC LIMIT ?`,
    );
    const rows = this.latestNormal.all(image, BASELINE_SAMPLE) as { s: number }[];
    const sorted = rows.map((r) => r.s).sort((a, b) => a - b);
    const n = sorted.length;
    const value =
      n === 0 ? null : n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    this.observed.set(image, value, now);
    return value;
  }

  private compressedSize(image: string, manifest: string | null): number | null {
    const key = `${image}@${manifest ?? ''}`;
    if (!this.sizes.has(key)) {
      const row = this.db
        .prepare(`SELECT ${compressedSizeSql('?1', '?2')} AS s`)
        .get(image, manifest) as { s: number | null } | undefined;
      this.sizes.set(key, row?.s ?? null);
    }
    return this.sizes.get(key) ?? null;
  }

  /** Bytes per second the node's agent measured against registries (all its transfers). */
  private nodeThroughput(node: string): number | null {
    if (!this.throughput.has(node)) {
      const row = this.db.prepare(`SELECT ${nodeThroughputSql('?')} AS r`).get(node) as
        { r: number | null } | undefined;
      this.throughput.set(node, row?.r ?? null);
    }
    return this.throughput.get(node) ?? null;
  }
}
