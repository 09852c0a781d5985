// Produces every variant of the benchmark images in the benchmark's registry, from a cache of OCI
// layouts under bench/.cache/oci when possible (building a 3 GiB image and gzip-compressing it
// twice takes minutes; copying a cached layout into the registry takes seconds).
//  - gzip:        podman build + push (plain gzip layers): the "full pull" baseline;
//  - estargz:     eStargz without prioritisation (`.no.prefetch.landmark`);
//  - estargz-opt: eStargz with the files the start command reads (recorded access profile, see
//                 profile.ts) placed first, before `.prefetch.landmark`.
// The eStargz producer is `slipstream convert` (`--prioritize <profile>` for estargz-opt); where it
// is not available, the peer's ctr-remote (`image convert --estargz --oci`, and `image optimize`,
// which records accesses itself). Every result names its producer.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Annotations } from '../../backend/src/image/types.ts';
import { startContainerd } from '../../backend/test/support/containerd.ts';
import { createPodman } from '../../backend/test/support/podman.ts';
import { run } from '../../backend/test/support/process.ts';
import type { RegistryFixture } from '../../backend/test/support/registry.ts';
import { baseRootfsTar, exists } from './base.ts';
import type { BenchImage, Scale } from './catalog.ts';
import { profileToText, recordAccessProfile, type AccessProfile } from './profile.ts';

export const VARIANTS = ['gzip', 'estargz', 'estargz-opt'] as const;
export type Variant = (typeof VARIANTS)[number];
type Producers = Record<Variant, string>;

export interface ProducedImage {
  image: string;
  variant: Variant;
  /** Reference in the benchmark registry. */
  ref: string;
  /** What made it, e.g. `slipstream convert --prioritize <recorded profile>`. */
  producer: string;
  /** Manifest + config + compressed layers: what a full pull downloads. */
  compressedBytes: number;
  /** Distinct layers (a blob listed twice counts once). */
  layers: number;
}

export interface ProduceOptions {
  registry: RegistryFixture;
  cacheDir: string;
  scale: Scale;
  log: (line: string) => void;
}

const CLI = fileURLToPath(new URL('../../backend/bin/slipstream.js', import.meta.url));

