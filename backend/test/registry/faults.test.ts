// Failure injection between the client and a real registry: each fault ends in a retry that
// succeeds or in a clear typed error within the deadline, and no wrong byte is ever returned.
import { buffer } from 'node:stream/consumers';

import { jest } from '@jest/globals';

import { RegistryClient } from '../../src/registry/client.ts';
import { CredentialStore } from '../../src/registry/credentials.ts';
import { RegistryErrorKind } from '../../src/registry/errors.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { waitFor } from '../support/tmp.ts';
import { caught, pushTestImage, recordRequests, type TestImage } from './helpers.ts';
import { startFaultProxy, type Fault, type FaultProxy } from './servers.ts';

// Real registries and child processes: generous on a loaded CI machine (no timing asserted).
jest.setTimeout(60_000);

const USER = 'faulty';
const PASSWORD = 'pa55-for-faults';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const BIG = 4 << 20;

let registry: RegistryFixture;
let proxy: FaultProxy;
let image: TestImage;
let client: RegistryClient;
let layer: Buffer;
let desc: { digest: string; size: number };

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
  proxy = await startFaultProxy(registry.host, BASIC);
  const credentials = new CredentialStore();
  credentials.addCredential(proxy.host, { username: USER, password: PASSWORD });
  client = new RegistryClient({
    credentials,
    firstByteTimeoutMs: 1_500,
    timeoutMs: 30_000,
    retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 100 },
  });
  image = await pushTestImage(
    openRegistryRepository(`${proxy.host}/faults/app`, { client }),
    'v1',
    [BIG],
  );
  layer = image.layers[0]!;
  desc = { digest: computeDigest(layer), size: layer.length };
});

afterEach(() => {
  proxy.rule = () => undefined;
});

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
});

/** Applies `fault` to the first `times` blob GETs, then forwards faithfully. */
function faultBlobGets(fault: Fault, times = 1): void {
  let left = times;
  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/') && left-- > 0 ? fault : undefined;
}

