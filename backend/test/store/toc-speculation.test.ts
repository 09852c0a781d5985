// A large TOC is read beside the layer's tail, not after it: the lookup does not wait for the
// footer to learn where the TOC starts before asking for it.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { createLink, type EmulatedLink } from '../../../bench/netem/link.ts';
import { Annotations } from '../../src/image/types.ts';
import {
  MAX_SPECULATIVE_BYTES,
  speculativeRange,
  tocPieceBytes,
  tocReadRange,
  TocSpeculation,
  type SpeculationSource,
} from '../../src/store/toc-speculation.ts';
import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type EstargzManifest,
  layerDirIn,
  pushEstargzImage,
  retagWithLayerAnnotation,
  startFreshAgent,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(180_000);

/** A blob in memory that records each read and whether it was aborted. */
function memorySource(blob: Buffer) {
  const reads: { start: number; end: number; signal?: AbortSignal }[] = [];
  const source: SpeculationSource = {
    readRange: (start, end, opts) => {
      reads.push({ start, end, ...(opts.signal && { signal: opts.signal }) });
      return Promise.resolve(blob.subarray(start, end));
    },
  };
  return { source, reads };
}

describe('speculativeRange', () => {
  it('guesses nothing for layers whose TOC would fit in the tail', () => {
    expect(speculativeRange(512 * 1024, 32 * 1024)).toBeUndefined();
    expect(speculativeRange(10_000, 32 * 1024)).toBeUndefined();
  });

  it('guesses 1/16 of the layer before the tail, capped', () => {
    expect(speculativeRange(8 << 20, 32 * 1024)).toEqual({
      start: (8 << 20) - 32 * 1024 - (512 << 10),
      end: (8 << 20) - 32 * 1024,
    });
    const huge = speculativeRange(5e9, 32 * 1024)!;
    expect(huge.end - huge.start).toBe(MAX_SPECULATIVE_BYTES);
  });
});

describe('tocReadRange', () => {
  const tail = 32 * 1024;
  const layer = (size: number, offset?: string) => ({
    size,
    annotations: (offset === undefined ? {} : { [Annotations.estargzTocOffset]: offset }) as Record<
      string,
      string
    >,
  });

  it('reads exactly the TOC when the layer says where it starts', () => {
    expect(tocReadRange(layer(8 << 20, String(7 << 20)), tail)).toEqual({
      start: 7 << 20,
      end: (8 << 20) - tail,
    });
    // A TOC that the tail holds needs nothing more, however large the layer.
    expect(tocReadRange(layer(5e9, String(5e9 - 1000)), tail)).toBeUndefined();
  });

  it('guesses as before when the hint is absent or malformed', () => {
    const guess = speculativeRange(8 << 20, tail);
    for (const hint of [
      undefined,
      '',
      'abc',
      '-5',
      '1e3',
      '0x10',
      String(8 << 20),
      '9'.repeat(20),
    ]) {
      expect([hint, tocReadRange(layer(8 << 20, hint), tail)]).toEqual([hint, guess]);
    }
  });

  it('ignores a hint that would make it read more than a TOC may be', () => {
    expect(tocReadRange(layer(1e9, '1000'), tail)).toBeUndefined();
  });
});

describe('tocPieceBytes', () => {
  it("splits an image's TOC reads over about a dozen pieces of 64 to 256 KiB", () => {
    expect(tocPieceBytes(0)).toBe(64 * 1024);
    expect(tocPieceBytes(400 * 1024)).toBe(64 * 1024);
    expect(tocPieceBytes(12 * 100_000)).toBe(100_000);
    expect(tocPieceBytes(3 << 20)).toBe(256 * 1024);
    expect(tocPieceBytes(64 << 20)).toBe(256 * 1024);
  });
});

