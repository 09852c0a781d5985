// The agent's start-up warm-up: its synthetic layer must be a real eStargz layer of the shape it
// claims (else the warm-up warms paths a pull never takes), the warm-up must go through it, and
// the lookup warm-up must pull it through the store from its in-process registry.
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import {
  ChunkVerification,
  MIN_CHUNK_SIZE,
  S_IFCHR,
  S_IFMT,
  readChunk,
  sha256Digest,
} from '../../src/estargz/index.ts';
import { warmUpDir, warmUpLookupPath } from '../../src/store/warm-up-lookup.ts';
import { startWarmUpRegistry, type WarmUpRegistry } from '../../src/store/warm-up-registry.ts';
import { syntheticLayer, warmUpLayerPath } from '../../src/store/warm-up.ts';
import { openBlob } from '../estargz/helpers.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

async function openSynthetic(dirs: number, filesPerDir: number) {
  const layer = syntheticLayer(dirs, filesPerDir);
  return { layer, index: await openBlob(layer.blob, layer.tocDigest) };
}

describe('warm-up synthetic layer', () => {
  it('is an eStargz layer whose TOC verifies and whose chunks inflate to their digests', async () => {
    const { layer, index } = await openSynthetic(3, 9);
    expect(index.verifiable).toBe(true);
    let chunks = 0;
    for (let id = 0; id < index.chunkCount; id++) {
      const chunk = index.chunk(id);
      expect(chunk.verification).toBe(ChunkVerification.chunkDigest);
      const bytes = await readChunk(chunk, layer.blob.subarray(chunk.compressedOffset));
      expect(bytes.length).toBe(chunk.size);
      chunks++;
    }
    // Per directory: 9 files, two of them (0 and 8) in three chunks, plus the tool script.
    expect(chunks).toBe(3 * (9 + 2 * 2 + 1));
  });

  it('holds the kinds of entries a distribution layer has', async () => {
    const { index } = await openSynthetic(2, 3);
    const lib = index.resolve('usr/lib')!;
    expect(index.xattrs(lib).get('trusted.overlay.opaque')?.toString()).toBe('y');
    const removed = index.resolve('usr/lib/removed')!;
    expect(index.stat(removed).mode & S_IFMT).toBe(S_IFCHR);
    const first = index.resolve('usr/lib/package-1/module_0.so.1')!;
    expect(index.resolve('usr/lib/package-1/module.so')).toBe(first);
    expect(index.stat(first).nlink).toBe(2);
    expect(index.chunksOf(first).length).toBe(3);
    expect(index.stat(first).size).toBe(MIN_CHUNK_SIZE * 2 + 17);
    expect(index.readlink(index.resolve('usr/lib/package-1/current')!)).toBe('module_0.so.1');
    const tool = index.resolve('usr/lib/package-0/tool')!;
    expect(index.xattrs(tool).has('security.capability')).toBe(true);
    expect(index.stat(tool).mode & 0o777).toBe(0o755);
  });

  it('is what the warm-up opens, round after round', async () => {
    const { index } = await openSynthetic(4, 5);
    const report = await warmUpLayerPath({ dirs: 4, filesPerDir: 5, rounds: 2 });
    // This small a TOC comes with the footer: nothing to stream.
    expect(report).toEqual({
      entries: index.entryCount,
      rounds: 2,
      streamedRounds: 0,
      seconds: expect.any(Number),
    });
  });

  it('as the agent runs it, parses the TOC as it streams in every other round', async () => {
    const report = await warmUpLayerPath();
    expect(report).toMatchObject({ rounds: 3, streamedRounds: 2 });
    expect(report.entries).toBeGreaterThan(8000);
  });
});

