// What `slipstream check-registry` measures: can lazy pulling work against this repository?
// Every probe is a real request through the same client the agent uses, so a green report
// means the agent's own code path works there (auth, mirrors, TLS, ranges).
import {
  detectFormat,
  DETECT_TAIL_BYTES,
  type FormatReport,
  type LayerFormat,
} from '../estargz/detect.ts';
import { EstargzError } from '../estargz/errors.ts';
import { extractTocJson, locateToc } from '../estargz/tail.ts';
import { sha256Digest } from '../estargz/toc.ts';
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
  await probeRanges(client, blob, report, referenceBlob(image));
  report.layers = await Promise.all(image.layers.map((l) => checkLayer(image, l)));
  const lazy = report.layers.filter((l) => l.lazySupported).length;
  // Converting cannot help layers the registry would not let the agent read in ranges.
  const rangesFail = report.checks.some((c) => c.name === 'range' && !c.ok);
  const advice = rangesFail
    ? '; the registry does not serve byte ranges (see the range check): converting will not help'
    : '; convert the image with `slipstream convert`';
  report.checks.push({
    name: 'estargz',
    ok: lazy > 0,
    blocking: true,
    detail: `${lazy} of ${report.layers.length} layers can be served lazily${lazy < report.layers.length ? advice : ''}`,
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

/**
 * A blob small enough to read whole, digest-checked, as the truth that ranges are compared with:
 * the smallest layer of at most 4 MiB (layers are what lazy pulls read), else the config.
 */
function referenceBlob(image: ResolvedImage): BlobReader | undefined {
  const small = image.layers
    .filter((l) => l.size >= 64 && l.size <= FOUR_MIB)
    .reduce<Descriptor | undefined>((a, l) => (!a || l.size < a.size ? l : a), undefined);
  const chosen = small ?? (image.manifest.config.size >= 64 ? image.manifest.config : undefined);
  return chosen && image.openBlob(chosen);
}

/**
 * Reads ranges of `reference` and compares them with the blob read whole and digest-checked: a
 * front that answers 206 with the right length but other bytes (a cache keyed without the Range,
 * a proxy that rewrites it) would make every lazy read fail its chunk digest.
 */
async function rangesAreExact(reference: BlobReader): Promise<string | undefined> {
  const whole = await reference.readAll();
  const length = Math.max(1, Math.min(4096, Math.floor(whole.length / 4)));
  // Never at offset 0 or the end: a front that serves every range from the start (or as a
  // suffix) would pass there.
  const starts = [Math.floor(whole.length / 4), Math.floor(whole.length / 2)].concat(
    whole.length - length - 1,
  );
  for (const start of starts) {
    const bytes = await reference.readRange(start, start + length);
    if (!bytes.equals(whole.subarray(start, start + length))) {
      return `the range ${start}-${start + length - 1} of blob ${reference.digest} was answered with 206 and other bytes than the blob holds (compared with the whole blob, digest-checked)`;
    }
  }
  return undefined;
}

async function probeRanges(
  client: RegistryClient,
  blob: BlobReader,
  report: RegistryCheckReport,
  reference: BlobReader | undefined,
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
    const wrong = reference && (await rangesAreExact(reference));
    report.checks.push({
      name: 'range',
      ok: wrong === undefined,
      blocking: true,
      detail:
        wrong ??
        (reference
          ? 'single byte ranges answered with 206 and the exact bytes'
          : 'single byte ranges answered with 206 (no blob small enough to compare the bytes with)'),
    });
    if (wrong) return;
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

/**
 * Reads the layer's TOC (one range: from the TOC offset the footer names to the footer) and
 * checks it against the manifest's annotation, as the store does before it serves a layer.
 * Returns why the layer cannot be served, or undefined.
 */
async function tocMismatch(
  blob: BlobReader,
  tail: Buffer,
  expected: string,
): Promise<string | undefined> {
  try {
    let location = locateToc(tail, blob.size);
    if (location.kind === 'need') {
      const head = await blob.readRange(location.start, location.end);
      location = locateToc(Buffer.concat([head, tail]), blob.size);
      if (location.kind === 'need') return 'the TOC could not be read whole';
    }
    const actual = sha256Digest(await extractTocJson(location.tocGzip));
    return actual === expected
      ? undefined
      : `the TOC's digest is ${actual}, not the ${Annotations.estargzTocDigest} annotation's ${expected}: the store refuses this layer (the blob or the manifest was changed after conversion)`;
  } catch (e) {
    if (!(e instanceof EstargzError)) throw e;
    return `the TOC cannot be read (${e.code}: ${e.message}); the store refuses this layer`;
  }
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
    const found = requireTocAnnotation(
      detectFormat({
        head: head,
        tail: tail,
        ...(layer.annotations ? { annotations: layer.annotations } : {}),
      }),
      layer,
    );
    const expected = layer.annotations?.[Annotations.estargzTocDigest];
    const mismatch =
      found.lazySupported && expected !== undefined
        ? await tocMismatch(blob, tail, expected)
        : undefined;
    return mismatch
      ? { ...base, ...found, lazySupported: false, reason: mismatch }
      : { ...base, ...found };
  } catch (e) {
    if (!isRegistryError(e)) throw e;
    return { ...base, format: 'unreadable', lazySupported: false, reason: e.message };
  }
}
