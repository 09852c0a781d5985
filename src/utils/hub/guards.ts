// Hand-written checks of the hub's answers against the contract (src/utils/types/hub.ts): an answer
// of another shape (a proxy's error page parsed as {}, a string where a number belongs) is refused
// like a failed request instead of crashing a page or rendering "NaN". Extra fields are allowed, so
// a newer hub that adds some still works.
import type {
  About,
  ContainerStartup,
  Dist,
  ImageStats,
  ItemList,
  LayersPage,
  LayerStats,
  NodeStatus,
  PodStartup,
  PodsPage,
  SavingsBasis,
  Summary,
  Timeseries,
  TimeseriesPoint,
} from '../types/hub';

export type Guard<T> = (value: unknown) => value is T;

type Fields<T> = { [K in keyof T]-?: Guard<T[K]> };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const num: Guard<number> = (v): v is number => typeof v === 'number' && Number.isFinite(v);
const str: Guard<string> = (v): v is string => typeof v === 'string';
const bool: Guard<boolean> = (v): v is boolean => typeof v === 'boolean';
const time: Guard<string> = (v): v is string => str(v) && !Number.isNaN(Date.parse(v));

const nullable =
  <T>(guard: Guard<T>): Guard<T | null> =>
  (v): v is T | null =>
    v === null || guard(v);

const arrayOf =
  <T>(guard: Guard<T>): Guard<T[]> =>
  (v): v is T[] =>
    Array.isArray(v) && v.every((item) => guard(item));

const oneOf =
  <T extends string>(...values: T[]): Guard<T> =>
  (v): v is T =>
    typeof v === 'string' && (values as string[]).includes(v);

const shape =
  <T>(fields: Fields<T>): Guard<T> =>
  (v): v is T =>
    isRecord(v) &&
    Object.entries(fields).every(([key, guard]) => (guard as Guard<unknown>)(v[key]));

const dist = shape<Dist>({ count: num, min: num, p50: num, p90: num, p99: num, max: num });
const basis: Guard<SavingsBasis> = oneOf('observed-median', 'estimated-throughput', 'none');
const bytes = { onDemand: num, prefetch: num, background: num };
const latency = shape<{ p50: number; p95: number; p99: number }>({ p50: num, p95: num, p99: num });
const itemsOf = <T>(guard: Guard<T>) => shape<ItemList<T>>({ items: arrayOf(guard) });

const about = shape<About>({
  version: str,
  namespace: str,
  agentConfigMap: str,
  storePathDefault: str,
});

const summary = shape<Summary>({
  since: time,
  pods: shape<Summary['pods']>({ total: num, lazy: num, normal: num }),
  startupSeconds: shape<Summary['startupSeconds']>({
    lazy: nullable(dist),
    normal: nullable(dist),
  }),
  savedSecondsTotal: num,
  savedSecondsMedian: nullable(num),
  nodes: shape<Summary['nodes']>({ total: num, healthy: num }),
  bytes: shape<Summary['bytes']>(bytes),
  lazyPulls: num,
});

const container = shape<ContainerStartup>({
  name: str,
  image: str,
  imageDigest: nullable(str),
  lazy: bool,
  pullSeconds: nullable(num),
  alreadyPresent: bool,
  startedAt: nullable(time),
  readyAt: nullable(time),
});

const pod = shape<PodStartup>({
  uid: str,
  namespace: str,
  name: str,
  node: nullable(str),
  createdAt: time,
  scheduledAt: nullable(time),
  readyToStartAt: nullable(time),
  firstStartedAt: nullable(time),
  readyAt: nullable(time),
  startupSeconds: nullable(num),
  pullSeconds: nullable(num),
  lazy: bool,
  containers: arrayOf(container),
  savings: shape<PodStartup['savings']>({
    seconds: nullable(num),
    baselineSeconds: nullable(num),
    basis,
  }),
});

const podsPage = shape<PodsPage>({ items: arrayOf(pod), nextCursor: nullable(str), total: num });

const image = shape<ImageStats>({
  image: str,
  pods: shape<ImageStats['pods']>({ lazy: num, normal: num }),
  startupSeconds: shape<ImageStats['startupSeconds']>({
    lazy: nullable(dist),
    normal: nullable(dist),
  }),
  timeline: shape<ImageStats['timeline']>({
    createdToPulled: nullable(num),
    pulledToStarted: nullable(num),
    startedToReady: nullable(num),
  }),
  bytes: shape<ImageStats['bytes']>({ ...bytes, total: nullable(num) }),
  prefetchHitRatio: nullable(num),
  savings: shape<ImageStats['savings']>({ medianSeconds: nullable(num), basis }),
});

const layer = shape<LayerStats>({
  digest: str,
  image: str,
  sizeBytes: num,
  bytes: shape<LayerStats['bytes']>(bytes),
  chunkFetches: num,
  latencySeconds: nullable(latency),
  fetchedFraction: num,
  hotFiles: arrayOf(shape<LayerStats['hotFiles'][number]>({ path: str, bytes: num })),
});

const layersPage = shape<LayersPage>({
  manifestDigest: nullable(str),
  items: arrayOf(layer),
  nextCursor: nullable(str),
  total: num,
});

const node = shape<NodeStatus>({
  node: str,
  agentVersion: str,
  // A newer agent may report a state this plugin does not know; only "mounted" counts as healthy.
  mountState: str as Guard<NodeStatus['mountState']>,
  cache: shape<NodeStatus['cache']>({ usedBytes: num, capBytes: num }),
  lastReportAt: nullable(time),
  healthy: bool,
  layersServed: num,
});

const point = shape<TimeseriesPoint>({
  t: time,
  chunkFetchesPerSecond: num,
  bytesPerSecond: num,
  latencySeconds: nullable(latency),
});

const timeseries = shape<Timeseries>({ step: num, points: arrayOf(point) });

/** What each hub endpoint answers (contract), by its path under /api/v1. */
export type HubAnswers = {
  about: About;
  summary: Summary;
  pods: PodsPage;
  images: ItemList<ImageStats>;
  'images/layers': LayersPage;
  nodes: ItemList<NodeStatus>;
  timeseries: Timeseries;
};

export type HubPath = keyof HubAnswers;

export const HUB_GUARDS: { [P in HubPath]: Guard<HubAnswers[P]> } = {
  about,
  summary,
  pods: podsPage,
  images: itemsOf(image),
  'images/layers': layersPage,
  nodes: itemsOf(node),
  timeseries,
};
