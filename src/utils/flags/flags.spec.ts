import { consoleFetchJSON, k8sGet } from '@openshift-console/dynamic-plugin-sdk';

import { featureGateDefault, featureGateTechPreview } from '../fixtures/featureGates';
import { hubAbout } from '../fixtures/hub';
import { alsGateHandler, checkHubInstalled, hubInstalledHandler } from './flags';

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
const httpError = (code: number) => Object.assign(new Error(`${code}`), { code });

describe('feature flag handlers', () => {
  beforeEach(() => jest.mocked(consoleFetchJSON).mockReset());

  it('sets SLIPSTREAM_HUB from whether the hub answers', async () => {
    const setFlag = jest.fn();
    jest.mocked(consoleFetchJSON).mockResolvedValueOnce(hubAbout);
    hubInstalledHandler(setFlag);
    await settled();
    jest.mocked(consoleFetchJSON).mockRejectedValueOnce(httpError(404));
    hubInstalledHandler(setFlag);
    await settled();
    expect(consoleFetchJSON).toHaveBeenCalledWith('/api/proxy/plugin/slipstream/hub/api/v1/about');
    expect(setFlag.mock.calls).toEqual([
      ['SLIPSTREAM_HUB', true],
      ['SLIPSTREAM_HUB', false],
    ]);
  });

  it('keeps asking a hub that is restarting, until it answers', async () => {
    jest.useFakeTimers();
    try {
      const setFlag = jest.fn();
      jest
        .mocked(consoleFetchJSON)
        .mockRejectedValueOnce(httpError(503))
        .mockRejectedValueOnce(new Error('network'))
        .mockResolvedValueOnce(hubAbout);
      checkHubInstalled(setFlag, [1000, 2000]);
      await jest.advanceTimersByTimeAsync(0);
      expect(setFlag).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1000);
      expect(setFlag).not.toHaveBeenCalled();
      expect(consoleFetchJSON).toHaveBeenCalledTimes(2);
      await jest.advanceTimersByTimeAsync(2000);
      expect(consoleFetchJSON).toHaveBeenCalledTimes(3);
      expect(setFlag.mock.calls).toEqual([['SLIPSTREAM_HUB', true]]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('gives up after the last retry, and at once on a definitive answer', async () => {
    jest.useFakeTimers();
    try {
      const setFlag = jest.fn();
      jest.mocked(consoleFetchJSON).mockRejectedValue(httpError(503));
      checkHubInstalled(setFlag, [1000]);
      await jest.advanceTimersByTimeAsync(1000);
      expect(consoleFetchJSON).toHaveBeenCalledTimes(2);
      expect(setFlag.mock.calls).toEqual([['SLIPSTREAM_HUB', false]]);

      const forbidden = jest.fn();
      jest.mocked(consoleFetchJSON).mockReset().mockRejectedValue(httpError(403));
      checkHubInstalled(forbidden, [1000]);
      await jest.advanceTimersByTimeAsync(0);
      expect(forbidden.mock.calls).toEqual([['SLIPSTREAM_HUB', false]]);
      expect(consoleFetchJSON).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('sets SLIPSTREAM_ALS_GATE from the cluster FeatureGate', async () => {
    const setFlag = jest.fn();
    jest.mocked(k8sGet).mockResolvedValueOnce(featureGateTechPreview);
    alsGateHandler(setFlag);
    await settled();
    jest.mocked(k8sGet).mockResolvedValueOnce(featureGateDefault);
    alsGateHandler(setFlag);
    await settled();
    jest.mocked(k8sGet).mockRejectedValueOnce(new Error('forbidden'));
    alsGateHandler(setFlag);
    await settled();
    expect(setFlag.mock.calls).toEqual([
      ['SLIPSTREAM_ALS_GATE', true],
      ['SLIPSTREAM_ALS_GATE', false],
      ['SLIPSTREAM_ALS_GATE', false],
    ]);
  });
});
