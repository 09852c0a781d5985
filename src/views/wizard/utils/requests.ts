// The requests Apply sends besides the ctrcfg changes, and how their failures read.

import { AGENT_CONFIG_KEY } from '../../../utils/constants';
import type { PatchOperation } from '../../../utils/ctrcfg/jsonPatch';
import type { ConfigMap } from '../../../utils/types/k8s';

const DATA_PATH = `/data/${AGENT_CONFIG_KEY.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * Replaces agent.yaml, refused by the API server if someone changed the ConfigMap (any key, or its
 * metadata) or the document itself since the wizard read it.
 */
export const agentConfigPatch = (configMap: ConfigMap, text: string): PatchOperation[] => [
  ...(configMap.metadata?.resourceVersion === undefined
    ? []
    : [
        {
          op: 'test' as const,
          path: '/metadata/resourceVersion',
          value: configMap.metadata.resourceVersion,
        },
      ]),
  { op: 'test', path: DATA_PATH, value: configMap.data?.[AGENT_CONFIG_KEY] },
  { op: 'replace', path: DATA_PATH, value: text },
];

const statusOf = (error: unknown): number | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, status, response } = error as {
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown };
  };
  for (const candidate of [code, status, response?.status]) {
    if (typeof candidate === 'number') return candidate;
  }
  return undefined;
};

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * True when the API server refused a request because the object changed after the wizard read it:
 * 409 Conflict (delete preconditions, resourceVersion), or 422 for a failed JSON-patch test op
 * ("testing value /metadata/resourceVersion failed"). Other 422s are validation errors.
 */
export const isConflict = (error: unknown): boolean => {
  const status = statusOf(error);
  if (status === 409) return true;
  return status === 422 && /test(ing value| operation)?\b.*fail/i.test(messageOf(error));
};