describe('TocSpeculation', () => {
  const blob = Buffer.from(Array.from({ length: 2 << 20 }, (_, i) => i % 251));
  const range = { start: 1 << 20, end: (2 << 20) - 4096 };

  it('reads the guess in parallel pieces at once, before anyone asks', () => {
    const { source, reads } = memorySource(blob);
    new TocSpeculation(source, range).cancel();
    expect(reads.length).toBeGreaterThan(1);
    expect(reads[0].start).toBe(range.start);
    expect(reads.at(-1)!.end).toBe(range.end);
    for (let i = 1; i < reads.length; i++) expect(reads[i].start).toBe(reads[i - 1].end);
  });

  it('serves a TOC inside the guess from the pieces and aborts the pieces before it', async () => {
    const { source, reads } = memorySource(blob);
    const speculation = new TocSpeculation(source, range);
    const start = range.end - 1000;
    expect(speculation.serves(start, range.end)).toBe(true);
    expect(speculation.serves(start, range.end - 1)).toBe(false);
    expect((await speculation.read(start, range.end)).equals(blob.subarray(start, range.end))).toBe(
      true,
    );
    expect(reads).toHaveLength(4); // no further request
    expect(reads[0].signal?.aborted).toBe(true);
    expect(reads.at(-1)!.signal?.aborted).toBe(false);
  });

  it('reads the part of a larger TOC that lies before the guess, and joins it', async () => {
    const { source, reads } = memorySource(blob);
    const speculation = new TocSpeculation(source, range);
    const start = range.start - 12_345;
    expect((await speculation.read(start, range.end)).equals(blob.subarray(start, range.end))).toBe(
      true,
    );
    expect(reads.at(-1)).toMatchObject({ start, end: range.start });
  });

  it('aborts every piece on cancel, and a failed piece nobody needs is no error', async () => {
    const signals: AbortSignal[] = [];
    const failing: SpeculationSource = {
      readRange: (_s, _e, opts) => {
        signals.push(opts.signal!);
        return Promise.reject(new Error('registry gone'));
      },
    };
    const speculation = new TocSpeculation(failing, range);
    speculation.cancel();
    expect(signals.every((s) => s.aborted)).toBe(true);
    await expect(speculation.read(range.end - 10, range.end)).rejects.toThrow('registry gone');
  });
});

describe('TocSpeculation.stream', () => {
  const blob = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7) % 253));
  const range = { start: 4096, end: blob.length - 4096 };

  /**
   * A source whose pieces arrive in 1000-byte pieces, the last piece first; `retry` makes each
   * piece start over once after its first 3000 bytes, as a retried request does.
   */
  function trickleSource(options: { retry?: boolean; failAt?: number } = {}) {
    let order = 0;
    const source: SpeculationSource = {
      readRange: (start, end, opts) => {
        const delay = 1000 - order++ * 10; // later pieces sooner
        return new Promise((resolve, reject) => {
          setTimeout(() => {
            void (async () => {
              const bytes = blob.subarray(start, end);
              const offsets = Array.from(
                { length: Math.ceil(bytes.length / 1000) },
                (_, k) => k * 1000,
              );
              const schedule = options.retry ? [...offsets.slice(0, 3), ...offsets] : offsets;
              for (const at of schedule) {
                if (options.failAt !== undefined && start + at >= options.failAt) {
                  reject(new Error('connection reset'));
                  return;
                }
                opts.onData?.(bytes.subarray(at, at + 1000), at);
                await new Promise((r) => setImmediate(r));
              }
              resolve(bytes);
            })();
          }, delay / 100);
        });
      },
    };
    return source;
  }

  async function streamed(source: SpeculationSource, start: number) {
    const speculation = new TocSpeculation(source, range, 64 * 1024);
    const parts: Buffer[] = [];
    const delivered = speculation.stream(start, (bytes) => parts.push(Buffer.from(bytes)));
    const read = speculation.read(start, range.end).catch((e: Error) => e);
    const result = { delivered: await delivered, bytes: Buffer.concat(parts), read: await read };
    speculation.cancel();
    return result;
  }

  it('hands over the bytes from any offset in order while the pieces arrive out of order', async () => {
    for (const start of [range.start, range.start + 70_000, range.end - 10]) {
      const { delivered, bytes } = await streamed(trickleSource(), start);
      expect(delivered).toBe(true);
      expect(bytes.equals(blob.subarray(start, range.end))).toBe(true);
    }
  });

  it('gives the completed bytes of a piece whose request started over', async () => {
    const { delivered, bytes } = await streamed(trickleSource({ retry: true }), range.start);
    expect(delivered).toBe(true);
    expect(bytes.equals(blob.subarray(range.start, range.end))).toBe(true);
  });

  it('says false when a piece fails or the speculation is cancelled', async () => {
    const failed = await streamed(trickleSource({ failAt: 500_000 }), range.start);
    expect(failed.delivered).toBe(false);
    expect(failed.read).toBeInstanceOf(Error);
    const speculation = new TocSpeculation(trickleSource(), range, 64 * 1024);
    const delivered = speculation.stream(range.start, () => undefined);
    speculation.cancel();
    expect(await delivered).toBe(false);
  });

  it('streams only what it speculated, once', () => {
    const speculation = new TocSpeculation(memorySource(blob).source, range);
    expect(speculation.stream(range.start - 1, () => undefined)).toBeUndefined();
    expect(speculation.stream(range.end, () => undefined)).toBeUndefined();
    expect(speculation.stream(range.start, () => undefined)).toBeDefined();
    expect(speculation.stream(range.start, () => undefined)).toBeUndefined();
    speculation.cancel();
  });
});

