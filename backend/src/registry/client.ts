// The registry client the agent, the converter and the CLI share: one transport (pools, TLS),
// one authenticator (token cache), one credential store, registries.conf mirrors, and stats.
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../image/types.ts';
import { Authenticator } from './auth.ts';
import { BlobReader, type BlobReaderOptions, type ReadOptions } from './blob-reader.ts';
import type { CredentialStore } from './credentials.ts';
import type { RetryPolicy } from './deadline.ts';
import { RegistryError, RegistryErrorKind } from './errors.ts';
import {
  fetchManifest,
  formatPlatform,
  hostPlatform,
  parseConfig,
  parseManifest,
  selectPlatform,
} from './manifest.ts';
import {
  apiHost,
  formatReference,
  manifestReference,
  parseReference,
  type ImageReference,
} from './reference.ts';
import { RegistriesConfig, type PullSource } from './registries-conf.ts';
import { RegistrySession, type HostCapabilities } from './session.ts';
import { RegistryStats } from './stats.ts';
import { Transport, type ProxySettings } from './transport.ts';

export interface RegistryClientOptions {
  credentials?: CredentialStore;
  /** Mirrors, insecure and blocked registries; none when omitted. */
  registries?: RegistriesConfig;
  /** `certs.d` directories (default /etc/containers/certs.d and /etc/docker/certs.d). */
  certsDirs?: string[];
  /** Treat these hosts (or every host, `true`) as insecure: plain http / unverified TLS allowed. */
  insecure?: boolean | string[];
  maxConnectionsPerHost?: number;
  /** Deadline per operation (all retries included), default 30 s. */
  timeoutMs?: number;
  firstByteTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Upper bound of the random pause before refreshing a rejected token. */
  refreshJitterMs?: number;
  stats?: RegistryStats;
  userAgent?: string;
  /** Forward proxies (default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment). */
  proxy?: ProxySettings;
}

export interface ResolveOptions {
  platform?: Platform;
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * When the caller needs its answer, if sooner than timeoutMs (the agent's lookup bound): the
   * mirrors share this time, so that the registry itself, tried last, is asked within it even
   * when a mirror hangs. The registry gets what is left of timeoutMs.
   */
  answerWithinMs?: number;
  /**
   * Called with the platform manifest before the config is fetched, so that a caller can start
   * reading layers while the config is on its way (one round trip saved).
   */
  onManifest?: (early: EarlyManifest) => void;
}

/** What is known of an image once its platform manifest has arrived. */
export interface EarlyManifest {
  layers: Descriptor[];
  openBlob(desc: Pick<Descriptor, 'digest' | 'size'>, opts?: BlobReaderOptions): BlobReader;
}

/** An image resolved for one platform, and where its blobs are to be read from. */
export interface ResolvedImage {
  /** The logical reference as asked (what the ALS path carries). */
  reference: ImageReference;
  /** Where the manifest was found (a mirror or the source). */
  source: PullSource;
  /** Digest of the index when the reference pointed to one. */
  indexDigest?: string;
  manifestDigest: string;
  manifestMediaType: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  config: ImageConfig;
  layers: Descriptor[];
  platform: Platform;
  /** A range reader for a blob of this image, on the source the manifest came from. */
  openBlob(desc: Pick<Descriptor, 'digest' | 'size'>, opts?: BlobReaderOptions): BlobReader;
}

const MAX_CONFIG_BYTES = 16 << 20;
const MAX_SHARED_READERS = 1024;

const FALL_THROUGH_KINDS = new Set<string>([
  RegistryErrorKind.notFound,
  RegistryErrorKind.unauthorized,
  RegistryErrorKind.unreachable,
  RegistryErrorKind.timeout,
  RegistryErrorKind.integrity,
  RegistryErrorKind.protocol,
]);

export class RegistryClient {
  readonly stats: RegistryStats;
  /** Replaced as a whole when registries.conf changes (the agent reads it again). */
  registries: RegistriesConfig;
  readonly #opts: RegistryClientOptions;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  readonly #sessions = new Map<string, RegistrySession>();
  readonly #capabilities = new Map<string, HostCapabilities>();
  /** Readers shared by every caller of a blob: one redirect cache and one single-flight each. */
  readonly #readers = new Map<string, BlobReader>();

