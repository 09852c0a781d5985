// Uploads through a fault-injecting proxy in front of a real registry: a blob upload or a manifest
// PUT that fails in a way another attempt may not (connection cut, 5xx, 429) starts over, up to
// the policy's attempts, from a new upload session; other 4xx answers and a source that cannot be
// read end it at once; what arrives is byte-identical.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';

import { jest } from '@jest/globals';

import { MediaTypes } from '../../src/image/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryErrorKind } from '../../src/registry/errors.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { uploadRetryPolicy } from '../../src/registry/push.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { caught, descriptorOf } from './helpers.ts';
import { startFaultProxy, type Fault, type FaultProxy } from './servers.ts';

jest.setTimeout(60_000);

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 };
const CHUNK = 64 * 1024;

let registry: RegistryFixture;
let proxy: FaultProxy;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  client = new RegistryClient();
});

afterEach(() => {
  proxy.rule = () => undefined;
});

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
});

/** A repository behind the proxy that uploads in 64 KiB PATCHes, retrying quickly. */
const repo = (name: string, retry: 'quick' | 'default' = 'quick') =>
  openRegistryRepository(`${proxy.host}/${name}`, {
    client,
    chunkSize: CHUNK,
    ...(retry === 'quick' ? { retry: FAST } : {}),
  });

/** Applies `fault` to the first `times` requests that `matches`, then forwards faithfully. */
function faultFirst(matches: (req: IncomingMessage) => boolean, fault: Fault, times = 1): void {
  let left = times;
  proxy.rule = (req) => (matches(req) && left-- > 0 ? fault : undefined);
}

const isUpload = (method: string) => (req: IncomingMessage) =>
  req.method === method && (req.url ?? '').includes('/blobs/uploads/');
const seen = (method: string, path: string) =>
  proxy.log.filter((l) => l.method === method && l.path.includes(path)).length;

/** Random bytes and a function that reads them from their start, as a file would be read. */
function blob(size: number) {
  const bytes = randomBytes(size);
  const open = () => Readable.from([bytes.subarray(0, size / 2), bytes.subarray(size / 2)]);
  return { bytes, open, expected: { digest: computeDigest(bytes), size } };
}

async function storedBytes(name: string, expected: { digest: string; size: number }) {
  const direct = openRegistryRepository(`${registry.host}/${name}`, { client });
  return buffer(await direct.openBlob({ mediaType: 'x', ...expected }));
}

it('starts a blob upload over when its connection is cut midway through a PATCH', async () => {
  const { bytes, open, expected } = blob(300_000);
  faultFirst(isUpload('PATCH'), { type: 'reset', afterBodyBytes: CHUNK / 2 });
  const before = proxy.log.length;
  const target = repo('retry/patch');
  expect(await target.putBlob(open, expected)).toEqual(expected);
  expect(target.lastPush?.via).toBe('uploaded');
  const log = proxy.log.slice(before);
  // A new session (POST) after the cut one; its PATCHes from the first byte on.
  expect(log.filter((l) => l.method === 'POST')).toHaveLength(2);
  expect(log.filter((l) => l.fault === 'reset')).toHaveLength(1);
  expect((await storedBytes('retry/patch', expected)).equals(bytes)).toBe(true);
});

it('starts over when the closing PUT is cut, and when the registry answers 503 or 429', async () => {
  for (const [name, fault] of [
    ['retry/put', { type: 'reset', afterBodyBytes: 1 }],
    ['retry/503', { type: 'status', status: 503 }],
    ['retry/429', { type: 'status', status: 429, retryAfter: '1' }],
  ] as [string, Fault][]) {
    const { bytes, open, expected } = blob(100_000);
    faultFirst(isUpload('PUT'), fault);
    const before = seen('POST', name);
    expect(await repo(name).putBlob(open, expected)).toEqual(expected);
    expect(seen('POST', name) - before).toBe(2);
    expect((await storedBytes(name, expected)).equals(bytes)).toBe(true);
  }
});

it('gives up after the default bound of attempts when the registry keeps failing', async () => {
  expect(uploadRetryPolicy.attempts).toBe(3);
  const { open, expected } = blob(100_000);
  proxy.rule = (req) => (isUpload('POST')(req) ? { type: 'status', status: 500 } : undefined);
  const err = await caught(() => repo('retry/down', 'default').putBlob(open, expected));
  expect(err.kind).toBe(RegistryErrorKind.unreachable);
  expect(err.message).toMatch(
    /^blob upload on 127\.0\.0\.1:\d+\/retry\/down: server answered 500: UNAVAILABLE: injected \(gave up after 3 attempts\)$/,
  );
  expect(seen('POST', 'retry/down')).toBe(3);
});

it('never repeats an upload the registry refused with another 4xx', async () => {
  for (const status of [400, 403, 404, 413]) {
    const name = `retry/refused-${status}`;
    const { open, expected } = blob(100_000);
    faultFirst(isUpload('PUT'), { type: 'status', status });
    const err = await caught(() => repo(name).putBlob(open, expected));
    expect(err.message).toContain(`${status}`);
    expect(err.message).not.toContain('gave up');
    expect(seen('POST', name)).toBe(1);
  }
});

it('passes a failure to read the source on as it is, without another attempt', async () => {
  const { expected } = blob(100_000);
  const unreadable = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
  const open = () =>
    new Readable({
      read() {
        this.destroy(unreadable);
      },
    });
  const err = await caught(() => repo('retry/source').putBlob(open, expected));
  expect(err).toBe(unreadable);
  expect(seen('POST', 'retry/source')).toBe(1);
  // A file that is gone fails while the upload starts, before anything reads it.
  const gone = await caught(() =>
    repo('retry/gone').putBlob(() => createReadStream('/nonexistent/blob'), expected),
  );
  expect(gone).toMatchObject({ code: 'ENOENT', path: '/nonexistent/blob' });
  expect(seen('POST', 'retry/gone')).toBe(1);
});

it('gives a stream that cannot be read again one attempt', async () => {
  const { bytes, expected } = blob(100_000);
  faultFirst(isUpload('PUT'), { type: 'reset', afterBodyBytes: 1 });
  const err = await caught(() => repo('retry/once').putBlob(Readable.from([bytes]), expected));
  expect(err.kind).toBe(RegistryErrorKind.unreachable);
  expect(seen('POST', 'retry/once')).toBe(1);
});

it('sends a manifest again when its PUT is cut or answered 502', async () => {
  const target = repo('retry/manifest');
  const config = Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}');
  await target.putBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: descriptorOf(MediaTypes.ociConfig, config),
      layers: [],
    }),
  );
  const isManifestPut = (req: IncomingMessage) =>
    req.method === 'PUT' && (req.url ?? '').includes('/manifests/');
  for (const fault of [{ type: 'reset' }, { type: 'status', status: 502 }] as Fault[]) {
    faultFirst(isManifestPut, fault);
    const before = seen('PUT', 'retry/manifest/manifests/');
    expect(await target.putManifest('v1', MediaTypes.ociManifest, manifest)).toBe(
      computeDigest(manifest),
    );
    expect(seen('PUT', 'retry/manifest/manifests/') - before).toBe(2);
  }
});
