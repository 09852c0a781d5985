// A stand-in Kubernetes API server for tests. It is the ONE stand-in the test suite allows: no real
// Kubernetes API can run on the test machines. It speaks the real wire protocol that
// @kubernetes/client-node (and kubectl) use, over HTTPS with bearer tokens:
//  - list:   GET /api/v1/pods, /api/v1/namespaces/{ns}/pods, /apis/{group}/{version}/{plural} ...
//            → {kind: "<Kind>List", metadata: {resourceVersion}, items}, with fieldSelector and
//              labelSelector (equality forms);
//  - get:    GET .../{plural}/{name};
//  - watch:  ?watch=true&resourceVersion=N → a chunked stream of JSON lines {type, object}
//            (ADDED / MODIFIED / DELETED), replaying history after N, then live; a resourceVersion
//            older than the kept history gets an ERROR event with a 410 Status, as the real server;
//            ?timeoutSeconds closes the stream;
//  - POST /apis/authentication.k8s.io/v1/tokenreviews and
//         /apis/authorization.k8s.io/v1/subjectaccessreviews, answered from the tokens and grants
//    a test registers (resource grants, and non-resource URL grants such as get /metrics).
// Objects are stored as given (recorded shapes, see kube-fixtures.ts); the server assigns
// resourceVersion, and uid/creationTimestamp when missing.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';

import { makeServerCert, type TestCert } from './tls.ts';
import { makeTempDir, removeDir } from './tmp.ts';

