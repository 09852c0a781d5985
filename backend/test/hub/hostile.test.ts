// The hub against inputs and conditions an outside probe found it mishandled: counters that sum
// past 2^53, an agent clock running ahead, callers without a token sending bodies, clients that
// trickle their requests, a database that cannot be written. A real hub (real SQLite file) and
// the stand-in Kubernetes API server (the only stand-in: no Kubernetes API can run here).
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';

import { jest } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';

import type { NodeStatusT, TimeseriesT } from '../../src/hub/api-schemas.ts';
import { KubeAccessReviewer, ReviewUnavailableError } from '../../src/hub/auth.ts';
import { MAX_REPORTED } from '../../src/telemetry/report.ts';
import { makeReport, startTestHub, zeroLatency, type TestHub } from '../support/hub.ts';
import { PulledMessages, type PodPlan } from '../support/kube-fixtures.ts';
import { waitFor } from '../support/tmp.ts';

jest.setTimeout(60_000);

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub({ tls: false, limits: { requestTimeoutMs: 1_000, closeGraceMs: 300 } });
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

it('refuses counters above the report maximum, and keeps every view working when sums pass 2^53', async () => {
  const node = 'worker-big.example.com';
  const image = 'quay.io/example/runaway-counters:1';
  const tooBig = makeReport({ node, cache: { usedBytes: MAX_REPORTED + 1, capBytes: 1 } });
  const refused = await hub.postReport(tooBig);
  expect(refused.status).toBe(400);
  expect(JSON.stringify(refused.body)).toMatch(/cache\.usedBytes/);

  // 300 layers at the maximum: one image's window alone sums past 2^53, and two reports more so.
  const layers = Array.from({ length: 300 }, (_, i) => ({
    digest: digest(i + 1),
    sizeBytes: MAX_REPORTED,
    bytes: { onDemand: MAX_REPORTED, prefetch: MAX_REPORTED, background: MAX_REPORTED },
    chunkFetches: MAX_REPORTED,
    latency: zeroLatency().map(() => MAX_REPORTED),
    fetchedBytes: MAX_REPORTED,
    prefetchUsedBytes: MAX_REPORTED,
    hotFiles: [{ path: 'model.bin', bytes: MAX_REPORTED }],
  }));
  for (let i = 0; i < 2; i++) {
    const report = makeReport({
      node,
      registry: { bytes: MAX_REPORTED, seconds: 1 },
      images: [{ image, digest: null, compressedSizeBytes: MAX_REPORTED, layers }],
    });
    expect((await hub.postReport(report)).status).toBe(200);
  }
  const start = new Date(Date.now() - 600_000).toISOString();
  const end = new Date(Date.now() + 60_000).toISOString();
  for (const path of [
    '/api/v1/summary',
    '/api/v1/images',
    `/api/v1/images/layers?image=${image}`,
    `/api/v1/timeseries?start=${start}&end=${end}`,
    '/api/v1/nodes',
  ]) {
    const answer = await hub.get(path);
    expect({ path, status: answer.status }).toEqual({ path, status: 200 });
  }
  const summary = (await hub.get('/api/v1/summary')).body;
  expect(summary.bytes.onDemand).toBeGreaterThanOrEqual(Number.MAX_SAFE_INTEGER);
  expect(Number.isFinite(summary.bytes.onDemand)).toBe(true);
});

it('keeps a node status current after a report from an agent whose clock ran ahead', async () => {
  const node = 'worker-skew.example.com';
  const yearAhead = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const ahead = makeReport({
    node,
    windowEnd: yearAhead,
    mount: { state: 'error', error: 'fuse: not mounted' },
  });
  expect((await hub.postReport(ahead)).status).toBe(200);
  const fixed = makeReport({ node, mount: { state: 'mounted', error: null } });
  expect((await hub.postReport(fixed)).status).toBe(200);
  const { body } = await hub.get<{ items: NodeStatusT[] }>('/api/v1/nodes');
  expect(body.items.find((n) => n.node === node)?.mountState).toBe('mounted');

  const backwards = makeReport({ node, windowStart: yearAhead });
  const refused = await hub.postReport(backwards);
  expect(refused.status).toBe(400);
  expect(JSON.stringify(refused.body)).toMatch(/windowStart is after windowEnd/);
});

