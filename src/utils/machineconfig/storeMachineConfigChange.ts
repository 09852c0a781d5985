// Builds the exact change to a pool's store MachineConfig (see storeMachineConfig.ts): create it,
// fix it (another store path, labels its pool's selector no longer matches), leave it, or delete it.
// Like the ContainerRuntimeConfig changes, every request carries a guard: a leading test op on
// metadata.resourceVersion, or delete preconditions.

import { CREATED_BY_LABEL, CREATED_BY_VALUE, STORE_ANNOTATION } from '../constants';
import { poolSlipstreamStore } from '../ctrcfg/ctrcfgChange';
import type { PatchOperation } from '../ctrcfg/jsonPatch';
import { pointerToken } from '../ctrcfg/jsonPatch';
import { selectorMatches } from '../ctrcfg/labelSelector';
import { unchangedSince } from '../ctrcfg/preconditions';
import { normalizeStorePath } from '../ctrcfg/storePath';
import type { ContainerRuntimeConfig, MachineConfig, MachineConfigPool } from '../types/k8s';
import { labelsForSelector } from './selectorLabels';
import {
  isSlipstreamMachineConfig,
  isStoreFileFor,
  poolStoreMachineConfig,
  STORE_IGNITION_VERSION,
  storeFile,
  storeFileIndex,
  storeMachineConfig,
  storeMachineConfigName,
} from './storeMachineConfig';

export type MachineConfigBlockedReason =
  /** No labels satisfy the pool's machineConfigSelector: no MachineConfig can reach its nodes. */
  'no-selector-labels';

export type MachineConfigChange =
  | { action: 'create'; object: MachineConfig }
  | { action: 'patch'; target: MachineConfig; patch: PatchOperation[] }
  | { action: 'delete'; target: MachineConfig }
  /** `keptFor`: pools that still list the store and take its directory from this one. */
  | { action: 'none'; target?: MachineConfig; keptFor?: string[] }
  | { action: 'blocked'; reason: MachineConfigBlockedReason; names: string[] };

const poolName = (pool: MachineConfigPool) => pool.metadata?.name ?? '';

/** The labels the pool's store MachineConfig gets: its selector's, and the created-by mark. */
export const storeMachineConfigLabels = (
  pool: MachineConfigPool,
): Record<string, string> | undefined => {
  const selector = pool.spec.machineConfigSelector;
  const derived = labelsForSelector(selector, poolName(pool));
  if (!derived) return undefined;
  const labels = { ...derived, [CREATED_BY_LABEL]: CREATED_BY_VALUE };
  // A selector that excludes the created-by mark cannot pick a MachineConfig the wizard owns.
  return selectorMatches(selector, labels) ? labels : undefined;
};

/** Pools (other than `except`) whose machineConfigSelector picks an object with these labels. */
export const poolsSelecting = (
  labels: Record<string, string> | undefined,
  pools: readonly MachineConfigPool[],
  except?: string,
): string[] =>
  pools
    .filter((p) => poolName(p) !== except)
    .filter((p) => selectorMatches(p.spec.machineConfigSelector, labels))
    .map(poolName);

const LABELS = '/metadata/labels';
const ANNOTATIONS = '/metadata/annotations';
const FILES = '/spec/config/storage/files';

const labelOps = (target: MachineConfig, wanted: Record<string, string>): PatchOperation[] => {
  const current = target.metadata?.labels;
  if (!current) return [{ op: 'add', path: LABELS, value: wanted }];
  return Object.entries(wanted)
    .filter(([key, value]) => current[key] !== value)
    .map(([key, value]) => ({ op: 'add', path: `${LABELS}/${pointerToken(key)}`, value }));
};

