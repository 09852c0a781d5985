// The AgentReport: what a node agent pushes to the hub (POST /api/v1/reports).
// Counters in a report are DELTAS for its window [windowStart, windowEnd), so the hub can sum them;
// gauges (cache use, mount state, fetched bytes of a layer) are the value at windowEnd.
// Every report carries a unique reportId: the agent may resend a report whose answer it never saw
// (spool replay), and the hub stores each id once.
import { z } from 'zod';

/**
 * Upper bounds (seconds) of the chunk-fetch latency histogram carried in reports. Fixed so that
 * histograms from every node and window can be summed; the last bucket is +Inf (implicit).
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Number of counts in a latency histogram: one per bound plus the +Inf bucket. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKETS_SECONDS.length + 1;

const isoTime = z.iso.datetime({ offset: true });
/**
 * The largest count or byte figure a report may carry (32 Ti): far above what a node moves in a
 * window, and low enough that the hub's sums of many reports stay exact integers (below 2^53).
 */
export const MAX_REPORTED = 2 ** 45;
const count = z.number().int().nonnegative().max(MAX_REPORTED);
const bytes = count;
const digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'not a digest');
const imageRef = z.string().min(1).max(1024);

export const LatencyHistogramSchema = z
  .array(count)
  .length(LATENCY_BUCKET_COUNT)
  .describe('counts per LATENCY_BUCKETS_SECONDS bucket, last one +Inf');

export const ByteSplitSchema = z.strictObject({
  onDemand: bytes,
  prefetch: bytes,
  background: bytes,
});

export const HotFileSchema = z.strictObject({
  path: z.string().min(1).max(4096),
  bytes,
});

export const LayerReportSchema = z.strictObject({
  digest,
  sizeBytes: bytes.describe('compressed size of the layer blob'),
  bytes: ByteSplitSchema.describe('bytes fetched from the registry in this window, by cause'),
  chunkFetches: count.describe('on-demand chunk fetches in this window'),
  latency: LatencyHistogramSchema.describe('on-demand chunk fetch latency in this window'),
  fetchedBytes: bytes.describe('gauge: compressed bytes of this layer now local'),
  prefetchUsedBytes: bytes.describe('prefetched bytes later read by a container, in this window'),
  hotFiles: z
    .array(HotFileSchema)
    .max(100)
    .describe('top paths by bytes read before the container became ready (delta)'),
});

export const ImageReportSchema = z.strictObject({
  image: imageRef.describe('image reference as containers/image asked for it'),
  digest: digest.nullable().describe('manifest digest, when known'),
  compressedSizeBytes: bytes.nullable().describe('sum of the compressed layer sizes'),
  layers: z.array(LayerReportSchema).max(512),
});

export const LazyPullSchema = z.strictObject({
  image: imageRef,
  digest: digest.nullable(),
  layers: z.array(digest).max(512).describe('layers served lazily'),
  at: isoTime,
});

export const FallbackSchema = z.strictObject({
  image: imageRef.nullable(),
  reason: z.string().min(1).max(256),
  at: isoTime,
});

export const MountStates = ['mounted', 'unmounted', 'error'] as const;

/** Transfer seconds a window may sum (parallel transfers add up): a day of 1000 of them. */
const MAX_WINDOW_SECONDS = 86_400_000;

export const AgentReportSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    reportId: z.string().min(8).max(128),
    node: z.string().min(1).max(253),
    agentVersion: z.string().min(1).max(64),
    windowStart: isoTime,
    windowEnd: isoTime,
    mount: z.strictObject({ state: z.enum(MountStates), error: z.string().max(1024).nullable() }),
    cache: z.strictObject({ usedBytes: bytes, capBytes: bytes }),
    layersServed: count.describe('gauge: layers currently mounted'),
    registry: z
      .strictObject({ bytes, seconds: z.number().nonnegative().max(MAX_WINDOW_SECONDS) })
      .describe('registry transfer in this window: bytes and summed transfer time (throughput)'),
    images: z.array(ImageReportSchema).max(256),
    lazyPulls: z.array(LazyPullSchema).max(256),
    fallbacks: z.array(FallbackSchema).max(256),
  })
  .refine((r) => Date.parse(r.windowStart) <= Date.parse(r.windowEnd), {
    message: 'windowStart is after windowEnd',
    path: ['windowStart'],
  });

export type LatencyHistogram = z.infer<typeof LatencyHistogramSchema>;
export type ByteSplit = z.infer<typeof ByteSplitSchema>;
export type HotFile = z.infer<typeof HotFileSchema>;
export type LayerReport = z.infer<typeof LayerReportSchema>;
export type ImageReport = z.infer<typeof ImageReportSchema>;
export type LazyPull = z.infer<typeof LazyPullSchema>;
export type Fallback = z.infer<typeof FallbackSchema>;
export type MountState = (typeof MountStates)[number];
export type AgentReport = z.infer<typeof AgentReportSchema>;

/** An all-zero latency histogram. */
export function emptyHistogram(): number[] {
  return new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
}

/** Index of the histogram bucket a latency (seconds) falls into. */
export function bucketIndex(seconds: number): number {
  const i = LATENCY_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound);
  return i === -1 ? LATENCY_BUCKETS_SECONDS.length : i;
}

/** Adds `b` into `a` bucket by bucket (a is modified and returned). */
export function addHistogram(a: number[], b: readonly number[]): number[] {
  for (let i = 0; i < a.length; i++) a[i] = (a[i] ?? 0) + (b[i] ?? 0);
  return a;
}

/**
 * Estimates a quantile from bucket counts, interpolating linearly inside the bucket (as Prometheus'
 * histogram_quantile does). The +Inf bucket answers with the highest finite bound.
 */
export function histogramQuantile(q: number, counts: readonly number[]): number | null {
  const total = counts.reduce((s, c) => s + c, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (seen + c >= rank && c > 0) {
      const upper = LATENCY_BUCKETS_SECONDS[i];
      if (upper === undefined) return LATENCY_BUCKETS_SECONDS[LATENCY_BUCKETS_SECONDS.length - 1];
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_SECONDS[i - 1];
      return lower + ((upper - lower) * (rank - seen)) / c;
    }
    seen += c;
  }
  return LATENCY_BUCKETS_SECONDS[LATENCY_BUCKETS_SECONDS.length - 1];
}
