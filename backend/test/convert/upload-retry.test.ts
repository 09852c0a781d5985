// Converting into a registry behind a fault-injecting proxy: an upload of a converted layer that
// is cut midway starts over from the converted file, and the image that arrives is the one a
// conversion without faults makes; a registry that keeps failing ends the conversion after the
// bounded attempts with a message that names the layer, and tags nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';

import { jest } from '@jest/globals';

import { convertImage } from '../../src/convert/convert-image.ts';
import type { ImageManifest, ImageRepository } from '../../src/image/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { buildTar } from '../../src/tar/index.ts';
import { prng, randomBytes } from '../estargz/helpers.ts';
import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { writeSourceImage } from './layout-helpers.ts';
import { runCli } from './run-cli.ts';

jest.setTimeout(120_000);

const CHUNK = 128 * 1024;

let dir: string;
let registry: RegistryFixture;
let proxy: FaultProxy;
let client: RegistryClient;
let src: ImageRepository;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convert-upload-retry-'));
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  client = new RegistryClient();
  // Incompressible: the converted layer takes several PATCHes.
  const tar = buildTar([{ name: 'data', type: 'file', data: randomBytes(prng(25), 600_000) }]);
  src = await writeSourceImage(join(dir, 'src'), 'v1', [tar]);
});

afterEach(() => {
  proxy.rule = () => undefined;
});

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

const isUpload = (req: IncomingMessage) =>
  ['POST', 'PATCH', 'PUT'].includes(req.method ?? '') &&
  (req.url ?? '').includes('/blobs/uploads/');

/** The converted layer's bytes, read from the registry itself. */
async function layerBytes(repository: string, digest: string): Promise<Buffer> {
  const repo = openRegistryRepository(`${registry.host}/${repository}`, { client });
  const manifest = JSON.parse((await repo.getManifest(digest)).bytes.toString()) as ImageManifest;
  return buffer(await repo.openBlob(manifest.layers[0]));
}

it('starts a layer upload cut midway over and stores what a faultless conversion does', async () => {
  const direct = openRegistryRepository(`${registry.host}/conv/direct`, { client });
  const expected = await convertImage({ src, srcRef: 'v1', dst: direct, dstRef: 'esgz' });

  let cut = 0;
  proxy.rule = (req) =>
    req.method === 'PATCH' && cut++ === 1 ? { type: 'reset', afterBodyBytes: 10_000 } : undefined;
  const retries: string[] = [];
  const faulty = openRegistryRepository(`${proxy.host}/conv/faulty`, {
    client,
    chunkSize: CHUNK,
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
    onUploadRetry: (message) => retries.push(message),
  });
  const result = await convertImage({ src, srcRef: 'v1', dst: faulty, dstRef: 'esgz' });
  expect(proxy.log.filter((l) => l.fault === 'reset')).toHaveLength(1);
  // Said, not silent: the one retry, with what failed and which attempt comes next.
  expect(retries).toHaveLength(1);
  expect(retries[0]).toMatch(
    /^an upload to [^ ]+\/conv\/faulty failed: .*ECONNRESET.*; trying again in \d+\.\d s \(attempt 2 of 3\)$/,
  );
  expect(result.digest).toBe(expected.digest);
  const stored = await layerBytes('conv/faulty', result.digest);
  expect(stored.length).toBeGreaterThan(2 * CHUNK);
  expect(stored.equals(await layerBytes('conv/direct', expected.digest))).toBe(true);
});

it('fails after the bounded attempts against a registry that answers 500, and tags nothing', async () => {
  // The check for push access at the start passes; the layer's upload then meets the 500s.
  let uploads = 0;
  proxy.rule = (req) =>
    isUpload(req) && uploads++ > 0 ? { type: 'status', status: 500 } : undefined;
  const down = openRegistryRepository(`${proxy.host}/conv/down`, { client });
  const err = await convertImage({ src, srcRef: 'v1', dst: down, dstRef: 'esgz' }).catch(
    (e: unknown) => e as Error,
  );
  expect((err as Error).message).toMatch(
    /^image layer 1\/1 \(sha256:[0-9a-f]{64}\): storing the converted layer: blob upload on 127\.0\.0\.1:\d+\/conv\/down: server answered 500: UNAVAILABLE: injected \(gave up after 3 attempts\)$/,
  );
  expect(proxy.log.filter((l) => l.method === 'POST' && l.path.includes('conv/down'))).toHaveLength(
    1 + 3,
  );
  proxy.rule = () => undefined;
  await expect(down.getManifest('esgz')).rejects.toMatchObject({ kind: 'not-found' });
});

it('says a registry refuses uploads before converting anything', async () => {
  proxy.rule = (req) => (isUpload(req) ? { type: 'status', status: 500 } : undefined);
  const down = openRegistryRepository(`${proxy.host}/conv/refusing`, {
    client,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 },
  });
  const converting: string[] = [];
  const err = await convertImage({
    src,
    srcRef: 'v1',
    dst: down,
    dstRef: 'esgz',
    progress: {
      start: (label) => converting.push(`start ${label}`),
      update: () => undefined,
      finish: (note) => converting.push(`finish ${note}`),
      log: (message) => converting.push(message),
    },
  }).catch((e: unknown) => e as Error);
  expect((err as Error).message).toMatch(
    /^cannot push to 127\.0\.0\.1:\d+\/conv\/refusing: blob upload on 127\.0\.0\.1:\d+\/conv\/refusing: server answered 500: UNAVAILABLE: injected \(gave up after 2 attempts\)$/,
  );
  expect(converting).toEqual([]);
  // Only the uploads the check opened; no blob was looked for or sent.
  const requests = proxy.log.filter((l) => l.path.includes('conv/refusing'));
  expect(requests.map((l) => l.method)).toEqual(['POST', 'POST']);
});

it('prints a warning for each retried upload from the command line', async () => {
  // The layer is small enough to travel in its closing PUT (the CLI's PATCHes are 16 MiB).
  let cut = 0;
  proxy.rule = (req) =>
    req.method === 'PUT' && isUpload(req) && cut++ === 0
      ? { type: 'reset', afterBodyBytes: 1 }
      : undefined;
  const out = await runCli([
    'convert',
    '--insecure',
    `oci:${join(dir, 'src')}:v1`,
    `${proxy.host}/conv/cli:esgz`,
  ]);
  expect(out.code).toBe(0);
  expect(out.stderr).toMatch(
    /^warning: an upload to [^ ]+\/conv\/cli failed: .*; trying again in \d+\.\d s \(attempt 2 of 3\)$/m,
  );
});
