// Authentication and TLS against real registries: htpasswd Basic, a self-signed CA via certs.d,
// and the Bearer token protocol with JWTs the registry itself verifies. Secrets never leak.
import { mkdir, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { RegistryClient } from '../../src/registry/client.ts';
import { CredentialStore } from '../../src/registry/credentials.ts';
import { RegistryErrorKind } from '../../src/registry/errors.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import type { RequestEvent } from '../../src/registry/stats.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { caught, pushTestImage, recordRequests } from './helpers.ts';
import {
  makePki,
  makeTokenSigner,
  startFaultProxy,
  startTokenServer,
  type FaultProxy,
  type TokenServer,
} from './servers.ts';

// Real registries and child processes: generous on a loaded CI machine (no timing asserted).
jest.setTimeout(60_000);

const USER = 'slip';
const PASSWORD = 'hunter2-S3cret-pw';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('registry-auth');
});
afterAll(async () => {
  await removeDir(dir);
});

/** Nothing the client reports may contain the password or its Basic encoding. */
function expectNoSecrets(texts: string[], extra: string[] = []): void {
  for (const text of texts) {
    for (const secret of [PASSWORD, BASIC, ...extra]) expect(text).not.toContain(secret);
  }
}

describe('htpasswd Basic auth', () => {
  let registry: RegistryFixture;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
  });
  afterAll(async () => registry?.stop());

  it('pushes and resolves with credentials from an auth.json file', async () => {
    const authFile = join(dir, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth: BASIC } } }));
    const credentials = new CredentialStore();
    await credentials.addAuthFile(authFile);
    const client = new RegistryClient({ credentials });
    const events = recordRequests(client);
    try {
      const repo = openRegistryRepository(`${registry.host}/private/app`, { client });
      const image = await pushTestImage(repo, 'v1', [10_000]);
      const resolved = await client.resolve(`${registry.host}/private/app:v1`);
      expect(resolved.manifestDigest).toBe(image.manifestDigest);
      const blob = resolved.openBlob(resolved.layers[0]);
      expect((await blob.readRange(100, 200)).equals(image.layers[0].subarray(100, 200))).toBe(
        true,
      );
      expect(client.session(registry.host, 'private/app').authMethod).toBe('basic');
      expectNoSecrets([JSON.stringify(events.stop())]);
    } finally {
      await client.close();
    }
  });

  it('fails with a typed, secret-free error for missing or wrong credentials', async () => {
    const anonymous = new RegistryClient();
    const wrongCreds = new CredentialStore();
    wrongCreds.addCredential(registry.host, { username: USER, password: `${PASSWORD}-wrong` });
    const wrong = new RegistryClient({ credentials: wrongCreds });
    const wrongEvents = recordRequests(wrong);
    try {
      const none = await caught(() => anonymous.resolve(`${registry.host}/private/app:v1`));
      expect(none.kind).toBe(RegistryErrorKind.unauthorized);
      expect(none.message).toMatch(/username and password/);
      const bad = await caught(() => wrong.resolve(`${registry.host}/private/app:v1`));
      expect(bad.kind).toBe(RegistryErrorKind.unauthorized);
      expectNoSecrets(
        [bad.message, String(bad.stack), JSON.stringify(bad), JSON.stringify(wrongEvents.stop())],
        [`${PASSWORD}-wrong`],
      );
    } finally {
      await anonymous.close();
      await wrong.close();
    }
  });
});

