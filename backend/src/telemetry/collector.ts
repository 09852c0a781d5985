// The in-process collector the agent feeds. Every call updates the Prometheus metrics AND the
// per-image/per-layer deltas of the next hub report; drain() turns the deltas into an AgentReport
// and starts a new window. Notable events (a lazy pull, a fallback, a mount-state change) are
// announced through onNotable so the Reporter can send them without waiting for the next tick.
import { randomUUID } from 'node:crypto';

import type { AgentMetrics, VerificationKind } from './metrics.ts';
import {
  addHistogram,
  bucketIndex,
  emptyHistogram,
  type AgentReport,
  type Fallback,
  type ImageReport,
  type LayerReport,
  type LazyPull,
  type MountState,
} from './report.ts';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface LayerMount {
  /** Image reference as containers/image asked for it (from the ALS `:ref` path). */
  image: string;
  /** Manifest digest of that image, when known. */
  imageDigest: string | null;
  /** Sum of the image's compressed layer sizes, when known. */
  imageCompressedSize: number | null;
  layer: string;
  sizeBytes: number;
}

export interface CollectorOptions {
  node: string;
  agentVersion: string;
  metrics: AgentMetrics;
  clock?: Clock;
  /** File reads count as "hot" for this long after a layer is mounted, unless endHotWindow() says otherwise. */
  hotWindowSeconds?: number;
  /** Hot files kept per layer in one report. */
  hotFilesPerLayer?: number;
}

interface LayerState {
  mount: LayerMount;
  mountedAt: number;
  hotUntil: number;
  fetchedBytes: number;
  // deltas since the last drain:
  onDemand: number;
  prefetch: number;
  background: number;
  chunkFetches: number;
  latency: number[];
  prefetchUsed: number;
  hotFiles: Map<string, number>;
  touched: boolean;
}

const HOT_FILE_PATHS_TRACKED = 1000;
const THROUGHPUT_MIN_BYTES = 256 * 1024;

export class TelemetryCollector {
  private readonly opts: Required<Omit<CollectorOptions, 'clock'>> & { clock: Clock };
  private readonly layers = new Map<string, LayerState>();
  private lazyPulls: LazyPull[] = [];
  private fallbacks: Fallback[] = [];
  private registry = { bytes: 0, seconds: 0 };
  private mount: { state: MountState; error: string | null } = { state: 'unmounted', error: null };
  private cache = { usedBytes: 0, capBytes: 0 };
  private windowStart: number;
  private readonly notableListeners: (() => void)[] = [];

  constructor(opts: CollectorOptions) {
    this.opts = {
      hotWindowSeconds: 120,
      hotFilesPerLayer: 20,
      clock: systemClock,
      ...opts,
    };
    this.windowStart = this.opts.clock.now();
  }

  get metrics(): AgentMetrics {
    return this.opts.metrics;
  }

  /** Registers a listener called (synchronously) when something worth reporting at once happens. */
  onNotable(listener: () => void): void {
    this.notableListeners.push(listener);
  }

  layerMounted(mount: LayerMount): void {
    if (this.layers.has(mount.layer)) return; // a layer shared by two images belongs to the first
    const now = this.opts.clock.now();
    this.layers.set(mount.layer, {
      mount,
      mountedAt: now,
      hotUntil: now + this.opts.hotWindowSeconds * 1000,
      fetchedBytes: 0,
      onDemand: 0,
      prefetch: 0,
      background: 0,
      chunkFetches: 0,
      latency: emptyHistogram(),
      prefetchUsed: 0,
      hotFiles: new Map(),
      touched: true,
    });
    this.opts.metrics.layerProgress(mount.layer, 0, mount.sizeBytes);
  }

  layerUnmounted(layer: string): void {
    this.layers.delete(layer);
    this.opts.metrics.layerRemoved(layer);
  }

  onDemandFetch(layer: string, bytes: number, seconds: number): void {
    this.opts.metrics.onDemandFetch(bytes, seconds);
    this.throughputSample(bytes, seconds);
    const state = this.layers.get(layer);
    if (!state) return;
    state.onDemand += bytes;
    state.chunkFetches += 1;
    const bucket = bucketIndex(seconds);
    state.latency[bucket] = (state.latency[bucket] ?? 0) + 1;
    state.touched = true;
    const sinceMount = (this.opts.clock.now() - state.mountedAt) / 1000;
    this.opts.metrics.layerMountToLastOnDemand(layer, sinceMount);
  }

  prefetch(layer: string, bytes: number, seconds: number): void {
    this.opts.metrics.prefetch(bytes, seconds);
    this.throughputSample(bytes, seconds);
    const state = this.layers.get(layer);
    if (!state) return;
    state.prefetch += bytes;
    state.touched = true;
  }

  backgroundFetch(layer: string, bytes: number): void {
    this.opts.metrics.backgroundFetch(bytes);
    const state = this.layers.get(layer);
    if (!state) return;
    state.background += bytes;
    state.touched = true;
  }

  /** Gauge: compressed bytes of the layer that are now local. */
  layerProgress(layer: string, fetchedBytes: number): void {
    const state = this.layers.get(layer);
    if (!state) return;
    state.fetchedBytes = fetchedBytes;
    state.touched = true;
    this.opts.metrics.layerProgress(layer, fetchedBytes, state.mount.sizeBytes);
  }

