// The agent's Prometheus metrics, behind a typed API so that call sites never touch label names.
// Label values come from small closed sets (FUSE op names, fallback reasons, verification kinds) or
// from layer digests, which are bounded by what is mounted and removed again on unmount; never paths.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Why a lookup fell back to a normal pull. Anything else is reported as `other`. */
export const FallbackReasons = [
  'timeout',
  'not-lazy-format',
  'registry-error',
  'auth',
  'verification',
  'unsupported-manifest',
  'other',
] as const;
export type FallbackReason = (typeof FallbackReasons)[number];

/** FUSE operations we time; others are folded into `other` to bound the label set. */
export const FuseOps = [
  'lookup',
  'getattr',
  'open',
  'read',
  'readdir',
  'readdirplus',
  'readlink',
  'getxattr',
  'listxattr',
  'statfs',
  'release',
  'forget',
  'init',
  'other',
] as const;
export type FuseOp = (typeof FuseOps)[number];

export const VerificationKinds = ['toc', 'chunk', 'manifest', 'blob'] as const;
export type VerificationKind = (typeof VerificationKinds)[number];

const FETCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FUSE_BUCKETS = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.1, 1, 10];
const LONG_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];

function oneOf<T extends string>(allowed: readonly T[], value: string, fallback: T): T {
  return (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

export interface CacheState {
  usedBytes: number;
  limitBytes: number;
}

/** All `slipstream_*` metrics of one agent, in their own registry. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly onDemandFetches: Counter;
  private readonly onDemandBytes: Counter;
  private readonly onDemandHedged: Counter;
  private readonly onDemandLatency: Histogram;
  private readonly prefetchBytes: Counter;
  private readonly prefetchDuration: Histogram;
  private readonly backgroundBytes: Counter;
  private readonly layerFetched: Gauge<'layer'>;
  private readonly layerSize: Gauge<'layer'>;
  private readonly mountToLastOnDemand: Gauge<'layer'>;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly cacheWriteErrors: Counter<'code'>;
  private readonly cacheCorruptChunks: Counter;
  private readonly cacheUsed: Gauge;
  private readonly cacheLimit: Gauge;
  private readonly verificationFailures: Counter<'kind'>;
  #cacheState: (() => CacheState) | undefined;
  private readonly lookups: Counter<'result' | 'reason'>;
  private readonly fuseLatency: Histogram<'op'>;
  private readonly reportsSent: Counter;
  private readonly reportsDropped: Counter;
  private readonly spoolBytes: Gauge;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics)
      collectDefaultMetrics({ register: this.registry, prefix: 'slipstream_' });
    this.onDemandFetches = new Counter({
      name: 'slipstream_ondemand_chunk_fetches_total',
      help: 'Chunks fetched from the registry because a container read them',
      registers,
    });
    this.onDemandBytes = new Counter({
      name: 'slipstream_ondemand_fetched_bytes_total',
      help: 'Compressed bytes fetched from the registry on demand',
      registers,
    });
    this.onDemandHedged = new Counter({
      name: 'slipstream_ondemand_hedged_requests_total',
      help: 'On-demand requests that straggled (3x the usual time) and were sent again; the first answer wins',
      registers,
    });
    this.onDemandLatency = new Histogram({
      name: 'slipstream_ondemand_chunk_fetch_duration_seconds',
      help: 'Latency of on-demand chunk fetches, request to verified bytes',
      buckets: FETCH_BUCKETS,
      registers,
    });
    this.prefetchBytes = new Counter({
      name: 'slipstream_prefetch_fetched_bytes_total',
      help: 'Compressed bytes fetched by landmark prefetch',
      registers,
    });
    this.prefetchDuration = new Histogram({
      name: 'slipstream_prefetch_duration_seconds',
      help: 'Duration of a layer prefetch',
      buckets: LONG_BUCKETS,
      registers,
    });
    this.backgroundBytes = new Counter({
      name: 'slipstream_background_fetched_bytes_total',
      help: 'Compressed bytes fetched by the background fetcher',
      registers,
    });
    this.layerFetched = new Gauge({
      name: 'slipstream_layer_fetched_bytes',
      help: 'Compressed bytes of a mounted layer that are local (background fetch progress)',
      labelNames: ['layer'],
      registers,
    });
    this.layerSize = new Gauge({
      name: 'slipstream_layer_size_bytes',
      help: 'Compressed size of a mounted layer',
      labelNames: ['layer'],
      registers,
    });
    this.mountToLastOnDemand = new Gauge({
      name: 'slipstream_layer_mount_to_last_ondemand_fetch_seconds',
      help: 'Time from mounting a layer to its latest on-demand fetch',
      labelNames: ['layer'],
      registers,
    });
    this.cacheHits = new Counter({
      name: 'slipstream_cache_hits_total',
      help: 'Chunk reads answered from the local cache',
      registers,
    });
    this.cacheMisses = new Counter({
      name: 'slipstream_cache_misses_total',
      help: 'Chunk reads that had to go to the registry',
      registers,
    });
    this.cacheWriteErrors = new Counter({
      name: 'slipstream_cache_write_errors_total',
      help: 'Chunks the cache could not write to disk (served from memory, not cached), by errno',
      labelNames: ['code'],
      registers,
    });
    this.cacheCorruptChunks = new Counter({
      name: 'slipstream_cache_corrupt_chunks_total',
      help: 'Cached chunks that failed re-verification on disk (dropped and fetched again; never served)',
      registers,
    });
    // Read from the cache when scraped: a full disk changes the limit between timer ticks.
    const cacheGauge = (name: string, help: string, pick: (state: CacheState) => number): Gauge => {
      const cacheState = (): CacheState | undefined => this.#cacheState?.();
      return new Gauge({
        name,
        help,
        registers,
        collect() {
          const state = cacheState();
          if (state) this.set(pick(state));
        },
      });
    };
    this.cacheUsed = cacheGauge(
      'slipstream_cache_used_bytes',
      'Bytes of verified chunks in the disk cache',
      (state) => state.usedBytes,
    );
    this.cacheLimit = cacheGauge(
      'slipstream_cache_limit_bytes',
      'What the disk cache may hold: agent.cacheSize, or less when the disk is short of room',
      (state) => state.limitBytes,
    );
    this.verificationFailures = new Counter({
      name: 'slipstream_verification_failures_total',
      help: 'Digest mismatches (never served)',
      labelNames: ['kind'],
      registers,
    });
    this.lookups = new Counter({
      name: 'slipstream_lookups_total',
      help: 'Layer store lookups: served lazily, or fell back to a normal pull (with the reason)',
      labelNames: ['result', 'reason'],
      registers,
    });
    this.fuseLatency = new Histogram({
      name: 'slipstream_fuse_operation_duration_seconds',
      help: 'Time to answer a FUSE request, by operation',
      labelNames: ['op'],
      buckets: FUSE_BUCKETS,
      registers,
    });
    this.reportsSent = new Counter({
      name: 'slipstream_hub_reports_sent_total',
      help: 'Reports the hub accepted',
      registers,
    });
    this.reportsDropped = new Counter({
      name: 'slipstream_hub_reports_dropped_total',
      help: 'Reports dropped because the on-disk spool was full or the hub rejected them',
      registers,
    });
    this.spoolBytes = new Gauge({
      name: 'slipstream_hub_spool_bytes',
      help: 'Bytes of reports waiting on disk for the hub',
      registers,
    });
  }

  onDemandFetch(bytes: number, seconds: number): void {
    this.onDemandFetches.inc();
    this.onDemandBytes.inc(bytes);
    this.onDemandLatency.observe(seconds);
  }

  prefetch(bytes: number, seconds: number): void {
    this.prefetchBytes.inc(bytes);
    this.prefetchDuration.observe(seconds);
  }

  backgroundFetch(bytes: number): void {
    this.backgroundBytes.inc(bytes);
  }

  layerProgress(layer: string, fetchedBytes: number, sizeBytes: number): void {
    this.layerFetched.set({ layer }, fetchedBytes);
    this.layerSize.set({ layer }, sizeBytes);
  }

  layerMountToLastOnDemand(layer: string, seconds: number): void {
    this.mountToLastOnDemand.set({ layer }, seconds);
  }

  /** Drops a layer's series when it is unmounted, so the label set stays bounded. */
  layerRemoved(layer: string): void {
    this.layerFetched.remove({ layer });
    this.layerSize.remove({ layer });
    this.mountToLastOnDemand.remove({ layer });
  }

  cacheHit(count = 1): void {
    this.cacheHits.inc(count);
  }

  hedgedRequest(): void {
    this.onDemandHedged.inc();
  }

  cacheMiss(count = 1): void {
    this.cacheMisses.inc(count);
  }

  cacheCorruptChunk(): void {
    this.cacheCorruptChunks.inc();
  }

  cacheWriteError(code: string): void {
    this.cacheWriteErrors.inc({ code: /^E[A-Z0-9]{1,15}$/.test(code) ? code : 'other' });
  }

  /** Where the cache gauges read their values at each scrape. */
  observeCache(state: () => CacheState): void {
    this.#cacheState = state;
  }

  verificationFailure(kind: VerificationKind): void {
    this.verificationFailures.inc({ kind: oneOf(VerificationKinds, kind, 'chunk') });
  }

  lookupServedLazily(): void {
    this.lookups.inc({ result: 'lazy', reason: 'none' });
  }

  lookupFellBack(reason: string): void {
    this.lookups.inc({ result: 'fallback', reason: oneOf(FallbackReasons, reason, 'other') });
  }

  fuseOp(op: string, seconds: number): void {
    this.fuseLatency.observe({ op: oneOf(FuseOps, op, 'other') }, seconds);
  }

  reportSent(): void {
    this.reportsSent.inc();
  }

  reportDropped(count = 1): void {
    this.reportsDropped.inc(count);
  }

  spoolSize(bytes: number): void {
    this.spoolBytes.set(bytes);
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
