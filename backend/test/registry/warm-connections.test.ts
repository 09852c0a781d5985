// Connections opened ahead of a lookup's burst of requests (RegistryClient.preconnect): they are
// made before any request, the requests then use them instead of dialling, and the ones nobody
// uses, or that the server closed meanwhile, are never handed out.
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { Agent, buildConnector, request } from 'undici';

import { RegistryClient } from '../../src/registry/client.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { WarmConnections } from '../../src/registry/warm-connections.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeServerCert } from '../support/tls.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';
import { pushTestImage, type TestImage } from './helpers.ts';
import { startFaultProxy, type FaultProxy } from './servers.ts';

let dir: string;
let registry: RegistryFixture;
let proxy: FaultProxy;
let image: TestImage;

beforeAll(async () => {
  dir = await makeTempDir('warm');
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  const pusher = new RegistryClient({ insecure: [proxy.host] });
  try {
    const repo = openRegistryRepository(`${proxy.host}/warm/app`, { client: pusher });
    image = await pushTestImage(repo, 'v1', [300_000]);
  } finally {
    await pusher.close();
  }
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (dir) await removeDir(dir);
});

it('a first lookup: connections open before any request, and the requests use them', async () => {
  const client = new RegistryClient({ insecure: [proxy.host] });
  try {
    proxy.connections.length = 0;
    proxy.log.length = 0;
    expect(client.rttMs(`${proxy.host}/warm/app:v1`)).toBeUndefined();
    client.preconnect(`${proxy.host}/warm/app:v1`, 6);
    await waitFor('connections', () => Promise.resolve(proxy.connections.length === 6), 5_000, 10);
    // A loopback registry is near however long this thread took to notice its handshakes.
    await waitFor('an estimate', () =>
      Promise.resolve(client.rttMs(`${proxy.host}/warm/app:v1`) !== undefined),
    );
    expect(client.rttMs(`${proxy.host}/warm/app:v1`)).toBe(0);
    const warm = new Set(proxy.connections);
    // The scheme is not known yet: https is tried on one of them (and fails), http uses another.
    const resolved = await client.resolve(`${proxy.host}/warm/app:v1`);
    const [desc] = resolved.layers;
    const blob = resolved.openBlob(desc);
    const pieces = await Promise.all(
      [0, 1, 2, 3].map((i) => blob.readRange(i * 50_000, (i + 1) * 50_000)),
    );
    expect(Buffer.concat(pieces)).toEqual(image.layers[0].subarray(0, 200_000));
    expect(computeDigest(image.layers[0])).toBe(desc.digest);
    // Every request went out on a connection opened before the first one.
    expect(proxy.log.length).toBeGreaterThanOrEqual(6);
    expect(proxy.log.filter((line) => !warm.has(line.clientPort!))).toEqual([]);
  } finally {
    await client.close();
  }
});

it('preconnect tops up to the count: open connections of the pool count too', async () => {
  const client = new RegistryClient({ insecure: [proxy.host] });
  try {
    await client.resolve(`${proxy.host}/warm/app:v1`); // one keep-alive connection, scheme known
    proxy.connections.length = 0;
    client.preconnect(`${proxy.host}/warm/app:v1`, 3);
    client.preconnect(`${proxy.host}/warm/app:v1`, 3); // the second finds them waiting
    await waitFor('connections', () => Promise.resolve(proxy.connections.length >= 2), 5_000, 10);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(proxy.connections).toHaveLength(2);
  } finally {
    await client.close();
  }
});

