import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { GateState } from '../rollout/featureGate';
import Alert from './Alert';

/** Explains the AdditionalStorageConfig gate: off, unknown, or on through an irreversible set. */
const FeatureGateAlert = ({ gate }: { gate: GateState }) => {
  const { t } = useSlipstreamTranslation();
  if (gate.enabled === undefined) {
    return (
      <Alert isInline variant="info" title={t('Feature gate state unknown')}>
        {t(
          'You may not read the cluster FeatureGate; ask an administrator whether AdditionalStorageConfig is on.',
        )}
      </Alert>
    );
  }
  if (!gate.enabled) {
    return (
      <Alert
        isInline
        variant="warning"
        title={t('The AdditionalStorageConfig feature gate is off')}
      >
        {t(
          'On OpenShift 4.22 the additionalLayerStores field needs the TechPreviewNoUpgrade feature set. That cannot be undone and blocks minor upgrades. From 4.23 the gate is on by default.',
        )}
      </Alert>
    );
  }
  if (gate.irreversible) {
    return (
      <Alert isInline variant="info" title={t('Feature set: {{set}}', { set: gate.featureSet })}>
        {t(
          'AdditionalStorageConfig is on. This feature set cannot be undone and blocks minor upgrades.',
        )}
      </Alert>
    );
  }
  return null;
};

export default FeatureGateAlert;
