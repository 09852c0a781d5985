import {
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  PageSection,
  Stack,
  StackItem,
  Title,
} from '@patternfly/react-core';

import AgentHealthSummary from '../../utils/components/AgentHealthSummary';
import FeatureGateAlert from '../../utils/components/FeatureGateAlert';
import LazyStateLabel from '../../utils/components/LazyStateLabel';
import LoadError from '../../utils/components/LoadError';
import Loading from '../../utils/components/Loading';
import NextStep from '../../utils/components/NextStep';
import PoolActions from '../../utils/components/PoolActions';
import RolloutProgress from '../../utils/components/RolloutProgress';
import { poolCtrcfg, poolSlipstreamStore } from '../../utils/ctrcfg/ctrcfgChange';
import { useAgentConfig } from '../../utils/hooks/useAgentConfig';
import { useClusterState } from '../../utils/hooks/useClusterState';
import { useHubQuery } from '../../utils/hooks/useHubQuery';
import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import { useKnownStoreMachineConfigs } from '../../utils/hooks/useStoreMachineConfigs';
import { additionalStorageGate } from '../../utils/rollout/featureGate';
import {
  nextStep,
  poolAgentHealth,
  poolLazyState,
  poolStoreAtBoot,
} from '../../utils/rollout/lazyState';
import { getRolloutStatus } from '../../utils/rollout/rolloutStatus';
import type { MachineConfigPool } from '../../utils/types/k8s';
import '../../utils/components/slipstream.css';

/** "Lazy pulling" tab on a MachineConfigPool's details page. */
const PoolLazyPullingTab = ({ obj: pool }: { obj: MachineConfigPool }) => {
  const { t } = useSlipstreamTranslation();
  const cluster = useClusterState();
  const { storePath } = useAgentConfig();
  const hubNodes = useHubQuery('nodes', undefined, { pollSeconds: 15 });
  const machineConfigs = useKnownStoreMachineConfigs();
  if (cluster.error) return <LoadError error={cluster.error} />;
  if (!cluster.loaded) return <Loading />;
  const name = pool.metadata?.name ?? '';
  const rollout = getRolloutStatus(pool);
  const state = poolLazyState(pool, cluster.ctrcfgs, storePath, rollout);
  const agents = poolAgentHealth(pool, cluster.nodes, hubNodes.data?.items ?? []);
  const gate = additionalStorageGate(cluster.featureGate);
  const storeAtBoot = poolStoreAtBoot(pool, cluster.ctrcfgs, storePath, machineConfigs);
  const ctrcfg = poolCtrcfg(pool, cluster.ctrcfgs);
  // The store the pool lists (it may be one the wizard added at another path), else the agent's.
  const poolStore = poolSlipstreamStore(pool, cluster.ctrcfgs, storePath)?.paths.join(', ');
  const ctrcfgText =
    ctrcfg === 'multiple' ? t('More than one (merge them)') : (ctrcfg?.metadata?.name ?? t('None'));
  return (
    <PageSection>
      <Stack hasGutter>
        <StackItem>
          <Title headingLevel="h2">{t('Lazy image pulling')}</Title>
        </StackItem>
        <StackItem>
          <FeatureGateAlert gate={gate} />
        </StackItem>
        <StackItem>
          <DescriptionList isHorizontal>
            <DescriptionListGroup>
              <DescriptionListTerm>{t('Lazy pulling')}</DescriptionListTerm>
              <DescriptionListDescription>
                <LazyStateLabel state={state} />
              </DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t('ContainerRuntimeConfig')}</DescriptionListTerm>
              <DescriptionListDescription>{ctrcfgText}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t('Store path')}</DescriptionListTerm>
              <DescriptionListDescription>{poolStore ?? storePath}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t('Rollout')}</DescriptionListTerm>
              <DescriptionListDescription>
                <RolloutProgress status={rollout} poolName={name} />
              </DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t('Agents')}</DescriptionListTerm>
              <DescriptionListDescription>
                <AgentHealthSummary agents={agents} hubUp={hubNodes.error === undefined} />
              </DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t('Next step')}</DescriptionListTerm>
              <DescriptionListDescription>
                <NextStep
                  step={nextStep(state, rollout, gate, agents, storeAtBoot)}
                  missingAgents={agents.missing.length}
                />
              </DescriptionListDescription>
            </DescriptionListGroup>
          </DescriptionList>
        </StackItem>
        <StackItem>
          <PoolActions pool={name} state={state} needsRepair={!storeAtBoot} />
        </StackItem>
      </Stack>
    </PageSection>
  );
};

export default PoolLazyPullingTab;
