// Images, registries and auth files met in the wild, against a real docker-registry: an OCI
// index whose entry names no platform (containers/image pulls it; so must we), an index without
// the node's platform (the error says what it has), a registry that redirects manifest requests
// to another host, a manifest without mediaType sent as application/json, and a docker config.json whose secrets live in a `credsStore` helper
// (reported as such, not as "no credentials configured").
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

import { jest } from '@jest/globals';

import { MediaTypes } from '../../src/image/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { CredentialStore } from '../../src/registry/credentials.ts';
import { RegistryErrorKind } from '../../src/registry/errors.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { caught, descriptorOf, pushTestImage, type TestImage } from './helpers.ts';
import { makePki } from './servers.ts';

jest.setTimeout(60_000);

let registry: RegistryFixture;
let client: RegistryClient;
let image: TestImage;
const amd64 = { os: 'linux', architecture: 'amd64' };

beforeAll(async () => {
  registry = await startRegistry();
  client = new RegistryClient();
  const repo = openRegistryRepository(`${registry.host}/odd/app`, { client });
  image = await pushTestImage(repo, undefined, [2000]);
  const entry = descriptorOf(MediaTypes.ociManifest, image.manifestBytes);
  const index = (manifests: object[]) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }));
  await repo.putManifest('no-platform', MediaTypes.ociIndex, index([entry]));
  await repo.putManifest(
    'elsewhere',
    MediaTypes.ociIndex,
    index([
      { ...entry, platform: { os: 'linux', architecture: 's390x' } },
      { ...entry, platform: { os: 'windows', architecture: 'amd64' } },
    ]),
  );
});

afterAll(async () => {
  await client?.close();
  await registry?.stop();
});

it('takes the index entry that names no platform, as containers/image does', async () => {
  const resolved = await client.resolve(`${registry.host}/odd/app:no-platform`, {
    platform: amd64,
  });
  expect(resolved.manifestDigest).toBe(image.manifestDigest);
  expect(resolved.indexDigest).toBeDefined();
});

it('names the platforms an index has when the node platform is not among them', async () => {
  const err = await caught(() =>
    client.resolve(`${registry.host}/odd/app:elsewhere`, { platform: amd64 }),
  );
  expect(err.kind).toBe(RegistryErrorKind.notFound);
  expect(err.message).toContain('has no manifest for platform linux/amd64');
  expect(err.message).toContain('(it has linux/s390x, windows/amd64)');
});

