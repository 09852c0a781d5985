// Resolves (image reference, digest) pairs to verified eStargz layers, within a time bound.
//
// containers/image asks for an image's layers one by one, under a per-image lock. So the first
// lookup of a reference resolves the image (manifest + config) and then opens ALL its layers in
// parallel (footer + TOC + verification each); later lookups find them done. A lookup that
// cannot be answered within the bound, or a layer that cannot be served lazily (not eStargz, no
// range support, unreachable, bad credentials), answers "unavailable" with a reason, and the
// runtime pulls that layer normally.
import type { ChunkCache } from '../cache/chunk-cache.ts';
import type { LayerRecord, LayerRecords } from '../cache/layer-records.ts';
import type { TocCache } from '../cache/toc-cache.ts';
import {
  EstargzError,
  EstargzErrorCode,
  openLayerIndex,
  type ChunkRef,
  type LayerIndex,
} from '../estargz/index.ts';
import type { BackgroundFetcher } from '../fetch/background.ts';
import { groupByBytes } from '../fetch/coalesce.ts';
import { LayerFetcher } from '../fetch/layer-fetcher.ts';
import type { FetchScheduler } from '../fetch/scheduler.ts';
import { Priority, type ChunkSpec, type FetchObserver } from '../fetch/types.ts';
import { Annotations, MediaTypes, type Descriptor } from '../image/types.ts';
import type { BlobReader, RegistryClient, ResolvedImage } from '../registry/index.ts';
import { bootFileTiers, parseBootRanges } from './boot-files.ts';
import { commandFileChunks, type CommandConfig } from './command-files.ts';
import type { IndexBudget, IndexLease } from './index-budget.ts';
import { allChunks, chunkSpec, type ResolvedLayer } from './layer.ts';
import {
  EarlyRangeSource,
  earlyPieces,
  RegistryRangeSource,
  type EarlyBytes,
} from './range-source.ts';
import { tocPieceBytes, tocReadRange, TocSpeculation } from './toc-speculation.ts';

type RegistryBlob = ReturnType<ResolvedImage['openBlob']>;

export interface StoreLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What the store tells metrics/telemetry about lookups and layers. */
export interface StoreObserver extends FetchObserver {
  servedLazily?(event: { ref: string; layer: string }): void;
  fellBack?(event: { ref: string; digest: string; reason: string }): void;
  layerResolved?(event: {
    ref: string;
    layer: ResolvedLayer;
    seconds: number;
    /** The platform manifest's digest and the sum of its layers' compressed sizes. */
    image: { manifestDigest: string; compressedSize: number };
  }): void;
  layerReleased?(event: { layer: string }): void;
}

export interface PrefetchSettings {
  enabled: boolean;
  /** Compressed bytes per layer. */
  maxBytes: number;
  /** After this long a layer's prefetch stops starting requests (on demand and background remain). */
  maxSeconds?: number;
}

export interface LayerManagerOptions {
  client: RegistryClient;
  cache: ChunkCache;
  /** TOCs of layers seen before; a lookup of such a layer does not read its TOC again. */
  tocCache?: TocCache;
  /** Layers served before: they answer when the registry has no answer for them (#orFromRecord). */
  records?: LayerRecords;
  scheduler: FetchScheduler;
  background: BackgroundFetcher;
  lookupTimeoutMs: number;
  prefetch: PrefetchSettings;
  log: StoreLogger;
  observer?: StoreObserver;
  /** How long a failed image resolution is remembered before it is tried again. */
  negativeTtlMs?: number;
  /** How long a tag's resolution is trusted (digests are forever). */
  tagTtlMs?: number;
  /** TOC entries all open layers may hold together (index-budget.ts); unbounded if absent. */
  indexBudget?: IndexBudget;
}

export type LookupResult =
  /** `fromRecord`: answered from the layer's record, without the image's manifest. */
  { ok: true; layer: ResolvedLayer; fromRecord?: boolean } | { ok: false; reason: string };

/** A lookup's answer through the image's manifest; `listed` when the manifest names the layer. */
interface RegistryAnswer {
  listed: boolean;
  result: LookupResult;
}

/**
 * Share of the lookup bound after which a layer's record answers if the registry has not (see
 * #orFromRecord): a resolution takes a few round trips, well under a second near the registry.
 */
const RECORD_AFTER = 0.3;

/** A tag resolved this long ago is resolved again when asked for a layer it does not list. */
const TAG_RECHECK_MS = 1000;

/** A tag resolved this long ago is resolved again before a pull may take a layer (confirmed()). */
const TAG_FRESH_MS = 10_000;

interface ImageEntry {
  ref: string;
  created: number;
  /**
   * When every lookup of this resolution has its answer (Date.now() ms): the first lookup's
   * bound. The runtime looks an image's layers up one after another, and all of them have been
   * resolving in parallel since the first: each later lookup waits only for what is left of
   * that bound, so an image whose registry hangs misses within one bound, not one per layer.
   */
  deadline: number;
  /** digest name (compressed or TOC) → that layer's resolution. */
  resolution: Promise<Map<string, Promise<LookupResult>>>;
  /** When the resolution failed (Date.now() ms); the negative TTL counts from there. */
  failedAt?: number;
  /** The bound of lookups answered from layer records (see lookup()). */
  recordDeadline?: number;
  /** The layer names (digests, TOC digests) the resolved manifest lists. */
  names?: Set<string>;
  /** Made because the tag seemed to have moved (#tagMoved): not checked again for its TTL. */
  recheck: boolean;
}

/** What a layer needs of its image: where its blob is read, and what telemetry reports. */
interface ImageOfLayer {
  manifestDigest: string;
  /** The sum of the image's layers' compressed sizes. */
  compressedSize: number;
  /** Where the image was found (a mirror or the source): where its blobs are read. */
  source: { registry: string; repository: string };
  openBlob(desc: Pick<Descriptor, 'digest' | 'size'>): BlobReader;
}

