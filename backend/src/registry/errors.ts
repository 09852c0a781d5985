// Typed registry errors. Callers (the layer store) map `kind` to a fast ENOENT plus a reason label,
// so every failure path must end in exactly one of these kinds.
// Messages are built from host, repository and status only: never from headers, bodies of auth
// responses or query strings, because those can carry credentials or presigned signatures.

export const RegistryErrorKind = {
  /** The reference, manifest or blob does not exist (404, or no platform match). */
  notFound: 'not-found',
  /** 401/403 after authenticating, or no usable credentials. */
  unauthorized: 'unauthorized',
  /** The registry (or its storage backend) ignores Range requests. */
  noRangeSupport: 'no-range-support',
  /** Connection refused/reset, DNS, TLS failures, or 5xx after all retries. */
  unreachable: 'unreachable',
  /** The per-request deadline passed. */
  timeout: 'timeout',
  /** The caller aborted. */
  aborted: 'aborted',
  /** The registry answered something that breaks the protocol (bad Content-Range, short body...). */
  protocol: 'protocol',
  /** Bytes did not match their digest or size. */
  integrity: 'integrity',
  /** A valid but unsupported thing: schema1 manifests, credential helpers, unknown media types. */
  unsupported: 'unsupported',
  /** The image reference could not be parsed. */
  invalidReference: 'invalid-reference',
  /** The host is blocked in registries.conf. */
  blocked: 'blocked',
} as const;
export type RegistryErrorKind = (typeof RegistryErrorKind)[keyof typeof RegistryErrorKind];

export interface RegistryErrorDetails {
  host?: string;
  status?: number;
  cause?: unknown;
  /** Overrides the default retry decision (e.g. a truncated body is worth another try). */
  retryable?: boolean;
  /** The server's Retry-After, in ms: the next attempt waits at least this long. */
  retryAfterMs?: number;
}

export class RegistryError extends Error {
  readonly kind: RegistryErrorKind;
  readonly host: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly #retryable: boolean | undefined;

  constructor(kind: RegistryErrorKind, message: string, details: RegistryErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RegistryError';
    this.kind = kind;
    this.host = details.host;
    this.status = details.status;
    this.#retryable = details.retryable;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** Errors worth another attempt with the same request (the transport decides how often). */
  get retryable(): boolean {
    if (this.#retryable !== undefined) return this.#retryable;
    return (
      this.kind === RegistryErrorKind.unreachable ||
      (this.kind === RegistryErrorKind.protocol && this.status !== undefined && this.status >= 500)
    );
  }
}

export function isRegistryError(e: unknown, kind?: RegistryErrorKind): e is RegistryError {
  return e instanceof RegistryError && (kind === undefined || e.kind === kind);
}

/** A URL safe to show: no userinfo, no query string (presigned URLs carry signatures there). */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?<redacted>' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

/** A short description of a low-level error without echoing anything a server sent us. */
export function describeCause(e: unknown): string {
  if (e && typeof e === 'object') {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    if (typeof code === 'string') return code;
    if (typeof name === 'string' && name !== 'Error') return name;
  }
  return e instanceof Error ? e.message.slice(0, 200) : String(e).slice(0, 200);
}
