// The node agent: wires the chunk cache, the fetch scheduler, the registry client and the layer
// store together, mounts the store with FUSE, and serves metrics and the auth-helper socket.
import { realpathSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { flushCompileCache } from 'node:module';
import { basename, dirname, join } from 'node:path';

import { pino, type Logger } from 'pino';

import { ChunkCache } from '../cache/chunk-cache.ts';
import { LayerRecords } from '../cache/layer-records.ts';
import { TocCache } from '../cache/toc-cache.ts';
import { BackgroundFetcher } from '../fetch/background.ts';
import { FetchScheduler } from '../fetch/scheduler.ts';
import {
  cleanStaleMounts,
  mountFilesystem,
  serveInheritedFilesystem,
  type MountedFilesystem,
} from '../fuse/index.ts';
import {
  CredentialStore,
  loadRegistriesConf,
  RegistriesConfig,
  registriesConfStamp,
  RegistryClient,
  systemSecureContext,
} from '../registry/index.ts';
import { StoreFilesystem } from '../store/filesystem.ts';
import { IndexBudget } from '../store/index-budget.ts';
import { LayerManager, type StoreObserver } from '../store/layer-manager.ts';
import { VerifiedBlobs } from '../store/verified-blob.ts';
import { warmUpDir, warmUpLookupPath } from '../store/warm-up-lookup.ts';
import { warmUpLayerPath } from '../store/warm-up.ts';
import {
  AgentMetrics,
  Reporter,
  startMetricsServer,
  TelemetryCollector,
  type FallbackReason,
  type MetricsServer,
} from '../telemetry/index.ts';
import { version } from '../version.ts';
import { startAuthSocket, type AuthSocket } from './auth-socket.ts';
import { loadAgentConfig, type AgentConfig, type AgentFlags } from './config.ts';
import { watchMount } from './mount-watch.ts';
import {
  superviseAgent,
  WORKER_DEVICE_FD,
  WORKER_ENV,
  type FromWorker,
  type ToWorker,
} from './supervisor.ts';
import { verificationLog } from './verification-log.ts';

/** A worker's line to its supervisor: what it was started with, and where it reports. */
export interface WorkerLink {
  start: Extract<ToWorker, { type: 'start' }>;
  send(message: FromWorker): void;
}

/** The configuration file the agent watches, and the command-line flags applied over it. */
export interface ConfigFile {
  path: string;
  flags: AgentFlags;
}

/**
 * Disk for TOCs of layers seen before (typically 5–1000 KiB each): a few hundred layers. Not part
 * of `cacheSize`, which bounds the chunks.
 */
const TOC_CACHE_BYTES = 256 * 2 ** 20;
/** How often the auth files are checked for changes (a stat each). */
const AUTH_REFRESH_MS = 5000;

/**
 * registries.conf and its drop-ins, or — when they cannot be read or parsed — a configuration
 * that refuses every reference, so that lookups miss (the runtime pulls normally, or refuses the
 * file itself) instead of the worker failing to start and the store hanging its lookups.
 */
async function loadRegistries(path: string, log: Logger): Promise<RegistriesConfig> {
  try {
    return await loadRegistriesConf(path);
  } catch (e) {
    const why = `registries.conf cannot be used: ${(e as Error).message}`;
    log.error(
      { file: path, err: (e as Error).message },
      'registries.conf cannot be used: every lookup misses (images pull normally) until it is fixed',
    );
    return RegistriesConfig.unusable(why);
  }
}

export interface RunningAgent {
  config: AgentConfig;
  log: Logger;
  cache: ChunkCache;
  manager: LayerManager;
  metrics: AgentMetrics;
  collector: TelemetryCollector;
  credentials: CredentialStore;
  metricsServer: MetricsServer | undefined;
  /** A shutdown began elsewhere (the supervisor unmounts): /readyz fails, the unmount is expected. */
  beginShutdown(): void;
  /** Unmounts and stops everything (idempotent). */
  stop(): Promise<void>;
}

/** Maps a fallback reason sentence to the closed label set of the metrics. */
export function fallbackCategory(reason: string): FallbackReason {
  if (/not resolved within|timeout/i.test(reason)) return 'timeout';
  if (/unauthorized|denied|credential/i.test(reason)) return 'auth';
  if (/DIGEST_MISMATCH|integrity/i.test(reason)) return 'verification';
  if (/not eStargz|media type|BAD_FOOTER|UNVERIFIABLE|cannot be verified|zstd/i.test(reason)) {
    return 'not-lazy-format';
  }
  if (/not-found|unreachable|no-range-support|protocol|blocked/i.test(reason)) {
    return 'registry-error';
  }
  if (/manifest|diff_id/i.test(reason)) return 'unsupported-manifest';
  return 'other';
}

/**
 * One lazy-pull event per image pull: a runtime looks its layers up one by one, so the layers
 * served lazily within a second of each other make one event, with the image's manifest digest.
 */
function lazyPullEvents(collector: TelemetryCollector, once: (key: string) => boolean) {
  const pending = new Map<string, { digest: string | null; layers: Set<string> }>();
  const digests = new Map<string, string>();
  const flush = (ref: string): void => {
    const pull = pending.get(ref);
    pending.delete(ref);
    if (pull && once(`lazy ${ref}`)) collector.lazyPull(ref, pull.digest, [...pull.layers]);
  };
  return {
    image(ref: string, manifestDigest: string): void {
      digests.set(ref, manifestDigest);
      if (digests.size > 10_000) digests.clear();
      const pull = pending.get(ref);
      if (pull) pull.digest = manifestDigest;
    },
    served(ref: string, layer: string): void {
      let pull = pending.get(ref);
      if (!pull) {
        pull = { digest: digests.get(ref) ?? null, layers: new Set() };
        pending.set(ref, pull);
        setTimeout(() => flush(ref), 1_000).unref();
      }
      pull.layers.add(layer);
    },
  };
}

function telemetryObserver(collector: TelemetryCollector, log: Logger): StoreObserver {
  const recent = new Map<string, number>();
  const once = (key: string): boolean => {
    const now = Date.now();
    if (now - (recent.get(key) ?? 0) < 60_000) return false;
    recent.set(key, now);
    if (recent.size > 10_000) recent.clear();
    return true;
  };
  const fetchedPerLayer = new Map<string, number>();
  const lazyPulls = lazyPullEvents(collector, once);
  const logVerification = verificationLog(log);
  return {
    fetched: (e) => {
      log.debug(e, 'fetched');
      if (e.priority === 'onDemand') collector.onDemandFetch(e.layer, e.bytes, e.seconds);
      else if (e.priority === 'prefetch') collector.prefetch(e.layer, e.bytes, e.seconds);
      else collector.backgroundFetch(e.layer, e.bytes);
      const total = (fetchedPerLayer.get(e.layer) ?? 0) + e.bytes;
      fetchedPerLayer.set(e.layer, total);
      collector.layerProgress(e.layer, total);
    },
    verificationFailed: (e) => {
      logVerification(e);
      if (e.final) collector.verificationFailure('chunk');
    },
    cacheHit: () => collector.cacheHit(),
    hedged: (e) => {
      log.debug(e, 'fetch: straggling request asked again');
      collector.hedgedRequest();
    },
    cacheMiss: (e) => collector.cacheMiss(e.chunks),
    prefetchUsed: (e) => collector.prefetchUsed(e.layer, e.bytes),
    servedLazily: (e) => lazyPulls.served(e.ref, e.layer),
    fellBack: (e) => {
      if (once(`fallback ${e.ref} ${e.digest}`)) {
        collector.fallback(e.ref, fallbackCategory(e.reason));
      }
    },
    layerResolved: (e) => {
      lazyPulls.image(e.ref, e.image.manifestDigest);
      collector.layerMounted({
        image: e.ref,
        imageDigest: e.image.manifestDigest,
        imageCompressedSize: e.image.compressedSize,
        layer: e.layer.digest,
        sizeBytes: e.layer.descriptor.size,
      });
    },
    layerReleased: (e) => {
      fetchedPerLayer.delete(e.layer);
      collector.layerUnmounted(e.layer);
    },
  };
}

/**
 * A chunk the cache could not write is still served (from memory); the error is counted, and
 * logged once a minute per error code: a full disk fails every write.
 */
function cacheWriteErrorLog(
  log: Logger,
  metrics: AgentMetrics,
): (layer: string, digest: string, error: NodeJS.ErrnoException) => void {
  const lastLogged = new Map<string, number>();
  return (layer, digest, error) => {
    const code = error.code ?? 'other';
    metrics.cacheWriteError(code);
    const now = Date.now();
    if (now - (lastLogged.get(code) ?? 0) < 60_000) return;
    lastLogged.set(code, now);
    log.warn({ layer, digest, code, err: error.message }, 'cache: chunk not written');
  };
}

/**
 * A chunk file that fails re-verification: counted, and logged at most once a minute with the
 * count since (a damaged disk or a wiped cache can make thousands at once).
 */
function cacheCorruptLog(
  log: Logger,
  metrics: AgentMetrics,
): (layer: string, digest: string) => void {
  let lastLogged = 0;
  let since = 0;
  return (layer, digest) => {
    metrics.cacheCorruptChunk();
    since++;
    const now = Date.now();
    if (now - lastLogged < 60_000) return;
    log.warn(
      { layer, digest, chunks: since },
      'cache: corrupt chunks dropped (fetched again; check the disk under the state directory)',
    );
    lastLogged = now;
    since = 0;
  };
}

/**
 * Starts the agent. Alone (tests, `worker` unset) it mounts the store itself; as a supervised
 * worker it serves the mount its supervisor holds and reports what a successor must know.
 */
export async function startAgent(
  config: AgentConfig,
  configFile?: ConfigFile,
  worker?: WorkerLink,
): Promise<RunningAgent> {
  const log = pino({ level: config.logLevel, base: { component: 'agent', node: config.nodeName } });
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  if (!worker) {
    // First the stale mount a crashed agent left (any access to it fails with ENOTCONN).
    const stale = await cleanStaleMounts(config.mountpoint);
    if (stale > 0) log.warn({ mountpoint: config.mountpoint, stale }, 'removed stale mounts');
    await mkdir(config.mountpoint, { recursive: true, mode: 0o755 });
  }

  // Process metrics too (RSS, heap, CPU, event-loop lag): a node agent's cost is what admins watch.
  const metrics = new AgentMetrics({ defaultMetrics: true });
  const collector = new TelemetryCollector({
    node: config.nodeName,
    agentVersion: version,
    metrics,
  });
  const cache = await ChunkCache.open({
    dir: join(config.stateDir, 'cache'),
    capBytes: config.cacheSize,
    minFreePercent: config.cacheMinFreePercent,
    onCorrupt: cacheCorruptLog(log, metrics),
    onWriteError: cacheWriteErrorLog(log, metrics),
    log,
    // A cache of 300k chunk files takes seconds to size: the store serves once they are named.
    serveWhileIndexing: true,
  });
  const opened = cache.stats();
  collector.setCacheUsage(opened.usedBytes, opened.capBytes);
  metrics.observeCache(() => cache.stats());
  // Its chunks on disk are counted as the scan sizes them ("cache: indexed the chunks on disk").
  log.info({ capBytes: opened.capBytes, limitBytes: opened.limitBytes }, 'cache opened');
  const tocCache = new TocCache({
    dir: join(config.stateDir, 'tocs'),
    capBytes: TOC_CACHE_BYTES,
    log,
  });
  await tocCache.open();
  // What each layer served was (descriptor, DiffID, references): when the registry has no answer
  // after a restart, container starts are served from them (store/layer-manager.ts #orFromRecord).
  const records = new LayerRecords({ dir: join(config.stateDir, 'layers'), log });
  await records.open();

  const credentials = new CredentialStore();
  for (const file of config.authFiles) {
    await credentials.addAuthFile(file).catch((e: unknown) => {
      log.warn({ file, err: (e as Error).message }, 'cannot read auth file');
    });
  }
  for (const map of worker?.start.credentials ?? []) credentials.addAuthHelperMap(map);
  let registriesStamp = await registriesConfStamp(config.registriesConf);
  const registries = await loadRegistries(config.registriesConf, log);
  const client = new RegistryClient({ credentials, registries, certsDirs: config.certsDirs });
  // The system roots' TLS context costs 50–100 ms of CPU: pay it now, not on the first lookup.
  systemSecureContext();
  // Every registry round trip at debug level: what a slow lookup or read spent its time on.
  if (log.isLevelEnabled('debug')) {
    client.stats.on('request', (e) => log.debug(e, 'registry request'));
  }

  const scheduler = new FetchScheduler({
    backgroundConcurrency: config.backgroundFetch.concurrency,
    quietPeriodMs: config.backgroundFetch.quietPeriodSeconds * 1000,
    maxPauseMs: config.backgroundFetch.maxPauseSeconds * 1000,
  });
  const background = new BackgroundFetcher(scheduler, {
    enabled: config.backgroundFetch.enabled,
    concurrency: config.backgroundFetch.concurrency,
    hasRoom: (bytes) => cache.roomFor(bytes),
    onRoom: (waiting) => {
      const { usedBytes, limitBytes, capBytes } = cache.stats();
      if (waiting) {
        log.warn(
          { usedBytes, limitBytes, capBytes },
          'background fetch: waiting, the cache has no room for more of the layers in use (cacheSize, or the disk)',
        );
      } else log.info({ usedBytes, limitBytes }, 'background fetch: the cache has room again');
    },
    onLayerDone: (layer) => log.info({ layer }, 'background fetch: layer complete'),
    onError: (layer, err) =>
      log.warn({ layer, err: (err as Error).message }, 'background fetch failed'),
  });
  const observer = telemetryObserver(collector, log);
  const manager = new LayerManager({
    client,
    cache,
    tocCache,
    records,
    scheduler,
    background,
    lookupTimeoutMs: config.lookupTimeoutSeconds * 1000,
    prefetch: config.prefetch,
    log,
    observer,
    indexBudget: new IndexBudget(config.maxIndexEntries),
  });
  // `blob` reads: whole-blob copies under the state directory (a running agent's only).
  const blobs = new VerifiedBlobs({
    dir: join(config.stateDir, 'blobs'),
    log,
    onVerificationFailed: () => collector.verificationFailure('blob'),
  });
  await blobs.open();
  const fs = new StoreFilesystem({
    manager,
    log,
    blobs,
    onFileRead: (layer, path, bytes) => collector.fileRead(layer, `/${path}`, bytes),
    ...(worker && {
      journal: {
        replay: worker.start.journal,
        record: (event) => worker.send({ type: 'journal', event }),
      },
    }),
  });

  let mounted: MountedFilesystem;
  // Sequential readers get 1 MiB READs, several in flight, instead of one 128 KiB at a time.
  const readAheadKb = 4096;
  const onOperation = (kind: string, seconds: number): void => collector.fuseOp(kind, seconds);
  try {
    mounted = worker
      ? await serveInheritedFilesystem(
          fs,
          {
            fd: WORKER_DEVICE_FD,
            mountpoint: config.mountpoint,
            ...(worker.start.protocol && { protocol: worker.start.protocol }),
          },
          { readAheadKb, log, onOperation },
        )
      : await mountFilesystem(fs, {
          mountpoint: config.mountpoint,
          fsname: 'slipstream',
          subtype: 'slipstream',
          readAheadKb,
          log,
          onOperation,
        });
  } catch (e) {
    collector.setMountState('error', (e as Error).message);
    await client.close();
    throw e;
  }
  collector.setMountState('mounted');
  /** Set when a shutdown began: the mount going away is expected, and the agent is not ready. */
  let shuttingDown = false;
  const mountWatch = watchMount(canonicalPath(config.mountpoint), () => {
    if (shuttingDown) return;
    const error = 'the store was unmounted by something else; restart the agent to mount it again';
    collector.setMountState('error', error);
    log.error({ mountpoint: config.mountpoint }, `store: ${error}`);
  });
  log.info(
    {
      mountpoint: config.mountpoint,
      protocol: mounted.protocol,
      resumed: Boolean(worker?.start.protocol),
    },
    'store mounted',
  );
  if (worker) {
    worker.send({ type: 'serving', protocol: mounted.protocol });
    void fs.restoreReferences();
    // Every module is loaded by now; a worker that is killed never writes the cache at exit.
    flushCompileCache();
  }

  const auth: AuthSocket = await startAuthSocket(
    join(config.stateDir, 'auth.sock'),
    (json) => {
      credentials.addAuthHelperMap(json);
      worker?.send({ type: 'credentials', map: json as Record<string, unknown> });
      manager.forgetFailures(); // lookups that failed for want of these may succeed now
      log.info({ refs: Object.keys(json as object).length }, 'auth helper: credentials received');
    },
    (err) => log.warn({ err: err.message }, 'auth helper: bad message'),
  );

  // Ready once the lookup path has been run warm: the TOC parse (store/warm-up.ts), then a whole
  // pull through a throwaway store (store/warm-up-lookup.ts). A failed warm-up is logged and does
  // not keep the agent unready: it serves from the mount on either way.
  let warmedUp = !config.warmUp;

  let metricsServer: MetricsServer | undefined;
  if (config.metricsAddress) {
    metricsServer = await startMetricsServer(
      config.metricsAddress,
      metrics,
      () => warmedUp && !shuttingDown,
      () => mountWatch.mounted(), // unhealthy without its mount: the kubelet restarts the agent
    );
    log.info(metricsServer.address, 'metrics listening');
  }
  if (config.warmUp) {
    void warmUpLayerPath()
      .then(async (report) => {
        const lookup = await warmUpLookupPath({
          dir: await warmUpDir(config.stateDir),
          prefetch: config.prefetch,
        });
        return { ...report, lookup };
      })
      .then(
        (report) => log.info(report, 'layer path warmed up'),
        (e: unknown) => log.warn({ err: (e as Error).message }, 'warm-up failed'),
      )
      .finally(() => (warmedUp = true));
  }
  // The disk is shared with images, logs and volumes: its room is measured again each time.
  const cacheTimer = setInterval(() => {
    void cache.checkDisk().then(() => {
      const s = cache.stats();
      collector.setCacheUsage(s.usedBytes, s.capBytes);
    });
  }, 10_000);
  cacheTimer.unref();
  // Rotated pull secrets (a Secret volume swaps its files) and rewritten auth files take effect
  // without a restart: a stat per file every few seconds.
  const authTimer = setInterval(() => {
    credentials.refreshAuthFiles().then(
      (changed) => {
        if (!changed) return;
        manager.forgetFailures(); // lookups refused with the old credentials may succeed now
        log.info({ files: config.authFiles }, 'auth files changed: credentials reloaded');
      },
      (e: unknown) => {
        log.warn(
          { err: (e as Error).message },
          'auth file changed but cannot be read; keeping its previous credentials',
        );
      },
    );
    // registries.conf too (an ImageDigestMirrorSet rendered by the MCO, an edit): new lookups go
    // where the runtime now pulls from.
    void registriesConfStamp(config.registriesConf).then(async (stamp) => {
      if (stamp === registriesStamp) return;
      registriesStamp = stamp;
      client.registries = await loadRegistries(config.registriesConf, log);
      manager.forgetFailures();
      if (!client.registries.unusableReason) {
        log.info({ file: config.registriesConf }, 'registries.conf changed: reloaded');
      }
    });
  }, AUTH_REFRESH_MS);
  authTimer.unref();

  let reporter: Reporter | undefined;
  if (config.hub.url) {
    reporter = new Reporter({
      collector,
      hubUrl: config.hub.url,
      tokenFile: config.hub.tokenFile,
      caFile: config.hub.caFile ?? null,
      intervalSeconds: config.hub.reportIntervalSeconds,
      spoolDir: join(config.stateDir, 'spool'),
      log,
    });
    await reporter.start();
  }

  const watcher = configFile
    ? watchConfig(configFile.path, async () => {
        try {
          // An empty file is a write caught halfway (or a ConfigMap emptied by mistake), not a
          // wish for every default: those would turn the background fetch on and open metrics
          // on every address.
          if ((await readFile(configFile.path, 'utf8')).trim() === '') {
            throw new Error(`${configFile.path} is empty`);
          }
          // The command line still wins over the file, as it did at start.
          const next = await loadAgentConfig(configFile.path, configFile.flags);
          manager.setPrefetch(next.prefetch);
          background.configure(next.backgroundFetch.enabled, next.backgroundFetch.concurrency);
          scheduler.configureBackground(
            next.backgroundFetch.concurrency,
            next.backgroundFetch.quietPeriodSeconds * 1000,
            next.backgroundFetch.maxPauseSeconds * 1000,
          );
          await cache.setCap(next.cacheSize, next.cacheMinFreePercent);
          log.info(
            {
              prefetch: next.prefetch,
              backgroundFetch: next.backgroundFetch,
              cacheSize: next.cacheSize,
              cacheMinFreePercent: next.cacheMinFreePercent,
            },
            'configuration reloaded',
          );
          const later = settingsForANewWorker(config, next);
          if (later.length > 0) {
            log.warn(
              { settings: later },
              'configuration reloaded, but these settings take effect only in a new worker (kill -HUP the supervisor) or, for mountpoint and stateDir, a new pod',
            );
          }
        } catch (e) {
          log.error(
            { err: (e as Error).message },
            'configuration reload failed; keeping the old one',
          );
        }
      })
    : undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      shuttingDown = true;
      watcher?.close();
      mountWatch.stop();
      clearInterval(cacheTimer);
      clearInterval(authTimer);
      background.stop();
      scheduler.stop();
      // A worker leaves the mount to its supervisor (which unmounts, or starts a successor).
      const result = worker ? (mounted.release(), 'released') : await mounted.unmount();
      await cache.flush();
      log.info(
        { mountpoint: config.mountpoint, result },
        worker ? 'store released' : 'store unmounted',
      );
      collector.setMountState('unmounted');
      await auth.close();
      await reporter?.stop().catch(() => undefined);
      await metricsServer?.close();
      await client.close();
    })());

  const beginShutdown = (): void => {
    shuttingDown = true;
  };
  return {
    config,
    log,
    cache,
    manager,
    metrics,
    collector,
    credentials,
    metricsServer,
    beginShutdown,
    stop,
  };
}