  /** A container read bytes of a file; counted as hot while the layer's hot window is open. */
  fileRead(layer: string, path: string, bytes: number): void {
    const state = this.layers.get(layer);
    if (!state || this.opts.clock.now() > state.hotUntil) return;
    const known = state.hotFiles.get(path);
    if (known === undefined && state.hotFiles.size >= HOT_FILE_PATHS_TRACKED) return;
    state.hotFiles.set(path, (known ?? 0) + bytes);
    state.touched = true;
  }

  /** Closes a layer's hot window early (e.g. when the quiet period starts background fetch). */
  endHotWindow(layer: string): void {
    const state = this.layers.get(layer);
    if (state) state.hotUntil = Math.min(state.hotUntil, this.opts.clock.now());
  }

  /** Bytes that a prefetch brought in and a container then read (prefetch accuracy). */
  prefetchUsed(layer: string, bytes: number): void {
    const state = this.layers.get(layer);
    if (!state) return;
    state.prefetchUsed += bytes;
    state.touched = true;
  }

  /** A reader's straggling request was asked again. */
  hedgedRequest(): void {
    this.opts.metrics.hedgedRequest();
  }

  cacheHit(count = 1): void {
    this.opts.metrics.cacheHit(count);
  }

  cacheMiss(count = 1): void {
    this.opts.metrics.cacheMiss(count);
  }

  verificationFailure(kind: VerificationKind): void {
    this.opts.metrics.verificationFailure(kind);
  }

  fuseOp(op: string, seconds: number): void {
    this.opts.metrics.fuseOp(op, seconds);
  }

  /**
   * A registry transfer that is not reported through onDemandFetch/prefetch finished: feeds the
   * node's measured registry throughput (the hub's savings estimate divides image size by it).
   */
  registryTransfer(bytes: number, seconds: number): void {
    this.registry.bytes += bytes;
    this.registry.seconds += seconds;
  }

  /** Fetches big enough to be bandwidth-bound measure throughput; small ones mostly measure latency. */
  private throughputSample(bytes: number, seconds: number): void {
    if (bytes >= THROUGHPUT_MIN_BYTES && seconds > 0) this.registryTransfer(bytes, seconds);
  }

  /** An image was served lazily (its layers resolved through the store). */
  lazyPull(image: string, imageDigest: string | null, layers: string[]): void {
    this.opts.metrics.lookupServedLazily();
    const at = new Date(this.opts.clock.now()).toISOString();
    this.lazyPulls.push({ image, digest: imageDigest, layers, at });
    this.notify();
  }

  /** A lookup answered ENOENT so CRI-O pulls normally. */
  fallback(image: string | null, reason: string): void {
    this.opts.metrics.lookupFellBack(reason);
    const at = new Date(this.opts.clock.now()).toISOString();
    this.fallbacks.push({ image, reason: reason.slice(0, 256), at });
    this.notify();
  }

  setMountState(state: MountState, error: string | null = null): void {
    const changed = state !== this.mount.state;
    this.mount = { state, error };
    if (changed) this.notify();
  }

  setCacheUsage(usedBytes: number, capBytes: number): void {
    this.cache = { usedBytes, capBytes };
  }

  /** Builds the report for the window that ends now and starts the next window. */
  drain(): AgentReport {
    const end = this.opts.clock.now();
    const report: AgentReport = {
      schemaVersion: 1,
      reportId: randomUUID(),
      node: this.opts.node,
      agentVersion: this.opts.agentVersion,
      windowStart: new Date(this.windowStart).toISOString(),
      windowEnd: new Date(end).toISOString(),
      mount: { ...this.mount },
      cache: { ...this.cache },
      layersServed: this.layers.size,
      registry: { ...this.registry },
      images: this.drainImages(),
      lazyPulls: this.lazyPulls.slice(0, 256),
      fallbacks: this.fallbacks.slice(0, 256),
    };
    this.windowStart = end;
    this.lazyPulls = [];
    this.fallbacks = [];
    this.registry = { bytes: 0, seconds: 0 };
    return report;
  }

  private drainImages(): ImageReport[] {
    const byImage = new Map<string, ImageReport>();
    for (const [digest, state] of this.layers) {
      if (!state.touched) continue;
      const { image, imageDigest, imageCompressedSize } = state.mount;
      let entry = byImage.get(image);
      if (!entry) {
        entry = {
          image,
          digest: imageDigest,
          compressedSizeBytes: imageCompressedSize,
          layers: [],
        };
        byImage.set(image, entry);
      }
      if (entry.layers.length < 512) entry.layers.push(this.drainLayer(digest, state));
    }
    return [...byImage.values()].slice(0, 256);
  }

  private drainLayer(digest: string, state: LayerState): LayerReport {
    const hotFiles = [...state.hotFiles.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, this.opts.hotFilesPerLayer)
      .map(([path, bytes]) => ({ path, bytes }));
    const layer: LayerReport = {
      digest,
      sizeBytes: state.mount.sizeBytes,
      bytes: { onDemand: state.onDemand, prefetch: state.prefetch, background: state.background },
      chunkFetches: state.chunkFetches,
      latency: addHistogram(emptyHistogram(), state.latency),
      fetchedBytes: state.fetchedBytes,
      prefetchUsedBytes: state.prefetchUsed,
      hotFiles,
    };
    state.onDemand = state.prefetch = state.background = state.chunkFetches = 0;
    state.prefetchUsed = 0;
    state.latency = emptyHistogram();
    state.hotFiles.clear();
    state.touched = false;
    return layer;
  }

  private notify(): void {
    for (const listener of this.notableListeners) listener();
  }
}
