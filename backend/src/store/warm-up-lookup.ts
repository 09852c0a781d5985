// Warming a fresh agent's whole lookup path, not only its TOC parse (warm-up.ts).
//
// Why: a fresh agent's first pull took 0.07–0.12 s longer than the same pull on an agent that had
// pulled another image from another registry through another podman (interleaved, 5 pairs per
// case, docs/benchmark-history.md, session 15): the HTTP client, the manifest and config handling, the
// lookup, the TOC read, the store's FUSE handlers and the chunk fetch all ran their first
// requests in V8's slow tiers. So before /readyz the agent pulls an image from a registry in its
// own process (warm-up-registry.ts, on 127.0.0.1) through a throwaway stack built like its own —
// registry client, chunk cache (in its own directory, removed after), scheduler, layer manager,
// store file system — and asks that file system what podman and a container's start ask: the
// layer dirs of both protocol generations, `info`, `diff`, `use`, a walk of the tree, file reads,
// and `rmdir`. Nothing of it reaches the agent's own layers, cache, metrics or telemetry.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';

import { ChunkCache } from '../cache/chunk-cache.ts';
import { openLayerIndex, ROOT_INO, sha256Digest } from '../estargz/index.ts';
import { BackgroundFetcher } from '../fetch/background.ts';
import { FetchScheduler } from '../fetch/scheduler.ts';
import { Errno, FuseError } from '../fuse/index.ts';
import { Annotations } from '../image/types.ts';
import { CredentialStore, RegistryClient } from '../registry/index.ts';
import { proxyFromEnv } from '../registry/transport.ts';
import { bootRangesAnnotation } from './boot-files.ts';
import { StoreFilesystem } from './filesystem.ts';
import { LayerManager, type PrefetchSettings, type StoreLogger } from './layer-manager.ts';
import { VerifiedBlobs } from './verified-blob.ts';
import { startWarmUpRegistry, type WarmUpImageLayer } from './warm-up-registry.ts';
import { syntheticLayer } from './warm-up.ts';

export interface LookupWarmUpOptions {
  /** A directory for the throwaway chunk cache; removed afterwards. */
  dir: string;
  prefetch: PrefetchSettings;
  /** Given up after this long (default 15 s): a warm-up must not keep an agent unready. */
  timeoutMs?: number;
}

export interface LookupWarmUpReport {
  layers: number;
  /** Requests the in-process registry answered. */
  requests: number;
  /** File bytes read through the store. */
  bytesRead: number;
  seconds: number;
}

/** Files every start reads (store/boot-files.ts), so that the early boot read runs too. */
const BOOT_FILES: Record<string, Buffer> = {
  'etc/passwd': Buffer.from('root:x:0:0:root:/root:/bin/sh\n'),
  'etc/group': Buffer.from('root:x:0:\n'),
  'etc/os-release': Buffer.from('ID=slipstream-warm-up\n'),
  'usr/lib/x86_64-linux-gnu/libc.so.6': Buffer.alloc(3000, 'libc '),
};

/** Regular files read per layer, and the compressed bytes fetched along with each read. */
const FILES_READ = 24;
const NEIGHBOUR_BYTES = 32 * 1024;

/** How long the clean-up waits for questions cut short by a timeout to end. */
const CLEANUP_WAIT_MS = 2_000;

const QUIET: StoreLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export async function warmUpLookupPath(options: LookupWarmUpOptions): Promise<LookupWarmUpReport> {
  const started = performance.now();
  // A base layer whose TOC fits the first read, and one whose TOC is read after it and streamed.
  const layers = await Promise.all([
    imageLayer(syntheticLayer(2, 6, BOOT_FILES)),
    imageLayer(syntheticLayer(30, 80)),
  ]);
  const registry = await startWarmUpRegistry(layers);
  // Behind a proxy (OpenShift's cluster-wide one sets HTTP(S)_PROXY), the same proxy-aware
  // dispatcher as the agent's, going direct to this loopback registry.
  const proxy = proxyFromEnv();
  const client = new RegistryClient({
    credentials: new CredentialStore(),
    insecure: [registry.host],
    ...(proxy && {
      proxy: { ...proxy, noProxy: [proxy.noProxy, '127.0.0.1'].filter(Boolean).join(',') },
    }),
  });
  let timer: NodeJS.Timeout | undefined;
  let cache: ChunkCache | undefined;
  let asking: Promise<number> | undefined;
  try {
    await rm(options.dir, { recursive: true, force: true });
    cache = await ChunkCache.open({ dir: options.dir, capBytes: 256 * 2 ** 20 });
    const scheduler = new FetchScheduler();
    const manager = new LayerManager({
      client,
      cache,
      scheduler,
      background: new BackgroundFetcher(scheduler, { enabled: false }),
      lookupTimeoutMs: 10_000,
      prefetch: options.prefetch,
      log: QUIET,
    });
    // The warm-up never reads `blob` (a copy would only be made, under its own dir, if it did).
    const blobs = new VerifiedBlobs({ dir: join(options.dir, 'blobs'), log: QUIET });
    const fs = new StoreFilesystem({ manager, log: QUIET, blobs, neighbourBytes: NEIGHBOUR_BYTES });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('warm-up: the lookup path took too long')),
        options.timeoutMs ?? 15_000,
      );
    });
    asking = askAsPodmanDoes(
      fs,
      registry.ref,
      registry.layers.map((desc, i) => [desc.digest, layers[i]]),
    );
    const bytesRead = await Promise.race([asking, timeout]);
    return {
      layers: layers.length,
      requests: registry.requests,
      bytesRead,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearTimeout(timer);
    await client.close(); // what is still in flight (a prefetch) fails now
    await registry.close();
    // After a timeout the questions still run: they end with the client, and then write nothing.
    await Promise.race([asking?.catch(() => 0), delay(CLEANUP_WAIT_MS, 0, { ref: false })]);
    await cache?.flush();
    await rm(options.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }
}

