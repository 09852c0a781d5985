// What the overview says about a pool: is lazy pulling on, and what should the admin do next.

import { poolSlipstreamStore } from '../ctrcfg/ctrcfgChange';
import { selectorMatches } from '../ctrcfg/labelSelector';
import { storeDirectoriesAtBoot } from '../machineconfig/storeMachineConfig';
import type { NodeStatus } from '../types/hub';
import type { ContainerRuntimeConfig, MachineConfig, MachineConfigPool, Node } from '../types/k8s';
import type { GateState } from './featureGate';
import type { RolloutStatus } from './rolloutStatus';

export type LazyState = 'off' | 'applying' | 'on' | 'failed';

const latestCondition = (ctrcfg: ContainerRuntimeConfig) => {
  const conditions = [...(ctrcfg.status?.conditions ?? [])];
  conditions.sort((a, b) => (a.lastTransitionTime ?? '').localeCompare(b.lastTransitionTime ?? ''));
  return conditions.at(-1);
};

/** `agentPath` is the agent's mountpoint; the store the wizard recorded counts as well. */
export const poolLazyState = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  agentPath: string,
  rollout: RolloutStatus,
): LazyState => {
  const holding = poolSlipstreamStore(pool, ctrcfgs, agentPath)?.ctrcfg;
  if (!holding) return 'off';
  // The MCO reports render errors as a condition of type Failure on the ctrcfg.
  if (latestCondition(holding)?.type === 'Failure') return 'failed';
  const observed = holding.status?.observedGeneration ?? 0;
  if (observed < (holding.metadata?.generation ?? 0)) return 'applying';
  // A pool without machines has nothing to roll out: its config applies to machines as they join.
  return rollout.phase === 'updated' || rollout.phase === 'empty' ? 'on' : 'applying';
};

/**
 * Whether every Slipstream store the pool lists is created at boot by a store MachineConfig.
 * `machineConfigs` undefined (not loaded, or not readable): assumed so.
 */
export const poolStoreAtBoot = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  agentPath: string,
  machineConfigs: readonly MachineConfig[] | undefined,
): boolean => {
  const paths = poolSlipstreamStore(pool, ctrcfgs, agentPath)?.paths ?? [];
  return machineConfigs === undefined || storeDirectoriesAtBoot(pool, machineConfigs, paths);
};

export type AgentHealth = {
  nodes: string[];
  healthy: string[];
  /** Nodes of the pool without a healthy, reporting agent. */
  missing: string[];
};

export const poolAgentHealth = (
  pool: MachineConfigPool,
  nodes: readonly Node[],
  hubNodes: readonly NodeStatus[],
): AgentHealth => {
  const names = nodes
    .filter((n) => selectorMatches(pool.spec.nodeSelector, n.metadata?.labels))
    .map((n) => n.metadata?.name ?? '');
  const healthy = names.filter((name) =>
    hubNodes.some((h) => h.node === name && h.healthy && h.mountState === 'mounted'),
  );
  return { nodes: names, healthy, missing: names.filter((n) => !healthy.includes(n)) };
};

export type NextStep =
  | 'enable-feature-gate'
  | 'install-agent'
  | 'enable'
  | 'unpause-pool'
  | 'wait-for-rollout'
  | 'investigate-degraded'
  | 'investigate-ctrcfg'
  /** Lazy pulling is on, but no MachineConfig creates the store directory at boot. */
  | 'add-store-machineconfig'
  | 'none';

/**
 * The one thing to do next, in the order the rollout actually needs it. `storeAtBoot` is false when
 * the pool lists the store but no store MachineConfig creates its directory at boot (unknown
 * counts as true: a user who may not list MachineConfigs is not nagged).
 */
export const nextStep = (
  state: LazyState,
  rollout: RolloutStatus,
  gate: GateState,
  agents: AgentHealth,
  storeAtBoot = true,
): NextStep => {
  if (rollout.phase === 'degraded') return 'investigate-degraded';
  if (state === 'failed') return 'investigate-ctrcfg';
  if (gate.enabled === false) return 'enable-feature-gate';
  if (state === 'off') return agents.missing.length > 0 ? 'install-agent' : 'enable';
  // Before waiting on the rollout: the MachineConfig joins the same rollout when added now.
  if (!storeAtBoot) return 'add-store-machineconfig';
  if (state === 'applying') return rollout.paused ? 'unpause-pool' : 'wait-for-rollout';
  return agents.missing.length > 0 ? 'install-agent' : 'none';
};