it('gives the last, shorter bucket of a time series its rate over its own length', async () => {
  const node = 'worker-rate.example.com';
  const image = 'quay.io/example/rate:1';
  const t0 = Math.floor((Date.now() - 300_000) / 1000) * 1000;
  const report = makeReport({
    node,
    windowEnd: new Date(t0 + 75_000).toISOString(),
    images: [
      {
        image,
        digest: null,
        compressedSizeBytes: 1000,
        layers: [
          {
            digest: digest(7),
            sizeBytes: 1000,
            bytes: { onDemand: 600, prefetch: 0, background: 0 },
            chunkFetches: 12,
            latency: zeroLatency(),
            fetchedBytes: 600,
            prefetchUsedBytes: 0,
            hotFiles: [],
          },
        ],
      },
    ],
  });
  expect((await hub.postReport(report)).status).toBe(200);
  const range = `start=${new Date(t0).toISOString()}&end=${new Date(t0 + 90_000).toISOString()}`;
  const { status, body } = await hub.get<TimeseriesT>(
    `/api/v1/timeseries?${range}&step=60&node=${node}`,
  );
  expect(status).toBe(200);
  expect(body.points.map((p) => p.bytesPerSecond)).toEqual([0, 600 / 30]);
  expect(body.points[1].chunkFetchesPerSecond).toBeCloseTo(12 / 30);
});

