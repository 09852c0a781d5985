// The hub's /metrics: authenticated like the API (TokenReview), authorised like kube-rbac-proxy
// (SubjectAccessReview for `get` on the non-resource URL /metrics), and its counters follow what
// the hub really did. The hub runs for real over HTTPS; tokens and RBAC come from the stand-in
// Kubernetes API server.
import { jest } from '@jest/globals';

import { makeReport, startTestHub, type TestHub } from '../support/hub.ts';
import type { PodPlan } from '../support/kube-fixtures.ts';
import { waitFor } from '../support/tmp.ts';

jest.setTimeout(60_000);

const PROMETHEUS = 'system:serviceaccount:openshift-monitoring:prometheus-k8s';
const SCRAPER_TOKEN = 'prometheus-k8s-token';
const NODE = 'worker-m.ocp.example.com';

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
  hub.kube.addToken(SCRAPER_TOKEN, {
    username: PROMETHEUS,
    groups: ['system:serviceaccounts', 'system:serviceaccounts:openshift-monitoring'],
  });
  hub.kube.grant({ username: PROMETHEUS, verb: 'get', nonResourceURL: '/metrics' });
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

async function scrape(): Promise<string> {
  const answer = await hub.get<string>('/metrics', SCRAPER_TOKEN);
  expect(answer.status).toBe(200);
  return answer.body;
}

/** A started, ready pod with one container on NODE. */
const podPlan = (name: string, createdAt: number): PodPlan => ({
  namespace: 'demo',
  name,
  node: NODE,
  containers: [{ name: 'app', image: 'quay.io/x/app:1', imageDigest: `sha256:${'ab'.repeat(32)}` }],
  createdAt,
  scheduledAfter: 1,
  sandboxReadyAfter: 2,
  startedAfter: 3,
  readyAfter: 4,
});

/**
 * The value of one sample; `labels` must match the exposition exactly (in registration order).
 * A labelled series that was never touched is absent: `absent` says what that counts as.
 */
function sample(text: string, name: string, labels = '', absent?: number): number {
  const series = labels ? `${name}{${labels}}` : name;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (line) return Number(line.slice(series.length + 1));
  if (absent !== undefined) return absent;
  throw new Error(`no sample ${series} in the exposition`);
}

describe('access', () => {
  it('needs a bearer token', async () => {
    expect((await hub.get('/metrics', null)).status).toBe(401);
    expect((await hub.get('/metrics', 'not-a-real-token')).status).toBe(401);
  });

  it('needs get on the non-resource URL /metrics, not pod rights', async () => {
    expect((await hub.get('/metrics', hub.tokens.nobody)).status).toBe(403);
    const admin = await hub.get('/metrics', hub.tokens.admin);
    expect(admin.status).toBe(403);
    expect(admin.body).toMatchObject({ message: 'kube:admin may not get /metrics' });
  });

  it('is granted by a wildcard non-resource rule too', async () => {
    hub.kube.addToken('wildcard-token', { username: 'ops', groups: ['ops-team'] });
    hub.kube.grant({ group: 'ops-team', verb: 'get', nonResourceURL: '/met*' });
    expect((await hub.get('/metrics', 'wildcard-token')).status).toBe(200);
  });
});

