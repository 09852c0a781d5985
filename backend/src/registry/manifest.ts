// Manifests: fetch (by tag or digest, digest-verified), classify, and pick the platform's
// manifest from an index. Docker schema2 and OCI are accepted; schema1 is refused clearly.
import { createHash } from 'node:crypto';
import { arch as nodeArch } from 'node:os';

import type {
  Descriptor,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  Platform,
  RawManifest,
} from '../image/types.ts';
import { MediaTypes } from '../image/types.ts';
import { digestAlgorithm } from './blob-reader.ts';
import { Deadline, defaultRetryPolicy, withRetries } from './deadline.ts';
import { RegistryError, RegistryErrorKind } from './errors.ts';
import { isDigest } from './reference.ts';
import type { RegistrySession } from './session.ts';

export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
  MediaTypes.dockerSchema1Signed,
  MediaTypes.dockerSchema1,
].join(', ');

const MAX_MANIFEST_BYTES = 4 << 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function computeDigest(bytes: Buffer, algo = 'sha256'): string {
  return `${algo}:${createHash(algo).update(bytes).digest('hex')}`;
}

/** GET a manifest or index; the bytes are checked against the digest when one was asked for. */
export async function fetchManifest(
  session: RegistrySession,
  reference: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<RawManifest> {
  const deadline = new Deadline(opts.timeoutMs ?? 30_000, opts.signal);
  return withRetries(deadline, session.host, defaultRetryPolicy, async (attempt) => {
    const request = <P extends string | URL>(path: P) => ({
      method: 'GET',
      path,
      headers: { accept: MANIFEST_ACCEPT },
      purpose: 'manifest' as const,
      deadline,
      attempt,
    });
    let res = await session.send(request(`manifests/${reference}`));
    // Some registries redirect manifest requests too (registry.k8s.io sends every /v2/ request
    // to a regional registry): follow, with credentials only on the registry's own host.
    for (let hops = 0; REDIRECTS.has(res.status); hops++) {
      const location = res.header('location');
      await res.drain();
      if (!location || hops >= 5) {
        throw new RegistryError(
          RegistryErrorKind.protocol,
          `manifest ${reference} on ${session.name}: ${location ? 'redirected too many times' : 'redirect without a Location'}`,
          { host: session.host, status: res.status },
        );
      }
      const url = new URL(location, res.url);
      // Same origin only: a redirect to plain http on the same host must not carry credentials.
      res = await (url.host === session.host && url.protocol === res.url.protocol
        ? session.send(request(url))
        : session.sendExternal(request(url)));
    }
    if (res.status !== 200) throw await session.statusError(res, `manifest ${reference}`);
    const bytes = await res.read({ maxBytes: MAX_MANIFEST_BYTES });
    const mediaType = mediaTypeOf(bytes, res.header('content-type'));
    const algo = isDigest(reference) ? digestAlgorithm(reference) : 'sha256';
    const digest = computeDigest(bytes, algo);
    if (isDigest(reference) && digest !== reference) {
      throw new RegistryError(
        RegistryErrorKind.integrity,
        `manifest ${reference} on ${session.name} has digest ${digest}`,
        { host: session.host, retryable: true },
      );
    }
    return { mediaType, digest, bytes };
  });
}

/** The media type from the document itself, falling back to Content-Type. */
function mediaTypeOf(bytes: Buffer, contentType: string | undefined): string {
  const stated = (contentType ?? '').split(';')[0].trim();
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as {
      mediaType?: unknown;
      manifests?: unknown;
      schemaVersion?: unknown;
      config?: { mediaType?: unknown };
      layers?: unknown;
    };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
    if (doc.schemaVersion === 1) return MediaTypes.dockerSchema1;
    if (Array.isArray(doc.manifests)) return MediaTypes.ociIndex;
    // An OCI manifest may omit mediaType, and a mirror or static server may send it as
    // application/json: recognise it by its shape, as containers/image does.
    if (
      doc.config &&
      Array.isArray(doc.layers) &&
      stated !== MediaTypes.ociManifest &&
      stated !== MediaTypes.dockerManifest
    ) {
      return doc.config.mediaType === MediaTypes.dockerConfig
        ? MediaTypes.dockerManifest
        : MediaTypes.ociManifest;
    }
  } catch {
    // fall through: the parse error is reported by parseManifest
  }
  return stated || MediaTypes.ociManifest;
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList;
}

