// The hub's database on a real SQLite file: WAL, migrations, retention.
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { MIGRATIONS, openDatabase, schemaVersion } from '../../src/hub/db.ts';
import { HubIngest } from '../../src/hub/ingest.ts';
import { observePod } from '../../src/hub/pod-record.ts';
import { HubQueries } from '../../src/hub/queries.ts';
import { HubRetention } from '../../src/hub/retention.ts';
import { makeReport } from '../support/hub.ts';
import { podPhases } from '../support/kube-fixtures.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

let dir: string;

beforeEach(async () => {
  dir = await makeTempDir('hub-db');
});

afterEach(async () => {
  await removeDir(dir);
});

it('creates the schema once, in WAL mode, and reopens without migrating again', () => {
  const path = join(dir, 'sub', 'hub.db');
  const db = openDatabase(path);
  expect(schemaVersion(db)).toBe(MIGRATIONS.length);
  expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
  db.close();
  const again = openDatabase(path);
  expect(
    (again.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n,
  ).toBe(MIGRATIONS.length);
  again.close();
});

it('refuses a database written by a newer hub', () => {
  const path = join(dir, 'hub.db');
  openDatabase(path).close();
  const raw = new DatabaseSync(path);
  raw
    .prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
    .run(MIGRATIONS.length + 1, Date.now());
  raw.close();
  expect(() => openDatabase(path)).toThrow(/newer than this hub/);
});

/** A database at schema `version`, as the hub of that version left it. */
function databaseAt(path: string, version: number): DatabaseSync {
  const old = new DatabaseSync(path);
  old.exec(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  for (let v = 1; v <= version; v++) {
    old.exec(MIGRATIONS[v - 1]);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(v, Date.now());
  }
  return old;
}

it('migrates a version 2 database: each pod gets the times of the first container that ran its image', () => {
  const path = join(dir, 'hub.db');
  const old = databaseAt(path, 2);
  const pod = old.prepare(
    `INSERT INTO pods (uid, namespace, name, node, image, created_at, kind)
     VALUES (?, 'ns', ?, 'worker-1', 'quay.io/a/app:1', 1000, 'lazy')`,
  );
  pod.run('two', 'two-containers');
  pod.run('none', 'no-containers');
  const container = old.prepare(
    `INSERT INTO containers (pod_uid, name, position, image, image_raw, pulled_at, started_at)
     VALUES ('two', ?, ?, ?, 'app', ?, ?)`,
  );
  container.run('aa-side', 2, 'quay.io/a/app:1', 9000, 12000);
  container.run('zz-app', 1, 'quay.io/a/app:1', 5000, 11000);
  container.run('init', 0, 'quay.io/a/other:1', 2000, 3000);
  old.close();
  const db = openDatabase(path);
  expect(schemaVersion(db)).toBe(MIGRATIONS.length);
  expect(
    db.prepare('SELECT uid, image_pulled_at, image_started_at FROM pods ORDER BY uid').all(),
  ).toEqual([
    { uid: 'none', image_pulled_at: null, image_started_at: null },
    { uid: 'two', image_pulled_at: 5000, image_started_at: 11000 },
  ]);
  db.close();
});

it('migrates a version 4 database: each image shows the layers of its current build, each lazy pod keeps its build', () => {
  const path = join(dir, 'hub.db');
  const old = databaseAt(path, 4);
  const [buildA, buildB] = [`sha256:${'a0'.repeat(32)}`, `sha256:${'b0'.repeat(32)}`];
  const layer = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
  const rebuilt = 'quay.io/example/rebuilt:latest';
  const unnamed = 'quay.io/example/unnamed:1';
  // A tag built twice: the hub kept the last build's digest and size, and the layers of both.
  old.prepare('INSERT INTO images VALUES (?, ?, ?, ?)').run(rebuilt, buildB, 700, 900_000);
  old.prepare('INSERT INTO images VALUES (?, NULL, NULL, ?)').run(unnamed, 900_000);
  const addLayer = old.prepare(
    `INSERT INTO layers (image, digest, position, size_bytes, latency, updated_at)
     VALUES (?, ?, 0, ?, '[0,0,0,0,0,0,0,0,0,0,0,0,0,0]', 900000)`,
  );
  addLayer.run(rebuilt, layer(1), 100);
  addLayer.run(rebuilt, layer(2), 200);
  addLayer.run(rebuilt, layer(3), 500);
  addLayer.run(unnamed, layer(9), 42);
  const pull = old.prepare(
    "INSERT INTO lazy_pulls (node, image, digest, layers, at) VALUES ('worker-1', ?, ?, ?, ?)",
  );
  pull.run(rebuilt, buildA, JSON.stringify([layer(1), layer(2)]), 10_000);
  pull.run(rebuilt, buildB, JSON.stringify([layer(2), layer(3)]), 500_000);
  const pod = old.prepare(
    `INSERT INTO pods (uid, namespace, name, node, image, created_at, image_started_at, kind)
     VALUES (?, 'ns', ?, 'worker-1', ?, ?, ?, ?)`,
  );
  pod.run('a', 'ran-build-a', rebuilt, 5_000, 15_000, 'lazy');
  pod.run('b', 'ran-build-b', rebuilt, 495_000, 505_000, 'lazy');
  pod.run('n', 'normal', rebuilt, 495_000, 505_000, 'normal');
  old.close();

  const db = openDatabase(path);
  expect(schemaVersion(db)).toBe(MIGRATIONS.length);
  const queries = new HubQueries(db, { now: () => 1_000_000 });
  const shown = (image: string) => {
    const page = queries.layers({ image, limit: 50 });
    return { build: page.manifestDigest, layers: page.items.map((l) => l.digest).sort() };
  };
  expect(shown(rebuilt)).toEqual({ build: buildB, layers: [layer(2), layer(3)] });
  expect(shown(unnamed)).toEqual({ build: null, layers: [layer(9)] });
  expect(
    db
      .prepare(
        'SELECT manifest, compressed_size FROM image_builds WHERE image = ? ORDER BY manifest',
      )
      .all(rebuilt),
  ).toEqual([
    { manifest: buildA, compressed_size: null },
    { manifest: buildB, compressed_size: 700 },
  ]);
  expect(db.prepare('SELECT uid, image_digest FROM pods ORDER BY uid').all()).toEqual([
    { uid: 'a', image_digest: buildA },
    { uid: 'b', image_digest: buildB },
    { uid: 'n', image_digest: null },
  ]);
  db.close();
});

it('deletes history older than the retention period and keeps the rest', async () => {
  const now = Date.parse('2026-11-22T08:00:00Z');
  const clock = { now: () => now };
  const db = openDatabase(join(dir, 'hub.db'));
  const ingest = new HubIngest(db, clock);
  const day = 86_400_000;
  for (const [name, age] of [
    ['old-pod-1', 40 * day],
    ['recent-pod-1', 2 * day],
  ] as const) {
    const phases = podPhases({
      namespace: 'retention',
      name,
      node: 'worker-1',
      containers: [
        { name: 'app', image: 'busybox:1.36', imageDigest: `sha256:${'11'.repeat(32)}` },
      ],
      createdAt: now - age,
      scheduledAfter: 1,
      sandboxReadyAfter: 2,
      startedAfter: 3,
      readyAfter: 4,
      uid: `uid-${name}`,
    });
    ingest.upsertPod(observePod(phases[phases.length - 1])!);
  }
  ingest.ingestReport(
    makeReport({ node: 'worker-1', windowEnd: new Date(now - 40 * day).toISOString() }),
  );
  const deleted = await new HubRetention(db, clock).apply(30);
  expect(deleted).toBeGreaterThan(0);
  const queries = new HubQueries(db, clock);
  const page = queries.pods({ limit: 50 });
  expect(page.items.map((p) => p.name)).toEqual(['recent-pod-1']);
  expect(db.prepare('SELECT count(*) AS n FROM containers').get()).toEqual({ n: 1 });
  db.close();
});
