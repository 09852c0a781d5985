// HTTP for the registry client: one undici keep-alive pool per host with a connection cap,
// TLS trust (system CAs + certs.d/<host>/*.crt, client certs), the https→http rule for insecure
// and loopback registries, and byte/latency accounting of every response.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  createSecureContext,
  getCACertificates,
  rootCertificates,
  type SecureContext,
} from 'node:tls';

import { Agent, buildConnector, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';

import type { Deadline } from './deadline.ts';
import { describeCause, explainCause, RegistryError, RegistryErrorKind } from './errors.ts';
import { mostRecentlyUsedPool } from './mru-pool.ts';
import { isLoopbackHost } from './reference.ts';
import type { RegistryStats, RequestPurpose } from './stats.ts';
import { WarmConnections, type WarmProtocol } from './warm-connections.ts';

/**
 * Connections per registry host. A first lookup reads every layer's tail and, for large TOCs, a
 * dozen 256 KiB pieces before it at once, and the boot ranges beside them; with 8 connections the
 * later pieces waited for the first ones (node image at 20 ms RTT: pull 0.74–0.77 s, with 16:
 * 0.68–0.70 s), and with 16 the boot pieces still queued behind the TOC pieces (24, A/B at 80 ms:
 * python's pull 1.46 → 1.34 s, node's 1.63 → 1.49 s; at 20 ms python 0.52 → 0.48 s). Reads,
 * read-ahead, prefetch and background requests (up to 8 + 4 + 2 + 4) share the pool as well.
 */
const MAX_CONNECTIONS_PER_HOST = 24;

export const defaultCertsDirs = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

export interface TransportOptions {
  /** Directories holding `<host>/ca.crt` (any `*.crt`) and `<host>/client.{cert,key}`. */
  certsDirs?: string[];
  /** Max concurrent connections (hence requests) per origin; further requests queue. */
  maxConnectionsPerHost?: number;
  /** Registries that may use plain http or unverified TLS (registries.conf `insecure`). */
  isInsecure?: (host: string) => boolean;
  /** Time to wait for response headers before the attempt counts as failed. */
  firstByteTimeoutMs?: number;
  /** Longest stall between body chunks. */
  bodyStallTimeoutMs?: number;
  userAgent?: string;
  stats?: RegistryStats;
  /**
   * Forward proxies; by default HTTP(S)_PROXY / NO_PROXY from the environment (what OpenShift's
   * cluster-wide proxy sets for CRI-O and for pods), CONNECT-tunnelled.
   */
  proxy?: ProxySettings;
}

export interface ProxySettings {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

export function proxyFromEnv(): ProxySettings | undefined {
  const env = (name: string) => process.env[name] ?? process.env[name.toLowerCase()];
  const settings = {
    httpProxy: env('HTTP_PROXY'),
    httpsProxy: env('HTTPS_PROXY'),
    noProxy: env('NO_PROXY'),
  };
  return settings.httpProxy || settings.httpsProxy ? settings : undefined;
}

export interface HttpRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Buffer | Readable;
  purpose: RequestPurpose;
  attempt: number;
  deadline: Deadline;
}

export class HttpResponse {
  readonly status: number;
  readonly url: URL;
  readonly #headers: Record<string, string | string[] | undefined>;
  readonly #body: Readable;
  readonly #finish: (bytes: number, error?: string) => void;
  #bytes = 0;
  #finished = false;

  constructor(
    status: number,
    url: URL,
    headers: Record<string, string | string[] | undefined>,
    body: Readable,
    finish: (bytes: number, error?: string) => void,
  ) {
    this.status = status;
    this.url = url;
    this.#headers = headers;
    this.#body = body;
    this.#finish = finish;
  }

  header(name: string): string | undefined {
    const v = this.#headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  headerAll(name: string): string[] {
    const v = this.#headers[name.toLowerCase()];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }

  /**
   * Reads the whole body, refusing more than `maxBytes` and (if given) anything but `exactBytes`.
   * `onData` sees each piece as it arrives, with its offset in the body.
   */
  async read(opts: {
    maxBytes: number;
    exactBytes?: number;
    onData?: (piece: Buffer, offset: number) => void;
  }): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of this.#body) {
        const buf = chunk as Buffer;
        total += buf.length;
        this.#bytes += buf.length;
        if (total > opts.maxBytes || (opts.exactBytes !== undefined && total > opts.exactBytes)) {
          this.#body.destroy();
          throw new RegistryError(
            RegistryErrorKind.protocol,
            `${this.url.host} sent more bytes than expected (${opts.exactBytes ?? opts.maxBytes})`,
            { host: this.url.host, status: this.status, retryable: true },
          );
        }
        chunks.push(buf);
        opts.onData?.(buf, total - buf.length);
      }
    } catch (e) {
      this.done(e instanceof RegistryError ? e.kind : describeCause(e));
      if (e instanceof RegistryError) throw e;
      throw new RegistryError(
        RegistryErrorKind.unreachable,
        `connection to ${this.url.host} failed mid-body after ${total} bytes: ${explainCause(e, this.url.host)}`,
        { host: this.url.host, status: this.status, cause: e },
      );
    }
    if (opts.exactBytes !== undefined && total !== opts.exactBytes) {
      this.done('short-body');
      throw new RegistryError(
        RegistryErrorKind.protocol,
        `${this.url.host} sent ${total} bytes, expected ${opts.exactBytes}`,
        { host: this.url.host, status: this.status, retryable: true },
      );
    }
    this.done();
    // undici returns the socket to its pool only after this tick; a request sent at once (the
    // config right after the manifest) would open a new connection and pay a round trip more.
    await new Promise<void>((resolve) => setImmediate(resolve));
    return Buffer.concat(chunks, total);
  }

  /** The body as a stream whose bytes are counted; the caller must consume or destroy it. */
  stream(): Readable {
    this.#body.on('data', (chunk: Buffer) => (this.#bytes += chunk.length));
    this.#body.once('end', () => this.done());
    this.#body.once('error', (e) => this.done(describeCause(e)));
    this.#body.once('close', () => this.done('closed'));
    return this.#body;
  }

  /** Abandons the body without reading it (the connection is closed, not drained). */
  discard(error?: string): void {
    this.#body.on('error', () => undefined); // destroying a body we do not want is not an error
    this.#body.destroy();
    this.done(error);
  }

  /** Reads a small body (error documents) and drops it; keeps the connection reusable. */
  async drain(): Promise<void> {
    await this.read({ maxBytes: 64 * 1024 }).catch(() => undefined);
  }

  private done(error?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#finish(this.#bytes, error);
  }
}

