// Read-ahead for a sequential reader, through the real FUSE mount of a `slipstream agent` and a
// real registry: the mechanism (what is requested, and how), not its speed.
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { DEFAULT_CHUNK_SIZE } from '../../src/estargz/index.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import { type AgentProcess, pushEstargzImage, startAgentProcess, tearDown } from './fixtures.ts';

jest.setTimeout(300_000);

/** Six chunks of incompressible data: a compressed chunk is barely larger than its content. */
const content = randomBytes(6 * DEFAULT_CHUNK_SIZE);
/** A "model" read in scattered slices, like an inference server reading a few tensors. */
const model = randomBytes(12 * DEFAULT_CHUNK_SIZE);
/** A file whose first bytes only are read. */
const start = randomBytes(6 * DEFAULT_CHUNK_SIZE);
/** A chunk's compressed size: its data plus gzip and tar framing. */
const chunkBytesBound = DEFAULT_CHUNK_SIZE + 64 * 1024;

describe('read-ahead of a sequentially read file', () => {
  let dir: string;
  let registry: RegistryFixture;
  let agent: AgentProcess | undefined;
  let layerDir: string;
  let layerDigest: string;

  beforeAll(async () => {
    dir = await makeTempDir('read-ahead');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    const manifest = await pushEstargzImage(dir, registry, 'seq', {
      'data/seq.bin': content,
      'data/model.bin': model,
      'data/start.bin': start,
    });
    const ref = `${registry.host}/seq:esgz`;
    layerDigest = manifest.layers[0].digest;
    agent = await startAgentProcess(dir, { backgroundFetch: false, prefetch: false });
    layerDir = join(agent.mountpoint, Buffer.from(ref).toString('base64'), layerDigest);
  });

  afterAll(() => tearDown(dir, agent, registry));

  /** The layer's range requests the registry answered so far. */
  const layerGets = async (): Promise<{ bytes: number }[]> =>
    (await registry.accessLog()).filter(
      (l) => l.method === 'GET' && l.path.endsWith(layerDigest) && l.status === 206,
    );

  it('fetches the file chunk by chunk ahead of the reader, each chunk once, never a whole window in one request', async () => {
    await stat(join(layerDir, 'diff')); // resolve: footer and TOC
    // The lookup may have read ahead of the footer on speculation (store/toc-speculation.ts) and
    // aborted what it did not need; the registry logs an aborted request when it notices.
    let before = -1;
    await waitFor(
      'a quiet access log',
      async () => {
        const now = (await layerGets()).length;
        const quiet = now === before;
        before = now;
        return quiet;
      },
      5_000,
      250,
    );

    const read = await readFile(join(layerDir, 'diff/data/seq.bin'));

    expect(read.equals(content)).toBe(true);
    const gets = (await layerGets()).slice(before);
    const chunks = content.length / DEFAULT_CHUNK_SIZE;
    // Every chunk once (the reader's own fetches and the read-ahead share in-flight requests)...
    expect(gets.length).toBeLessThanOrEqual(chunks);
    expect(gets.reduce((n, g) => n + g.bytes, 0)).toBeLessThanOrEqual(chunks * chunkBytesBound);
    // ...and in requests of one chunk: a request spanning the window would hold back its first
    // chunk until the last one arrived.
    for (const get of gets) expect(get.bytes).toBeLessThanOrEqual(chunkBytesBound);
  });

  it('reads little ahead of short runs: scattered 2 MiB slices of a big file', async () => {
    const before = (await layerGets()).length;
    const file = await open(join(layerDir, 'diff/data/model.bin'));
    try {
      for (const chunk of [0, 5, 10]) {
        const at = chunk * DEFAULT_CHUNK_SIZE;
        const slice = Buffer.alloc(2 * 2 ** 20);
        const { bytesRead } = await file.read(slice, 0, slice.length, at);
        expect(bytesRead).toBe(slice.length);
        expect(slice.equals(model.subarray(at, at + slice.length))).toBe(true);
      }
    } finally {
      await file.close();
    }
    const fetched = (await layerGets()).slice(before).reduce((n, g) => n + g.bytes, 0);
    // Each slice's chunk and at most the next one, the slice at the file's start two (a run
    // from there is taken for a whole-file read): not a 32 MiB window after every slice.
    expect(fetched).toBeLessThanOrEqual((3 * 2 + 1) * chunkBytesBound);
  });

  it('a run from the file’s first byte fetches the next two chunks without waiting for the first', async () => {
    const before = (await layerGets()).length;
    const file = await open(join(layerDir, 'diff/data/start.bin'));
    try {
      const head = Buffer.alloc(2 * 2 ** 20);
      const { bytesRead } = await file.read(head, 0, head.length, 0);
      expect(bytesRead).toBe(head.length);
      expect(head.equals(start.subarray(0, head.length))).toBe(true);
    } finally {
      await file.close();
    }
    // The kernel reads the first 4 MiB: a window as long as that run would reach one chunk past
    // it; a run from the start reaches two.
    await waitFor(
      'three chunks fetched',
      async () => (await layerGets()).length - before >= 3,
      10_000,
      50,
    );
    const gets = (await layerGets()).slice(before);
    expect(gets.reduce((n, g) => n + g.bytes, 0)).toBeLessThanOrEqual(3 * chunkBytesBound);
  });
});
