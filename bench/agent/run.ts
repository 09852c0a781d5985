// Agent benchmark: what the Additional Layer Store costs and delivers on its own, without podman.
// One eStargz image (busybox + a 200 MB incompressible file, made by `slipstream convert`) in a
// real registry, reached over loopback-like (unshaped) and emulated remote links (bench/netem).
// Per link, each with a cold agent (fresh state dir):
//   - blob GET: the whole layer in one request (the link's single-stream floor = a normal pull's
//     transfer);
//   - resolve: first lookup of the layer (manifest, config, footer + TOC, verification);
//   - on-demand read: the 200 MB file read sequentially through the mount, nothing cached;
//   - background: `use` of the layer → the whole layer local, time and registry bytes.
// Writes bench/results/agent.json and the "Agent" section of docs/benchmarks.md.
//
//   node bench/agent/run.ts [--links unshaped,20ms-1gbit,80ms-100mbit] [--size-mb 200]
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { Agent, request } from 'undici';

import { MediaTypes } from '../../backend/src/image/types.ts';
import { openRegistryRepository } from '../../backend/src/registry/index.ts';
import { startAgentProcess } from '../../backend/test/store/fixtures.ts';
import { unmountBelow } from '../../backend/test/support/containerd.ts';
import { writeBusyboxRootfs } from '../../backend/test/support/images.ts';
import { run } from '../../backend/test/support/process.ts';
import { startRegistry, type RegistryFixture } from '../../backend/test/support/registry.ts';
import { makeTempDir, removeDir, waitFor } from '../../backend/test/support/tmp.ts';
import { writeDocSection } from '../doc-section.ts';
import { createLink, findProfile, type EmulatedLink } from '../netem/link.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(REPO, 'backend/bin/slipstream.js');
const MiB = 2 ** 20;

interface LinkResult {
  link: string;
  blobBytes: number;
  blobGetSeconds: number;
  resolveSeconds: number;
  resolveRegistryBytes: number;
  readSeconds: number;
  readRegistryBytes: number;
  readRequests: number;
  backgroundSeconds: number;
  backgroundRegistryBytes: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const log = (msg: string): void => console.log(`[agent-bench] ${msg}`);

async function buildImage(dir: string, registry: RegistryFixture, sizeMb: number): Promise<void> {
  const root = join(dir, 'rootfs');
  await writeBusyboxRootfs(root);
  await mkdir(join(root, 'data'), { recursive: true });
  await writeFile(join(root, 'data/big.bin'), randomBytes(sizeMb * 1e6));
  await run('tar', ['--sort=name', '--numeric-owner', '-C', root, '-cf', `${root}.tar`, '.']);
  const tar = await readFile(`${root}.tar`);
  const repo = openRegistryRepository(`${registry.host}/bench`, { insecure: true });
  const layer = await repo.putBlob(gzipSync(tar, { level: 1 }));
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = await repo.putBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
      }),
    ),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, ...config },
    layers: [{ mediaType: MediaTypes.ociLayerGzip, ...layer }],
  };
  await repo.putManifest('gzip', MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
  await run(process.execPath, [
    CLI,
    'convert',
    '--insecure',
    '--level',
    '6',
    `${registry.host}/bench:gzip`,
    `${registry.host}/bench:esgz`,
  ]);
}

async function layerOf(registry: RegistryFixture): Promise<{ digest: string; size: number }> {
  const res = await request(`${registry.url}/v2/bench/manifests/esgz`, {
    headers: { accept: MediaTypes.ociManifest },
  });
  const manifest = (await res.body.json()) as { layers: { digest: string; size: number }[] };
  return manifest.layers[0];
}

async function registryTotals(registry: RegistryFixture): Promise<{ bytes: number; gets: number }> {
  const lines = (await registry.accessLog()).filter((l) => l.method === 'GET');
  return { bytes: lines.reduce((n, l) => n + l.bytes, 0), gets: lines.length };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, (performance.now() - started) / 1000];
}

async function drain(path: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) {
    n += (chunk as Buffer).length;
  }
  return n;
}

