// Test servers for the registry client: a certificate authority (openssl), a Bearer token server
// that implements the Docker/OCI token protocol (JWTs the real registry verifies against its
// rootcertbundle), and a fault-injecting HTTP proxy in front of a registry.
import { randomUUID, sign } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createGzip } from 'node:zlib';

import { run } from '../support/process.ts';

// ── certificates ──────────────────────────────────────────────────────────────────────────

export interface Pki {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** DER of certFile, base64 (for the JWT x5c header). */
  certDerBase64: string;
  keyPem: string;
}

/** A CA and a leaf certificate for 127.0.0.1 signed by it (EC P-256). */
export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const p = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=slipstream-test-ca',
  ]);
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(
    p('ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('server.crt'),
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
  ]);
  const der = await run('openssl', [
    'x509',
    '-in',
    p('server.crt'),
    '-outform',
    'DER',
    '-out',
    p('server.der'),
  ]).then(() => readFile(p('server.der')));
  return {
    caFile: p('ca.crt'),
    certFile: p('server.crt'),
    keyFile: p('server.key'),
    certDerBase64: der.toString('base64'),
    keyPem: await readFile(p('server.key'), 'utf8'),
  };
}

/** A self-signed signing certificate to be the registry's token rootcertbundle. */
export async function makeTokenSigner(
  dir: string,
): Promise<{ certFile: string; keyPem: string; certDerBase64: string }> {
  await mkdir(dir, { recursive: true });
  const key = join(dir, 'token.key');
  const cert = join(dir, 'token.crt');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=slipstream-test-token-signer',
  ]);
  await run('openssl', ['x509', '-in', cert, '-outform', 'DER', '-out', `${cert}.der`]);
  return {
    certFile: cert,
    keyPem: await readFile(key, 'utf8'),
    certDerBase64: (await readFile(`${cert}.der`)).toString('base64'),
  };
}

// ── helpers ───────────────────────────────────────────────────────────────────────────────

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

// ── token server ──────────────────────────────────────────────────────────────────────────

export interface TokenServerOptions {
  service: string;
  issuer: string;
  signer: { keyPem: string; certDerBase64: string };
  /** username → password; these users get every action they ask for. */
  users: Record<string, string>;
  /** OAuth2 refresh tokens (identity tokens) → username. */
  refreshTokens?: Record<string, string>;
  /** Token lifetime reported as expires_in. */
  ttlSeconds?: number;
}

export interface TokenRequestLog {
  method: string;
  user: string | undefined;
  scopes: string[];
  status: number;
}

export interface TokenServer {
  host: string;
  realm: string;
  requests: TokenRequestLog[];
  stop(): Promise<void>;
}

/**
 * The token endpoint of the distribution token protocol: GET with Basic auth (or anonymous) and
 * `service` + `scope` parameters, or the OAuth2 POST with a refresh token. It answers
 * `{token, access_token, expires_in, issued_at}` with an ES256 JWT carrying an `access` claim.
 */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const requests: TokenRequestLog[] = [];
  const server = createServer((req, res) => {
    void handleToken(req, res, opts, requests);
  });
  const host = await listen(server);
  return { host, realm: `http://${host}/token`, requests, stop: () => close(server) };
}

async function handleToken(
  req: IncomingMessage,
  res: ServerResponse,
  opts: TokenServerOptions,
  log: TokenRequestLog[],
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  let user: string | undefined;
  let scopes = url.searchParams.getAll('scope');
  let refused = false;
  if (req.method === 'POST') {
    const body = new URLSearchParams(await readAll(req));
    scopes = (body.get('scope') ?? '').split(' ').filter(Boolean);
    user = opts.refreshTokens?.[body.get('refresh_token') ?? ''];
    refused = body.get('grant_type') !== 'refresh_token' || !user;
  } else {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (name && opts.users[name] === rest.join(':')) user = name;
      else refused = true;
    }
  }
  if (refused) {
    log.push({ method: req.method ?? '', user, scopes, status: 401 });
    res
      .writeHead(401, { 'content-type': 'application/json' })
      .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    return;
  }
  const access = user
    ? scopes.map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
      })
    : [];
  const now = Math.floor(Date.now() / 1000);
  const ttl = opts.ttlSeconds ?? 300;
  const header = { typ: 'JWT', alg: 'ES256', x5c: [opts.signer.certDerBase64] };
  const claims = {
    iss: opts.issuer,
    sub: user ?? '',
    aud: opts.service,
    exp: now + ttl,
    nbf: now - 10,
    iat: now,
    jti: randomUUID(),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: opts.signer.keyPem,
    dsaEncoding: 'ieee-p1363',
  });
  const token = `${input}.${b64url(signature)}`;
  log.push({ method: req.method ?? '', user, scopes, status: 200 });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      token,
      access_token: token,
      expires_in: ttl,
      issued_at: new Date(now * 1000).toISOString(),
    }),
  );
}

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

