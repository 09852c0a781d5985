// The first lookup of an image names a layer by its compressed digest (containers/storage
// < 1.54): the agent reads that layer's footer and TOC while the manifest is still on its way,
// and opens every layer's index as soon as the manifest is known, without waiting for the
// config. A lookup by TOC digest (newer protocol) cannot be read early and still resolves.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import { type EstargzManifest, pushEstargzImage, startFreshAgent, tearDown } from './fixtures.ts';

jest.setTimeout(120_000);

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const TOC_ANNOTATION = 'containerd.io/snapshot/stargz/toc.digest';

let dir: string;
let registry: RegistryFixture;
let proxy: FaultProxy;
let manifest: EstargzManifest;
let ref: string;

beforeAll(async () => {
  dir = await makeTempDir('early-tail');
  registry = await startRegistry();
  manifest = await pushEstargzImage(dir, registry, 'early');
  proxy = await startFaultProxy(registry.host);
  ref = `${proxy.host}/early:esgz`;
});

afterAll(() => tearDown(dir, proxy, registry));

const freshAgent = (name: string) => startFreshAgent(dir, name);

/** Resolves once the proxy has seen a GET whose path ends with each of `suffixes`. */
function arrivalOf(suffixes: string[]): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const seen = suffixes.every((sfx) => proxy.log.some((l) => l.path.endsWith(sfx)));
      if (seen) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
}

it('reads the looked-up layer tail while the manifest is still withheld, once', async () => {
  const [l1] = manifest.layers;
  // The registry answers no manifest until the layer's tail was asked for: an agent that waits
  // for the manifest before reading the tail deadlocks and the lookup fails.
  const tailAsked = arrivalOf([`/blobs/${l1.digest}`]);
  proxy.rule = (req) =>
    req.url?.includes('/manifests/') ? { type: 'hold', until: tailAsked } : undefined;
  proxy.log.length = 0;
  const agent = await freshAgent('by-layer-digest');
  try {
    const info = JSON.parse(
      await readFile(join(agent.mountpoint, b64(ref), l1.digest, 'info'), 'utf8'),
    ) as Record<string, unknown>;
    expect(info['compressed-diff-digest']).toBe(l1.digest);
    // The early suffix read was used, not repeated (ranges before the tail may be read
    // alongside it, on speculation that the TOC is larger than the tail).
    const suffixReads = proxy.log.filter(
      (l) => l.path.endsWith(`/blobs/${l1.digest}`) && /^bytes=-\d+$/.test(l.range ?? ''),
    );
    expect(suffixReads).toHaveLength(1);
  } finally {
    proxy.rule = () => undefined;
    await agent.stop();
  }
});

it('opens every layer index as soon as the manifest is known, while the config is withheld', async () => {
  // No config until every layer's tail was asked for.
  const tailsAsked = arrivalOf(manifest.layers.map((l) => `/blobs/${l.digest}`));
  proxy.rule = (req) =>
    req.url?.endsWith(manifest.config.digest) ? { type: 'hold', until: tailsAsked } : undefined;
  proxy.log.length = 0;
  const agent = await freshAgent('by-toc-digest');
  try {
    const [, l2] = manifest.layers;
    const toc = l2.annotations[TOC_ANNOTATION];
    const info = JSON.parse(
      await readFile(join(agent.mountpoint, b64(ref), toc, 'info'), 'utf8'),
    ) as Record<string, unknown>;
    expect(info['toc-digest']).toBe(toc);
    // A TOC digest names no blob: the early read by name fails and the lookup does not care.
    expect(proxy.log.some((l) => l.path.endsWith(`/blobs/${toc}`))).toBe(true);
  } finally {
    proxy.rule = () => undefined;
    await agent.stop();
  }
});

describe('TOC cache', () => {
  const blobReads = (digest: string) =>
    proxy.log.filter((l) => l.method === 'GET' && l.path.endsWith(`/blobs/${digest}`));

  it('a restarted agent resolves a layer it has seen without reading its TOC again', async () => {
    const [l1, l2] = manifest.layers;
    const lookup = async (agent: Awaited<ReturnType<typeof freshAgent>>, digest: string) =>
      JSON.parse(
        await readFile(join(agent.mountpoint, b64(ref), digest, 'info'), 'utf8'),
      ) as Record<string, unknown>;
    let agent = await freshAgent('toc-cache');
    try {
      await lookup(agent, l1.digest);
      await lookup(agent, l2.digest);
    } finally {
      await agent.stop();
    }
    proxy.log.length = 0;
    agent = await freshAgent('toc-cache'); // same state dir
    try {
      expect((await lookup(agent, l1.digest))['compressed-diff-digest']).toBe(l1.digest);
      expect((await lookup(agent, l2.digest))['compressed-diff-digest']).toBe(l2.digest);
      expect(blobReads(l1.digest)).toEqual([]);
      expect(blobReads(l2.digest)).toEqual([]);
      // The files are still served (chunks come from the registry, the TOC did not).
      const listing = await readFile(
        join(agent.mountpoint, b64(ref), l2.digest, 'diff/opt/app/hello.txt'),
        'utf8',
      );
      expect(listing.length).toBeGreaterThan(0);
    } finally {
      await agent.stop();
    }
  });

  it('a corrupted cached TOC is dropped and read again from the registry', async () => {
    const [l1] = manifest.layers;
    const tocFile = join(dir, 'toc-cache/state/tocs', l1.digest.replace(':', '-'));
    const good = await readFile(tocFile);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    await writeFile(tocFile, bad);
    proxy.log.length = 0;
    const agent = await freshAgent('toc-cache');
    try {
      const info = JSON.parse(
        await readFile(join(agent.mountpoint, b64(ref), l1.digest, 'info'), 'utf8'),
      ) as Record<string, unknown>;
      expect(info['compressed-diff-digest']).toBe(l1.digest);
      await waitFor('the drop in the log', async () =>
        (await agent.log()).includes('store: cached TOC dropped'),
      );
      expect(blobReads(l1.digest).length).toBeGreaterThanOrEqual(1);
    } finally {
      await agent.stop();
    }
    // Stored again, intact.
    expect(await readFile(tocFile)).toEqual(good);
  });
});
