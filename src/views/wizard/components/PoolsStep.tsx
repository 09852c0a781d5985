import { Checkbox, Content, Form, FormGroup } from '@patternfly/react-core';

import Alert from '../../../utils/components/Alert';
import LazyStateLabel from '../../../utils/components/LazyStateLabel';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { LazyState } from '../../../utils/rollout/lazyState';
import type { WizardAction } from '../utils/planChanges';

export type PoolChoice = { name: string; state: LazyState; machineCount: number };

const PoolsStep = ({
  action,
  pools,
  selected,
  unknownPool,
  onToggle,
}: {
  action: WizardAction;
  pools: PoolChoice[];
  selected: string[];
  /** A pool the link asked for that does not exist. */
  unknownPool?: string;
  onToggle: (name: string, checked: boolean) => void;
}) => {
  const { t } = useSlipstreamTranslation();
  return (
    <Form>
      {unknownPool !== undefined && (
        <Alert
          isInline
          variant="warning"
          title={t('There is no pool named {{pool}}', { pool: unknownPool })}
        >
          {t('Choose the pools below.')}
        </Alert>
      )}
      <Content component="p">
        {action === 'enable'
          ? t('Choose the pools whose nodes should pull images lazily.')
          : t('Choose the pools on which to turn lazy pulling off.')}
      </Content>
      <FormGroup role="group" isStack label={t('Machine config pools')} fieldId="slipstream-pools">
        {pools.map((pool) => (
          <Checkbox
            key={pool.name}
            id={`slipstream-pool-${pool.name}`}
            data-test={`pick-pool-${pool.name}`}
            isChecked={selected.includes(pool.name)}
            onChange={(_e, checked) => onToggle(pool.name, checked)}
            label={
              <>
                {pool.name} <LazyStateLabel state={pool.state} />
              </>
            }
            description={t('{{count}} machines', { count: pool.machineCount })}
          />
        ))}
      </FormGroup>
    </Form>
  );
};

export default PoolsStep;