const FALLBACK_TO_HTTP_CODES = new Set([
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ECONNRESET',
  'UND_ERR_SOCKET',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
]);

type Attempt = { res: HttpResponse; error?: undefined } | { res?: undefined; error: unknown };

const settle = (p: Promise<HttpResponse>): Promise<Attempt> =>
  p.then(
    (res) => ({ res }),
    (error: unknown) => ({ error }),
  );

const NEVER = new Promise<never>(() => undefined);

/** A TLS failure of the kind a plain-http server causes (it answered the ClientHello in clear). */
function fallsBackToHttp(error: unknown, req: HttpRequest): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return !!code && FALLBACK_TO_HTTP_CODES.has(code) && !req.deadline.signal.aborted;
}

function withProtocol(url: URL, protocol: 'http:' | 'https:'): URL {
  const copy = new URL(url);
  copy.protocol = protocol;
  return copy;
}

let systemRoots: string[] | undefined;

function systemCAs(): string[] {
  if (systemRoots) return systemRoots;
  const all = new Set<string>(rootCertificates);
  for (const kind of ['system', 'extra'] as const) {
    try {
      for (const cert of getCACertificates(kind)) all.add(cert);
    } catch {
      // older runtimes or no system store: the bundled roots remain
    }
  }
  systemRoots = [...all];
  return systemRoots;
}

// Why a prebuilt context: handed `ca` strings, Node parses every certificate again for each TLS
// connection — with the system store's ~300 roots, 50–100 ms of the JS thread per connection,
// which put two round trips' worth of CPU on a lookup's first contact. A SecureContext is built
// once and shared by every connection that trusts the same roots.
let systemTrust: SecureContext | undefined;

/** The SecureContext trusting the system roots: built once per process. */
export function systemSecureContext(): SecureContext {
  systemTrust ??= createSecureContext({ ca: systemCAs() });
  return systemTrust;
}

interface TlsMaterial {
  ca: string[];
  cert?: string;
  key?: string;
}

interface ConnectTls {
  secureContext: SecureContext;
  rejectUnauthorized: boolean;
}

/**
 * TLS for one agent: the shared system-roots context unless the host has certs.d material;
 * an insecure host verifies nothing, so it needs no roots (only its client certificate, if any).
 */
function tlsFor(material: TlsMaterial | undefined, insecure: boolean): ConnectTls {
  const client = material?.cert && material.key ? { cert: material.cert, key: material.key } : {};
  if (insecure) return { secureContext: createSecureContext(client), rejectUnauthorized: false };
  if (!material) return { secureContext: systemSecureContext(), rejectUnauthorized: true };
  const secureContext = createSecureContext({ ca: [...systemCAs(), ...material.ca], ...client });
  return { secureContext, rejectUnauthorized: true };
}

