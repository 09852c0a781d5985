// The MachineConfig that makes the layer store directory exist on every boot of a pool's nodes.
// containers/storage stats every additional layer store when CRI-O starts and fails without it
// ("overlay: can't stat additionallayerstore dir"), and the API says the path "must exist on the
// node before configuration is applied". The agent's init container creates it only after CRI-O is
// up, so a node that joins an enabled pool (scale-up, autoscaler, replacement) would never start
// CRI-O. A tmpfiles.d entry is applied by systemd-tmpfiles-setup.service in sysinit.target, before
// crio.service, on the first boot as on every later one.

import { CREATED_BY_LABEL, CREATED_BY_VALUE, STORE_ANNOTATION } from '../constants';
import { selectorMatches } from '../ctrcfg/labelSelector';
import { normalizeStorePath } from '../ctrcfg/storePath';
import { MachineConfigModel } from '../models';
import type { IgnitionFile, MachineConfig, MachineConfigPool } from '../types/k8s';
import { fromDataUrl, toDataUrl } from './dataUrl';

export const STORE_TMPFILES_PATH = '/etc/tmpfiles.d/slipstream-store.conf';
/** Any Ignition 3.x spec version the MCO accepts; 3.2.0 is understood by every 4.x release. */
export const STORE_IGNITION_VERSION = '3.2.0';
/** 0644, as Ignition wants it: decimal. */
export const STORE_FILE_MODE = 0o644;

/** `99-` sorts it after the MCO's own configs, like the MCO's `99-<pool>-generated-*`. */
export const storeMachineConfigName = (poolName: string): string =>
  `99-${poolName}-slipstream-store`;

/** The tmpfiles.d(5) line: create the directory (root, 0755) if missing, never clean it. */
export const storeTmpfilesText = (storePath: string): string => `d ${storePath} 0755 root root -\n`;

export const storeFile = (storePath: string): IgnitionFile => ({
  path: STORE_TMPFILES_PATH,
  mode: STORE_FILE_MODE,
  overwrite: true,
  contents: { source: toDataUrl(storeTmpfilesText(storePath)) },
});

export const storeMachineConfig = (
  poolName: string,
  storePath: string,
  labels: Record<string, string>,
): MachineConfig => ({
  apiVersion: `${MachineConfigModel.apiGroup}/${MachineConfigModel.apiVersion}`,
  kind: MachineConfigModel.kind,
  metadata: {
    name: storeMachineConfigName(poolName),
    labels: { ...labels, [CREATED_BY_LABEL]: CREATED_BY_VALUE },
    annotations: { [STORE_ANNOTATION]: storePath },
  },
  spec: {
    config: {
      ignition: { version: STORE_IGNITION_VERSION },
      storage: { files: [storeFile(storePath)] },
    },
  },
});

export const isSlipstreamMachineConfig = (mc: MachineConfig): boolean =>
  mc.metadata?.labels?.[CREATED_BY_LABEL] === CREATED_BY_VALUE;

/** The pool's store MachineConfig, if the wizard created it (by name and label). */
export const poolStoreMachineConfig = (
  poolName: string,
  machineConfigs: readonly MachineConfig[],
): MachineConfig | undefined =>
  machineConfigs.find(
    (mc) => mc.metadata?.name === storeMachineConfigName(poolName) && isSlipstreamMachineConfig(mc),
  );

/** Index of the tmpfiles.d file in the MachineConfig's Ignition config, or -1. */
export const storeFileIndex = (mc: MachineConfig): number =>
  (mc.spec.config?.storage?.files ?? []).findIndex((f) => f.path === STORE_TMPFILES_PATH);

/** The directory the MachineConfig's tmpfiles.d file creates, if it creates one. */
export const storeDirectoryOf = (mc: MachineConfig): string | undefined => {
  const file = mc.spec.config?.storage?.files?.[storeFileIndex(mc)];
  const text = fromDataUrl(file?.contents?.source);
  return text === undefined ? undefined : /^d\s+(\S+)/m.exec(text)?.[1];
};

/** True when the file is exactly the one that creates `storePath` (contents, mode, overwrite). */
export const isStoreFileFor = (file: IgnitionFile | undefined, storePath: string): boolean =>
  file !== undefined &&
  fromDataUrl(file.contents?.source) === storeTmpfilesText(storePath) &&
  file.mode === STORE_FILE_MODE &&
  file.overwrite === true;

/**
 * Whether, for each of `storePaths`, a store MachineConfig the wizard created and the pool's
 * machineConfigSelector picks creates that directory at boot. A pool that lists a store without
 * one (enabled with `oc`, or by an earlier wizard) runs until a node joins it: that node's CRI-O
 * does not start without the directory.
 */
export const storeDirectoriesAtBoot = (
  pool: MachineConfigPool,
  machineConfigs: readonly MachineConfig[],
  storePaths: readonly string[],
): boolean =>
  storePaths.every((path) =>
    machineConfigs.some(
      (mc) =>
        isSlipstreamMachineConfig(mc) &&
        selectorMatches(pool.spec.machineConfigSelector, mc.metadata?.labels) &&
        normalizeStorePath(storeDirectoryOf(mc) ?? '') === normalizeStorePath(path),
    ),
  );
