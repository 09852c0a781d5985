import { lazyPod } from '../fixtures/pods';
import type { PodStartup } from '../types/hub';
import {
  percentileRows,
  podPhaseTimes,
  rangeStart,
  rangeStep,
  savingsRatio,
  secondsBetween,
  startupHistogram,
} from './savings';

const pod = (startupSeconds: number | null, lazy: boolean): PodStartup => ({
  uid: `${startupSeconds}-${lazy}`,
  namespace: 'ns',
  name: 'p',
  node: null,
  createdAt: '2026-11-22T07:00:00Z',
  scheduledAt: null,
  readyToStartAt: null,
  firstStartedAt: null,
  readyAt: null,
  startupSeconds,
  pullSeconds: null,
  lazy,
  containers: [],
  savings: { seconds: null, baselineSeconds: null, basis: 'none' },
});

describe('startupHistogram', () => {
  it('bins both populations over one axis', () => {
    const bins = startupHistogram(
      [pod(2, true), pod(3, true), pod(10, false), pod(12, false), pod(null, true)],
      5,
    );
    expect(bins).toHaveLength(5);
    expect(bins[0]).toEqual({ from: 2, to: 4, lazy: 2, normal: 0 });
    expect(bins[4]).toEqual({ from: 10, to: 12, lazy: 0, normal: 2 });
    expect(bins.reduce((n, b) => n + b.lazy + b.normal, 0)).toBe(4);
  });

  it('makes one bin when all values are equal, none without data', () => {
    expect(startupHistogram([pod(5, true), pod(5, false)])).toEqual([
      { from: 5, to: 6, lazy: 1, normal: 1 },
    ]);
    expect(startupHistogram([pod(null, true)])).toEqual([]);
  });
});

describe('percentileRows and savingsRatio', () => {
  it('pairs percentiles, leaving a missing side undefined', () => {
    const dist = { count: 3, min: 1, p50: 2, p90: 3, p99: 4, max: 5 };
    expect(percentileRows(dist, null)).toEqual([
      { percentile: 'p50', lazy: 2, normal: undefined },
      { percentile: 'p90', lazy: 3, normal: undefined },
      { percentile: 'p99', lazy: 4, normal: undefined },
    ]);
  });

  it('is null without a baseline', () => {
    expect(savingsRatio(6, 10)).toBe(0.6);
    expect(savingsRatio(null, 10)).toBeNull();
    expect(savingsRatio(3, 0)).toBeNull();
  });
});

describe('time ranges', () => {
  it('computes the start and a step of whole minutes', () => {
    const now = Date.parse('2026-11-22T08:00:00Z');
    expect(rangeStart('1h', now)).toBe('2026-11-22T07:00:00.000Z');
    expect(rangeStep('1h')).toBe(60);
    expect(rangeStep('7d')).toBe(5040);
  });
});

describe('podPhaseTimes', () => {
  it('reads the startup phases from a pod', () => {
    const times = podPhaseTimes(lazyPod);
    expect(times).toEqual({
      created: '2026-11-22T07:40:02Z',
      scheduled: '2026-11-22T07:40:02Z',
      readyToStart: '2026-11-22T07:40:04Z',
      firstStarted: '2026-11-22T07:40:06Z',
      ready: '2026-11-22T07:40:11Z',
    });
    expect(secondsBetween(times.created, times.ready)).toBe(9);
    expect(secondsBetween(times.created, undefined)).toBeNull();
  });
});
