// Retention on a real SQLite file: it deletes in short batches between which the hub goes on
// serving, gives the WAL's space back, and frees a volume the hub filled: on a real tmpfs (root
// only: mount), writes stop before it is full, and resume once retention is lowered or time
// passes, with or without a restart.
import { execFileSync } from 'node:child_process';
import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { jest } from '@jest/globals';
import { request } from 'undici';

import { resolveHubConfig } from '../../src/hub/config.ts';
import { openDatabase } from '../../src/hub/db.ts';
import { DiskFullError, DiskRoom } from '../../src/hub/disk-room.ts';
import { HubIngest } from '../../src/hub/ingest.ts';
import { loadKubeConfig } from '../../src/hub/kube.ts';
import { HubRetention } from '../../src/hub/retention.ts';
import { startHub, type RunningHub } from '../../src/hub/server.ts';
import type { AgentReport } from '../../src/telemetry/report.ts';
import { makeReport, startTestHub, zeroLatency } from '../support/hub.ts';
import { freePort, makeTempDir, removeDir, waitFor } from '../support/tmp.ts';

jest.setTimeout(120_000);

const DAY = 86_400_000;
const MIB = 2 ** 20;
const NODE = 'worker-retention.ocp.example.com';

/** A report of a busy node: 20 images of 10 layers, each with 5 hot files (about 60 KiB of rows). */
function busyReport(windowEnd: number, seed: number): AgentReport {
  return makeReport({
    node: NODE,
    windowEnd: new Date(windowEnd).toISOString(),
    images: Array.from({ length: 20 }, (_, i) => ({
      image: `quay.io/example/app-${seed}-${i}:1`,
      digest: `sha256:${(seed * 100 + i).toString(16).padStart(64, '0')}`,
      compressedSizeBytes: 1000,
      layers: Array.from({ length: 10 }, (_, l) => ({
        digest: `sha256:${(seed * 10_000 + i * 100 + l).toString(16).padStart(64, 'f')}`,
        sizeBytes: 100,
        bytes: { onDemand: 1, prefetch: 1, background: 1 },
        chunkFetches: 1,
        latency: zeroLatency(),
        fetchedBytes: 10,
        prefetchUsedBytes: 1,
        hotFiles: Array.from({ length: 5 }, (_, h) => ({
          path: `/usr/lib/${'long-directory-name/'.repeat(4)}${seed}-${i}-${l}-${h}.so`,
          bytes: 1,
        })),
      })),
    })),
  });
}

/** Opens the database, runs `work`, and closes it whatever happens (the volume is unmounted next). */
async function withDatabase(
  path: string,
  work: (db: DatabaseSync) => void | Promise<void>,
): Promise<void> {
  const db = openDatabase(path);
  try {
    await work(db);
  } finally {
    db.close();
  }
}

const walBytes = (dbPath: string) => {
  try {
    return statSync(`${dbPath}-wal`).size;
  } catch {
    return 0;
  }
};

it('deletes in batches, serving between them, and truncates the WAL at the end', async () => {
  const dir = await makeTempDir('hub-retention');
  const dbPath = join(dir, 'hub.db');
  try {
    await withDatabase(dbPath, async (db) => {
      let now = Date.now() - 40 * DAY;
      const clock = { now: () => now };
      const ingest = new HubIngest(db, clock);
      for (let r = 0; r < 20; r++) ingest.ingestReport(busyReport(now, r));
      expect(walBytes(dbPath)).toBeGreaterThan(0);
      const rows = () =>
        (db.prepare('SELECT count(*) AS n FROM hot_files').get() as { n: number }).n;
      const before = rows();
      now += 40 * DAY;
      // Looked at on every turn of the event loop while retention runs.
      const seen = new Set<number>();
      let running = true;
      const watch = (async () => {
        while (running) {
          seen.add(rows());
          await nextTurn();
        }
      })();
      const deleted = await new HubRetention(db, clock).apply(30);
      running = false;
      await watch;
      expect(rows()).toBe(0);
      expect(deleted).toBeGreaterThan(before);
      // Partly deleted, seen from outside: the work was split, and others ran in between.
      expect([...seen].some((n) => n > 0 && n < before)).toBe(true);
      expect(walBytes(dbPath)).toBe(0);
    });
  } finally {
    await removeDir(dir);
  }
});

