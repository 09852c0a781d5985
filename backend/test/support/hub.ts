// Test helper: a real hub (in-process, real HTTPS server, real SQLite file in a temp dir) wired to
// the stand-in Kubernetes API server (kube-api.ts: the one stand-in allowed, because no Kubernetes
// API can run here), seeded only through the hub's real ingestion paths: Pods and Events applied
// to the stand-in reach the hub through its list/watch informers; agent reports are POSTed to
// /api/v1/reports with agent tokens that the stand-in's TokenReview recognises.
//
// API
//   const hub = await startTestHub({ tls?: boolean = true, clock?, retentionDays?, namespace? = 'slipstream' })
//   hub.url                      base URL (https://127.0.0.1:<port>, or http:// with tls:false)
//   hub.ca                       PEM of the hub's self-signed cert (null with tls:false)
//   hub.kube                     the stand-in API server (apply/remove objects, tokens, grants)
//   hub.tokens.admin             user token allowed to list pods cluster-wide
//   hub.tokens.viewer(ns)        user token allowed to list pods only in ns
//   hub.tokens.nobody            valid user token without rights (403)
//   hub.tokens.agent(node)       service-account token of the agent pod on `node`
//   hub.get(path, token?)        GET with a bearer token (default admin; null: none) → { status, body }
//   hub.postReport(report, token?)  POST /api/v1/reports (default: agent token of report.node)
//   makeReport(partial)          a valid AgentReport with defaults (exported)
//   hub.seedPod(plan, { pulled })   applies a pod through all its phases + its Pulled event(s);
//                                   `pulled` is a message per container (kube-fixtures PulledMessages)
//   hub.waitForPods(n)           waits until the hub has recorded n pods
//   hub.seedDemo()               a small realistic cluster: 3 nodes, lazy and normal pods, reports
//   hub.restart()                stops and starts the hub on the same database file and port
//   hub.down() / hub.up()        the same in two steps (an outage in between); the URL stays valid
//   hub.caFile                   path of the hub's CA/serving cert PEM (for a Reporter's caFile)
//   hub.stop()                   stops everything and removes the temp dir
import { join } from 'node:path';

import { Agent, request } from 'undici';

import { resolveHubConfig } from '../../src/hub/config.ts';
import { loadKubeConfig } from '../../src/hub/kube.ts';
import { startHub, type HubOptions, type RunningHub } from '../../src/hub/server.ts';
import type { Clock } from '../../src/telemetry/collector.ts';
import { LATENCY_BUCKET_COUNT, type AgentReport } from '../../src/telemetry/report.ts';
import { Resources, startKubeApi, type StandInKubeApi } from './kube-api.ts';
import {
  PulledMessages,
  podPhases,
  pulledEvent,
  machineConfigPool,
  type PodPlan,
} from './kube-fixtures.ts';
import { makeServerCert } from './tls.ts';
import { freePort, makeTempDir, removeDir, waitFor } from './tmp.ts';

export interface TestHubOptions {
  tls?: boolean;
  clock?: Clock;
  retentionDays?: number;
  namespace?: string;
  /** The hub's time limits (see HubOptions.limits). */
  limits?: HubOptions['limits'];
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
}

