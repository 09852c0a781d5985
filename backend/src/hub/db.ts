// The hub's SQLite database: WAL journal (readers never block the writer), and numbered
// migrations applied in order inside transactions, recorded in schema_migrations.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

import { LATENCY_BUCKET_COUNT } from '../telemetry/report.ts';

const latencyColumns = Array.from(
  { length: LATENCY_BUCKET_COUNT },
  (_, i) => `lat${i} INTEGER NOT NULL DEFAULT 0`,
).join(', ');

/** Migrations by version. Never edit a released one; append. */
export const MIGRATIONS: readonly string[] = [
  // 1: pods, containers, agent reports and what they carry.
  `
  CREATE TABLE pods (
    uid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    node TEXT,
    image TEXT,
    created_at INTEGER NOT NULL,
    scheduled_at INTEGER,
    ready_to_start_at INTEGER,
    first_started_at INTEGER,
    ready_at INTEGER,
    startup_seconds REAL,
    pull_seconds REAL,
    kind TEXT NOT NULL DEFAULT 'cached'
  );
  CREATE INDEX pods_created ON pods(created_at);
  CREATE INDEX pods_ns_created ON pods(namespace, created_at);
  CREATE INDEX pods_node_created ON pods(node, created_at);
  CREATE INDEX pods_image_kind_startup ON pods(image, kind, startup_seconds);
  CREATE INDEX pods_kind_created ON pods(kind, created_at);
  CREATE TABLE containers (
    pod_uid TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    image TEXT NOT NULL,
    image_raw TEXT NOT NULL,
    image_digest TEXT,
    started_at INTEGER,
    ready_at INTEGER,
    pulled_at INTEGER,
    pull_seconds REAL,
    pull_total_seconds REAL,
    image_size INTEGER,
    already_present INTEGER NOT NULL DEFAULT 0,
    lazy INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pod_uid, name)
  ) WITHOUT ROWID;
  CREATE INDEX containers_image ON containers(image);
  CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    received_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX reports_received ON reports(received_at);
  CREATE TABLE nodes (
    node TEXT PRIMARY KEY,
    agent_version TEXT NOT NULL,
    mount_state TEXT NOT NULL,
    mount_error TEXT,
    cache_used INTEGER NOT NULL,
    cache_cap INTEGER NOT NULL,
    layers_served INTEGER NOT NULL,
    last_report_at INTEGER NOT NULL,
    last_window_end INTEGER NOT NULL,
    registry_bytes REAL NOT NULL DEFAULT 0,
    registry_seconds REAL NOT NULL DEFAULT 0
  );
  CREATE TABLE images (
    image TEXT PRIMARY KEY,
    digest TEXT,
    compressed_size INTEGER,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE usage (
    t INTEGER NOT NULL,
    node TEXT NOT NULL,
    image TEXT NOT NULL,
    on_demand INTEGER NOT NULL,
    prefetch INTEGER NOT NULL,
    background INTEGER NOT NULL,
    chunk_fetches INTEGER NOT NULL,
    ${latencyColumns}
  );
  CREATE INDEX usage_t ON usage(t);
  CREATE INDEX usage_image_t ON usage(image, t);
  CREATE TABLE layers (
    image TEXT NOT NULL,
    digest TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL,
    on_demand INTEGER NOT NULL DEFAULT 0,
    prefetch INTEGER NOT NULL DEFAULT 0,
    background INTEGER NOT NULL DEFAULT 0,
    prefetch_used INTEGER NOT NULL DEFAULT 0,
    chunk_fetches INTEGER NOT NULL DEFAULT 0,
    latency TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image, digest)
  ) WITHOUT ROWID;
  CREATE TABLE layer_nodes (
    image TEXT NOT NULL,
    digest TEXT NOT NULL,
    node TEXT NOT NULL,
    fetched_bytes INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image, digest, node)
  ) WITHOUT ROWID;
  CREATE TABLE hot_files (
    image TEXT NOT NULL,
    digest TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image, digest, path)
  ) WITHOUT ROWID;
  CREATE TABLE lazy_pulls (
    node TEXT NOT NULL,
    image TEXT NOT NULL,
    digest TEXT,
    layers TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX lazy_pulls_node_image_at ON lazy_pulls(node, image, at);
  CREATE INDEX lazy_pulls_node_digest_at ON lazy_pulls(node, digest, at);
  CREATE INDEX lazy_pulls_at ON lazy_pulls(at);
  `,
  // 2: the savings baseline reads the latest normal pulls of an image (covering index).
  `CREATE INDEX pods_image_kind_created ON pods(image, kind, created_at, startup_seconds);`,
  // 3: the image and startup aggregates run in SQLite over a time window: covering indexes for the
  // window's pods and usage, and the pull and start of the container that ran the pod's image (the
  // first in the spec) kept on the pod row, so a window of lazy pods needs no container lookups.
  `
  CREATE INDEX pods_created_kind_image_startup ON pods(created_at, kind, image, startup_seconds);
  DROP INDEX usage_t;
  CREATE INDEX usage_t_image_bytes ON usage(t, image, on_demand, prefetch, background);
  ALTER TABLE pods ADD COLUMN image_pulled_at INTEGER;
  ALTER TABLE pods ADD COLUMN image_started_at INTEGER;
  UPDATE pods SET (image_pulled_at, image_started_at) = (
    SELECT c.pulled_at, c.started_at FROM containers c
    WHERE c.pod_uid = pods.uid AND c.image = pods.image ORDER BY c.position, c.name LIMIT 1);
  `,
  // 4: the pull time of the pod's image alone, for the estimated savings (pull_seconds sums every
  // container's pulls, sidecars' and init containers' included).
  `
  ALTER TABLE pods ADD COLUMN image_pull_seconds REAL;
  UPDATE pods SET image_pull_seconds = (
    SELECT c.pull_seconds FROM containers c
    WHERE c.pod_uid = pods.uid AND c.image = pods.image ORDER BY c.position, c.name LIMIT 1);
  `,
  // 5: a tag rebuilt and pulled again is a new build of the same reference: builds by manifest
  // digest, with their own size and layers, so that the reference shows its current build only
  // (the layers of every build piled up under the tag before, and the size with them), and a
  // lazy pod keeps the size of the build it ran for its savings estimate.
  `
  CREATE TABLE image_builds (
    image TEXT NOT NULL,
    manifest TEXT NOT NULL, -- '' when no agent said
    compressed_size INTEGER,
    first_reported_at INTEGER, -- the earliest window an agent reported it in
    pulled_at INTEGER, -- its latest lazy pull
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image, manifest)
  ) WITHOUT ROWID;
  -- The current build of an image in one index entry (images.ts, BUILD_SEEN_AT).
  CREATE INDEX image_builds_current ON image_builds(
    image, max(coalesce(pulled_at, 0), coalesce(first_reported_at, 0)), manifest);
  CREATE TABLE build_layers (
    image TEXT NOT NULL,
    manifest TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image, manifest, digest)
  ) WITHOUT ROWID;
  -- Every build a lazy pull named, with its latest pull and the layers the pulls served.
  INSERT INTO image_builds (image, manifest, pulled_at, updated_at)
    SELECT image, digest, max(at), max(at) FROM lazy_pulls WHERE digest IS NOT NULL
    GROUP BY image, digest;
  INSERT OR IGNORE INTO build_layers (image, manifest, digest, updated_at)
    SELECT p.image, p.digest, j.value, max(p.at) FROM lazy_pulls p, json_each(p.layers) j
    WHERE p.digest IS NOT NULL GROUP BY p.image, p.digest, j.value;
  -- The build each image was last reported with: its size, and current (reported last).
  INSERT INTO image_builds (image, manifest, compressed_size, first_reported_at, updated_at)
    SELECT image, coalesce(digest, ''), compressed_size, updated_at, updated_at FROM images WHERE true
    ON CONFLICT (image, manifest) DO UPDATE SET compressed_size = excluded.compressed_size,
      first_reported_at = excluded.first_reported_at,
      updated_at = max(updated_at, excluded.updated_at);
  -- Layers no pull named belong to that build.
  INSERT INTO build_layers (image, manifest, digest, updated_at)
    SELECT l.image, coalesce(i.digest, ''), l.digest, l.updated_at
    FROM layers l LEFT JOIN images i ON i.image = l.image
    WHERE NOT EXISTS (SELECT 1 FROM build_layers m WHERE m.image = l.image AND m.digest = l.digest);
  INSERT OR IGNORE INTO image_builds (image, manifest, first_reported_at, updated_at)
    SELECT image, manifest, max(updated_at), max(updated_at) FROM build_layers
    GROUP BY image, manifest;
  DROP TABLE images;
  -- The build a lazy pod ran: that of the latest lazy pull of its image on its node while it
  -- started (as HubIngest.refreshPod matches them), else the digest its kubelet reported.
  ALTER TABLE pods ADD COLUMN image_digest TEXT;
  UPDATE pods SET image_digest = coalesce(
    (SELECT lp.digest FROM lazy_pulls lp
     WHERE lp.node = pods.node AND lp.image = pods.image AND lp.digest IS NOT NULL
       AND lp.at BETWEEN pods.created_at - 60000
         AND coalesce(pods.image_started_at, pods.image_pulled_at, pods.created_at + 3600000) + 60000
     ORDER BY lp.at DESC LIMIT 1),
    (SELECT c.image_digest FROM containers c
     WHERE c.pod_uid = pods.uid AND c.image = pods.image ORDER BY c.position, c.name LIMIT 1))
  WHERE kind = 'lazy';
  `,
];

