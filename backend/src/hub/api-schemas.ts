// The hub's REST contract (helper-briefs/contracts.md) as zod schemas: query parameters are
// validated with them, and the OpenAPI document is generated from them, so the two cannot drift.
import { z } from 'zod';

const isoTime = z.iso.datetime({ offset: true });
const seconds = z.number().describe('seconds');
const bytes = z.number().describe('bytes');

// --- query parameters -------------------------------------------------------------------------

const booleanParam = z.enum(['true', 'false']).transform((v) => v === 'true');

export const SinceQuery = z.strictObject({
  since: isoTime.optional().describe('only pods created (or data recorded) at or after this time'),
});

export const PodsQuery = z.strictObject({
  namespace: z.string().min(1).max(253).optional(),
  image: z.string().min(1).max(1024).optional(),
  node: z.string().min(1).max(253).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  lazy: booleanParam.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
});

export const LayersQuery = z.strictObject({
  image: z.string().min(1).max(1024),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(2048).optional(),
});

export const TimeseriesQuery = z
  .strictObject({
    start: isoTime,
    end: isoTime,
    step: z.coerce.number().int().min(10).max(86_400).default(60),
    node: z.string().min(1).max(253).optional(),
    image: z.string().min(1).max(1024).optional(),
  })
  .refine((q) => Date.parse(q.end) > Date.parse(q.start), { message: 'end must be after start' })
  .refine((q) => (Date.parse(q.end) - Date.parse(q.start)) / 1000 / q.step <= 11_000, {
    message: 'too many points: widen step or narrow [start, end)',
  });

// --- responses -----------------------------------------------------------------------------------

export const Dist = z
  .object({
    count: z.number(),
    min: seconds,
    p50: seconds,
    p90: seconds,
    p99: seconds,
    max: seconds,
  })
  .describe('distribution of durations in seconds');

export const SavingsBasis = z.enum(['observed-median', 'estimated-throughput', 'none']);

export const Latency = z.object({ p50: seconds, p95: seconds, p99: seconds });

export const About = z.object({
  version: z.string(),
  namespace: z.string(),
  agentConfigMap: z.string(),
  storePathDefault: z.string(),
});

export const Summary = z.object({
  since: isoTime,
  pods: z.object({ total: z.number(), lazy: z.number(), normal: z.number() }),
  startupSeconds: z.object({ lazy: Dist.nullable(), normal: Dist.nullable() }),
  savedSecondsTotal: seconds,
  savedSecondsMedian: seconds.nullable(),
  nodes: z.object({ total: z.number(), healthy: z.number() }),
  bytes: z.object({ onDemand: bytes, prefetch: bytes, background: bytes }),
  lazyPulls: z.number(),
});

export const ContainerStartup = z.object({
  name: z.string(),
  image: z.string(),
  imageDigest: z.string().nullable(),
  lazy: z.boolean(),
  pullSeconds: seconds.nullable(),
  alreadyPresent: z.boolean(),
  startedAt: isoTime.nullable(),
  readyAt: isoTime.nullable(),
});

export const PodStartup = z.object({
  uid: z.string(),
  namespace: z.string(),
  name: z.string(),
  node: z.string().nullable(),
  createdAt: isoTime,
  scheduledAt: isoTime.nullable(),
  readyToStartAt: isoTime.nullable(),
  firstStartedAt: isoTime.nullable(),
  readyAt: isoTime.nullable(),
  startupSeconds: seconds.nullable().describe('created → Ready'),
  pullSeconds: seconds.nullable(),
  lazy: z.boolean(),
  containers: z.array(ContainerStartup),
  savings: z.object({
    seconds: seconds.nullable(),
    baselineSeconds: seconds.nullable(),
    basis: SavingsBasis,
  }),
});

export const PodsPage = z.object({
  items: z.array(PodStartup),
  nextCursor: z.string().nullable(),
  total: z.number(),
});

export const ImageStats = z.object({
  image: z.string(),
  pods: z.object({ lazy: z.number(), normal: z.number() }),
  startupSeconds: z.object({ lazy: Dist.nullable(), normal: Dist.nullable() }),
  timeline: z
    .object({
      createdToPulled: seconds.nullable(),
      pulledToStarted: seconds.nullable(),
      startedToReady: seconds.nullable(),
    })
    .describe('medians over lazy pods'),
  bytes: z.object({
    onDemand: bytes,
    prefetch: bytes,
    background: bytes,
    total: bytes.nullable().describe('compressed size of the current build of the image'),
  }),
  prefetchHitRatio: z.number().nullable(),
  savings: z.object({ medianSeconds: seconds.nullable(), basis: SavingsBasis }),
});

export const ImagesList = z.object({ items: z.array(ImageStats) });

export const LayerStats = z.object({
  digest: z.string(),
  image: z.string(),
  sizeBytes: bytes,
  bytes: z.object({ onDemand: bytes, prefetch: bytes, background: bytes }),
  chunkFetches: z.number(),
  latencySeconds: Latency.nullable(),
  fetchedFraction: z.number(),
  hotFiles: z.array(z.object({ path: z.string(), bytes })),
});

export const LayersPage = z.object({
  manifestDigest: z
    .string()
    .nullable()
    .describe("the build whose layers these are: the reference's current one (null: unknown)"),
  items: z.array(LayerStats),
  nextCursor: z.string().nullable(),
  total: z.number().describe('layers of the build'),
});

export const NodeStatus = z.object({
  node: z.string(),
  agentVersion: z.string(),
  mountState: z.enum(['mounted', 'unmounted', 'error', 'unknown']),
  cache: z.object({ usedBytes: bytes, capBytes: bytes }),
  lastReportAt: isoTime.nullable(),
  healthy: z.boolean(),
  layersServed: z.number(),
});

export const NodesList = z.object({ items: z.array(NodeStatus) });

export const Timeseries = z.object({
  step: z.number(),
  points: z.array(
    z.object({
      t: isoTime,
      chunkFetchesPerSecond: z.number(),
      bytesPerSecond: z.number(),
      latencySeconds: Latency.nullable(),
    }),
  ),
});

export const ReportAccepted = z.object({ accepted: z.boolean(), duplicate: z.boolean() });

export const ApiError = z.object({ error: z.string(), message: z.string() });

export type DistT = z.infer<typeof Dist>;
export type SavingsBasisT = z.infer<typeof SavingsBasis>;
export type SummaryT = z.infer<typeof Summary>;
export type PodStartupT = z.infer<typeof PodStartup>;
export type PodsPageT = z.infer<typeof PodsPage>;
export type PodsQueryT = z.infer<typeof PodsQuery>;
export type ImageStatsT = z.infer<typeof ImageStats>;
export type LayerStatsT = z.infer<typeof LayerStats>;
export type LayersPageT = z.infer<typeof LayersPage>;
export type LayersQueryT = z.infer<typeof LayersQuery>;
export type NodeStatusT = z.infer<typeof NodeStatus>;
export type TimeseriesT = z.infer<typeof Timeseries>;
export type TimeseriesQueryT = z.infer<typeof TimeseriesQuery>;
