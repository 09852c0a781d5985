// What a registry says when it refuses something reaches the user: the error codes and messages
// of its error document (distribution spec `errors[]`, S3-style XML, short text), sanitized and
// bounded, never a credential or a signed URL it may echo.
import { jest } from '@jest/globals';

import { RegistryClient } from '../../src/registry/client.ts';
import { describeErrorBody, explainCause, RegistryErrorKind } from '../../src/registry/errors.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { caught, descriptorOf } from './helpers.ts';
import { startFaultProxy, type FaultProxy } from './servers.ts';

jest.setTimeout(60_000);

let registry: RegistryFixture;
let proxy: FaultProxy;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  client = new RegistryClient({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
});

afterEach(() => {
  proxy.rule = () => undefined;
});

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
});

/** Every upload (POST, PUT, PATCH) is answered `status` with `body`. */
function refusePushes(status: number, body: string, contentType = 'application/json'): void {
  proxy.rule = (req) =>
    req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH'
      ? { type: 'status', status, body, contentType }
      : undefined;
}

const push = (repo: string) =>
  openRegistryRepository(`${proxy.host}/${repo}`, { client }).putBlob(
    Buffer.from(`blob for ${repo} ${Math.random()}`),
  );

it('names the error codes and messages of a refused push', async () => {
  refusePushes(
    403,
    '{"errors":[{"code":"DENIED","message":"quota exceeded: no space left for this repository"}]}',
  );
  const denied = await caught(() => push('quota/app'));
  expect(denied.kind).toBe(RegistryErrorKind.unauthorized);
  expect(denied.message).toMatch(
    /access denied \(403\): DENIED: quota exceeded: no space left for this repository$/,
  );

  refusePushes(
    500,
    '{"errors":[{"code":"UNKNOWN","message":"filesystem: no space left on device"}]}',
  );
  const full = await caught(() => push('full/app'));
  expect(full.message).toMatch(
    /server answered 500: UNKNOWN: filesystem: no space left on device$/,
  );

  refusePushes(413, 'request entity too large\n', 'text/plain');
  const large = await caught(() => push('large/app'));
  expect(large.message).toMatch(
    /unexpected status 413 \(Payload Too Large\): request entity too large$/,
  );
});

it("says which blob a manifest names that the registry lacks (the registry's own 400)", async () => {
  const repo = openRegistryRepository(`${registry.host}/missing/app`, { client });
  const config = Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}');
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptorOf('application/vnd.oci.image.config.v1+json', config),
    layers: [],
  };
  const err = await caught(() =>
    repo.putManifest(
      'v1',
      'application/vnd.oci.image.manifest.v1+json',
      Buffer.from(JSON.stringify(manifest)),
    ),
  );
  expect(err.message).toContain('unexpected status 400 (Bad Request): MANIFEST_BLOB_UNKNOWN');
  expect(err.message).toContain(computeDigest(config));
});

it('never repeats credentials, tokens or signatures an error document echoes', () => {
  const echoed = Buffer.from(
    JSON.stringify({
      errors: [
        {
          code: 'DENIED',
          message:
            'token Bearer abc.def-ghi rejected for https://storage.example/b?X-Amz-Signature=topsecret, password=hunter2 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig',
        },
      ],
    }),
  );
  const said = describeErrorBody(echoed)!;
  expect(said).toContain('DENIED: token Bearer <redacted>');
  for (const secret of ['abc.def-ghi', 'topsecret', 'hunter2', 'eyJhbGci']) {
    expect(said).not.toContain(secret);
  }
  // A storage backend's XML says its code and message; the rest (signed requests) stays out.
  const s3 = Buffer.from(
    '<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not match</Message><StringToSign>AWS4-HMAC-SHA256 secret</StringToSign></Error>',
  );
  expect(describeErrorBody(s3, false)).toBe('SignatureDoesNotMatch: The signature does not match');
  expect(describeErrorBody(Buffer.from('plain words from a storage backend'), false)).toBe(
    undefined,
  );
  // Bounded, on one line.
  const long = describeErrorBody(Buffer.from(`first line\n${'x'.repeat(10_000)}`))!;
  expect(long.length).toBeLessThanOrEqual(200);
  expect(long).not.toContain('\n');
});

it('explains connection failures in words, with where a CA certificate goes', () => {
  const coded = (code: string) => Object.assign(new Error(code), { code });
  expect(explainCause(coded('UND_ERR_SOCKET'), 'r:5000')).toBe(
    'the registry closed the connection mid-request (UND_ERR_SOCKET)',
  );
  expect(explainCause(coded('UND_ERR_HEADERS_TIMEOUT'), 'r:5000')).toBe(
    'the registry stopped answering (UND_ERR_HEADERS_TIMEOUT)',
  );
  expect(explainCause(coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'r:5000')).toContain(
    '/etc/containers/certs.d/r:5000/ca.crt (check-registry also takes --certs-dir)',
  );
});
