// Registry authentication: anonymous first, then whatever the registry's WWW-Authenticate
// challenge asks for (Basic, or the Bearer token protocol). Tokens are cached per
// (realm, service, scopes, user) and refreshed by exactly one request in the process
// ("single flight"); their refresh time is jittered so many nodes do not refresh at once.
import { setTimeout as sleep } from 'node:timers/promises';

import type { Credential, CredentialStore } from './credentials.ts';
import { Deadline, withRetries, defaultRetryPolicy } from './deadline.ts';
import { RegistryError, RegistryErrorKind } from './errors.ts';
import { hostName, isLoopbackHost } from './reference.ts';
import type { Transport } from './transport.ts';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
}

/** Who we authenticate as, for which repository and actions. */
export interface AuthTarget {
  /** Registry name credentials are keyed by (`docker.io`, `quay.io`, a mirror host). */
  registry: string;
  /** Host the API requests go to. */
  host: string;
  repository: string;
  actions: string[];
  /** More scopes (cross-repository mount needs pull on the source). */
  extraScopes?: string[];
}

interface CachedToken {
  header: string;
  staleAt: number;
}

/** Parses `Bearer realm="...",service="..."` (several challenges may be comma-joined). */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  const re = /(Basic|Bearer)\s*((?:[a-zA-Z_]+=(?:"[^"]*"|[^,\s]*)\s*,?\s*)*)/gi;
  for (const m of header.matchAll(re)) {
    const scheme = m[1].toLowerCase() as 'basic' | 'bearer';
    const params: Record<string, string> = {};
    for (const p of m[2].matchAll(/([a-zA-Z_]+)=(?:"([^"]*)"|([^,\s]*))/g)) {
      params[p[1].toLowerCase()] = p[2] ?? p[3] ?? '';
    }
    out.push({
      scheme,
      ...(params.realm ? { realm: params.realm } : {}),
      ...(params.service ? { service: params.service } : {}),
    });
  }
  return out;
}

/** Waits for a shared promise, but lets this caller leave when its own deadline or abort hits. */
function untilAborted<T>(promise: Promise<T>, deadline: Deadline): Promise<T> {
  if (deadline.signal.aborted) return Promise.reject(deadline.stopError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadline.stopError());
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        deadline.signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        deadline.signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function scopeFor(repository: string, actions: string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

function basicHeader(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export interface AuthenticatorOptions {
  /** Upper bound of the random pause before refreshing a rejected token (spreads refresh storms). */
  refreshJitterMs?: number;
}

export class Authenticator {
  readonly #transport: Transport;
  readonly #credentials: CredentialStore | undefined;
  readonly #opts: AuthenticatorOptions;
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();

  constructor(
    transport: Transport,
    credentials?: CredentialStore,
    opts: AuthenticatorOptions = {},
  ) {
    this.#transport = transport;
    this.#credentials = credentials;
    this.#opts = opts;
  }

  /** Remembers what a host asked for in a 401; Bearer wins over Basic when both are offered. */
  noteChallenge(host: string, header: string | undefined): void {
    const challenges = parseChallenges(header);
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges[0];
    if (chosen) this.#challenges.set(host, chosen);
  }

  /** The method the host uses, for reports ("anonymous" until it challenged us). */
  methodFor(host: string): 'anonymous' | 'basic' | 'bearer' {
    return this.#challenges.get(host)?.scheme ?? 'anonymous';
  }

  /**
   * The Authorization header for a request, or undefined to go anonymous (no challenge seen yet).
   * `rejected` is the header a 401 just refused: it is never returned again.
   */
  async authorization(
    target: AuthTarget,
    deadline: Deadline,
    rejected?: string,
  ): Promise<string | undefined> {
    const challenge = this.#challenges.get(target.host);
    if (!challenge) return undefined;
    const credential = this.#credentialFor(target, challenge.scheme === 'basic');
    if (challenge.scheme === 'basic') {
      const header = basicHeader(credential!);
      if (header === rejected) throw this.#refused(target, 'the registry refused the credentials');
      return header;
    }
    return this.#bearer(target, challenge, credential, deadline, rejected);
  }

  /** Whether any credential is configured for the target (for messages only). */
  hasCredential(target: AuthTarget): boolean {
    return this.#credentials?.lookup(target.registry, target.repository).credential !== undefined;
  }

  #credentialFor(target: AuthTarget, required: boolean): Credential | undefined {
    const found = this.#credentials?.lookup(target.registry, target.repository) ?? {};
    if (found.unsupportedHelper) {
      throw new RegistryError(
        RegistryErrorKind.unauthorized,
        `credentials for ${target.registry} are held by credential helper "docker-credential-${found.unsupportedHelper}", which slipstream does not run; put them in an auth file or pull secret`,
        { host: target.host },
      );
    }
    if (found.invalid) {
      throw new RegistryError(
        RegistryErrorKind.unauthorized,
        `credentials for ${target.registry} in ${found.source ?? 'an auth file'} cannot be used: ${found.invalid}; log in again or fix the file`,
        { host: target.host },
      );
    }
    const cred = found.credential;
    if (required && !(cred?.username && cred.password)) {
      throw this.#refused(
        target,
        'the registry requires a username and password and none is configured',
      );
    }
    return cred;
  }

  #refused(target: AuthTarget, why: string): RegistryError {
    return new RegistryError(
      RegistryErrorKind.unauthorized,
      `not authorized for ${target.host}/${target.repository}: ${why}`,
      { host: target.host, status: 401 },
    );
  }

  async #bearer(
    target: AuthTarget,
    challenge: Challenge,
    credential: Credential | undefined,
    deadline: Deadline,
    rejected: string | undefined,
  ): Promise<string> {
    if (credential?.registryToken) return `Bearer ${credential.registryToken}`;
    const scopes = [scopeFor(target.repository, target.actions), ...(target.extraScopes ?? [])];
    const key = JSON.stringify([
      challenge.realm,
      challenge.service,
      scopes,
      credential?.username ?? '',
      credential?.identityToken ? 'oauth' : '',
    ]);
    const cached = this.#tokens.get(key);
    if (cached && cached.header !== rejected && Date.now() < cached.staleAt) return cached.header;
    if (cached && cached.header === rejected) this.#tokens.delete(key);
    let flight = this.#inflight.get(key);
    if (!flight) {
      // A rejected token means it expired under many readers at once: pause a random moment
      // so the whole fleet does not hit the token server in the same millisecond.
      const jitter = rejected ? Math.random() * (this.#opts.refreshJitterMs ?? 250) : 0;
      // The shared fetch gets its own deadline: one caller giving up must not fail the others.
      const shared = new Deadline(Math.max(1_000, deadline.remaining()));
      flight = (async () => {
        if (jitter > 0) await sleep(jitter);
        return this.#fetchToken(target, challenge, credential, scopes, shared);
      })();
      this.#inflight.set(key, flight);
      void flight
        .then(
          (token) => this.#tokens.set(key, token),
          () => undefined,
        )
        .finally(() => this.#inflight.delete(key));
    }
    const token = await untilAborted(flight, deadline);
    if (token.header === rejected)
      throw this.#refused(target, 'the token server issued a token the registry refuses');
    return token.header;
  }

  async #fetchToken(
    target: AuthTarget,
    challenge: Challenge,
    credential: Credential | undefined,
    scopes: string[],
    deadline: Deadline,
  ): Promise<CachedToken> {
    if (!challenge.realm) throw this.#refused(target, 'the Bearer challenge names no token realm');
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch {
      throw this.#refused(target, 'the Bearer challenge has an invalid realm');
    }
    const sendsSecret = Boolean(
      credential?.identityToken || (credential?.username && credential.password),
    );
    if (
      sendsSecret &&
      realm.protocol !== 'https:' &&
      !isLoopbackHost(realm.host) &&
      !this.#transport.isInsecure(realm.host) &&
      hostName(realm.host) !== hostName(target.host)
    ) {
      throw this.#refused(
        target,
        `refusing to send credentials to a plain-http token realm on ${realm.host}`,
      );
    }
    const started = Date.now();
    const body = await withRetries(deadline, realm.host, defaultRetryPolicy, async (attempt) => {
      const res = await this.#tokenRequest(realm, challenge, credential, scopes, deadline, attempt);
      if (res.status === 401 || res.status === 403) {
        await res.drain();
        throw this.#refused(
          target,
          `the token server on ${realm.host} refused the ${sendsSecret ? 'credentials' : 'anonymous request'}`,
        );
      }
      if (res.status >= 500 || res.status === 429) {
        await res.drain();
        throw new RegistryError(
          RegistryErrorKind.unreachable,
          `token server on ${realm.host} answered ${res.status}`,
          { host: realm.host, status: res.status },
        );
      }
      if (res.status !== 200) {
        await res.drain();
        throw new RegistryError(
          RegistryErrorKind.protocol,
          `token server on ${realm.host} answered ${res.status}`,
          { host: realm.host, status: res.status },
        );
      }
      return res.read({ maxBytes: 1 << 20 });
    });
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new RegistryError(
        RegistryErrorKind.protocol,
        `token server on ${realm.host} sent invalid JSON`,
        { host: realm.host },
      );
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
    if (typeof token !== 'string' || !token) {
      throw new RegistryError(
        RegistryErrorKind.protocol,
        `token server on ${realm.host} sent no token`,
        { host: realm.host },
      );
    }
    // The spec's default lifetime is 60 s; refresh somewhere in 70–90 % of it.
    const lifetimeMs =
      (typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60) * 1000;
    return {
      header: `Bearer ${token}`,
      staleAt: started + lifetimeMs * (0.7 + Math.random() * 0.2),
    };
  }

  #tokenRequest(
    realm: URL,
    challenge: Challenge,
    credential: Credential | undefined,
    scopes: string[],
    deadline: Deadline,
    attempt: number,
  ) {
    if (credential?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credential.identityToken,
        client_id: 'slipstream',
        scope: scopes.join(' '),
      });
      if (challenge.service) form.set('service', challenge.service);
      return this.#transport.send({
        url: realm,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        purpose: 'token',
        attempt,
        deadline,
      });
    }
    const url = new URL(realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (credential?.username && credential.password) {
      headers.authorization = basicHeader(credential);
      url.searchParams.set('account', credential.username);
    }
    return this.#transport.send({
      url,
      method: 'GET',
      headers,
      purpose: 'token',
      attempt,
      deadline,
    });
  }
}
