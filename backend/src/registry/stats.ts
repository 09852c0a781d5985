// Byte and latency accounting for everything the registry client sends. The telemetry engine
// subscribes with `stats.on('request', listener)`; totals are kept here for cheap polling.
import { EventEmitter } from 'node:events';

/** What a request was for; lets telemetry split traffic without parsing URLs. */
export type RequestPurpose = 'manifest' | 'blob-range' | 'blob' | 'token' | 'upload' | 'probe';

export interface RequestEvent {
  /** Host the bytes came from (a redirect target shows as its own host). */
  host: string;
  purpose: RequestPurpose;
  method: string;
  /** HTTP status, or undefined when no response arrived. */
  status: number | undefined;
  /** Response body bytes received (what the network carried, even if rejected later). */
  bytes: number;
  /** Time to response headers. */
  firstByteMs: number | undefined;
  /** Time until the body was consumed or the request failed. */
  durationMs: number;
  /** 1 for the first attempt of an operation, 2+ for retries. */
  attempt: number;
  /** Error kind when the attempt failed. */
  error?: string;
}

export interface StatsTotals {
  requests: number;
  bytes: number;
  errors: number;
  retries: number;
  bytesByPurpose: Record<RequestPurpose, number>;
}

export class RegistryStats extends EventEmitter<{ request: [RequestEvent] }> {
  readonly totals: StatsTotals = {
    requests: 0,
    bytes: 0,
    errors: 0,
    retries: 0,
    bytesByPurpose: { manifest: 0, 'blob-range': 0, blob: 0, token: 0, upload: 0, probe: 0 },
  };

  record(event: RequestEvent): void {
    this.totals.requests++;
    this.totals.bytes += event.bytes;
    this.totals.bytesByPurpose[event.purpose] += event.bytes;
    if (event.error) this.totals.errors++;
    if (event.attempt > 1) this.totals.retries++;
    this.emit('request', event);
  }
}
