// The hub's database on a real SQLite file: WAL, migrations, retention.
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { MIGRATIONS, openDatabase, schemaVersion } from '../../src/hub/db.ts';
import { HubIngest } from '../../src/hub/ingest.ts';
import { observePod } from '../../src/hub/pod-record.ts';
import { HubQueries } from '../../src/hub/queries.ts';
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

it('migrates a version 2 database: each pod gets the times of the first container that ran its image', () => {
  const path = join(dir, 'hub.db');
  const old = new DatabaseSync(path);
  old.exec(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)',
  );
  for (const version of [1, 2]) {
    old.exec(MIGRATIONS[version - 1]);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(version, Date.now());
  }
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

it('deletes history older than the retention period and keeps the rest', () => {
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
  const deleted = ingest.applyRetention(30);
  expect(deleted).toBeGreaterThan(0);
  const queries = new HubQueries(db, clock);
  const page = queries.pods({ limit: 50 });
  expect(page.items.map((p) => p.name)).toEqual(['recent-pod-1']);
  expect(db.prepare('SELECT count(*) AS n FROM containers').get()).toEqual({ n: 1 });
  db.close();
});