// ── fault-injecting proxy ─────────────────────────────────────────────────────────────────

export type Fault =
  | { type: 'drop-mid-body' }
  /** The connection is cut after `bytes` of the body (each response: a link that keeps failing). */
  | { type: 'drop-after'; bytes: number }
  /** The body arrives at `bytesPerSecond`, in pieces every 100 ms: it never stalls outright. */
  | { type: 'trickle'; bytesPerSecond: number }
  /** The body gzip-compressed (Content-Encoding: gzip), whatever the client accepts. */
  | { type: 'gzip-body' }
  /** The body arrives whole, with its middle byte flipped: a proxy or mirror that lies. */
  | { type: 'corrupt-body' }
  | { type: 'slow-first-byte'; delayMs: number }
  /** The response is withheld until `until` settles: proves what a client sends meanwhile. */
  | { type: 'hold'; until: Promise<unknown> }
  | {
      type: 'status';
      status: number;
      retryAfter?: string;
      /** The error document (default: a distribution-spec UNAVAILABLE error). */
      body?: string;
      contentType?: string;
    }
  /**
   * The connection is cut without an answer once `afterBodyBytes` of the request's body have
   * arrived (at once without it): an upload that breaks midway.
   */
  | { type: 'reset'; afterBodyBytes?: number }
  | { type: 'wrong-content-range' }
  /** A range `a-b` is answered 206 with Content-Range `a-b` but the bytes of `0-(b-a)`. */
  | { type: 'range-from-start' }
  | { type: 'ignore-range' }
  | { type: 'redirect' }
  | { type: 'unauthorized' }
  /** The request is answered with upstream's answer for another path: a registry that lies. */
  | { type: 'other-path'; path: string };

export interface ProxyLogLine {
  method: string;
  path: string;
  range: string | undefined;
  authorization: boolean;
  fault: Fault['type'] | undefined;
  /** The client's source port: one per TCP connection (keep-alive reuse shows as repeats). */
  clientPort: number | undefined;
}

export interface FaultProxy {
  host: string;
  log: ProxyLogLine[];
  /** The client's source port of every TCP connection accepted, in order (used or not). */
  connections: number[];
  /** Decides a fault per request (undefined = forward faithfully). Replace at will. */
  rule: (req: IncomingMessage, n: number) => Fault | undefined;
  /** Makes every redirect URL handed out so far (and later) answer 403 as expired. */
  expireRedirects(): void;
  /**
   * Makes every redirect URL handed out so far stall (the storage accepts, never answers), as a
   * CDN node that went bad; the registry's new redirects work.
   */
  stallRedirects(): void;
  /**
   * Makes every redirect URL handed out so far answer `status` instead (200: the whole blob,
   * ignoring Range; 307: a redirect to the registry's blob URL again), as storage that moved.
   */
  expireRedirectsAs(status: 200 | 307): void;
  stop(): Promise<void>;
}

/**
 * An HTTP proxy in front of `upstream` (host:port, plain http) that injects faults. Redirect
 * targets (`/signed/...`) are fetched from upstream with `storageAuth` — the proxy's own
 * credentials, like a storage backend's — and answer 403 if a client sends Authorization there.
 */
