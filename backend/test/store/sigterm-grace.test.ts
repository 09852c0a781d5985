// SIGTERM to the supervisor while a container runs from the store. The container's overlay uses a
// layer directory of the FUSE mount as a lower layer, which does not make the mount busy: umount
// succeeds, but the overlay keeps the connection alive. The supervisor used to take that for
// "nobody uses the store" and exit at once, and every read of the container failed (ENOTCONN).
// Now such users are served for the grace period (shutdownGraceSeconds), or until they let go.
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { mountsAt } from '../../src/fuse/index.ts';
import { startConfiguredAgent, type ConfiguredAgent } from '../agent/agent-process.ts';
import { isAlive, run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { freePort, makeTempDir, waitFor } from '../support/tmp.ts';
import { knownContent, layerDirIn, pushEstargzImage, tearDown } from './fixtures.ts';

jest.setTimeout(120_000);

const GRACE_SECONDS = 4;
const MiB = 1 << 20;

/** 24 MiB: six 4 MiB chunks. */
const known = knownContent('grace', 24 * MiB);
let dir: string;
let registry: RegistryFixture;
let ref: string;
let layerDigest: string;
let agent: ConfiguredAgent | undefined;
let overlay: string | undefined;

beforeAll(async () => {
  dir = await makeTempDir('sigterm-grace');
  registry = await startRegistry();
  const manifest = await pushEstargzImage(dir, registry, 'grace', { 'data/known.bin': known });
  layerDigest = manifest.layers[0].digest;
  ref = `${registry.host}/grace:esgz`;
});

afterEach(async () => {
  if (overlay) await run('umount', [overlay], { allowFailure: true });
  overlay = undefined;
  await agent?.stop();
  agent = undefined;
});

afterAll(() => tearDown(dir, registry));

/** An agent of its own (nothing cached) with a short grace period. */
function startAgent(name: string, flags: string[] = []): Promise<ConfiguredAgent> {
  return startConfiguredAgent(
    join(dir, name),
    [
      `shutdownGraceSeconds: ${GRACE_SECONDS}`,
      'prefetch: { enabled: false }',
      'backgroundFetch: { enabled: false }',
    ],
    flags,
  );
}

/** A read-only overlay over the image's layer, as a container's root: returns where it is. */
async function mountContainerOverlay(a: ConfiguredAgent, name: string): Promise<string> {
  const diff = join(layerDirIn(a.mountpoint, ref, layerDigest), 'diff');
  const empty = join(dir, `${name}-empty`);
  const target = join(dir, `${name}-rootfs`);
  await mkdir(empty, { recursive: true });
  await mkdir(target, { recursive: true });
  // Without an upper dir overlayfs wants two lower dirs; ':' separates them (the digest's is
  // escaped, as the runtimes do).
  const lowerdir = `${diff.replaceAll(':', '\\:')}:${empty}`;
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerdir}`, target]);
  overlay = target;
  return target;
}

/** Reads 1 MiB at `offset` through the overlay: uncached, so the FUSE server must answer. */
async function readMiB(file: string, offset: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(MiB);
    const { bytesRead } = await handle.read(buffer, 0, MiB, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A name looked up for the first time: a FUSE LOOKUP, answered ENOENT while served. */
async function lookupError(root: string, n: number): Promise<string | undefined> {
  return stat(join(root, 'data', `absent-${n}`)).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e.code,
  );
}

async function exitedWithin(a: ConfiguredAgent, ms: number): Promise<number> {
  const started = Date.now();
  await waitFor('the supervisor to exit', () => Promise.resolve(!isAlive(a.pid)), ms);
  return Date.now() - started;
}

it('serves a container overlay for the grace period after SIGTERM, then ends the connection', async () => {
  agent = await startAgent('overlay');
  const root = await mountContainerOverlay(agent, 'overlay');
  const file = join(root, 'data/known.bin');
  expect((await readMiB(file, 0)).equals(known.subarray(0, MiB))).toBe(true);

  const signalled = Date.now();
  process.kill(agent.pid, 'SIGTERM');
  // Offsets 6 MiB apart: beyond the 4 MiB readahead of the read before.
  for (const [step, offset] of [6 * MiB, 12 * MiB, 18 * MiB].entries()) {
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect((await readMiB(file, offset)).equals(known.subarray(offset, offset + MiB))).toBe(true);
    expect(await lookupError(root, step)).toBe('ENOENT');
  }
  expect(isAlive(agent.pid)).toBe(true);

  await exitedWithin(agent, 20_000);
  expect(Date.now() - signalled).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000 - 500);
  // Then the connection is ended: the overlay's users get an error, they do not hang.
  expect(await lookupError(root, 99)).toMatch(/^(ENOTCONN|ECONNABORTED)$/);
  const log = await agent.log();
  expect(log).toContain('"result":"detached"');
  expect(log).toContain('serving its users for the grace period');
  expect(mountsAt(agent.mountpoint)).toHaveLength(0);
});

it('ends the grace period as soon as the last overlay is unmounted', async () => {
  agent = await startAgent('released');
  const root = await mountContainerOverlay(agent, 'released');
  expect(await lookupError(root, 0)).toBe('ENOENT');
  process.kill(agent.pid, 'SIGTERM');
  await waitFor('the grace period', async () =>
    (await agent!.log()).includes('serving its users for the grace period'),
  );
  await run('umount', [root]);
  overlay = undefined;
  expect(await exitedWithin(agent, 20_000)).toBeLessThan(GRACE_SECONDS * 1000 - 1000);
  expect(await agent.log()).toContain('the last user of the store let go');
});

it('exits at once when nothing uses the store', async () => {
  agent = await startAgent('unused');
  process.kill(agent.pid, 'SIGTERM');
  expect(await exitedWithin(agent, 20_000)).toBeLessThan(GRACE_SECONDS * 1000 - 1000);
  expect(await agent.log()).toContain('"result":"unmounted"');
});

it('is not ready during the grace period, and does not take its own unmount for a lost mount', async () => {
  const port = await freePort();
  agent = await startAgent('probes', ['--metrics-address', `127.0.0.1:${port}`]);
  const probe = (path: string) => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status);
  await mountContainerOverlay(agent, 'probes');
  await waitFor('ready', async () => (await probe('/readyz').catch(() => 0)) === 200);
  process.kill(agent.pid, 'SIGTERM');
  await waitFor('the grace period', async () =>
    (await agent!.log()).includes('serving its users for the grace period'),
  );
  // Taken out of service at once (a Service or the kubelet stops counting on it)...
  await waitFor('/readyz to fail', async () => (await probe('/readyz')) === 503, 3_000, 100);
  await exitedWithin(agent, 20_000);
  // ... and the unmount it made itself is not reported as the store taken away.
  expect(await agent.log()).not.toContain('unmounted by something else');
});
