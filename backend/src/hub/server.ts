// `slipstream hub`: opens the database, starts the cluster watchers and serves the API.
import { readFile } from 'node:fs/promises';
import type { DatabaseSync } from 'node:sqlite';

import type { KubeConfig } from '@kubernetes/client-node';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';

import { systemClock, type Clock } from '../telemetry/collector.ts';
import { parseListenAddress } from '../telemetry/metrics-server.ts';
import { registerRoutes } from './api.ts';
import { KubeAccessReviewer, type AccessReviewer } from './auth.ts';
import type { HubConfig } from './config.ts';
import { openDatabase } from './db.ts';
import { HubIngest } from './ingest.ts';
import { loadKubeConfig, watchCluster, type ClusterWatch } from './kube.ts';
import { HubMetrics } from './metrics.ts';
import { HubQueries } from './queries.ts';
import { ReportBatcher } from './report-batcher.ts';

export interface HubOptions {
  config: HubConfig;
  clock?: Clock;
  /** Overrides the kubeconfig file / in-cluster config. */
  kubeConfig?: KubeConfig;
  logger?: Logger;
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
/** Reports carry up to 256 images × 512 layers; the JSON can get large. */
const BODY_LIMIT = 16 * 1024 * 1024;

export async function startHub(opts: HubOptions): Promise<RunningHub> {
  const { config } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: config.logLevel, name: 'slipstream-hub' });
  const kc = opts.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const db = openDatabase(config.dbPath);
  const ingest = new HubIngest(db, clock);
  const queries = new HubQueries(db, clock);
  const reviewer: AccessReviewer = new KubeAccessReviewer(kc);
  const metrics = new HubMetrics({
    db,
    dbPath: config.dbPath,
    // Read at scrape time only, when the server (and so the watch below) exists.
    informers: () => cluster.informers(),
  });
  const retention = () => {
    try {
      const deleted = ingest.applyRetention(config.retentionDays);
      metrics.retentionApplied(deleted);
      if (deleted > 0)
        log.info({ deleted, retentionDays: config.retentionDays }, 'retention applied');
    } catch (error) {
      log.error({ err: (error as Error).message }, 'retention failed');
    }
  };
  retention();
  const retentionTimer = setInterval(retention, RETENTION_EVERY_MS);
  retentionTimer.unref();
  const cluster: ClusterWatch = watchCluster(kc, ingest, log);
  let app: FastifyInstance;
  try {
    app = await buildServer(config, log);
    registerRoutes(app, {
      config,
      queries,
      reports: new ReportBatcher(ingest),
      reviewer,
      cluster,
      metrics,
    });
    const { host, port } = parseListenAddress(config.listen);
    await app.listen({ host, port });
  } catch (error) {
    clearInterval(retentionTimer);
    await cluster.stop();
    db.close();
    throw error;
  }
  const address = app.server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  const { host } = parseListenAddress(config.listen);
  const scheme = config.tls ? 'https' : 'http';
  const urlHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
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
      clearInterval(retentionTimer);
      await app.close();
      await cluster.stop();
      db.close();
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
