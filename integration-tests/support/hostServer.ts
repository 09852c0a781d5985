// The host page's web server on 127.0.0.1: the host page and script, PatternFly's CSS, the built
// plugin under /api/plugins/slipstream/ (as the console bridge serves it), and the console proxy
// /api/proxy/plugin/slipstream/hub/ → the real hub, adding the user's bearer token (UserToken).
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

import { DIST, HOST_SRC, node_modules } from './paths';

export type HubTarget = { url: string; ca: string | null; token: string };

const TYPES: Record<string, string> = {
  '.js': 'application/javascript',
  '.json': 'application/json',
  '.css': 'text/css',
  '.html': 'text/html',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.svg': 'image/svg+xml',
};

const cssFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? cssFiles(join(dir, entry.name))
      : entry.name.endsWith('.css')
        ? [join(dir, entry.name)]
        : [],
  );

/** base.css (tokens, fonts) then every component and layout stylesheet of react-styles. */
const patternflyCss = (): string =>
  [
    node_modules('@patternfly/react-core/dist/styles/base.css'),
    ...cssFiles(node_modules('@patternfly/react-styles/css/components')),
    ...cssFiles(node_modules('@patternfly/react-styles/css/layouts')),
  ]
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');

/** The shared modules the built plugin consumes, read from its entry script's share metadata. */
export const consumedSharedModules = (): string[] => {
  const entry = readdirSync(DIST).find((f) => f.startsWith('plugin-entry'));
  if (!entry) throw new Error('no plugin entry in dist/');
  const source = readFileSync(join(DIST, entry), 'utf8');
  return [...new Set([...source.matchAll(/"default","([^"]+)",!/g)].map((m) => m[1]))];
};

const sendFile = async (res: ServerResponse, root: string, relative: string) => {
  const path = normalize(join(root, relative));
  if (!path.startsWith(root)) {
    res.writeHead(403).end();
    return;
  }
  try {
    const body = await readFile(path);
    res.writeHead(200, {
      'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
};

const proxy = (req: IncomingMessage, res: ServerResponse, hub: HubTarget, path: string) => {
  const target = new URL(path, hub.url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstream = send(
    target,
    {
      method: req.method,
      headers: { accept: 'application/json', authorization: `Bearer ${hub.token}` },
      ...(hub.ca ? { ca: hub.ca } : {}),
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, {
        'Content-Type': answer.headers['content-type'] ?? 'application/json',
      });
      answer.pipe(res);
    },
  );
  upstream.on('error', (e) => res.writeHead(502).end(e.message));
  req.pipe(upstream);
};

export type HostServer = { url: string; close: () => Promise<void> };

export const startHostServer = async (
  hostBundleDir: string,
  hub: HubTarget | null,
): Promise<HostServer> => {
  const css = patternflyCss();
  const shared = consumedSharedModules();
  const index = readFileSync(join(HOST_SRC, 'index.html'));
  const HUB_PREFIX = '/api/proxy/plugin/slipstream/hub/';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://host');
    const path = decodeURIComponent(url.pathname);
    if (path === '/host-assets/shared-modules.json') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(shared));
    } else if (path === '/host-assets/patternfly.css') {
      res.writeHead(200, { 'Content-Type': 'text/css' }).end(css);
    } else if (path === '/host-assets/host.css') {
      void sendFile(res, HOST_SRC, 'host.css');
    } else if (path === '/host-assets/host.js') {
      void sendFile(res, hostBundleDir, 'host.js');
    } else if (path.startsWith('/host-assets/assets/')) {
      void sendFile(
        res,
        node_modules('@patternfly/react-core/dist/styles'),
        path.slice('/host-assets/'.length),
      );
    } else if (path.startsWith('/api/plugins/slipstream/')) {
      void sendFile(res, DIST, path.slice('/api/plugins/slipstream/'.length));
    } else if (path.startsWith(HUB_PREFIX)) {
      if (hub) proxy(req, res, hub, `/${path.slice(HUB_PREFIX.length)}${url.search}`);
      else res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"error":"no hub"}');
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(index);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
