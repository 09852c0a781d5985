// End to end: podman 4.3 with `additionallayerstores = ["<mnt>:ref"]` pulls eStargz images through
// a real `slipstream agent` (FUSE) from a real registry, lazily, and runs them.
import { chmod, chown, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { openLayerIndex } from '../../src/estargz/index.ts';
import { MediaTypes } from '../../src/image/types.ts';
import { openRegistryRepository } from '../../src/registry/index.ts';
import { startContainerd, type ContainerdFixture } from '../support/containerd.ts';
import { writeBusyboxRootfs } from '../support/images.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { run } from '../support/process.ts';
import { startRegistry, type AccessLogLine, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  pushLayerTars,
  pushTwoLayerImage,
  startAgentProcess,
  tarDir,
  tearDown,
  TREE_LISTING_SCRIPT,
} from './fixtures.ts';

jest.setTimeout(600_000);

const bin = new URL('../../bin/slipstream.js', import.meta.url).pathname;

interface Manifest {
  layers: {
    mediaType: string;
    digest: string;
    size: number;
    annotations?: Record<string, string>;
  }[];
  config: { digest: string };
}

describe('slipstream agent as podman Additional Layer Store', () => {
  let dir: string;
  let registry: RegistryFixture;
  let containerd: ContainerdFixture;
  let plain: PodmanFixture;
  let agent: AgentProcess;
  let normalTree: string;

  async function manifestOf(repoTag: string): Promise<Manifest> {
    const [repo, tag] = repoTag.split(':');
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    return (await res.json()) as Manifest;
  }

  async function lazyPodman(): Promise<PodmanFixture> {
    return createPodman({
      additionalLayerStore: agent.mountpoint,
      insecureRegistries: [registry.host],
    });
  }

  function blobRequests(log: AccessLogLine[], digests: string[]): AccessLogLine[] {
    return log.filter((l) => digests.some((d) => l.path.endsWith(`/blobs/${d}`)));
  }

  /**
   * A normal pull of an eStargz (or the peer's zstd:chunked) layer extracts the format's own
   * files into the root; the store hides them, so a lazy tree is the original image's.
   */
  function withoutFormatFiles(tree: string): string {
    return tree.replace(/^\/: .*$/m, (line) =>
      line.replace(/(\.no\.prefetch\.landmark|\.prefetch\.landmark|stargz\.index\.json) /g, ''),
    );
  }

  /** Pulls e2e:<tag> and checks that every layer blob was downloaded whole (a normal pull). */
  async function pullNormally(podman: PodmanFixture, tag: string) {
    const image = `${registry.host}/e2e:${tag}`;
    const manifest = await manifestOf(`e2e:${tag}`);
    const before = (await registry.accessLog()).length;
    await podman.run(['pull', image]);
    const fetched = blobRequests(
      (await registry.accessLog()).slice(before),
      manifest.layers.map((l) => l.digest),
    );
    expect(fetched.filter((l) => l.status === 200)).toHaveLength(manifest.layers.length);
    return { image, manifest };
  }

  beforeAll(async () => {
    dir = await makeTempDir('als-e2e');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    await pushTwoLayerImage(dir, registry.host, 'e2e', 'gzip');
    // eStargz by the peer tool ...
    containerd = await startContainerd();
    const src = `${registry.host}/e2e:gzip`;
    await containerd.ctrRemote(['image', 'pull', '--plain-http', src]);
    const peerConvert = async (flags: string[], tag: string) => {
      const dst = `${registry.host}/e2e:${tag}`;
      await containerd.ctrRemote(['image', 'convert', ...flags, '--oci', src, dst]);
      await containerd.ctrRemote(['image', 'push', '--plain-http', dst]);
    };
    await peerConvert(['--estargz'], 'ctr');
    // Small chunks: every file over 64 KiB is split into `chunk` entries, the peer's way.
    await peerConvert(['--estargz', '--estargz-chunk-size', '65536'], 'ctr-64k');
    // zstd:chunked by the peer: not served lazily (gzip eStargz only), pulled normally.
    await peerConvert(['--zstdchunked'], 'zstd');
    // ... and by ours.
    await run(process.execPath, [bin, 'convert', '--insecure', src, `${registry.host}/e2e:slip`]);
    plain = await createPodman({ insecureRegistries: [registry.host] });
    normalTree = (await plain.run(['run', '--rm', src, 'sh', '-c', TREE_LISTING_SCRIPT])).stdout;
    agent = await startAgentProcess(dir);
  });

  afterAll(() => tearDown(dir, agent, plain, containerd, registry));

  it('a normal pull shows whiteouts and the opaque dir applied (sanity of the reference tree)', () => {
    expect(normalTree).toContain('data/big.bin F');
    expect(normalTree).not.toContain('etc/motd');
    expect(normalTree).toContain('var/log/apt/new.txt');
    expect(normalTree).not.toContain('var/log/apt/old.txt');
    expect(normalTree).toMatch(/^\/: .*\bbin\b.*\bopt\b/m);
    expect(normalTree).toContain('data/swapped/now-a-dir.txt F');
    expect(normalTree).toContain('data/again/new.txt F');
    expect(normalTree).toContain('data/again/old.txt F');
  });

  const producers: Record<string, string> = {
    ctr: 'ctr-remote',
    'ctr-64k': 'ctr-remote (64 KiB chunks)',
    slip: 'slipstream convert',
  };
  for (const [tag, producer] of Object.entries(producers)) {
    it(`pulls the ${producer} eStargz image lazily and serves an identical tree`, async () => {
      const podman = await lazyPodman();
      try {
        const image = `${registry.host}/e2e:${tag}`;
        const manifest = await manifestOf(`e2e:${tag}`);
        const layerDigests = manifest.layers.map((l) => l.digest);
        expect(
          manifest.layers.every((l) => l.annotations?.['containerd.io/snapshot/stargz/toc.digest']),
        ).toBe(true);
        const before = (await registry.accessLog()).length;
        await podman.run(['pull', image]);
        const duringPull = blobRequests((await registry.accessLog()).slice(before), layerDigests);
        // Only footers + TOCs: ranged reads, a small part of each layer, never a whole blob.
        for (const layer of manifest.layers) {
          const reqs = duringPull.filter((l) => l.path.endsWith(layer.digest));
          expect(reqs.map((l) => `${l.method} ${l.status} ${l.bytes}`)).toEqual(
            reqs.map((l) => `${l.method} 206 ${l.bytes}`),
          );
          const bytes = reqs.reduce((n, l) => n + l.bytes, 0);
          expect(bytes).toBeLessThan(layer.size / 2);
        }
        // The layers are served from the store: their diff dirs are symlinks into the mount.
        const storage = await readFile(
          join(podman.graphRoot, 'overlay-layers/layers.json'),
          'utf8',
        );
        expect(storage).toContain(layerDigests[0]);
        const { stdout: hello } = await podman.run([
          'run',
          '--rm',
          image,
          'cat',
          '/opt/app/hello.txt',
        ]);
        expect(hello).toBe('hello from layer2\n');
        const { stdout: script } = await podman.run([
          'run',
          '--rm',
          image,
          '/usr/local/bin/hello.sh',
        ]);
        expect(script).toBe('hello from script\n');
        const tree = (await podman.run(['run', '--rm', image, 'sh', '-c', TREE_LISTING_SCRIPT]))
          .stdout;
        expect(tree).toBe(normalTree);

        // podman rmi releases the layers (rmdir → reference count 0).
        await podman.run(['rmi', '--force', image]);
        const log = await agent.log();
        for (const digest of layerDigests) {
          expect(log).toContain(`"layer":"${digest}","msg":"store: layer released"`);
        }
      } finally {
        await podman.stop();
      }
    });
  }

  it('gives a container of a lazy image the same opaque directory a normal pull gives', async () => {
    // A change inside an opaque directory copies it up; its xattrs go into `podman export`,
    // `commit` and builds. Root's overlay must not see the rootless marker (user.overlay.*),
    // or new layers carry it and a rootless overlay hides the files below them.
    const xattrsOfOpaqueDir = async (podman: PodmanFixture, image: string, name: string) => {
      await podman.run(['run', '--name', name, image, 'sh', '-c', 'echo x > /var/log/apt/added']);
      const archive = join(dir, `${name}.tar`);
      await podman.run(['export', '-o', archive, name]);
      const { stdout } = await run('python3', [
        '-c',
        'import json, sys, tarfile\n' +
          'm = tarfile.open(sys.argv[1]).getmember("var/log/apt")\n' +
          'print(json.dumps(sorted(k for k in m.pax_headers if "xattr" in k)))',
        archive,
      ]);
      return JSON.parse(stdout) as string[];
    };
    const podman = await lazyPodman();
    try {
      const lazy = await xattrsOfOpaqueDir(podman, `${registry.host}/e2e:slip`, 'opaque-lazy');
      const normal = await xattrsOfOpaqueDir(plain, `${registry.host}/e2e:gzip`, 'opaque-plain');
      expect(lazy).not.toContain('SCHILY.xattr.user.overlay.opaque');
      expect(lazy).toEqual(normal);
    } finally {
      await podman.stop();
    }
  });

  it('gives a lazy container the root, symlink modes and podman diff of a normal pull', async () => {
    // A layer tarred from a `mktemp -d` directory by an unprivileged user: its `./` entry says
    // 0700 and uid 1000 (containers/storage skips that entry), and Python-written symlinks say
    // 0644 in their headers.
    const root = join(dir, 'odd-root');
    await writeBusyboxRootfs(root, { 'usr/bin/owned': 'x\n' });
    await symlink('owned', join(root, 'usr/bin/alias'));
    await chmod(root, 0o700);
    await chown(root, 1000, 1000);
    const tar = await tarDir(root);
    await pushLayerTars(registry.host, 'oddroot', 'gzip', [withSymlinkMode(tar, 0o644)]);
    const gzip = `${registry.host}/oddroot:gzip`;
    const esgz = `${registry.host}/oddroot:esgz`;
    await run(process.execPath, [bin, 'convert', '--insecure', gzip, esgz]);
    const look = async (podman: PodmanFixture, image: string, name: string) => {
      const { stdout: asUser } = await podman.run([
        'run',
        '--rm',
        '--user',
        '1000',
        image,
        'sh',
        '-c',
        'busybox stat -c "%n %a %u:%g" / /usr /usr/bin/alias /bin/sh',
      ]);
      // containers/storage lists a copied-up parent directory only when its size, mode or mtime
      // differ from the layer's.
      await podman.run(['run', '--name', name, image, 'busybox', 'chmod', '700', '/usr/bin/owned']);
      const { stdout: diff } = await podman.run(['diff', name]);
      return { asUser, diff: diff.split('\n').sort().join('\n') };
    };
    const podman = await lazyPodman();
    try {
      await podman.run(['pull', esgz]);
      const lazy = await look(podman, esgz, 'root-lazy');
      const normal = await look(plain, gzip, 'root-plain');
      expect(lazy.asUser).toBe(normal.asUser);
      expect(lazy.asUser).toMatch(/^\/ 555 0:0$/m);
      expect(lazy.asUser).toMatch(/^\/usr\/bin\/alias 777 0:0$/m);
      // The store's directories say 4096, as ext4's do: where the graph root's do too (ext4
      // here), the diffs agree; elsewhere a normal pull's own sizes differ anyway.
      await mkdir(join(dir, 'size-probe'), { recursive: true });
      if ((await stat(join(dir, 'size-probe'))).size === 4096) expect(lazy.diff).toBe(normal.diff);
      expect(lazy.diff).toContain('C /usr/bin/owned');
    } finally {
      await podman.stop();
    }
  });

  it('falls back to a normal pull for a zstd:chunked image', async () => {
    const podman = await lazyPodman();
    try {
      const { image, manifest } = await pullNormally(podman, 'zstd');
      expect(manifest.layers.every((l) => l.mediaType.endsWith('+zstd'))).toBe(true);
      const tree = (await podman.run(['run', '--rm', image, 'sh', '-c', TREE_LISTING_SCRIPT]))
        .stdout;
      expect(withoutFormatFiles(tree)).toBe(normalTree);
      const log = await agent.log();
      for (const l of manifest.layers) {
        expect(log).toMatch(
          new RegExp(`"layer":"${l.digest}","reason":"[^"]+","msg":"store: layer not lazy"`),
        );
      }
    } finally {
      await podman.stop();
    }
  });

  it('pulls a layer the image lists twice normally, and the rest lazily', async () => {
    // Old images repeat their empty layer. From the store both copies would be one directory,
    // which overlay refuses to stack twice: the container would not start.
    const image = `${registry.host}/e2e:repeated`;
    const repeated = await pushWithLastLayerRepeated('e2e', 'slip', 'repeated');
    const podman = await lazyPodman();
    try {
      const { layers } = await manifestOf('e2e:repeated');
      const before = (await registry.accessLog()).length;
      await podman.run(['pull', image]);
      const during = (await registry.accessLog()).slice(before);
      const whole = (digest: string) =>
        blobRequests(during, [digest]).filter((l) => l.status === 200).length;
      expect(whole(repeated)).toBeGreaterThan(0); // downloaded whole by podman
      expect(whole(layers[0].digest)).toBe(0); // served from the store
      const { stdout } = await podman.run(['run', '--rm', image, 'cat', '/opt/app/hello.txt']);
      expect(stdout).toBe('hello from layer2\n');
      const tree = (await podman.run(['run', '--rm', image, 'sh', '-c', TREE_LISTING_SCRIPT]))
        .stdout;
      expect(withoutFormatFiles(tree)).toBe(normalTree);
      const log = await agent.log();
      expect(log).toContain(`the manifest lists layer ${repeated} more than once`);
    } finally {
      await podman.stop();
    }
  });

  /** Pushes repo:from again as repo:to with its last layer listed twice; returns its digest. */
  async function pushWithLastLayerRepeated(repo: string, from: string, to: string) {
    const manifest = (await (
      await fetch(`${registry.url}/v2/${repo}/manifests/${from}`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as Manifest & { config: { digest: string; size: number; mediaType: string } };
    const config = (await (
      await fetch(`${registry.url}/v2/${repo}/blobs/${manifest.config.digest}`)
    ).json()) as { rootfs: { diff_ids: string[] } };
    const last = manifest.layers[manifest.layers.length - 1];
    config.rootfs.diff_ids.push(config.rootfs.diff_ids[config.rootfs.diff_ids.length - 1]);
    const repository = openRegistryRepository(`${registry.host}/${repo}`, { insecure: true });
    const pushed = await repository.putBlob(Buffer.from(JSON.stringify(config)));
    manifest.config = { ...manifest.config, digest: pushed.digest, size: pushed.size };
    manifest.layers.push(last);
    await repository.putManifest(to, MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
    return last.digest;
  }

  it('falls back to a normal pull for a plain gzip image', async () => {
    const podman = await lazyPodman();
    try {
      const { image } = await pullNormally(podman, 'gzip');
      const { stdout } = await podman.run(['run', '--rm', image, 'cat', '/opt/app/hello.txt']);
      expect(stdout).toBe('hello from layer2\n');
      expect(await agent.log()).toContain('not eStargz: no toc.digest annotation');
    } finally {
      await podman.stop();
    }
  });

  it('never serves a chunk corrupted in the registry: EIO, logged and counted', async () => {
    await pushTwoLayerImage(dir, registry.host, 'victim', 'gzip', {
      'data/victim.bin': Buffer.alloc(300_000, 'v'),
    });
    await run(process.execPath, [
      bin,
      'convert',
      '--insecure',
      `${registry.host}/victim:gzip`,
      `${registry.host}/victim:slip`,
    ]);
    const manifest = await manifestOf('victim:slip');
    const layer = manifest.layers[0];
    const blobPath = registry.blobDataPath(layer.digest);
    const blob = await readFile(blobPath);
    const index = await openLayerIndex({
      blobSize: blob.length,
      readRange: (s, e) => Promise.resolve(blob.subarray(s, e)),
    });
    const ino = index.resolve('data/victim.bin')!;
    const chunk = index.chunksOf(ino)[0];
    blob[chunk.compressedOffset + Math.floor((chunk.compressedEnd - chunk.compressedOffset) / 2)] ^=
      0x01;
    await writeFile(blobPath, blob);

    const podman = await lazyPodman();
    try {
      const image = `${registry.host}/victim:slip`;
      await podman.run(['pull', image]);
      const ok = await podman.run(['run', '--rm', image, 'cat', '/opt/app/hello.txt']);
      expect(ok.stdout).toBe('hello from layer2\n');
      const bad = await podman.run(['run', '--rm', image, 'cat', '/data/victim.bin'], {
        allowFailure: true,
      });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr + bad.stdout).toMatch(/Input\/output error/);
      expect(bad.stdout).not.toContain('vvvv');
      await waitFor('the refusal in the log', async () =>
        (await agent.log()).includes('refusing to serve it (EIO)'),
      );
      expect(await agent.metrics()).toMatch(
        /slipstream_verification_failures_total\{kind="chunk"\} [1-9]/,
      );
    } finally {
      await podman.stop();
    }
  });
});

/** The tar with every symlink header's mode set to `mode` (as Python's tarfile writes 0644). */
function withSymlinkMode(tar: Buffer, mode: number): Buffer {
  const out = Buffer.from(tar);
  for (let at = 0; at + 512 <= out.length;) {
    const header = out.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(
      header.toString('latin1', 124, 136).replace(/\0.*$/, '').trim() || '0',
      8,
    );
    if (header[156] === 0x32 /* '2': symlink */) {
      header.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'latin1');
      header.fill(0x20, 148, 156); // the checksum counts its own field as spaces
      const sum = header.reduce((n, b) => n + b, 0);
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
