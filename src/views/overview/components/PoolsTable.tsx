import { ResourceLink } from '@openshift-console/dynamic-plugin-sdk';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';

import AgentHealthSummary from '../../../utils/components/AgentHealthSummary';
import LazyStateLabel from '../../../utils/components/LazyStateLabel';
import NextStep from '../../../utils/components/NextStep';
import PoolActions from '../../../utils/components/PoolActions';
import RolloutProgress from '../../../utils/components/RolloutProgress';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import { groupVersionKind, MachineConfigPoolModel } from '../../../utils/models';
import type { PoolRow } from '../hooks/usePoolRows';

const PoolsTable = ({ rows, hubUp }: { rows: PoolRow[]; hubUp: boolean }) => {
  const { t } = useSlipstreamTranslation();
  return (
    <Table aria-label={t('Machine config pools')} variant="compact" data-test="pools-table">
      <Thead>
        <Tr>
          <Th>{t('Pool')}</Th>
          <Th>{t('Lazy pulling')}</Th>
          <Th>{t('Rollout')}</Th>
          <Th>{t('Paused')}</Th>
          <Th>{t('Agents')}</Th>
          <Th>{t('Next step')}</Th>
          <Th screenReaderText={t('Actions')} />
        </Tr>
      </Thead>
      <Tbody>
        {rows.map((row) => (
          <Tr key={row.name} data-test={`pool-row-${row.name}`}>
            <Td dataLabel={t('Pool')}>
              <ResourceLink
                groupVersionKind={groupVersionKind(MachineConfigPoolModel)}
                name={row.name}
              />
            </Td>
            <Td dataLabel={t('Lazy pulling')}>
              <LazyStateLabel state={row.state} />
            </Td>
            <Td dataLabel={t('Rollout')}>
              <RolloutProgress status={row.rollout} poolName={row.name} />
            </Td>
            <Td dataLabel={t('Paused')}>{row.rollout.paused ? t('Yes') : t('No')}</Td>
            <Td dataLabel={t('Agents')}>
              <AgentHealthSummary agents={row.agents} hubUp={hubUp} />
            </Td>
            <Td dataLabel={t('Next step')}>
              <NextStep step={row.next} missingAgents={row.agents.missing.length} />
            </Td>
            <Td isActionCell>
              <PoolActions pool={row.name} state={row.state} needsRepair={row.needsRepair} />
            </Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
};

export default PoolsTable;