const fileOps = (target: MachineConfig, storePath: string): PatchOperation[] => {
  const file = storeFile(storePath);
  const config = target.spec.config;
  const index = storeFileIndex(target);
  if (index >= 0) {
    return [
      // The file is replaced only where the wizard saw it.
      { op: 'test', path: `${FILES}/${index}/path`, value: file.path },
      { op: 'replace', path: `${FILES}/${index}`, value: file },
    ];
  }
  if (config?.storage?.files) return [{ op: 'add', path: `${FILES}/-`, value: file }];
  if (config?.storage) return [{ op: 'add', path: FILES, value: [file] }];
  if (config) return [{ op: 'add', path: '/spec/config/storage', value: { files: [file] } }];
  return [
    {
      op: 'add',
      path: '/spec/config',
      value: { ignition: { version: STORE_IGNITION_VERSION }, storage: { files: [file] } },
    },
  ];
};

const recordOps = (target: MachineConfig, storePath: string): PatchOperation[] => {
  const annotations = target.metadata?.annotations;
  if (annotations?.[STORE_ANNOTATION] === storePath) return [];
  return annotations
    ? [{ op: 'add', path: `${ANNOTATIONS}/${pointerToken(STORE_ANNOTATION)}`, value: storePath }]
    : [{ op: 'add', path: ANNOTATIONS, value: { [STORE_ANNOTATION]: storePath } }];
};

/**
 * Enabling: the pool's store MachineConfig must exist, create the directory at `storePath` and be
 * picked by the pool's selector. Created when missing, patched when it creates another directory
 * or its labels no longer match the selector, left alone when it is right.
 */
export const buildStoreEnableChange = (
  pool: MachineConfigPool,
  machineConfigs: readonly MachineConfig[],
  storePath: string,
): MachineConfigChange => {
  const name = poolName(pool);
  const path = normalizeStorePath(storePath);
  const labels = storeMachineConfigLabels(pool);
  if (!labels) return { action: 'blocked', reason: 'no-selector-labels', names: [name] };
  const target = poolStoreMachineConfig(name, machineConfigs);
  if (!target) return { action: 'create', object: storeMachineConfig(name, path, labels) };
  const labelsRight = selectorMatches(pool.spec.machineConfigSelector, target.metadata?.labels);
  const fileRight = isStoreFileFor(
    target.spec.config?.storage?.files?.[storeFileIndex(target)],
    path,
  );
  if (labelsRight && fileRight) return { action: 'none', target };
  return {
    action: 'patch',
    target,
    patch: [
      ...unchangedSince(target),
      ...(labelsRight ? [] : labelOps(target, labels)),
      ...(fileRight ? [] : fileOps(target, path)),
      ...recordOps(target, path),
    ],
  };
};

/**
 * Disabling: the pool's store MachineConfig is deleted (after its ctrcfg change) — unless another
 * pool that keeps lazy pulling on takes the directory from it and from no other store
 * MachineConfig (a custom pool selecting role In [worker, infra] picks the worker's).
 * `disabling` names every pool the plan disables.
 */
export const buildStoreDisableChange = (
  pool: MachineConfigPool,
  machineConfigs: readonly MachineConfig[],
  {
    pools,
    ctrcfgs,
    agentPath,
    disabling,
  }: {
    pools: readonly MachineConfigPool[];
    ctrcfgs: readonly ContainerRuntimeConfig[];
    agentPath: string;
    disabling: readonly string[];
  },
): MachineConfigChange => {
  const name = poolName(pool);
  const target = poolStoreMachineConfig(name, machineConfigs);
  if (!target) return { action: 'none' };
  const deleted = new Set(disabling.map(storeMachineConfigName));
  const staying = machineConfigs.filter(
    (mc) => isSlipstreamMachineConfig(mc) && !deleted.has(mc.metadata?.name ?? ''),
  );
  const keptFor = poolsSelecting(target.metadata?.labels, pools, name).filter((other) => {
    if (disabling.includes(other)) return false;
    const otherPool = pools.find((p) => poolName(p) === other);
    if (!otherPool || !poolSlipstreamStore(otherPool, ctrcfgs, agentPath)) return false;
    return !staying.some((mc) =>
      selectorMatches(otherPool.spec.machineConfigSelector, mc.metadata?.labels),
    );
  });
  if (keptFor.length > 0) return { action: 'none', target, keptFor };
  return { action: 'delete', target };
};