describe('through the agent', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let manifest: EstargzManifest;

  beforeAll(async () => {
    dir = await makeTempDir('toc-speculation');
    registry = await startRegistry();
    // 2500 small files with their digests make a TOC several times the 32 KiB tail.
    const many = Object.fromEntries(
      Array.from({ length: 2500 }, (_, i) => [`many/d${i % 50}/file-${i}.txt`, `file ${i}\n`]),
    );
    manifest = await pushEstargzImage(dir, registry, 'spec', many);
    proxy = await startFaultProxy(registry.host);
  });

  afterAll(() => tearDown(dir, proxy, registry));

  it('asks for the TOC before the tail has arrived, and serves the layer', async () => {
    const big = manifest.layers.reduce((a, b) => (a.size > b.size ? a : b));
    // Every suffix read of the big layer is withheld until a range before the tail was asked
    // for: an agent that waits for the footer to locate the TOC never gets it (lookup bound).
    let tocAsked!: () => void;
    const tocRequested = new Promise<void>((resolve) => (tocAsked = resolve));
    const starts: number[] = [];
    proxy.rule = (req) => {
      if (!req.url?.endsWith(`/blobs/${big.digest}`)) return undefined;
      const range = req.headers.range ?? '';
      if (range.startsWith('bytes=-')) return { type: 'hold', until: tocRequested };
      starts.push(Number(/^bytes=(\d+)-/.exec(range)?.[1]));
      tocAsked();
      return undefined;
    };
    const agent = await startFreshAgent(dir, 'agent', {
      backgroundFetch: false,
      prefetch: false,
      lookupTimeoutSeconds: 20,
    });
    try {
      const layerDir = layerDirIn(agent.mountpoint, `${proxy.host}/spec:esgz`, big.digest);
      const info = JSON.parse(await readFile(join(layerDir, 'info'), 'utf8')) as {
        'compressed-diff-digest': string;
      };
      expect(info['compressed-diff-digest']).toBe(big.digest);
      // The converter said where the TOC starts: nothing before it was read.
      expect(Math.min(...starts)).toBe(Number(big.annotations[Annotations.estargzTocOffset]));
      expect(await readFile(join(layerDir, 'diff/many/d7/file-2457.txt'), 'utf8')).toBe(
        'file 2457\n',
      );
      // And its entries were parsed as its bytes came (estargz/toc-stream.ts).
      const resolved = (await agent.log())
        .split('\n')
        .filter((line) => line.includes('store: layer resolved') && line.includes(big.digest));
      expect(resolved).toHaveLength(1);
      expect(JSON.parse(resolved[0])).toMatchObject({ tocParse: 'as it arrived' });
    } finally {
      proxy.rule = () => undefined;
      await agent.stop();
    }
  });

  it.each([
    ['the start of the layer', () => 0],
    ['inside the TOC', (tocOffset: number) => tocOffset + 1000],
    ['malformed', () => '12abc'],
  ])('serves the layer whatever a wrong offset annotation says: %s', async (name, wrong) => {
    const big = manifest.layers.reduce((a, b) => (a.size > b.size ? a : b));
    const tocOffset = Number(big.annotations[Annotations.estargzTocOffset]);
    // The same image under another tag, the annotation changed: the manifest is all it takes.
    const tag = `wrong-${name.replace(/\W+/g, '-')}`;
    await retagWithLayerAnnotation(
      registry,
      'spec',
      tag,
      big.digest,
      Annotations.estargzTocOffset,
      String(wrong(tocOffset)),
    );
    const agent = await startFreshAgent(dir, `agent-${tag}`, {
      backgroundFetch: false,
      prefetch: false,
    });
    try {
      const layerDir = layerDirIn(agent.mountpoint, `${registry.host}/spec:${tag}`, big.digest);
      expect(await readFile(join(layerDir, 'diff/many/d7/file-2457.txt'), 'utf8')).toBe(
        'file 2457\n',
      );
      expect(await readFile(join(layerDir, 'diff/etc/motd'), 'utf8')).toBe('welcome\n');
    } finally {
      await agent.stop();
    }
  });
});

