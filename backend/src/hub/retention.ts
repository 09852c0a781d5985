// Retention: rows older than hub.retentionDays are deleted in short transactions of a bounded
// number of rows, with a checkpoint after each and a turn of the event loop in between, and the
// WAL is truncated at the end. One transaction over every table (as before) needed WAL room for
// every deleted row at once and held every other write for its whole length: on a full volume it
// could not run at all, so lowering the retention freed nothing. Deleted rows leave free pages
// that new rows reuse; the database file itself does not shrink.
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { setImmediate as nextTurn } from 'node:timers/promises';

import type { Clock } from '../telemetry/collector.ts';
import { checkpointWal, immediateTransaction, StatementCache } from './db.ts';

/** Rows deleted per transaction: its WAL frames stay around a megabyte. */
const DELETE_BATCH_ROWS = 2_000;
/** Rows of a table without an index on its age looked at per transaction. */
const WALK_BATCH_ROWS = 5_000;

/** A table whose rows are found oldest first through an index on their age. */
interface AgedByIndex {
  table: string;
  key: string;
  age: string;
}

/** A table walked in primary-key order (no index on its age: it would cost every report). */
interface AgedByWalk {
  table: string;
  key: string[];
  /** The condition an old row meets, with one parameter: the cutoff. */
  old: string;
}

const AGED_BY_INDEX: AgedByIndex[] = [
  { table: 'usage', key: 'rowid', age: 't' },
  { table: 'lazy_pulls', key: 'rowid', age: 'at' },
  { table: 'reports', key: 'id', age: 'received_at' },
];

const AGED_BY_WALK: AgedByWalk[] = [
  // Containers whose pod never appeared (an event for a pod we never saw) age out by pull time.
  {
    table: 'containers',
    key: ['pod_uid', 'name'],
    old: 'pulled_at < ? AND pod_uid NOT IN (SELECT uid FROM pods)',
  },
  { table: 'hot_files', key: ['image', 'digest', 'path'], old: 'updated_at < ?' },
  { table: 'layer_nodes', key: ['image', 'digest', 'node'], old: 'updated_at < ?' },
  { table: 'build_layers', key: ['image', 'manifest', 'digest'], old: 'updated_at < ?' },
  { table: 'layers', key: ['image', 'digest'], old: 'updated_at < ?' },
  { table: 'image_builds', key: ['image', 'manifest'], old: 'updated_at < ?' },
  { table: 'nodes', key: ['node'], old: 'last_report_at < ?' },
];

export class HubRetention {
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  private readonly statements: StatementCache;

  constructor(db: DatabaseSync, clock: Clock) {
    this.db = db;
    this.clock = clock;
    this.statements = new StatementCache(db);
  }

  /**
   * Deletes history older than `retentionDays`; returns the number of rows deleted. Stops
   * between two batches once `signal` is aborted (the hub is closing).
   */
  async apply(retentionDays: number, signal?: AbortSignal): Promise<number> {
    const cutoff = this.clock.now() - retentionDays * 86_400_000;
    let deleted = 0;
    for (const rows of this.batches(cutoff)) {
      deleted += rows;
      // The next batch's frames go where this one's were, instead of growing the WAL.
      if (rows > 0) checkpointWal(this.db, 'PASSIVE');
      if (signal?.aborted) break;
      await nextTurn(); // requests and reports go on between two batches
    }
    checkpointWal(this.db, 'TRUNCATE'); // the WAL's space back to the volume
    return deleted;
  }

  /** Runs the deletes, one transaction per step; yields the rows each deleted. */
  private *batches(cutoff: number): Generator<number> {
    yield* this.oldPods(cutoff);
    for (const table of AGED_BY_INDEX) yield* this.oldestByIndex(table, cutoff);
    for (const table of AGED_BY_WALK) yield* this.walk(table, cutoff);
  }

  /** Old pods with their containers, oldest first. */
  private *oldPods(cutoff: number): Generator<number> {
    const oldest = this.statements.get(
      'SELECT uid FROM pods WHERE created_at < ? ORDER BY created_at LIMIT ?',
    );
    for (;;) {
      const uids = (oldest.all(cutoff, DELETE_BATCH_ROWS) as { uid: string }[]).map((r) => r.uid);
      if (uids.length === 0) return;
      const list = JSON.stringify(uids);
      yield this.transaction(
        () =>
          this.run(
            'DELETE FROM containers WHERE pod_uid IN (SELECT value FROM json_each(?))',
            list,
          ) + this.run('DELETE FROM pods WHERE uid IN (SELECT value FROM json_each(?))', list),
      );
    }
  }

  private *oldestByIndex({ table, key, age }: AgedByIndex, cutoff: number): Generator<number> {
    const sql = `DELETE FROM ${table} WHERE ${key} IN
      (SELECT ${key} FROM ${table} WHERE ${age} < ? ORDER BY ${age} LIMIT ?)`;
    for (;;) {
      const rows = this.transaction(() => this.run(sql, cutoff, DELETE_BATCH_ROWS));
      if (rows === 0) return;
      yield rows;
    }
  }

  /**
   * Walks a table in key order, WALK_BATCH_ROWS rows a step, and deletes the old rows of each
   * step's key range: every step costs the same whatever the table's size.
   */
  private *walk({ table, key, old }: AgedByWalk, cutoff: number): Generator<number> {
    const columns = key.join(', ');
    const tuple = `(${columns})`;
    const params = `(${key.map(() => '?').join(', ')})`;
    let after: SQLInputValue[] | null = null;
    for (;;) {
      const from: string = after ? `${tuple} > ${params}` : 'true';
      const end = this.statements
        .get(`SELECT ${columns} FROM ${table} WHERE ${from} ORDER BY ${columns} LIMIT 1 OFFSET ?`)
        .get(...(after ?? []), WALK_BATCH_ROWS - 1) as Record<string, SQLInputValue> | undefined;
      const upTo = end ? key.map((k) => end[k]) : null;
      const range = upTo ? `${from} AND ${tuple} <= ${params}` : from;
      const rows = this.transaction(() =>
        this.run(
          `DELETE FROM ${table} WHERE ${range} AND ${old}`,
          ...(after ?? []),
          ...(upTo ?? []),
          cutoff,
        ),
      );
      yield rows;
      if (!upTo) return;
      after = upTo;
    }
  }

  private run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.statements.get(sql).run(...params).changes);
  }

  private transaction(work: () => number): number {
    return immediateTransaction(this.db, work);
  }
}
