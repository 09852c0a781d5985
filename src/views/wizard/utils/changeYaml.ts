import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';
import { stringify } from 'yaml';

import type { CtrcfgChange } from '../../../utils/ctrcfg/ctrcfgChange';
import type { PatchOperation } from '../../../utils/ctrcfg/jsonPatch';
import { applyJsonPatch } from '../../../utils/ctrcfg/jsonPatch';
import { fromDataUrl } from '../../../utils/machineconfig/dataUrl';
import {
  STORE_TMPFILES_PATH,
  storeFileIndex,
} from '../../../utils/machineconfig/storeMachineConfig';
import type { MachineConfigChange } from '../../../utils/machineconfig/storeMachineConfigChange';
import type { ContainerRuntimeConfig, MachineConfig } from '../../../utils/types/k8s';

const CTRCFG_RESOURCE = 'containerruntimeconfigs.machineconfiguration.openshift.io';
const MACHINE_CONFIG_RESOURCE = 'machineconfigs.machineconfiguration.openshift.io';

type Change<T> =
  | { action: 'patch'; target: T; patch: PatchOperation[] }
  | { action: 'create'; object: T }
  | { action: 'delete'; target: T }
  | { action: 'none' | 'blocked' };

/** The request as YAML: the JSON patch (and the spec it produces), the object to create, or the
 * object to delete. Returns the object the request leaves, if any, too. */
const requestYaml = <T extends K8sResourceCommon & { spec?: unknown }>(
  change: Change<T>,
  resource: string,
): { text: string; after?: T } => {
  switch (change.action) {
    case 'patch': {
      const name = change.target.metadata?.name ?? '';
      const result = applyJsonPatch(change.target, change.patch);
      return {
        text: [
          `# PATCH ${resource}/${name} (application/json-patch+json)`,
          stringify(change.patch).trimEnd(),
          '# resulting spec',
          stringify({ spec: result.spec }).trimEnd(),
        ].join('\n'),
        after: result,
      };
    }
    case 'create':
      return {
        text: [`# CREATE ${resource}`, stringify(change.object).trimEnd()].join('\n'),
        after: change.object,
      };
    case 'delete':
      return { text: `# DELETE ${resource}/${change.target.metadata?.name ?? ''}` };
    default:
      return { text: '' };
  }
};

/** The exact request a ctrcfg change sends, as YAML, for the review step. */
export const changeYaml = (change: CtrcfgChange): string =>
  requestYaml<ContainerRuntimeConfig>(change, CTRCFG_RESOURCE).text;

/**
 * The exact request a store MachineConfig change sends, as YAML, and below it the file it writes,
 * decoded from its data URL (what systemd-tmpfiles reads on the node).
 */
export const machineConfigChangeYaml = (change: MachineConfigChange): string => {
  const { text, after } = requestYaml<MachineConfig>(change, MACHINE_CONFIG_RESOURCE);
  const file = after?.spec.config?.storage?.files?.[storeFileIndex(after)];
  const contents = fromDataUrl(file?.contents?.source);
  if (contents === undefined) return text;
  const lines = contents.trimEnd().split('\n');
  return [text, `# ${STORE_TMPFILES_PATH}, decoded:`, ...lines.map((l) => `#   ${l}`)].join('\n');
};
