// Types of the hub REST API (/api/v1), as fixed in the cross-module contract.

export type Dist = {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
};

export type SavingsBasis = 'observed-median' | 'estimated-throughput' | 'none';

export type About = {
  version: string;
  namespace: string;
  agentConfigMap: string;
  storePathDefault: string;
};

export type Summary = {
  since: string;
  pods: { total: number; lazy: number; normal: number };
  startupSeconds: { lazy: Dist | null; normal: Dist | null };
  savedSecondsTotal: number;
  savedSecondsMedian: number | null;
  nodes: { total: number; healthy: number };
  bytes: { onDemand: number; prefetch: number; background: number };
  lazyPulls: number;
};

export type ContainerStartup = {
  name: string;
  image: string;
  imageDigest: string | null;
  lazy: boolean;
  pullSeconds: number | null;
  alreadyPresent: boolean;
  startedAt: string | null;
  readyAt: string | null;
};

export type PodStartup = {
  uid: string;
  namespace: string;
  name: string;
  node: string | null;
  createdAt: string;
  scheduledAt: string | null;
  readyToStartAt: string | null;
  firstStartedAt: string | null;
  readyAt: string | null;
  startupSeconds: number | null;
  pullSeconds: number | null;
  lazy: boolean;
  containers: ContainerStartup[];
  savings: { seconds: number | null; baselineSeconds: number | null; basis: SavingsBasis };
};

export type PodsPage = { items: PodStartup[]; nextCursor: string | null; total: number };

export type ByteBreakdown = { onDemand: number; prefetch: number; background: number };

export type ImageStats = {
  image: string;
  pods: { lazy: number; normal: number };
  startupSeconds: { lazy: Dist | null; normal: Dist | null };
  timeline: {
    createdToPulled: number | null;
    pulledToStarted: number | null;
    startedToReady: number | null;
  };
  bytes: ByteBreakdown & { total: number | null };
  prefetchHitRatio: number | null;
  savings: { medianSeconds: number | null; basis: SavingsBasis };
};

export type LayerStats = {
  digest: string;
  image: string;
  sizeBytes: number;
  bytes: ByteBreakdown;
  chunkFetches: number;
  latencySeconds: { p50: number; p95: number; p99: number } | null;
  fetchedFraction: number;
  hotFiles: { path: string; bytes: number }[];
};

/** A page of the layers of an image's current build, those with the most-read file first. */
export type LayersPage = {
  manifestDigest: string | null;
  items: LayerStats[];
  nextCursor: string | null;
  total: number;
};

export type NodeStatus = {
  node: string;
  agentVersion: string;
  mountState: 'mounted' | 'unmounted' | 'error' | 'unknown';
  cache: { usedBytes: number; capBytes: number };
  lastReportAt: string | null;
  healthy: boolean;
  layersServed: number;
};

export type TimeseriesPoint = {
  t: string;
  chunkFetchesPerSecond: number;
  bytesPerSecond: number;
  latencySeconds: { p50: number; p95: number; p99: number } | null;
};

export type Timeseries = { step: number; points: TimeseriesPoint[] };

export type ItemList<T> = { items: T[] };
