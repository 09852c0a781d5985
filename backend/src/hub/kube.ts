// The hub's view of the cluster: cluster-wide informers (list + watch, @kubernetes/client-node) for
// Pods and for kubelet "Pulled" Events, feeding HubIngest. Events expire from the API server after
// a few hours (event-ttl), so the hub records what it needs as they arrive.
import {
  ADD,
  CoreV1Api,
  ERROR,
  KubeConfig,
  ListWatch,
  UPDATE,
  type CoreV1Event,
  type Informer,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';

import { HubConfigError } from './config.ts';
import type { HubIngest } from './ingest.ts';
import type { InformerState } from './metrics.ts';
import { observePod, observePulledEvent } from './pod-record.ts';
import { SlimWatch, slimEvent, slimPod } from './slim.ts';

export interface KubeLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Loads the kubeconfig file when given, else the in-cluster service-account config. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromCluster();
  } catch (error) {
    const source = kubeconfig ?? 'the in-cluster service account';
    throw new HubConfigError(
      `cannot load Kubernetes credentials from ${source}: ${(error as Error).message}`,
    );
  }
  const server = kc.getCurrentCluster()?.server ?? '';
  if (!URL.canParse(server) || server.includes('undefined')) {
    const source = kubeconfig ?? 'the in-cluster environment (KUBERNETES_SERVICE_HOST/PORT unset?)';
    throw new HubConfigError(`no usable Kubernetes API server address in ${source}`);
  }
  return kc;
}

export interface ClusterWatch {
  /** The pod informer's cache (used to find an agent pod's node). */
  getPod(namespace: string, name: string): V1Pod | undefined;
  /** Resolves once both informers have listed once. */
  synced(): Promise<void>;
  /** Each informer's health, for the hub's metrics. */
  informers(): InformerState[];
  stop(): Promise<void>;
}

const RESTART_DELAY_MS = 2_000;
const MAX_RESTART_DELAY_MS = 60_000;
const PULLED_ONLY = 'reason=Pulled';

export function watchCluster(kc: KubeConfig, ingest: HubIngest, log: KubeLog): ClusterWatch {
  const core = kc.makeApiClient(CoreV1Api);
  // Whether each informer's list succeeded in its current attempt (reset at every (re)start).
  const listed = { pods: false, events: false };
  const unwritten = new UnwrittenObjects(log);
  // Informers cache every current object: keep only the fields the hub reads (slim.ts).
  const pods = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new SlimWatch(kc, slimPod),
    async () => {
      const list = await core.listPodForAllNamespaces();
      list.items = list.items.map(slimPod);
      listed.pods = true;
      return list;
    },
    false,
  );
  // Only Pulled events: the field selector keeps the (large) rest of the event stream away.
  const events = new ListWatch<CoreV1Event>(
    '/api/v1/events',
    new SlimWatch(kc, slimEvent),
    async () => {
      const list = await core.listEventForAllNamespaces({ fieldSelector: PULLED_ONLY });
      list.items = list.items.map(slimEvent);
      listed.events = true;
      return list;
    },
    false,
    undefined,
    PULLED_ONLY,
  );
  const onPod = (pod: V1Pod) => {
    const observed = observePod(pod);
    if (observed) unwritten.write(`pod ${observed.uid}`, () => ingest.upsertPod(observed));
  };
  const onEvent = (event: CoreV1Event) => {
    const observed = observePulledEvent(event);
    const key = `event ${event.metadata?.uid ?? `${observed?.podUid}/${observed?.container}`}`;
    if (observed) unwritten.write(key, () => ingest.recordPulled(observed));
  };
  pods.on(ADD, onPod);
  pods.on(UPDATE, onPod);
  events.on(ADD, onEvent);
  events.on(UPDATE, onEvent);
  let stopped = false;
  const states: InformerState[] = [];
  const synced = [startInformer('pods', pods), startInformer('events', events)];

  /** Starts an informer, restarting it after failures (client-node does not); resolves once listed. */
  function startInformer<T extends KubernetesObject>(
    what: keyof typeof listed,
    informer: Informer<T>,
  ): Promise<void> {
    const state: InformerState = { informer: what, synced: false, restarts: 0 };
    states.push(state);
    return new Promise<void>((resolve) => {
      let failures = 0;
      const begin = () => {
        if (stopped) return;
        // start() resolves whether or not its list succeeded (a failure is an ERROR event), so
        // only a list in this attempt counts as synced.
        listed[what] = false;
        informer.start().then(
          () => {
            if (!listed[what]) return;
            failures = 0;
            state.synced = true;
            resolve();
          },
          (error: unknown) => retry(error),
        );
      };
      // Back off (2 s, 4 s, … 60 s) while the API server is unreachable; reset once listed.
      const retry = (error: unknown) => {
        if (stopped) return;
        state.synced = false;
        state.restarts++;
        const delay = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** failures++);
        log.warn({ err: String(error), informer: what, retryInMs: delay }, 'list/watch failed');
        setTimeout(begin, delay).unref();
      };
      informer.on(ERROR, retry);
      begin();
    });
  }

  return {
    getPod: (namespace, name) => pods.get(name, namespace),
    synced: async () => {
      await Promise.all(synced);
    },
    informers: () => states.map((s) => ({ ...s })),
    stop: async () => {
      stopped = true;
      unwritten.stop();
      await Promise.all([pods.stop(), events.stop()]);
    },
  };
}

const REWRITE_EVERY_MS = 5_000;
const UNWRITTEN_MAX = 50_000;

/**
 * Writes of cluster objects that failed (the database full or read-only) are kept, the latest
 * per object, and tried again every few seconds: an informer delivers an object once, and a
 * kubelet event is gone from the API server after a few hours, so a write dropped here would be
 * lost for good (pods until the hub restarts and lists them again).
 */
class UnwrittenObjects {
  readonly #log: KubeLog;
  readonly #pending = new Map<string, () => unknown>();
  #timer: NodeJS.Timeout | undefined;

  constructor(log: KubeLog) {
    this.#log = log;
  }

  write(key: string, work: () => unknown): void {
    this.#pending.delete(key); // a newer observation of the object replaces the unwritten one
    try {
      work();
    } catch (error) {
      if (this.#pending.size >= UNWRITTEN_MAX) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
      }
      this.#pending.set(key, work);
      if (this.#pending.size === 1) {
        this.#log.warn(
          { err: (error as Error).message, object: key },
          'could not record a cluster object; retrying',
        );
      }
      this.#timer ??= setInterval(() => this.#retry(), REWRITE_EVERY_MS).unref();
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #retry(): void {
    for (const [key, work] of this.#pending) {
      try {
        work();
        this.#pending.delete(key);
      } catch {
        return; // still failing: the rest waits for the next round
      }
    }
    this.#log.info({}, 'cluster objects recorded again');
    this.stop();
  }
}
