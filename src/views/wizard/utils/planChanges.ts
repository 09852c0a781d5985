// The wizard's plan: one ContainerRuntimeConfig change per selected pool, with the facts the review
// must warn about. Two pools that share one ctrcfg get a single change (the second would only fail
// its test op), and the review names every pool such a ctrcfg reaches.
// Each pool also gets a change to its store MachineConfig, which creates the store directory at
// boot: without it a node that joins the pool later cannot start CRI-O (storeMachineConfig.ts).

import type { AgentOptionsError } from '../../../utils/agent-config/agentConfig';
import type { CtrcfgChange } from '../../../utils/ctrcfg/ctrcfgChange';
import {
  buildDisableChange,
  buildEnableChange,
  ctrcfgsSelectingPool,
} from '../../../utils/ctrcfg/ctrcfgChange';
import { selectorMatches } from '../../../utils/ctrcfg/labelSelector';
import type { StorePathError } from '../../../utils/ctrcfg/storePath';
import type { MachineConfigChange } from '../../../utils/machineconfig/storeMachineConfigChange';
import {
  buildStoreDisableChange,
  buildStoreEnableChange,
  poolsSelecting,
} from '../../../utils/machineconfig/storeMachineConfigChange';
import type { GateState } from '../../../utils/rollout/featureGate';
import type {
  ContainerRuntimeConfig,
  MachineConfig,
  MachineConfigPool,
} from '../../../utils/types/k8s';

export type WizardAction = 'enable' | 'disable';

export type PoolPlan = {
  pool: MachineConfigPool;
  change: CtrcfgChange;
  /** Other pools the same ctrcfg selects: they reboot too. */
  alsoAffects: string[];
  /** Set when an earlier pool's change already covers this pool's ctrcfg. */
  coveredBy?: string;
  /** The pool's store MachineConfig: created before the ctrcfg change, deleted after it. */
  machineConfig: MachineConfigChange;
  /** Other pools whose machineConfigSelector picks that MachineConfig: they reboot too. */
  machineConfigAlsoAffects: string[];
  /**
   * Pools (not selected) the ctrcfg change gives the layer store, that no Slipstream store
   * MachineConfig reaches: their new nodes would not start CRI-O.
   */
  withoutStoreDirectory: string[];
};

const targetName = (change: CtrcfgChange): string | undefined =>
  change.action === 'patch' || change.action === 'delete' || change.action === 'none'
    ? change.target?.metadata?.name
    : undefined;

/** The labels of the MachineConfig a change leaves in place (none when it deletes it). */
const labelsAfter = (change: MachineConfigChange): Record<string, string> | undefined => {
  switch (change.action) {
    case 'create':
      return change.object.metadata?.labels;
    case 'patch':
    case 'none':
      return change.target?.metadata?.labels;
    default:
      return undefined;
  }
};

/** The object a MachineConfig change sends or keeps, whose selecting pools reboot with it. */
const machineConfigLabels = (change: MachineConfigChange): Record<string, string> | undefined =>
  change.action === 'delete' ? change.target.metadata?.labels : labelsAfter(change);

const sendsMachineConfig = (change: MachineConfigChange) =>
  change.action === 'create' || change.action === 'patch' || change.action === 'delete';

const poolName = (pool: MachineConfigPool) => pool.metadata?.name ?? '';

/**
 * `storePath` is the store to add when enabling; `agentPath`, the agent's mountpoint, is (with the
 * path the wizard recorded on a ctrcfg) what counts as a Slipstream store, for both actions.
 * `machineConfigs` are the store MachineConfigs the wizard created (it watches only those).
 */
