// The registry transport's pool hands each request the idle connection that finished last (its
// congestion window is the warmest), not the first one opened. Checked through the transport
// against a real HTTP server that notes which connection carried each request.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Pool } from 'undici';

import { Deadline } from '../../src/registry/deadline.ts';
import { clientsOf } from '../../src/registry/mru-pool.ts';
import { Transport } from '../../src/registry/transport.ts';

let server: Server;
let port: number;
/** The client port of the connection each request came on, in the order they arrived. */
const connections: number[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    connections.push(req.socket.remotePort ?? -1);
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    setTimeout(() => res.end('ok'), delay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function get(transport: Transport, delay: number): Promise<void> {
  const res = await transport.send({
    method: 'GET',
    url: new URL(`http://127.0.0.1:${port}/v2/?delay=${delay}`),
    headers: {},
    purpose: 'manifest',
    attempt: 1,
    deadline: new Deadline(10_000),
  });
  await res.drain();
}

it('reuses the connection that finished last, whichever was opened first', async () => {
  const transport = new Transport({ isInsecure: () => true });
  try {
    connections.length = 0;
    // Two connections: the first opened finishes first, the second finishes last.
    await Promise.all([get(transport, 10), get(transport, 150)]);
    const [first, second] = connections;
    expect(first).not.toBe(second);
    await get(transport, 0);
    await get(transport, 0);
    expect(connections.slice(2)).toEqual([second, second]);
    // And the other way round.
    connections.length = 0;
    await Promise.all([get(transport, 150), get(transport, 10)]);
    const slow = connections[0];
    await get(transport, 0);
    expect(connections[2]).toBe(slow);
  } finally {
    await transport.close();
  }
});

it('finds the undici pool field it keeps in order', () => {
  // If an undici upgrade renames it, the pool quietly falls back to first-opened first: this
  // test is what says so.
  const pool = new Pool('http://127.0.0.1:9');
  try {
    expect(clientsOf(pool)).toEqual([]);
  } finally {
    void pool.destroy();
  }
});
