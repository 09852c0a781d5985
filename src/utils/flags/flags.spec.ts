import { consoleFetchJSON, k8sGet } from '@openshift-console/dynamic-plugin-sdk';

import { featureGateDefault, featureGateTechPreview } from '../fixtures/featureGates';
import { alsGateHandler, hubInstalledHandler } from './flags';

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('feature flag handlers', () => {
  it('sets SLIPSTREAM_HUB from whether the hub answers', async () => {
    const setFlag = jest.fn();
    jest.mocked(consoleFetchJSON).mockResolvedValueOnce({ version: '0.1.0' });
    hubInstalledHandler(setFlag);
    jest.mocked(consoleFetchJSON).mockRejectedValueOnce(new Error('502'));
    hubInstalledHandler(setFlag);
    await settled();
    expect(consoleFetchJSON).toHaveBeenCalledWith('/api/proxy/plugin/slipstream/hub/api/v1/about');
    expect(setFlag.mock.calls).toEqual([
      ['SLIPSTREAM_HUB', true],
      ['SLIPSTREAM_HUB', false],
    ]);
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