export const planChanges = (
  action: WizardAction,
  pools: readonly MachineConfigPool[],
  ctrcfgs: readonly ContainerRuntimeConfig[],
  selected: readonly string[],
  {
    storePath,
    agentPath,
    machineConfigs = [],
  }: { storePath: string; agentPath: string; machineConfigs?: readonly MachineConfig[] },
): PoolPlan[] => {
  const chosen = pools.filter((pool) => selected.includes(poolName(pool)));
  const build = (pool: MachineConfigPool) =>
    action === 'enable'
      ? buildEnableChange(pool, ctrcfgs, storePath, agentPath)
      : buildDisableChange(pool, ctrcfgs, agentPath);
  const buildMachineConfig = (pool: MachineConfigPool) =>
    action === 'enable'
      ? buildStoreEnableChange(pool, machineConfigs, storePath)
      : buildStoreDisableChange(pool, machineConfigs, {
          pools,
          ctrcfgs,
          agentPath,
          disabling: chosen.map(poolName),
        });
  const seen = new Map<string, string>();
  const plans = chosen.map((pool) => {
    const name = poolName(pool);
    const change = build(pool);
    const target = targetName(change);
    const alsoAffects = target
      ? pools
          .filter((other) => other !== pool)
          .filter((other) =>
            ctrcfgsSelectingPool(other, ctrcfgs).some((c) => c.metadata?.name === target),
          )
          .map(poolName)
      : [];
    const coveredBy = target ? seen.get(target) : undefined;
    if (target && !coveredBy) seen.set(target, name);
    const machineConfig = buildMachineConfig(pool);
    const machineConfigAlsoAffects = sendsMachineConfig(machineConfig)
      ? poolsSelecting(machineConfigLabels(machineConfig), pools, name)
      : [];
    return { pool, change, alsoAffects, coveredBy, machineConfig, machineConfigAlsoAffects };
  });
  // After enabling, every pool the changed ctrcfgs reach lists the store: each needs a store
  // MachineConfig, its own or one it picks (existing, or planned for a selected pool).
  const storeConfigs = [
    ...machineConfigs.map((mc) => mc.metadata?.labels),
    ...plans.map((p) => labelsAfter(p.machineConfig)),
  ];
  return plans.map((plan) => ({
    ...plan,
    withoutStoreDirectory:
      action === 'enable' && (plan.change.action === 'patch' || plan.change.action === 'create')
        ? plan.alsoAffects.filter((other) => {
            if (selected.includes(other)) return false;
            const otherPool = pools.find((p) => poolName(p) === other);
            return !storeConfigs.some((labels) =>
              selectorMatches(otherPool?.spec.machineConfigSelector, labels),
            );
          })
        : [],
  }));
};

/** True when the pool's ctrcfg or store MachineConfig cannot be changed safely. */
export const isBlocked = (plan: PoolPlan): boolean =>
  plan.change.action === 'blocked' || plan.machineConfig.action === 'blocked';

/** True when the pool's own ctrcfg request is sent (not covered by another pool's). */
export const sendsCtrcfg = (plan: PoolPlan): boolean =>
  !plan.coveredBy && plan.change.action !== 'none' && plan.change.action !== 'blocked';

/** True when the pool's store MachineConfig is created, patched or deleted. */
export const sendsStoreMachineConfig = (plan: PoolPlan): boolean =>
  sendsMachineConfig(plan.machineConfig);

/** True when the plan would send at least one request and nothing in it is blocked. */
export const planIsApplicable = (plans: readonly PoolPlan[]): boolean =>
  plans.length > 0 &&
  plans.every((p) => !isBlocked(p)) &&
  plans.some((p) => sendsCtrcfg(p) || sendsStoreMachineConfig(p));

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
  if (plans.some(isBlocked)) blockers.push('pool-blocked');
  else if (!planIsApplicable(plans)) blockers.push('nothing-to-change');
  if (action === 'enable') {
    if (storePathError !== null) blockers.push('invalid-store-path');
    if (optionErrors.length > 0) blockers.push('invalid-agent-options');
    if (gate.enabled === false) blockers.push('feature-gate-off');
  }
  return blockers;
};

/**
 * A pool Apply changes: the requests that change it (its ctrcfg's, or the one that covers it, and
 * its store MachineConfig's), and the rendered config it targeted before.
 */
export type AppliedPool = { requestIds: string[]; configBefore: string | undefined };

/** The id of a pool's ctrcfg request in the Progress step (the pool's name, as before). */
export const ctrcfgRequestId = (pool: string): string => pool;
/** The id of a pool's store MachineConfig request in the Progress step. */
export const machineConfigRequestId = (pool: string): string => `machineconfig-${pool}`;

/**
 * The selected pools Apply changes (a pool covered by another pool's change goes with that
 * request), so the Progress step can tell a rollout that has not started yet from the old state.
 */
export const appliedPools = (plans: readonly PoolPlan[]): Record<string, AppliedPool> =>
  Object.fromEntries(
    plans
      .filter((p) => !isBlocked(p))
      .map((p): [string, AppliedPool] => {
        const name = poolName(p.pool);
        const ctrcfg = p.change.action === 'none' ? [] : [ctrcfgRequestId(p.coveredBy ?? name)];
        const machineConfig = sendsStoreMachineConfig(p) ? [machineConfigRequestId(name)] : [];
        return [
          name,
          {
            requestIds: [...ctrcfg, ...machineConfig],
            configBefore: p.pool.spec.configuration?.name,
          },
        ];
      })
      .filter(([, applied]) => applied.requestIds.length > 0),
  );

/** The first `max` names and how many more there are, for lists that can run to hundreds. */
export const firstOf = (
  names: readonly string[],
  max: number,
): { shown: string[]; more: number } => ({
  shown: names.slice(0, max),
  more: Math.max(0, names.length - max),
});
