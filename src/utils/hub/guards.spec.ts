import { consoleFetchJSON } from '@openshift-console/dynamic-plugin-sdk';

import {
  hubAbout,
  hubImages,
  hubLayers,
  hubNodes,
  hubPods,
  hubSummary,
  hubTimeseries,
} from '../fixtures/hub';
import { HUB_GUARDS } from './guards';
import { fetchHub, HubAnswerError, HubTimeoutError } from './hubClient';

describe('HUB_GUARDS', () => {
  it('accepts what a real hub answers', () => {
    expect(HUB_GUARDS.about(hubAbout)).toBe(true);
    expect(HUB_GUARDS.summary(hubSummary)).toBe(true);
    expect(HUB_GUARDS.pods(hubPods)).toBe(true);
    expect(HUB_GUARDS.images(hubImages)).toBe(true);
    expect(HUB_GUARDS['images/layers'](hubLayers)).toBe(true);
    expect(HUB_GUARDS.nodes(hubNodes)).toBe(true);
    expect(HUB_GUARDS.timeseries(hubTimeseries)).toBe(true);
  });

  it('refuses an empty object for every endpoint', () => {
    Object.values(HUB_GUARDS).forEach((guard) => expect(guard({})).toBe(false));
  });

  it('refuses a value of the wrong type anywhere in the answer', () => {
    const pod = { ...hubPods.items[0], savings: { ...hubPods.items[0].savings, seconds: 'abc' } };
    expect(HUB_GUARDS.pods({ ...hubPods, items: [pod] })).toBe(false);
    const weird = { ...hubPods.items[0], savings: { ...hubPods.items[0].savings, basis: 'weird' } };
    expect(HUB_GUARDS.pods({ ...hubPods, items: [weird] })).toBe(false);
    expect(HUB_GUARDS.summary({ ...hubSummary, savedSecondsTotal: null })).toBe(false);
    const point = { ...hubTimeseries.points[0], bytesPerSecond: '1234' };
    expect(HUB_GUARDS.timeseries({ ...hubTimeseries, points: [point] })).toBe(false);
  });

  it('refuses a layers answer without its page fields (a hub from before pagination)', () => {
    expect(HUB_GUARDS['images/layers']({ items: hubLayers.items })).toBe(false);
    expect(HUB_GUARDS['images/layers']({ ...hubLayers, total: '2' })).toBe(false);
    expect(HUB_GUARDS['images/layers']({ ...hubLayers, nextCursor: 7 })).toBe(false);
  });

  it('allows fields a newer hub adds', () => {
    expect(HUB_GUARDS.about({ ...hubAbout, build: 'abc' })).toBe(true);
  });
});

describe('fetchHub', () => {
  afterEach(() => jest.useRealTimers());

  it('rejects an answer outside the contract like a failed request', async () => {
    jest.mocked(consoleFetchJSON).mockResolvedValueOnce({});
    await expect(fetchHub('images')).rejects.toBeInstanceOf(HubAnswerError);
    jest.mocked(consoleFetchJSON).mockResolvedValueOnce(hubImages);
    await expect(fetchHub('images')).resolves.toBe(hubImages);
  });

  it('gives up on a hub that never answers', async () => {
    jest.useFakeTimers();
    jest.mocked(consoleFetchJSON).mockReturnValueOnce(new Promise(() => undefined));
    const answer = fetchHub('summary', undefined, { timeoutMs: 5000 });
    jest.advanceTimersByTime(5000);
    await expect(answer).rejects.toBeInstanceOf(HubTimeoutError);
  });
});
