// The host's implementation of the console SDK functions the plugin uses, shared into the plugin's
// module-federation scope as '@openshift-console/dynamic-plugin-sdk'. Kubernetes calls go to the
// in-memory K8sStore (recorded); consoleFetchJSON really fetches (the static server proxies the hub).
import type {
  K8sModel,
  K8sResourceCommon,
  WatchK8sResource,
} from '@openshift-console/dynamic-plugin-sdk';
import type { ReactNode } from 'react';
import { useEffect, useMemo, useSyncExternalStore } from 'react';

import type { PatchOperation } from '../../src/utils/ctrcfg/jsonPatch';
import type { LabelSelector } from '../../src/utils/types/k8s';
import type { Preconditions } from './k8sStore';
import { K8sStore } from './k8sStore';

export const store = new K8sStore();
export const access = { allowed: true };
export const flags: Record<string, boolean> = { MACHINE_CONFIG: true };

export class HttpError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

const fetchJSON = async (url: string, method = 'GET') => {
  const response = await fetch(url, { method, headers: { Accept: 'application/json' } });
  if (!response.ok)
    throw new HttpError(`${response.status} ${response.statusText}`, response.status);
  return (await response.json()) as unknown;
};

export const consoleFetchJSON = Object.assign(
  (url: string, method?: string) => fetchJSON(url, method),
  {
    delete: (url: string) => fetchJSON(url, 'DELETE'),
  },
);

type Watch = (WatchK8sResource & { groupVersionKind?: { kind: string } }) | null;

export const useK8sWatchResource = (resource: Watch) => {
  const revision = useSyncExternalStore(store.subscribe, store.getRevision);
  const kind = resource?.groupVersionKind?.kind ?? '';
  const { name, namespace, isList } = resource ?? {};
  // Compared by value: callers pass a new selector object on every render.
  const selectorKey = JSON.stringify(resource?.selector ?? null);
  useEffect(() => {
    if (!resource) return;
    const selector = JSON.parse(selectorKey) as LabelSelector | null;
    store.recordWatch({ kind, isList: isList === true, ...(selector ? { selector } : {}) });
  }, [kind, isList, selectorKey, resource === null]);
  return useMemo(() => {
    if (!resource) return [undefined, true, undefined];
    if (store.forbidden.has(kind)) return [undefined, true, new HttpError('Forbidden', 403)];
    const selector = JSON.parse(selectorKey) as LabelSelector | null;
    if (isList) return [store.list(kind, namespace, selector ?? undefined), true, undefined];
    const found = store.get(kind, name ?? '', namespace);
    return found ? [found, true, undefined] : [undefined, true, new HttpError('Not Found', 404)];
    // revision is the store's change counter
  }, [revision, kind, name, namespace, isList, selectorKey, resource === null]);
};

const asyncCall = <T,>(run: () => T): Promise<T> =>
  new Promise((resolve, reject) => {
    // Like the API server: answer later, and fail with an error object.
    setTimeout(() => {
      try {
        resolve(run());
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    }, 50);
  });

type Options = {
  model: K8sModel;
  resource?: K8sResourceCommon;
  data?: unknown;
  name?: string;
  ns?: string;
  json?: { preconditions?: Preconditions };
};

export const k8sPatch = ({ model, resource, data }: Options) =>
  asyncCall(() =>
    store.patch(
      model.kind,
      resource?.metadata?.name ?? '',
      resource?.metadata?.namespace,
      data as PatchOperation[],
    ),
  );

export const k8sCreate = ({ data }: Options) =>
  asyncCall(() => store.create(data as K8sResourceCommon));

export const k8sDelete = ({ model, resource, json }: Options) =>
  asyncCall(() =>
    store.delete(
      model.kind,
      resource?.metadata?.name ?? '',
      resource?.metadata?.namespace,
      json?.preconditions,
    ),
  );

export const k8sGet = ({ model, name, ns }: Options) =>
  asyncCall(() => {
    const found = store.get(model.kind, name ?? '', ns);
    if (!found) throw new HttpError('Not Found', 404);
    return found;
  });

export const useAccessReview = () => [access.allowed, false] as [boolean, boolean];

export const useFlag = (flag: string) => flags[flag] === true;

export const DocumentTitle = ({ children }: { children: string }) => {
  useEffect(() => {
    document.title = children;
  }, [children]);
  return null;
};

export const ResourceLink = ({ name, children }: { name?: string; children?: ReactNode }) => (
  <span className="host__resource-link">
    {name}
    {children}
  </span>
);
