import { stringify } from 'yaml';

import type { CtrcfgChange } from '../../../utils/ctrcfg/ctrcfgChange';
import { applyJsonPatch } from '../../../utils/ctrcfg/jsonPatch';

const RESOURCE = 'containerruntimeconfigs.machineconfiguration.openshift.io';

/**
 * The exact request a change sends, as YAML, for the review step: the JSON patch (and the spec it
 * produces), the object to create, or the object to delete.
 */
export const changeYaml = (change: CtrcfgChange): string => {
  switch (change.action) {
    case 'patch': {
      const name = change.target.metadata?.name ?? '';
      const result = applyJsonPatch(change.target, change.patch);
      return [
        `# PATCH ${RESOURCE}/${name} (application/json-patch+json)`,
        stringify(change.patch).trimEnd(),
        '# resulting spec',
        stringify({ spec: result.spec }).trimEnd(),
      ].join('\n');
    }
    case 'create':
      return [`# CREATE ${RESOURCE}`, stringify(change.object).trimEnd()].join('\n');
    case 'delete':
      return `# DELETE ${RESOURCE}/${change.target.metadata?.name ?? ''}`;
    default:
      return '';
  }
};