  constructor(opts: RegistryClientOptions = {}) {
    this.#opts = opts;
    this.stats = opts.stats ?? new RegistryStats();
    this.registries = opts.registries ?? new RegistriesConfig();
    const insecure = opts.insecure;
    this.#transport = new Transport({
      ...(opts.certsDirs ? { certsDirs: opts.certsDirs } : {}),
      ...(opts.maxConnectionsPerHost ? { maxConnectionsPerHost: opts.maxConnectionsPerHost } : {}),
      ...(opts.firstByteTimeoutMs ? { firstByteTimeoutMs: opts.firstByteTimeoutMs } : {}),
      ...(opts.userAgent ? { userAgent: opts.userAgent } : {}),
      ...(opts.proxy ? { proxy: opts.proxy } : {}),
      stats: this.stats,
      isInsecure: (host) =>
        insecure === true ||
        (Array.isArray(insecure) && insecure.includes(host)) ||
        this.registries.isInsecure(host),
    });
    this.#auth = new Authenticator(this.#transport, opts.credentials, {
      ...(opts.refreshJitterMs !== undefined ? { refreshJitterMs: opts.refreshJitterMs } : {}),
    });
  }

  /** A session for a repository on a physical registry (cached; shares pools and tokens). */
  session(
    registry: string,
    repository: string,
    actions: string[] = ['pull'],
    extraScopes: string[] = [],
  ): RegistrySession {
    const host = apiHost(registry);
    const key = JSON.stringify([registry, repository, actions, extraScopes]);
    let session = this.#sessions.get(key);
    if (!session) {
      let caps = this.#capabilities.get(host);
      if (!caps) this.#capabilities.set(host, (caps = {}));
      session = new RegistrySession(
        this.#transport,
        this.#auth,
        { registry, host, repository, actions, extraScopes },
        caps,
      );
      this.#sessions.set(key, session);
    }
    return session;
  }

  blobReaderOptions(): BlobReaderOptions {
    return {
      ...(this.#opts.timeoutMs ? { timeoutMs: this.#opts.timeoutMs } : {}),
      ...(this.#opts.retry ? { retry: this.#opts.retry } : {}),
    };
  }

  /**
   * Resolves a reference for a platform: index → platform manifest → config, trying the
   * registries.conf mirrors in order and then the source. Credentials are looked up for each
   * physical location separately.
   */
  async resolve(
    reference: string | ImageReference,
    opts: ResolveOptions = {},
  ): Promise<ResolvedImage> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const sources = this.registries.pullSources(ref);
    // One deadline for the whole resolve (the agent must answer a lookup in bounded time); each
    // mirror gets an equal share of what is left of the time the answer is wanted within, so a
    // hanging mirror leaves time for the next, and the source, last, whatever is left.
    const started = Date.now();
    const endsAt = started + (opts.timeoutMs ?? this.#opts.timeoutMs ?? 30_000);
    const wantedBy = Math.min(endsAt, started + (opts.answerWithinMs ?? Infinity));
    let lastError: unknown;
    for (const [i, source] of sources.entries()) {
      const last = i === sources.length - 1;
      const share = ((last ? endsAt : wantedBy) - Date.now()) / (last ? 1 : sources.length - i);
      const budget = Math.max(1, share);
      try {
        return await this.#resolveFrom(ref, source, opts, Date.now() + budget);
      } catch (e) {
        if (
          !(e instanceof RegistryError) ||
          !FALL_THROUGH_KINDS.has(e.kind) ||
          opts.signal?.aborted
        )
          throw e;
        lastError = e;
      }
    }
    throw lastError instanceof Error
      ? lastError
      : new RegistryError(RegistryErrorKind.notFound, `${formatReference(ref)}: no source`);
  }

  async #resolveFrom(
    ref: ImageReference,
    source: PullSource,
    opts: ResolveOptions,
    endsAt: number,
  ): Promise<ResolvedImage> {
    const session = this.session(source.registry, source.repository);
    const timing = () => ({
      ...(opts.signal ? { signal: opts.signal } : {}),
      timeoutMs: Math.max(1, endsAt - Date.now()),
    });
    const platform = opts.platform ?? hostPlatform();
    // The source's own tag or digest: a registries.conf prefix may name a tag and rewrite it.
    const asked = manifestReference(source.reference);
    const where = `${session.name}@${asked}`;
    let raw = await fetchManifest(session, asked, timing());
    let parsed = parseManifest(raw, where);
    let indexDigest: string | undefined;
    for (let depth = 0; parsed.kind === 'index'; depth++) {
      const chosen = selectPlatform(parsed.index, platform);
      if (!chosen || depth > 2) {
        const offered = parsed.index.manifests.flatMap((m) =>
          m.platform ? [formatPlatform(m.platform)] : [],
        );
        throw new RegistryError(
          RegistryErrorKind.notFound,
          `${where} has no manifest for platform ${formatPlatform(platform)}` +
            (offered.length > 0 ? ` (it has ${[...new Set(offered)].join(', ')})` : ''),
          { host: session.host },
        );
      }
      indexDigest ??= raw.digest;
      raw = await fetchManifest(session, chosen.digest, timing());
      if (raw.bytes.length !== chosen.size) {
        throw new RegistryError(
          RegistryErrorKind.integrity,
          `manifest ${chosen.digest} has ${raw.bytes.length} bytes, its descriptor says ${chosen.size}`,
          { host: session.host },
        );
      }
      parsed = parseManifest(raw, `${session.name}@${chosen.digest}`);
    }
    const manifest = parsed.manifest;
    if (manifest.config.size > MAX_CONFIG_BYTES) {
      // Configs are read into memory; a descriptor claiming gigabytes is hostile or broken.
      throw new RegistryError(
        RegistryErrorKind.protocol,
        `${where}: config of ${manifest.config.size} bytes exceeds ${MAX_CONFIG_BYTES}`,
        { host: session.host },
      );
    }
    opts.onManifest?.({
      layers: manifest.layers,
      openBlob: (desc, o) => this.#reader(session, desc, o),
    });
    const configBytes = await this.#reader(session, manifest.config).readAll(timing());
    const config = parseConfig(configBytes, where);
    return {
      reference: ref,
      source,
      ...(indexDigest ? { indexDigest } : {}),
      manifestDigest: raw.digest,
      manifestMediaType: raw.mediaType,
      manifestBytes: raw.bytes,
      manifest,
      config,
      layers: manifest.layers,
      platform,
      openBlob: (desc, o) => this.#reader(session, desc, o),
    };
  }

  /** A range reader for a blob in a repository (no manifest needed: size from the caller). */
  openBlob(
    reference: string | ImageReference,
    desc: Pick<Descriptor, 'digest' | 'size'>,
    opts?: BlobReaderOptions,
  ): BlobReader {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const [source] = this.registries.pullSources(ref).filter((s) => !s.mirror);
    return this.openBlobAt(source, desc, opts);
  }

  /**
   * A range reader for a blob where an earlier resolve found its image (a mirror or the source:
   * `ResolvedImage.source`), without resolving the image again.
   */
  openBlobAt(
    source: { registry: string; repository: string },
    desc: Pick<Descriptor, 'digest' | 'size'>,
    opts?: BlobReaderOptions,
  ): BlobReader {
    return this.#reader(this.session(source.registry, source.repository), desc, opts);
  }

  /**
   * The last `n` bytes of a blob known only by digest, and its size, from the first source a
   * resolve of `reference` would try. Lets the store read a layer's footer and TOC in parallel
   * with the manifest; the caller verifies what it gets against the manifest.
   */
  async readBlobTail(
    reference: string | ImageReference,
    digest: string,
    n: number,
    opts: ReadOptions = {},
  ): Promise<{ bytes: Buffer; blobSize: number }> {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    const [source] = this.registries.pullSources(ref);
    const session = this.session(source.registry, source.repository);
    return await BlobReader.readTailOfUnsizedBlob(session, digest, n, {
      timeoutMs: this.#opts.timeoutMs ?? 30_000,
      ...opts,
      ...(this.#opts.retry ? { retry: this.#opts.retry } : {}),
    });
  }

  /**
   * Opens connections to the registry a pull of `reference` would ask first, ahead of the
   * burst of requests that follows its manifest (see Transport.preconnect).
   */
  preconnect(reference: string | ImageReference, count: number): void {
    const host = this.#firstHost(reference);
    if (host) this.#transport.preconnect(host, count);
  }

  /** The round trip to the registry a pull of `reference` asks first, once a connection was made. */
  rttMs(reference: string | ImageReference): number | undefined {
    const host = this.#firstHost(reference);
    return host === undefined ? undefined : this.#transport.rttMs(host);
  }

  /** The API host of the registry (mirror or source) a pull of `reference` tries first. */
  #firstHost(reference: string | ImageReference): string | undefined {
    const ref = typeof reference === 'string' ? parseReference(reference) : reference;
    let sources: PullSource[];
    try {
      sources = this.registries.pullSources(ref);
    } catch {
      return undefined; // blocked, or no usable registries.conf: the lookup itself says so
    }
    return sources[0] && apiHost(sources[0].registry);
  }

  /** The shared reader for (repository, blob), or a private one when options differ. */
  #reader(
    session: RegistrySession,
    desc: Pick<Descriptor, 'digest' | 'size'>,
    opts?: BlobReaderOptions,
  ): BlobReader {
    if (opts && Object.keys(opts).length > 0) {
      return new BlobReader(session, desc, { ...this.blobReaderOptions(), ...opts });
    }
    const key = `${session.name}|${desc.digest}|${desc.size}`;
    let reader = this.#readers.get(key);
    if (reader) this.#readers.delete(key); // re-inserted below: Map order is the LRU order
    reader ??= new BlobReader(session, desc, this.blobReaderOptions());
    this.#readers.set(key, reader);
    if (this.#readers.size > MAX_SHARED_READERS) {
      this.#readers.delete(this.#readers.keys().next().value!);
    }
    return reader;
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }
}
