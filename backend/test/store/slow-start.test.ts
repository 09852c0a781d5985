// A read a reader waits for goes out in pieces over idle connections when the registry is far
// (fetch/slow-start.ts): each piece then fits a fresh congestion window. Near registries,
// reads nobody waits for, and reads past the bound stay one request each.
import { randomBytes } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { createLink, type EmulatedLink } from '../../../bench/netem/link.ts';
import {
  INITIAL_WINDOW_BYTES,
  MAX_PIECES,
  MAX_SPLIT_BYTES,
  NEAR_RTT_MS,
  slowStartPieces,
} from '../../src/fetch/slow-start.ts';
import type { ByteRange } from '../../src/fetch/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { RegistryRangeSource } from '../../src/store/range-source.ts';
import { pushTestImage, type TestImage } from '../registry/helpers.ts';
import { unmountBelow } from '../support/containerd.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';
import { layerDirIn, pushEstargzImage, startFreshAgent } from './fixtures.ts';

jest.setTimeout(180_000);

const far = { rttMs: 20, idleConnections: 12 };

/** The pieces join into exactly the range, in order, with no gap or overlap. */
function expectCovers(range: ByteRange, pieces: ByteRange[]): void {
  let at = range.offset;
  for (const piece of pieces) {
    expect(piece.offset).toBe(at);
    expect(piece.length).toBeGreaterThan(0);
    at += piece.length;
  }
  expect(at).toBe(range.offset + range.length);
}

describe('slowStartPieces', () => {
  it('splits a read of a few windows into pieces that each fit one window', () => {
    const range = { offset: 5000, length: 18_274 }; // `cat` on demand, measured
    const [pieces] = slowStartPieces([range], far);
    expect(pieces).toHaveLength(2);
    expectCovers(range, pieces);
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES);
  });

  it('uses at most MAX_PIECES pieces, and no more than the idle connections', () => {
    const range = { offset: 0, length: 480_694 };
    const [eight] = slowStartPieces([range], far);
    expect(eight).toHaveLength(MAX_PIECES);
    expectCovers(range, eight);
    const [three] = slowStartPieces([range], { rttMs: 20, idleConnections: 3 });
    expect(three).toHaveLength(3);
    expectCovers(range, three);
  });

  it('cuts several ranges in proportion to their sizes, each covered in order', () => {
    const ranges = [
      { offset: 0, length: 90_000 },
      { offset: 200_000, length: 10_000 },
    ];
    const pieces = slowStartPieces(ranges, far);
    expect(pieces).toHaveLength(2);
    pieces.forEach((p, i) => expectCovers(ranges[i], p));
    expect(pieces[0].length).toBeGreaterThan(pieces[1].length);
    expect(pieces.flat().length).toBeLessThanOrEqual(MAX_PIECES + 1);
  });

  it('leaves reads whole where splitting cannot pay', () => {
    const whole = (ranges: ByteRange[]) => ranges.map((r) => [r]);
    const big = [{ offset: 0, length: 100_000 }];
    // A registry nearby: a round trip costs less than the requests.
    expect(slowStartPieces(big, { rttMs: NEAR_RTT_MS - 1, idleConnections: 12 })).toEqual(
      whole(big),
    );
    expect(slowStartPieces(big, { rttMs: 0, idleConnections: 12 })).toEqual(whole(big));
    // Nothing known: no connection made yet, or a proxy in between.
    expect(slowStartPieces(big, { rttMs: undefined, idleConnections: 12 })).toEqual(whole(big));
    expect(slowStartPieces(big, { rttMs: 20, idleConnections: undefined })).toEqual(whole(big));
    // No idle connection but the one (a new one costs a handshake).
    expect(slowStartPieces(big, { rttMs: 20, idleConnections: 1 })).toEqual(whole(big));
    expect(slowStartPieces(big, { rttMs: 20, idleConnections: 0 })).toEqual(whole(big));
    // What fits one window, and what is past the bound.
    const small = [{ offset: 0, length: INITIAL_WINDOW_BYTES }];
    expect(slowStartPieces(small, far)).toEqual(whole(small));
    const huge = [{ offset: 0, length: MAX_SPLIT_BYTES + 1 }];
    expect(slowStartPieces(huge, far)).toEqual(whole(huge));
    // Already as many ranges as pieces.
    const two = [
      { offset: 0, length: 10_000 },
      { offset: 50_000, length: 10_000 },
    ];
    expect(slowStartPieces(two, far)).toEqual(whole(two));
  });
});

