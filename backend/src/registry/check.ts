// What `slipstream check-registry` measures: can lazy pulling work against this repository?
// Every probe is a real request through the same client the agent uses, so a green report
// means the agent's own code path works there (auth, mirrors, TLS, ranges).
import {
  detectFormat,
  DETECT_TAIL_BYTES,
  type FormatReport,
  type LayerFormat,
} from '../estargz/detect.ts';
import { Annotations, MediaTypes, type Descriptor, type Platform } from '../image/types.ts';
import type { BlobReader } from './blob-reader.ts';
import type { RegistryClient, ResolvedImage } from './client.ts';
import { isRegistryError, RegistryError } from './errors.ts';
import { parseReference } from './reference.ts';
import type { RequestEvent } from './stats.ts';

export interface CheckResult {
  name:
    'reachable' | 'manifest' | 'range' | 'suffix-range' | 'multi-range' | 'redirect' | 'estargz';
  ok: boolean;
  /** A failed blocking check means lazy pulling cannot work here. */
  blocking: boolean;
  detail: string;
}

export interface LayerCheck {
  digest: string;
  size: number;
  mediaType: string;
  format: LayerFormat | 'unreadable';
  lazySupported: boolean;
  reason: string;
}

export interface RegistryCheckReport {
  reference: string;
  ok: boolean;
  source?: { registry: string; repository: string; mirror: boolean };
  auth: 'anonymous' | 'basic' | 'bearer' | 'unknown';
  manifest?: { digest: string; mediaType: string; fromIndex: boolean; layers: number };
  checks: CheckResult[];
  layers: LayerCheck[];
  /** Median time to the first byte of a 4 KiB range, over three reads. */
  smallRangeLatencyMs?: number;
  /** One range of up to 4 MiB from the largest layer. */
  throughput?: {
    bytes: number;
    seconds: number;
    mibPerSecond: number;
    firstByteMs: number | undefined;
  };
}

const FOUR_MIB = 4 << 20;

function errorDetail(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Runs `read` and returns the first-byte time of the request it made. */
async function timed(
  client: RegistryClient,
  read: () => Promise<unknown>,
): Promise<number | undefined> {
  const events: RequestEvent[] = [];
  const listener = (e: RequestEvent) => events.push(e);
  client.stats.on('request', listener);
  try {
    await read();
  } finally {
    client.stats.off('request', listener);
  }
  return events.filter((e) => e.purpose === 'blob-range').at(-1)?.firstByteMs;
}

export async function checkRegistry(
  client: RegistryClient,
  reference: string,
  opts: { platform?: Platform } = {},
): Promise<RegistryCheckReport> {
  const report: RegistryCheckReport = {
    reference,
    ok: false,
    auth: 'unknown',
    checks: [],
    layers: [],
  };
  let image: ResolvedImage;
  try {
    image = await client.resolve(reference, opts.platform ? { platform: opts.platform } : {});
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    report.auth = authSeen(client, reference);
    report.checks.push({
      name: 'reachable',
      ok: false,
      blocking: true,
      detail: `${e.kind}: ${e.message}`,
    });
    return report;
  }
  report.source = image.source;
  report.auth = client.session(image.source.registry, image.source.repository).authMethod;
  report.manifest = {
    digest: image.manifestDigest,
    mediaType: image.manifestMediaType,
    fromIndex: image.indexDigest !== undefined,
    layers: image.layers.length,
  };
  report.checks.push({
    name: 'reachable',
    ok: true,
    blocking: true,
    detail: `manifest ${image.manifestDigest} from ${image.source.registry}/${image.source.repository}${image.source.mirror ? ' (mirror)' : ''}`,
  });

  report.checks.push(manifestCheck(image.manifestMediaType));

  const largest = image.layers.reduce<Descriptor | undefined>(
    (a, l) => (!a || l.size > a.size ? l : a),
    undefined,
  );
  if (!largest || largest.size < 64) {
    report.checks.push({
      name: 'range',
      ok: false,
      blocking: true,
      detail: 'the image has no layer large enough to probe',
    });
    return report;
  }
  const blob = image.openBlob(largest);
  await probeRanges(client, blob, report);
  report.layers = await Promise.all(image.layers.map((l) => checkLayer(image, l)));
  const lazy = report.layers.filter((l) => l.lazySupported).length;
  report.checks.push({
    name: 'estargz',
    ok: lazy > 0,
    blocking: true,
    detail: `${lazy} of ${report.layers.length} layers can be served lazily${lazy < report.layers.length ? '; convert the image with `slipstream convert`' : ''}`,
  });
  report.ok = report.checks.every((c) => c.ok || !c.blocking);
  return report;
}

/** The auth a failed resolve met at the source (the last place a resolve tries), if any. */
function authSeen(client: RegistryClient, reference: string): RegistryCheckReport['auth'] {
  try {
    const source = client.registries.pullSources(parseReference(reference)).at(-1)!;
    const method = client.session(source.registry, source.repository).authMethod;
    return method === 'anonymous' ? 'unknown' : method; // no challenge seen: cannot tell
  } catch {
    return 'unknown';
  }
}

async function probeRanges(
  client: RegistryClient,
  blob: BlobReader,
  report: RegistryCheckReport,
): Promise<void> {
  try {
    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = Math.floor((blob.size - 4096) * (i / 3));
      const first = await timed(client, () =>
        blob.readRange(Math.max(0, start), Math.min(blob.size, Math.max(0, start) + 4096)),
      );
      if (first !== undefined) latencies.push(first);
    }
    if (latencies.length) report.smallRangeLatencyMs = median(latencies);
    report.checks.push({
      name: 'range',
      ok: true,
      blocking: true,
      detail: 'single byte ranges answered with 206 and the exact bytes',
    });
  } catch (e) {
    report.checks.push({ name: 'range', ok: false, blocking: true, detail: errorDetail(e) });
    return;
  }
  try {
    await blob.readSuffix(51);
    report.checks.push({
      name: 'suffix-range',
      ok: true,
      blocking: false,
      detail: 'bytes=-N works: footer and TOC in one request',
    });
  } catch (e) {
    report.checks.push({
      name: 'suffix-range',
      ok: false,
      blocking: false,
      detail: `${errorDetail(e)}; the TOC needs an extra round trip`,
    });
  }
  try {
    const how = await blob.probeMultiRange();
    const detail = {
      multipart: 'multipart/byteranges answers: several chunks per request',
      coalesced: 'answered with one covering range: works, may transfer extra bytes',
      refused: 'multi-range refused: one request per chunk (automatic fallback)',
      ignored: 'multi-range answered with the whole blob (abandoned): one request per chunk',
    }[how];
    report.checks.push({
      name: 'multi-range',
      ok: how === 'multipart' || how === 'coalesced',
      blocking: false,
      detail,
    });
  } catch (e) {
    report.checks.push({ name: 'multi-range', ok: false, blocking: false, detail: errorDetail(e) });
  }
  report.checks.push({
    name: 'redirect',
    ok: true,
    blocking: false,
    detail: blob.redirectedTo
      ? `blobs redirect to ${blob.redirectedTo}; the URL is reused until it expires`
      : 'blobs are served by the registry itself',
  });
  try {
    const bytes = Math.min(FOUR_MIB, blob.size);
    const started = performance.now();
    const firstByteMs = await timed(client, () => blob.readRange(0, bytes));
    const seconds = (performance.now() - started) / 1000;
    report.throughput = { bytes, seconds, mibPerSecond: bytes / (1 << 20) / seconds, firstByteMs };
  } catch {
    // the range check above already reported why ranges fail
  }
}

