// `slipstream hub`: opens the database, starts the cluster watchers and serves the API.
import { readFile } from 'node:fs/promises';
import type { DatabaseSync } from 'node:sqlite';

import type { KubeConfig } from '@kubernetes/client-node';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';

import { systemClock, type Clock } from '../telemetry/collector.ts';
import { listenOn, parseListenAddress } from '../telemetry/metrics-server.ts';
import { registerRoutes } from './api.ts';
import { KubeAccessReviewer, type AccessReviewer } from './auth.ts';
import type { HubConfig } from './config.ts';
import { checkpointWal, openDatabase } from './db.ts';
import { DiskRoom } from './disk-room.ts';
import { HubIngest } from './ingest.ts';
import { loadKubeConfig, watchCluster, type ClusterWatch } from './kube.ts';
import { HubMetrics } from './metrics.ts';
import { HubQueries } from './queries.ts';
import { ReportBatcher } from './report-batcher.ts';
import { HubRetention } from './retention.ts';

export interface HubOptions {
  config: HubConfig;
  clock?: Clock;
  /** Overrides the kubeconfig file / in-cluster config. */
  kubeConfig?: KubeConfig;
  logger?: Logger;
  /** Overrides of the time limits (tests): a request to arrive whole, requests at close, reviews. */
  limits?: {
    requestTimeoutMs?: number;
    closeGraceMs?: number;
    reviewTimeoutMs?: number;
    /** How often the TLS certificate files are read again (default 60 s). */
    certificateCheckMs?: number;
    /** How often retention runs (default hourly) and the WAL is truncated (default 5 min). */
    retentionEveryMs?: number;
    walTruncateEveryMs?: number;
    /** Space kept free on the database's volume (default DISK_RESERVE_BYTES). */
    diskReserveBytes?: number;
  };
}

export interface RunningHub {
  /** Base URL, e.g. https://127.0.0.1:8443 */
  url: string;
  port: number;
  db: DatabaseSync;
  ingest: HubIngest;
  queries: HubQueries;
  metrics: HubMetrics;
  /** Resolves once the pod and event informers have listed once. */
  synced(): Promise<void>;
  close(): Promise<void>;
}

const RETENTION_EVERY_MS = 3_600_000;
/** The WAL file never shrinks by itself: its space goes back to the volume this often. */
const WAL_TRUNCATE_EVERY_MS = 300_000;
/** Reports carry up to 256 images × 512 layers; the JSON can get large. */
const BODY_LIMIT = 16 * 1024 * 1024;
/** A request must arrive whole within this (see cutSlowRequests). */
const REQUEST_TIMEOUT_MS = 30_000;
/** At close, requests still in progress after this are cut (their clients retry). */
const CLOSE_GRACE_MS = 5_000;
/** The service-ca operator renews the serving certificate in place: looked at this often. */
const CERTIFICATE_CHECK_MS = 60_000;

export async function startHub(opts: HubOptions): Promise<RunningHub> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: config.logLevel, name: 'slipstream-hub' });
  const kc = opts.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const db = openDatabase(config.dbPath);
  const limits = opts.limits ?? {};
  const room = new DiskRoom(db, config.dbPath, limits.diskReserveBytes);
  const ingest = new HubIngest(db, clock, room);
  const queries = new HubQueries(db, clock);
  const reviewer: AccessReviewer = new KubeAccessReviewer(kc, {
    reviewTimeoutMs: limits.reviewTimeoutMs,
  });
  const metrics = new HubMetrics({
    db,
    dbPath: config.dbPath,
    room,
    // Read at scrape time only, when the server (and so the watch below) exists.
    informers: () => cluster.informers(),
  });
  const housekeeping = startHousekeeping(db, clock, config, metrics, log, limits);
  await housekeeping.firstRetention;
  const cluster: ClusterWatch = watchCluster(kc, ingest, log);
  let app: FastifyInstance;
  let certificateTimer: NodeJS.Timeout | undefined;
  try {
    app = await buildServer(config, log);
    cutSlowRequests(app, limits.requestTimeoutMs ?? REQUEST_TIMEOUT_MS);
    if (config.tls) {
      certificateTimer = reloadCertificate(
        app,
        config.tls,
        log,
        limits.certificateCheckMs ?? CERTIFICATE_CHECK_MS,
      );
    }
    registerRoutes(app, {
      config,
      queries,
      reports: new ReportBatcher(ingest),
      reviewer,
      cluster,
      metrics,
    });
    await listenOn(parseListenAddress(config.listen), (host, port) => app.listen({ host, port }));
  } catch (error) {
    await housekeeping.stop();
    clearInterval(certificateTimer);
    await cluster.stop();
    db.close();
    throw error;
  }
  const address = app.server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  const { host } = parseListenAddress(config.listen);
  const scheme = config.tls ? 'https' : 'http';
  const urlHost =
    host === '' || host === '0.0.0.0' || host === '::'
      ? '127.0.0.1'
      : host.includes(':')
        ? `[${host}]`
        : host;
  log.info({ url: `${scheme}://${urlHost}:${port}`, db: config.dbPath }, 'hub listening');
  return {
    url: `${scheme}://${urlHost}:${port}`,
    port,
    db,
    ingest,
    queries,
    metrics,
    synced: () => cluster.synced(),
    close: async () => {
      await housekeeping.stop();
      clearInterval(certificateTimer);
      const cut = setTimeout(
        () => app.server.closeAllConnections(),
        limits.closeGraceMs ?? CLOSE_GRACE_MS,
      );
      await app.close();
      clearTimeout(cut);
      await cluster.stop();
      db.close();
    },
  };
}

