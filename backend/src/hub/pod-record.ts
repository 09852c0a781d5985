// Turns a Pod (as the informer hands it: a list item with Date fields, or a raw watch object with
// ISO strings) into the timestamps the hub records. Only what startup measurement needs is read.
import { digestFromImageId, normalizeImage } from './images.ts';
import { containerFromFieldPath } from './kubelet-events.ts';

export interface ContainerObservation {
  name: string;
  image: string;
  imageRaw: string;
  imageDigest: string | null;
  startedAt: number | null;
  readyAt: number | null;
}

export interface PodObservation {
  uid: string;
  namespace: string;
  name: string;
  node: string | null;
  createdAt: number;
  scheduledAt: number | null;
  readyToStartAt: number | null;
  readyAt: number | null;
  containers: ContainerObservation[];
}

type Loose = Record<string, unknown> | undefined;

function obj(value: unknown): Loose {
  return value !== null && typeof value === 'object'
    ? (value as Record<string, unknown>)
    : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Epoch milliseconds from a Date or an RFC 3339 string; null when absent or unparseable. */
export function toMillis(value: unknown): number | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
  if (typeof value !== 'string' || value === '') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

function conditionTrueAt(conditions: unknown[], type: string): number | null {
  for (const c of conditions) {
    const cond = obj(c);
    if (cond?.type === type && cond.status === 'True') return toMillis(cond.lastTransitionTime);
  }
  return null;
}

function containerStartedAt(status: Loose): number | null {
  const state = obj(status?.state);
  const last = obj(status?.lastState);
  // The earliest start we can see: after a restart the first run is in lastState.
  const candidates = [
    toMillis(obj(state?.running)?.startedAt),
    toMillis(obj(state?.terminated)?.startedAt),
    toMillis(obj(last?.terminated)?.startedAt),
  ].filter((t): t is number => t !== null);
  return candidates.length ? Math.min(...candidates) : null;
}

/** Reads a Pod object; null when it lacks identity (uid, name, creation time). */
export function observePod(pod: unknown): PodObservation | null {
  const meta = obj(obj(pod)?.metadata);
  const spec = obj(obj(pod)?.spec);
  const status = obj(obj(pod)?.status);
  const uid = str(meta?.uid);
  const name = str(meta?.name);
  const createdAt = toMillis(meta?.creationTimestamp);
  if (!uid || !name || createdAt === null) return null;
  const conditions = Array.isArray(status?.conditions) ? (status.conditions as unknown[]) : [];
  const containersReadyAt = conditionTrueAt(conditions, 'ContainersReady');
  const statuses = new Map<string, Loose>();
  for (const s of Array.isArray(status?.containerStatuses) ? status.containerStatuses : []) {
    const cs = obj(s);
    const csName = str(cs?.name);
    if (csName) statuses.set(csName, cs);
  }
  const containers: ContainerObservation[] = [];
  for (const c of Array.isArray(spec?.containers) ? spec.containers : []) {
    const container = obj(c);
    const cName = str(container?.name);
    const imageRaw = str(container?.image);
    if (!cName || !imageRaw) continue;
    const cs = statuses.get(cName);
    containers.push({
      name: cName,
      image: normalizeImage(imageRaw),
      imageRaw,
      imageDigest: digestFromImageId(str(cs?.imageID)),
      startedAt: containerStartedAt(cs),
      readyAt: cs?.ready === true ? containersReadyAt : null,
    });
  }
  return {
    uid,
    namespace: str(meta?.namespace) ?? 'default',
    name,
    node: str(spec?.nodeName) ?? null,
    createdAt,
    scheduledAt: conditionTrueAt(conditions, 'PodScheduled'),
    readyToStartAt: conditionTrueAt(conditions, 'PodReadyToStartContainers'),
    readyAt: conditionTrueAt(conditions, 'Ready'),
    containers,
  };
}

export interface PulledObservation {
  podUid: string;
  namespace: string;
  podName: string;
  container: string;
  at: number;
  message: string;
}

/** Reads a core/v1 Event about a pod's container with reason Pulled; null for anything else. */
export function observePulledEvent(event: unknown): PulledObservation | null {
  const ev = obj(event);
  if (ev?.reason !== 'Pulled') return null;
  const involved = obj(ev.involvedObject);
  if (involved?.kind !== 'Pod') return null;
  const podUid = str(involved.uid);
  const podName = str(involved.name);
  const container = containerFromFieldPath(str(involved.fieldPath));
  const message = str(ev.message);
  const at =
    toMillis(ev.firstTimestamp) ??
    toMillis(ev.eventTime) ??
    toMillis(ev.lastTimestamp) ??
    toMillis(obj(ev.metadata)?.creationTimestamp);
  if (!podUid || !podName || !container || !message || at === null) return null;
  return {
    podUid,
    namespace: str(involved.namespace) ?? 'default',
    podName,
    container,
    at,
    message,
  };
}
