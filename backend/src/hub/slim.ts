// The informers keep every current Pod and Pulled Event in memory. Full objects (managedFields,
// volumes, env, annotations…) cost tens of KiB each; the hub reads a few fields. These functions
// keep only those fields — applied to list results and to every watch event before caching.
import { Watch } from '@kubernetes/client-node';

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function pick(source: Obj | undefined, keys: readonly string[]): Obj | undefined {
  if (!source) return undefined;
  const out: Obj = {};
  for (const k of keys) if (source[k] !== undefined) out[k] = source[k];
  return out;
}

const META = ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp'] as const;

/** A Pod reduced to what observePod and the agent-node lookup read. */
export function slimPod<T>(pod: T): T {
  const p = obj(pod);
  if (!p) return pod;
  const spec = obj(p.spec);
  const status = obj(p.status);
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: pick(obj(p.metadata), META),
    spec: {
      nodeName: spec?.nodeName,
      containers: list(spec?.containers).map((c) => pick(obj(c), ['name', 'image'])),
    },
    status: {
      conditions: list(status?.conditions).map((c) =>
        pick(obj(c), ['type', 'status', 'lastTransitionTime']),
      ),
      containerStatuses: list(status?.containerStatuses).map((c) =>
        pick(obj(c), ['name', 'imageID', 'ready', 'state', 'lastState']),
      ),
    },
  } as T;
}

/** An Event reduced to what observePulledEvent reads. */
export function slimEvent<T>(event: T): T {
  const e = obj(event);
  if (!e) return event;
  return {
    ...pick(e, [
      'apiVersion',
      'kind',
      'reason',
      'message',
      'firstTimestamp',
      'lastTimestamp',
      'eventTime',
    ]),
    metadata: pick(obj(e.metadata), META),
    involvedObject: pick(obj(e.involvedObject), ['kind', 'name', 'namespace', 'uid', 'fieldPath']),
  } as T;
}

/** A Watch whose events carry slimmed objects (ERROR/BOOKMARK objects pass through). */
export class SlimWatch extends Watch {
  private readonly slim: (o: unknown) => unknown;

  constructor(kc: ConstructorParameters<typeof Watch>[0], slim: (o: unknown) => unknown) {
    super(kc);
    this.slim = slim;
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase, apiObj, watchObj) =>
        callback(
          phase,
          phase === 'ERROR' || phase === 'BOOKMARK' ? apiObj : this.slim(apiObj),
          watchObj,
        ),
      done,
    );
  }
}