/** Calls `onChange` (debounced) when the file changes — also through ConfigMap symlink swaps. */
function watchConfig(path: string, onChange: () => Promise<void>): FSWatcher | undefined {
  let timer: NodeJS.Timeout | undefined;
  try {
    // Watch the directory: kubelet updates ConfigMap volumes by swapping a `..data` symlink.
    return watch(dirname(path), (_event, name) => {
      if (name !== null && name !== basename(path) && name !== '..data') return;
      clearTimeout(timer);
      timer = setTimeout(() => void onChange(), 500);
    });
  } catch {
    return undefined;
  }
}

/** What a reload applies in place; everything else waits for a new worker. */
const RELOADED_IN_PLACE = new Set([
  'prefetch',
  'backgroundFetch',
  'cacheSize',
  'cacheMinFreePercent',
]);

/** The settings of `next` that differ from the running worker's and a reload does not apply. */
export function settingsForANewWorker(running: AgentConfig, next: AgentConfig): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  return [...keys].filter(
    (key) =>
      !RELOADED_IN_PLACE.has(key) &&
      JSON.stringify(running[key as keyof AgentConfig]) !==
        JSON.stringify(next[key as keyof AgentConfig]),
  );
}

export async function runAgentFromCli(
  configPath: string | undefined,
  flags: AgentFlags,
): Promise<void> {
  // Each outstanding /dev/fuse read holds a libuv pool thread; with the default pool of 4 the
  // cache's file I/O and zlib would starve. This must run before the pool's first use (the pool
  // starts lazily at the first async fs/zlib/crypto call, which none of the CLI setup makes).
  process.env.UV_THREADPOOL_SIZE ??= '16';
  if (process.env[WORKER_ENV] !== '1') return superviseAgent(configPath, flags);
  const start = await new Promise<WorkerLink['start']>((resolve) => {
    const onFirst = (m: ToWorker): void => {
      if (m.type !== 'start') return;
      process.off('message', onFirst);
      resolve(m);
    };
    process.on('message', onFirst);
  });
  // A file that no longer loads (edited by hand, or written by a newer chart with a key this
  // agent does not know) must not stop a new worker: ten failed starts and the supervisor would
  // give up and unmount under running containers. The worker then runs with the configuration
  // the supervisor started with. The mount's paths are always the supervisor's.
  let refused: string | undefined;
  const fromFile = await loadAgentConfig(configPath, flags).catch((e: unknown) => {
    refused = (e as Error).message;
    return start.config;
  });
  const config = {
    ...fromFile,
    mountpoint: start.config.mountpoint,
    stateDir: start.config.stateDir,
  };
  const configFile = configPath === undefined ? undefined : { path: configPath, flags };
  const agent = await startAgent(config, configFile, {
    start,
    send: (message) => process.send?.(message),
  });
  if (refused !== undefined) {
    agent.log.error(
      { err: refused },
      'configuration file refused; this worker runs with the configuration the agent started with',
    );
  }
  // The supervisor says when to stop ('stop', or by going away); SIGTERM sent to the worker
  // alone ends just this worker (the supervisor starts another). Ctrl-C reaches the whole
  // process group: the supervisor coordinates, so the worker ignores SIGINT.
  process.on('SIGINT', () => undefined);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      agent.log.info({ why }, 'stopping');
      agent.stop().then(resolve, (e: unknown) => {
        agent.log.error({ err: (e as Error).message }, 'stop failed');
        resolve();
      });
    };
    process.on('message', (m: ToWorker) => {
      if (m.type === 'stopping') agent.beginShutdown();
      if (m.type === 'stop') stop('supervisor');
    });
    process.once('disconnect', () => stop('supervisor gone'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  // Open handles (the IPC channel, blocked device reads) must not keep a stopped worker alive.
  process.exit(process.exitCode ?? 0);
}

/** The path the kernel lists a mount under: its parent resolved (never the mount itself). */
function canonicalPath(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path;
  }
}
