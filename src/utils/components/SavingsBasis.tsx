import { Label } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { SavingsBasis as Basis } from '../types/hub';

/** How a saving was obtained: compared with observed normal pulls, estimated, or not at all. */
const SavingsBasis = ({ basis }: { basis: Basis }) => {
  const { t } = useSlipstreamTranslation();
  const text: Record<Basis, string> = {
    'observed-median': t('Measured against normal pulls'),
    'estimated-throughput': t('Estimated from image size'),
    none: t('No baseline'),
  };
  return (
    <Label isCompact color={basis === 'observed-median' ? 'blue' : 'grey'} variant="outline">
      {text[basis]}
    </Label>
  );
};

export default SavingsBasis;
