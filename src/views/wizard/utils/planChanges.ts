// The wizard's plan: one ContainerRuntimeConfig change per selected pool, with the facts the review
// must warn about. Two pools that share one ctrcfg get a single change (the second would only fail
// its test op), and the review names every pool such a ctrcfg reaches.

import type { AgentOptionsError } from '../../../utils/agent-config/agentConfig';
import type { CtrcfgChange } from '../../../utils/ctrcfg/ctrcfgChange';
import {
  buildDisableChange,
  buildEnableChange,
  ctrcfgsSelectingPool,
} from '../../../utils/ctrcfg/ctrcfgChange';
import type { StorePathError } from '../../../utils/ctrcfg/storePath';
import type { GateState } from '../../../utils/rollout/featureGate';
import type { ContainerRuntimeConfig, MachineConfigPool } from '../../../utils/types/k8s';

export type WizardAction = 'enable' | 'disable';

export type PoolPlan = {
  pool: MachineConfigPool;
  change: CtrcfgChange;
  /** Other pools the same ctrcfg selects: they reboot too. */
  alsoAffects: string[];
  /** Set when an earlier pool's change already covers this pool's ctrcfg. */
  coveredBy?: string;
};

const targetName = (change: CtrcfgChange): string | undefined =>
  change.action === 'patch' || change.action === 'delete' || change.action === 'none'
    ? change.target?.metadata?.name
    : undefined;

/**
 * `storePath` is the store to add when enabling; `agentPath`, the agent's mountpoint, is (with the
 * path the wizard recorded on a ctrcfg) what counts as a Slipstream store, for both actions.
 */
export const planChanges = (
  action: WizardAction,
  pools: readonly MachineConfigPool[],
  ctrcfgs: readonly ContainerRuntimeConfig[],
  selected: readonly string[],
  { storePath, agentPath }: { storePath: string; agentPath: string },
): PoolPlan[] => {
  const build = (pool: MachineConfigPool) =>
    action === 'enable'
      ? buildEnableChange(pool, ctrcfgs, storePath, agentPath)
      : buildDisableChange(pool, ctrcfgs, agentPath);
  const seen = new Map<string, string>();
  return pools
    .filter((pool) => selected.includes(pool.metadata?.name ?? ''))
    .map((pool) => {
      const name = pool.metadata?.name ?? '';
      const change = build(pool);
      const target = targetName(change);
      const alsoAffects = target
        ? pools
            .filter((other) => other !== pool)
            .filter((other) =>
              ctrcfgsSelectingPool(other, ctrcfgs).some((c) => c.metadata?.name === target),
            )
            .map((other) => other.metadata?.name ?? '')
        : [];
      const coveredBy = target ? seen.get(target) : undefined;
      if (target && !coveredBy) seen.set(target, name);
      return { pool, change, alsoAffects, coveredBy };
    });
};

/** True when the plan would send at least one request and nothing in it is blocked. */
export const planIsApplicable = (plans: readonly PoolPlan[]): boolean =>
  plans.length > 0 &&
  plans.every((p) => p.change.action !== 'blocked') &&
  plans.some((p) => p.change.action !== 'none' && !p.coveredBy);

/** Why Apply is disabled; Apply is enabled only when this list is empty. */
export type ApplyBlocker =
  /** No selected pool would change. */
  | 'nothing-to-change'
  /** A selected pool cannot be changed safely (see its preview). */
  | 'pool-blocked'
  | 'invalid-store-path'
  | 'invalid-agent-options'
  /** The API server would drop additionalLayerStores: nothing would change on the nodes. */
  | 'feature-gate-off';

/**
 * Everything that must hold before Apply sends anything, checked on the Review step whatever way it
 * was reached: the plan, every step's input and the feature gate. `optionErrors` are the errors of
 * the agent options that would be written (none when the options are read-only).
 */
export const applyBlockers = ({
  action,
  plans,
  storePathError,
  optionErrors,
  gate,
}: {
  action: WizardAction;
  plans: readonly PoolPlan[];
  storePathError: StorePathError | null;
  optionErrors: readonly AgentOptionsError[];
  gate: GateState;
}): ApplyBlocker[] => {
  const blockers: ApplyBlocker[] = [];
  if (plans.some((p) => p.change.action === 'blocked')) blockers.push('pool-blocked');
  else if (!planIsApplicable(plans)) blockers.push('nothing-to-change');
  if (action === 'enable') {
    if (storePathError !== null) blockers.push('invalid-store-path');
    if (optionErrors.length > 0) blockers.push('invalid-agent-options');
    if (gate.enabled === false) blockers.push('feature-gate-off');
  }
  return blockers;
};

/** A pool Apply changes: the request that changes it, and the rendered config it targeted before. */
export type AppliedPool = { requestId: string; configBefore: string | undefined };

/**
 * The selected pools Apply changes (a pool covered by another pool's change goes with that
 * request), so the Progress step can tell a rollout that has not started yet from the old state.
 */
export const appliedPools = (plans: readonly PoolPlan[]): Record<string, AppliedPool> =>
  Object.fromEntries(
    plans
      .filter((p) => p.change.action !== 'none' && p.change.action !== 'blocked')
      .map((p) => {
        const name = p.pool.metadata?.name ?? '';
        return [
          name,
          { requestId: p.coveredBy ?? name, configBefore: p.pool.spec.configuration?.name },
        ];
      }),
  );

/** The first `max` names and how many more there are, for lists that can run to hundreds. */
export const firstOf = (
  names: readonly string[],
  max: number,
): { shown: string[]; more: number } => ({
  shown: names.slice(0, max),
  more: Math.max(0, names.length - max),
});
