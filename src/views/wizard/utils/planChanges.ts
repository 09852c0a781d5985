// The wizard's plan: one ContainerRuntimeConfig change per selected pool, with the facts the review
// must warn about. Two pools that share one ctrcfg get a single change (the second would only fail
// its test op), and the review names every pool such a ctrcfg reaches.

import type { CtrcfgChange } from '../../../utils/ctrcfg/ctrcfgChange';
import {
  buildDisableChange,
  buildEnableChange,
  ctrcfgsSelectingPool,
} from '../../../utils/ctrcfg/ctrcfgChange';
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

export const planChanges = (
  action: WizardAction,
  pools: readonly MachineConfigPool[],
  ctrcfgs: readonly ContainerRuntimeConfig[],
  selected: readonly string[],
  storePath: string,
): PoolPlan[] => {
  const build = action === 'enable' ? buildEnableChange : buildDisableChange;
  const seen = new Map<string, string>();
  return pools
    .filter((pool) => selected.includes(pool.metadata?.name ?? ''))
    .map((pool) => {
      const name = pool.metadata?.name ?? '';
      const change = build(pool, ctrcfgs, storePath);
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
