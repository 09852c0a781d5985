// The order Apply sends a plan's requests in. A pool's store MachineConfig must create the store
// directory before storage.conf lists the store, and go only after storage.conf no longer does:
//  - enabling: every store MachineConfig first, then the ctrcfg changes; a ctrcfg change waits for
//    the MachineConfigs of every pool it reaches, and is not sent if one of them failed;
//  - disabling: the ctrcfg changes first, then the MachineConfig deletions; a deletion is not sent
//    if the ctrcfg change of its pool failed (the store is still listed).

import type { PoolPlan, WizardAction } from './planChanges';
import {
  ctrcfgRequestId,
  machineConfigRequestId,
  sendsCtrcfg,
  sendsStoreMachineConfig,
} from './planChanges';

/** Why a request was not sent: one it depends on did not succeed. */
export type SkipReason =
  /** Enabling: the store MachineConfig was not created, so the store must not be listed. */
  | 'store-directory-missing'
  /** Disabling: the store is still listed, so its directory is still needed. */
  | 'store-still-listed';

export type PlannedRequest = {
  id: string;
  kind: 'ctrcfg' | 'machineconfig';
  plan: PoolPlan;
  /** Requests that must have succeeded before this one is sent. */
  after: string[];
  skipReason?: SkipReason;
};

const nameOf = (plan: PoolPlan) => plan.pool.metadata?.name ?? '';

const ctrcfgRequest = (plan: PoolPlan, after: string[] = []): PlannedRequest => ({
  id: ctrcfgRequestId(nameOf(plan)),
  kind: 'ctrcfg',
  plan,
  after,
  ...(after.length > 0 ? { skipReason: 'store-directory-missing' as const } : {}),
});

const machineConfigRequest = (plan: PoolPlan, after: string[] = []): PlannedRequest => ({
  id: machineConfigRequestId(nameOf(plan)),
  kind: 'machineconfig',
  plan,
  after,
  ...(after.length > 0 ? { skipReason: 'store-still-listed' as const } : {}),
});

export const applyOrder = (action: WizardAction, plans: readonly PoolPlan[]): PlannedRequest[] => {
  const withMachineConfig = plans.filter(sendsStoreMachineConfig);
  const withCtrcfg = plans.filter(sendsCtrcfg);
  if (action === 'enable') {
    return [
      ...withMachineConfig.map((plan) => machineConfigRequest(plan)),
      ...withCtrcfg.map((plan) =>
        ctrcfgRequest(
          plan,
          // The pool itself and the pools whose ctrcfg this request covers.
          withMachineConfig
            .filter((p) => p === plan || p.coveredBy === nameOf(plan))
            .map((p) => machineConfigRequestId(nameOf(p))),
        ),
      ),
    ];
  }
  return [
    ...withCtrcfg.map((plan) => ctrcfgRequest(plan)),
    ...withMachineConfig.map((plan) => {
      const covering = plan.coveredBy ?? nameOf(plan);
      const sent = withCtrcfg.some((p) => nameOf(p) === covering);
      return machineConfigRequest(plan, sent ? [ctrcfgRequestId(covering)] : []);
    }),
  ];
};
