// Builds the exact ContainerRuntimeConfig change that turns lazy pulling on or off for one pool.
// Rules (openshift/enhancements additional-storage-config-crio): one ctrcfg per pool — patch the one
// that selects the pool, create one only when none exists, never a second; disabling removes only our
// store and deletes the ctrcfg only when the wizard created it and nothing else is left in it.

import { CREATED_BY_LABEL, CREATED_BY_VALUE } from '../constants';
import { ContainerRuntimeConfigModel } from '../models';
import type { ContainerRuntimeConfig, MachineConfigPool } from '../types/k8s';
import type { PatchOperation } from './jsonPatch';
import { selectorMatches } from './labelSelector';
import { MAX_LAYER_STORES } from './storePath';

const POOL_LABEL_PREFIX = 'pools.operator.machineconfiguration.openshift.io/';
const STORES = '/spec/containerRuntimeConfig/additionalLayerStores';

export type BlockedReason = 'multiple-ctrcfgs' | 'too-many-stores' | 'no-pool-label';

export type CtrcfgChange =
  | { action: 'patch'; target: ContainerRuntimeConfig; patch: PatchOperation[] }
  | { action: 'create'; object: ContainerRuntimeConfig }
  | { action: 'delete'; target: ContainerRuntimeConfig }
  | { action: 'none'; target?: ContainerRuntimeConfig }
  | { action: 'blocked'; reason: BlockedReason; names: string[] };

export const ctrcfgsSelectingPool = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
): ContainerRuntimeConfig[] =>
  ctrcfgs.filter((c) => selectorMatches(c.spec.machineConfigPoolSelector, pool.metadata?.labels));

export const layerStorePaths = (ctrcfg: ContainerRuntimeConfig | undefined): string[] =>
  (ctrcfg?.spec.containerRuntimeConfig?.additionalLayerStores ?? []).map((s) => s.path);

export const isCreatedBySlipstream = (ctrcfg: ContainerRuntimeConfig): boolean =>
  ctrcfg.metadata?.labels?.[CREATED_BY_LABEL] === CREATED_BY_VALUE;

/** The ctrcfg the pool's store lives in (or would), or 'multiple' when the pool is ambiguous. */
export const poolCtrcfg = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
): ContainerRuntimeConfig | undefined | 'multiple' => {
  const matching = ctrcfgsSelectingPool(pool, ctrcfgs);
  return matching.length > 1 ? 'multiple' : matching[0];
};

const newCtrcfg = (pool: MachineConfigPool, storePath: string): CtrcfgChange => {
  const poolName = pool.metadata?.name ?? '';
  const poolLabel = `${POOL_LABEL_PREFIX}${poolName}`;
  if (pool.metadata?.labels?.[poolLabel] === undefined) {
    return { action: 'blocked', reason: 'no-pool-label', names: [poolName] };
  }
  return {
    action: 'create',
    object: {
      apiVersion: `${ContainerRuntimeConfigModel.apiGroup}/${ContainerRuntimeConfigModel.apiVersion}`,
      kind: ContainerRuntimeConfigModel.kind,
      metadata: {
        name: `slipstream-${poolName}`,
        labels: { [CREATED_BY_LABEL]: CREATED_BY_VALUE },
      },
      spec: {
        machineConfigPoolSelector: { matchLabels: { [poolLabel]: '' } },
        containerRuntimeConfig: { additionalLayerStores: [{ path: storePath }] },
      },
    },
  };
};

const addStorePatch = (target: ContainerRuntimeConfig, storePath: string): PatchOperation[] => {
  const runtime = target.spec.containerRuntimeConfig;
  if (!runtime) {
    return [
      {
        op: 'add',
        path: '/spec/containerRuntimeConfig',
        value: { additionalLayerStores: [{ path: storePath }] },
      },
    ];
  }
  if (!runtime.additionalLayerStores) {
    return [{ op: 'add', path: STORES, value: [{ path: storePath }] }];
  }
  // The test op makes the API server refuse the patch if someone changed the list meanwhile.
  return [
    { op: 'test', path: STORES, value: runtime.additionalLayerStores },
    { op: 'add', path: `${STORES}/-`, value: { path: storePath } },
  ];
};

export const buildEnableChange = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  storePath: string,
): CtrcfgChange => {
  const matching = ctrcfgsSelectingPool(pool, ctrcfgs);
  if (matching.length > 1) {
    return {
      action: 'blocked',
      reason: 'multiple-ctrcfgs',
      names: matching.map((c) => c.metadata?.name ?? ''),
    };
  }
  const target = matching[0];
  if (!target) return newCtrcfg(pool, storePath);
  const stores = layerStorePaths(target);
  if (stores.includes(storePath)) return { action: 'none', target };
  if (stores.length >= MAX_LAYER_STORES) {
    return { action: 'blocked', reason: 'too-many-stores', names: [target.metadata?.name ?? ''] };
  }
  return { action: 'patch', target, patch: addStorePatch(target, storePath) };
};

/** True when removing our store leaves nothing of value in a ctrcfg the wizard created. */
const onlyHoldsOurStore = (target: ContainerRuntimeConfig): boolean => {
  const runtime = target.spec.containerRuntimeConfig ?? {};
  return Object.keys(runtime).length === 1 && layerStorePaths(target).length === 1;
};

export const buildDisableChange = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  storePath: string,
): CtrcfgChange => {
  const holding = ctrcfgsSelectingPool(pool, ctrcfgs).filter((c) =>
    layerStorePaths(c).includes(storePath),
  );
  if (holding.length > 1) {
    return {
      action: 'blocked',
      reason: 'multiple-ctrcfgs',
      names: holding.map((c) => c.metadata?.name ?? ''),
    };
  }
  const target = holding[0];
  if (!target) return { action: 'none' };
  if (isCreatedBySlipstream(target) && onlyHoldsOurStore(target)) {
    return { action: 'delete', target };
  }
  const stores = layerStorePaths(target);
  const index = stores.indexOf(storePath);
  // The API requires 1..5 entries, so the last store goes with its whole list.
  const patch: PatchOperation[] =
    stores.length === 1
      ? [
          { op: 'test', path: `${STORES}/0/path`, value: storePath },
          { op: 'remove', path: STORES },
        ]
      : [
          { op: 'test', path: `${STORES}/${index}/path`, value: storePath },
          { op: 'remove', path: `${STORES}/${index}` },
        ];
  return { action: 'patch', target, patch };
};
