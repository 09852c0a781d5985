// The emulated link of the benchmark (bench/netem) really delays and shapes: correctness checks of
// the emulator (RTT at least the configured delay, throughput at most the configured rate), not
// performance assertions. Needs root (network namespaces, iptables, tc), like the other real-service
// tests.
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { createLink, type EmulatedLink } from '../../../bench/netem/link.ts';
import { download, measureRttMs, uploadRandomBlob } from '../../../bench/netem/measure.ts';
import { run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

jest.setTimeout(120_000);

let dir: string;
let link: EmulatedLink | undefined;
let registry: RegistryFixture | undefined;

beforeAll(async () => {
  dir = await makeTempDir('netem');
  link = await createLink({ binDir: join(dir, 'bin') });
  registry = await startRegistry({ bindAddress: link.serverAddress, netns: link.serverNetns });
});

afterAll(async () => {
  await registry?.stop();
  await link?.destroy();
  await removeDir(dir);
});

test('the link adds the configured round-trip time and caps the rate', async () => {
  if (!link || !registry) throw new Error('setup failed');
  const digest = await uploadRandomBlob(registry.url, 'netem/probe', 4 * 1024 * 1024);
  const port = Number(new URL(registry.url).port);

  await link.configure({ name: 'test', rttMs: 30, rateMbit: 50 });
  const rtt = await measureRttMs(link.serverAddress, port, 5);
  expect(rtt.min).toBeGreaterThanOrEqual(30);

  const dl = await download(`${registry.url}/v2/netem/probe/blobs/${digest}`);
  expect(dl.bytes).toBe(4 * 1024 * 1024);
  // tbf lets one bucket (64 KiB) through at line rate: allow for it, not more.
  expect(dl.mbitPerSecond).toBeLessThanOrEqual(50 * 1.05);
  expect(dl.mbitPerSecond).toBeGreaterThan(0);
});

test('destroy removes the namespaces and the host end of the link', async () => {
  if (!link) throw new Error('setup failed');
  const { routerNetns, serverNetns, hostAddress } = link;
  await registry?.stop();
  registry = undefined;
  await link.destroy();
  const namespaces = (await run('ip', ['netns', 'list'])).stdout;
  expect(namespaces).not.toContain(routerNetns);
  expect(namespaces).not.toContain(serverNetns);
  expect((await run('ip', ['-o', '-4', 'addr', 'show'])).stdout).not.toContain(`${hostAddress}/`);
});
