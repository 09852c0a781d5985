// The hub's own Prometheus metrics (`slipstream_hub_*`), in their own registry. Labels come from
// closed sets only: route templates (never raw URLs, which carry query strings and image names),
// status classes, HTTP methods folded to GET/POST/other, rejection reasons, informer names.
import { statSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { DiskRoom } from './disk-room.ts';

/** Why an agent report was refused. */
export const ReportRejections = [
  'unauthenticated',
  'forbidden',
  'wrong-node',
  'malformed',
  'too-large',
  'unavailable',
  'other',
] as const;
export type ReportRejection = (typeof ReportRejections)[number];

/** The informers the hub runs, and how they are doing. */
export interface InformerState {
  informer: string;
  /** Listed, and not failing since. */
  synced: boolean;
  /** Times list/watch failed and was restarted. */
  restarts: number;
}

export interface HubMetricSources {
  db: DatabaseSync;
  dbPath: string;
  /** Room left for writes (see DiskRoom). */
  room?: Pick<DiskRoom, 'available'>;
  informers: () => InformerState[];
}

/** Unmatched URLs (404s) share one label value, so scanners cannot grow the label set. */
export const UNMATCHED_ROUTE = 'unmatched';

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const methodLabel = (method: string) => (method === 'GET' || method === 'POST' ? method : 'other');
const statusClass = (status: number) => `${Math.trunc(status / 100)}xx`;

/** Reads a file's size, 0 when it does not exist (the WAL is absent after a clean close). */
function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export class HubMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status_class'>;
  private readonly requestDuration: Histogram<'route' | 'method'>;
  private readonly ingested: Counter;
  private readonly rejected: Counter<'reason'>;
  private readonly duplicates: Counter;
  private readonly retentionDeleted: Counter;
  private readonly layersDropped: Counter;

  constructor(sources: HubMetricSources, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'slipstream_hub_' });
    this.requests = new Counter({
      name: 'slipstream_hub_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status class',
      labelNames: ['route', 'method', 'status_class'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'slipstream_hub_http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, by route template and method',
      labelNames: ['route', 'method'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.ingested = new Counter({
      name: 'slipstream_hub_reports_ingested_total',
      help: 'Agent reports stored',
      registers,
    });
    this.rejected = new Counter({
      name: 'slipstream_hub_reports_rejected_total',
      help: 'Agent reports refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'slipstream_hub_reports_duplicate_total',
      help: 'Agent reports received again (resent after a lost answer) and not stored twice',
      registers,
    });
    this.retentionDeleted = new Counter({
      name: 'slipstream_hub_retention_deleted_rows_total',
      help: 'Database rows deleted because they were older than the retention period',
      registers,
    });
    this.layersDropped = new Counter({
      name: 'slipstream_hub_report_layers_dropped_total',
      help: 'Layers of an image in a report beyond the per-image limit, not stored',
      registers,
    });
    for (const reason of ReportRejections) this.rejected.labels(reason).inc(0);
    this.registerCollected(sources, registers);
  }

  /** Gauges read when Prometheus scrapes, so they cost nothing in between. */
  private registerCollected(sources: HubMetricSources, registers: Registry[]): void {
    const countPods = sources.db.prepare('SELECT count(*) AS n FROM pods');
    new Gauge({
      name: 'slipstream_hub_pod_records',
      help: 'Pod startup records in the database',
      registers,
      collect() {
        this.set((countPods.get() as { n: number }).n);
      },
    });
    new Gauge({
      name: 'slipstream_hub_database_size_bytes',
      help: 'Size of the SQLite database on disk, write-ahead log included',
      registers,
      collect() {
        const { dbPath } = sources;
        this.set(fileSize(dbPath) + fileSize(`${dbPath}-wal`) + fileSize(`${dbPath}-shm`));
      },
    });
    const { room } = sources;
    if (room) {
      new Gauge({
        name: 'slipstream_hub_database_available_bytes',
        help: 'Bytes the hub may still write: free on its volume plus free pages in its database; writes stop below a reserve',
        registers,
        collect() {
          const available = room.available();
          if (Number.isFinite(available)) this.set(Math.max(0, available));
        },
      });
    }
    new Gauge({
      name: 'slipstream_hub_informer_synced',
      help: '1 when the informer has listed and its watch is not failing, else 0',
      labelNames: ['informer'],
      registers,
      collect() {
        for (const s of sources.informers()) this.labels(s.informer).set(s.synced ? 1 : 0);
      },
    });
    new Counter({
      name: 'slipstream_hub_informer_restarts_total',
      help: 'Times an informer failed to list/watch and was restarted',
      labelNames: ['informer'],
      registers,
      collect() {
        // The informers keep the count; mirror it (a counter cannot be set directly).
        this.reset();
        for (const s of sources.informers()) this.labels(s.informer).inc(s.restarts);
      },
    });
  }

  /** `route` is the route template (e.g. /api/v1/pods), or UNMATCHED_ROUTE. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const m = methodLabel(method);
    this.requests.labels(route, m, statusClass(status)).inc();
    this.requestDuration.labels(route, m).observe(seconds);
  }

  reportStored(duplicate: boolean): void {
    if (duplicate) this.duplicates.inc();
    else this.ingested.inc();
  }

  reportLayersDropped(layers: number): void {
    this.layersDropped.inc(layers);
  }

  reportRejected(reason: ReportRejection): void {
    this.rejected.labels(reason).inc();
  }

  retentionApplied(deletedRows: number): void {
    this.retentionDeleted.inc(deletedRows);
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** The rejection reason an HTTP status of POST /api/v1/reports stands for. */
export function rejectionForStatus(status: number): ReportRejection {
  switch (status) {
    case 400:
    case 415:
      return 'malformed';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 413:
      return 'too-large';
    case 503:
      return 'unavailable';
    default:
      return 'other';
  }
}
