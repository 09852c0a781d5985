// The host's stand-in for the cluster: objects the SDK shim's useK8sWatchResource watches, and a
// record of every k8sPatch / k8sCreate / k8sDelete the plugin sends (the tests check those).
import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';

import type { PatchOperation } from '../../src/utils/ctrcfg/jsonPatch';
import { applyJsonPatch, PatchError } from '../../src/utils/ctrcfg/jsonPatch';

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

const keyOf = (obj: K8sResourceCommon) =>
  `${obj.kind ?? ''}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

export class K8sStore {
  private objects = new Map<string, K8sResourceCommon>();
  private listeners = new Set<Listener>();
  private revision = 0;
  readonly calls: RecordedCall[] = [];
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

  list(kind: string, namespace?: string): K8sResourceCommon[] {
    return [...this.objects.values()].filter(
      (o) => o.kind === kind && (namespace === undefined || o.metadata?.namespace === namespace),
    );
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
      throw new Error(`${object.kind} ${object.metadata?.name} already exists`);
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