/** A client of its own for the proxy, with the credentials and `options`. */
function clientWith(options: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient {
  const credentials = new CredentialStore();
  credentials.addCredential(proxy.host, { username: USER, password: PASSWORD });
  return new RegistryClient({ credentials, ...options });
}

/** A private reader per use (options make it private): no redirect or capability carried over. */
const blob = () => client.openBlob(`${proxy.host}/faults/app`, desc, { timeoutMs: 30_000 });
const faultsSeen = (type: Fault['type']) => proxy.log.filter((l) => l.fault === type).length;

it('keeps connections alive and never opens more than the per-host cap', async () => {
  const capped = clientWith({ maxConnectionsPerHost: 2 });
  try {
    const reader = capped.openBlob(`${proxy.host}/faults/app`, desc);
    const before = proxy.log.length;
    for (let round = 0; round < 2; round++) {
      const reads = Array.from({ length: 16 }, (_, i) => i * 10_000 + round);
      const parts = await Promise.all(reads.map((o) => reader.readRange(o, o + 1000)));
      parts.forEach((p, i) =>
        expect(p.equals(layer.subarray(reads[i], reads[i] + 1000))).toBe(true),
      );
    }
    const ports = new Set(proxy.log.slice(before).map((l) => l.clientPort));
    expect(proxy.log.length - before).toBeGreaterThanOrEqual(32);
    expect(ports.size).toBeLessThanOrEqual(2);
  } finally {
    await capped.close();
  }
});

it('retries a range whose connection drops mid-body', async () => {
  faultBlobGets({ type: 'drop-mid-body' });
  const data = await blob().readRange(1000, 1_001_000);
  expect(data.equals(layer.subarray(1000, 1_001_000))).toBe(true);
  expect(faultsSeen('drop-mid-body')).toBeGreaterThanOrEqual(1);
});

it('resumes a streamed blob from the last byte after a drop, digest-checked', async () => {
  faultBlobGets({ type: 'drop-mid-body' });
  const before = proxy.log.length;
  const data = await buffer(blob().openStream());
  expect(data.equals(layer)).toBe(true);
  const ranges = proxy.log.slice(before).map((l) => l.range);
  expect(ranges[0]).toBeUndefined();
  expect(ranges[1]).toMatch(/^bytes=\d+-$/);
});

it('streams a blob whole over a link that cuts every connection, as long as each gets somewhere', async () => {
  // 600 kB per connection: 7 resumes for the 4 MiB blob, more than a fixed budget of 5 allowed.
  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/')
      ? { type: 'drop-after', bytes: 600_000 }
      : undefined;
  const before = faultsSeen('drop-after');
  const body = await buffer(blob().openStream());
  expect(body.equals(layer)).toBe(true);
  expect(faultsSeen('drop-after') - before).toBeGreaterThanOrEqual(7);
});

it('resumes a stream that trickles on a new connection, and gives up when every one does', async () => {
  const slowest = { windowMs: 500, bytes: 64 * 1024 };
  faultBlobGets({ type: 'trickle', bytesPerSecond: 20_000 }, 1);
  const body = await buffer(blob().openStream({ slowest }));
  expect(body.equals(layer)).toBe(true);

  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/')
      ? { type: 'trickle', bytesPerSecond: 20_000 }
      : undefined;
  const before = faultsSeen('trickle');
  await expect(buffer(blob().openStream({ slowest }))).rejects.toThrow(/too slow/);
  // Five fruitless connections in a row, then the stream fails.
  expect(faultsSeen('trickle') - before).toBe(5);
});

it('retries after a slow first byte', async () => {
  faultBlobGets({ type: 'slow-first-byte', delayMs: 5_000 });
  expect((await blob().readRange(0, 4096)).equals(layer.subarray(0, 4096))).toBe(true);
});

it('retries on a new connection when the idle ones it had died without a reset', async () => {
  const credentials = new CredentialStore();
  credentials.addCredential(proxy.host, { username: USER, password: PASSWORD });
  const own = new RegistryClient({
    credentials,
    firstByteTimeoutMs: 1_000,
    retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100 },
  });
  try {
    const read = (at: number) =>
      own
        .openBlob(`${proxy.host}/faults/app`, desc, { timeoutMs: 30_000 })
        .readRange(at, at + 4096);
    // Four connections in the pool (four different ranges at once), idle after their reads.
    await Promise.all([0, 1, 2, 3].map((i) => read(i * 4096)));
    const before = new Set(proxy.connections);
    expect(new Set(proxy.log.slice(-4).map((l) => l.clientPort)).size).toBeGreaterThanOrEqual(3);
    // A NAT or load balancer drops them all silently: requests on them are never answered.
    proxy.rule = (req) =>
      before.has(req.socket.remotePort ?? -1)
        ? { type: 'slow-first-byte', delayMs: 60_000 }
        : undefined;
    const logged = proxy.log.length;
    expect((await read(8192)).equals(layer.subarray(8192, 8192 + 4096))).toBe(true);
    // One request waited out its first-byte timeout; the retry went out on a new connection (the
    // timed-out client reconnects), not to the next dead idle one: a lookup pays one timeout.
    const sent = proxy.log.slice(logged);
    expect(sent.filter((l) => before.has(l.clientPort ?? -1))).toHaveLength(1);
    expect(sent).toHaveLength(2);
  } finally {
    await own.close();
  }
});

it('retries 500s with backoff and gives up with a typed error when they persist', async () => {
  faultBlobGets({ type: 'status', status: 500 }, 2);
  expect((await blob().readSuffix(51)).equals(layer.subarray(BIG - 51))).toBe(true);
  faultBlobGets({ type: 'status', status: 503 }, 1000);
  const err = await caught(() => blob().readRange(0, 10));
  expect(err.kind).toBe(RegistryErrorKind.unreachable);
  expect(err.message).toMatch(/503/);
});

it('honours 429 Retry-After: waits when the deadline allows, gives up at once when not', async () => {
  faultBlobGets({ type: 'status', status: 429, retryAfter: '1' });
  const seen = recordRequests(client);
  expect((await blob().readRange(42, 84)).equals(layer.subarray(42, 84))).toBe(true);
  expect(seen.stop().map((e) => e.status)).toEqual([429, 206]);

  // Asked to come back after the deadline: no retry (a backoff retry would have succeeded).
  faultBlobGets({ type: 'status', status: 429, retryAfter: '30' });
  const before = proxy.log.length;
  const err = await caught(() => blob().readRange(42, 84, { timeoutMs: 5_000 }));
  expect(err.kind).toBe(RegistryErrorKind.unreachable);
  expect(err.message).toMatch(/429/);
  expect(proxy.log.length - before).toBe(1);
});