describe('near the registry or far from it', () => {
  let dir: string;
  let link: EmulatedLink | undefined;
  let near: RegistryFixture;
  let far: RegistryFixture;

  beforeAll(async () => {
    dir = await makeTempDir('toc-near-far');
    link = await createLink({ binDir: join(dir, 'bin') });
    near = await startRegistry();
    far = await startRegistry({ bindAddress: link.serverAddress, netns: link.serverNetns });
    await link.configure({ name: '20ms', rttMs: 20, rateMbit: 0 });
  });

  afterAll(async () => {
    await near?.stop();
    await far?.stop();
    await link?.destroy();
    await tearDown(dir);
  });

  it('reads a TOC in one request from a registry nearby, in pieces across a 20 ms link', async () => {
    // A TOC of ~120 KiB past the tail: two pieces or more where they pay (slow start), one
    // request where each request costs more than slow start does.
    const many = Object.fromEntries(
      Array.from({ length: 2500 }, (_, i) => [`many/d${i % 50}/file-${i}.txt`, `file ${i}\n`]),
    );
    const tocRequests: Record<string, number> = {};
    for (const [name, registry] of [
      ['near', near],
      ['far', far],
    ] as const) {
      const work = join(dir, `image-${name}`);
      await mkdir(work);
      const manifest = await pushEstargzImage(work, registry, 'spec', many);
      const big = manifest.layers.reduce((a, b) => (a.size > b.size ? a : b));
      const before = (await registry.accessLog()).length;
      const agent = await startFreshAgent(
        dir,
        `agent-${name}`,
        { backgroundFetch: false, prefetch: false },
        [registry.host],
      );
      try {
        const layerDir = layerDirIn(agent.mountpoint, `${registry.host}/spec:esgz`, big.digest);
        await readFile(join(layerDir, 'info')); // the lookup
        const reads = async () =>
          (await registry.accessLog())
            .slice(before)
            .filter((l) => l.method === 'GET' && l.path.endsWith(`/blobs/${big.digest}`)).length;
        await waitFor('the TOC reads in the log', async () => (await reads()) >= 2);
        tocRequests[name] = (await reads()) - 1; // the tail (footer and the TOC's end) aside
        expect(await readFile(join(layerDir, 'diff/many/d7/file-2457.txt'), 'utf8')).toBe(
          'file 2457\n',
        );
      } finally {
        await agent.stop();
      }
    }
    expect(tocRequests.near).toBe(1);
    expect(tocRequests.far).toBeGreaterThanOrEqual(2);
  });
});