export async function startFaultProxy(upstream: string, storageAuth?: string): Promise<FaultProxy> {
  // Redirect URLs carry the generation they were issued in; expiring bumps it (no clock involved).
  let generation = 0;
  let stalledBelow = 0;
  const answeredBelow = { generation: 0, status: 200 as 200 | 307 };
  let counter = 0;
  const proxy: FaultProxy = {
    host: '',
    log: [],
    connections: [],
    rule: () => undefined,
    expireRedirects: () => {
      generation++;
    },
    stallRedirects: () => {
      stalledBelow = ++generation;
    },
    expireRedirectsAs: (status) => {
      answeredBelow.generation = ++generation;
      answeredBelow.status = status;
    },
    stop: () => close(server),
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/signed/')) {
      // A "presigned storage URL": valid until expireRedirects(), never needs Authorization.
      const issued = Number(url.searchParams.get('gen'));
      proxy.log.push({
        method: req.method ?? '',
        path: url.pathname,
        range: req.headers.range,
        authorization: Boolean(req.headers.authorization),
        fault: undefined,
        clientPort: req.socket.remotePort,
      });
      if (issued < stalledBelow) return; // never answered; the socket closes at stop()
      if (issued < answeredBelow.generation && answeredBelow.status === 307) {
        res.writeHead(307, {
          location: `http://${proxy.host}/signed${url.pathname}?gen=${issued}`,
        });
        res.end();
        return;
      }
      if (issued < answeredBelow.generation) {
        // The whole blob, Range ignored.
        forward(
          req,
          res,
          upstream,
          url.pathname.slice('/signed'.length),
          { type: 'ignore-range' },
          storageAuth ?? null,
        );
        return;
      }
      if (issued < generation || req.headers.authorization) {
        res
          .writeHead(403)
          .end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
        return;
      }
      forward(
        req,
        res,
        upstream,
        url.pathname.slice('/signed'.length),
        undefined,
        storageAuth ?? null,
      );
      return;
    }
    const fault = proxy.rule(req, counter++);
    proxy.log.push({
      method: req.method ?? '',
      path: url.pathname,
      range: req.headers.range,
      authorization: Boolean(req.headers.authorization),
      fault: fault?.type,
      clientPort: req.socket.remotePort,
    });
    if (fault?.type === 'status') {
      res
        .writeHead(fault.status, {
          'content-type': fault.contentType ?? 'application/json',
          ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
        })
        .end(fault.body ?? '{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
      return;
    }
    if (fault?.type === 'reset') {
      const limit = fault.afterBodyBytes ?? 0;
      let received = 0;
      const cut = () => req.socket.destroy();
      if (limit === 0) return cut();
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= limit) cut();
      });
      req.on('end', cut);
      return;
    }
    if (fault?.type === 'unauthorized') {
      res
        .writeHead(401, {
          'www-authenticate': challengeOf(upstream),
          'content-type': 'application/json',
        })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (fault?.type === 'redirect') {
      res
        .writeHead(307, {
          location: `http://${proxy.host}/signed${url.pathname}?gen=${generation}&X-Amz-Signature=topsecretsignature`,
        })
        .end();
      return;
    }
    if (fault?.type === 'slow-first-byte') {
      setTimeout(
        () => forward(req, res, upstream, url.pathname + url.search, fault),
        fault.delayMs,
      ).unref();
      return;
    }
    if (fault?.type === 'hold') {
      const send = () => forward(req, res, upstream, url.pathname + url.search, fault);
      void fault.until.then(send, send);
      return;
    }
    const path = fault?.type === 'other-path' ? fault.path : url.pathname + url.search;
    forward(req, res, upstream, path, fault);
  });
  server.on('connection', (socket) => proxy.connections.push(socket.remotePort ?? 0));
  proxy.host = await listen(server);
  return proxy;
}

/** The registry's own challenge, remembered from its last 401, so injected 401s look real. */
const challenges = new Map<string, string>();
function challengeOf(upstream: string): string {
  return challenges.get(upstream) ?? 'Basic realm="proxy"';
}

