// A connection pool that gives each request the idle connection that finished a request last.
//
// Why: a registry's kernel restarts a connection's congestion window once it has sent nothing for
// a retransmission timeout (round trip + 200 ms), and a connection that never carried much has
// only its initial window (10 packets, ~14 KB). undici's Pool hands a request to the first idle
// connection in the order they were opened. After a lookup has opened twenty of them, that is
// rarely the one that just carried the TOCs and boot ranges, so a container's first small read
// went out on a cold window: `cat`'s 18 KB chunk took two flights at 80 ms (118–172 ms) where the
// connection used last carries it in one (92 ms). Go's net/http picks its most recently used idle
// connection too. Under load nothing changes: every connection is busy either way.
//
// undici has no option for the order, so the pool keeps its clients' list (an internal field)
// sorted by when each last finished. Where a future undici has no such field the pool is plain
// undici's, first-opened first; the test that checks the order then fails.
import { Client, Pool, type Dispatcher } from 'undici';

/** An undici Agent `factory`: a Pool whose next request goes to the connection used last. */
export function mostRecentlyUsedPool(origin: string | URL, options: object): Dispatcher {
  // The pool's own list, looked up once (clients are only made after the pool exists).
  let clients: Client[] | undefined;
  const pool = new Pool(origin, {
    ...(options as Pool.Options),
    factory: (clientOrigin: string | URL, clientOptions: object) => {
      const client = new Client(clientOrigin, clientOptions);
      clients ??= clientsOf(pool);
      // 'drain': the client finished its request and takes another. This listener runs before
      // the pool's own, which then hands a queued request to the first idle client: this one.
      client.on('drain', () => moveToFront(clients, client));
      return client;
    },
  });
  return pool;
}

function moveToFront(clients: Client[] | undefined, client: Client): void {
  const i = clients?.indexOf(client) ?? -1;
  if (clients && i > 0) {
    clients.splice(i, 1);
    clients.unshift(client);
  }
}

/** The pool's list of clients, in the order it tries them; undefined if undici has none. */
export function clientsOf(pool: Pool): Client[] | undefined {
  const key = Object.getOwnPropertySymbols(pool).find((s) => s.description === 'clients');
  const value = key === undefined ? undefined : (pool as unknown as Record<symbol, unknown>)[key];
  return Array.isArray(value) ? (value as Client[]) : undefined;
}