/** A dispatcher and, without a proxy, the connections opened for it ahead of time. */
interface HostAgent {
  dispatcher: Dispatcher;
  warm?: WarmConnections;
}

export class Transport {
  readonly #opts: TransportOptions;
  readonly #agents = new Map<string, HostAgent>();
  readonly #scheme = new Map<string, 'https' | 'http'>();
  readonly #materials = new Map<string, Promise<TlsMaterial | undefined>>();

  constructor(opts: TransportOptions = {}) {
    this.#opts = opts;
  }

  isInsecure(host: string): boolean {
    return this.#opts.isInsecure?.(host) ?? false;
  }

  /** Plain http may be tried for insecure registries and loopback hosts (after https fails). */
  mayUseHttp(host: string): boolean {
    return this.isInsecure(host) || isLoopbackHost(host);
  }

  /** `https://host` unless this host was found to speak plain http (and that is allowed). */
  baseUrl(host: string): URL {
    return new URL(`${this.#scheme.get(host) ?? 'https'}://${host}`);
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    const host = req.url.host;
    if (req.url.protocol !== 'https:' || !this.mayUseHttp(host)) return this.#dispatch(req);
    const known = this.#scheme.get(host);
    if (known === 'http') return this.#dispatch({ ...req, url: withProtocol(req.url, 'http:') });
    if (known === 'https' || (req.body && !Buffer.isBuffer(req.body))) return this.#dispatch(req);
    // Until the scheme is known every request probes on its own: waiting for another's probe
    // would put a round trip or two on the lookup path; a failed TLS hello costs nothing.
    return this.#firstContact(req);
  }