/** One layer of a resolved image, as the first lookup of its reference asks for it. */
interface WantedLayer {
  ref: string;
  image: ImageOfLayer;
  desc: Descriptor;
  /** From the image config; undefined when the config lists fewer diff_ids than layers. */
  diffId: string | undefined;
  /** When the image's resolution started (performance.now()). */
  started: number;
  /** Its index, when opening it started as soon as the manifest arrived. */
  index?: Promise<LayerIndex>;
  /** Its boot files' bytes, read beside the TOC (the converter said where they lie). */
  earlyBoot?: EarlyBytes;
}

/** A layer's prefetch: its boot files first, then its landmark region, within one deadline. */
interface LayerPrefetch {
  deadline: number;
  bootIds: Set<number>;
  /** Settles when the boot files are warm (or given up). */
  boot: Promise<void>;
  landmark: boolean;
}

interface EarlyTail {
  digest: string;
  read: Promise<{ bytes: Buffer; blobSize: number } | undefined>;
}

/**
 * Footer + TOC in one suffix read for TOCs up to this size compressed (a few hundred entries);
 * bigger ones cost one more request. Small because the read usually runs on a fresh connection:
 * with TCP's initial window of 10 segments, 32 KiB arrive in two flights, 256 KiB would take five.
 */
const TAIL_BYTES = 32 * 1024;
/** Below this round trip to the registry, ranges read at lookup go in one request each. */
const NEAR_RTT_MS = 10;
/** A piece size that leaves a range whole. */
const WHOLE = Number.MAX_SAFE_INTEGER;
/**
 * Connections opened at an image's first lookup: the pool's cap is 24, and the manifest, the
 * https probe and the early tail read open their own.
 */
const PRECONNECT_CONNECTIONS = 20;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

const GZIP_LAYER_TYPES = new Set<string>([MediaTypes.ociLayerGzip, MediaTypes.dockerLayerGzip]);

export class LayerManager {
  readonly #o: LayerManagerOptions;
  readonly #images = new Map<string, ImageEntry>();
  /**
   * Resolved layers by compressed digest, shared across images that name the same TOC for it
   * (see #layer), with that TOC digest.
   */
  readonly #layers = new Map<string, { toc: string | undefined; result: Promise<LookupResult> }>();
  readonly #live = new Map<string, ResolvedLayer>();
  /** Layers read without a `use` reference, and fetched in the background since (adopt()). */
  readonly #adopted = new Set<string>();
  /** How each index's TOC was parsed (logged with the resolved layer; see #openIndex). */
  readonly #tocParse = new WeakMap<LayerIndex, string>();
  /** Each index's share of the entry budget, ended when the index is dropped (#dropIndex). */
  readonly #leases = new WeakMap<LayerIndex, IndexLease>();
  readonly #failedLayers = new Map<string, Promise<LookupResult>>();
  /** Layers whose prefetch has been started (forgotten with the layer). */
  readonly #prefetches = new Map<string, LayerPrefetch>();

  constructor(options: LayerManagerOptions) {
    this.#o = options;
  }

  /**
   * Forgets failed resolutions so that the next lookup tries again at once (new credentials
   * arrived from the auth helper, or the registry came back).
   */
  forgetFailures(): void {
    for (const [ref, entry] of this.#images) {
      if (entry.failedAt !== undefined) this.#images.delete(ref);
    }
    for (const [digest, failed] of this.#failedLayers) {
      if (this.#layers.get(digest)?.result === failed) this.#layers.delete(digest);
      this.#forgetImagesWith(digest, failed);
    }
    this.#failedLayers.clear();
  }

  /**
   * Drops the image resolutions that answer `digest` (with `result`, when given): the next lookup
   * of such an image resolves it again. An image's resolution keeps each layer's answer, and is
   * kept for the tag TTL, or for ever under a digest reference: a layer that failed once (a TOC
   * read cut short) would otherwise never be lazy again for an image pulled by digest.
   */
  #forgetImagesWith(digest: string, result?: Promise<LookupResult>): void {
    for (const [ref, entry] of this.#images) {
      void entry.resolution
        .then((layers) => {
          const held = layers.get(digest);
          if (!held || (result !== undefined && held !== result)) return;
          if (this.#images.get(ref) === entry) this.#images.delete(ref);
        })
        .catch(() => undefined);
    }
  }

  /** Applies a configuration reload. */
  setPrefetch(prefetch: PrefetchSettings): void {
    this.#o.prefetch = prefetch;
  }

  /** A layer already resolved (no network), by compressed digest. */
  live(digest: string): ResolvedLayer | undefined {
    return this.#live.get(digest);
  }

  get liveLayers(): ResolvedLayer[] {
    return [...this.#live.values()];
  }

  /** Resolves `digest` (compressed or TOC digest) of image `ref`, answering within the bound. */
  async lookup(ref: string, digest: string): Promise<LookupResult> {
    const entry = this.#image(ref, digest);
    const result = this.#o.records?.has(digest)
      ? await this.#orFromRecord(ref, digest, entry)
      : await this.#within(this.#viaManifest(entry, digest), entry.deadline);
    if (result.ok) this.#o.observer?.servedLazily?.({ ref, layer: result.layer.digest });
    else this.#o.observer?.fellBack?.({ ref, digest, reason: result.reason });
    return result;
  }

  /** `resolving`'s result, or a miss once `deadline` (Date.now() ms) has passed. */
  async #within<T>(resolving: Promise<T>, deadline: number): Promise<T | LookupResult> {
    let timer: NodeJS.Timeout | undefined;
    // A settled resolution answers in microtasks, ahead of even a 0 ms timer.
    const bound = new Promise<LookupResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, reason: `not resolved within ${this.#o.lookupTimeoutMs} ms` }),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([resolving, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The registry's answer, unless it has none for this layer: then the layer's record answers
   * (cache/layer-records.ts), when the layer was served under this reference before. After an
   * agent restart the runtime looks up again, at every container start, the layers of every
   * image it has; a registry that is down, hangs, refuses the node's credentials, or whose tag
   * has moved on to an image without the layer would otherwise keep a fully cached image from
   * starting. The registry's answer is preferred because only a manifest knows what holds for
   * the image as a whole (a layer it lists twice is never served: repeatedLayers()); a layer
   * answered from its record is therefore served to container starts but not offered to a pull
   * until a manifest lists it (confirmed()). A registry that has not answered by RECORD_AFTER of
   * the bound is not waited for.
   */
  async #orFromRecord(ref: string, digest: string, entry: ImageEntry): Promise<LookupResult> {
    const viaRegistry = this.#lookup(entry, digest);
    const patience = entry.created + RECORD_AFTER * this.#o.lookupTimeoutMs;
    const first = await this.#within(viaRegistry, Math.min(patience, entry.deadline));
    if ('listed' in first && (first.listed || first.result.ok)) return first.result;
    const record = await this.#record(ref, digest);
    if (!record) return this.#within(this.#viaManifest(entry, digest), entry.deadline);
    // Opening the layer is local work when its TOC is cached. It has what is left of the
    // image's bound, or, once that has passed (lookups of a hung registry's image keep coming
    // for as long as its resolution has not failed), a share of a bound, once per image.
    entry.recordDeadline ??= Math.max(
      entry.deadline,
      Date.now() + RECORD_AFTER * this.#o.lookupTimeoutMs,
    );
    const why =
      'listed' in first && !first.result.ok
        ? first.result.reason
        : `no answer within ${Math.round(patience - entry.created)} ms`;
    this.#o.log.info(
      { ref, layer: record.digest, registry: why },
      'store: lookup answered from the layer record',
    );
    const answer = await this.#within(this.#fromRecord(ref, record), entry.recordDeadline);
    return answer.ok ? { ...answer, fromRecord: true } : answer;
  }