export type ParsedManifest =
  { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

function badManifest(where: string, why: string): RegistryError {
  return new RegistryError(RegistryErrorKind.protocol, `${where}: ${why}`);
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  const desc = d as Descriptor;
  if (
    !desc ||
    typeof desc.mediaType !== 'string' ||
    typeof desc.digest !== 'string' ||
    !isDigest(desc.digest) ||
    !Number.isSafeInteger(desc.size) ||
    desc.size < 0
  ) {
    throw badManifest(where, 'has an invalid descriptor');
  }
  return desc;
}

/** Validates the structure enough that callers can trust the fields they use. */
export function parseManifest(raw: RawManifest, where: string): ParsedManifest {
  if (
    raw.mediaType === MediaTypes.dockerSchema1 ||
    raw.mediaType === MediaTypes.dockerSchema1Signed
  ) {
    throw new RegistryError(
      RegistryErrorKind.unsupported,
      `${where} is a Docker schema 1 manifest, which is deprecated and not supported; push the image again with a current tool`,
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(raw.bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw badManifest(where, 'is not valid JSON');
  }
  if (doc.schemaVersion !== 2)
    throw badManifest(where, `has schemaVersion ${String(doc.schemaVersion)}, expected 2`);
  if (isIndexType(raw.mediaType)) {
    if (!Array.isArray(doc.manifests)) throw badManifest(where, 'is an index without manifests');
    doc.manifests.forEach((m) => checkDescriptor(m, where));
    return { kind: 'index', index: doc as unknown as ImageIndex };
  }
  if (raw.mediaType !== MediaTypes.ociManifest && raw.mediaType !== MediaTypes.dockerManifest) {
    throw new RegistryError(
      RegistryErrorKind.unsupported,
      `${where} has unsupported media type ${raw.mediaType}`,
    );
  }
  checkDescriptor(doc.config, where);
  if (!Array.isArray(doc.layers)) throw badManifest(where, 'has no layers array');
  doc.layers.forEach((l) => checkDescriptor(l, where));
  return { kind: 'manifest', manifest: doc as unknown as ImageManifest };
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const a = nodeArch();
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    ia32: { os: 'linux', architecture: '386' },
  };
  return map[a] ?? { os: 'linux', architecture: a };
}

/** Parses `linux/arm64/v8` style strings. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture)
    throw new RegistryError(
      RegistryErrorKind.unsupported,
      `invalid platform "${s}" (expected os/arch[/variant])`,
    );
  return { os, architecture, ...(variant ? { variant } : {}) };
}

function normalizedVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64') return p.variant ?? 'v8';
  return p.variant;
}

/**
 * The best manifest in an index for a platform: exact variant first, then a missing one; failing
 * those, the first entry that names no platform at all (containers/image takes it too).
 */
export function selectPlatform(index: ImageIndex, platform: Platform): Descriptor | undefined {
  const images = index.manifests.filter(
    (m) =>
      isIndexType(m.mediaType) ||
      m.mediaType === MediaTypes.ociManifest ||
      m.mediaType === MediaTypes.dockerManifest,
  );
  const candidates = images.filter(
    (m) =>
      m.platform &&
      m.platform.os === platform.os &&
      m.platform.architecture === platform.architecture,
  );
  const want = normalizedVariant(platform);
  return (
    candidates.find((m) => normalizedVariant(m.platform!) === want) ??
    candidates.find((m) => m.platform!.variant === undefined) ??
    (want === undefined ? candidates[0] : undefined) ??
    images.find((m) => !m.platform)
  );
}

/** `os/arch[/variant]` */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

export function parseConfig(bytes: Buffer, where: string): ImageConfig {
  let doc: ImageConfig;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw badManifest(where, 'config is not valid JSON');
  }
  if (!doc || typeof doc !== 'object') throw badManifest(where, 'config is not an object');
  return doc;
}