/** `auth`: undefined passes the client's Authorization on, null drops it, a string replaces it. */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: string,
  path: string,
  fault: Fault | undefined,
  auth?: string | null,
): void {
  const headers = { ...req.headers }; // Host stays the proxy's: the registry builds Location URLs from it
  if (fault?.type === 'ignore-range') delete headers.range;
  const asked = /^bytes=(\d+)-(\d+)$/.exec(headers.range ?? '');
  const shifted = fault?.type === 'range-from-start' && asked ? Number(asked[1]) : undefined;
  if (shifted !== undefined) headers.range = `bytes=0-${Number(asked![2]) - shifted}`;
  if (auth === null) delete headers.authorization;
  else if (auth !== undefined) headers.authorization = auth;
  const up = httpRequest(
    {
      host: upstream.split(':')[0],
      port: Number(upstream.split(':')[1]),
      method: req.method,
      path,
      headers,
    },
    (upRes) => {
      const outHeaders = { ...upRes.headers };
      if (upRes.statusCode === 401 && typeof upRes.headers['www-authenticate'] === 'string')
        challenges.set(upstream, upRes.headers['www-authenticate']);
      if (
        fault?.type === 'wrong-content-range' &&
        typeof outHeaders['content-range'] === 'string'
      ) {
        outHeaders['content-range'] = outHeaders['content-range'].replace(
          /bytes (\d+)-(\d+)/,
          (_m, a: string, b: string) => `bytes ${Number(a) + 1}-${Number(b) + 1}`,
        );
      }
      if (shifted !== undefined && typeof outHeaders['content-range'] === 'string') {
        outHeaders['content-range'] = outHeaders['content-range'].replace(
          /bytes (\d+)-(\d+)/,
          (_m, a: string, b: string) => `bytes ${Number(a) + shifted}-${Number(b) + shifted}`,
        );
      }
      if (fault?.type === 'gzip-body') {
        delete outHeaders['content-length'];
        res.writeHead(upRes.statusCode ?? 502, { ...outHeaders, 'content-encoding': 'gzip' });
        upRes.pipe(createGzip()).pipe(res);
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, outHeaders);
      if (fault?.type === 'drop-mid-body') {
        const total = Number(upRes.headers['content-length'] ?? 0);
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          const room = Math.floor(total / 2) - sent;
          if (room > 0) res.write(chunk.subarray(0, room));
          sent += chunk.length;
          if (sent >= total / 2) {
            upRes.destroy();
            res.socket?.destroy();
          }
        });
        return;
      }
      if (fault?.type === 'drop-after') {
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          const room = fault.bytes - sent;
          if (room > 0) res.write(chunk.subarray(0, room));
          sent += chunk.length;
          if (sent >= fault.bytes) {
            upRes.destroy();
            res.socket?.destroy();
          }
        });
        upRes.on('end', () => res.end());
        return;
      }
      if (fault?.type === 'trickle') {
        const piece = Math.max(1, Math.floor(fault.bytesPerSecond / 10));
        let pending = Buffer.alloc(0);
        let ended = false;
        const timer = setInterval(() => {
          if (pending.length > 0) {
            res.write(pending.subarray(0, piece));
            pending = pending.subarray(piece);
          } else if (ended) {
            clearInterval(timer);
            res.end();
          }
        }, 100);
        upRes.on('data', (chunk: Buffer) => (pending = Buffer.concat([pending, chunk])));
        upRes.on('end', () => (ended = true));
        res.on('close', () => {
          clearInterval(timer);
          upRes.destroy();
        });
        return;
      }
      if (fault?.type === 'corrupt-body') {
        const middle = Math.floor(Number(upRes.headers['content-length'] ?? 0) / 2);
        let at = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (middle >= at && middle < at + chunk.length) chunk[middle - at] ^= 0x01;
          at += chunk.length;
          res.write(chunk);
        });
        upRes.on('end', () => res.end());
        return;
      }
      upRes.pipe(res);
    },
  );
  up.on('error', () => res.socket?.destroy());
  req.pipe(up);
}

// ── forward proxy ─────────────────────────────────────────────────────────────────────────

export interface ForwardProxy {
  url: string;
  /** `host:port` targets of the CONNECT tunnels opened so far. */
  tunnels: string[];
  /** Authorization headers seen by the proxy itself (must stay empty: creds go to registries). */
  authorizations: string[];
  stop(): Promise<void>;
}

/** A CONNECT-only forward proxy, like the cluster-wide egress proxy of an OpenShift cluster. */
export async function startForwardProxy(): Promise<ForwardProxy> {
  const proxy: ForwardProxy = {
    url: '',
    tunnels: [],
    authorizations: [],
    stop: () => close(server),
  };
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = req.url ?? '';
    proxy.tunnels.push(target);
    if (req.headers.authorization) proxy.authorizations.push(req.headers.authorization);
    const [host, port] = target.split(':');
    const upstream = connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  proxy.url = `http://${await listen(server)}`;
  return proxy;
}