  /**
   * Whether the image's manifest, as the agent can read it now, lists the layer (and it can be
   * served): what a pull may take (store/filesystem.ts shows `info` and `blob`, which a pull
   * checks and a container start does not, only then; else the runtime pulls the layer itself).
   * Only the manifest the runtime pulls knows whether it lists a layer twice, which the store
   * must not serve. So a layer answered from its record is served to container starts but not
   * offered to a pull without a manifest, and a tag's resolution older than TAG_FRESH_MS is
   * made again first: the tag may have been pushed again since, with a layer listed twice.
   */
  async confirmed(
    ref: string,
    digest: string,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const existing = this.#images.get(ref);
    const stale =
      existing !== undefined &&
      existing.failedAt === undefined &&
      existing.names !== undefined &&
      !ref.includes('@') &&
      Date.now() - existing.created > TAG_FRESH_MS;
    if (stale) this.#images.delete(ref);
    const entry = this.#image(ref, digest);
    const answer = await this.#within(this.#lookup(entry, digest), entry.deadline);
    const result = 'listed' in answer ? answer.result : answer;
    return result.ok ? { ok: true } : { ok: false, reason: result.reason };
  }

  /** The layer's record, when the layer was served under `ref` before. */
  async #record(ref: string, name: string): Promise<LayerRecord | undefined> {
    const record = await this.#o.records?.get(name);
    return record?.references.includes(ref) ? record : undefined;
  }

  /** The layer opened from its record: no manifest, no config. */
  #fromRecord(ref: string, record: LayerRecord): Promise<LookupResult> {
    const { client } = this.#o;
    const result = this.#layer({
      ref,
      image: {
        ...record.image,
        source: record.source,
        openBlob: (desc) => client.openBlobAt(record.source, desc),
      },
      desc: record.descriptor,
      diffId: record.diffId,
      started: performance.now(),
    });
    void result.then(async (r) => {
      if (!r.ok) return;
      await this.#prefetchBoot(r.layer);
      this.#prefetchLandmark(r.layer, []); // no config at hand: no command files
    });
    return result;
  }

  /** Keeps what a lookup from the record needs, for the next time this layer is asked for. */
  #remember(ref: string, layer: ResolvedLayer, image: ImageOfLayer): void {
    if (!this.#o.records) return;
    const { digest, tocDigest, diffId, descriptor } = layer;
    const entry: Omit<LayerRecord, 'references' | 'savedAt'> = {
      digest,
      tocDigest,
      diffId,
      descriptor: {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        annotations: recordedAnnotations(descriptor.annotations ?? {}),
      },
      source: image.source,
      image: { manifestDigest: image.manifestDigest, compressedSize: image.compressedSize },
    };
    this.#o.records.note(entry, ref).catch((e: unknown) => {
      this.#o.log.warn({ layer: digest, err: describe(e) }, 'store: layer record not saved');
    });
  }

  async #viaManifest(entry: ImageEntry, digest: string): Promise<LookupResult> {
    return (await this.#lookup(entry, digest)).result;
  }

  async #lookup(entry: ImageEntry, digest: string): Promise<RegistryAnswer> {
    const layers = await entry.resolution.catch((e: unknown) => e as Error);
    if (layers instanceof Error) {
      return { listed: false, result: { ok: false, reason: describe(layers) } };
    }
    const layer = layers.get(digest);
    if (!layer) {
      const reason = `${digest} is not a layer of ${entry.ref}`;
      return { listed: false, result: { ok: false, reason } };
    }
    return { listed: true, result: await layer };
  }

  #image(ref: string, digest: string): ImageEntry {
    const now = Date.now();
    const existing = this.#images.get(ref);
    const moved = existing !== undefined && this.#tagMoved(existing, digest, now);
    if (existing && this.#stillValid(existing, now) && !moved) return existing;
    // The manifest's answer sets off a burst (TOC pieces, boot ranges): their connections are
    // opened now, beside the manifest's request, not a handshake each after it (at 80 ms RTT
    // the pull took 50–65 ms less).
    this.#o.client.preconnect(ref, PRECONNECT_CONNECTIONS);
    const earlyTail = this.#readTailEarly(ref, digest);
    const entry: ImageEntry = {
      ref,
      created: now,
      deadline: now + this.#o.lookupTimeoutMs,
      resolution: this.#resolveImage(ref, earlyTail),
      recheck: moved,
    };
    entry.resolution.then(
      (layers) => (entry.names = new Set(layers.keys())),
      () => (entry.failedAt = Date.now()),
    );
    this.#images.set(ref, entry);
    return entry;
  }

  /**
   * Whether a tag's resolution is likely out of date for this lookup: it does not list the layer,
   * and it is older than a pull's lookups are apart. The runtime asks for a layer because the
   * manifest it has just fetched lists it: the tag was pushed again since (a CI's `:latest`), and
   * the new image's layers would all be pulled normally for the rest of the tag TTL. Once per
   * TTL: the containers of an image whose tag has moved on ask for layers the tag no longer
   * lists at every start, and each such lookup would otherwise wait for a resolution of its own.
   */
  #tagMoved(entry: ImageEntry, digest: string, now: number): boolean {
    if (entry.ref.includes('@') || entry.recheck) return false;
    if (!entry.names || entry.names.has(digest)) return false;
    return now - entry.created >= TAG_RECHECK_MS;
  }

  /**
   * A failure is remembered for the negative TTL from when it happened (a resolution may fail
   * long after it started: its budget is a few lookup bounds); a tag's answer for the tag TTL; a
   * digest's for ever.
   */
  #stillValid(entry: ImageEntry, now: number): boolean {
    if (entry.failedAt !== undefined) {
      return now - entry.failedAt < (this.#o.negativeTtlMs ?? 10_000);
    }
    if (entry.ref.includes('@')) return true;
    return now - entry.created < (this.#o.tagTtlMs ?? 120_000);
  }

  /**
   * A layer's boot files, read as soon as the manifest is known, beside its TOC, when the
   * converter annotated where they lie: the first exec then finds them in memory instead of
   * waiting for the TOC, then for them (at 80 ms and 100 Mbit/s, ~0.4 s of slow start after the
   * pull). Only with prefetch on, and never for a layer already open or seen before (its TOC is
   * in the TOC cache: its boot files are most likely in the chunk cache too).
   */
  #readBootEarly(
    desc: Descriptor,
    blob: RegistryBlob,
    budget: { bytes: number },
    near: boolean,
  ): EarlyBytes | undefined {
    if (!this.#o.prefetch.enabled || this.#o.tocCache?.has(desc.digest)) return undefined;
    const ranges = parseBootRanges(desc.annotations?.[Annotations.estargzBootRanges], desc.size);
    if (!ranges) return undefined;
    // Each layer's ranges are bounded; the image's too: a manifest of a hundred layers, each
    // annotated with 8 MiB, must not have the agent hold 800 MiB before any TOC is verified.
    const bytes = ranges.reduce((sum, [start, end]) => sum + end - start, 0);
    if (bytes > budget.bytes) return undefined;
    budget.bytes -= bytes;
    // One request per piece, in parallel: the /etc files arrive in a round trip or two, not
    // behind libc, and the larger files ramp up on several connections at once. Near the
    // registry, one request per range (see `near` in #resolveImage).
    const pieces = earlyPieces(ranges, near ? WHOLE : EARLY_PIECE_BYTES).map(([start, end]) => ({
      start,
      end,
      bytes: blob
        .readRange(start, end, { timeoutMs: this.#o.lookupTimeoutMs })
        .catch((e: unknown): undefined => {
          this.#o.log.warn(
            { layer: desc.digest, start, end, err: describe(e) },
            'store: early boot read failed',
          );
          return undefined;
        }),
    }));
    return { pieces };
  }

  /**
   * The first lookup of an image names a layer by its compressed digest (containers/storage
   * < 1.54): its footer and TOC can be read while the manifest is fetched, a round trip or more
   * off the lookup. A TOC digest (newer protocol) cannot be read by name; nothing is done then.
   */
  #readTailEarly(ref: string, digest: string): EarlyTail | undefined {
    if (!SHA256_DIGEST.test(digest) || this.#layers.has(digest)) return undefined;
    if (this.#o.tocCache?.has(digest)) return undefined;
    const read = this.#o.client
      .readBlobTail(ref, digest, TAIL_BYTES, { timeoutMs: this.#o.lookupTimeoutMs })
      .catch(() => undefined); // not a blob (a TOC digest), no range support...: read it later
    return { digest, read };
  }

  async #resolveImage(
    ref: string,
    earlyTail: EarlyTail | undefined,
  ): Promise<Map<string, Promise<LookupResult>>> {
    const started = performance.now();
    // Layer indexes are opened as soon as the manifest is known, in parallel with the config.
    const indexes = new Map<string, Promise<LayerIndex>>();
    const earlyBoot = new Map<string, EarlyBytes>();
    const earlyBudget = { bytes: EARLY_BYTES_PER_IMAGE };
    const image = await this.#o.client.resolve(ref, {
      timeoutMs: this.#o.lookupTimeoutMs * 3,
      answerWithinMs: this.#o.lookupTimeoutMs,
      onManifest: (early) => {
        const repeated = repeatedLayers(early.layers);
        const opening = early.layers.filter(
          (desc) =>
            isLazyCandidate(desc) && !this.#layers.has(desc.digest) && !isRepeated(desc, repeated),
        );
        // Pieces beat TCP's slow start on a far link (at 80 ms RTT a 1 MB TOC in one request
        // takes ~6 round trips). Near the registry (an in-cluster mirror, 2 ms) slow start costs
        // little and each request a few ms of the registry's time: one request per range then
        // (node's pull at 2 ms: 0.41 -> 0.37 s; at 20 ms the same either way).
        const near = (this.#o.client.rttMs(ref) ?? Infinity) < NEAR_RTT_MS;
        const pieceBytes = near
          ? WHOLE
          : tocPieceBytes(
              opening.reduce((sum, desc) => sum + rangeBytes(tocReadRange(desc, TAIL_BYTES)), 0),
            );
        for (const desc of opening) {
          const tail = earlyTail?.digest === desc.digest ? earlyTail.read : undefined;
          const blob = early.openBlob(desc);
          const index = this.#openIndex(desc, blob, tail, pieceBytes);
          index.catch(() => undefined); // reported by the lookup that uses it
          indexes.set(desc.digest, index);
          const boot = this.#readBootEarly(desc, blob, earlyBudget, near);
          if (boot) earlyBoot.set(desc.digest, boot);
        }
      },
    });
    this.#o.log.info(
      {
        ref,
        manifest: image.manifestDigest,
        layers: image.layers.length,
        source: image.source.registry,
      },
      'store: image resolved',
    );
    const byName = new Map<string, Promise<LookupResult>>();
    const repeated = repeatedLayers(image.layers);
    const imageOfLayer: ImageOfLayer = {
      manifestDigest: image.manifestDigest,
      compressedSize: image.layers.reduce((sum, l) => sum + l.size, 0),
      source: { registry: image.source.registry, repository: image.source.repository },
      openBlob: (desc) => image.openBlob(desc),
    };
    image.layers.forEach((desc, i) => {
      const toc = desc.annotations?.[Annotations.estargzTocDigest];
      if (isRepeated(desc, repeated)) {
        const reason = `the manifest lists layer ${desc.digest} more than once, and the runtime cannot stack one store directory twice (overlay refuses a repeated lower dir): pulled normally`;
        for (const name of toc ? [desc.digest, toc] : [desc.digest]) {
          byName.set(name, Promise.resolve({ ok: false, reason }));
        }
        return;
      }
      const diffId = image.config.rootfs.diff_ids[i];
      const index = indexes.get(desc.digest);
      const boot = earlyBoot.get(desc.digest);
      const result = this.#layer({
        ref,
        image: imageOfLayer,
        desc,
        diffId,
        started,
        ...(index && { index }),
        ...(boot && { earlyBoot: boot }),
      });
      byName.set(desc.digest, result);
      if (toc) byName.set(toc, result);
      if (index) this.#dropIndexUnlessOpened(index, result);
      void result.then((r) => r.ok && this.#remember(ref, r.layer, imageOfLayer));
    });
    this.#prefetchImage(byName, image.config.config);
    return byName;
  }

  /**
   * The layer `wanted` names, shared with the other images that name the same compressed digest
   * AND the same TOC digest for it. A lazy pull never checks a layer's compressed digest (only
   * its TOC, against the manifest's annotation, and every chunk against the TOC), so a digest
   * alone proves nothing: an image from a registry that serves other bytes under a well-known
   * layer's digest must not decide what another image gets for that digest. Under the same TOC
   * the contents are the same, whichever registry serves them (each chunk is verified against
   * it). Under another TOC, while the first layer is open, this lookup misses (the runtime pulls
   * the layer itself, checking its digest); a failed attempt says nothing about another TOC.
   */
  #layer(wanted: WantedLayer): Promise<LookupResult> {
    const { ref, desc } = wanted;
    const toc = desc.annotations?.[Annotations.estargzTocDigest];
    const existing = this.#layers.get(desc.digest);
    if (existing && existing.toc === toc) return existing.result;
    if (existing && this.#failedLayers.get(desc.digest) !== existing.result) {
      const reason = `integrity: layer ${desc.digest} is open with TOC ${existing.toc ?? 'none'} for another image, and this image's manifest names TOC ${toc ?? 'none'} for it: the same digest with other contents means a registry lies about the layer's bytes, so it is pulled normally`;
      this.#o.log.warn({ ref, layer: desc.digest, toc, open: existing.toc }, `store: ${reason}`);
      return Promise.resolve({ ok: false, reason });
    }
    const result = this.#openLayer(wanted).catch((e: unknown): LookupResult => ({
      ok: false,
      reason: describe(e),
    }));
    this.#layers.set(desc.digest, { toc, result });
    void result.then((r) => {
      if (!r.ok) {
        this.#failedLayers.set(desc.digest, result);
        this.#o.log.info({ ref, layer: desc.digest, reason: r.reason }, 'store: layer not lazy');
        // Forget failures so that a later pull (fixed registry, new credentials) tries again.
        setTimeout(() => {
          if (this.#layers.get(desc.digest)?.result === result) this.#layers.delete(desc.digest);
          if (this.#failedLayers.get(desc.digest) === result)
            this.#failedLayers.delete(desc.digest);
          this.#forgetImagesWith(desc.digest, result);
        }, this.#o.negativeTtlMs ?? 10_000).unref();
      }
    });
    return result;
  }

  async #openLayer(wanted: WantedLayer): Promise<LookupResult> {
    const { ref, image, desc, diffId, started } = wanted;
    const toc = desc.annotations?.[Annotations.estargzTocDigest];
    if (!toc) return { ok: false, reason: 'not eStargz: no toc.digest annotation' };
    if (!GZIP_LAYER_TYPES.has(desc.mediaType)) {
      return { ok: false, reason: `unsupported layer media type ${desc.mediaType}` };
    }
    if (!diffId) return { ok: false, reason: 'the image config has no diff_id for this layer' };
    const blob = image.openBlob(desc);
    const index = await (wanted.index ?? this.#openIndex(desc, blob, undefined));
    if (!index.verifiable) {
      this.#dropIndex(index);
      return { ok: false, reason: 'some chunks carry no digest: the layer cannot be verified' };
    }
    const sizeAnnotation = Number(desc.annotations?.[Annotations.estargzUncompressedSize]);
    const earlyBytes = new EarlyRangeSource(new RegistryRangeSource(blob), wanted.earlyBoot);
    const layer: ResolvedLayer = {
      digest: desc.digest,
      descriptor: desc,
      diffId,
      tocDigest: toc,
      uncompressedSize: Number.isSafeInteger(sizeAnnotation) ? sizeAnnotation : undefined,
      index,
      blob,
      refs: 0,
      earlyBytes,
      fetcher: new LayerFetcher({
        layer: desc.digest,
        source: earlyBytes,
        cache: this.#o.cache,
        scheduler: this.#o.scheduler,
        ...(this.#o.observer ? { observer: this.#o.observer } : {}),
      }),
    };
    this.#live.set(layer.digest, layer);
    this.#o.cache.retain(layer.digest);
    const seconds = (performance.now() - started) / 1000;
    this.#o.observer?.layerResolved?.({
      ref,
      layer,
      seconds,
      image: { manifestDigest: image.manifestDigest, compressedSize: image.compressedSize },
    });
    this.#o.log.info(
      {
        ref,
        layer: desc.digest,
        toc,
        entries: index.entryCount,
        chunks: index.chunkCount,
        tocParse: this.#tocParse.get(index),
        seconds,
      },
      'store: layer resolved',
    );
    return { ok: true, layer };
  }

  /** The index leaves memory: its entries go back to the budget. */
  #dropIndex(index: LayerIndex): void {
    this.#leases.get(index)?.end();
  }

  /**
   * An index opened as soon as the manifest came is dropped unless its layer opened with it (the
   * layer failed, or another image's resolution of the same layer answered first).
   */
  #dropIndexUnlessOpened(index: Promise<LayerIndex>, result: Promise<LookupResult>): void {
    void Promise.all([index, result])
      .then(([opened, r]) => {
        if (!r.ok || r.layer.index !== opened) this.#dropIndex(opened);
      })
      .catch(() => undefined); // a failed parse ended its lease itself
  }

  /**
   * Footer + TOC + verification against the manifest's TOC digest: from the TOC cache when the
   * layer was seen before, else from the registry (then stored in the cache). `earlyTail` is the
   * blob's suffix read by digest before the manifest came: used when the registry's size for it
   * matches the descriptor (the TOC digest check then covers its content like any other read).
   */
  async #openIndex(
    desc: Descriptor,
    blob: RegistryBlob,
    earlyTail: EarlyTail['read'] | undefined,
    pieceBytes?: number,
  ): Promise<LayerIndex> {
    const lease = this.#o.indexBudget?.lease();
    try {
      const index = await this.#parseIndex(desc, blob, earlyTail, pieceBytes, lease);
      if (lease) this.#leases.set(index, lease);
      return index;
    } catch (e) {
      lease?.end();
      throw e;
    }
  }

  async #parseIndex(
    desc: Descriptor,
    blob: RegistryBlob,
    earlyTail: EarlyTail['read'] | undefined,
    pieceBytes: number | undefined,
    lease: IndexLease | undefined,
  ): Promise<LayerIndex> {
    const expectedTocDigest = desc.annotations?.[Annotations.estargzTocDigest] ?? '';
    const tocCache = this.#o.tocCache;
    const cached = await tocCache?.get(desc.digest);
    if (cached && cached.length <= desc.size) {
      try {
        const index = await openLayerIndex({
          blobSize: desc.size,
          expectedTocDigest,
          ...(lease && { entryBudget: lease }),
          tailBytes: cached.length,
          readRange: async (start, end) =>
            end - start === cached.length && end === desc.size
              ? cached
              : blob.readRange(start, end),
        });
        this.#tocParse.set(index, 'from the TOC cache');
        return index;
      } catch (e) {
        if (isLimitError(e)) throw e; // the same TOC from the registry would not fit either
        lease?.giveBack();
        this.#o.log.warn({ layer: desc.digest, err: describe(e) }, 'store: cached TOC dropped');
        await tocCache?.drop(desc.digest);
      }
    }
    const reads: { start: number; bytes: Buffer }[] = [];
    const range = tocReadRange(desc, TAIL_BYTES);
    const speculation = range && new TocSpeculation(blob, range, pieceBytes);
    let tocParse = 'whole: the TOC was in the first read';
    const index = await openLayerIndex({
      blobSize: desc.size,
      expectedTocDigest,
      ...(lease && { entryBudget: lease }),
      tailBytes: TAIL_BYTES,
      readRange: async (start, end) => {
        const bytes = speculation?.serves(start, end)
          ? await speculation.read(start, end)
          : await this.#readForIndex(desc, blob, earlyTail, start, end);
        reads.push({ start, bytes });
        return bytes;
      },
      // The TOC is parsed as the speculated bytes arrive (estargz/toc-stream.ts).
      streamRange: (start, end, sink) =>
        speculation?.serves(start, end) ? speculation.stream(start, sink) : undefined,
      onStreamOutcome: ({ streamed, why }) =>
        (tocParse = streamed ? 'as it arrived' : `whole: ${why}`),
    }).finally(() => speculation?.cancel());
    this.#tocParse.set(index, tocParse);
    const suffix = suffixFrom(reads, index.tocOffset, desc.size);
    if (tocCache && suffix) {
      tocCache.put(desc.digest, suffix).catch((e: unknown) => {
        this.#o.log.warn({ layer: desc.digest, err: describe(e) }, 'store: TOC not cached');
      });
    }
    return index;
  }

  async #readForIndex(
    desc: Descriptor,
    blob: RegistryBlob,
    earlyTail: EarlyTail['read'] | undefined,
    start: number,
    end: number,
  ): Promise<Buffer> {
    if (end !== desc.size) return blob.readRange(start, end);
    const early = await earlyTail;
    if (early && early.blobSize === desc.size && early.bytes.length >= end - start) {
      return early.bytes.subarray(early.bytes.length - (end - start));
    }
    return blob.readSuffix(end - start);
  }

  /**
   * Prefetch, in two phases. The files every start reads (`boot-files.ts`, ~2 MiB) as soon as each
   * layer is open: the runtime reads /etc/passwd a few tens of ms after the pull returns, then
   * execs through the loader and libc, one round trip each if they are missing. The landmark
   * region (the image's start profile, up to maxBytes per layer) once every layer is open and
   * every boot file has arrived: started earlier it competes with the other layers' TOC reads,
   * which the pull waits for, and with the boot files, which the first exec waits for.
   */
  #prefetchImage(
    byName: Map<string, Promise<LookupResult>>,
    command: CommandConfig | undefined,
  ): void {
    const results = [...new Set(byName.values())]; // manifest order: bottom to top
    const boots = results.map((result) =>
      result.then((r) => (r.ok ? this.#prefetchBoot(r.layer) : undefined)),
    );
    void Promise.all(boots)
      .then(() => Promise.all(results))
      .then((layers) => {
        const open = layers.flatMap((r) => (r.ok ? [r.layer] : []));
        const commandChunks = commandFileChunks(
          open.map((l) => l.index),
          command,
        );
        open.forEach((layer, i) => this.#prefetchLandmark(layer, commandChunks.get(i) ?? []));
      });
  }

  /** Starts a layer's prefetch with its boot files; resolves when they are warm (never rejects). */
  #prefetchBoot(layer: ResolvedLayer): Promise<void> {
    const { enabled, maxSeconds } = this.#o.prefetch;
    if (!enabled) return Promise.resolve();
    const existing = this.#prefetches.get(layer.digest); // a layer shared with an image seen before
    if (existing) return existing.boot;
    const tiers = bootFileTiers(layer.index);
    const state: LayerPrefetch = {
      deadline: Date.now() + (maxSeconds ?? 60) * 1000,
      bootIds: new Set(tiers.flat().map((c) => c.id)),
      boot: Promise.resolve(),
      landmark: false,
    };
    // Tier by tier (the /etc files the runtime reads first), each in slices of its own.
    const slices = tiers.flatMap((tier) => prefetchSlices(tier.map(chunkSpec), BOOT_SLICE_BYTES));
    layer.fetcher.keepInMemory(slices.flat());
    // The early bytes held these files: once they are warm (or given up), let them go.
    state.boot = this.#warm(layer, 'boot files', slices, state.deadline).finally(() =>
      layer.earlyBytes.release(),
    );
    this.#prefetches.set(layer.digest, state);
    return state.boot;
  }

  /**
   * The layer's files of the image's command (`command-files.ts`), then its landmark region,
   * within maxBytes, minus the boot files already fetched.
   */
  #prefetchLandmark(layer: ResolvedLayer, command: readonly ChunkRef[]): void {
    const state = this.#prefetches.get(layer.digest);
    if (!state || state.landmark || !this.#o.prefetch.enabled) return;
    state.landmark = true;
    const landmark = layer.index.prefetchBoundary === undefined ? [] : layer.index.prefetchChunks();
    const taken = new Set<number>(state.bootIds);
    const fresh = (chunks: readonly ChunkRef[]) =>
      chunks.filter((c) => !taken.has(c.id) && taken.add(c.id));
    const commandPart = fresh(command);
    const landmarkPart = fresh(landmark);
    const plan = prefetchPlan([...commandPart, ...landmarkPart], this.#o.prefetch.maxBytes);
    const what = [commandPart.length > 0 && 'command files', landmarkPart.length > 0 && 'landmark']
      .filter(Boolean)
      .join(' and ');
    void this.#warm(layer, what, prefetchSlices(plan.map(chunkSpec)), state.deadline);
  }

  /** Warms slices at prefetch priority until the deadline; logs the outcome, never rejects. */
  async #warm(
    layer: ResolvedLayer,
    what: string,
    slices: ChunkSpec[][],
    deadline: number,
  ): Promise<void> {
    const total = slices.reduce((n, s) => n + s.length, 0);
    if (total === 0) return;
    const started = performance.now();
    try {
      const done = await warmUntil(layer.fetcher, slices, () => Date.now() >= deadline);
      this.#o.log.info(
        {
          layer: layer.digest,
          what,
          chunks: done.length,
          of: total,
          bytes: done.reduce((n, c) => n + c.size, 0),
          seconds: (performance.now() - started) / 1000,
        },
        done.length === total
          ? 'store: prefetch done'
          : 'store: prefetch stopped at its time bound',
      );
    } catch (e) {
      this.#o.log.warn({ layer: layer.digest, what, err: describe(e) }, 'store: prefetch failed');
    }
  }

  /** `use` was created: count a reference; the layer is now in use, fetch it in the background. */
  use(layer: ResolvedLayer): void {
    layer.refs++;
    if (!this.#live.has(layer.digest)) {
      this.#live.set(layer.digest, layer);
      this.#o.cache.retain(layer.digest);
    }
    // A pull: a container start follows. Its first reads must not share the link and the CPU
    // with a background burst (on 2 vCPUs at 2 ms, 30 MB of it made `cat /etc/os-release` 0.3 s
    // slower), so the quiet period starts now, not at the last read.
    this.#o.scheduler.preemptBackground();
    this.#o.background.add(layer.fetcher, allChunks(layer.index));
  }

  /**
   * A container reads a layer no `use` was counted for: its image was pulled before this agent
   * started (the runtime announces a layer once, at its pull, and a restarted agent has no
   * record of it). The layer is in use all the same: it joins the background fetch, without a
   * reference, so that the layer directory's rmdir at `rmi` still releases it.
   */
  adopt(layer: ResolvedLayer): void {
    if (layer.refs > 0 || this.#adopted.has(layer.digest)) return;
    this.#adopted.add(layer.digest);
    this.#o.background.add(layer.fetcher, allChunks(layer.index));
    this.#o.log.info({ layer: layer.digest }, 'store: layer read without a reference: in use');
  }

  /** The layer directory was removed: drop a reference; at zero the layer leaves memory. */
  release(layer: ResolvedLayer): void {
    layer.refs = Math.max(0, layer.refs - 1);
    if (layer.refs > 0) return;
    this.#o.background.remove(layer.digest);
    this.#adopted.delete(layer.digest);
    layer.earlyBytes.release();
    this.#dropIndex(layer.index);
    if (this.#live.delete(layer.digest)) this.#o.cache.release(layer.digest);
    this.#prefetches.delete(layer.digest);
    this.#layers.delete(layer.digest);
    this.#forgetImagesWith(layer.digest);
    this.#o.observer?.layerReleased?.({ layer: layer.digest });
    this.#o.log.info({ layer: layer.digest }, 'store: layer released');
  }
}

function isLimitError(e: unknown): boolean {
  return e instanceof EstargzError && e.code === EstargzErrorCode.limitExceeded;
}

interface LayerNames {
  digest: string;
  annotations?: Record<string, string>;
}

/**
 * The digests (compressed or TOC) that name more than one of an image's layers. Old images repeat
 * their empty layer; served from the store, each copy would be the same `<ref>/<digest>/diff`,
 * and an overlay mount with one lower dir twice fails ("conflicting lowerdir path"), so the
 * container would not start. Those layers are pulled normally: each copy is then a layer of its own.
 */
function repeatedLayers(layers: readonly LayerNames[]): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const desc of layers) {
    const toc = desc.annotations?.[Annotations.estargzTocDigest];
    for (const name of toc ? [desc.digest, toc] : [desc.digest]) {
      if (seen.has(name)) repeated.add(name);
      seen.add(name);
    }
  }
  return repeated;
}

