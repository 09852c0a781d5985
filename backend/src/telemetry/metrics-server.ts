// The agent's plain-HTTP endpoint for Prometheus and the kubelet's probes: GET /metrics, /healthz,
// /readyz. Nothing else is served.
import { createServer, type Server } from 'node:http';

import type { AgentMetrics } from './metrics.ts';

export interface MetricsServer {
  /** The bound address (port resolved when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/**
 * Parses `host:port` (IPv6 hosts in brackets). An empty host (`:9464`) means every address of
 * every family the node has: `listen` then binds `::`, which takes IPv4 too, or `0.0.0.0` where
 * IPv6 is off, so one setting works on IPv4, IPv6 single-stack and dual-stack nodes.
 */
export function parseListenAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535)
    throw new Error(`invalid listen address "${address}" (want host:port)`);
  return { host: match[1] ?? match[2], port };
}

/**
 * Runs `listen` on the parsed address; for "every address" on `::` (dual-stack: IPv4 clients are
 * taken too), and on `0.0.0.0` where the node has IPv6 turned off.
 */
export async function listenOn<T>(
  { host, port }: { host: string; port: number },
  listen: (host: string, port: number) => Promise<T>,
): Promise<T> {
  if (host !== '') return listen(host, port);
  try {
    return await listen('::', port);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
    return listen('0.0.0.0', port);
  }
}

export async function startMetricsServer(
  address: string,
  metrics: AgentMetrics,
  isReady: () => boolean,
  isHealthy: () => boolean = () => true,
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(address);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      metrics.render().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    } else if (path === '/healthz') {
      const healthy = isHealthy();
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(healthy ? 'ok\n' : 'unhealthy\n');
    } else if (path === '/readyz') {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ready ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await listenOn(
    { host, port },
    (bindHost, bindPort) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(bindPort, bindHost, () => {
          server.off('error', reject);
          resolve();
        });
      }),
  );
  const bound = server.address();
  const boundAddress =
    bound && typeof bound === 'object' ? { host: bound.address, port: bound.port } : { host, port };
  return {
    address: boundAddress,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
