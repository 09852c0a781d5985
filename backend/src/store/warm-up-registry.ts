// A registry in the agent's own process, on 127.0.0.1, serving one image: what the start-up
// warm-up pulls (store/warm-up-lookup.ts) so that a fresh agent's first real pull does not run its HTTP
// client, manifest handling, lookup and read paths cold. Only what a lookup asks: `/v2/`, the
// manifest by tag or digest, blobs whole or one range (`a-b`, `a-`, `-n`). It is no registry
// for anything else: no push, no auth, no multi-range.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { sha256Digest } from '../estargz/index.ts';
import { MediaTypes, type Descriptor } from '../image/types.ts';

export interface WarmUpImageLayer {
  blob: Buffer;
  /** Layer annotations, as a converter writes them. */
  annotations: Record<string, string>;
  /** The image config's diff_id: the digest of the layer's uncompressed stream. */
  diffId: string;
}

export interface WarmUpRegistry {
  /** `127.0.0.1:port`. */
  host: string;
  /** The image's reference (a tag). */
  ref: string;
  /** Its layers' descriptors, in manifest order. */
  layers: Descriptor[];
  /** Requests answered, for tests. */
  requests: number;
  close(): Promise<void>;
}

const REPOSITORY = 'slipstream/warm-up';
const TAG = 'latest';

export async function startWarmUpRegistry(layers: WarmUpImageLayer[]): Promise<WarmUpRegistry> {
  const blobs = new Map<string, Buffer>();
  const addBlob = (bytes: Buffer): string => {
    const digest = sha256Digest(bytes);
    blobs.set(digest, bytes);
    return digest;
  };
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      config: {},
    }),
  );
  const descriptors: Descriptor[] = layers.map((l) => ({
    mediaType: MediaTypes.ociLayerGzip,
    digest: addBlob(l.blob),
    size: l.blob.length,
    annotations: l.annotations,
  }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: addBlob(config), size: config.length },
      layers: descriptors,
    }),
  );
  const manifestDigest = sha256Digest(manifest);

  const registry = { requests: 0 };
  const server = createServer((req, res) => {
    registry.requests++;
    answer(req, res, { blobs, manifest, manifestDigest });
  });
  // A lookup opens a score of connections at once; none must wait in the accept queue.
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return Object.assign(registry, {
    host,
    ref: `${host}/${REPOSITORY}:${TAG}`,
    layers: descriptors,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

interface Content {
  blobs: Map<string, Buffer>;
  manifest: Buffer;
  manifestDigest: string;
}

function answer(req: IncomingMessage, res: ServerResponse, content: Content): void {
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  const path = new URL(req.url ?? '/', 'http://warm-up').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') return end(res, 405);
  if (path === '/v2/') return end(res, 200, Buffer.from('{}'), 'application/json');
  const prefix = `/v2/${REPOSITORY}/`;
  if (!path.startsWith(prefix)) return end(res, 404);
  const [kind, name] = path.slice(prefix.length).split('/');
  if (kind === 'manifests' && (name === TAG || name === content.manifestDigest)) {
    res.setHeader('Docker-Content-Digest', content.manifestDigest);
    return end(res, 200, content.manifest, MediaTypes.ociManifest, req.method === 'HEAD');
  }
  const blob = kind === 'blobs' ? content.blobs.get(name) : undefined;
  if (!blob) return end(res, 404);
  res.setHeader('Docker-Content-Digest', name);
  res.setHeader('Accept-Ranges', 'bytes');
  const range = req.headers.range;
  if (range === undefined) {
    return end(res, 200, blob, 'application/octet-stream', req.method === 'HEAD');
  }
  const span = parseRange(range, blob.length);
  if (!span) {
    res.setHeader('Content-Range', `bytes */${blob.length}`);
    return end(res, 416);
  }
  res.setHeader('Content-Range', `bytes ${span.start}-${span.end - 1}/${blob.length}`);
  return end(res, 206, blob.subarray(span.start, span.end), 'application/octet-stream');
}

/** One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`, end exclusive; undefined if unsatisfiable. */
function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const span =
    m[1] === ''
      ? { start: Math.max(0, size - Number(m[2])), end: size }
      : { start: Number(m[1]), end: m[2] === '' ? size : Math.min(size, Number(m[2]) + 1) };
  return span.start < span.end ? span : undefined;
}

function end(
  res: ServerResponse,
  status: number,
  body?: Buffer,
  type?: string,
  headOnly = false,
): void {
  res.statusCode = status;
  if (type) res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', body?.length ?? 0);
  res.end(headOnly ? undefined : body);
}