describe('TLS with a self-signed CA', () => {
  let registry: RegistryFixture;
  let certsDir: string;
  beforeAll(async () => {
    const pki = await makePki(join(dir, 'pki'));
    registry = await startRegistry({ tls: { certFile: pki.certFile, keyFile: pki.keyFile } });
    certsDir = join(dir, 'certs.d');
    await mkdir(join(certsDir, registry.host), { recursive: true });
    await copyFile(pki.caFile, join(certsDir, registry.host, 'ca.crt'));
  });
  afterAll(async () => registry?.stop());

  it('trusts certs.d/<host>/ca.crt and refuses the server without it', async () => {
    const trusted = new RegistryClient({ certsDirs: [certsDir] });
    const untrusted = new RegistryClient({ certsDirs: [join(dir, 'empty')] });
    const insecure = new RegistryClient({ certsDirs: [], insecure: [registry.host] });
    try {
      const repo = openRegistryRepository(`${registry.host}/tls/app`, { client: trusted });
      const image = await pushTestImage(repo, 'v1', [5_000]);
      const resolved = await trusted.resolve(`${registry.host}/tls/app:v1`);
      expect(resolved.manifestDigest).toBe(image.manifestDigest);
      const refused = await caught(() => untrusted.resolve(`${registry.host}/tls/app:v1`));
      expect(refused.kind).toBe(RegistryErrorKind.unreachable);
      // Configured insecure: unverified TLS is allowed.
      expect((await insecure.resolve(`${registry.host}/tls/app:v1`)).manifestDigest).toBe(
        image.manifestDigest,
      );
    } finally {
      await Promise.all([trusted.close(), untrusted.close(), insecure.close()]);
    }
  });
});

