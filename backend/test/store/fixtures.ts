// Fixtures for the store's end-to-end tests: multi-layer images built from tar files (with
// whiteouts, an opaque directory, hardlinks, symlinks and multi-chunk files) pushed straight to
// the registry, and the agent run as a real child process (`slipstream agent`).
import { type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { chmod, link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { MediaTypes } from '../../src/image/types.ts';
import { openRegistryRepository } from '../../src/registry/index.ts';
import { unmountBelow } from '../support/containerd.ts';
import { writeBusyboxRootfs } from '../support/images.ts';
import { run, startDaemon, stopProcess } from '../support/process.ts';
import { freePort, removeDir, waitFor } from '../support/tmp.ts';

const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

const sha256 = (data: Buffer): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** path → file content, `{ link }` symlink, `{ hardlink }` hard link, or `{ dir: true }`. */
type Tree = Record<
  string,
  string | Buffer | { link: string } | { hardlink: string } | { dir: true }
>;

async function writeTree(root: string, tree: Tree): Promise<void> {
  for (const [path, content] of Object.entries(tree)) {
    const target = join(root, path);
    const isDir = typeof content === 'object' && 'dir' in content;
    await mkdir(isDir ? target : dirname(target), { recursive: true });
    if (isDir) continue;
    if (typeof content === 'object' && 'link' in content) await symlink(content.link, target);
    else if (typeof content === 'object' && 'hardlink' in content) {
      await link(join(root, content.hardlink), target);
    } else await writeFile(target, content);
  }
}

/** Tars `root` (numeric owners, sorted) into an uncompressed layer. */
export async function tarDir(root: string): Promise<Buffer> {
  const out = `${root}.tar`;
  await run('tar', ['--sort=name', '--numeric-owner', '-C', root, '-cf', out, '.']);
  return readFile(out);
}

/**
 * Pushes a two-layer gzip image `${host}/${repo}:${tag}`:
 *   layer 1: busybox rootfs, /etc/motd, /var/log/apt/old.txt, /data/big.bin (multi-chunk),
 *            a hardlink and a symlink, an executable script, `extra` files;
 *   layer 2: whiteout of /etc/motd, /var/log/apt made opaque with new.txt, /opt/app/hello.txt,
 *            /data/second.bin.
 */
export async function pushTwoLayerImage(
  workDir: string,
  host: string,
  repo: string,
  tag: string,
  extra: Tree = {},
): Promise<void> {
  const l1 = join(workDir, `${repo}-l1`);
  const l2 = join(workDir, `${repo}-l2`);
  await writeBusyboxRootfs(l1);
  await writeTree(l1, {
    'etc/motd': 'welcome\n',
    'var/log/apt/old.txt': 'old log\n',
    'data/big.bin': Buffer.concat([randomBytes(6 << 20), Buffer.alloc(3 << 20, 7)]),
    'data/hard.txt': 'linked content\n',
    'data/hard2.txt': { hardlink: 'data/hard.txt' },
    'data/link': { link: '../etc/passwd' },
    'usr/local/bin/hello.sh': '#!/bin/sh\necho hello from script\n',
    'empty/dir': { dir: true },
    'data/swapped': 'a file in the lower layer\n',
    'data/again/old.txt': 'still there above\n',
    ...extra,
  });
  await chmod(join(l1, 'usr/local/bin/hello.sh'), 0o755);
  await writeTree(l2, {
    'etc/.wh.motd': '',
    'var/log/apt/.wh..wh..opq': '',
    'var/log/apt/new.txt': 'new log\n',
    'opt/app/hello.txt': 'hello from layer2\n',
    'data/second.bin': randomBytes(2 << 20),
    // A whiteout and an entry of the same name in one layer: the entry stays (a directory then
    // merges with the lower one: how containers/storage extracts it).
    'data/.wh.swapped': '',
    'data/swapped/now-a-dir.txt': 'a directory now\n',
    'data/.wh.again': '',
    'data/again/new.txt': 'only this one\n',
  });
  await pushLayerTars(host, repo, tag, [await tarDir(l1), await tarDir(l2)]);
}

/** Pushes `${host}/${repo}:${tag}`: one gzip layer per tar, in order, and a minimal config. */
export async function pushLayerTars(
  host: string,
  repo: string,
  tag: string,
  tars: readonly Buffer[],
): Promise<void> {
  const repository = openRegistryRepository(`${host}/${repo}`, { insecure: true });
  const layers = [];
  const diffIds = [];
  for (const tar of tars) {
    const gz = gzipSync(tar);
    diffIds.push(sha256(tar));
    const pushed = await repository.putBlob(gz);
    layers.push({ mediaType: MediaTypes.ociLayerGzip, digest: pushed.digest, size: pushed.size });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const cfg = await repository.putBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: cfg.digest, size: cfg.size },
      layers,
    }),
  );
  await repository.putManifest(tag, MediaTypes.ociManifest, manifest);
}