/**
 * Docker schema2 descriptors have no annotations in containers/image (its Schema2Descriptor
 * keeps media type, size, digest and URLs only), so CRI-O never learns a layer's TOC digest and
 * never asks the store for it: only OCI manifests can be pulled lazily.
 */
function manifestCheck(mediaType: string): CheckResult {
  if (mediaType === MediaTypes.ociManifest) {
    return {
      name: 'manifest',
      ok: true,
      blocking: true,
      detail: 'OCI manifest: layer annotations reach CRI-O',
    };
  }
  return {
    name: 'manifest',
    ok: false,
    blocking: true,
    detail:
      mediaType === MediaTypes.dockerManifest
        ? 'Docker schema2 manifest: containers/image drops layer annotations from it, so CRI-O never learns the TOC digests and pulls every layer in full; push it as OCI (slipstream convert writes OCI)'
        : `manifest media type ${mediaType} is not an OCI image manifest`,
  };
}

/**
 * An eStargz footer is not enough: the store verifies the TOC against the manifest's
 * `toc.digest` annotation, and CRI-O asks for a layer by that digest.
 */
function requireTocAnnotation(found: FormatReport, layer: Descriptor): FormatReport {
  const lazyFormat = found.format === 'estargz' || found.format === 'stargz-legacy';
  if (!lazyFormat || layer.annotations?.[Annotations.estargzTocDigest] !== undefined) return found;
  return {
    ...found,
    lazySupported: false,
    reason: `${found.format} layer without the ${Annotations.estargzTocDigest} annotation in the manifest: its TOC cannot be verified and CRI-O never asks for it lazily; convert the image again (slipstream convert) or push it with the annotations kept`,
  };
}

async function checkLayer(image: ResolvedImage, layer: Descriptor): Promise<LayerCheck> {
  const base = { digest: layer.digest, size: layer.size, mediaType: layer.mediaType };
  if (layer.size < DETECT_TAIL_BYTES) {
    return {
      ...base,
      format: 'unknown',
      lazySupported: false,
      reason: 'layer too small to carry a TOC',
    };
  }
  try {
    const blob = image.openBlob(layer);
    const headEnd = Math.min(512, layer.size - DETECT_TAIL_BYTES);
    const [head, tail] = await blob.readRanges([
      { start: 0, end: headEnd },
      { start: layer.size - DETECT_TAIL_BYTES, end: layer.size },
    ]);
    const found = detectFormat({
      head: head,
      tail: tail,
      ...(layer.annotations ? { annotations: layer.annotations } : {}),
    });
    return { ...base, ...requireTocAnnotation(found, layer) };
  } catch (e) {
    if (!isRegistryError(e)) throw e;
    return { ...base, format: 'unreadable', lazySupported: false, reason: e.message };
  }
}