describe('near the registry or far from it', () => {
  let dir: string;
  let link: EmulatedLink | undefined;
  let nearRegistry: RegistryFixture;
  let farRegistry: RegistryFixture;
  const images: Record<string, TestImage> = {};

  beforeAll(async () => {
    dir = await makeTempDir('slow-start');
    link = await createLink({ binDir: join(dir, 'bin') });
    nearRegistry = await startRegistry();
    farRegistry = await startRegistry({
      bindAddress: link.serverAddress,
      netns: link.serverNetns,
    });
    await link.configure({ name: '20ms', rttMs: 20, rateMbit: 0 });
    for (const [name, registry] of [
      ['near', nearRegistry],
      ['far', farRegistry],
    ] as const) {
      const pusher = new RegistryClient({ insecure: [registry.host] });
      try {
        const repo = openRegistryRepository(`${registry.host}/split/app`, { client: pusher });
        images[name] = await pushTestImage(repo, 'v1', [300_000]);
      } finally {
        await pusher.close();
      }
    }
  });

  afterAll(async () => {
    await nearRegistry?.stop();
    await farRegistry?.stop();
    await link?.destroy();
    if (dir) {
      await unmountBelow(dir);
      await removeDir(dir);
    }
  });

  /** GETs of the layer's blob (and the bytes each sent) while `act` ran. */
  async function blobReads(registry: RegistryFixture, digest: string, act: () => Promise<void>) {
    const before = (await registry.accessLog()).length;
    await act();
    return (await registry.accessLog())
      .slice(before)
      .filter((l) => l.method === 'GET' && l.path.endsWith(`/blobs/${digest}`))
      .map((l) => l.bytes);
  }

  it('a reader’s 100 KB read from a registry 20 ms away: pieces on idle connections', async () => {
    const results: Record<string, { urgent: number[]; background: number[] }> = {};
    for (const [name, registry] of [
      ['near', nearRegistry],
      ['far', farRegistry],
    ] as const) {
      const client = new RegistryClient({ insecure: [registry.host] });
      try {
        const ref = `${registry.host}/split/app:v1`;
        const resolved = await client.resolve(ref);
        const [desc] = resolved.layers;
        const blob = resolved.openBlob(desc);
        client.preconnect(ref, 10); // as a lookup does: the pull leaves connections behind
        await waitFor('idle connections', () =>
          Promise.resolve((blob.connections().idleConnections ?? 0) >= 8),
        );
        // Loopback is near; across the link, the handshakes measured the 20 ms.
        if (name === 'near') expect(blob.connections().rttMs).toBe(0);
        else expect(blob.connections().rttMs).toBeGreaterThanOrEqual(NEAR_RTT_MS);
        const source = new RegistryRangeSource(blob);
        const range = { offset: 1000, length: 100_000 };
        const expected = images[name].layers[0].subarray(1000, 101_000);
        const urgent = await blobReads(registry, desc.digest, async () => {
          const [bytes] = await source.read([range], undefined, { urgent: true });
          expect(bytes.equals(expected)).toBe(true);
        });
        const background = await blobReads(registry, desc.digest, async () => {
          const [bytes] = await source.read([{ ...range, offset: 120_000 }]);
          expect(bytes.equals(images[name].layers[0].subarray(120_000, 220_000))).toBe(true);
        });
        // Two reads at once share the idle connections rather than each counting all of them.
        const idle = blob.connections().idleConnections!;
        const together = await blobReads(registry, desc.digest, async () => {
          const reads = [195_000, 20_000].map((offset) =>
            source.read([{ ...range, offset }], undefined, { urgent: true }),
          );
          for (const [bytes] of await Promise.all(reads)) expect(bytes.length).toBe(100_000);
        });
        expect(together.reduce((a, b) => a + b, 0)).toBe(200_000);
        if (name === 'far') expect(together.length).toBeLessThanOrEqual(idle + 1);
        results[name] = { urgent, background };
      } finally {
        await client.close();
      }
    }
    // Far: 100 KB is ~7 windows, so 8 idle connections carry 8 pieces of ~12.5 KB each.
    expect(results.far.urgent).toHaveLength(8);
    expect(results.far.urgent.reduce((a, b) => a + b, 0)).toBe(100_000);
    for (const bytes of results.far.urgent) expect(bytes).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES);
    expect(results.far.background).toEqual([100_000]);
    expect(results.near).toEqual({ urgent: [100_000], background: [100_000] });
  });

  it('through the agent: a file read across the link arrives whole and verified', async () => {
    // 200 KB of random bytes: one chunk, incompressible, far beyond one window.
    const content = randomBytes(200_000);
    const work = join(dir, 'image');
    await mkdir(work);
    const manifest = await pushEstargzImage(work, farRegistry, 'split', {
      'opt/random.bin': content,
    });
    const agent = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: false }, [
      farRegistry.host,
    ]);
    try {
      const holding = manifest.layers[0]; // `extra` files go to the first layer
      const layerDir = layerDirIn(
        agent.mountpoint,
        `${farRegistry.host}/split:esgz`,
        holding.digest,
      );
      await readFile(join(layerDir, 'info')); // the lookup, which leaves connections open
      const reads = await blobReads(farRegistry, holding.digest, async () => {
        expect((await readFile(join(layerDir, 'diff/opt/random.bin'))).equals(content)).toBe(true);
      });
      // The file's chunk (and any neighbours) came in several requests.
      expect(reads.length).toBeGreaterThanOrEqual(2);
      expect(reads.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(content.length);
      expect(Math.max(...reads)).toBeLessThan(content.length);
    } finally {
      await agent.stop();
    }
  });
});