  /**
   * First contact with a registry that may speak plain http: https and http in parallel, like
   * containers/image's https-then-http but without paying the failed TLS handshake's round trips
   * first. https wins whenever it works. http wins when it answers like a registry (anything but
   * the 400 a TLS server sends to plain http), or when https fails the way a plain-http server
   * makes it fail. Only idempotent requests are doubled; the loser's response is discarded.
   */
  async #firstContact(req: HttpRequest): Promise<HttpResponse> {
    const httpRequest = { ...req, url: withProtocol(req.url, 'http:') };
    const overHttps = settle(this.#dispatch(req));
    const overHttp =
      req.method === 'GET' || req.method === 'HEAD'
        ? settle(this.#dispatch(httpRequest))
        : undefined;
    const httpAnswered = overHttp?.then((a) => (a.res && a.res.status !== 400 ? a : NEVER));
    const first = await Promise.race(httpAnswered ? [overHttps, httpAnswered] : [overHttps]);
    const chosen =
      first.res || !fallsBackToHttp(first.error, req)
        ? first
        : await (overHttp ?? settle(this.#dispatch(httpRequest)));
    for (const attempt of [overHttps, overHttp]) {
      void attempt?.then((a) => {
        if (a !== chosen) a.res?.discard('superseded');
      });
    }
    if (!chosen.res) throw chosen.error;
    this.#scheme.set(req.url.host, chosen.res.url.protocol === 'https:' ? 'https' : 'http');
    return chosen.res;
  }

  async #dispatch(req: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    const host = req.url.host;
    const record = (
      status: number | undefined,
      bytes: number,
      firstByteMs?: number,
      error?: string,
    ) =>
      this.#opts.stats?.record({
        host,
        purpose: req.purpose,
        method: req.method,
        status,
        bytes,
        firstByteMs,
        durationMs: performance.now() - started,
        attempt: req.attempt,
        ...(error ? { error } : {}),
      });
    const firstByte = Math.min(this.#opts.firstByteTimeoutMs ?? 15_000, req.deadline.remaining());
    let res;
    try {
      res = await request(req.url, {
        method: req.method as 'GET',
        headers: { 'user-agent': this.#opts.userAgent ?? 'slipstream', ...req.headers },
        body: req.body ?? null,
        signal: req.deadline.signal,
        dispatcher: (await this.#agentFor(req.url)).dispatcher,
        headersTimeout: Math.max(1, firstByte),
        bodyTimeout: this.#opts.bodyStallTimeoutMs ?? 15_000,
      });
    } catch (e) {
      record(undefined, 0, undefined, describeCause(e));
      throw e;
    }
    const firstByteMs = performance.now() - started;
    return new HttpResponse(res.statusCode, req.url, res.headers, res.body, (bytes, error) =>
      record(res.statusCode, bytes, firstByteMs, error),
    );
  }

  /**
   * One multi-origin agent (per-origin pools inside) serves every host with default TLS; hosts
   * with certs.d material or configured insecure get their own, since TLS options are per agent.
   */
  async #agentFor(url: URL): Promise<HostAgent> {
    const material = await this.#hostMaterial(url.host);
    const insecure = this.isInsecure(url.host);
    const key = material || insecure ? `host:${url.host}` : 'shared';
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = this.#createAgent(tlsFor(material, insecure));
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /**
   * The round trip to `host` from the TCP handshakes of the connections made to it, or undefined
   * before any (or through a proxy, where the handshake is with the proxy). A registry on this
   * machine's loopback is 0 once connected to: a handshake is timed on the agent's thread, and on a
   * busy thread it measures the thread, not the kernel's microseconds (a loaded 2-vCPU machine
   * timed loopback handshakes above 10 ms and took its own registry for a distant one).
   */
  rttMs(host: string): number | undefined {
    const agent = this.#agents.get(`host:${host}`) ?? this.#agents.get('shared');
    const measured = agent?.warm?.rttMs(host);
    return measured !== undefined && isLoopbackHost(host) ? 0 : measured;
  }

  #createAgent(connect: ConnectTls): HostAgent {
    const pool = {
      connections: this.#connectionCap,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 300_000,
    };
    const proxy = this.#opts.proxy ?? proxyFromEnv();
    if (!proxy) {
      const warm = new WarmConnections(buildConnector(connect));
      // Each request on the idle connection used last: its congestion window is the warmest.
      const agent = new Agent({ ...pool, connect: warm.connect, factory: mostRecentlyUsedPool });
      return { dispatcher: agent, warm };
    }
    // Through a proxy the target's TLS settings travel as requestTls; NO_PROXY hosts go direct.
    const dispatcher = new EnvHttpProxyAgent({
      ...pool,
      connect,
      requestTls: connect,
      ...(proxy.httpProxy ? { httpProxy: proxy.httpProxy } : {}),
      ...(proxy.httpsProxy ? { httpsProxy: proxy.httpsProxy } : {}),
      noProxy: proxy.noProxy ?? '',
    });
    return { dispatcher };
  }

  get #connectionCap(): number {
    return this.#opts.maxConnectionsPerHost ?? MAX_CONNECTIONS_PER_HOST;
  }

  /**
   * Opens connections to `host` ahead of a burst of requests (a first lookup: the TOC pieces and
   * boot ranges go out together once the manifest is in), up to `count` open ones in all and
   * within the per-host cap. For a registry that may speak plain http and has not answered yet,
   * they are plain TCP, which https can still use for its handshake. Nothing through a proxy.
   */
  preconnect(host: string, count: number): void {
    this.#preconnect(host, count).catch(() => undefined); // an optimisation: failures only cost it
  }

  async #preconnect(host: string, count: number): Promise<void> {
    const known = this.#scheme.get(host);
    const protocol: WarmProtocol = known ? `${known}:` : this.mayUseHttp(host) ? 'tcp:' : 'https:';
    const { dispatcher, warm } = await this.#agentFor(new URL(`https://${host}`));
    if (!warm) return;
    const target = { protocol, host };
    const stats = (dispatcher as Agent).stats as Record<string, { connected: number } | undefined>;
    const open = ['http', 'https'].reduce(
      (sum, scheme) => sum + (stats[`${scheme}://${host}`]?.connected ?? 0),
      warm.count(target),
    );
    warm.open(target, Math.max(0, Math.min(count, this.#connectionCap) - open));
  }

  /** certs.d material for a host (CA files, client cert), or undefined when it has none. */
  #hostMaterial(host: string): Promise<TlsMaterial | undefined> {
    let found = this.#materials.get(host);
    if (!found) {
      found = this.#readCertsDirs(host);
      this.#materials.set(host, found);
    }
    return found;
  }

  async #readCertsDirs(host: string): Promise<TlsMaterial | undefined> {
    const material: TlsMaterial = { ca: [] };
    let any = false;
    for (const dir of this.#opts.certsDirs ?? defaultCertsDirs) {
      const hostDir = join(dir, host);
      let names: string[];
      try {
        names = await readdir(hostDir);
      } catch {
        continue;
      }
      for (const name of names.sort()) {
        const path = join(hostDir, name);
        if (name.endsWith('.crt')) material.ca.push(await readFile(path, 'utf8'));
        else if (name.endsWith('.cert')) material.cert = await readFile(path, 'utf8');
        else if (name.endsWith('.key')) material.key = await readFile(path, 'utf8');
        else continue;
        any = true;
      }
    }
    return any ? material : undefined;
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    for (const agent of agents) agent.warm?.close();
    await Promise.all(agents.map((a) => a.dispatcher.close()));
  }
}