describe('WarmConnections', () => {
  let server: Server;
  let port: string;
  const accepted: Socket[] = [];
  let closedByClient = 0;
  let hangUpOnConnect = false;

  beforeAll(async () => {
    server = createHttpServer((_req, res) => res.end('ok'));
    server.on('connection', (socket: Socket) => {
      accepted.push(socket);
      socket.on('end', () => closedByClient++);
      if (hangUpOnConnect) socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = String((server.address() as AddressInfo).port);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    accepted.length = 0;
    closedByClient = 0;
    hangUpOnConnect = false;
  });

  it('knows the round trip to a host once it has connected to it', async () => {
    const warm = new WarmConnections(buildConnector({}), 10_000);
    expect(warm.rttMs(`127.0.0.1:${port}`)).toBeUndefined();
    warm.open({ protocol: 'http:', host: `127.0.0.1:${port}` }, 1);
    await waitFor('a connection', () => Promise.resolve(accepted.length === 1), 5_000, 10);
    await waitFor('an estimate', () =>
      Promise.resolve(warm.rttMs(`127.0.0.1:${port}`) !== undefined),
    );
    expect(warm.rttMs(`127.0.0.1:${port}`)).toBeGreaterThan(0);
    expect(warm.rttMs(`127.0.0.1:${Number(port) + 1}`)).toBeUndefined(); // per host and port
    warm.close();
    await waitFor('closed', () => Promise.resolve(closedByClient === 1), 5_000, 10);
  });

  it('closes the connections nobody took within the idle time', async () => {
    const warm = new WarmConnections(buildConnector({}), 200);
    warm.open({ protocol: 'http:', host: `127.0.0.1:${port}` }, 2);
    await waitFor('2 connections', () => Promise.resolve(accepted.length === 2), 5_000, 10);
    expect(warm.count({ protocol: 'http:', host: `127.0.0.1:${port}` })).toBe(2);
    await waitFor('closed', () => Promise.resolve(closedByClient === 2), 5_000, 10);
    expect(warm.count({ protocol: 'http:', host: `127.0.0.1:${port}` })).toBe(0);
  });

  it('never hands out a connection the server closed while it waited', async () => {
    hangUpOnConnect = true;
    const warm = new WarmConnections(buildConnector({}), 10_000);
    warm.open({ protocol: 'http:', host: `127.0.0.1:${port}` }, 2);
    await waitFor('2 connections', () => Promise.resolve(accepted.length === 2), 5_000, 10);
    await new Promise((resolve) => setTimeout(resolve, 100));
    hangUpOnConnect = false;
    const agent = new Agent({ connect: warm.connect });
    try {
      const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      expect(await res.body.text()).toBe('ok');
      expect(accepted).toHaveLength(3); // dialled anew
    } finally {
      await agent.close();
      warm.close();
    }
  });

  /**
   * An https server on 127.0.0.1 (answering with `answer(req)`) that counts TCP connections, and
   * a pool whose connector is a WarmConnections: `use` runs with them and cleans up.
   */
  async function withTlsServer(
    answer: (req: IncomingMessage) => string,
    use: (s: { port: string; tcp: number[]; warm: WarmConnections; agent: Agent }) => Promise<void>,
  ): Promise<void> {
    const cert = await makeServerCert(dir, `tls-${tlsServers++}`);
    const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) =>
      res.end(answer(req)),
    );
    const tcp: number[] = [];
    server.on('connection', (socket: Socket) => tcp.push(socket.remotePort ?? 0));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const warm = new WarmConnections(buildConnector({ rejectUnauthorized: false }), 10_000);
    const agent = new Agent({ connect: warm.connect });
    try {
      await use({ port: String((server.address() as AddressInfo).port), tcp, warm, agent });
    } finally {
      await agent.close();
      warm.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
  let tlsServers = 0;

  it('an https connection is made for the name the request will use (SNI), and then used', () =>
    withTlsServer(
      (req) => String((req.socket as TLSSocket).servername),
      async ({ port: tlsPort, tcp, warm, agent }) => {
        // Spelled as a user might: the pool sees the name in lower case.
        warm.open({ protocol: 'https:', host: `LocalHost:${tlsPort}` }, 1);
        await waitFor('a connection', () => Promise.resolve(tcp.length === 1), 5_000, 10);
        const res = await request(`https://localhost:${tlsPort}/`, { dispatcher: agent });
        expect(await res.body.text()).toBe('localhost');
        expect(tcp).toHaveLength(1);
      },
    ));

  it('a plain TCP connection carries https when the scheme turns out to be https', () =>
    withTlsServer(
      () => 'over tls',
      async ({ port: tlsPort, tcp, warm, agent }) => {
        warm.open({ protocol: 'tcp:', host: `127.0.0.1:${tlsPort}` }, 1);
        await waitFor('a connection', () => Promise.resolve(tcp.length === 1), 5_000, 10);
        const res = await request(`https://127.0.0.1:${tlsPort}/`, { dispatcher: agent });
        expect(await res.body.text()).toBe('over tls');
        expect(tcp).toHaveLength(1);
      },
    ));
});