function isRepeated(desc: LayerNames, repeated: ReadonlySet<string>): boolean {
  const toc = desc.annotations?.[Annotations.estargzTocDigest];
  return repeated.has(desc.digest) || (toc !== undefined && repeated.has(toc));
}

/**
 * How much of a prioritized file is prefetched. A profile names files, not the parts read: a
 * start that reads a model's header and a few slices lists the whole multi-GB file, and
 * prefetching it would hold the link for seconds while the slices wait. The head covers headers
 * and small files; the rest of a big file comes on demand (with read-ahead when sequential).
 */
export const PREFETCH_FILE_HEAD_BYTES = 16 * 2 ** 20;

/** The prefetch region's chunks in blob order: file heads only, within a compressed-byte budget. */
export function prefetchPlan<
  C extends { fileOffset: number; compressedOffset: number; compressedEnd: number },
>(chunks: readonly C[], budgetBytes: number): C[] {
  const plan: C[] = [];
  let left = budgetBytes;
  for (const chunk of chunks) {
    if (chunk.fileOffset >= PREFETCH_FILE_HEAD_BYTES) continue;
    const cost = chunk.compressedEnd - chunk.compressedOffset;
    if (cost > left) break;
    left -= cost;
    plan.push(chunk);
  }
  return plan;
}

