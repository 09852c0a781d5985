// The agent under disk pressure, through its real FUSE mount: a cache smaller than the layer in
// use, and a cache whose file system (a small tmpfs) fills up behind its back. Reads stay correct
// in both; the background fetch stops instead of cycling the layer through the cache; a full disk
// is counted and logged, and the cache recovers when room comes back.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

import { jest } from '@jest/globals';

import { isAlive } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.ts';
import { type AgentProcess, pushEstargzImage, startAgentProcess, tearDown } from './fixtures.ts';

jest.setTimeout(300_000);

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const MiB = 2 ** 20;

/** Regular files below `root`, as paths relative to it. */
async function regularFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(root, join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

/** Bytes of chunk files under the agent's cache directory. */
async function cacheDirBytes(cacheDir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(cacheDir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.startsWith('sha256-')) {
      total += (await stat(join(entry.parentPath, entry.name))).size;
    }
  }
  return total;
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('the agent under disk pressure', () => {
  let dir: string;
  let registry: RegistryFixture;
  let agent: AgentProcess | undefined;
  let tmpfs: Tmpfs | undefined;
  let ref: string;
  let layer: { digest: string; size: number };
  let secondLayer: string;
  /** The first layer's files as built, to compare the served ones with. */
  let sourceRoot: string;

  const diff = (): string => join(agent!.mountpoint, b64(ref), layer.digest, 'diff');
  const blobBytes = async (): Promise<number> =>
    (await registry.accessLog())
      .filter((l) => l.method === 'GET' && l.path.endsWith(layer.digest))
      .reduce((sum, l) => sum + l.bytes, 0);

  /** Reads every regular file of the layer through the mount; each must equal its source. */
  async function expectEveryFileServedIntact(): Promise<number> {
    const files = await regularFiles(sourceRoot);
    expect(files.length).toBeGreaterThan(10);
    for (const path of files) {
      const served = await readFile(join(diff(), path));
      const source = await readFile(join(sourceRoot, path));
      if (!served.equals(source)) throw new Error(`${path}: served bytes differ from the image's`);
    }
    return files.length;
  }

  beforeAll(async () => {
    dir = await makeTempDir('cache-pressure');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    // Incompressible data: the first layer is ≈ 23 MiB compressed and uncompressed.
    const manifest = await pushEstargzImage(dir, registry, 'pressure', {
      'data/r1.bin': randomBytes(4 * MiB),
      'data/r2.bin': randomBytes(4 * MiB),
      'data/r3.bin': randomBytes(4 * MiB),
      'data/r4.bin': randomBytes(4 * MiB),
    });
    ref = `${registry.host}/pressure:esgz`;
    layer = manifest.layers[0];
    secondLayer = manifest.layers[1].digest;
    sourceRoot = join(dir, 'pressure-l1');
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await tmpfs?.unmount();
    tmpfs = undefined;
    await rm(join(dir, 'state'), { recursive: true, force: true });
  });

  afterAll(() => tearDown(dir, registry));

  it('with a cache smaller than the layer in use, the background fetch waits and reads stay correct', async () => {
    expect(layer.size).toBeGreaterThan(22 * MiB);
    agent = await startAgentProcess(dir, {
      backgroundFetch: true,
      prefetch: false,
      quietPeriodSeconds: 0,
      cacheSize: '20Mi',
    });
    await open(join(agent.mountpoint, b64(ref), layer.digest, 'use'), constants.O_CREAT).catch(
      () => undefined,
    );
    await waitFor('the background fetch waiting for room', async () =>
      (await agent!.log()).includes('background fetch: waiting, the cache has no room'),
    );
    // It stops there: the layer is not fetched again and again through a cache it cannot fit.
    let fetched = -1;
    await waitFor(
      'the background requests to settle',
      async () => {
        const now = await blobBytes();
        const settled = now === fetched && now > 0;
        fetched = now;
        return settled;
      },
      30_000,
      1000,
    );
    expect(fetched).toBeLessThan(20 * MiB);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await blobBytes()).toBe(fetched);
    expect(await agent.log()).not.toContain('background fetch: layer complete');

    await expectEveryFileServedIntact();
    const metrics = await agent.metrics();
    expect(metric(metrics, 'slipstream_cache_limit_bytes')).toBe(20 * MiB);
    expect(isAlive(agent.pid)).toBe(true);
    const cacheDir = join(agent.stateDir, 'cache');
    await agent.stop(); // writes and evictions done
    agent = undefined;
    expect(await cacheDirBytes(cacheDir)).toBeLessThanOrEqual(20 * MiB);
  });

  it('when its disk fills up, reads stay correct, the failed writes are counted, and room comes back', async () => {
    tmpfs = await mountTmpfs(join(dir, 'state/cache'), 32 * MiB);
    agent = await startAgentProcess(dir, {
      backgroundFetch: false,
      prefetch: false,
      cacheMinFreePercent: 0,
    });
    // Someone else takes all but 64 KiB of the disk after the agent measured it.
    const filler = join(tmpfs.path, 'someone-else');
    const free = await statfs(tmpfs.path);
    await writeFile(filler, Buffer.alloc(free.bavail * free.bsize - 64 * 1024));

    const files = await expectEveryFileServedIntact();
    await waitFor('the write errors counted', async () => {
      const text = await agent!.metrics();
      return metric(text, 'slipstream_cache_write_errors_total{code="ENOSPC"}') > 0;
    });
    const lines = (await agent.log()).split('\n').filter((l) => l.includes('chunk not written'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThan(files); // once a minute per error code, not once per chunk
    expect(lines[0]).toContain('"code":"ENOSPC"');
    expect(isAlive(agent.pid)).toBe(true);
    expect(metric(await agent.metrics(), 'slipstream_cache_limit_bytes')).toBeLessThan(MiB);

    // Room comes back: the next disk check raises the limit and chunks are kept again.
    await rm(filler);
    await waitFor(
      'the limit raised',
      async () => metric(await agent!.metrics(), 'slipstream_cache_limit_bytes') > 24 * MiB,
      30_000,
    );
    const before = await cacheDirBytes(tmpfs.path);
    // The second layer's file: not read before, so not in the memory cache either.
    const second = join(agent.mountpoint, b64(ref), secondLayer, 'diff/data/second.bin');
    const data = await readFile(second);
    expect(data.equals(await readFile(join(dir, 'pressure-l2/data/second.bin')))).toBe(true);
    await agent.stop();
    agent = undefined;
    expect(await cacheDirBytes(tmpfs.path)).toBeGreaterThanOrEqual(before + 2 * MiB);
  });

  it('a chunk damaged on disk is dropped, counted and fetched again: readers get the image', async () => {
    agent = await startAgentProcess(dir, { backgroundFetch: false, prefetch: false });
    await expectEveryFileServedIntact();
    await agent.stop();
    // One byte flipped in every chunk file the cache wrote, while the agent is down.
    const cacheDir = join(dir, 'state');
    let damaged = 0;
    for (const entry of await readdir(cacheDir, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !entry.name.startsWith('sha256-')) continue;
      const path = join(entry.parentPath, entry.name);
      const bytes = await readFile(path);
      if (bytes.length === 0) continue;
      bytes[bytes.length >> 1] ^= 0xff;
      await writeFile(path, bytes);
      damaged++;
    }
    expect(damaged).toBeGreaterThan(4);
    const before = await blobBytes();
    agent = await startAgentProcess(dir, { backgroundFetch: false, prefetch: false });
    await expectEveryFileServedIntact();
    expect(await blobBytes()).toBeGreaterThan(before + 16 * MiB); // fetched again
    expect(metric(await agent.metrics(), 'slipstream_cache_corrupt_chunks_total')).toBeGreaterThan(
      4,
    );
    // Logged once for the burst, not once per chunk.
    expect((await agent.log()).split('cache: corrupt chunks dropped').length - 1).toBe(1);
  });
});
