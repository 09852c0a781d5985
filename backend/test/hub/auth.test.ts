// Who may read and who may write. Tokens are reviewed by the stand-in Kubernetes API server's
// TokenReview and SubjectAccessReview endpoints (the only stand-in, because no Kubernetes API can
// run here); the hub runs for real over HTTPS with a real SQLite file.
import { jest } from '@jest/globals';

import { makeReport, startTestHub, type TestHub } from '../support/hub.ts';
import { Resources } from '../support/kube-api.ts';
import { podPhases } from '../support/kube-fixtures.ts';
import { waitFor } from '../support/tmp.ts';

// Waits on the hub's watchers; generous for a busy machine (no timing is asserted).
jest.setTimeout(60_000);

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
}, 60_000);

afterAll(async () => {
  await hub.stop();
});

const reportCount = () =>
  (hub.hub.db.prepare('SELECT count(*) AS n FROM reports').get() as { n: number }).n;

describe('users', () => {
  it('serves health without a token and nothing else', async () => {
    expect((await hub.get('/healthz', null)).status).toBe(200);
    for (const path of ['/openapi.json', '/api/v1/about', '/api/v1/summary', '/api/v1/nodes']) {
      expect([path, (await hub.get(path, null)).status]).toEqual([path, 401]);
      expect([path, (await hub.get(path, 'not-a-real-token')).status]).toEqual([path, 401]);
    }
  });

  it('needs list-pods rights cluster-wide for cluster views', async () => {
    expect((await hub.get('/api/v1/summary', hub.tokens.nobody)).status).toBe(403);
    expect((await hub.get('/api/v1/images', hub.tokens.viewer('team-a'))).status).toBe(403);
    expect((await hub.get('/api/v1/summary', hub.tokens.admin)).status).toBe(200);
    const about = await hub.get('/api/v1/about', hub.tokens.nobody);
    expect(about.body).toEqual({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      namespace: 'slipstream',
      agentConfigMap: 'slipstream-agent',
      storePathDefault: '/var/lib/slipstream/store',
    });
  });

  it('lets a namespace viewer list pods in that namespace only', async () => {
    const viewer = hub.tokens.viewer('team-a');
    expect((await hub.get('/api/v1/pods?namespace=team-a', viewer)).status).toBe(200);
    expect((await hub.get('/api/v1/pods?namespace=team-b', viewer)).status).toBe(403);
    expect((await hub.get('/api/v1/pods', viewer)).status).toBe(403);
  });

  it('rejects invalid query parameters with 400 and the field', async () => {
    const bad = await hub.get('/api/v1/pods?limit=0&colour=red');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/limit/);
    expect(bad.body.message).toMatch(/colour/);
    expect((await hub.get('/api/v1/pods?cursor=garbage')).status).toBe(400);
    expect(
      (await hub.get('/api/v1/timeseries?start=2026-11-22T08:00:00Z&end=2026-11-22T07:00:00Z'))
        .status,
    ).toBe(400);
  });
});

describe('agents', () => {
  const node = 'worker-a.ocp.example.com';

  it('accepts a report for its own node', async () => {
    const before = reportCount();
    const answer = await hub.postReport(makeReport({ node }));
    expect(answer).toEqual({ status: 200, body: { accepted: true, duplicate: false } });
    expect(reportCount()).toBe(before + 1);
  });

  it('refuses a report for another node, and reports from anyone but the agent service account', async () => {
    const before = reportCount();
    const other = await hub.postReport(
      makeReport({ node: 'worker-b.ocp.example.com' }),
      hub.tokens.agent(node),
    );
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({
      message: expect.stringMatching(/may not report for node worker-b/),
    });
    expect((await hub.postReport(makeReport({ node }), hub.tokens.admin)).status).toBe(403);
    expect((await hub.postReport(makeReport({ node }), 'forged')).status).toBe(401);
    expect(reportCount()).toBe(before);
  });

  it('answers a malformed report with 400 and stores nothing', async () => {
    const before = reportCount();
    const valid = makeReport({ node });
    const cases: unknown[] = [
      { ...valid, schemaVersion: 2 },
      { ...valid, images: [{ image: 'x', digest: 'nope', compressedSizeBytes: -1, layers: [] }] },
      { ...valid, cache: { usedBytes: '1 GB', capBytes: 0 } },
      { ...valid, surprise: true },
      '{"node": "worker-a.ocp.example.com", ',
    ];
    for (const body of cases) {
      const answer = await hub.postReport(body, hub.tokens.agent(node));
      expect(answer.status).toBe(400);
    }
    expect(reportCount()).toBe(before);
    expect(
      hub.hub.db.prepare("SELECT count(*) AS n FROM image_builds WHERE image = 'x'").get(),
    ).toEqual({
      n: 0,
    });
  });

  it("finds an older agent token's node through its pod when the token does not name the node", async () => {
    const podNode = 'worker-p.ocp.example.com';
    const [, scheduled] = podPhases({
      namespace: 'slipstream',
      name: 'slipstream-agent-q7x2k',
      node: podNode,
      containers: [
        {
          name: 'agent',
          image: 'quay.io/slipstream/slipstream:0.1.0',
          imageDigest: `sha256:${'0a'.repeat(32)}`,
        },
      ],
      createdAt: Date.now(),
      scheduledAfter: 1,
      sandboxReadyAfter: 2,
      startedAfter: 3,
      readyAfter: 4,
    });
    hub.kube.apply(Resources.pods, scheduled);
    await waitFor(
      'agent pod in the hub cache',
      async () => (await hub.get('/api/v1/pods?namespace=slipstream')).body.total === 1,
    );
    hub.kube.addToken('legacy-agent-token', {
      username: 'system:serviceaccount:slipstream:slipstream-agent',
      groups: ['system:serviceaccounts'],
      extra: { 'authentication.kubernetes.io/pod-name': ['slipstream-agent-q7x2k'] },
    });
    expect((await hub.postReport(makeReport({ node: podNode }), 'legacy-agent-token')).status).toBe(
      200,
    );
    expect((await hub.postReport(makeReport({ node }), 'legacy-agent-token')).status).toBe(403);
  });
});
