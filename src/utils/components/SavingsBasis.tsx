import { Label } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { SavingsBasis as Basis } from '../types/hub';

/**
 * How a saving was obtained: compared with observed normal pulls, estimated, or not at all. A label
 * by default; `asText` in narrow table columns, where a label would not wrap.
 */
const SavingsBasis = ({ basis, asText = false }: { basis: Basis; asText?: boolean }) => {
  const { t } = useSlipstreamTranslation();
  const text: Record<Basis, string> = {
    'observed-median': t('Measured against normal pulls'),
    'estimated-throughput': t('Estimated from image size'),
    none: t('No baseline'),
  };
  if (asText) return <span>{text[basis]}</span>;
  return (
    <Label isCompact color={basis === 'observed-median' ? 'blue' : 'grey'} variant="outline">
      {text[basis]}
    </Label>
  );
};

export default SavingsBasis;