describe('exposition', () => {
  it('serves the hub metric families in the Prometheus text format', async () => {
    const text = await scrape();
    for (const family of [
      'slipstream_hub_http_requests_total counter',
      'slipstream_hub_http_request_duration_seconds histogram',
      'slipstream_hub_reports_ingested_total counter',
      'slipstream_hub_reports_rejected_total counter',
      'slipstream_hub_reports_duplicate_total counter',
      'slipstream_hub_pod_records gauge',
      'slipstream_hub_informer_synced gauge',
      'slipstream_hub_informer_restarts_total counter',
      'slipstream_hub_database_size_bytes gauge',
      'slipstream_hub_retention_deleted_rows_total counter',
      'slipstream_hub_process_cpu_seconds_total counter',
      'slipstream_hub_process_resident_memory_bytes gauge',
    ]) {
      expect([family, text.includes(`# TYPE ${family}\n`)]).toEqual([family, true]);
    }
    expect(sample(text, 'slipstream_hub_informer_synced', 'informer="pods"')).toBe(1);
    expect(sample(text, 'slipstream_hub_informer_synced', 'informer="events"')).toBe(1);
    expect(sample(text, 'slipstream_hub_informer_restarts_total', 'informer="pods"')).toBe(0);
    expect(sample(text, 'slipstream_hub_database_size_bytes')).toBeGreaterThan(4096);
  });

  it('labels requests by route template, never by the raw URL', async () => {
    await hub.get('/api/v1/pods?namespace=secret-team&image=quay.io/x/y:1');
    await hub.get('/no/such/path/abc123', null);
    const text = await scrape();
    expect(text).not.toContain('secret-team');
    expect(text).not.toContain('abc123');
    expect(
      sample(
        text,
        'slipstream_hub_http_requests_total',
        'route="/api/v1/pods",method="GET",status_class="2xx"',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(
        text,
        'slipstream_hub_http_requests_total',
        'route="unmatched",method="GET",status_class="4xx"',
      ),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe('counters follow what the hub did', () => {
  it('counts API requests and their latency', async () => {
    const labels = 'route="/api/v1/summary",method="GET",status_class="2xx"';
    const count = (text: string) => sample(text, 'slipstream_hub_http_requests_total', labels, 0);
    const startCount = count(await scrape());
    expect((await hub.get('/api/v1/summary')).status).toBe(200);
    expect((await hub.get('/api/v1/summary')).status).toBe(200);
    const after = await scrape();
    expect(count(after)).toBe(startCount + 2);
    expect(
      sample(
        after,
        'slipstream_hub_http_request_duration_seconds_count',
        'route="/api/v1/summary",method="GET"',
      ),
    ).toBe(startCount + 2);
  });

  it('counts stored, duplicate and rejected reports by reason', async () => {
    const before = await scrape();
    const rejected = (text: string, reason: string) =>
      sample(text, 'slipstream_hub_reports_rejected_total', `reason="${reason}"`);
    const report = makeReport({ node: NODE });
    expect((await hub.postReport(report)).body).toEqual({ accepted: true, duplicate: false });
    expect((await hub.postReport(report)).body).toEqual({ accepted: true, duplicate: true });
    const elsewhere = makeReport({ node: 'worker-z.ocp.example.com' });
    expect((await hub.postReport(elsewhere, hub.tokens.agent(NODE))).status).toBe(403);
    expect((await hub.postReport(makeReport({ node: NODE }), hub.tokens.admin)).status).toBe(403);
    expect((await hub.postReport({ node: NODE }, hub.tokens.agent(NODE))).status).toBe(400);
    expect((await hub.postReport('{"node": ', hub.tokens.agent(NODE))).status).toBe(400);
    expect((await hub.postReport(makeReport({ node: NODE }), 'forged')).status).toBe(401);
    const after = await scrape();
    const delta = (name: string) => sample(after, name) - sample(before, name);
    expect(delta('slipstream_hub_reports_ingested_total')).toBe(1);
    expect(delta('slipstream_hub_reports_duplicate_total')).toBe(1);
    for (const [reason, n] of [
      ['wrong-node', 1],
      ['forbidden', 1],
      ['malformed', 2],
      ['unauthenticated', 1],
      ['unavailable', 0],
    ] as const) {
      expect([reason, rejected(after, reason) - rejected(before, reason)]).toEqual([reason, n]);
    }
  });

  it('counts pod records as the informer stores them', async () => {
    const stored = () =>
      (hub.hub.db.prepare('SELECT count(*) AS n FROM pods').get() as { n: number }).n;
    const before = sample(await scrape(), 'slipstream_hub_pod_records');
    expect(before).toBe(stored());
    await hub.seedPod(podPlan('metrics-pod-1', Date.now() - 10_000));
    await hub.waitForPods(before + 1);
    await waitFor(
      'the pod in /metrics',
      async () => sample(await scrape(), 'slipstream_hub_pod_records') === before + 1,
    );
  });
});

describe('retention', () => {
  it('counts the rows retention deleted (it runs when the hub starts)', async () => {
    await hub.seedPod(podPlan('metrics-old-pod', Date.now() - 40 * 86_400_000));
    await waitFor('the old pod recorded', () => {
      const row = hub.hub.db
        .prepare("SELECT count(*) AS n FROM pods WHERE name = 'metrics-old-pod'")
        .get() as { n: number };
      return Promise.resolve(row.n === 1);
    });
    await hub.restart();
    // The pod row and its container row, at least; a fresh process starts counting from zero.
    const deleted = sample(await scrape(), 'slipstream_hub_retention_deleted_rows_total');
    expect(deleted).toBeGreaterThanOrEqual(2);
  });
});
