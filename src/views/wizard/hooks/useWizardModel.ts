import { useAccessReview } from '@openshift-console/dynamic-plugin-sdk';
import { useMemo, useState } from 'react';

import type { AgentOptions } from '../../../utils/agent-config/agentConfig';
import {
  DEFAULT_AGENT_OPTIONS,
  readAgentOptions,
  validateAgentOptions,
  writeAgentOptions,
} from '../../../utils/agent-config/agentConfig';
import { AGENT_CONFIG_KEY } from '../../../utils/constants';
import { ctrcfgsSelectingPool, layerStorePaths } from '../../../utils/ctrcfg/ctrcfgChange';
import { validateStorePathForPools } from '../../../utils/ctrcfg/storePath';
import { useAgentConfig } from '../../../utils/hooks/useAgentConfig';
import { useClusterState } from '../../../utils/hooks/useClusterState';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { additionalStorageGate } from '../../../utils/rollout/featureGate';
import type { AgentHealth } from '../../../utils/rollout/lazyState';
import { poolAgentHealth, poolLazyState } from '../../../utils/rollout/lazyState';
import { getRolloutStatus } from '../../../utils/rollout/rolloutStatus';
import type { ItemList, NodeStatus } from '../../../utils/types/hub';
import type { PoolChoice } from '../components/PoolsStep';
import type { WizardAction } from '../utils/planChanges';
import { planChanges, planIsApplicable } from '../utils/planChanges';

/** All state and derived facts of the wizard; the page only lays out steps. */
export const useWizardModel = (action: WizardAction, initialPool: string | null) => {
  const cluster = useClusterState();
  const agentConfig = useAgentConfig();
  const hubNodes = useHubQuery<ItemList<NodeStatus>>('nodes');
  const [selected, setSelected] = useState<string[]>(initialPool ? [initialPool] : []);
  const [storePath, setStorePath] = useState<string | null>(null);
  const [options, setOptions] = useState<AgentOptions | null>(null);
  const [canPatchConfigMap] = useAccessReview({
    resource: 'configmaps',
    verb: 'patch',
    namespace: agentConfig.namespace,
  });

  const configText = agentConfig.configMap?.data?.[AGENT_CONFIG_KEY];
  // The agent's mountpoint is the store path for disabling, and the default for enabling.
  const effectivePath =
    action === 'disable' ? agentConfig.storePath : (storePath ?? agentConfig.storePath);
  const effectiveOptions =
    options ?? (configText ? readAgentOptions(configText) : DEFAULT_AGENT_OPTIONS);

  const choices: PoolChoice[] = useMemo(
    () =>
      cluster.pools.map((pool) => ({
        name: pool.metadata?.name ?? '',
        state: poolLazyState(pool, cluster.ctrcfgs, agentConfig.storePath, getRolloutStatus(pool)),
        machineCount: pool.status?.machineCount ?? 0,
      })),
    [cluster.pools, cluster.ctrcfgs, agentConfig.storePath],
  );

  const storesPerPool = useMemo(
    () =>
      cluster.pools
        .filter((p) => selected.includes(p.metadata?.name ?? ''))
        .map((p) => [
          ...new Set(ctrcfgsSelectingPool(p, cluster.ctrcfgs).flatMap(layerStorePaths)),
        ]),
    [cluster.pools, cluster.ctrcfgs, selected],
  );
  const storePathError = validateStorePathForPools(effectivePath, storesPerPool);
  const optionErrors = validateAgentOptions(effectiveOptions);

  const plans = useMemo(
    () => planChanges(action, cluster.pools, cluster.ctrcfgs, selected, effectivePath),
    [action, cluster.pools, cluster.ctrcfgs, selected, effectivePath],
  );

  const agents: Record<string, AgentHealth> = Object.fromEntries(
    cluster.pools.map((p) => [
      p.metadata?.name ?? '',
      poolAgentHealth(p, cluster.nodes, hubNodes.data?.items ?? []),
    ]),
  );

  const agentConfigWritable =
    action === 'enable' && Boolean(agentConfig.configMap) && canPatchConfigMap;
  const newConfigText =
    agentConfigWritable && options && configText !== undefined
      ? writeAgentOptions(configText, effectiveOptions)
      : undefined;

  return {
    loaded: cluster.loaded && agentConfig.loaded,
    error: cluster.error,
    gate: additionalStorageGate(cluster.featureGate),
    choices,
    selected,
    toggle: (name: string, checked: boolean) =>
      setSelected((prev) => (checked ? [...prev, name] : prev.filter((n) => n !== name))),
    storePath: effectivePath,
    setStorePath,
    storePathError: action === 'enable' ? storePathError : null,
    agentMountpoint: agentConfig.storePath,
    options: effectiveOptions,
    setOptions,
    optionErrors,
    agentConfigWritable,
    agentConfigUpdate:
      newConfigText !== undefined && newConfigText !== configText && agentConfig.configMap
        ? { configMap: agentConfig.configMap, text: newConfigText }
        : undefined,
    agentConfigTarget: agentConfig.configMap
      ? `ConfigMap ${agentConfig.configMap.metadata?.namespace}/${agentConfig.configMap.metadata?.name}`
      : undefined,
    plans,
    applicable: planIsApplicable(plans),
    agents,
    selectedPools: cluster.pools.filter((p) => selected.includes(p.metadata?.name ?? '')),
  };
};
