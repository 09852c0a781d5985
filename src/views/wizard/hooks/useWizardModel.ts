import { useAccessReview } from '@openshift-console/dynamic-plugin-sdk';
import { useMemo, useState } from 'react';

import type { AgentOptions } from '../../../utils/agent-config/agentConfig';
import {
  parseAgentConfig,
  validateAgentOptions,
  writeAgentOptions,
} from '../../../utils/agent-config/agentConfig';
import { AGENT_CONFIG_KEY } from '../../../utils/constants';
import { ctrcfgsSelectingPool, layerStorePaths } from '../../../utils/ctrcfg/ctrcfgChange';
import { normalizeStorePath, validateStorePathForPools } from '../../../utils/ctrcfg/storePath';
import { useAgentConfig } from '../../../utils/hooks/useAgentConfig';
import { useClusterState } from '../../../utils/hooks/useClusterState';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { useStoreMachineConfigs } from '../../../utils/hooks/useStoreMachineConfigs';
import { additionalStorageGate } from '../../../utils/rollout/featureGate';
import type { AgentHealth } from '../../../utils/rollout/lazyState';
import { poolAgentHealth, poolLazyState } from '../../../utils/rollout/lazyState';
import { getRolloutStatus } from '../../../utils/rollout/rolloutStatus';
import type { PoolChoice } from '../components/PoolsStep';
import type { WizardAction } from '../utils/planChanges';
import { applyBlockers, planChanges, sendsStoreMachineConfig } from '../utils/planChanges';
import type { AgentConfigUpdate } from './useApplyChanges';

/** The rewritten agent.yaml, or undefined when it cannot be written safely. */
const rewrite = (text: string, options: AgentOptions): string | undefined => {
  try {
    return writeAgentOptions(text, options);
  } catch {
    return undefined;
  }
};

/** All state and derived facts of the wizard; the page only lays out steps. */
export const useWizardModel = (action: WizardAction, initialPool: string | null) => {
  const cluster = useClusterState();
  const agentConfig = useAgentConfig();
  const hubNodes = useHubQuery('nodes');
  const storeMachineConfigs = useStoreMachineConfigs();
  const [picked, setPicked] = useState<string[]>(initialPool ? [initialPool] : []);
  const [storePath, setStorePath] = useState<string | null>(null);
  const [options, setOptions] = useState<AgentOptions | null>(null);
  const [canPatchConfigMap] = useAccessReview({
    resource: 'configmaps',
    verb: 'patch',
    namespace: agentConfig.namespace,
  });

  // Only pools that exist count as selected: a ?pool= naming no pool preselects nothing.
  const poolNames = useMemo(
    () => cluster.pools.map((p) => p.metadata?.name ?? ''),
    [cluster.pools],
  );
  const selected = useMemo(
    () => picked.filter((name) => poolNames.includes(name)),
    [picked, poolNames],
  );
  const unknownPool =
    cluster.loaded && initialPool !== null && !poolNames.includes(initialPool)
      ? initialPool
      : undefined;

  // The agent's mountpoint: the default store path, and (with the path the wizard recorded on a
  // ctrcfg) what counts as Slipstream's store for the pools' state and for disabling.
  const agentPath = agentConfig.storePath;
  const typedPath = storePath ?? agentPath;
  const writtenPath = normalizeStorePath(typedPath);

  const configText = agentConfig.configMap?.data?.[AGENT_CONFIG_KEY];
  const parsedConfig = useMemo(() => parseAgentConfig(configText), [configText]);
  // A document the wizard cannot parse is shown as an error and never rewritten.
  const agentConfigWritable =
    action === 'enable' &&
    Boolean(agentConfig.configMap) &&
    configText !== undefined &&
    parsedConfig.error === undefined &&
    canPatchConfigMap;
  const effectiveOptions = (agentConfigWritable ? options : null) ?? parsedConfig.options;
  // Errors only count for options that would be written.
  const optionErrors = agentConfigWritable ? validateAgentOptions(effectiveOptions) : [];

  const choices: PoolChoice[] = useMemo(
    () =>
      cluster.pools.map((pool) => ({
        name: pool.metadata?.name ?? '',
        state: poolLazyState(pool, cluster.ctrcfgs, agentPath, getRolloutStatus(pool)),
        machineCount: pool.status?.machineCount ?? 0,
      })),
    [cluster.pools, cluster.ctrcfgs, agentPath],
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

  const machineConfigs = storeMachineConfigs.data;
  const plans = useMemo(
    () =>
      planChanges(action, cluster.pools, cluster.ctrcfgs, selected, {
        storePath: writtenPath,
        agentPath,
        machineConfigs: machineConfigs ?? [],
      }),
    [action, cluster.pools, cluster.ctrcfgs, selected, writtenPath, agentPath, machineConfigs],
  );

  // Pools that already list the store still need a change when their store MachineConfig is
  // missing (enabled by an earlier version of the wizard) or creates another directory.
  const pathError =
    action === 'enable' ? validateStorePathForPools(typedPath, storesPerPool) : null;
  const storePathError =
    pathError === 'duplicate' && plans.some(sendsStoreMachineConfig) ? null : pathError;

  const agents: Record<string, AgentHealth> = Object.fromEntries(
    cluster.pools.map((p) => [
      p.metadata?.name ?? '',
      poolAgentHealth(p, cluster.nodes, hubNodes.data?.items ?? []),
    ]),
  );

  // Written only when the user changed the options and they are valid.
  const newConfigText =
    agentConfigWritable && options && optionErrors.length === 0 && configText !== undefined
      ? rewrite(configText, effectiveOptions)
      : undefined;
  const agentConfigUpdate: AgentConfigUpdate | undefined =
    newConfigText !== undefined && newConfigText !== configText && agentConfig.configMap
      ? { configMap: agentConfig.configMap, text: newConfigText }
      : undefined;

  const gate = additionalStorageGate(cluster.featureGate);
  const blockers = applyBlockers({ action, plans, storePathError, optionErrors, gate });

  return {
    loaded: cluster.loaded && agentConfig.loaded && storeMachineConfigs.loaded,
    // Without the store MachineConfigs the plan could create one twice or leave one behind.
    error: cluster.error ?? storeMachineConfigs.error,
    gate,
    choices,
    selected,
    unknownPool,
    toggle: (name: string, checked: boolean) =>
      setPicked((prev) =>
        checked ? [...prev.filter((n) => n !== name), name] : prev.filter((n) => n !== name),
      ),
    storePath: typedPath,
    setStorePath,
    storePathError,
    agentMountpoint: agentPath,
    options: effectiveOptions,
    setOptions,
    optionErrors,
    agentConfigWritable,
    /** Why agent.yaml could not be read (the options are then read-only). */
    agentConfigError: action === 'enable' ? parsedConfig.error : undefined,
    agentConfigUpdate,
    agentConfigTarget: agentConfig.configMap
      ? `ConfigMap ${agentConfig.configMap.metadata?.namespace}/${agentConfig.configMap.metadata?.name}`
      : undefined,
    plans,
    blockers,
    applicable: blockers.length === 0,
    agents,
    selectedPools: cluster.pools.filter((p) => selected.includes(p.metadata?.name ?? '')),
  };
};
