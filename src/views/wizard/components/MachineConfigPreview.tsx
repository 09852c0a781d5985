import { Content, Title } from '@patternfly/react-core';

import Alert from '../../../utils/components/Alert';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import { machineConfigChangeYaml } from '../utils/changeYaml';
import type { PoolPlan } from '../utils/planChanges';

/** One pool's store MachineConfig: the YAML of the exact request, or why nothing is sent. */
const MachineConfigPreview = ({ plan }: { plan: PoolPlan }) => {
  const { t } = useSlipstreamTranslation();
  const name = plan.pool.metadata?.name ?? '';
  const change = plan.machineConfig;
  const body = () => {
    if (change.action === 'blocked') {
      return (
        <Alert isInline variant="danger" title={t('Cannot change this pool')}>
          {t(
            'No labels satisfy the machineConfigSelector of pool {{pool}} (it is empty, or has only NotIn and DoesNotExist requirements, or contradicts itself), so no MachineConfig can create the store directory on its nodes. Give the pool a selector with matchLabels or an In requirement first.',
            { pool: name },
          )}
        </Alert>
      );
    }
    if (change.action === 'none') {
      const mc = change.target?.metadata?.name ?? '';
      if (change.keptFor) {
        return (
          <Content component="p">
            {t(
              'The MachineConfig {{name}} stays: pools {{pools}} still have lazy pulling on and take the store directory from it.',
              { name: mc, pools: change.keptFor.join(', ') },
            )}
          </Content>
        );
      }
      return (
        <Content component="p">
          {change.target
            ? t('The MachineConfig {{name}} is in place.', { name: mc })
            : t('This pool has no MachineConfig from Slipstream.')}
        </Content>
      );
    }
    return (
      <pre className="slipstream__yaml" data-test={`machineconfig-yaml-${name}`} tabIndex={0}>
        {machineConfigChangeYaml(change)}
      </pre>
    );
  };
  return (
    <section aria-label={t('MachineConfig for pool {{pool}}', { pool: name })}>
      <Title headingLevel="h3">{t('Pool {{pool}}', { pool: name })}</Title>
      {plan.machineConfigAlsoAffects.length > 0 && (
        <Alert
          isInline
          variant="warning"
          title={t('Other pools also select this MachineConfig')}
          data-test={`machineconfig-also-affects-${name}`}
        >
          {t('Pools {{pools}} get the same change and reboot too.', {
            pools: plan.machineConfigAlsoAffects.join(', '),
          })}
        </Alert>
      )}
      {body()}
    </section>
  );
};

export default MachineConfigPreview;