it('says so when a proxy compresses the blob', async () => {
  faultBlobGets({ type: 'gzip-body' }, 1000);
  const err = await caught(() => blob().readRange(1000, 2000));
  expect(err.message).toMatch(/Content-Encoding gzip although identity was asked/);
  // Once it stops: the right bytes.
  proxy.rule = () => undefined;
  expect((await blob().readRange(1000, 2000)).equals(layer.subarray(1000, 2000))).toBe(true);
});

it('never returns bytes under a wrong Content-Range', async () => {
  faultBlobGets({ type: 'wrong-content-range' });
  expect((await blob().readRange(500, 600)).equals(layer.subarray(500, 600))).toBe(true);
  faultBlobGets({ type: 'wrong-content-range' }, 1000);
  const err = await caught(() => blob().readRange(700, 800));
  expect(err.kind).toBe(RegistryErrorKind.protocol);
  expect(err.message).toMatch(/Content-Range/);
});

it('abandons a 200 answer to a range request instead of downloading the blob', async () => {
  faultBlobGets({ type: 'ignore-range' }, 1000);
  const seen = recordRequests(client);
  const err = await caught(() => blob().readRange(10, 20));
  expect(err.kind).toBe(RegistryErrorKind.noRangeSupport);
  const ranges = seen.stop().filter((e) => e.purpose === 'blob-range');
  // Asked twice (a proxy may answer one request whole), then given up: the runtime pulls.
  expect(ranges).toHaveLength(2);
  expect(ranges.reduce((n, e) => n + e.bytes, 0)).toBeLessThan(BIG / 2);
});

it('asks again when one range request was answered whole', async () => {
  faultBlobGets({ type: 'ignore-range' }, 1);
  const before = faultsSeen('ignore-range');
  expect((await blob().readRange(10, 20)).equals(layer.subarray(10, 20))).toBe(true);
  expect(faultsSeen('ignore-range') - before).toBe(1);
});

it('falls back to single ranges when multi-range is refused, and remembers it', async () => {
  proxy.rule = (req) =>
    req.headers.range?.includes(',') ? { type: 'status', status: 400 } : undefined;
  const before = proxy.log.length;
  const ranges = [
    { start: 0, end: 10 },
    { start: 5000, end: 6000 },
    { start: BIG - 10, end: BIG },
  ];
  const parts = await blob().readRanges(ranges);
  ranges.forEach((r, i) => expect(parts[i].equals(layer.subarray(r.start, r.end))).toBe(true));
  await blob().readRanges(ranges);
  const multi = proxy.log.slice(before).filter((l) => l.range?.includes(','));
  expect(multi).toHaveLength(1);
});

it('follows redirects without credentials, reuses them, and re-resolves when they expire', async () => {
  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/') ? { type: 'redirect' } : undefined;
  const reader = blob();
  const before = proxy.log.length;
  expect((await reader.readRange(0, 100)).equals(layer.subarray(0, 100))).toBe(true);
  expect((await reader.readRange(100, 200)).equals(layer.subarray(100, 200))).toBe(true);
  let lines = proxy.log.slice(before);
  expect(lines.map((l) => (l.path.startsWith('/signed/') ? 'storage' : 'registry'))).toEqual([
    'registry',
    'storage',
    'storage',
  ]);
  expect(lines.filter((l) => l.path.startsWith('/signed/') && l.authorization)).toHaveLength(0);

  proxy.expireRedirects();
  const mark = proxy.log.length;
  expect((await reader.readRange(200, 300)).equals(layer.subarray(200, 300))).toBe(true);
  lines = proxy.log.slice(mark);
  expect(lines.map((l) => (l.path.startsWith('/signed/') ? 'storage' : 'registry'))).toEqual([
    'storage',
    'registry',
    'storage',
  ]);
});

it('asks the registry again when the storage it redirected to stalls', async () => {
  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/') ? { type: 'redirect' } : undefined;
  const reader = blob();
  expect((await reader.readRange(0, 100)).equals(layer.subarray(0, 100))).toBe(true);
  // The cached URL has not expired, but its storage node no longer answers.
  proxy.stallRedirects();
  const mark = proxy.log.length;
  expect((await reader.readRange(100, 200)).equals(layer.subarray(100, 200))).toBe(true);
  // One stalled attempt (its first-byte timeout), then the registry and its new target.
  const lines = proxy.log.slice(mark);
  expect(lines.map((l) => (l.path.startsWith('/signed/') ? 'storage' : 'registry'))).toEqual([
    'storage',
    'registry',
    'storage',
  ]);
});

