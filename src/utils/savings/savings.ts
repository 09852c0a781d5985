// Shaping hub data for charts and tables: startup-time histograms (lazy against normal), percentile
// rows, time ranges, and a pod's own timeline from its conditions (creation → Ready is the SLI).

import type { Dist, PodStartup } from '../types/hub';
import type { Pod } from '../types/k8s';

export type HistogramBin = { from: number; to: number; lazy: number; normal: number };

/** Equal-width bins over both populations, so the two series share one x axis. */
export const startupHistogram = (pods: readonly PodStartup[], binCount = 10): HistogramBin[] => {
  const timed = pods.filter((p): p is PodStartup & { startupSeconds: number } =>
    Number.isFinite(p.startupSeconds),
  );
  if (timed.length === 0 || binCount < 1) return [];
  const values = timed.map((p) => p.startupSeconds);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const width = max > min ? (max - min) / binCount : 1;
  const bins: HistogramBin[] = Array.from({ length: max > min ? binCount : 1 }, (_, i) => ({
    from: min + i * width,
    to: min + (i + 1) * width,
    lazy: 0,
    normal: 0,
  }));
  for (const pod of timed) {
    const index = Math.min(bins.length - 1, Math.floor((pod.startupSeconds - min) / width));
    bins[index][pod.lazy ? 'lazy' : 'normal'] += 1;
  }
  return bins;
};

export type PercentileRow = { percentile: 'p50' | 'p90' | 'p99'; lazy?: number; normal?: number };

export const percentileRows = (lazy: Dist | null, normal: Dist | null): PercentileRow[] =>
  (['p50', 'p90', 'p99'] as const).map((percentile) => ({
    percentile,
    lazy: lazy?.[percentile],
    normal: normal?.[percentile],
  }));

/** Share of the baseline that lazy pulling saved, or null when there is nothing to compare. */
export const savingsRatio = (saved: number | null, baseline: number | null): number | null =>
  saved === null || baseline === null || baseline <= 0 ? null : saved / baseline;

export const TIME_RANGES = ['1h', '6h', '24h', '7d', '30d'] as const;
export type TimeRange = (typeof TIME_RANGES)[number];
const RANGE_SECONDS: Record<TimeRange, number> = {
  '1h': 3600,
  '6h': 6 * 3600,
  '24h': 86400,
  '7d': 7 * 86400,
  '30d': 30 * 86400,
};

export const rangeSeconds = (range: TimeRange): number => RANGE_SECONDS[range];

export const rangeStart = (range: TimeRange, now: number): string =>
  new Date(now - RANGE_SECONDS[range] * 1000).toISOString();

/** A step that gives at most ~120 points, in whole minutes (the hub aggregates per minute). */
export const rangeStep = (range: TimeRange): number =>
  Math.max(60, Math.ceil(RANGE_SECONDS[range] / 120 / 60) * 60);

export type PodPhaseTimes = {
  created?: string;
  scheduled?: string;
  readyToStart?: string;
  firstStarted?: string;
  ready?: string;
};

const conditionTime = (pod: Pod, type: string) =>
  pod.status?.conditions?.find((c) => c.type === type && c.status === 'True')?.lastTransitionTime;

/** Timestamps of a pod's startup from the Kubernetes object itself (works without the hub). */
export const podPhaseTimes = (pod: Pod): PodPhaseTimes => {
  const starts = (pod.status?.containerStatuses ?? [])
    .map((c) => c.state?.running?.startedAt)
    .filter((t): t is string => Boolean(t))
    .sort();
  return {
    created: pod.metadata?.creationTimestamp,
    scheduled: conditionTime(pod, 'PodScheduled'),
    readyToStart: conditionTime(pod, 'PodReadyToStartContainers'),
    firstStarted: starts[0],
    ready: conditionTime(pod, 'Ready'),
  };
};

export const secondsBetween = (from?: string | null, to?: string | null): number | null =>
  from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : null;
