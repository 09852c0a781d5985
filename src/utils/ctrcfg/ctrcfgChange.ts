// Builds the exact ContainerRuntimeConfig change that turns lazy pulling on or off for one pool.
// Rules (openshift/enhancements additional-storage-config-crio): one ctrcfg per pool — patch the one
// that selects the pool, create one only when none exists, never a second; disabling removes only our
// store and deletes the ctrcfg only when the wizard created it and nothing else is left in it.
// Every request carries a guard (a test op on metadata.resourceVersion, or delete preconditions), so
// the API server refuses it when someone changed the object after the wizard read it.

import { CREATED_BY_LABEL, CREATED_BY_VALUE, STORE_ANNOTATION } from '../constants';
import { ContainerRuntimeConfigModel } from '../models';
import type { ContainerRuntimeConfig, MachineConfigPool } from '../types/k8s';
import type { PatchOperation } from './jsonPatch';
import { pointerToken } from './jsonPatch';
import { selectorMatches } from './labelSelector';
import { unchangedSince } from './preconditions';
import { MAX_LAYER_STORES, normalizeStorePath, sameStorePath } from './storePath';

const POOL_LABEL_PREFIX = 'pools.operator.machineconfiguration.openshift.io/';
const STORES = '/spec/containerRuntimeConfig/additionalLayerStores';

export type BlockedReason =
  | 'multiple-ctrcfgs'
  | 'too-many-stores'
  | 'no-pool-label'
  /** The pool already has lazy pulling on, through a store at another path (names: its paths). */
  | 'other-slipstream-store';

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

/** The store path the wizard recorded on the ctrcfg when it added it, if any. */
export const recordedStorePath = (ctrcfg: ContainerRuntimeConfig): string | undefined =>
  ctrcfg.metadata?.annotations?.[STORE_ANNOTATION];

/**
 * Indexes of the ctrcfg's layer stores that are Slipstream's: the one the wizard recorded adding,
 * and the agent's mountpoint (where the agent serves layers, so also a store added by hand).
 * Trailing slashes do not make another path. This is the one rule every view and action uses.
 */
export const slipstreamStoreIndexes = (
  ctrcfg: ContainerRuntimeConfig,
  agentPath: string,
): number[] => {
  const recorded = recordedStorePath(ctrcfg);
  return layerStorePaths(ctrcfg).flatMap((path, index) =>
    sameStorePath(path, agentPath) || (recorded !== undefined && sameStorePath(path, recorded))
      ? [index]
      : [],
  );
};

/** The ctrcfg that selects the pool and holds a Slipstream store, with that store's paths. */
export const poolSlipstreamStore = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  agentPath: string,
): { ctrcfg: ContainerRuntimeConfig; paths: string[] } | undefined => {
  for (const ctrcfg of ctrcfgsSelectingPool(pool, ctrcfgs)) {
    const stores = layerStorePaths(ctrcfg);
    const indexes = slipstreamStoreIndexes(ctrcfg, agentPath);
    if (indexes.length > 0) return { ctrcfg, paths: indexes.map((i) => stores[i]) };
  }
  return undefined;
};

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

const ANNOTATIONS = '/metadata/annotations';
const annotationPath = `${ANNOTATIONS}/${pointerToken(STORE_ANNOTATION)}`;

const newCtrcfg = (pool: MachineConfigPool, storePath: string): CtrcfgChange => {
  const poolName = pool.metadata?.name ?? '';
  const poolLabel = `${POOL_LABEL_PREFIX}${poolName}`;
  // Select the pool by its label as it is set, value included ("true" as well as "").
  const poolLabelValue = pool.metadata?.labels?.[poolLabel];
  if (poolLabelValue === undefined) {
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
        annotations: { [STORE_ANNOTATION]: storePath },
      },
      spec: {
        machineConfigPoolSelector: { matchLabels: { [poolLabel]: poolLabelValue } },
        containerRuntimeConfig: { additionalLayerStores: [{ path: storePath }] },
      },
    },
  };
};

/** Records the store the wizard adds, so the state and disabling find exactly that path. */
const recordStore = (target: ContainerRuntimeConfig, storePath: string): PatchOperation[] =>
  target.metadata?.annotations
    ? [{ op: 'add', path: annotationPath, value: storePath }]
    : [{ op: 'add', path: ANNOTATIONS, value: { [STORE_ANNOTATION]: storePath } }];

