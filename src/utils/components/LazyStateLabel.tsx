import { Label } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { LazyState } from '../rollout/lazyState';

const COLORS = { on: 'green', applying: 'blue', off: 'grey', failed: 'red' } as const;

const LazyStateLabel = ({ state }: { state: LazyState }) => {
  const { t } = useSlipstreamTranslation();
  const text: Record<LazyState, string> = {
    on: t('On'),
    applying: t('Applying'),
    off: t('Off'),
    failed: t('Failed'),
  };
  return (
    <Label color={COLORS[state]} data-test={`lazy-state-${state}`}>
      {text[state]}
    </Label>
  );
};

export default LazyStateLabel;