/** Prepared statements of one connection by their SQL, each prepared once. */
export class StatementCache {
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  get(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/** WAL pages written between two automatic checkpoints. */
const WAL_AUTOCHECKPOINT_PAGES = 4000;

/**
 * Copies the WAL into the database. PASSIVE lets the next writes start the WAL over (they reuse
 * its file instead of growing it); TRUNCATE also cuts the file to nothing, which gives its disk
 * space back to the volume. Returns false when readers kept it from completing.
 */
export function checkpointWal(db: DatabaseSync, mode: 'PASSIVE' | 'TRUNCATE'): boolean {
  const { busy } = db.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as { busy: number };
  return busy === 0;
}

/**
 * Runs `work` in one write transaction (taken at once: no upgrade from a read lock to fail
 * later) and commits it, or rolls it back when `work` throws.
 */
export function immediateTransaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    // SQLite rolls back by itself on some errors (a full disk): a ROLLBACK then would throw
    // and hide the error that matters.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

export class DatabaseError extends Error {
  override readonly name = 'DatabaseError';
}

/** Opens (creating if needed) the hub database and brings its schema up to date. */
export function openDatabase(path: string): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (error) {
    throw new DatabaseError(`cannot open hub database ${path}: ${(error as Error).message}`);
  }
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL'); // WAL + NORMAL: durable across process crashes
    db.exec('PRAGMA busy_timeout = 5000');
    // Checkpoint every ~16 MiB of WAL rather than 4 MiB: fewer fsyncs under a steady report stream.
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    // A WAL that a burst grew past that is cut back when it restarts (it never shrinks otherwise).
    db.exec(`PRAGMA journal_size_limit = ${WAL_AUTOCHECKPOINT_PAGES * 4096}`);
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db);
  } catch (error) {
    db.close();
    // A file that is not a database, or a damaged one, is found here (opening is lazy).
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(`cannot use hub database ${path}: ${(error as Error).message}`);
  }
  return db;
}

export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as
    { v: number | null } | undefined;
  return row?.v ?? 0;
}

function migrate(db: DatabaseSync): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new DatabaseError(
      `hub database schema version ${current} is newer than this hub (${MIGRATIONS.length}); upgrade the hub`,
    );
  }
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    try {
      immediateTransaction(db, () => {
        db.exec(MIGRATIONS[version - 1]);
        db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
          version,
          Date.now(),
        );
      });
    } catch (error) {
      throw new DatabaseError(
        `hub database migration ${version} failed: ${(error as Error).message}`,
      );
    }
  }
}
