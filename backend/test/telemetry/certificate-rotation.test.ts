// The service-ca operator renews the hub's serving certificate, and at a CA rotation re-signs it,
// in the mounted Secret; the kubelet rewrites the CA file agents trust. Neither the hub nor the
// agents are restarted for it (agents run for months under OnDelete): the hub serves new
// connections with the certificate as it is now, and a reporter trusts the CA file as it is now.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { jest } from '@jest/globals';
import { Agent, request } from 'undici';

import { TelemetryCollector } from '../../src/telemetry/collector.ts';
import { AgentMetrics } from '../../src/telemetry/metrics.ts';
import { Reporter } from '../../src/telemetry/reporter.ts';
import { startTestHub, type TestHub } from '../support/hub.ts';
import { makeServerCert } from '../support/tls.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';

jest.setTimeout(120_000);

const NODE = 'worker-3.ocp.example.com';
const LAYER = `sha256:${'c4'.repeat(32)}`;

let hub: TestHub;
let dir: string;

beforeAll(async () => {
  hub = await startTestHub({ limits: { certificateCheckMs: 100 } });
  dir = await makeTempDir('certificate-rotation');
});

afterAll(async () => {
  await hub.stop();
  await removeDir(dir);
});

/** Whether a new TLS connection that trusts only `ca` reaches the hub. */
async function reachableTrusting(ca: string): Promise<boolean> {
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const answer = await request(`${hub.url}/healthz`, { dispatcher });
    await answer.body.dump();
    return answer.statusCode === 200;
  } catch {
    return false;
  } finally {
    await dispatcher.close();
  }
}

it('serves a renewed certificate without a restart, and a reporter trusts the new CA', async () => {
  const serviceCa = join(dir, 'service-ca.crt');
  await copyFile(hub.caFile!, serviceCa);
  const metrics = new AgentMetrics();
  const collector = new TelemetryCollector({ node: NODE, agentVersion: '0.1.0', metrics });
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${hub.tokens.agent(NODE)}\n`);
  const reporter = new Reporter({
    collector,
    hubUrl: hub.url,
    tokenFile,
    caFile: serviceCa,
    spoolDir: join(dir, 'spool'),
  });
  collector.onDemandFetch(LAYER, 1000, 0.01);
  expect(await reporter.flush()).toMatchObject({ sent: 1, pending: 0 });

  // The Secret is rewritten with a certificate of another CA (self-signed here: its own CA).
  const oldCa = await readFile(hub.caFile!, 'utf8');
  const next = await makeServerCert(dir, 'renewed');
  await writeFile(join(dirname(hub.caFile!), 'hub.key'), next.keyPem);
  await writeFile(hub.caFile!, next.certPem);
  await waitFor('the hub to serve the renewed certificate', () => reachableTrusting(next.certPem));
  expect(await reachableTrusting(oldCa)).toBe(false);

  // The agent's CA file follows (the kubelet's projected volume), and its connections are gone
  // (the hub restarted for another reason, or the connection idled out).
  await writeFile(serviceCa, next.certPem);
  await hub.restart();
  collector.onDemandFetch(LAYER, 1000, 0.01);
  expect(await reporter.flush()).toMatchObject({ sent: 1, pending: 0 });
  await reporter.stop();
});
