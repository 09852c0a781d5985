// Typed registry errors. Callers (the layer store) map `kind` to a fast ENOENT plus a reason label,
// so every failure path must end in exactly one of these kinds.
// Messages are built from host, repository and status, and what a registry's error document says
// (`describeErrorBody`: its codes and messages, sanitized): never from headers, bodies of auth
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

const CLOSED = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'EPIPE']);
const SILENT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * `describeCause` in words a user can act on, for messages (logs and metrics keep the bare
 * code): what the error code means, and for an untrusted certificate where its CA goes.
 */
export function explainCause(e: unknown, host: string): string {
  const code = describeCause(e);
  if (CLOSED.has(code)) return `the registry closed the connection mid-request (${code})`;
  if (SILENT.has(code)) return `the registry stopped answering (${code})`;
  if (code === 'ECONNREFUSED') return `nothing accepts connections there (${code})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the name does not resolve (${code})`;
  if (UNTRUSTED.has(code)) {
    return `its TLS certificate is not trusted (${code}): put its CA certificate in /etc/containers/certs.d/${host}/ca.crt (check-registry also takes --certs-dir), or use --insecure`;
  }
  return code;
}

/** At most this much of an error document goes into a message. */
const ERROR_BODY_CHARS = 200;

/**
 * A one-line, sanitized account of an error response's body, or undefined if it says nothing
 * usable: the distribution spec's `{"errors":[{"code","message","detail"}]}`, an S3-style XML
 * `<Code>`/`<Message>`, else (only when `freeText`: the registry's own answers, not a storage
 * backend's, whose documents can echo signed requests) the start of a text body.
 */
export function describeErrorBody(body: Buffer, freeText = true): string | undefined {
  const text = body.subarray(0, 64 * 1024).toString('utf8');
  const described = ociErrors(text) ?? xmlError(text) ?? (freeText ? plainText(text) : undefined);
  if (!described) return undefined;
  const clean = sanitize(described);
  return clean.length > ERROR_BODY_CHARS ? `${clean.slice(0, ERROR_BODY_CHARS - 1)}…` : clean;
}

function ociErrors(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const errors = (doc as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const parts = errors
    .slice(0, 3)
    .map((e: { code?: unknown; message?: unknown; detail?: unknown }) => {
      const words = [e.code, e.message].filter((w) => typeof w === 'string' && w !== '');
      const detail = typeof e.detail === 'string' ? e.detail : undefined;
      return words.join(': ') + (detail ? ` (${detail})` : '');
    });
  const said = parts.filter((p) => p !== '').join('; ');
  return said === '' ? undefined : said;
}

function xmlError(text: string): string | undefined {
  const field = (name: string) => new RegExp(`<${name}>([^<]{1,300})</${name}>`).exec(text)?.[1];
  const words = [field('Code'), field('Message')].filter((w) => w !== undefined);
  return words.length > 0 ? words.join(': ') : undefined;
}

function plainText(text: string): string | undefined {
  if (/^\s*</.test(text)) return undefined; // HTML or XML without a code: nothing readable
  const line = text.trim();
  return line === '' ? undefined : line.slice(0, ERROR_BODY_CHARS * 2);
}

/** One line, printable, with anything that looks like a credential or a signature removed. */
function sanitize(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- removing control characters is the point
      .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
      .replace(/\b(Bearer|Basic)\s+[\w.~+/=-]+/gi, '$1 <redacted>')
      .replace(/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, '<redacted>')
      .replace(/(https?:\/\/[^\s?#"'<>]*)\?[^\s"'<>]*/gi, '$1?<redacted>')
      .replace(
        /\b((?:password|passwd|secret|token|signature|credential)[\w-]*)=\S+/gi,
        '$1=<redacted>',
      )
      .replace(/\s+/g, ' ')
      .trim()
  );
}
