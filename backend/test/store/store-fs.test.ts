// The store tree through the real FUSE mount of a `slipstream agent` process, without podman:
// both ALS protocol generations, reference counting, fast misses, background fetch, restart reuse.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, open, readFile, rmdir, stat, writeFile, readdir } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { mountsAt } from '../../src/fuse/index.ts';
import { run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  type EstargzManifest,
  pushEstargzImage,
  startAgentProcess,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(300_000);

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('the store tree of a running agent', () => {
  let dir: string;
  let registry: RegistryFixture;
  let agent: AgentProcess | undefined;
  let ref: string;
  let layers: EstargzManifest['layers'];
  let diffIds: string[];

  const layerDir = (digest: string): string => join(agent!.mountpoint, b64(ref), digest);
  /** Bytes of the chunk files in the agent's disk cache (temporaries of writes excluded). */
  const diskCacheBytes = async (): Promise<number> => {
    const root = join(dir, 'state/cache');
    let total = 0;
    for (const layer of await readdir(root)) {
      for (const name of await readdir(join(root, layer))) {
        if (name.startsWith('sha256-')) total += (await stat(join(root, layer, name))).size;
      }
    }
    return total;
  };
  const blobGets = async (): Promise<number> =>
    (await registry.accessLog()).filter(
      (l) => l.method === 'GET' && layers.some((x) => l.path.endsWith(x.digest)),
    ).length;

  beforeAll(async () => {
    dir = await makeTempDir('store-fs');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    const manifest = await pushEstargzImage(dir, registry, 'fs');
    ref = `${registry.host}/fs:esgz`;
    layers = manifest.layers;
    const config = (await (
      await fetch(`${registry.url}/v2/fs/blobs/${manifest.config.digest}`)
    ).json()) as { rootfs: { diff_ids: string[] } };
    diffIds = config.rootfs.diff_ids;
  });

  afterAll(() => tearDown(dir, agent, registry));

  it('answers both protocol generations with the right info', async () => {
    agent = await startAgentProcess(dir, { backgroundFetch: false });
    const [l1] = layers;
    const byLayer = JSON.parse(await readFile(join(layerDir(l1.digest), 'info'), 'utf8')) as object;
    expect(byLayer).toEqual({
      'compressed-diff-digest': l1.digest,
      'compressed-size': l1.size,
      'diff-digest': diffIds[0],
      ...(l1.annotations['io.containers.estargz.uncompressed-size']
        ? { 'diff-size': Number(l1.annotations['io.containers.estargz.uncompressed-size']) }
        : {}),
      compression: 2,
    });
    const toc = l1.annotations['containerd.io/snapshot/stargz/toc.digest'];
    const byToc = JSON.parse(await readFile(join(layerDir(toc), 'info'), 'utf8')) as object;
    expect(byToc).toMatchObject({
      'toc-digest': toc,
      compression: 2,
      flags: { 'expected-layer-diffid': diffIds[0] },
    });
    expect((await stat(join(layerDir(l1.digest), 'blob'))).size).toBe(l1.size);
    expect(await readdir(join(layerDir(toc), 'diff', 'empty'))).toEqual(['dir']);
    const l2 = layers[1];
    // Whiteout as char 0:0, opaque dir xattrs, hardlinks share an inode.
    const wh = await stat(join(layerDir(l2.digest), 'diff/etc/motd'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    const { stdout: xattrs } = await run('getfattr', [
      '-d',
      '-m',
      '.',
      join(layerDir(l2.digest), 'diff/var/log/apt'),
    ]);
    expect(xattrs).toContain('trusted.overlay.opaque="y"');
    // The rootless marker only for callers other than root (a rootless overlay's requests).
    expect(xattrs).not.toContain('user.overlay.opaque');
    await chmod(dir, 0o711); // let the other user reach the mount
    const { stdout: rootless } = await run('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'getfattr',
      '-n',
      'user.overlay.opaque',
      join(layerDir(l2.digest), 'diff/var/log/apt'),
    ]);
    expect(rootless).toContain('user.overlay.opaque="y"');
    const h1 = await stat(join(layerDir(l1.digest), 'diff/data/hard.txt'));
    const h2 = await stat(join(layerDir(l1.digest), 'diff/data/hard2.txt'));
    expect(h1.ino).toBe(h2.ino);
    expect(h1.nlink).toBe(2);
  });

  it('serves the compressed blob byte for byte, in few requests', async () => {
    const l1 = layers[0];
    const before = await blobGets();
    const blob = await readFile(join(layerDir(l1.digest), 'blob'));
    expect(`sha256:${createHash('sha256').update(blob).digest('hex')}`).toBe(l1.digest);
    expect((await blobGets()) - before).toBeLessThanOrEqual(Math.ceil(l1.size / (8 << 20)) + 1);
  });

  it('counts use/rmdir with ENOENT and rejects invalid names', async () => {
    const d = layerDir(layers[0].digest);
    await expect(
      open(join(d, 'use'), constants.O_CREAT | constants.O_WRONLY),
    ).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(stat(join(d, 'use'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(rmdir(d)).rejects.toMatchObject({ code: 'ENOENT' });
    await waitFor('release logged', async () =>
      (await agent!.log()).includes('"msg":"store: layer released"'),
    );
    await expect(stat(join(agent!.mountpoint, 'not base64!'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(stat(join(agent!.mountpoint, b64(ref), 'sha256:nothex'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(
      stat(join(agent!.mountpoint, b64(ref), `sha256:${'0'.repeat(64)}`, 'diff')),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('misses fast with ENOENT for an unreachable registry', async () => {
    const gone = `127.0.0.1:1/nothing:latest`;
    await expect(
      stat(join(agent!.mountpoint, b64(gone), layers[0].digest, 'diff')),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reads files lazily, and an agent restarted after a crash cleans the stale mount and reuses the verified chunks without refetching', async () => {
    const path = join(layerDir(layers[0].digest), 'diff/data/big.bin');
    const before = await blobGets();
    const first = await readFile(path);
    expect(first.length).toBe(9 << 20);
    expect(await blobGets()).toBeGreaterThan(before);
    // Chunks reach the disk cache after they are served (the write is not awaited): a crash
    // before that loses them, rightly. Crash once the file's chunks are on disk.
    await waitFor(
      'the chunks in the disk cache',
      async () => (await diskCacheBytes()) >= first.length,
    );
    // A crash leaves a stale mount (ENOTCONN); the next start cleans it and reuses the cache.
    await agent!.crash();
    const crashed = agent!.mountpoint;
    // (the kernel may answer from its attribute cache for up to a second)
    await waitFor('stale mount', () =>
      stat(crashed).then(
        () => false,
        (e: NodeJS.ErrnoException) => e.code === 'ENOTCONN',
      ),
    );
    agent = await startAgentProcess(dir, { backgroundFetch: false });
    expect(mountsAt(agent.mountpoint)).toHaveLength(1);
    const resolved = await readFile(join(layerDir(layers[0].digest), 'info')); // footer + TOC
    expect(resolved.length).toBeGreaterThan(0);
    const afterResolve = await blobGets();
    const again = await readFile(path);
    expect(again.equals(first)).toBe(true);
    expect(await blobGets()).toBe(afterResolve);
  });

  it('background fetch makes a layer in use fully local', async () => {
    await agent!.stop();
    expect(mountsAt(agent!.mountpoint)).toHaveLength(0); // SIGTERM unmounted
    agent = await startAgentProcess(dir, { backgroundFetch: true });
    const l2 = layers[1];
    await open(join(layerDir(l2.digest), 'use'), constants.O_CREAT | constants.O_WRONLY).catch(
      () => undefined,
    );
    await waitFor(
      'background fetch complete',
      async () =>
        (await agent!.log()).includes(
          `"layer":"${l2.digest}","msg":"background fetch: layer complete"`,
        ),
      120_000,
    );
    // The pull (`use`) restarted the quiet period (1 s here): no background request before it.
    const events = (await agent.log())
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const usedAt = events.find((e) => e.msg === 'store: use' && e.digest === l2.digest)!.time;
    const firstBackground = events.find(
      (e) => e.msg === 'fetched' && e.priority === 'background' && e.layer === l2.digest,
    )!;
    const requestStart =
      (firstBackground.time as number) - (firstBackground.seconds as number) * 1000;
    expect(requestStart - (usedAt as number)).toBeGreaterThanOrEqual(1000 - 5);
    // Everything now comes from the cache.
    const before = await blobGets();
    const data = await readFile(join(layerDir(l2.digest), 'diff/data/second.bin'));
    expect(data.length).toBe(2 << 20);
    expect(await blobGets()).toBe(before);
  });
  it('fetches in the background a layer a container reads without a `use` (pulled before the agent started)', async () => {
    await agent?.stop();
    agent = await startAgentProcess(dir, { backgroundFetch: true });
    const [l1] = layers;
    // No `use`: the runtime counted its reference with the agent that ran at the pull.
    expect(await readFile(join(layerDir(l1.digest), 'diff/etc/motd'), 'utf8')).toBe('welcome\n');
    await waitFor(
      'background fetch complete',
      async () =>
        (await agent!.log()).includes(
          `"layer":"${l1.digest}","msg":"background fetch: layer complete"`,
        ),
      60_000,
    );
    // rmdir of the layer dir (rmi) still releases it.
    await expect(rmdir(layerDir(l1.digest))).rejects.toMatchObject({ code: 'ENOENT' });
    await waitFor('released', async () =>
      (await agent!.log()).includes(`"layer":"${l1.digest}","msg":"store: layer released"`),
    );
  });
  it('answers ENOENT after the lookup bound when the registry hangs', async () => {
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => sockets.add(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      await agent!.stop();
      agent = await startAgentProcess(dir, { lookupTimeoutSeconds: 1 });
      const port = (hung.address() as AddressInfo).port;
      const hungRef = `127.0.0.1:${port}/app:latest`;
      await expect(
        stat(join(agent.mountpoint, b64(hungRef), layers[0].digest, 'diff')),
      ).rejects.toMatchObject({ code: 'ENOENT' });
      // The log is written asynchronously: the line may land just after the ENOENT.
      await waitFor('the lookup bound logged', async () =>
        (await agent!.log()).includes('not resolved within 1000 ms'),
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });
  it("bounds a hung image's lookups together: later layers wait only for the first's bound, and a failure is remembered from when it failed", async () => {
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => sockets.add(socket)); // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const boundMs = 4_000;
    /** ms until a lookup of the hung image's layer answered ENOENT. */
    const missAfter = async (digest: string): Promise<number> => {
      const started = Date.now();
      await expect(
        stat(join(agent!.mountpoint, b64(hungRef), digest, 'diff')),
      ).rejects.toMatchObject({ code: 'ENOENT' });
      return Date.now() - started;
    };
    const port = (hung.address() as AddressInfo).port;
    const hungRef = `127.0.0.1:${port}/app:latest`;
    try {
      await agent?.stop();
      agent = await startAgentProcess(dir, { lookupTimeoutSeconds: boundMs / 1000 });
      const firstAt = Date.now();
      expect(await missAfter(layers[0].digest)).toBeGreaterThanOrEqual(boundMs - 50);
      // The runtime asks for the next layer after the first's miss: its resolution began with
      // the first lookup, and its bound too (it used to get a bound of its own: N layers, N×).
      expect(await missAfter(layers[1].digest)).toBeLessThan(boundMs / 2);
      // The resolution itself gives up after 3 bounds; from then on its failure is remembered
      // for the negative TTL (10 s), counted from the failure, not from its start 12 s before.
      await new Promise((resolve) =>
        setTimeout(resolve, firstAt + 3 * boundMs + 1_000 - Date.now()),
      );
      expect(await missAfter(layers[0].digest)).toBeLessThan(boundMs / 2);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });
  it('reloads its configuration file when it changes (cache size and free share)', async () => {
    const file = join(dir, 'agent.yaml');
    const text = await readFile(file, 'utf8');
    await writeFile(
      file,
      text
        .replace('cacheSize: 1Gi', 'cacheSize: 2Gi')
        .replace('cacheMinFreePercent: 0', 'cacheMinFreePercent: 5'),
    );
    await waitFor('reload', async () =>
      (await agent!.log()).includes(
        '"cacheSize":2147483648,"cacheMinFreePercent":5,"msg":"configuration reloaded"',
      ),
    );
  });
});
