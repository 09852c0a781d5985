// The host's stand-in for the cluster: objects the SDK shim's useK8sWatchResource watches, and a
// record of every k8sPatch / k8sCreate / k8sDelete the plugin sends and of every kind of watch it
// opens (the tests check those).
import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';

import type { PatchOperation } from '../../src/utils/ctrcfg/jsonPatch';
import { applyJsonPatch, PatchError } from '../../src/utils/ctrcfg/jsonPatch';
import { selectorMatches } from '../../src/utils/ctrcfg/labelSelector';
import type { LabelSelector } from '../../src/utils/types/k8s';

export type Gvk = { group?: string; version: string; kind: string };

export type RecordedCall =
  | { verb: 'patch'; kind: string; name: string; namespace?: string; patch: PatchOperation[] }
  | { verb: 'create'; kind: string; object: K8sResourceCommon }
  | {
      verb: 'delete';
      kind: string;
      name: string;
      namespace?: string;
      preconditions?: Preconditions;
    };

export type Preconditions = { uid?: string; resourceVersion?: string };

/** A watch the plugin opened: the kind, and the label selector the API server would apply. */
export type RecordedWatch = { kind: string; isList: boolean; selector?: LabelSelector };

/** Refusals the API server answers with a status code (422 failed test op, 409 conflict). */
export class StatusError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

type Listener = () => void;

/** A list's label selector as the API server applies it: none (or an empty one) selects all. */
const labelsMatch = (selector: LabelSelector | undefined, labels?: Record<string, string>) =>
  !selector ||
  (Object.keys(selector.matchLabels ?? {}).length === 0 &&
    (selector.matchExpressions ?? []).length === 0) ||
  selectorMatches(selector, labels);

const keyOf = (obj: K8sResourceCommon) =>
  `${obj.kind ?? ''}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

export class K8sStore {
  private objects = new Map<string, K8sResourceCommon>();
  private listeners = new Set<Listener>();
  private revision = 0;
  readonly calls: RecordedCall[] = [];
  readonly watches: RecordedWatch[] = [];
  /** Kinds whose reads fail as a 403 would (RBAC tests). */
  readonly forbidden = new Set<string>();

  subscribe = (listener: Listener) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getRevision = () => this.revision;

  private changed() {
    this.revision += 1;
    this.listeners.forEach((l) => l());
  }

  put(...objects: K8sResourceCommon[]) {
    objects.forEach((o) =>
      this.objects.set(keyOf(o), JSON.parse(JSON.stringify(o)) as K8sResourceCommon),
    );
    this.changed();
  }

  /** Changes objects without telling the watchers: a change their watch has not delivered yet. */
  putUnwatched(...objects: K8sResourceCommon[]) {
    objects.forEach((o) =>
      this.objects.set(keyOf(o), JSON.parse(JSON.stringify(o)) as K8sResourceCommon),
    );
  }

  list(kind: string, namespace?: string, selector?: LabelSelector): K8sResourceCommon[] {
    return [...this.objects.values()].filter(
      (o) =>
        o.kind === kind &&
        (namespace === undefined || o.metadata?.namespace === namespace) &&
        labelsMatch(selector, o.metadata?.labels),
    );
  }

  /** Remembers each distinct watch once. */
  recordWatch(watch: RecordedWatch) {
    const key = JSON.stringify(watch);
    if (!this.watches.some((w) => JSON.stringify(w) === key)) this.watches.push(watch);
  }

  get(kind: string, name: string, namespace?: string): K8sResourceCommon | undefined {
    return this.list(kind, namespace).find((o) => o.metadata?.name === name);
  }

  patch(kind: string, name: string, namespace: string | undefined, patch: PatchOperation[]) {
    this.calls.push({ verb: 'patch', kind, name, ...(namespace ? { namespace } : {}), patch });
    const current = this.get(kind, name, namespace);
    if (!current) throw new Error(`${kind} ${name} not found`);
    let next: K8sResourceCommon;
    try {
      next = applyJsonPatch(current, patch);
    } catch (e) {
      // As kube-apiserver: a failed test op is 422 "testing value … failed".
      if (e instanceof PatchError) throw new StatusError(`testing value failed: ${e.message}`, 422);
      throw e;
    }
    next.metadata = {
      ...next.metadata,
      generation: (current.metadata?.generation ?? 0) + 1,
      resourceVersion: String(Number(current.metadata?.resourceVersion ?? 0) + 1),
    };
    this.put(next);
    return next;
  }

  create(object: K8sResourceCommon) {
    this.calls.push({ verb: 'create', kind: object.kind ?? '', object });
    if (this.get(object.kind ?? '', object.metadata?.name ?? '', object.metadata?.namespace)) {
      // The API server's AlreadyExists is a 409.
      throw new StatusError(`${object.kind} ${object.metadata?.name} already exists`, 409);
    }
    const created = {
      ...object,
      metadata: { ...object.metadata, generation: 1, resourceVersion: '1' },
    };
    this.put(created);
    return created;
  }

  delete(kind: string, name: string, namespace?: string, preconditions?: Preconditions) {
    this.calls.push({
      verb: 'delete',
      kind,
      name,
      ...(namespace ? { namespace } : {}),
      ...(preconditions ? { preconditions } : {}),
    });
    const current = this.get(kind, name, namespace);
    if (!current) throw new Error(`${kind} ${name} not found`);
    const { uid, resourceVersion } = preconditions ?? {};
    if (
      (uid !== undefined && uid !== current.metadata?.uid) ||
      (resourceVersion !== undefined && resourceVersion !== current.metadata?.resourceVersion)
    ) {
      throw new StatusError(
        `Precondition failed for ${kind} ${name}: the object has been modified`,
        409,
      );
    }
    this.objects.delete(keyOf(current));
    this.changed();
  }
}
