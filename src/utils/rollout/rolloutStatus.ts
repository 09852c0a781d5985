// Rollout state of a MachineConfigPool from its status (openshift/api machineconfiguration/v1).
// Done = Updated=True, Updating=False and the rendered config in status equals the one in spec.

import type { Condition, MachineConfigPool } from '../types/k8s';

export type RolloutPhase =
  | 'updated'
  | 'updating'
  | 'paused'
  | 'degraded'
  /** The MCO has not (yet) reported on the pool's current generation. */
  | 'pending'
  /** Converged, but the pool has no machines: nothing to roll out to. */
  | 'empty';

export type RolloutStatus = {
  phase: RolloutPhase;
  machineCount: number;
  updated: number;
  ready: number;
  unavailable: number;
  degraded: number;
  /** 0..100, updated machines over all machines. */
  percent: number;
  paused: boolean;
  targetConfig?: string;
  currentConfig?: string;
  /** Conditions that explain the phase (True ones of Updating/Degraded/…, with messages). */
  reasons: Condition[];
};

const DEGRADED_TYPES = ['Degraded', 'NodeDegraded', 'RenderDegraded'];

export const conditionTrue = (pool: MachineConfigPool, type: string): boolean =>
  pool.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

const phaseOf = (pool: MachineConfigPool, s: Omit<RolloutStatus, 'phase'>): RolloutPhase => {
  if (s.degraded > 0 || DEGRADED_TYPES.some((t) => conditionTrue(pool, t))) return 'degraded';
  // A new pool the MCO has not reported on: it is waiting, not updating.
  if (!pool.status || (pool.status.observedGeneration === undefined && !pool.status.conditions)) {
    return s.paused ? 'paused' : 'pending';
  }
  const generation = pool.metadata?.generation;
  const observed = pool.status?.observedGeneration;
  const converged =
    s.targetConfig === s.currentConfig &&
    conditionTrue(pool, 'Updated') &&
    !conditionTrue(pool, 'Updating') &&
    s.updated === s.machineCount;
  if (converged && (generation === undefined || observed === generation)) {
    return s.machineCount === 0 ? 'empty' : 'updated';
  }
  if (s.paused) return 'paused';
  if (generation !== undefined && observed !== undefined && observed < generation) {
    return 'pending';
  }
  return 'updating';
};

export const getRolloutStatus = (pool: MachineConfigPool): RolloutStatus => {
  const status = pool.status ?? {};
  const machineCount = status.machineCount ?? 0;
  const updated = status.updatedMachineCount ?? 0;
  const base = {
    machineCount,
    updated,
    ready: status.readyMachineCount ?? 0,
    unavailable: status.unavailableMachineCount ?? 0,
    degraded: status.degradedMachineCount ?? 0,
    percent: machineCount > 0 ? Math.round((updated / machineCount) * 100) : 0,
    paused: pool.spec.paused === true,
    targetConfig: pool.spec.configuration?.name,
    currentConfig: status.configuration?.name,
    reasons: (status.conditions ?? []).filter(
      (c) => c.status === 'True' && ['Updating', ...DEGRADED_TYPES].includes(c.type),
    ),
  };
  return { ...base, phase: phaseOf(pool, base) };
};

/**
 * A pool's rollout of a change applied while it targeted `configBefore`: until the MCO renders a new
 * config for it, none of its machines has the change, whatever its old state says.
 */
export const rolloutSince = (
  status: RolloutStatus,
  configBefore: string | undefined,
): RolloutStatus =>
  status.phase !== 'degraded' && status.targetConfig === configBefore
    ? { ...status, phase: 'pending', updated: 0, percent: 0 }
    : status;