describe('warm-up of the whole lookup path', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('warm-up-lookup');
  });
  afterAll(async () => {
    if (dir) await removeDir(dir);
  });

  it('pulls an image from its in-process registry through the store, then removes its cache', async () => {
    const cacheDir = join(dir, 'cache');
    const report = await warmUpLookupPath({
      dir: cacheDir,
      prefetch: { enabled: true, maxBytes: 64 * 2 ** 20 },
    });
    expect(report.layers).toBe(2);
    // Lazily: manifest, config, TOCs, boot files and the files read, not whole blobs.
    expect(report.requests).toBeGreaterThan(4);
    expect(report.requests).toBeLessThan(40);
    // The base layer's files are read whole (boot files and the first packages' modules).
    expect(report.bytesRead).toBeGreaterThan(3000);
    await expect(stat(cacheDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('goes direct to its registry when the agent has a proxy in its environment', async () => {
    // A proxy that is not there: a request sent to it would fail and fail the warm-up.
    const saved = { http: process.env.HTTP_PROXY, no: process.env.NO_PROXY };
    process.env.HTTP_PROXY = 'http://127.0.0.2:9';
    process.env.NO_PROXY = 'registry.example';
    try {
      const report = await warmUpLookupPath({
        dir: join(dir, 'proxied'),
        prefetch: { enabled: false, maxBytes: 0 },
      });
      expect(report.bytesRead).toBeGreaterThan(3000);
    } finally {
      for (const [name, value] of [
        ['HTTP_PROXY', saved.http],
        ['NO_PROXY', saved.no],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('takes a directory of its own per process, and removes those of processes gone', async () => {
    const state = join(dir, 'state');
    const gone = spawnSync(process.execPath, ['-e', '']).pid; // exited: its pid is free
    for (const name of [String(gone), String(process.ppid), 'stray']) {
      await mkdir(join(state, 'warm-up', name, 'sha256-x'), { recursive: true });
    }
    expect(await warmUpDir(state)).toBe(join(state, 'warm-up', String(process.pid)));
    expect((await readdir(join(state, 'warm-up'))).sort()).toEqual([String(process.ppid)]);
    expect(await warmUpDir(join(dir, 'new-state'))).toBe(
      join(dir, 'new-state', 'warm-up', String(process.pid)),
    );
  });

  it('gives up with a clear error when it takes too long, and still cleans up', async () => {
    const cacheDir = join(dir, 'slow');
    await expect(
      warmUpLookupPath({ dir: cacheDir, prefetch: { enabled: false, maxBytes: 0 }, timeoutMs: 1 }),
    ).rejects.toThrow('warm-up: the lookup path took too long');
    await expect(stat(cacheDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("builds layers whose extra files and TOC offset are the codec's", async () => {
    const layer = syntheticLayer(1, 2, { 'etc/passwd': Buffer.from('root:x:0:0::/:/bin/sh\n') });
    const index = await openBlob(layer.blob, layer.tocDigest);
    const passwd = index.resolve('etc/passwd')!;
    const [chunk] = index.chunksOf(passwd);
    const bytes = await readChunk(chunk, layer.blob.subarray(chunk.compressedOffset));
    expect(bytes.toString()).toBe('root:x:0:0::/:/bin/sh\n');
    expect(index.tocOffset).toBe(layer.tocOffset);
  });
});

describe('warm-up registry', () => {
  const blob = Buffer.from('0123456789abcdefghij');
  let registry: WarmUpRegistry;
  beforeAll(async () => {
    registry = await startWarmUpRegistry([{ blob, diffId: sha256Digest(blob), annotations: {} }]);
  });
  afterAll(() => registry?.close());

  const get = (path: string, range?: string) =>
    fetch(`http://${registry.host}${path}`, { headers: range ? { range } : {} });
  const blobPath = () => `/v2/slipstream/warm-up/blobs/${registry.layers[0].digest}`;

  it('answers the manifest by tag and by digest, with its digest', async () => {
    const byTag = await get('/v2/slipstream/warm-up/manifests/latest');
    const body = Buffer.from(await byTag.arrayBuffer());
    const digest = byTag.headers.get('docker-content-digest')!;
    expect(digest).toBe(sha256Digest(body));
    expect(JSON.parse(body.toString()).layers[0].digest).toBe(registry.layers[0].digest);
    const byDigest = await get(`/v2/slipstream/warm-up/manifests/${digest}`);
    expect(Buffer.from(await byDigest.arrayBuffer())).toEqual(body);
    expect((await get('/v2/slipstream/warm-up/manifests/other')).status).toBe(404);
    expect((await get('/v2/other/manifests/latest')).status).toBe(404);
  });

  it('answers one range of each form, and 416 for what it cannot', async () => {
    const cases: [string, number, string][] = [
      ['bytes=0-3', 206, '0123'],
      ['bytes=15-', 206, 'fghij'],
      ['bytes=-2', 206, 'ij'],
      ['bytes=18-99', 206, 'ij'],
      ['bytes=20-', 416, ''],
      ['bytes=0-1,4-5', 416, ''],
      ['bytes=-', 416, ''],
    ];
    for (const [range, status, text] of cases) {
      const res = await get(blobPath(), range);
      expect([range, res.status, await res.text()]).toEqual([range, status, text]);
    }
    const whole = await get(blobPath());
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(blob);
    expect((await get('/v2/slipstream/warm-up/blobs/sha256:' + '0'.repeat(64))).status).toBe(404);
  });
});