async function measureLink(
  name: string,
  dir: string,
  registry: RegistryFixture,
  layer: { digest: string; size: number },
): Promise<LinkResult> {
  const ref = `${registry.host}/bench:esgz`;
  const b64 = Buffer.from(ref).toString('base64');
  // The best of three: a single TCP stream through the userspace delay line now and then loses
  // packets and halves its window, which would make the reference (a normal pull) look slow.
  // Fresh connections: one kept alive from the unshaped link (the image upload) would start this
  // link with a window sized for veth speed and lose most of its first flight (seen: 12 s for a
  // 1.9 s GET).
  const dispatcher = new Agent();
  const blobGets: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const [, seconds] = await timed(async () => {
        const res = await request(`${registry.url}/v2/bench/blobs/${layer.digest}`, { dispatcher });
        for await (const _ of res.body) void _;
      });
      blobGets.push(seconds);
    }
  } finally {
    await dispatcher.close();
  }
  const blobGetSeconds = Math.min(...blobGets);
  log(
    `${name}: blob GET ${(layer.size / MiB).toFixed(1)} MiB in ${blobGets.map((s) => s.toFixed(2)).join(' / ')} s`,
  );

  // Cold agent, on-demand only.
  const onDemandDir = join(dir, `${name}-ondemand`);
  await mkdir(onDemandDir, { recursive: true });
  await writeFile(join(onDemandDir, 'registries.conf'), registriesConf(registry.host));
  let agent = await startAgentProcess(onDemandDir, { backgroundFetch: false, prefetch: true });
  const layerDir = (): string => join(agent.mountpoint, b64, layer.digest);
  try {
    let before = await registryTotals(registry);
    const [, resolveSeconds] = await timed(() => stat(join(layerDir(), 'diff')));
    let after = await registryTotals(registry);
    const resolveRegistryBytes = after.bytes - before.bytes;
    before = after;
    const [bytes, readSeconds] = await timed(() => drain(join(layerDir(), 'diff/data/big.bin')));
    after = await registryTotals(registry);
    log(
      `${name}: resolve ${resolveSeconds.toFixed(3)} s, read ${(bytes / MiB).toFixed(0)} MiB in ${readSeconds.toFixed(2)} s`,
    );
    const readRegistryBytes = after.bytes - before.bytes;
    const readRequests = after.gets - before.gets;
    await agent.stop();

    // Cold agent, background fetch of the whole layer once it is in use.
    const bgDir = join(dir, `${name}-background`);
    await mkdir(bgDir, { recursive: true });
    await writeFile(join(bgDir, 'registries.conf'), registriesConf(registry.host));
    // Quiet period 0: the time measured is the background fetch's own (the agent's default waits
    // 1 s after the pull or the last read before it starts).
    agent = await startAgentProcess(bgDir, {
      backgroundFetch: true,
      prefetch: true,
      quietPeriodSeconds: 0,
    });
    await stat(join(layerDir(), 'diff'));
    before = await registryTotals(registry);
    const [, backgroundSeconds] = await timed(async () => {
      await open(join(layerDir(), 'use'), constants.O_CREAT | constants.O_WRONLY).catch(
        () => undefined,
      );
      await waitFor(
        'background fetch',
        async () => (await agent.log()).includes('background fetch: layer complete'),
        1_800_000,
        20, // the resolution of the measurement
      );
    });
    after = await registryTotals(registry);
    log(`${name}: background fetch done in ${backgroundSeconds.toFixed(2)} s`);
    return {
      link: name,
      blobBytes: layer.size,
      blobGetSeconds,
      resolveSeconds,
      resolveRegistryBytes,
      readSeconds,
      readRegistryBytes,
      readRequests,
      backgroundSeconds,
      backgroundRegistryBytes: after.bytes - before.bytes,
    };
  } finally {
    await agent.stop();
  }
}

function registriesConf(host: string): string {
  return `[[registry]]\nlocation = "${host}"\ninsecure = true\n`;
}