/**
 * The warm-up's cache directory for this process, under `<stateDir>/warm-up/`: one per process,
 * since a supervised agent's next worker can start while the last one still warms up. Those that
 * a killed process left behind (its pid gone) are removed.
 */
export async function warmUpDir(stateDir: string): Promise<string> {
  const parent = join(stateDir, 'warm-up');
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => !/^\d+$/.test(name) || !isAlive(Number(name)))
      .map((name) => rm(join(parent, name), { recursive: true, force: true })),
  );
  return join(parent, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** A synthetic layer with the annotations `slipstream convert` writes. */
async function imageLayer(layer: ReturnType<typeof syntheticLayer>): Promise<WarmUpImageLayer> {
  const tar = gunzipSync(layer.blob);
  const index = await openLayerIndex({
    blobSize: layer.blob.length,
    expectedTocDigest: layer.tocDigest,
    readRange: (start, end) => Promise.resolve(layer.blob.subarray(start, end)),
  });
  const boot = bootRangesAnnotation(index);
  return {
    blob: layer.blob,
    diffId: sha256Digest(tar),
    annotations: {
      [Annotations.estargzTocDigest]: layer.tocDigest,
      [Annotations.estargzUncompressedSize]: String(tar.length),
      [Annotations.estargzTocOffset]: String(layer.tocOffset),
      ...(boot !== undefined && { [Annotations.estargzBootRanges]: boot }),
    },
  };
}

/**
 * What podman asks of a store for a pull (each layer dir by compressed and by TOC digest, its
 * `info`, `diff` and `use`), then what a start asks (a walk of each tree, file reads), then what
 * `podman rmi` does (`rmdir`). Returns the file bytes read.
 */
async function askAsPodmanDoes(
  fs: StoreFilesystem,
  ref: string,
  layers: [string, WarmUpImageLayer][],
): Promise<number> {
  const refDir = await fs.lookup(ROOT_INO, Buffer.from(ref).toString('base64'));
  const names = layers.flatMap(([digest, layer]) => [
    digest,
    layer.annotations[Annotations.estargzTocDigest],
  ]);
  const diffs = await Promise.all(
    names.map(async (name) => {
      const dir = await fs.lookup(refDir.ino, name);
      const info = await fs.lookup(dir.ino, 'info');
      await fs.getattr(info.ino);
      await fs.read(info.ino, 0, 0, 4096);
      const diff = await fs.lookup(dir.ino, 'diff');
      await answeredEnoent(() => fs.create(dir.ino, 'use')); // the reference is taken
      return diff.ino;
    }),
  );
  let bytesRead = 0;
  for (const diff of diffs.filter((_, i) => i % 2 === 0)) bytesRead += await walkAndRead(fs, diff);
  for (const name of names) await answeredEnoent(() => fs.rmdir(refDir.ino, name)); // released
  return bytesRead;
}

/** `use` and `rmdir` answer ENOENT when they did what was asked. */
async function answeredEnoent(op: () => unknown): Promise<void> {
  try {
    await op();
  } catch (e) {
    if (!(e instanceof FuseError) || e.errno !== Errno.ENOENT) throw e;
    return;
  }
  throw new Error('warm-up: the store did not answer ENOENT');
}

/**
 * Lists every directory, stats every entry, reads links and xattrs, and reads the first
 * `FILES_READ` regular files (each read fetches, decodes, verifies and caches its chunks and
 * its neighbours': more only costs the start-up time and the disk).
 */
/** The runtime's overlay asks as root. */
const AS_ROOT = { uid: 0, gid: 0, pid: process.pid, signal: new AbortController().signal };

async function walkAndRead(fs: StoreFilesystem, root: number): Promise<number> {
  let bytesRead = 0;
  let files = 0;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const entry of await fs.readdir(dir, 0, 0)) {
      if (entry.name === '.' || entry.name === '..') continue;
      const { ino, attr } = await fs.lookup(dir, entry.name);
      await fs.getattr(ino);
      await fs.listxattr(ino, AS_ROOT);
      const type = attr.mode & 0o170000;
      if (type === 0o040000) pending.push(ino);
      else if (type === 0o120000) await fs.readlink(ino);
      else if (type === 0o100000 && files++ < FILES_READ) {
        // In the kernel's 4 KiB steps, so that sequential reads and their read-ahead run too.
        for (let at = 0; at < (attr.size ?? 0); at += 4096) {
          bytesRead += (await fs.read(ino, 0, at, 4096)).length;
        }
      }
    }
  }
  return bytesRead;
}