export interface ResourceType {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const Resources = {
  pods: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  events: { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  nodes: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  machineConfigPools: {
    group: 'machineconfiguration.openshift.io',
    version: 'v1',
    plural: 'machineconfigpools',
    kind: 'MachineConfigPool',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

interface GrantSubject {
  username?: string;
  group?: string;
}

/** A permission: `verb` on `resource` in `namespace` (null: cluster-wide, all namespaces). */
export interface ResourceGrant extends GrantSubject {
  verb: string;
  resource: string;
  namespace: string | null;
}

/**
 * A permission on a non-resource URL (a ClusterRole's `nonResourceURLs`): `verb` on `path`,
 * where a trailing `*` matches any suffix, as in RBAC.
 */
export interface NonResourceGrant extends GrantSubject {
  verb: string;
  nonResourceURL: string;
}

export type Grant = ResourceGrant | NonResourceGrant;

type KubeObject = Record<string, unknown> & {
  metadata?: Record<string, unknown> & { name?: string; namespace?: string };
};

interface Stored {
  type: ResourceType;
  object: KubeObject;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: ResourceType;
  object: KubeObject;
}

interface Watcher {
  resource: ResourceType;
  namespace: string | null;
  matches: (o: KubeObject) => boolean;
  res: ServerResponse;
}

const HISTORY_LIMIT = 10_000;

export interface StandInKubeApi {
  url: string;
  cert: TestCert;
  /** The token the hub itself uses (kubeconfig); always allowed to list/watch and to review. */
  clientToken: string;
  /** Writes a kubeconfig for `clientToken` and returns its path. */
  kubeconfigPath: string;
  /** Creates or replaces an object (ADDED / MODIFIED to watchers); returns the stored copy. */
  apply(resource: ResourceType, object: KubeObject): KubeObject;
  remove(resource: ResourceType, namespace: string | undefined, name: string): void;
  list(resource: ResourceType): KubeObject[];
  addToken(token: string, user: UserInfo): void;
  grant(grant: Grant): void;
  /** Ends every open watch stream (clients must re-watch from their resourceVersion). */
  closeWatches(): void;
  /** Forgets the event history, so every resourceVersion clients hold gets 410 Gone. */
  compactHistory(): void;
  requests: { method: string; path: string }[];
  stop(): Promise<void>;
}

function key(resource: ResourceType, namespace: string | undefined, name: string): string {
  return `${resource.group}/${resource.plural}/${resource.namespaced ? (namespace ?? '') : ''}/${name}`;
}

function fieldValue(object: KubeObject, path: string): string {
  let value: unknown = object;
  for (const part of path.split('.')) {
    value =
      value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '';
}

/** Equality-based selectors: `a=b`, `a==b`, `a!=b`, comma-separated. */
function selector(text: string | null, read: (o: KubeObject, k: string) => string) {
  if (!text) return () => true;
  const terms = text.split(',').map((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) throw new Error(`unsupported selector term "${term}"`);
    return { k: m[1].trim(), negate: m[2] === '!=', v: m[3].trim() };
  });
  return (o: KubeObject) => terms.every((t) => (read(o, t.k) === t.v) !== t.negate);
}

function labelOf(o: KubeObject, k: string): string {
  const labels = (o.metadata?.labels ?? {}) as Record<string, string>;
  return labels[k] ?? '';
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
    }),
  );
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
}

export async function startKubeApi(): Promise<StandInKubeApi> {
  const dir = await makeTempDir('kube-api');
  const cert = await makeServerCert(dir);
  const clientToken = `hub-${randomUUID()}`;
  const objects = new Map<string, Stored>();
  let history: WatchEvent[] = [];
  let historyStart = 1; // oldest resourceVersion still replayable
  let resourceVersion = 1000;
  const watchers = new Set<Watcher>();
  const tokens = new Map<string, UserInfo>([
    [
      clientToken,
      {
        username: 'system:serviceaccount:slipstream:slipstream-hub',
        groups: ['system:serviceaccounts'],
      },
    ],
  ]);
  const grants: Grant[] = [];
  const requests: { method: string; path: string }[] = [];

  const resourceByPath = (group: string, version: string, plural: string) =>
    Object.values(Resources).find(
      (r) => r.group === group && r.version === version && r.plural === plural,
    );

  function emit(type: WatchEvent['type'], resource: ResourceType, object: KubeObject): void {
    const event: WatchEvent = { rv: resourceVersion, type, resource, object };
    history.push(event);
    if (history.length > HISTORY_LIMIT) {
      history = history.slice(-HISTORY_LIMIT);
      historyStart = history[0].rv;
    }
    for (const w of watchers) {
      if (w.resource !== resource) continue;
      if (w.namespace && object.metadata?.namespace !== w.namespace) continue;
      if (!w.matches(object)) continue;
      w.res.write(`${JSON.stringify({ type, object })}\n`);
    }
  }

  function apply(resource: ResourceType, input: KubeObject): KubeObject {
    const object = structuredClone(input);
    const meta = (object.metadata ??= {});
    if (!meta.name) throw new Error('object without metadata.name');
    const k = key(resource, meta.namespace, meta.name);
    const existing = objects.get(k);
    resourceVersion++;
    meta.resourceVersion = String(resourceVersion);
    meta.uid ??= existing?.object.metadata?.uid ?? randomUUID();
    meta.creationTimestamp ??=
      existing?.object.metadata?.creationTimestamp ?? new Date().toISOString();
    object.apiVersion ??= resource.group
      ? `${resource.group}/${resource.version}`
      : resource.version;
    object.kind ??= resource.kind;
    objects.set(k, { type: resource, object });
    emit(existing ? 'MODIFIED' : 'ADDED', resource, object);
    return structuredClone(object);
  }

  function remove(resource: ResourceType, namespace: string | undefined, name: string): void {
    const k = key(resource, namespace, name);
    const existing = objects.get(k);
    if (!existing) return;
    objects.delete(k);
    resourceVersion++;
    const object = structuredClone(existing.object);
    object.metadata!.resourceVersion = String(resourceVersion);
    emit('DELETED', resource, object);
  }

  function authorizedClient(req: IncomingMessage): boolean {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    return token === clientToken;
  }

  function review(spec: Record<string, unknown>): { allowed: boolean; reason: string } {
    const user = typeof spec.user === 'string' ? spec.user : '';
    const groups = (spec.groups ?? []) as string[];
    const subjectMatches = (g: Grant) =>
      (g.username === undefined || g.username === user) &&
      (g.group === undefined || groups.includes(g.group)) &&
      (g.username !== undefined || g.group !== undefined);
    const nonResource = spec.nonResourceAttributes as
      Record<string, string | undefined> | undefined;
    const attrs = (spec.resourceAttributes ?? {}) as Record<string, string | undefined>;
    const allowed = grants.some((g) => {
      if (!subjectMatches(g)) return false;
      if (nonResource) {
        if (!('nonResourceURL' in g) || g.verb !== nonResource.verb) return false;
        const path = nonResource.path ?? '';
        return g.nonResourceURL.endsWith('*')
          ? path.startsWith(g.nonResourceURL.slice(0, -1))
          : path === g.nonResourceURL;
      }
      return (
        'resource' in g &&
        g.verb === attrs.verb &&
        g.resource === attrs.resource &&
        (g.namespace === null || g.namespace === attrs.namespace)
      );
    });
    return { allowed, reason: allowed ? 'granted by test RBAC' : 'no matching grant' };
  }

  async function handlePost(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
  ): Promise<void> {
    const body = (await readBody(req)) as { spec?: Record<string, unknown> };
    if (path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const token = typeof body.spec?.token === 'string' ? body.spec.token : '';
      const user = tokens.get(token);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'TokenReview',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec: body.spec ?? {},
          status: user
            ? { authenticated: true, user, audiences: ['https://kubernetes.default.svc'] }
            : { user: {}, error: '[invalid bearer token, token lookup failed]' },
        }),
      );
      return;
    }
    if (path === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
      const decision = review(body.spec ?? {});
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'SubjectAccessReview',
          apiVersion: 'authorization.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec: body.spec ?? {},
          status: decision,
        }),
      );
      return;
    }
    status(res, 404, 'NotFound', `the server could not find the requested resource (post ${path})`);
  }

  function handleGet(res: ServerResponse, url: URL): void {
    const m =
      /^\/api\/(v1)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname) ?? null;
    const g = m
      ? null
      : /^\/apis\/([^/]+)\/([^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(
          url.pathname,
        );
    const [group, version, namespace, plural, name] = m
      ? ['', m[1], m[2], m[3], m[4]]
      : g
        ? [g[1], g[2], g[3], g[4], g[5]]
        : ['', '', undefined, '', undefined];
    const resource = plural ? resourceByPath(group, version, plural) : undefined;
    if (!resource) {
      status(
        res,
        404,
        'NotFound',
        `the server could not find the requested resource (get ${url.pathname})`,
      );
      return;
    }
    if (name) {
      const stored = objects.get(key(resource, namespace, name));
      if (!stored) {
        status(res, 404, 'NotFound', `${resource.plural} "${name}" not found`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stored.object));
      return;
    }
    let matches: (o: KubeObject) => boolean;
    try {
      const fields = selector(url.searchParams.get('fieldSelector'), fieldValue);
      const labels = selector(url.searchParams.get('labelSelector'), labelOf);
      matches = (o) => fields(o) && labels(o);
    } catch (error) {
      status(res, 400, 'BadRequest', (error as Error).message);
      return;
    }
    const inScope = (o: KubeObject) =>
      (!namespace || o.metadata?.namespace === namespace) && matches(o);
    if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
      startWatch(res, url, resource, namespace ?? null, matches, inScope);
      return;
    }
    const items = [...objects.values()]
      .filter((s) => s.type === resource && inScope(s.object))
      .map((s) => s.object);
    // The resourceVersion a list returns is always watchable, as on a real server.
    historyStart = Math.min(historyStart, resourceVersion + 1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: `${resource.kind}List`,
        apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version,
        metadata: { resourceVersion: String(resourceVersion) },
        items,
      }),
    );
  }

  function startWatch(
    res: ServerResponse,
    url: URL,
    resource: ResourceType,
    namespace: string | null,
    matches: (o: KubeObject) => boolean,
    inScope: (o: KubeObject) => boolean,
  ): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // clients wait for the headers before reading events
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from > 0 && from < historyStart - 1) {
      const gone = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${from} (${historyStart})`,
        reason: 'Expired',
        code: 410,
      };
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
      return;
    }
    if (from > 0) {
      for (const e of history) {
        if (e.rv > from && e.resource === resource && inScope(e.object)) {
          res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
        }
      }
    } else {
      // resourceVersion unset/0: synthetic ADDED for the current state, as the real server does.
      for (const s of objects.values()) {
        if (s.type === resource && inScope(s.object))
          res.write(`${JSON.stringify({ type: 'ADDED', object: s.object })}\n`);
      }
    }
    const watcher: Watcher = { resource, namespace, matches, res };
    watchers.add(watcher);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : null;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      watchers.delete(watcher);
    });
  }

  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}` });
    if (!authorizedClient(req)) {
      status(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.method === 'POST') {
      handlePost(req, res, url.pathname).catch((error: Error) =>
        status(res, 400, 'BadRequest', error.message),
      );
    } else if (req.method === 'GET') {
      handleGet(res, url);
    } else {
      status(res, 405, 'MethodNotAllowed', `${req.method ?? ''} is not supported by the stand-in`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = `https://127.0.0.1:${port}`;
  const kubeconfigPath = `${dir}/kubeconfig`;
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'stand-in',
          cluster: {
            server: url,
            'certificate-authority-data': Buffer.from(cert.certPem).toString('base64'),
          },
        },
      ],
      users: [{ name: 'hub', user: { token: clientToken } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'hub' } }],
      'current-context': 'stand-in',
    }),
  );

  return {
    url,
    cert,
    clientToken,
    kubeconfigPath,
    apply,
    remove,
    list: (resource) =>
      [...objects.values()]
        .filter((s) => s.type === resource)
        .map((s) => structuredClone(s.object)),
    addToken: (token, user) => tokens.set(token, user),
    grant: (g) => grants.push(g),
    closeWatches: () => {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    compactHistory: () => {
      // Even the newest resourceVersion a client holds is now too old: its next watch gets 410.
      history = [];
      historyStart = resourceVersion + 2;
    },
    requests,
    stop: async () => {
      for (const w of watchers) w.res.destroy();
      watchers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removeDir(dir);
    },
  };
}
