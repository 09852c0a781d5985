// The hub never fills its volume by itself: writes stop (503; agents keep their reports and send
// them again, the informers' objects are written again) while less than a reserve is left. The
// reserve is what recovering needs: retention deletes old rows through the WAL (its frames need
// room), and a checkpoint writes the WAL's pages into the database file, which may grow it. On a
// volume at 100 % neither can run, so no retention setting would ever free it; measured on a
// tmpfs, 4 MiB left was enough for batched deletes and 0 was not.
import { statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

import { StatementCache } from './db.ts';

/**
 * Kept free for retention and checkpoints: above the ~16 MiB a WAL holds between automatic
 * checkpoints (db.ts), with room for a batch of reports that got in just before the limit. On a
 * volume under 640 MiB, a tenth of it.
 */
export const DISK_RESERVE_BYTES = 64 * 2 ** 20;
const RESERVE_SHARE_OF_VOLUME = 0.1;

/** Writing now would eat into the reserve: the hub answers 503 until retention frees pages. */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError';
}

const MIB = 2 ** 20;

export class DiskRoom {
  private readonly dbPath: string | null;
  /** Checked before every write transaction: its PRAGMA statements are prepared once. */
  private readonly statements: StatementCache;
  readonly reserveBytes: number;
  private pageSize: number | undefined;

  /** `reserveBytes`: kept free (default: DISK_RESERVE_BYTES, or a tenth of a small volume). */
  constructor(db: DatabaseSync, dbPath: string, reserveBytes?: number) {
    this.dbPath = dbPath === ':memory:' ? null : dbPath;
    this.statements = new StatementCache(db);
    this.reserveBytes = reserveBytes ?? this.defaultReserve();
  }

  private defaultReserve(): number {
    if (this.dbPath === null) return 0;
    const volume = statfsSync(dirname(this.dbPath));
    return Math.min(DISK_RESERVE_BYTES, volume.blocks * volume.bsize * RESERVE_SHARE_OF_VOLUME);
  }

  /**
   * Bytes the hub can still write: free on the volume, plus the database's free pages (rows that
   * retention deleted leave them, and new rows reuse them before the file grows), less what the
   * next checkpoint will add to the file (pages that are in the WAL only). Infinite in memory.
   */
  available(): number {
    if (this.dbPath === null) return Number.POSITIVE_INFINITY;
    const volume = statfsSync(dirname(this.dbPath));
    this.pageSize ??= this.pragma('page_size');
    const pendingGrowth = Math.max(
      0,
      this.pragma('page_count') * this.pageSize - statSync(this.dbPath).size,
    );
    return (
      volume.bavail * volume.bsize + this.pragma('freelist_count') * this.pageSize - pendingGrowth
    );
  }

  /** Throws DiskFullError when a write now would leave less than the reserve. */
  check(): void {
    const available = this.available();
    if (available >= this.reserveBytes) return;
    throw new DiskFullError(
      `disk almost full: ${(Math.max(0, available) / MIB).toFixed(1)} MiB left, and the hub keeps ` +
        `${(this.reserveBytes / MIB).toFixed(1)} MiB for retention to free space; ` +
        'lower hub.retentionDays or grow the volume',
    );
  }

  private pragma(name: 'page_size' | 'page_count' | 'freelist_count'): number {
    return (this.statements.get(`PRAGMA ${name}`).get() as Record<string, number>)[name];
  }
}
