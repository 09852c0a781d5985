// One repository on one physical registry, with the actions we need there (pull, or pull+push).
// Every API request goes through `send`, which adds auth and handles the 401 → authenticate →
// retry-once dance; status codes become typed errors in `statusError`.
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';

import type { AuthTarget, Authenticator } from './auth.ts';
import type { Deadline } from './deadline.ts';
import { describeErrorBody, RegistryError, RegistryErrorKind } from './errors.ts';
import type { RequestPurpose } from './stats.ts';
import type { HttpResponse, Transport } from './transport.ts';

export interface SessionRequest {
  method: string;
  /** Path below `/v2/<repository>/`, or an absolute URL on the registry (upload locations). */
  path: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  purpose: RequestPurpose;
  deadline: Deadline;
  attempt?: number;
}

/** What we learned about a host; shared by every session on that host. */
export interface HostCapabilities {
  /** False after a 400/416 to a multi-range request: use single ranges from then on. */
  multiRange?: boolean;
}

/** Retry-After as delta seconds or an HTTP date, in ms from now (capped at 60 s). */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 60_000) : undefined;
}

export class RegistrySession {
  readonly target: AuthTarget;
  readonly capabilities: HostCapabilities;
  readonly #transport: Transport;
  readonly #auth: Authenticator;

  constructor(
    transport: Transport,
    auth: Authenticator,
    target: AuthTarget,
    capabilities: HostCapabilities = {},
  ) {
    this.capabilities = capabilities;
    this.#transport = transport;
    this.#auth = auth;
    this.target = target;
  }

  get host(): string {
    return this.target.host;
  }

  get name(): string {
    return `${this.target.host}/${this.target.repository}`;
  }

  get authMethod(): 'anonymous' | 'basic' | 'bearer' {
    return this.#auth.methodFor(this.target.host);
  }

  url(path: string): URL {
    return new URL(
      `/v2/${this.target.repository}/${path}`,
      this.#transport.baseUrl(this.target.host),
    );
  }

  /** Sends with auth; a 401 triggers one re-authentication (token refresh) and one resend. */
  async send(req: SessionRequest): Promise<HttpResponse> {
    const url = typeof req.path === 'string' ? this.url(req.path) : req.path;
    // Credentials go only to the registry host itself: never to another origin, and never to an
    // explicit http:// URL (an upload Location) of a host that speaks https.
    const sameHost =
      url.host === this.target.host &&
      (url.protocol === 'https:' ||
        url.protocol === this.#transport.baseUrl(this.target.host).protocol);
    const authorization = sameHost
      ? await this.#auth.authorization(this.target, req.deadline)
      : undefined;
    const res = await this.#sendOnce(req, url, authorization);
    if (res.status !== 401 || !sameHost) return res;
    await res.drain();
    this.#auth.noteChallenge(this.target.host, res.header('www-authenticate'));
    if (req.body && !Buffer.isBuffer(req.body)) {
      throw this.#unauthorized(
        'the registry asked for authentication in the middle of a streamed upload',
      );
    }
    const retry = await this.#auth.authorization(this.target, req.deadline, authorization);
    if (retry === undefined)
      throw this.#unauthorized('the registry refused anonymous access without a usable challenge');
    const second = await this.#sendOnce(req, this.#rebase(url), retry);
    if (second.status === 401) {
      await second.drain();
      throw this.#unauthorized(
        this.#auth.hasCredential(this.target)
          ? 'the registry refused the credentials'
          : 'the registry refused anonymous access and no credentials are configured for it',
      );
    }
    return second;
  }

  /** After a 401 on a loopback host the scheme may have been decided; keep the same path. */
  #rebase(url: URL): URL {
    const base = this.#transport.baseUrl(this.target.host);
    const rebased = new URL(url);
    rebased.protocol = base.protocol;
    return rebased;
  }

  #sendOnce(
    req: SessionRequest,
    url: URL,
    authorization: string | undefined,
  ): Promise<HttpResponse> {
    return this.#transport.send({
      url,
      method: req.method,
      headers: { ...req.headers, ...(authorization ? { authorization } : {}) },
      ...(req.body ? { body: req.body } : {}),
      purpose: req.purpose,
      attempt: req.attempt ?? 1,
      deadline: req.deadline,
    });
  }

  /** Sends to a URL outside the registry API (redirect targets): never with credentials. */
  sendExternal(req: SessionRequest & { path: URL }): Promise<HttpResponse> {
    return this.#transport.send({
      url: req.path,
      method: req.method,
      headers: req.headers ?? {},
      purpose: req.purpose,
      attempt: req.attempt ?? 1,
      deadline: req.deadline,
    });
  }

  #unauthorized(why: string): RegistryError {
    return new RegistryError(
      RegistryErrorKind.unauthorized,
      `not authorized for ${this.name}: ${why}`,
      { host: this.target.host, status: 401 },
    );
  }

  /**
   * Typed error for an unexpected status, with what the registry's error document says (its
   * error codes and messages: "quota exceeded", "no space left on device", MANIFEST_BLOB_UNKNOWN).
   */
  async statusError(res: HttpResponse, what: string): Promise<RegistryError> {
    const body = await res.read({ maxBytes: 64 * 1024 }).catch(() => undefined);
    const host = res.url.host;
    const said = body && describeErrorBody(body, host === this.target.host);
    const where = `${what} on ${this.name}`;
    const status = (text: string) => `${where}: ${text}${said ? `: ${said}` : ''}`;
    if (res.status === 404) {
      return new RegistryError(RegistryErrorKind.notFound, status('not found'), {
        host,
        status: 404,
      });
    }
    if (res.status === 401 || res.status === 403) {
      return new RegistryError(
        RegistryErrorKind.unauthorized,
        status(`access denied (${res.status})`),
        { host, status: res.status },
      );
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      const retryAfterMs = parseRetryAfter(res.header('retry-after'));
      return new RegistryError(
        RegistryErrorKind.unreachable,
        status(`server answered ${res.status}`),
        { host, status: res.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
      );
    }
    const reason = STATUS_CODES[res.status];
    return new RegistryError(
      RegistryErrorKind.protocol,
      status(`unexpected status ${res.status}${reason ? ` (${reason})` : ''}`),
      { host, status: res.status },
    );
  }
}