export interface TestHub {
  url: string;
  ca: string | null;
  caFile: string | null;
  dbPath: string;
  kube: StandInKubeApi;
  hub: RunningHub;
  tokens: {
    admin: string;
    nobody: string;
    viewer(namespace: string): string;
    agent(node: string): string;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely typed JSON
  get<T = any>(path: string, token?: string | null): Promise<HttpAnswer<T>>;
  postReport(report: unknown, token?: string): Promise<HttpAnswer>;
  seedPod(plan: PodPlan, opts?: { pulled?: string[]; pulledAfter?: number }): Promise<string>;
  waitForPods(count: number): Promise<void>;
  seedDemo(): Promise<void>;
  restart(): Promise<void>;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

let reportCounter = 0;

/** A valid AgentReport; every field can be overridden. */
export function makeReport(partial: Partial<AgentReport> & { node: string }): AgentReport {
  const end = partial.windowEnd ?? new Date().toISOString();
  return {
    schemaVersion: 1,
    reportId: `test-report-${process.pid}-${++reportCounter}-${Date.now()}`,
    agentVersion: '0.1.0',
    windowStart: new Date(Date.parse(end) - 10_000).toISOString(),
    windowEnd: end,
    mount: { state: 'mounted', error: null },
    cache: { usedBytes: 0, capBytes: 20 * 2 ** 30 },
    layersServed: 0,
    registry: { bytes: 0, seconds: 0 },
    images: [],
    lazyPulls: [],
    fallbacks: [],
    ...partial,
  };
}

export const zeroLatency = (): number[] => new Array<number>(LATENCY_BUCKET_COUNT).fill(0);

export async function startTestHub(opts: TestHubOptions = {}): Promise<TestHub> {
  const dir = await makeTempDir('hub');
  const namespace = opts.namespace ?? 'slipstream';
  const kube = await startKubeApi();
  const tls = opts.tls === false ? null : await makeServerCert(dir, 'hub');
  const dbPath = join(dir, 'hub.db');
  const config = resolveHubConfig({
    // A fixed port, so that the URL survives restarts (reporters keep pointing at it).
    listen: `127.0.0.1:${await freePort()}`,
    ...(tls ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } : { insecureHttp: true }),
    dbPath,
    retentionDays: opts.retentionDays ?? 30,
    namespace,
    kubeconfig: kube.kubeconfigPath,
    logLevel: process.env.SLIPSTREAM_TEST_LOG ? 'debug' : 'silent',
  });
  const dispatcher = new Agent({ connect: tls ? { ca: tls.certPem } : {} });

  const admin = 'user-admin-token';
  const nobody = 'user-nobody-token';
  kube.addToken(admin, {
    username: 'kube:admin',
    uid: 'u-admin',
    groups: ['system:cluster-admins', 'system:authenticated'],
  });
  kube.grant({ group: 'system:cluster-admins', verb: 'list', resource: 'pods', namespace: null });
  kube.addToken(nobody, { username: 'nobody', uid: 'u-nobody', groups: ['system:authenticated'] });
  const viewers = new Set<string>();
  const agents = new Set<string>();

  const launch = async () => {
    const started = await startHub({
      config,
      kubeConfig: loadKubeConfig(kube.kubeconfigPath),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
    await started.synced();
    return started;
  };
  let hub = await launch();
  let running = true;
  const state = { url: hub.url };

  const call = async <T>(
    method: 'GET' | 'POST',
    path: string,
    token: string | null,
    body?: unknown,
  ): Promise<HttpAnswer<T>> => {
    const answer = await request(`${state.url}${path}`, {
      method,
      dispatcher,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await answer.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: answer.statusCode, body: parsed as T };
  };

  const tokens = {
    admin,
    nobody,
    viewer(ns: string): string {
      const token = `user-viewer-${ns}`;
      if (!viewers.has(ns)) {
        viewers.add(ns);
        kube.addToken(token, {
          username: `viewer-${ns}`,
          uid: `u-viewer-${ns}`,
          groups: ['system:authenticated'],
        });
        kube.grant({ username: `viewer-${ns}`, verb: 'list', resource: 'pods', namespace: ns });
      }
      return token;
    },
    agent(node: string): string {
      const token = `agent-token-${node}`;
      if (!agents.has(node)) {
        agents.add(node);
        kube.addToken(token, {
          username: `system:serviceaccount:${namespace}:slipstream-agent`,
          uid: `sa-agent-${node}`,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${namespace}`,
            'system:authenticated',
          ],
          extra: {
            'authentication.kubernetes.io/node-name': [node],
            'authentication.kubernetes.io/pod-name': [`slipstream-agent-${node.slice(-5)}`],
            'authentication.kubernetes.io/pod-uid': [`0e6c4a1b-agent-${node}`],
          },
        });
      }
      return token;
    },
  };

  const testHub: TestHub = {
    get url() {
      return state.url;
    },
    ca: tls?.certPem ?? null,
    caFile: tls?.certFile ?? null,
    dbPath,
    kube,
    get hub() {
      return hub;
    },
    tokens,
    get: (path, token = admin) => call('GET', path, token),
    postReport: (report, token) => {
      const node = (report as { node?: unknown }).node;
      return call(
        'POST',
        '/api/v1/reports',
        token ?? tokens.agent(typeof node === 'string' ? node : 'unknown'),
        report,
      );
    },
    seedPod(plan, seedOpts = {}) {
      let uid = '';
      const phases = podPhases(plan);
      for (const phase of phases) {
        const stored = kube.apply(Resources.pods, phase);
        uid = (stored.metadata as { uid: string }).uid;
      }
      const pulledAt = plan.createdAt + (seedOpts.pulledAfter ?? plan.startedAfter - 1) * 1000;
      (seedOpts.pulled ?? []).forEach((message, i) => {
        const container = plan.containers[i];
        if (!container) return;
        kube.apply(
          Resources.events,
          pulledEvent({
            namespace: plan.namespace,
            podName: plan.name,
            podUid: uid,
            container: container.name,
            node: plan.node,
            message,
            at: pulledAt,
          }),
        );
      });
      return Promise.resolve(uid);
    },
    async waitForPods(count) {
      await waitFor(`${count} pods recorded by the hub`, () => {
        const row = hub.db.prepare('SELECT count(*) AS n FROM pods').get() as { n: number };
        return Promise.resolve(row.n >= count);
      });
    },
    seedDemo: () => seedDemo(testHub),
    async restart() {
      await testHub.down();
      await testHub.up();
    },
    async down() {
      if (!running) return;
      running = false;
      await hub.close();
    },
    async up() {
      if (running) return;
      hub = await launch();
      running = true;
    },
    async stop() {
      await testHub.down();
      await dispatcher.close();
      await kube.stop();
      await removeDir(dir);
    },
  };
  return testHub;
}

const DEMO_IMAGE = 'quay.io/slipstream/demo-app:1.4';
const DEMO_DIGEST = `sha256:${'4e'.repeat(32)}`;
const BASE_IMAGE = 'registry.example.com/tools/base:9.2';
const BASE_DIGEST = `sha256:${'9c'.repeat(32)}`;

/**
 * A small, realistic cluster for dashboards: three workers with agents, the demo image pulled
 * normally twice and lazily three times, a base image already present, reports with bytes,
 * latency and hot files, and the two MachineConfigPools.
 */
async function seedDemo(hub: TestHub): Promise<void> {
  const now = Date.now();
  const nodes = [
    'worker-a.ocp.example.com',
    'worker-b.ocp.example.com',
    'worker-c.ocp.example.com',
  ];
  hub.kube.apply(Resources.machineConfigPools, machineConfigPool('worker'));
  hub.kube.apply(Resources.machineConfigPools, machineConfigPool('master'));
  const demoLayers = [`sha256:${'a1'.repeat(32)}`, `sha256:${'b2'.repeat(32)}`];
  const latency = zeroLatency();
  latency[4] = 40;
  latency[5] = 12;
  latency[7] = 3;
  for (const [i, node] of nodes.entries()) {
    const res = await hub.postReport(
      makeReport({
        node,
        windowEnd: new Date(now - 600_000 + i * 1000).toISOString(),
        cache: { usedBytes: (3 + i) * 2 ** 28, capBytes: 20 * 2 ** 30 },
        layersServed: 2,
        registry: { bytes: 80 * 2 ** 20, seconds: 2 },
        images: [
          {
            image: DEMO_IMAGE,
            digest: DEMO_DIGEST,
            compressedSizeBytes: 180 * 2 ** 20,
            layers: demoLayers.map((digest, l) => ({
              digest,
              sizeBytes: l === 0 ? 30 * 2 ** 20 : 150 * 2 ** 20,
              bytes: { onDemand: (4 + l) * 2 ** 20, prefetch: 2 ** 20, background: 20 * 2 ** 20 },
              chunkFetches: 55,
              latency,
              fetchedBytes: (l === 0 ? 30 : 60) * 2 ** 20,
              prefetchUsedBytes: 700 * 1024,
              hotFiles: [
                { path: '/usr/bin/demo-app', bytes: 3 * 2 ** 20 },
                { path: '/usr/lib64/libc.so.6', bytes: 2 ** 20 },
              ],
            })),
          },
        ],
        lazyPulls:
          i === 0
            ? []
            : [
                {
                  image: DEMO_IMAGE,
                  digest: DEMO_DIGEST,
                  layers: demoLayers,
                  at: new Date(now - 900_000 + i * 60_000 + 5_000).toISOString(),
                },
              ],
      }),
    );
    if (res.status !== 200) throw new Error(`demo report rejected: ${JSON.stringify(res.body)}`);
  }
  const plans: { plan: PodPlan; pulled: string[] }[] = [];
  const pod = (
    name: string,
    node: string,
    startMs: number,
    readyAfter: number,
    pullMessage: string,
  ): void => {
    plans.push({
      plan: {
        namespace: 'demo',
        name,
        node,
        containers: [{ name: 'app', image: DEMO_IMAGE, imageDigest: DEMO_DIGEST }],
        createdAt: startMs,
        scheduledAfter: 1,
        sandboxReadyAfter: 3,
        startedAfter: readyAfter - 2,
        readyAfter,
      },
      pulled: [pullMessage],
    });
  };
  pod(
    'demo-app-7d9f8b6c5d-n4x2q',
    nodes[0],
    now - 3_600_000,
    48,
    PulledMessages.pulledWithSize(DEMO_IMAGE, '41.204s', '41.209s', 412_000_000),
  );
  pod(
    'demo-app-7d9f8b6c5d-p8k3m',
    nodes[0],
    now - 3_000_000,
    52,
    PulledMessages.pulledWithSize(DEMO_IMAGE, '45.87s', '46.001s', 412_000_000),
  );
  pod(
    'demo-app-7d9f8b6c5d-r2v7t',
    nodes[1],
    now - 900_000 + 60_000,
    9,
    PulledMessages.pulledWithSize(DEMO_IMAGE, '1.312s', '1.315s', 412_000_000),
  );
  pod(
    'demo-app-7d9f8b6c5d-w5j9c',
    nodes[2],
    now - 900_000 + 120_000,
    11,
    PulledMessages.pulledWithSize(DEMO_IMAGE, '1.507s', '1.51s', 412_000_000),
  );
  pod(
    'demo-app-7d9f8b6c5d-z1h6b',
    nodes[1],
    now - 600_000,
    4,
    PulledMessages.alreadyPresentAccessible(DEMO_IMAGE),
  );
  for (const { plan, pulled } of plans) await hub.seedPod(plan, { pulled });
  await hub.seedPod(
    {
      namespace: 'tools',
      name: 'base-shell-6c8d7f9b4-q2w3e',
      node: nodes[2],
      containers: [{ name: 'shell', image: BASE_IMAGE, imageDigest: BASE_DIGEST }],
      createdAt: now - 1_200_000,
      scheduledAfter: 1,
      sandboxReadyAfter: 2,
      startedAfter: 3,
      readyAfter: 4,
    },
    { pulled: [PulledMessages.alreadyPresent(BASE_IMAGE)] },
  );
  await hub.waitForPods(plans.length + 1);
  await waitFor('demo pulls recorded', () => {
    const row = hub.hub.db
      .prepare('SELECT count(*) AS n FROM containers WHERE pulled_at IS NOT NULL')
      .get() as { n: number };
    return Promise.resolve(row.n >= plans.length + 1);
  });
}
