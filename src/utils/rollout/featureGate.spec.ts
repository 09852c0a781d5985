import { featureGateDefault, featureGateTechPreview } from '../fixtures/featureGates';
import { additionalStorageGate } from './featureGate';

describe('additionalStorageGate', () => {
  it('is off on a default 4.22 cluster', () => {
    expect(additionalStorageGate(featureGateDefault)).toEqual({
      enabled: false,
      featureSet: 'Default',
      irreversible: false,
    });
  });

  it('is on with TechPreviewNoUpgrade, which is irreversible', () => {
    expect(additionalStorageGate(featureGateTechPreview)).toEqual({
      enabled: true,
      featureSet: 'TechPreviewNoUpgrade',
      irreversible: true,
    });
  });

  it('is unknown without a readable FeatureGate', () => {
    expect(additionalStorageGate(undefined).enabled).toBeUndefined();
  });
});
