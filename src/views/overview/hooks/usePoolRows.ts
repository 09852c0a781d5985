import { useMemo } from 'react';

import { useAgentConfig } from '../../../utils/hooks/useAgentConfig';
import { useClusterState } from '../../../utils/hooks/useClusterState';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { useKnownStoreMachineConfigs } from '../../../utils/hooks/useStoreMachineConfigs';
import { additionalStorageGate } from '../../../utils/rollout/featureGate';
import type { GateState } from '../../../utils/rollout/featureGate';
import type { AgentHealth, LazyState, NextStep } from '../../../utils/rollout/lazyState';
import {
  nextStep,
  poolAgentHealth,
  poolLazyState,
  poolStoreAtBoot,
} from '../../../utils/rollout/lazyState';
import type { RolloutStatus } from '../../../utils/rollout/rolloutStatus';
import { getRolloutStatus } from '../../../utils/rollout/rolloutStatus';
import type { MachineConfigPool } from '../../../utils/types/k8s';

export type PoolRow = {
  pool: MachineConfigPool;
  name: string;
  rollout: RolloutStatus;
  state: LazyState;
  agents: AgentHealth;
  next: NextStep;
  /** Lazy pulling is on but no MachineConfig creates the store directory at boot. */
  needsRepair: boolean;
};

/** Everything the overview shows per pool, recomputed as the watches and the hub update. */
export const usePoolRows = () => {
  const cluster = useClusterState();
  const agentConfig = useAgentConfig();
  const hubNodes = useHubQuery('nodes', undefined, { pollSeconds: 15 });
  const machineConfigs = useKnownStoreMachineConfigs();
  const gate: GateState = additionalStorageGate(cluster.featureGate);
  const rows = useMemo<PoolRow[]>(
    () =>
      cluster.pools.map((pool) => {
        const rollout = getRolloutStatus(pool);
        const state = poolLazyState(pool, cluster.ctrcfgs, agentConfig.storePath, rollout);
        const agents = poolAgentHealth(pool, cluster.nodes, hubNodes.data?.items ?? []);
        const storeAtBoot = poolStoreAtBoot(
          pool,
          cluster.ctrcfgs,
          agentConfig.storePath,
          machineConfigs,
        );
        return {
          pool,
          name: pool.metadata?.name ?? '',
          rollout,
          state,
          agents,
          next: nextStep(state, rollout, gate, agents, storeAtBoot),
          needsRepair: state !== 'off' && !storeAtBoot,
        };
      }),
    // gate is derived from featureGate
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [
      cluster.pools,
      cluster.ctrcfgs,
      cluster.nodes,
      cluster.featureGate,
      hubNodes.data,
      agentConfig.storePath,
      machineConfigs,
    ],
  );
  return { rows, gate, cluster, hubNodes, storePath: agentConfig.storePath };
};
