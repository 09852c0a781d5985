// Per-pod startup savings of a lazily pulled pod, measured rather than guessed:
//  (a) observed-median: baseline = the median startup (created → Ready) of pods of the same image
//      that pulled it normally on this cluster (within retention);
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

const NONE: Savings = { seconds: null, baselineSeconds: null, basis: 'none' };

/** Memoises baselines for one request; cheap to create. */
export class SavingsModel {
  private readonly db: DatabaseSync;
  private readonly observed = new Map<string, number | null>();
  private readonly sizes = new Map<string, number | null>();
  private readonly throughput = new Map<string, number | null>();

  constructor(db: DatabaseSync) {
    this.db = db;
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

  /** Median startup of normally pulled pods of an image (index: image, kind, startup_seconds). */
  observedMedian(image: string): number | null {
    if (this.observed.has(image)) return this.observed.get(image) ?? null;
    const { n } = this.db
      .prepare(
        "SELECT count(*) AS n FROM pods WHERE image = ? AND kind = 'normal' AND startup_seconds IS NOT NULL",
      )
      .get(image) as { n: number };
    let value: number | null = null;
    if (n > 0) {
      const at = (offset: number) =>
        (
          this.db
            .prepare(
              `SELECT startup_seconds AS s FROM pods WHERE image = ? AND kind = 'normal'
               AND startup_seconds IS NOT NULL ORDER BY startup_seconds LIMIT 1 OFFSET ?`,
            )
            .get(image, offset) as { s: number }
        ).s;
      value = n % 2 === 1 ? at((n - 1) / 2) : (at(n / 2 - 1) + at(n / 2)) / 2;
    }
    this.observed.set(image, value);
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
