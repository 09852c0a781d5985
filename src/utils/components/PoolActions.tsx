import { Button } from '@patternfly/react-core';
import { Link } from 'react-router';

import { ROUTES } from '../constants';
import { useCtrcfgAccess } from '../hooks/useCtrcfgAccess';
import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { LazyState } from '../rollout/lazyState';

export const wizardHref = (action: 'enable' | 'disable', pool: string) =>
  `${ROUTES.wizard}?${new URLSearchParams({ action, pool }).toString()}`;

/**
 * The router link a Button renders as. Defined once: a component created in render would be a new
 * type on every render (the overview re-renders on each hub poll), remounting the link and taking
 * keyboard focus away from it.
 */
const RouterLink = ({ href, ...props }: { href: string }) => <Link {...props} to={href} />;

/** Enable / disable links into the wizard, rendered only for users allowed to change ctrcfgs. */
const PoolActions = ({ pool, state }: { pool: string; state: LazyState }) => {
  const { t } = useSlipstreamTranslation();
  const enabled = state !== 'off';
  const { allowed, loading } = useCtrcfgAccess(enabled ? 'disable' : 'enable');
  if (loading || !allowed) return null;
  return (
    <Button
      variant={enabled ? 'secondary' : 'primary'}
      size="sm"
      component={RouterLink}
      href={wizardHref(enabled ? 'disable' : 'enable', pool)}
      data-test={`${enabled ? 'disable' : 'enable'}-${pool}`}
    >
      {enabled ? t('Disable') : t('Enable')}
    </Button>
  );
};

export default PoolActions;