function renderMarkdown(
  results: LinkResult[],
  sizeMb: number,
  quietSeconds: number,
  load: [number, number],
): string {
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  const rtt = (link: string): number => (link === 'unshaped' ? 0 : findProfile(link).rttMs / 1000);
  const rows = results.map((r) => {
    const floor = r.blobBytes / r.blobGetSeconds;
    const readRate = (sizeMb * 1e6) / r.readSeconds;
    return (
      `| ${r.link} | ${mb(r.blobBytes)} MB in ${r.blobGetSeconds.toFixed(2)} s (${mb(floor)} MB/s) ` +
      `| ${r.resolveSeconds.toFixed(3)} s${rtt(r.link) ? ` (${(r.resolveSeconds / rtt(r.link)).toFixed(1)} RTT)` : ''}, ${(r.resolveRegistryBytes / 1024).toFixed(0)} KiB ` +
      `| ${r.readSeconds.toFixed(2)} s = ${mb(readRate)} MB/s (${((readRate / floor) * 100).toFixed(0)} % of the blob GET), ` +
      `${mb(r.readRegistryBytes)} MB in ${r.readRequests} GETs ` +
      `| ${r.backgroundSeconds.toFixed(2)} s (${(r.backgroundSeconds / r.blobGetSeconds).toFixed(2)}× the blob GET), ` +
      `${mb(r.backgroundRegistryBytes)} MB (${((r.backgroundRegistryBytes / r.blobBytes - 1) * 100).toFixed(1)} % over the blob) |`
    );
  });
  return [
    '## Agent',
    '',
    `\`node bench/agent/run.ts\` — one eStargz layer (busybox + a ${sizeMb} MB incompressible file, made`,
    'by `slipstream convert`), a real registry, a cold `slipstream agent` (fresh state dir) per',
    'measurement, no podman: the store is read directly through its FUSE mount. "blob GET" is the',
    "whole layer in one request, best of three (the link's single-stream floor, i.e. a normal pull's",
    'transfer).',
    `Background fetch: from creating \`use\` until the layer is local, with the agent's quiet period set to ${quietSeconds} s, so that it starts as soon as the layer's boot-file prefetch is done: the time is the background fetch's own (4 requests of 8 MiB at a time, the default). With the default configuration it starts 1 s after the pull or the container's last read.`,
    '',
    '| link | blob GET | first lookup (resolve) | on-demand sequential read of the file | background fetch of the layer |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on the 2-core dev VM; 1-minute load average`,
    `${load[0].toFixed(1)} at the start and ${load[1].toFixed(1)} at the end (other work shared the`,
    'machine: CPU-bound steps — inflate, verification, the userspace delay line — are slowed).',
    'Goals (issue 6): sequential on-demand read ≥ 80 % of the link; background fetch ≤ 1.25× a',
    'normal pull, ≤ 2 % more bytes than the image.',
    '',
  ].join('\n');
}

async function updateDoc(markdown: string): Promise<void> {
  await writeDocSection(
    join(REPO, 'docs/benchmarks.md'),
    { begin: '<!-- BEGIN agent-benchmark -->', end: '<!-- END agent-benchmark -->', preamble: '' },
    markdown.trimEnd(),
  );
}

async function main(): Promise<void> {
  const links = arg('links', 'unshaped,20ms-1gbit,80ms-100mbit').split(',');
  const sizeMb = Number(arg('size-mb', '200'));
  const loadStart = loadavg()[0];
  const dir = await makeTempDir('agent-bench');
  let link: EmulatedLink | undefined;
  let registry: RegistryFixture | undefined;
  const results: LinkResult[] = [];
  try {
    link = await createLink({ binDir: join(REPO, 'bench/.cache/bin') });
    registry = await startRegistry({ bindAddress: link.serverAddress, netns: link.serverNetns });
    log(`registry ${registry.url}; building the image (${sizeMb} MB file)`);
    await buildImage(dir, registry, sizeMb);
    const layer = await layerOf(registry);
    for (const name of links) {
      await link.configure(name === 'unshaped' ? null : findProfile(name));
      results.push(await measureLink(name, dir, registry, layer));
    }
    await link.configure(null);
  } finally {
    await registry?.stop();
    await link?.destroy();
    await unmountBelow(dir);
    await removeDir(dir);
  }
  await mkdir(join(REPO, 'bench/results'), { recursive: true });
  await writeFile(
    join(REPO, 'bench/results/agent.json'),
    `${JSON.stringify({ date: new Date().toISOString(), sizeMb, results }, null, 2)}\n`,
  );
  await updateDoc(renderMarkdown(results, sizeMb, 0, [loadStart, loadavg()[0]]));
  log('results: bench/results/agent.json, docs/benchmarks.md (Agent)');
}

await main();