/**
 * Compressed bytes a prefetch asks for at a time; the time bound is checked between slices.
 * Small, because a slice's chunks become readable only once its whole response has arrived: a
 * container starting while its prefetch runs waited for 16 MiB slices to land and decode.
 */
export const PREFETCH_SLICE_BYTES = 4 * 2 ** 20;
/**
 * Boot files travel in slices this small so that the scheduler's prefetch lanes carry them in
 * parallel: on a fresh connection in slow start, two 1 MiB responses arrive a round trip or two
 * before one of 2 MiB.
 */
const BOOT_SLICE_BYTES = 2 ** 20;

/** Largest piece of the boot files' early read (a round trip or so less of slow start each). */
const EARLY_PIECE_BYTES = 256 * 1024;

/** Most bytes an image's layers together get read early (a base image's boot set is ~2 MB). */
const EARLY_BYTES_PER_IMAGE = 16 * 2 ** 20;

/** Prefetch slices in flight per layer (the scheduler bounds prefetch across layers too). */
const PREFETCH_PARALLEL = 4;

/** The prefetch in slices of PREFETCH_SLICE_BYTES compressed bytes, in order. */
export function prefetchSlices(
  chunks: ChunkSpec[],
  maxBytes = PREFETCH_SLICE_BYTES,
): ChunkSpec[][] {
  return groupByBytes(chunks, (c) => c.compressedSize, maxBytes);
}