it('refuses a caller without a valid token before reading its body or its parameters', async () => {
  const malformed = await fetch(`${hub.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"not json',
  });
  expect(malformed.status).toBe(401);
  const badParams = await hub.get('/api/v1/timeseries?step=abc&bogus=1', null);
  expect(badParams.status).toBe(401);
  const wrongToken = await hub.get('/api/v1/timeseries?step=abc', 'not-a-token');
  expect(wrongToken.status).toBe(401);
  // With a token, the parameter errors name the query, not a body.
  const named = await hub.get('/api/v1/summary?bogus=1');
  expect(named.status).toBe(400);
  expect(named.body.message).toMatch(/^\(query\): /);
});

/** A client that sends its headers and the first bytes of a body, then nothing more. */
async function stalledClient(): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(hub.url);
  const socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.resume(); // read what comes, so that the end of the connection is seen
  socket.write(
    `POST /api/v1/reports HTTP/1.1\r\nhost: ${hostname}\r\n` +
      `authorization: Bearer ${hub.tokens.agent('worker-slow.example.com')}\r\n` +
      'content-type: application/json\r\ncontent-length: 100000\r\n\r\n{"schemaVersion":',
  );
  return { socket, closed };
}

it('cuts a client that stops sending its request, and closes with one connected', async () => {
  const first = await stalledClient();
  // The hub's limit here is 1 s; without it the connection would stay open.
  await first.closed;
  expect(first.socket.destroyed).toBe(true);

  const second = await stalledClient();
  // Closing waits for requests in progress only for its grace period (300 ms here).
  await hub.down();
  await second.closed;
  await hub.up();
  expect((await hub.get('/healthz', null)).status).toBe(200);
});

describe('a database that cannot be written', () => {
  const pageCount = () =>
    (hub.hub.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
  // SQLite's own limit on the file's pages: writes past it fail with SQLITE_FULL, as a full disk.
  const fill = () => hub.hub.db.exec(`PRAGMA max_page_count = ${pageCount()}`);
  const free = () => hub.hub.db.exec('PRAGMA max_page_count = 1073741823');
  afterEach(() => {
    free();
    hub.hub.db.exec('PRAGMA query_only = 0');
  });

  it('answers a report with 503 and the real error, and stores it when resent', async () => {
    const node = 'worker-full.example.com';
    const big = 'x'.repeat(3000);
    // Enough new rows that they cannot fit in the pages the file has.
    const report = makeReport({
      node,
      images: Array.from({ length: 50 }, (_, i) => ({
        image: `quay.io/example/full-${i}-${big.slice(0, 200)}:1`,
        digest: null,
        compressedSizeBytes: 1,
        layers: [],
      })),
    });
    fill();
    const refused = await hub.postReport(report);
    expect(refused.status).toBe(503);
    expect((refused.body as { message: string }).message).toMatch(/full/);
    free();
    const stored = await hub.postReport(report);
    expect(stored.status).toBe(200);
    expect(stored.body).toEqual({ accepted: true, duplicate: false });
  });

  it('records the pods and pulls it saw meanwhile once it can write again', async () => {
    // Read-only (as on a file system remounted read-only): every write fails.
    hub.hub.db.exec('PRAGMA query_only = 1');
    const plan: PodPlan = {
      namespace: 'disk-full',
      name: 'while-full-7d9f8b6c5d-x2x2x',
      node: 'worker-1.ocp.example.com',
      containers: [
        { name: 'app', image: 'quay.io/example/app:1', imageDigest: `sha256:${'5f'.repeat(32)}` },
      ],
      createdAt: Date.now() - 60_000,
      scheduledAfter: 1,
      sandboxReadyAfter: 2,
      startedAfter: 5,
      readyAfter: 6,
    };
    await hub.seedPod(plan, {
      pulled: [PulledMessages.pulledWithSize('quay.io/example/app:1', '2s', '2s', 1e6)],
    });
    const recorded = async () =>
      (await hub.get('/api/v1/pods?namespace=disk-full')).body.items as {
        containers: { pullSeconds: number | null }[];
      }[];
    await new Promise((resolve) => setTimeout(resolve, 500)); // the informers deliver
    expect(await recorded()).toEqual([]);
    hub.hub.db.exec('PRAGMA query_only = 0');
    // No restart, no new event: the hub writes what it could not (it retries every 5 s).
    await waitFor('the pod and its pull recorded', async () => {
      const items = await recorded();
      return items.length === 1 && items[0].containers[0]?.pullSeconds === 2;
    });
  });
});

it('says its informers are not synced while the Kubernetes API is down, through failed restarts', async () => {
  const alone = await startTestHub({ tls: false });
  try {
    const informerLines = async () =>
      (await alone.hub.metrics.expose()).text
        .split('\n')
        .filter((l) => l.startsWith('slipstream_hub_informer_'));
    expect(await informerLines()).toContain('slipstream_hub_informer_synced{informer="pods"} 1');
    await alone.kube.stop();
    await waitFor('both informers unsynced', async () => {
      const lines = await informerLines();
      return ['pods', 'events'].every((i) =>
        lines.includes(`slipstream_hub_informer_synced{informer="${i}"} 0`),
      );
    });
    // Failed restarts keep it unsynced: it does not flip back to 1 on each attempt.
    const restarts = async () =>
      Number(
        (await informerLines())
          .find((l) => l.startsWith('slipstream_hub_informer_restarts_total{informer="pods"}'))
          ?.split(' ')[1],
      );
    const before = await restarts();
    await waitFor('another failed restart', async () => (await restarts()) > before, 20_000);
    expect(await informerLines()).toContain('slipstream_hub_informer_synced{informer="pods"} 0');
  } finally {
    await alone.hub.close();
    await alone.stop().catch(() => undefined);
  }
});

/** A client configuration for an API server on 127.0.0.1:`port` (plain http). */
function kubeConfigFor(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'hub-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

it('gives up on a token review the API server never answers, one review for all who wait', async () => {
  // An API server that accepts connections and reads requests but never answers.
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (d) =>
      requests.push(
        ...d
          .toString()
          .split('\r\n')
          .filter((l) => /^POST /.test(l)),
      ),
    );
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const kc = kubeConfigFor(port);
  const reviewer = new KubeAccessReviewer(kc, { reviewTimeoutMs: 300 });
  try {
    const answers = await Promise.allSettled([
      reviewer.authenticate('agent-token'),
      reviewer.authenticate('agent-token'),
    ]);
    for (const a of answers) {
      expect(a.status).toBe('rejected');
      const reason = (a as PromiseRejectedResult).reason as Error;
      expect(reason).toBeInstanceOf(ReviewUnavailableError);
      expect(reason.message).toMatch(/TokenReview failed: no answer within 0.3 s/);
    }
    expect(requests).toHaveLength(1);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

/** An API server answering TokenReviews (authenticated only for `valid`) after `delayMs`. */
async function tokenReviewServer(valid: string, delayMs = 0) {
  const reviewed: string[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const token = (JSON.parse(body) as { spec: { token: string } }).spec.token;
      reviewed.push(token);
      const status =
        token === valid
          ? { authenticated: true, user: { username: 'system:serviceaccount:s:agent', uid: 'u1' } }
          : { authenticated: false };
      setTimeout(() => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }),
        );
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const kc = kubeConfigFor(port);
  return {
    reviewed,
    reviewer: new KubeAccessReviewer(kc),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

it('keeps valid identities cached through a flood of garbage tokens', async () => {
  const api = await tokenReviewServer('good');
  try {
    expect(await api.reviewer.authenticate('good')).toMatchObject({ uid: 'u1' });
    // More garbage tokens than the identity cache holds, in batches under the review bound.
    for (let batch = 0; batch < 170; batch++) {
      const tokens = Array.from({ length: 60 }, (_, i) => `garbage-${batch}-${i}`);
      const answers = await Promise.all(tokens.map((t) => api.reviewer.authenticate(t)));
      expect(answers.every((a) => a === null)).toBe(true);
    }
    const reviews = api.reviewed.length;
    expect(await api.reviewer.authenticate('good')).toMatchObject({ uid: 'u1' });
    expect(api.reviewed).toHaveLength(reviews); // still cached: no new review
    expect(await api.reviewer.authenticate('garbage-169-0')).toBeNull(); // the denial, cached
    expect(api.reviewed).toHaveLength(reviews);
  } finally {
    await api.close();
  }
});

it('bounds the token reviews under way: more unknown tokens at once get 503, not a review each', async () => {
  const api = await tokenReviewServer('good', 300);
  try {
    const answers = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => api.reviewer.authenticate(`flood-${i}`)),
    );
    const refused = answers.filter((a) => a.status === 'rejected');
    expect(refused.length).toBe(36);
    for (const a of refused) {
      expect(a.reason).toBeInstanceOf(ReviewUnavailableError);
    }
    expect(api.reviewed).toHaveLength(64);
    // Once they are answered, the next token is reviewed again.
    expect(await api.reviewer.authenticate('good')).toMatchObject({ uid: 'u1' });
  } finally {
    await api.close();
  }
});

it('keeps two nodes’ reports apart when their agents use the same report id', async () => {
  const shared = `shared-id-${Date.now()}`;
  const a = makeReport({ node: 'worker-ida.example.com', reportId: shared });
  const b = makeReport({ node: 'worker-idb.example.com', reportId: shared });
  expect((await hub.postReport(a)).body).toEqual({ accepted: true, duplicate: false });
  expect((await hub.postReport(b)).body).toEqual({ accepted: true, duplicate: false });
  expect((await hub.postReport(b)).body).toEqual({ accepted: true, duplicate: true });
  const { body } = await hub.get<{ items: NodeStatusT[] }>('/api/v1/nodes');
  expect(body.items.map((n) => n.node)).toContain('worker-idb.example.com');
});

it('counts a lazy pull stamped in the future as pulled now, so that it ages out', async () => {
  const node = 'worker-future-pull.example.com';
  const report = makeReport({
    node,
    lazyPulls: [
      {
        image: 'quay.io/example/future:1',
        digest: digest(99),
        layers: [],
        at: '9999-12-31T23:59:59Z',
      },
    ],
  });
  expect((await hub.postReport(report)).status).toBe(200);
  const row = hub.hub.db
    .prepare('SELECT max(at) AS at FROM lazy_pulls WHERE node = ?')
    .get(node) as {
    at: number;
  };
  expect(row.at).toBeLessThanOrEqual(Date.now());
});

it('answers a report with a million unknown keys in a bounded message', async () => {
  const report = makeReport({ node: 'worker-keys.example.com' }) as unknown as Record<
    string,
    unknown
  >;
  for (let i = 0; i < 200_000; i++) report[`k${i}`] = 0;
  const refused = await hub.postReport(report);
  expect(refused.status).toBe(400);
  expect(JSON.stringify(refused.body).length).toBeLessThan(5_000);
});

it('refuses JSON nested deeper than any report before parsing it', async () => {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const answer = await fetch(`${hub.url}/api/v1/reports`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${hub.tokens.agent('worker-deep.example.com')}`,
    },
    body: deep,
  });
  expect(answer.status).toBe(400);
  expect(((await answer.json()) as { message: string }).message).toMatch(/nested deeper than 64/);
});

