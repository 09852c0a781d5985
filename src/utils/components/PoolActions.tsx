import { Button } from '@patternfly/react-core';
import { Link } from 'react-router';

import { ROUTES } from '../constants';
import { useCtrcfgAccess } from '../hooks/useCtrcfgAccess';
import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { LazyState } from '../rollout/lazyState';

export const wizardHref = (action: 'enable' | 'disable', pool: string) =>
  `${ROUTES.wizard}?${new URLSearchParams({ action, pool }).toString()}`;

/** Enable / disable links into the wizard, rendered only for users allowed to change ctrcfgs. */
const PoolActions = ({ pool, state }: { pool: string; state: LazyState }) => {
  const { t } = useSlipstreamTranslation();
  const { allowed, loading } = useCtrcfgAccess();
  if (loading || !allowed) return null;
  const enabled = state !== 'off';
  return (
    <Button
      variant={enabled ? 'secondary' : 'primary'}
      size="sm"
      component={(props: object) => (
        <Link {...props} to={wizardHref(enabled ? 'disable' : 'enable', pool)} />
      )}
      data-test={`${enabled ? 'disable' : 'enable'}-${pool}`}
    >
      {enabled ? t('Disable') : t('Enable')}
    </Button>
  );
};

export default PoolActions;