it('follows a registry that redirects its manifest requests to another host', async () => {
  // Like registry.k8s.io, which answers every /v2/ request with a redirect to a regional
  // registry: here a front server on another port sends everything to the real registry.
  const front = createServer((req, res) => {
    res.writeHead(307, { location: `${registry.url}${req.url}` }).end();
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const c = new RegistryClient();
  try {
    const { port } = front.address() as AddressInfo;
    const resolved = await c.resolve(`127.0.0.1:${port}/odd/app@${image.manifestDigest}`, {
      platform: amd64,
    });
    expect(resolved.manifestDigest).toBe(image.manifestDigest);
    const layer = resolved.layers[0];
    expect((await resolved.openBlob(layer).readAll()).equals(image.layers[0])).toBe(true);
  } finally {
    await c.close();
    await new Promise((resolve) => front.close(resolve));
  }
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * One port, both protocols (sniffed from the first byte), trusted through certs.d: `secure`
 * answers https, `plain` answers http. Credentials for the host are configured.
 */
async function dualProtocolRegistry(secure: Handler, plain: Handler) {
  const dir = await makeTempDir('downgrade');
  const pki = await makePki(join(dir, 'pki'));
  const tlsServer = createHttpsServer(
    { cert: await readFile(pki.certFile), key: await readFile(pki.keyFile) },
    secure,
  );
  const plainServer = createServer(plain);
  const front = createNetServer((socket) => {
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) return void socket.destroy();
      socket.unshift(first);
      (first[0] === 0x16 ? tlsServer : plainServer).emit('connection', socket);
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(front.address() as AddressInfo).port}`;
  await mkdir(join(dir, 'certs.d', host), { recursive: true });
  await writeFile(join(dir, 'certs.d', host, 'ca.crt'), await readFile(pki.caFile));
  const credentials = new CredentialStore();
  credentials.addCredential(host, { username: 'u', password: 'never-over-http' });
  const c = new RegistryClient({ credentials, certsDirs: [join(dir, 'certs.d')] });
  return {
    host,
    client: c,
    stop: async () => {
      await c.close();
      await new Promise((resolve) => front.close(resolve));
      await removeDir(dir);
    },
  };
}

/** The https side: Basic auth first, then `then`. */
const basicThen =
  (then: Handler): Handler =>
  (req, res) => {
    if (!req.headers.authorization) {
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    }
    then(req, res);
  };

const httpUrl = (req: IncomingMessage, path: string) =>
  `http://127.0.0.1:${((req.socket as TLSSocket).address() as AddressInfo).port}${path}`;

it('sends no credentials when a manifest redirect downgrades to plain http on the same host', async () => {
  const seen: (string | undefined)[] = [];
  const server = await dualProtocolRegistry(
    basicThen((req, res) => {
      if (req.url!.includes('/blobs/')) {
        return void res.writeHead(307, { location: `${registry.url}${req.url}` }).end();
      }
      res.writeHead(307, { location: httpUrl(req, `${req.url}?redirected=1`) }).end();
    }),
    (req, res) => {
      if (!req.url!.includes('redirected=1')) return void res.writeHead(400).end();
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': MediaTypes.ociManifest }).end(image.manifestBytes);
    },
  );
  try {
    const resolved = await server.client.resolve(`${server.host}/odd/app@${image.manifestDigest}`, {
      platform: amd64,
    });
    expect(resolved.manifestDigest).toBe(image.manifestDigest);
    expect(seen).toEqual([undefined]);
  } finally {
    await server.stop();
  }
});

it('sends no credentials to an upload Location that downgrades to plain http', async () => {
  const seen: (string | undefined)[] = [];
  const server = await dualProtocolRegistry(
    basicThen((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      res.writeHead(202, { location: httpUrl(req, '/upload/1?redirected=1') }).end();
    }),
    (req, res) => {
      if (!req.url!.includes('redirected=1')) return void res.writeHead(400).end();
      seen.push(req.headers.authorization);
      req.resume();
      req.on('end', () => res.writeHead(201).end());
    },
  );
  try {
    const repo = openRegistryRepository(`${server.host}/odd/push`, { client: server.client });
    await repo.putBlob(Buffer.from('layer bytes'));
    expect(seen).toEqual([undefined]);
  } finally {
    await server.stop();
  }
});

it('recognises an OCI manifest without mediaType served as application/json', async () => {
  // OCI manifests may omit mediaType; a static or caching server may not know the type either.
  const { mediaType: _omitted, ...bare } = image.manifest;
  const bytes = Buffer.from(JSON.stringify(bare));
  const digest = computeDigest(bytes);
  const front = createServer((req, res) => {
    if (req.url === `/v2/odd/app/manifests/${digest}`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(bytes);
    } else {
      res.writeHead(307, { location: `${registry.url}${req.url}` }).end();
    }
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const c = new RegistryClient();
  try {
    const { port } = front.address() as AddressInfo;
    const resolved = await c.resolve(`127.0.0.1:${port}/odd/app@${digest}`, { platform: amd64 });
    expect(resolved.manifestMediaType).toBe(MediaTypes.ociManifest);
    expect(resolved.layers).toHaveLength(1);
  } finally {
    await c.close();
    await new Promise((resolve) => front.close(resolve));
  }
});

it('reports credentials held in a docker credsStore as a helper it cannot run', async () => {
  const secured = await startRegistry({ htpasswd: { username: 'u', password: 'pw-in-store' } });
  const dir = await makeTempDir('creds-store');
  try {
    // What `docker login` writes when Docker Desktop or pass keeps the secret.
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ auths: { [secured.host]: {} }, credsStore: 'desktop' }));
    const credentials = await CredentialStore.fromFiles([file]);
    expect(credentials.warnings.join('\n')).toContain('docker-credential-desktop');
    const c = new RegistryClient({ credentials });
    try {
      const err = await caught(() => c.resolve(`${secured.host}/p/app:v1`, { platform: amd64 }));
      expect(err.kind).toBe(RegistryErrorKind.unauthorized);
      expect(err.message).toContain('credential helper "docker-credential-desktop"');
    } finally {
      await c.close();
    }
  } finally {
    await secured.stop();
    await removeDir(dir);
  }
});