describe('Bearer token protocol', () => {
  let registry: RegistryFixture;
  let tokens: TokenServer;
  let proxy: FaultProxy;
  const service = 'slipstream-test-registry';

  beforeAll(async () => {
    const signer = await makeTokenSigner(join(dir, 'token'));
    tokens = await startTokenServer({
      service,
      issuer: 'slipstream-test-issuer',
      signer,
      users: { [USER]: PASSWORD },
      refreshTokens: { 'refresh-secret-token': USER },
    });
    registry = await startRegistry({
      token: {
        realm: tokens.realm,
        service,
        issuer: 'slipstream-test-issuer',
        rootCertBundle: signer.certFile,
      },
    });
    proxy = await startFaultProxy(registry.host);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await tokens?.stop();
  });

  function credentialsFor(host: string): CredentialStore {
    const store = new CredentialStore();
    store.addCredential(host, { username: USER, password: PASSWORD });
    return store;
  }

  it('gets one token per scope and reuses it for many reads', async () => {
    const client = new RegistryClient({ credentials: credentialsFor(registry.host) });
    try {
      const repo = openRegistryRepository(`${registry.host}/tok/app`, { client });
      const image = await pushTestImage(repo, 'v1', [100_000]);
      const before = tokens.requests.length;
      const resolved = await client.resolve(`${registry.host}/tok/app:v1`);
      const blob = resolved.openBlob(resolved.layers[0]);
      const reads = await Promise.all(
        Array.from({ length: 20 }, (_, i) => blob.readRange(i * 1000, i * 1000 + 500)),
      );
      reads.forEach((r, i) =>
        expect(r.equals(image.layers[0].subarray(i * 1000, i * 1000 + 500))).toBe(true),
      );
      const pullTokens = tokens.requests.slice(before);
      expect(pullTokens).toEqual([
        { method: 'GET', user: USER, scopes: ['repository:tok/app:pull'], status: 200 },
      ]);
      expect(client.session(registry.host, 'tok/app').authMethod).toBe('bearer');
    } finally {
      await client.close();
    }
  });

  it('authenticates with an identity token (OAuth2 refresh-token grant)', async () => {
    const store = new CredentialStore();
    store.addCredential(registry.host, { identityToken: 'refresh-secret-token' });
    const client = new RegistryClient({ credentials: store });
    try {
      const resolved = await client.resolve(`${registry.host}/tok/app:v1`);
      expect(resolved.layers).toHaveLength(1);
      expect(tokens.requests.at(-1)).toMatchObject({ method: 'POST', user: USER });
    } finally {
      await client.close();
    }
  });

  it('refuses anonymous access with a typed error that says no credentials are configured', async () => {
    const client = new RegistryClient();
    try {
      const err = await caught(() => client.resolve(`${registry.host}/tok/app:v1`));
      expect(err.kind).toBe(RegistryErrorKind.unauthorized);
      expect(err.message).toContain('no credentials are configured');
      expect(err.message).not.toContain('refused the credentials');
    } finally {
      await client.close();
    }
  });

  it('refreshes once, with jitter, when the token expires under many readers (401)', async () => {
    const client = new RegistryClient({
      credentials: credentialsFor(proxy.host),
      refreshJitterMs: 50,
    });
    const events: RequestEvent[] = [];
    client.stats.on('request', (e) => events.push(e));
    try {
      const resolved = await client.resolve(`${proxy.host}/tok/app:v1`);
      const blob = resolved.openBlob(resolved.layers[0]);
      const before = tokens.requests.length;
      // From now on the registry refuses the token every reader holds (as when it expires):
      // the first blob request shows which token that is.
      let stale: string | undefined;
      proxy.rule = (req) => {
        if (!req.url?.includes('/blobs/')) return undefined;
        stale ??= req.headers.authorization;
        return req.headers.authorization === stale ? { type: 'unauthorized' } : undefined;
      };
      const reads = await Promise.all(
        Array.from({ length: 10 }, (_, i) => blob.readRange(i * 100, i * 100 + 100)),
      );
      const whole = await blob.readAll();
      reads.forEach((r, i) => expect(r.equals(whole.subarray(i * 100, i * 100 + 100))).toBe(true));
      expect(proxy.log.filter((l) => l.fault === 'unauthorized').length).toBeGreaterThanOrEqual(1);
      // However many readers saw the token refused, one token request replaced it for all.
      expect(tokens.requests.length - before).toBe(1);
      expectNoSecrets([JSON.stringify(events)]);
    } finally {
      proxy.rule = () => undefined;
      await client.close();
    }
  });

  it('blob pushes ask for push scope and read the layer back by digest', async () => {
    const client = new RegistryClient({ credentials: credentialsFor(registry.host) });
    try {
      const repo = openRegistryRepository(`${registry.host}/tok/pushed`, {
        client,
        mountFrom: ['tok/app'],
      });
      const data = Buffer.from('pushed through bearer auth');
      await repo.putBlob(data);
      expect(
        tokens.requests.some((r) => r.scopes.includes('repository:tok/pushed:pull,push')),
      ).toBe(true);
      expect(await repo.hasBlob({ digest: computeDigest(data), size: data.length })).toBe(true);

      // A layer of tok/app is mounted, not uploaded; the token covers pull on the source repo.
      const source = await client.resolve(`${registry.host}/tok/app:v1`);
      const layer = await source.openBlob(source.layers[0]).readAll();
      await repo.putBlob(layer, { digest: source.layers[0].digest, size: layer.length });
      expect(repo.lastPush?.via).toBe('mounted');
      expect(tokens.requests.map((r) => r.scopes)).toContainEqual([
        'repository:tok/pushed:pull,push',
        'repository:tok/app:pull',
      ]);
    } finally {
      await client.close();
    }
  });

  it('refreshes a token before it expires (jittered), without waiting for a 401', async () => {
    const signer = await makeTokenSigner(join(dir, 'token-short'));
    const shortTokens = await startTokenServer({
      service,
      issuer: 'slipstream-test-issuer',
      signer,
      users: { [USER]: PASSWORD },
      ttlSeconds: 1,
    });
    const shortRegistry = await startRegistry({
      token: {
        realm: shortTokens.realm,
        service,
        issuer: 'slipstream-test-issuer',
        rootCertBundle: signer.certFile,
      },
    });
    const client = new RegistryClient({ credentials: credentialsFor(shortRegistry.host) });
    const seen = recordRequests(client);
    try {
      const repo = openRegistryRepository(`${shortRegistry.host}/short/app`, { client });
      await pushTestImage(repo, 'v1', [1000]);
      await client.resolve(`${shortRegistry.host}/short/app:v1`);
      const before = shortTokens.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // the 1 s token is now stale
      await client.resolve(`${shortRegistry.host}/short/app:v1`);
      expect(shortTokens.requests.length - before).toBe(1);
      // Only the very first contact was challenged: the registry (60 s leeway) never had to
      // refuse the old token.
      expect(seen.stop().filter((e) => e.status === 401)).toHaveLength(1);
    } finally {
      await client.close();
      await shortRegistry.stop();
      await shortTokens.stop();
    }
  });
});
