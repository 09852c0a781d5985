// The agent's plain-HTTP endpoint for Prometheus and the kubelet's probes: GET /metrics, /healthz,
// /readyz. Nothing else is served.
import { createServer, type Server } from 'node:http';

import type { AgentMetrics } from './metrics.ts';

export interface MetricsServer {
  /** The bound address (port resolved when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** Parses `host:port` (IPv6 hosts in brackets). */
export function parseListenAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535)
    throw new Error(`invalid listen address "${address}" (want host:port)`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const actualPort = bound && typeof bound === 'object' ? bound.port : port;
  return {
    address: { host, port: actualPort },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