/** Warms slices in order, a few at a time, starting none once `expired()`; returns what was warmed. */
export async function warmUntil(
  fetcher: Pick<LayerFetcher, 'warm'>,
  slices: ChunkSpec[][],
  expired: () => boolean,
): Promise<ChunkSpec[]> {
  const done: ChunkSpec[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < slices.length && !expired()) {
      const slice = slices[next++];
      await fetcher.warm(slice, Priority.prefetch);
      done.push(...slice);
    }
  };
  await Promise.all(Array.from({ length: PREFETCH_PARALLEL }, worker));
  return done;
}

/** The blob's bytes [tocOffset, size) from the reads that opened its index, if they cover them. */
function suffixFrom(
  reads: { start: number; bytes: Buffer }[],
  tocOffset: number,
  size: number,
): Buffer | undefined {
  const sorted = [...reads].sort((a, b) => a.start - b.start);
  let covered = size;
  const parts: Buffer[] = [];
  for (const read of sorted.reverse()) {
    if (read.start + read.bytes.length < covered) return undefined; // a gap
    parts.unshift(read.bytes.subarray(0, covered - read.start));
    covered = read.start;
    if (covered <= tocOffset) break;
  }
  if (covered > tocOffset) return undefined;
  return Buffer.concat(parts).subarray(tocOffset - covered);
}

function rangeBytes(range: { start: number; end: number } | undefined): number {
  return range ? range.end - range.start : 0;
}

/** A layer the store may serve lazily: gzip eStargz (the annotation names its TOC). */
function isLazyCandidate(desc: Descriptor): boolean {
  return (
    GZIP_LAYER_TYPES.has(desc.mediaType) &&
    desc.annotations?.[Annotations.estargzTocDigest] !== undefined
  );
}

/** The annotations the store reads (an image may carry many more, and large ones). */
function recordedAnnotations(annotations: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const key of [
    Annotations.estargzTocDigest,
    Annotations.estargzUncompressedSize,
    Annotations.estargzTocOffset,
    Annotations.estargzBootRanges,
  ]) {
    if (annotations[key] !== undefined) kept[key] = annotations[key];
  }
  return kept;
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const kind = (e as { kind?: string; code?: string }).kind ?? (e as { code?: string }).code;
    return kind ? `${kind}: ${e.message}` : e.message;
  }
  return String(e);
}