const addStorePatch = (target: ContainerRuntimeConfig, storePath: string): PatchOperation[] => {
  const runtime = target.spec.containerRuntimeConfig;
  // Without the resourceVersion test, "add" would replace a list or settings someone else added
  // since the wizard read the object.
  const guard = unchangedSince(target);
  if (!runtime) {
    return [
      ...guard,
      {
        op: 'add',
        path: '/spec/containerRuntimeConfig',
        value: { additionalLayerStores: [{ path: storePath }] },
      },
      ...recordStore(target, storePath),
    ];
  }
  if (!runtime.additionalLayerStores) {
    return [
      ...guard,
      { op: 'add', path: STORES, value: [{ path: storePath }] },
      ...recordStore(target, storePath),
    ];
  }
  return [
    ...guard,
    { op: 'test', path: STORES, value: runtime.additionalLayerStores },
    { op: 'add', path: `${STORES}/-`, value: { path: storePath } },
    ...recordStore(target, storePath),
  ];
};

/**
 * The change that adds `storePath` to the pool. `agentPath` (the agent's mountpoint) tells which
 * stores already are Slipstream's: a pool that has one at another path is not given a second.
 */
export const buildEnableChange = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  storePath: string,
  agentPath: string = storePath,
): CtrcfgChange => {
  const path = normalizeStorePath(storePath);
  const matching = ctrcfgsSelectingPool(pool, ctrcfgs);
  if (matching.length > 1) {
    return {
      action: 'blocked',
      reason: 'multiple-ctrcfgs',
      names: matching.map((c) => c.metadata?.name ?? ''),
    };
  }
  const target = matching[0];
  if (!target) return newCtrcfg(pool, path);
  const stores = layerStorePaths(target);
  if (stores.some((s) => sameStorePath(s, path))) return { action: 'none', target };
  const ours = slipstreamStoreIndexes(target, agentPath).map((i) => stores[i]);
  if (ours.length > 0) return { action: 'blocked', reason: 'other-slipstream-store', names: ours };
  if (stores.length >= MAX_LAYER_STORES) {
    return { action: 'blocked', reason: 'too-many-stores', names: [target.metadata?.name ?? ''] };
  }
  return { action: 'patch', target, patch: addStorePatch(target, path) };
};

/** True when removing our stores leaves nothing of value in a ctrcfg the wizard created. */
const onlyHoldsOurStores = (target: ContainerRuntimeConfig, ours: readonly number[]): boolean => {
  const runtime = target.spec.containerRuntimeConfig ?? {};
  return (
    Object.keys(runtime).length === 1 &&
    runtime.additionalLayerStores !== undefined &&
    ours.length === layerStorePaths(target).length
  );
};

/**
 * The change that removes exactly the pool's Slipstream store(s) (see slipstreamStoreIndexes) and
 * the wizard's record of it, keeping everything else in the ctrcfg.
 */
export const buildDisableChange = (
  pool: MachineConfigPool,
  ctrcfgs: readonly ContainerRuntimeConfig[],
  agentPath: string,
): CtrcfgChange => {
  const holding = ctrcfgsSelectingPool(pool, ctrcfgs).filter(
    (c) => slipstreamStoreIndexes(c, agentPath).length > 0,
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
  const ours = slipstreamStoreIndexes(target, agentPath);
  if (isCreatedBySlipstream(target) && onlyHoldsOurStores(target, ours)) {
    return { action: 'delete', target };
  }
  const stores = layerStorePaths(target);
  // Each removed entry is tested first, so an index that moved meanwhile removes nothing.
  const tests: PatchOperation[] = ours.map((i) => ({
    op: 'test',
    path: `${STORES}/${i}/path`,
    value: stores[i],
  }));
  // The API requires 1..5 entries, so when only ours are left the whole list goes.
  const removals: PatchOperation[] =
    ours.length === stores.length
      ? [{ op: 'remove', path: STORES }]
      : [...ours].reverse().map((i) => ({ op: 'remove', path: `${STORES}/${i}` }));
  const record: PatchOperation[] =
    recordedStorePath(target) === undefined ? [] : [{ op: 'remove', path: annotationPath }];
  return {
    action: 'patch',
    target,
    patch: [...unchangedSince(target), ...tests, ...removals, ...record],
  };
};