/** Puts all variants of `image` into the registry; returns them and the recorded access profile. */
export async function produceImage(
  image: BenchImage,
  opts: ProduceOptions,
): Promise<{ variants: ProducedImage[]; profile: AccessProfile | null }> {
  const layout = join(opts.cacheDir, 'oci', `${image.name}-${opts.scale}-${await recipeHash()}`);
  await pruneStaleLayouts(opts.cacheDir, `${image.name}-${opts.scale}-`, layout);
  const repo = `bench/${image.name}`;
  const remote = (tag: string) => `docker://${opts.registry.host}/${repo}:${tag}`;
  if (await exists(join(layout, 'producers.json'))) {
    opts.log(`${image.name}: variants from cache ${layout}`);
    for (const variant of VARIANTS) {
      await skopeo([
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:${variant}`,
        remote(variant),
      ]);
    }
  } else {
    await rm(layout, { recursive: true, force: true });
    await mkdir(layout, { recursive: true });
    const producers = await buildIntoRegistry(image, repo, layout, opts);
    for (const variant of VARIANTS) {
      await skopeo(['copy', '--src-tls-verify=false', remote(variant), `oci:${layout}:${variant}`]);
    }
    // Written last: its presence marks a complete cache entry.
    await writeFile(join(layout, 'producers.json'), JSON.stringify(producers) + '\n');
  }
  const producers = JSON.parse(await readFile(join(layout, 'producers.json'), 'utf8')) as Producers;
  const variants: ProducedImage[] = [];
  for (const variant of VARIANTS) {
    const size = await imageSize(opts.registry.url, repo, variant);
    variants.push({
      image: image.name,
      variant,
      ref: `${opts.registry.host}/${repo}:${variant}`,
      producer: producers[variant],
      ...size,
    });
  }
  const profileText = await readFile(join(layout, 'profile.json'), 'utf8').catch(() => null);
  return { variants, profile: profileText ? (JSON.parse(profileText) as AccessProfile) : null };
}

async function buildIntoRegistry(
  image: BenchImage,
  repo: string,
  layout: string,
  opts: ProduceOptions,
): Promise<Producers> {
  const { registry, log } = opts;
  const gzipRef = `${registry.host}/${repo}:gzip`;
  const podman = await createPodman({ insecureRegistries: [registry.host] });
  try {
    log(`${image.name}: building (${opts.scale})`);
    const base = await baseRootfsTar(opts.cacheDir);
    await podman.run(['import', '--change', 'CMD ["/bin/bash"]', base, 'localhost/bench-base']);
    const context = join(podman.dir, 'context');
    await mkdir(context, { recursive: true });
    await image.writeContext(context, 'localhost/bench-base', opts.scale);
    const local = `localhost/bench-${image.name}:latest`;
    await podman.run(['build', '--network', 'none', '-t', local, context], {
      timeoutMs: 3_600_000,
    });
    await rm(context, { recursive: true, force: true });
    await podman.run(['push', '--tls-verify=false', local, `docker://${gzipRef}`], {
      timeoutMs: 3_600_000,
    });
    log(`${image.name}: recording the start command's access profile`);
    const profile = await recordAccessProfile(podman, local);
    await writeFile(join(layout, 'profile.json'), JSON.stringify(profile, null, 2) + '\n');
    await writeFile(join(layout, 'profile.txt'), profileToText(profile));
  } finally {
    await podman.stop();
  }
  if (await slipstreamConvertAvailable()) {
    log(`${image.name}: eStargz (slipstream convert)`);
    await slipstream(['convert', '--insecure', gzipRef, `${registry.host}/${repo}:estargz`]);
    log(`${image.name}: optimised eStargz (slipstream convert --prioritize)`);
    const profile = join(layout, 'profile.txt');
    await slipstream([
      'convert',
      '--insecure',
      '--prioritize',
      profile,
      gzipRef,
      `${registry.host}/${repo}:estargz-opt`,
    ]);
    return {
      gzip: 'podman build + push (gzip)',
      estargz: 'slipstream convert',
      'estargz-opt': 'slipstream convert --prioritize <recorded access profile>',
    };
  }
  await convertWithCtrRemote(image, repo, opts);
  return {
    gzip: 'podman build + push (gzip)',
    estargz: 'ctr-remote image convert --estargz --oci (slipstream convert not available)',
    'estargz-opt': 'ctr-remote image optimize --oci (slipstream convert not available)',
  };
}

/** The peer's converter, used only while `slipstream convert` is not available. */
async function convertWithCtrRemote(
  image: BenchImage,
  repo: string,
  opts: ProduceOptions,
): Promise<void> {
  const { registry, log } = opts;
  const src = `${registry.host}/${repo}:gzip`;
  const containerd = await startContainerd();
  try {
    log(`${image.name}: eStargz (ctr-remote convert)`);
    await containerd.ctrRemote(['image', 'pull', '--plain-http', src]);
    for (const [tag, args] of [
      ['estargz', ['convert', '--estargz', '--oci']],
      ['estargz-opt', ['optimize', '--oci', '--period', '10']],
    ] as const) {
      const dst = `${registry.host}/${repo}:${tag}`;
      await containerd.ctrRemote(['image', ...args, src, dst]);
      await containerd.ctrRemote(['image', 'push', '--plain-http', dst]);
    }
  } finally {
    await containerd.stop();
  }
}

async function slipstream(args: string[]): Promise<void> {
  await run(process.execPath, [CLI, ...args], { timeoutMs: 3_600_000 });
}

async function slipstreamConvertAvailable(): Promise<boolean> {
  return (
    (await run(process.execPath, [CLI, 'convert', '--help'], { allowFailure: true })).code === 0
  );
}

/** What a full pull downloads (manifest, config, each distinct layer once), and the layer count. */
async function imageSize(
  registryUrl: string,
  repo: string,
  tag: string,
): Promise<{ compressedBytes: number; layers: number }> {
  const res = await fetch(`${registryUrl}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  if (!res.ok) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.status}`);
  const text = await res.text();
  const manifest = JSON.parse(text) as {
    config: { size: number };
    layers: { digest: string; size: number }[];
  };
  // A blob listed twice is downloaded once by a pull, and made local once by the agent (whose
  // log then says "layer complete" once: counting it twice left the benchmark waiting 10 min).
  const distinct = [...new Map(manifest.layers.map((l) => [l.digest, l])).values()];
  const layerBytes = distinct.reduce((sum, l) => sum + l.size, 0);
  return {
    compressedBytes: Buffer.byteLength(text) + manifest.config.size + layerBytes,
    layers: distinct.length,
  };
}

/** Runs skopeo with a private, empty /var/lib/containers (its blob-info cache must not leak). */
export async function skopeo(args: string[]): Promise<void> {
  const hide =
    '{ [ -d /var/lib/containers ] && mount -t tmpfs slipstream-bench /var/lib/containers || ' +
    'mount -t tmpfs slipstream-bench /var/lib; } && exec "$0" "$@"';
  await run(
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', hide, 'skopeo', ...args],
    {
      timeoutMs: 3_600_000,
    },
  );
}

/** Deletes cached layouts of this image and scale made from older recipes (they can be GBs). */
async function pruneStaleLayouts(cacheDir: string, prefix: string, keep: string): Promise<void> {
  const dir = join(cacheDir, 'oci');
  for (const name of await readdir(dir).catch(() => [])) {
    const path = join(dir, name);
    if (name.startsWith(prefix) && path !== keep) await rm(path, { recursive: true, force: true });
  }
}

let hashOnce: Promise<string> | undefined;
/** Changes when the image recipes change, so stale cached layouts are not reused. */
function recipeHash(): Promise<string> {
  hashOnce ??= (async () => {
    const hash = createHash('sha256');
    for (const file of ['catalog.ts', 'base.ts', 'profile.ts']) {
      hash.update(await readFile(new URL(file, import.meta.url)));
    }
    hash.update((await slipstreamConvertAvailable()) ? 'slipstream-convert' : 'ctr-remote');
    // The converter's output changes with the annotations it writes (the TOC offset, say).
    hash.update(JSON.stringify(Annotations));
    return hash.digest('hex').slice(0, 12);
  })();
  return hashOnce;
}
