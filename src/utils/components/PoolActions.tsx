import { Button, Flex } from '@patternfly/react-core';
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

/**
 * Repair: the enable wizard again, for a pool that lists the store without the MachineConfig that
 * creates its directory at boot (its Review then holds only that MachineConfig).
 */
const RepairAction = ({ pool }: { pool: string }) => {
  const { t } = useSlipstreamTranslation();
  const { allowed, loading } = useCtrcfgAccess('enable');
  if (loading || !allowed) return null;
  return (
    <Button
      variant="primary"
      size="sm"
      component={RouterLink}
      href={wizardHref('enable', pool)}
      data-test={`repair-${pool}`}
    >
      {t('Repair')}
    </Button>
  );
};

/** Enable / disable links into the wizard, rendered only for users allowed to change ctrcfgs. */
const PoolActions = ({
  pool,
  state,
  needsRepair = false,
}: {
  pool: string;
  state: LazyState;
  needsRepair?: boolean;
}) => {
  const enabled = state !== 'off';
  return (
    <Flex spaceItems={{ default: 'spaceItemsSm' }} flexWrap={{ default: 'nowrap' }}>
      {needsRepair && enabled && <RepairAction pool={pool} />}
      <ToggleAction pool={pool} enabled={enabled} />
    </Flex>
  );
};

const ToggleAction = ({ pool, enabled }: { pool: string; enabled: boolean }) => {
  const { t } = useSlipstreamTranslation();
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
