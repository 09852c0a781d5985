import { Content, Title } from '@patternfly/react-core';

import Alert from '../../../utils/components/Alert';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import { changeYaml } from '../utils/changeYaml';
import type { PoolPlan } from '../utils/planChanges';

/** One pool's change: the YAML of the exact request, or why nothing (or nothing safe) is sent. */
const ChangePreview = ({ plan }: { plan: PoolPlan }) => {
  const { t } = useSlipstreamTranslation();
  const name = plan.pool.metadata?.name ?? '';
  const { change } = plan;
  const body = () => {
    if (plan.coveredBy) {
      return (
        <Content component="p">
          {t('Covered by the change for pool {{pool}}.', { pool: plan.coveredBy })}
        </Content>
      );
    }
    if (change.action === 'none') {
      return <Content component="p">{t('Nothing to change for this pool.')}</Content>;
    }
    if (change.action === 'blocked') {
      const reasons = {
        'multiple-ctrcfgs': t(
          'More than one ContainerRuntimeConfig selects this pool ({{names}}); merge them first, as only one takes effect.',
          { names: change.names.join(', ') },
        ),
        'too-many-stores': t('The ContainerRuntimeConfig already lists 5 layer stores.'),
        'no-pool-label': t(
          'This custom pool has no pools.operator.machineconfiguration.openshift.io/{{pool}} label to select it by; add the label first.',
          { pool: name },
        ),
        'other-slipstream-store': t(
          'Lazy pulling is already on for this pool, with the store {{path}}. Disable it first to use another path.',
          { path: change.names.join(', ') },
        ),
      };
      return (
        <Alert isInline variant="danger" title={t('Cannot change this pool')}>
          {reasons[change.reason]}
        </Alert>
      );
    }
    return (
      <pre className="slipstream__yaml" data-test={`change-yaml-${name}`} tabIndex={0}>
        {changeYaml(change)}
      </pre>
    );
  };
  return (
    <section aria-label={t('Change for pool {{pool}}', { pool: name })}>
      <Title headingLevel="h3">{t('Pool {{pool}}', { pool: name })}</Title>
      {plan.alsoAffects.length > 0 && (
        <Alert
          isInline
          variant="warning"
          title={t('This ContainerRuntimeConfig also selects other pools')}
        >
          {t('Pools {{pools}} get the same change and reboot too.', {
            pools: plan.alsoAffects.join(', '),
          })}
        </Alert>
      )}
      {plan.withoutStoreDirectory.length > 0 && (
        <Alert
          isInline
          variant="warning"
          title={t('Some pools would get the layer store without its directory')}
          data-test={`without-store-directory-${name}`}
        >
          {t(
            'Pools {{pools}} get the layer store through this ContainerRuntimeConfig, but no Slipstream MachineConfig creates the store directory on their nodes, so nodes that join them later could not start CRI-O. Select them too.',
            { pools: plan.withoutStoreDirectory.join(', ') },
          )}
        </Alert>
      )}
      {body()}
    </section>
  );
};

export default ChangePreview;
