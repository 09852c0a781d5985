// The local demo (README's main job): real services on 127.0.0.1 only, everything in temp dirs.
// It grows with every capability; today it:
//   1. starts a registry (docker-registry) and builds a sample image from a busybox rootfs with a
//      large "model" file, pushed as plain gzip;
//   2. converts it to eStargz with the peer tool ctr-remote (containerd) and pushes that too;
//   3. shows the eStargz layer annotations (TOC digest) from the registry;
//   4. pulls and runs the image with podman and reports seconds and bytes from the registry;
//   5. mounts `slipstream agent` as podman's Additional Layer Store and pulls + runs the eStargz
//      image lazily, with the same report.
// Set SLIPSTREAM_DEMO_KEEP=1 to keep the services up until Ctrl-C.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { startAgentProcess } from '../test/store/fixtures.ts';
import { startContainerd } from '../test/support/containerd.ts';
import { importBusyboxImage, pushImage } from '../test/support/images.ts';
import { createPodman } from '../test/support/podman.ts';
import { startRegistry, type RegistryFixture } from '../test/support/registry.ts';
import { makeTempDir, removeDir } from '../test/support/tmp.ts';

const MiB = 1024 * 1024;

function say(message: string): void {
  process.stdout.write(`[demo] ${message}\n`);
}

async function manifestLayers(registry: RegistryFixture, repo: string, tag: string) {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (!res.ok) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.status}`);
  const manifest = (await res.json()) as {
    layers: { digest: string; size: number; annotations?: Record<string, string> }[];
  };
  return manifest.layers;
}

async function bytesServed(registry: RegistryFixture, since: number): Promise<number> {
  return (await registry.accessLog()).slice(since).reduce((sum, line) => sum + line.bytes, 0);
}

/** The same app, eStargz, pulled lazily by podman through `slipstream agent` (the ALS). */
async function lazyPull(registry: RegistryFixture, esgzRef: string): Promise<void> {
  const dir = await makeTempDir('demo-agent');
  await writeFile(join(dir, 'registries.conf'), '');
  const agent = await startAgentProcess(dir, { backgroundFetch: false });
  const lazy = await createPodman({
    additionalLayerStore: agent.mountpoint,
    insecureRegistries: [registry.host],
  });
  try {
    say(`slipstream agent mounted at ${agent.mountpoint} (podman: additionallayerstores)`);
    const before = (await registry.accessLog()).length;
    const started = performance.now();
    await lazy.run(['pull', esgzRef]);
    const pulled = performance.now();
    const pullBytes = await bytesServed(registry, before);
    const { stdout } = await lazy.run(['run', '--rm', esgzRef, 'sh', '/app/start.sh']);
    const ran = performance.now();
    say(
      `lazy pull ${((pulled - started) / 1000).toFixed(2)} s (${pullBytes} bytes: manifests, configs, ` +
        `footers and TOCs), first run ${((ran - pulled) / 1000).toFixed(2)} s, ` +
        `${await bytesServed(registry, before)} bytes in all; the app said: ${stdout.trim().replace(/\n/g, ' / ')}`,
    );
  } finally {
    await lazy.stop();
    await agent.stop();
    await removeDir(dir);
  }
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const containerd = await startContainerd();
  const builder = await createPodman({ insecureRegistries: [registry.host] });
  const puller = await createPodman({ insecureRegistries: [registry.host] });
  const stopAll = async () => {
    await puller.stop();
    await builder.stop();
    await containerd.stop();
    await registry.stop();
  };
  try {
    say(`registry on ${registry.url}`);
    const model = randomBytes(64 * MiB);
    const local = await importBusyboxImage(builder, 'localhost/demo-app:latest', {
      'app/start.sh': '#!/bin/sh\nhead -c 4096 /models/model.bin | wc -c\necho app ready\n',
      'models/model.bin': model,
    });
    const gzipRef = `${registry.host}/demo-app:gzip`;
    await pushImage(builder, local, gzipRef);
    say(`pushed ${gzipRef} (busybox + a 64 MiB model file, plain gzip)`);

    const esgzRef = `${registry.host}/demo-app:esgz`;
    await containerd.ctrRemote(['image', 'pull', '--plain-http', gzipRef]);
    await containerd.ctrRemote(['image', 'convert', '--estargz', '--oci', gzipRef, esgzRef]);
    await containerd.ctrRemote(['image', 'push', '--plain-http', esgzRef]);
    for (const layer of await manifestLayers(registry, 'demo-app', 'esgz')) {
      const toc = layer.annotations?.['containerd.io/snapshot/stargz/toc.digest'] ?? 'none';
      say(
        `eStargz layer ${layer.digest.slice(0, 19)}… ${layer.size} bytes, TOC digest ${toc.slice(0, 19)}…`,
      );
    }

    const before = (await registry.accessLog()).length;
    const started = performance.now();
    await puller.run(['pull', gzipRef]);
    const pulled = performance.now();
    const { stdout } = await puller.run(['run', '--rm', gzipRef, 'sh', '/app/start.sh']);
    const ran = performance.now();
    say(
      `normal pull ${((pulled - started) / 1000).toFixed(2)} s, first run ${((ran - pulled) / 1000).toFixed(2)} s, ` +
        `${await bytesServed(registry, before)} bytes from the registry; the app said: ${stdout.trim().replace(/\n/g, ' / ')}`,
    );
    await lazyPull(registry, esgzRef);

    if (process.env.SLIPSTREAM_DEMO_KEEP === '1') {
      say('services are up; press Ctrl-C to stop');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `[demo] failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
});
