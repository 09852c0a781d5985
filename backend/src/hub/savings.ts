// Per-pod startup savings of a lazily pulled pod, measured rather than guessed:
//  (a) observed-median: baseline = the median startup (created → Ready) of the latest (up to 101)
//      pods of the same image that pulled it normally on this cluster;
//  (b) estimated-throughput: when no such pod exists, baseline = this pod's own startup with its
//      (lazy) pull time replaced by the image's compressed size / its node's measured registry
//      throughput, i.e. what a full download would have cost on that node. It does not charge the
//      on-demand fetches after start, so it leans optimistic; the record says which basis it used.
//  (c) none: neither is known.
// savings = baseline − startup (negative when lazy pulling made the pod slower).
import type { DatabaseSync } from 'node:sqlite';

import type { SavingsBasisT } from './api-schemas.ts';

export interface SavingsInput {
  image: string | null;
  node: string | null;
  startupSeconds: number | null;
  pullSeconds: number | null;
}

export interface Savings {
  seconds: number | null;
  baselineSeconds: number | null;
  basis: SavingsBasisT;
}

/** Normal pulls per image the baseline median is taken over. */
export const BASELINE_SAMPLE = 101;

const NONE: Savings = { seconds: null, baselineSeconds: null, basis: 'none' };

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

  constructor(db: DatabaseSync, baselines: BaselineCache = new BaselineCache()) {
    this.db = db;
    this.observed = baselines;
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
    const size = this.compressedSize(pod.image);
    const rate = pod.node === null ? null : this.nodeThroughput(pod.node);
    if (size === null || rate === null) return NONE;
    const baseline = pod.startupSeconds - (pod.pullSeconds ?? 0) + size / rate;
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
    const rows = this.db
      .prepare(
        `SELECT startup_seconds AS s FROM pods WHERE image = ? AND kind = 'normal'
         AND startup_seconds IS NOT NULL ORDER BY created_at DESC LIMIT ?`,
      )
      .all(image, BASELINE_SAMPLE) as { s: number }[];
    const sorted = rows.map((r) => r.s).sort((a, b) => a - b);
    const n = sorted.length;
    const value =
      n === 0 ? null : n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    this.observed.set(image, value, now);
    return value;
  }

  private compressedSize(image: string): number | null {
    if (!this.sizes.has(image)) {
      // The agent's own figure, else the sum of the layers it reported (it resolves them all).
      const row = this.db
        .prepare(
          `SELECT coalesce((SELECT compressed_size FROM images WHERE image = ?),
             (SELECT sum(size_bytes) FROM layers WHERE image = ?)) AS s`,
        )
        .get(image, image) as { s: number | null } | undefined;
      this.sizes.set(image, row?.s ?? null);
    }
    return this.sizes.get(image) ?? null;
  }

  /** Bytes per second the node's agent measured against registries (all its transfers). */
  private nodeThroughput(node: string): number | null {
    if (!this.throughput.has(node)) {
      const row = this.db
        .prepare('SELECT registry_bytes AS b, registry_seconds AS s FROM nodes WHERE node = ?')
        .get(node) as { b: number; s: number } | undefined;
      this.throughput.set(node, row && row.s > 0 && row.b > 0 ? row.b / row.s : null);
    }
    return this.throughput.get(node) ?? null;
  }
}