it('asks the registry again when the storage it redirected to no longer honours Range', async () => {
  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/') ? { type: 'redirect' } : undefined;
  const reader = blob();
  expect((await reader.readRange(0, 100)).equals(layer.subarray(0, 100))).toBe(true);
  // The cached URL now leads somewhere that answers whole (or redirects again): not reused.
  proxy.expireRedirectsAs(200);
  let mark = proxy.log.length;
  expect((await reader.readRange(100, 200)).equals(layer.subarray(100, 200))).toBe(true);
  const where = (from: number) =>
    proxy.log.slice(from).map((l) => (l.path.startsWith('/signed/') ? 'storage' : 'registry'));
  expect(where(mark)).toEqual(['storage', 'registry', 'storage']);
  proxy.expireRedirectsAs(307);
  mark = proxy.log.length;
  expect((await reader.readRange(200, 300)).equals(layer.subarray(200, 300))).toBe(true);
  expect(where(mark)).toEqual(['storage', 'registry', 'storage']);
});

it('ends a hopeless read at its deadline with a typed error', async () => {
  faultBlobGets({ type: 'slow-first-byte', delayMs: 30_000 }, 1000);
  const err = await caught(() => blob().readRange(0, 10, { timeoutMs: 4_000 }));
  expect([RegistryErrorKind.timeout, RegistryErrorKind.unreachable]).toContain(err.kind);
});

it('stops when the caller aborts', async () => {
  faultBlobGets({ type: 'slow-first-byte', delayMs: 30_000 }, 1000);
  const controller = new AbortController();
  const read = caught(() => blob().readRange(0, 10, { signal: controller.signal }));
  setTimeout(() => controller.abort(), 50);
  expect((await read).kind).toBe(RegistryErrorKind.aborted);
});

it('a separate read does not join an identical one in flight: it overtakes a held request', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  proxy.rule = (req) =>
    req.method === 'GET' && req.headers.authorization && req.headers.range === 'bytes=4096-8191'
      ? { type: 'hold', until: held }
      : undefined;
  // Patient with a first byte (this file's client gives up after 1.5 s and asks again, and the
  // read joined then would get its answer from that second request).
  const patient = clientWith({ firstByteTimeoutMs: 60_000 });
  const reader = patient.openBlob(`${proxy.host}/faults/app`, desc, { timeoutMs: 60_000 });
  const controller = new AbortController();
  // Settled whatever happens: a failed assertion must not leave a rejection for a later suite.
  const stuck = reader
    .readRange(4096, 8192, { signal: controller.signal })
    .catch((e: unknown) => e);
  await waitFor('the first request held', () =>
    Promise.resolve(proxy.log.some((l) => l.fault === 'hold')),
  );
  proxy.rule = () => undefined; // what comes next is answered
  const joined = reader.readRange(4096, 8192).catch((e: unknown) => e); // shares the held one...
  // ...this one does not: it is answered while the first is still held (joining would wait).
  const overtaking = await reader.readRange(4096, 8192, { separate: true });
  expect(overtaking.equals(layer.subarray(4096, 8192))).toBe(true);
  expect(proxy.log.filter((l) => l.fault === 'hold')).toHaveLength(1);
  release();
  expect(((await joined) as Buffer).equals(overtaking)).toBe(true);
  controller.abort();
  await stuck;
  await patient.close();
});

it('keeps secrets out of every error and stats event', async () => {
  const seen = recordRequests(client);
  faultBlobGets({ type: 'status', status: 500 }, 1000);
  const err = await caught(() => blob().readRange(0, 10));
  proxy.rule = (req) =>
    req.method === 'GET' && req.url?.includes('/blobs/') ? { type: 'redirect' } : undefined;
  await blob().readRange(0, 10);
  proxy.expireRedirects();
  proxy.rule = () => ({ type: 'status', status: 500 });
  const err2 = await caught(() => blob().readRange(0, 10));
  const texts = [err.message, String(err.stack), err2.message, JSON.stringify(seen.stop())];
  for (const t of texts) {
    expect(t).not.toContain(PASSWORD);
    expect(t).not.toContain(BASIC.slice(6));
    expect(t).not.toContain('topsecretsignature');
  }
});