describe('on a volume the hub filled (tmpfs)', () => {
  const RESERVE = 4 * MIB;
  let dir: string;
  let dbPath: string;

  beforeEach(async () => {
    dir = await makeTempDir('hub-full');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m,mode=0700', 'slipstream-hub-test', dir]);
    dbPath = join(dir, 'hub.db');
  });

  afterEach(async () => {
    execFileSync('umount', [dir]);
    await removeDir(dir);
  });

  const freeOnVolume = () => {
    const volume = statfsSync(dir);
    return volume.bavail * volume.bsize;
  };

  /** Stores busy reports until the hub refuses one; returns how many it stored. */
  function fill(ingest: HubIngest, at: number, seed: number): number {
    for (let r = 0; ; r++) {
      try {
        ingest.ingestReport(busyReport(at, seed + r));
      } catch (error) {
        expect(error).toBeInstanceOf(DiskFullError);
        expect((error as Error).message).toMatch(/disk almost full: .* lower hub.retentionDays/);
        return r;
      }
    }
  }

  it('stops writing before the volume is full, and writes again once retention is lowered', async () => {
    const clock = { now: () => Date.now() - 20 * DAY };
    let stored = 0;
    await withDatabase(dbPath, (db) => {
      stored = fill(new HubIngest(db, clock, new DiskRoom(db, dbPath, RESERVE)), clock.now(), 0);
    });
    expect(stored).toBeGreaterThan(20);
    expect(freeOnVolume()).toBeGreaterThan(0);

    // Restarted with the same retention: nothing is old enough.
    clock.now = () => Date.now();
    await withDatabase(dbPath, async (db) => {
      const room = new DiskRoom(db, dbPath, RESERVE);
      expect(await new HubRetention(db, clock).apply(30)).toBe(0);
      // Retention lowered to 10 days: the 20-day-old history goes, and as much fits again.
      expect(await new HubRetention(db, clock).apply(10)).toBeGreaterThan(0);
      expect(walBytes(dbPath)).toBe(0);
      const again = fill(new HubIngest(db, clock, room), clock.now(), 1_000);
      expect(again).toBeGreaterThanOrEqual(stored * 0.9);
    });
  });

  it('answers 503 while it keeps the reserve, and takes reports again once time passes', async () => {
    const kube = await startTestHub({ tls: false });
    let now = Date.now() - 20 * DAY;
    let hub: RunningHub | undefined;
    try {
      hub = await startHub({
        config: resolveHubConfig({
          listen: `127.0.0.1:${await freePort()}`,
          insecureHttp: true,
          dbPath,
          retentionDays: 10,
          namespace: 'slipstream',
          logLevel: process.env.SLIPSTREAM_TEST_LOG ? 'debug' : 'silent',
        }),
        kubeConfig: loadKubeConfig(kube.kube.kubeconfigPath),
        clock: { now: () => now },
        limits: { diskReserveBytes: RESERVE, retentionEveryMs: 200 },
      });
      const post = async (report: AgentReport) => {
        const answer = await request(`${hub!.url}/api/v1/reports`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${kube.tokens.agent(NODE)}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(report),
        });
        return {
          status: answer.statusCode,
          body: (await answer.body.json()) as { message?: string },
        };
      };
      let refused: { status: number; body: { message?: string } } | undefined;
      for (let r = 0; !refused; r++) {
        const answer = await post(busyReport(now, r));
        if (answer.status !== 200) refused = answer;
      }
      expect(refused).toEqual({
        status: 503,
        body: expect.objectContaining({
          message: expect.stringMatching(/^database: disk almost full/),
        }),
      });
      expect(freeOnVolume()).toBeGreaterThan(0);
      now += 11 * DAY; // the hourly retention (here every 200 ms) finds it all old
      await waitFor(
        'a report stored again',
        async () => (await post(busyReport(now, 5_000))).status === 200,
      );
    } finally {
      await hub?.close();
      await kube.stop();
    }
  });
});