export interface EstargzManifest {
  config: { digest: string };
  layers: { digest: string; size: number; annotations: Record<string, string> }[];
}

/**
 * pushTwoLayerImage as `${repo}:gzip`, converted by `slipstream convert` to `${repo}:esgz`;
 * returns the eStargz image's OCI manifest.
 */
export async function pushEstargzImage(
  workDir: string,
  registry: { host: string; url: string },
  repo: string,
  extra: Tree = {},
  convertFlags: readonly string[] = [],
): Promise<EstargzManifest> {
  await pushTwoLayerImage(workDir, registry.host, repo, 'gzip', extra);
  await run(process.execPath, [
    bin,
    'convert',
    '--insecure',
    ...convertFlags,
    `${registry.host}/${repo}:gzip`,
    `${registry.host}/${repo}:esgz`,
  ]);
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/esgz`, {
    headers: { accept: MediaTypes.ociManifest },
  });
  return (await res.json()) as EstargzManifest;
}

/**
 * Pushes `repo:esgz` again as `repo:tag` with one annotation of one layer set to `value` (deleted
 * when undefined): a hostile or stale hint needs only a manifest.
 */
export async function retagWithLayerAnnotation(
  registry: { host: string; url: string },
  repo: string,
  tag: string,
  layerDigest: string,
  key: string,
  value: string | undefined,
): Promise<void> {
  const raw = (await (
    await fetch(`${registry.url}/v2/${repo}/manifests/esgz`, {
      headers: { accept: MediaTypes.ociManifest },
    })
  ).json()) as { layers: { digest: string; annotations: Record<string, string> }[] };
  for (const layer of raw.layers) {
    if (layer.digest !== layerDigest) continue;
    if (value === undefined) delete layer.annotations[key];
    else layer.annotations[key] = value;
  }
  await openRegistryRepository(`${registry.host}/${repo}`, { insecure: true }).putManifest(
    tag,
    MediaTypes.ociManifest,
    Buffer.from(JSON.stringify(raw)),
  );
}

/** Pushes `repo:esgz` again as `repo:tag` with its config's `config` replaced (e.g. its Cmd). */
export async function retagWithCommand(
  registry: { host: string; url: string },
  repo: string,
  tag: string,
  command: Record<string, unknown>,
): Promise<void> {
  const repository = openRegistryRepository(`${registry.host}/${repo}`, { insecure: true });
  const manifest = JSON.parse((await repository.getManifest('esgz')).bytes.toString()) as {
    config: { digest: string; size: number };
  };
  const config = JSON.parse(
    Buffer.from(
      await (
        await fetch(`${registry.url}/v2/${repo}/blobs/${manifest.config.digest}`)
      ).arrayBuffer(),
    ).toString(),
  ) as Record<string, unknown>;
  const pushed = await repository.putBlob(
    Buffer.from(JSON.stringify({ ...config, config: command })),
  );
  manifest.config = { ...manifest.config, digest: pushed.digest, size: pushed.size };
  await repository.putManifest(tag, MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
}

/**
 * Pushes `repo@from` (a tag or a manifest digest) again as `repo:to`, with its top layer listed
 * twice (and its DiffID with it): what old images do with their empty layer, and what overlay
 * cannot stack from one store directory. Returns the repeated layer's digest.
 */
export async function pushWithTopLayerTwice(
  registry: { host: string; url: string },
  repo: string,
  from: string,
  to: string,
): Promise<string> {
  const repository = openRegistryRepository(`${registry.host}/${repo}`, { insecure: true });
  const manifest = (await (
    await fetch(`${registry.url}/v2/${repo}/manifests/${from}`, {
      headers: { accept: MediaTypes.ociManifest },
    })
  ).json()) as EstargzManifest & { config: { digest: string; size: number } };
  const config = (await (
    await fetch(`${registry.url}/v2/${repo}/blobs/${manifest.config.digest}`)
  ).json()) as { rootfs: { diff_ids: string[] } };
  config.rootfs.diff_ids.push(config.rootfs.diff_ids.at(-1)!);
  const pushed = await repository.putBlob(Buffer.from(JSON.stringify(config)));
  manifest.config = { ...manifest.config, digest: pushed.digest, size: pushed.size };
  const top = manifest.layers.at(-1)!;
  manifest.layers.push(top);
  await repository.putManifest(to, MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
  return top.digest;
}

/**
 * `bytes` of content that compresses poorly and that a test can check at any offset (a hash
 * chain from `seed`): reads through the store must give exactly these bytes.
 */
export function knownContent(seed: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < out.length; off += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, off);
  }
  return out;
}

/**
 * A store test's teardown: stops what it started, in order (`undefined` where its setup failed
 * before starting it), then unmounts what an agent left mounted under `dir` (a crashed agent's
 * mount, if a test failed midway) and removes the directory.
 */
export async function tearDown(
  dir: string | undefined,
  ...started: ({ stop(): Promise<void> } | undefined)[]
): Promise<void> {
  for (const process of started) await process?.stop();
  if (!dir) return;
  await unmountBelow(dir);
  await removeDir(dir);
}

/** The store directory of `digest` as looked up through `ref` (`<mnt>/<base64(ref)>/<digest>`). */
export function layerDirIn(mountpoint: string, ref: string, digest: string): string {
  return join(mountpoint, Buffer.from(ref).toString('base64'), digest);
}

export interface AgentProcess {
  /** The supervisor's pid (its child, the worker, serves the mount). */
  pid: number;
  mountpoint: string;
  stateDir: string;
  logFile: string;
  metricsUrl: string;
  log(): Promise<string>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
  /** SIGKILL: the mount is left behind, stale, like after a crash. */
  crash(): Promise<void>;
}

export async function startAgentProcess(
  dir: string,
  options: {
    backgroundFetch?: boolean;
    prefetch?: boolean;
    lookupTimeoutSeconds?: number;
    quietPeriodSeconds?: number;
    cacheSize?: string;
    cacheMinFreePercent?: number;
    maxIndexEntries?: number;
  } = {},
): Promise<AgentProcess> {
  const mountpoint = join(dir, 'store');
  const stateDir = join(dir, 'state');
  // A fresh log per start: waiting for "store mounted" must not see a previous run's line.
  const logFile = join(dir, `agent-${Date.now()}.log`);
  const configFile = join(dir, 'agent.yaml');
  const port = await freePort();
  await writeFile(
    configFile,
    [
      `mountpoint: ${mountpoint}`,
      `stateDir: ${stateDir}`,
      `cacheSize: ${options.cacheSize ?? '1Gi'}`,
      // 0: a test's cache must not depend on how full the machine's disk is.
      `cacheMinFreePercent: ${options.cacheMinFreePercent ?? 0}`,
      `lookupTimeoutSeconds: ${options.lookupTimeoutSeconds ?? 10}`,
      `prefetch: { enabled: ${options.prefetch ?? true}, maxBytes: 64Mi }`,
      `backgroundFetch: { enabled: ${options.backgroundFetch ?? false}, quietPeriodSeconds: ${options.quietPeriodSeconds ?? 1}, concurrency: 4 }`,
      `registriesConf: ${join(dir, 'registries.conf')}`,
      'authFiles: []',
      `metricsAddress: 127.0.0.1:${port}`,
      'nodeName: test-node',
      'logLevel: debug',
      ...(options.maxIndexEntries ? [`maxIndexEntries: ${options.maxIndexEntries}`] : []),
    ].join('\n'),
  );
  const child: ChildProcess = startDaemon(
    process.execPath,
    [bin, 'agent', '--config', configFile],
    logFile,
    { env: { ...process.env, UV_THREADPOOL_SIZE: undefined } },
  );
  const readLog = () => readFile(logFile, 'utf8').catch(() => '');
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  // Mounted, then ready (/readyz answers 200 once the start-up warm-up is done): a measurement
  // that began at the mount would share the CPU with the rest of the agent's start-up.
  await waitFor(
    'agent ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`agent exited:\n${await readLog()}`);
      if (!(await readLog()).includes('"msg":"store mounted"')) return false;
      return httpGet(`http://127.0.0.1:${port}/readyz`).then(
        (body) => body.startsWith('ready'),
        () => false, // not listening yet
      );
    },
    30_000,
  );
  // Ready must mean warmed: a warm-up that failed (it is logged, and the agent serves anyway)
  // would leave every first pull cold without anything else noticing. The worker's log line can
  // reach the file a little after /readyz says ready (seen once in CI): wait for it.
  const warmed = '"msg":"layer path warmed up"';
  const failed = '"msg":"warm-up failed"';
  await waitFor(
    'the warm-up logged',
    async () => {
      const text = await readLog();
      return text.includes(warmed) || text.includes(failed);
    },
    10_000,
  ).catch(() => undefined);
  const log = await readLog();
  if (!log.includes(warmed)) {
    await stopProcess(child, 15_000);
    throw new Error(`agent ready without its warm-up:\n${log}`);
  }
  return {
    pid: child.pid!,
    mountpoint,
    stateDir,
    logFile,
    metricsUrl,
    log: readLog,
    metrics: () => httpGet(metricsUrl),
    stop: () => stopProcess(child, 15_000),
    crash: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * An agent in its own directory under `parent` (own state: no chunk cached by an earlier test),
 * whose registries.conf lists only `insecureRegistries` (plain http beyond loopback).
 */
export async function startFreshAgent(
  parent: string,
  name: string,
  options: Parameters<typeof startAgentProcess>[1] = { backgroundFetch: false, prefetch: false },
  insecureRegistries: readonly string[] = [],
): Promise<AgentProcess> {
  const agentDir = join(parent, name);
  await mkdir(agentDir, { recursive: true });
  await writeFile(
    join(agentDir, 'registries.conf'),
    insecureRegistries
      .map((host) => `[[registry]]\nlocation = "${host}"\ninsecure = true\n`)
      .join(''),
  );
  return startAgentProcess(agentDir, options);
}

/** The agent's worker: its supervisor's only child. */
export async function workerPid(supervisor: number): Promise<number> {
  let pid: number | undefined;
  await waitFor('a worker', async () => {
    const children = await readFile(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8');
    pid = Number(children.trim().split(/\s+/)[0]) || undefined;
    return pid !== undefined;
  });
  return pid!;
}

/** SIGKILLs the agent's worker (as a crash or an OOM kill would) and waits for the next one. */
export async function killWorker(agent: AgentProcess): Promise<number> {
  const pid = await workerPid(agent.pid);
  process.kill(pid, 'SIGKILL');
  await waitFor('the next worker', async () => (await workerPid(agent.pid)) !== pid);
  return pid;
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** Lists every path of the container's tree (except /proc, /sys, /dev) with type, mode, owner,
 *  size and, for files, the sha256 — one line per path, sorted. */
export const TREE_LISTING_SCRIPT = [
  'cd /',
  // The root's names: eStargz's own files (landmarks, TOC) must not show up there.
  'echo "/: $(busybox ls -A / | busybox tr "\\n" " ")"',
  // podman bind-mounts these per container: they are not image content.
  'for f in $(busybox find bin etc data opt usr var empty srv -xdev 2>/dev/null | busybox grep -vE "^etc/(hosts|hostname|resolv.conf)$" | busybox sort); do',
  '  if [ -L "$f" ]; then echo "$f L $(busybox readlink "$f")";',
  '  elif [ -f "$f" ]; then echo "$f F $(busybox stat -c %a:%u:%g:%s:%h:%Y "$f") $(busybox sha256sum < "$f")";',
  '  else echo "$f $(busybox stat -c %F:%a:%u:%g "$f")"; fi',
  'done',
].join('\n');