/**
 * Retention at start and then hourly (one run at a time), and the WAL truncated every few
 * minutes. Retention deletes in short batches between which requests are served; `stop` lets the
 * batch under way finish and waits for it, so that the database can be closed.
 */
function startHousekeeping(
  db: DatabaseSync,
  clock: Clock,
  config: HubConfig,
  metrics: HubMetrics,
  log: Logger,
  limits: NonNullable<HubOptions['limits']>,
): { firstRetention: Promise<void>; stop(): Promise<void> } {
  const retention = new HubRetention(db, clock);
  const stopping = new AbortController();
  const runRetention = async (): Promise<void> => {
    try {
      const deleted = await retention.apply(config.retentionDays, stopping.signal);
      metrics.retentionApplied(deleted);
      if (deleted > 0)
        log.info({ deleted, retentionDays: config.retentionDays }, 'retention applied');
    } catch (error) {
      log.error({ err: (error as Error).message }, 'retention failed');
    }
  };
  let underway: Promise<void> | undefined;
  const applyRetention = (): Promise<void> => {
    underway ??= runRetention().finally(() => (underway = undefined));
    return underway;
  };
  const truncateWal = (): void => {
    try {
      checkpointWal(db, 'TRUNCATE');
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'WAL checkpoint failed');
    }
  };
  const timers = [
    setInterval(() => void applyRetention(), limits.retentionEveryMs ?? RETENTION_EVERY_MS),
    setInterval(truncateWal, limits.walTruncateEveryMs ?? WAL_TRUNCATE_EVERY_MS),
  ];
  for (const timer of timers) timer.unref();
  return {
    firstRetention: applyRetention(),
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      stopping.abort();
      await underway;
    },
  };
}

async function buildServer(config: HubConfig, log: Logger): Promise<FastifyInstance> {
  const common = {
    loggerInstance: log,
    bodyLimit: BODY_LIMIT,
    // Per-request logs would drown the log in agent reports; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  };
  if (!config.tls) return Fastify(common) as unknown as FastifyInstance;
  const [cert, key] = await Promise.all([
    readFile(config.tls.certFile),
    readFile(config.tls.keyFile),
  ]);
  return Fastify({ ...common, https: { cert, key } }) as unknown as FastifyInstance;
}

/**
 * Reads the certificate and key again every `everyMs` and serves new connections with them once
 * they changed: the service-ca operator renews the serving certificate (and, at a CA rotation,
 * re-signs it) in the mounted Secret while the hub runs for months. A pair that does not load (a
 * half-written update) is logged and the old one kept until the next look.
 */
function reloadCertificate(
  app: FastifyInstance,
  tls: { certFile: string; keyFile: string },
  log: Logger,
  everyMs: number,
): NodeJS.Timeout {
  let current: { cert: Buffer; key: Buffer } | undefined;
  const check = async (): Promise<void> => {
    const [cert, key] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile)]);
    current ??= { cert, key };
    if (cert.equals(current.cert) && key.equals(current.key)) return;
    (app.server as unknown as { setSecureContext(options: object): void }).setSecureContext({
      cert,
      key,
    });
    current = { cert, key };
    log.info({ certFile: tls.certFile }, 'TLS certificate reloaded');
  };
  void check().catch(() => undefined); // the pair the server started with
  const timer = setInterval(() => {
    check().catch((error: unknown) => {
      log.error(
        { err: (error as Error).message },
        'TLS certificate not reloaded; keeping the old one',
      );
    });
  }, everyMs);
  timer.unref();
  return timer;
}

/**
 * A request must be in, body and all, within `ms` of its headers: a client trickling its body
 * (or sending half of it and stopping) would otherwise hold its connection and the memory of its
 * body for ever, and hold the hub's shutdown too. Node's own requestTimeout is checked only every
 * 30 s; this is exact.
 */
function cutSlowRequests(app: FastifyInstance, ms: number): void {
  const deadlines = new WeakMap<FastifyRequest, NodeJS.Timeout>();
  app.addHook('onRequest', (req, _reply, done) => {
    deadlines.set(
      req,
      setTimeout(() => req.raw.socket.destroy(), ms),
    );
    done();
  });
  const settled = (req: FastifyRequest, _reply: unknown, done: () => void) => {
    clearTimeout(deadlines.get(req));
    done();
  };
  app.addHook('preValidation', settled); // the body is in
  app.addHook('onResponse', settled); // answered before its body was read (e.g. 401)
  app.addHook('onRequestAbort', (req, done) => settled(req, undefined, done));
}