it('reads at most two large reports at once; the next gets 503 until one is done', async () => {
  const { hostname, port } = new URL(hub.url);
  const token = hub.tokens.agent('worker-large.example.com');
  /** An upload of 2 MiB that stops after its first bytes (cut after the test hub's 1 s). */
  const stalledUpload = async () => {
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `POST /api/v1/reports HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${token}\r\n` +
        `content-type: application/json\r\ncontent-length: ${2 << 20}\r\n\r\n{"schemaVersion":`,
    );
    return { closed, answer: () => answer };
  };
  const uploads: Awaited<ReturnType<typeof stalledUpload>>[] = [];
  for (let i = 0; i < 3; i++) {
    uploads.push(await stalledUpload());
    await new Promise((resolve) => setTimeout(resolve, 50)); // its (cached) token reviewed
  }
  await waitFor(
    'one upload refused',
    () => Promise.resolve(uploads.some((u) => u.answer() !== '')),
    800,
    20,
  );
  const answers = uploads.map((u) => u.answer());
  // Exactly one is refused, whichever was counted last; the other two are being read.
  expect(answers.filter((a) => a === '')).toHaveLength(2);
  const refused = answers.find((a) => a !== '')!;
  expect(refused).toMatch(/^HTTP\/1.1 503 /);
  expect(refused).toContain('too many large reports at once');
  await Promise.all(uploads.map((u) => u.closed)); // the refused one too: not waited for
  // Their slots are free again: a large report is read (and refused for its unknown key).
  const big = JSON.stringify({
    ...makeReport({ node: 'worker-large.example.com' }),
    pad: 'x'.repeat(2 << 20),
  });
  const answer = await fetch(`${hub.url}/api/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: big,
  });
  expect(answer.status).toBe(400);
});
