// Writes into the hub database: pods and their Pulled events (from the Kubernetes watchers) and
// agent reports. After any write that can change a pod's story, refreshPod() recomputes its derived
// columns: which containers the node served lazily, startup and pull seconds, and its kind
// (lazy | normal | cached). Every entry point is idempotent, so list+watch replays and report
// resends are harmless.
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

import type { Clock } from '../telemetry/collector.ts';
import { addHistogram, emptyHistogram, type AgentReport } from '../telemetry/report.ts';
import { immediateTransaction, StatementCache } from './db.ts';
import { currentBuildSql, normalizeImage } from './images.ts';
import { parsePulledMessage } from './kubelet-events.ts';
import type { PodObservation, PulledObservation } from './pod-record.ts';

/** Clock skew allowed between nodes and the API server when matching lazy pulls to pods. */
const MATCH_SLACK_MS = 60_000;
/** A lazy pull can match a pod created up to this long before it (image pulls can queue). */
const MATCH_LOOKBACK_MS = 3_600_000;
/**
 * Layers of one image stored per report (the schema allows 512). A real image has at most ~127
 * (overlay's limit on lower directories); an agent reports every build of a reference it has
 * mounted as one image, so two such builds fit. The rest are not stored, and counted: one agent
 * sending hundreds of new layer digests a report grew one image to 102k layers.
 */
export const MAX_LAYERS_PER_IMAGE = 256;

interface ContainerRow {
  name: string;
  image: string;
  image_digest: string | null;
  started_at: number | null;
  pulled_at: number | null;
  pull_seconds: number | null;
  already_present: number;
  lazy: number;
}

/** A build of an image reference: its manifest digest, '' when no agent said. */
interface Build {
  image: string;
  manifest: string;
}

interface PodRow {
  uid: string;
  node: string | null;
  image: string | null;
  created_at: number;
  ready_at: number | null;
}

export interface ReportOutcome {
  duplicate: boolean;
  /** Layers beyond MAX_LAYERS_PER_IMAGE in an image (or a lazy pull) of the report, not stored. */
  layersDropped: number;
}

/** Checked before every write: throws while the volume is too full (see DiskRoom). */
export interface WriteRoom {
  check(): void;
}

export class HubIngest {
  private readonly db: DatabaseSync;
  private readonly clock: Clock;
  private readonly statements: StatementCache;
  private readonly room: WriteRoom | undefined;

  constructor(db: DatabaseSync, clock: Clock, room?: WriteRoom) {
    this.db = db;
    this.clock = clock;
    this.statements = new StatementCache(db);
    this.room = room;
  }

  /** Records (or updates) a pod from the pod informer. Earliest timestamps win. */
  upsertPod(pod: PodObservation): void {
    this.transaction(() => {
      const firstStarted = minOf(pod.containers.map((c) => c.startedAt));
      this.run(
        `INSERT INTO pods (uid, namespace, name, node, image, created_at, scheduled_at,
           ready_to_start_at, first_started_at, ready_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(uid) DO UPDATE SET
           node = coalesce(excluded.node, node),
           scheduled_at = ${earliest('scheduled_at')},
           ready_to_start_at = ${earliest('ready_to_start_at')},
           first_started_at = ${earliest('first_started_at')},
           ready_at = ${earliest('ready_at')}`,
        pod.uid,
        pod.namespace,
        pod.name,
        pod.node,
        pod.containers[0]?.image ?? null,
        pod.createdAt,
        pod.scheduledAt,
        pod.readyToStartAt,
        firstStarted,
        pod.readyAt,
      );
      pod.containers.forEach((c, position) => {
        this.run(
          `INSERT INTO containers (pod_uid, name, position, image, image_raw, image_digest, started_at, ready_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(pod_uid, name) DO UPDATE SET
             position = excluded.position,
             image = excluded.image,
             image_raw = excluded.image_raw,
             image_digest = coalesce(excluded.image_digest, image_digest),
             started_at = ${earliest('started_at')},
             ready_at = ${earliest('ready_at')}`,
          pod.uid,
          c.name,
          position,
          c.image,
          c.imageRaw,
          c.imageDigest,
          c.startedAt,
          c.readyAt,
        );
      });
      this.refreshPod(pod.uid);
    });
  }

  /**
   * Records a kubelet Pulled event. Only a container's first pull counts (later ones are restarts);
   * returns false when the message is not a Pulled form we know.
   */
  recordPulled(event: PulledObservation): boolean {
    const parsed = parsePulledMessage(event.message);
    if (!parsed) return false;
    const pulled = parsed.kind === 'pulled' ? parsed : null;
    this.transaction(() => {
      this.run(
        `INSERT INTO containers (pod_uid, name, image, image_raw, pulled_at, pull_seconds,
           pull_total_seconds, image_size, already_present)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(pod_uid, name) DO UPDATE SET
           pulled_at = excluded.pulled_at,
           pull_seconds = excluded.pull_seconds,
           pull_total_seconds = excluded.pull_total_seconds,
           image_size = excluded.image_size,
           already_present = excluded.already_present
         WHERE containers.pulled_at IS NULL OR excluded.pulled_at < containers.pulled_at`,
        event.podUid,
        event.container,
        normalizeImage(parsed.image),
        parsed.image,
        event.at,
        pulled?.pullSeconds ?? null,
        pulled?.totalSeconds ?? null,
        pulled?.imageSizeBytes ?? null,
        pulled ? 0 : 1,
      );
      this.refreshPod(event.podUid);
    });
    return true;
  }

  /** Stores several reports in one transaction (one commit: see ReportBatcher). */
  ingestReports(reports: AgentReport[]): ReportOutcome[] {
    return this.transaction(() => reports.map((r) => this.ingestReport(r)));
  }

  /** Stores an agent report once (by reportId). The caller has validated and authorised it. */
  ingestReport(report: AgentReport): ReportOutcome {
    return this.transaction(() => {
      const now = this.clock.now();
      // Ids are the agents' own: one node's id must not make another node's report a duplicate
      // (its data would be dropped), so they are kept per node.
      const fresh = this.run(
        'INSERT OR IGNORE INTO reports (id, node, received_at) VALUES (?, ?, ?)',
        `${report.node}/${report.reportId}`,
        report.node,
        now,
      );
      if (fresh.changes === 0) return { duplicate: true, layersDropped: 0 };
      // A node's clock may run ahead (at boot, before NTP): its windows count as ending no later
      // than now, or one report from the future would hold the node's status until that time.
      const windowEnd = Math.min(Date.parse(report.windowEnd), now);
      this.recordNode(report, windowEnd, now);
      let layersDropped = 0;
      for (const image of report.images) {
        layersDropped += this.recordImage(report.node, image, windowEnd, now);
      }
      for (const pull of report.lazyPulls) {
        layersDropped += this.recordLazyPull(report.node, pull, now);
      }
      return { duplicate: false, layersDropped };
    });
  }

  private recordNode(report: AgentReport, windowEnd: number, now: number): void {
    this.run(
      `INSERT INTO nodes (node, agent_version, mount_state, mount_error, cache_used, cache_cap,
         layers_served, last_report_at, last_window_end, registry_bytes, registry_seconds)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(node) DO UPDATE SET
         registry_bytes = registry_bytes + excluded.registry_bytes,
         registry_seconds = registry_seconds + excluded.registry_seconds,
         last_report_at = excluded.last_report_at,
         -- gauges: only a report from a later window may replace them (resends arrive late)
         agent_version = iif(excluded.last_window_end >= last_window_end, excluded.agent_version, agent_version),
         mount_state = iif(excluded.last_window_end >= last_window_end, excluded.mount_state, mount_state),
         mount_error = iif(excluded.last_window_end >= last_window_end, excluded.mount_error, mount_error),
         cache_used = iif(excluded.last_window_end >= last_window_end, excluded.cache_used, cache_used),
         cache_cap = iif(excluded.last_window_end >= last_window_end, excluded.cache_cap, cache_cap),
         layers_served = iif(excluded.last_window_end >= last_window_end, excluded.layers_served, layers_served),
         last_window_end = max(last_window_end, excluded.last_window_end)`,
      report.node,
      report.agentVersion,
      report.mount.state,
      report.mount.error,
      report.cache.usedBytes,
      report.cache.capBytes,
      report.layersServed,
      now,
      windowEnd,
      report.registry.bytes,
      report.registry.seconds,
    );
  }

  /** Records an image's window; returns the number of its layers not stored (over the limit). */
  private recordImage(
    node: string,
    image: AgentReport['images'][number],
    windowEnd: number,
    now: number,
  ): number {
    const ref = normalizeImage(image.image);
    // An agent that did not say which build is taken to report the current one.
    const manifest = image.digest ?? this.currentBuild(ref) ?? '';
    this.run(
      `INSERT INTO image_builds (image, manifest, compressed_size, first_reported_at, updated_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(image, manifest) DO UPDATE SET
         compressed_size = coalesce(excluded.compressed_size, compressed_size),
         first_reported_at = min(coalesce(first_reported_at, excluded.first_reported_at),
           excluded.first_reported_at),
         updated_at = excluded.updated_at`,
      ref,
      manifest,
      image.compressedSizeBytes,
      windowEnd,
      now,
    );
    const totals = { onDemand: 0, prefetch: 0, background: 0, chunkFetches: 0 };
    const latency = emptyHistogram();
    for (const [position, layer] of image.layers.entries()) {
      // The node moved these bytes whether or not the layer is stored.
      totals.onDemand = saturated(totals.onDemand + layer.bytes.onDemand);
      totals.prefetch = saturated(totals.prefetch + layer.bytes.prefetch);
      totals.background = saturated(totals.background + layer.bytes.background);
      totals.chunkFetches = saturated(totals.chunkFetches + layer.chunkFetches);
      addHistogram(latency, layer.latency);
      if (position < MAX_LAYERS_PER_IMAGE) {
        this.recordLayer(node, { image: ref, manifest }, position, layer, now);
      }
    }
    this.recordUsage(node, ref, totals, latency, windowEnd);
    return Math.max(0, image.layers.length - MAX_LAYERS_PER_IMAGE);
  }

  private recordUsage(
    node: string,
    image: string,
    totals: { onDemand: number; prefetch: number; background: number; chunkFetches: number },
    latency: number[],
    windowEnd: number,
  ): void {
    if (totals.onDemand + totals.prefetch + totals.background + totals.chunkFetches === 0) return;
    const placeholders = latency.map(() => '?').join(', ');
    const columns = latency.map((_, i) => `lat${i}`).join(', ');
    this.run(
      `INSERT INTO usage (t, node, image, on_demand, prefetch, background, chunk_fetches, ${columns})
       VALUES (?, ?, ?, ?, ?, ?, ?, ${placeholders})`,
      windowEnd,
      node,
      image,
      totals.onDemand,
      totals.prefetch,
      totals.background,
      totals.chunkFetches,
      ...latency,
    );
  }

  /** The build a reference resolves to now (see currentBuildSql), if any is known. */
  private currentBuild(image: string): string | undefined {
    const row = this.stmt(`SELECT ${currentBuildSql('?')} AS manifest`).get(image) as {
      manifest: string | null;
    };
    return row.manifest ?? undefined;
  }

  /** Adds a layer to a build (or keeps it there); its statistics are the reference's. */
  private recordBuildLayer(build: Build, digest: string, now: number): void {
    this.run(
      `INSERT INTO build_layers (image, manifest, digest, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(image, manifest, digest) DO UPDATE SET updated_at = excluded.updated_at`,
      build.image,
      build.manifest,
      digest,
      now,
    );
  }

  private recordLayer(
    node: string,
    build: Build,
    position: number,
    layer: AgentReport['images'][number]['layers'][number],
    now: number,
  ): void {
    const { image } = build;
    this.recordBuildLayer(build, layer.digest, now);
    const existing = this.stmt('SELECT latency FROM layers WHERE image = ? AND digest = ?').get(
      image,
      layer.digest,
    ) as { latency: string } | undefined;
    const latency = addHistogram(
      existing ? (JSON.parse(existing.latency) as number[]) : emptyHistogram(),
      layer.latency,
    ).map(saturated);
    this.run(
      `INSERT INTO layers (image, digest, position, size_bytes, on_demand, prefetch, background,
         prefetch_used, chunk_fetches, latency, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(image, digest) DO UPDATE SET
         size_bytes = excluded.size_bytes,
         on_demand = ${added('on_demand')},
         prefetch = ${added('prefetch')},
         background = ${added('background')},
         prefetch_used = ${added('prefetch_used')},
         chunk_fetches = ${added('chunk_fetches')},
         latency = excluded.latency,
         updated_at = excluded.updated_at`,
      image,
      layer.digest,
      position,
      layer.sizeBytes,
      layer.bytes.onDemand,
      layer.bytes.prefetch,
      layer.bytes.background,
      layer.prefetchUsedBytes,
      layer.chunkFetches,
      JSON.stringify(latency),
      now,
    );
    this.run(
      `INSERT INTO layer_nodes (image, digest, node, fetched_bytes, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(image, digest, node) DO UPDATE SET
         fetched_bytes = max(fetched_bytes, excluded.fetched_bytes), updated_at = excluded.updated_at`,
      image,
      layer.digest,
      node,
      layer.fetchedBytes,
      now,
    );
    for (const file of layer.hotFiles) {
      this.run(
        `INSERT INTO hot_files (image, digest, path, bytes, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(image, digest, path) DO UPDATE SET bytes = ${added('bytes')},
           updated_at = excluded.updated_at`,
        image,
        layer.digest,
        file.path,
        file.bytes,
        now,
      );
    }
  }

  /** Records a lazy pull; returns the number of its layers not stored (over the limit). */
  private recordLazyPull(
    node: string,
    pull: AgentReport['lazyPulls'][number],
    now: number,
  ): number {
    // Not later than now, as windowEnd: a pull stamped in the future would never age out.
    const at = Math.min(Date.parse(pull.at), now);
    const image = normalizeImage(pull.image);
    const layers = pull.layers.slice(0, MAX_LAYERS_PER_IMAGE);
    this.run(
      'INSERT INTO lazy_pulls (node, image, digest, layers, at) VALUES (?, ?, ?, ?, ?)',
      node,
      image,
      pull.digest,
      JSON.stringify(layers),
      at,
    );
    if (pull.digest !== null) {
      this.recordPulledBuild({ image, manifest: pull.digest }, layers, at, now);
    }
    const candidates = this.stmt(
      `SELECT DISTINCT p.uid AS uid FROM pods p JOIN containers c ON c.pod_uid = p.uid
         WHERE p.node = ? AND (c.image = ? OR c.image_digest = ?)
           AND p.created_at BETWEEN ? AND ?
           -- only containers that could have been pulling then: not yet lazy, not a cache hit,
           -- not started (or pulled) well before this lazy pull
           AND c.lazy = 0 AND c.already_present = 0
           AND coalesce(c.started_at, c.pulled_at, ?) >= ?`,
    ).all(
      node,
      image,
      pull.digest ?? '',
      at - MATCH_LOOKBACK_MS,
      at + MATCH_SLACK_MS,
      at,
      at - MATCH_SLACK_MS,
    ) as { uid: string }[];
    for (const { uid } of candidates) this.refreshPod(uid);
    return pull.layers.length - layers.length;
  }

  /**
   * A lazy pull says which build its reference resolved to, and when (see currentBuildSql), and
   * which layers the build has.
   */
  private recordPulledBuild(build: Build, layers: string[], at: number, now: number): void {
    this.run(
      `INSERT INTO image_builds (image, manifest, pulled_at, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(image, manifest) DO UPDATE SET
         pulled_at = max(coalesce(pulled_at, excluded.pulled_at), excluded.pulled_at),
         updated_at = excluded.updated_at`,
      build.image,
      build.manifest,
      at,
      now,
    );
    for (const digest of layers) this.recordBuildLayer(build, digest, now);
  }

  /** Recomputes a pod's derived columns from its containers and the lazy pulls on its node. */
  private refreshPod(uid: string): void {
    const pod = this.stmt(
      'SELECT uid, node, image, created_at, ready_at FROM pods WHERE uid = ?',
    ).get(uid) as PodRow | undefined;
    if (!pod) return; // a Pulled event before its pod: refreshed when the pod arrives
    const containers = this.stmt(
      `SELECT name, image, image_digest, started_at, pulled_at, pull_seconds, already_present, lazy
         FROM containers WHERE pod_uid = ? ORDER BY position, name`,
    ).all(uid) as unknown as ContainerRow[];
    // The latest pull that names its build first: it tells which build the container ran.
    const findLazyPull = this.stmt(
      `SELECT digest FROM lazy_pulls WHERE node = ? AND (image = ? OR digest = ?) AND at BETWEEN ? AND ?
       ORDER BY digest IS NULL, at DESC LIMIT 1`,
    );
    let anyLazy = false;
    let anyPulled = false;
    let pullSeconds: number | null = null;
    let primary: ContainerRow | undefined;
    let primaryBuild: string | null = null;
    for (const c of containers) {
      const until =
        (c.started_at ?? c.pulled_at ?? pod.created_at + MATCH_LOOKBACK_MS) + MATCH_SLACK_MS;
      const pull =
        pod.node === null || c.already_present !== 0
          ? undefined
          : (findLazyPull.get(
              pod.node,
              c.image,
              c.image_digest ?? '',
              pod.created_at - MATCH_SLACK_MS,
              until,
            ) as { digest: string | null } | undefined);
      const lazy = pull !== undefined;
      if (lazy !== (c.lazy === 1)) {
        this.run(
          'UPDATE containers SET lazy = ? WHERE pod_uid = ? AND name = ?',
          lazy ? 1 : 0,
          uid,
          c.name,
        );
      }
      if (c.pull_seconds !== null) {
        pullSeconds = (pullSeconds ?? 0) + c.pull_seconds;
        anyPulled = true;
      }
      if (lazy && !anyLazy) {
        primary = c;
        primaryBuild = pull.digest ?? c.image_digest;
      }
      anyLazy ||= lazy;
    }
    // The pod's image for savings: its first lazily served container, else its slowest pull.
    primary ??= [...containers].sort((a, b) => (b.pull_seconds ?? -1) - (a.pull_seconds ?? -1))[0];
    const kind = anyLazy ? 'lazy' : anyPulled ? 'normal' : 'cached';
    const startup = pod.ready_at === null ? null : (pod.ready_at - pod.created_at) / 1000;
    const image = primary?.image ?? pod.image;
    // The pod's image pull, pull and start times: those of the first container that ran its image.
    const ran = containers.find((c) => c.image === image);
    // image_digest: the build a lazy pod ran (its savings estimate uses that build's size).
    this.run(
      `UPDATE pods SET startup_seconds = ?, pull_seconds = ?, kind = ?, image = ?,
         image_pulled_at = ?, image_started_at = ?, image_pull_seconds = ?, image_digest = ?
       WHERE uid = ?`,
      startup,
      pullSeconds,
      kind,
      image,
      ran?.pulled_at ?? null,
      ran?.started_at ?? null,
      ran?.pull_seconds ?? null,
      primaryBuild,
      uid,
    );
  }

  /** Runs a write; returns the number of rows it changed. */
  private run(sql: string, ...params: SQLInputValue[]): { changes: number } {
    return { changes: Number(this.stmt(sql).run(...params).changes) };
  }

  /** Prepared statements are cached: ingest runs the same few statements many times. */
  private stmt(sql: string): StatementSync {
    return this.statements.get(sql);
  }

  private transaction<T>(work: () => T): T {
    if (this.db.isTransaction) return work();
    this.room?.check();
    return immediateTransaction(this.db, work);
  }
}

/**
 * Counters saturate at 2^53 - 1: SQLite would go on to 2^63 (and node:sqlite refuses to read an
 * integer above 2^53), so one runaway agent could otherwise break every query that reads them.
 */
function saturated(value: number): number {
  return Math.min(value, Number.MAX_SAFE_INTEGER);
}

/** SQL for "the stored counter plus the incoming one", saturating like saturated(). */
function added(column: string): string {
  return `min(${column} + excluded.${column}, ${Number.MAX_SAFE_INTEGER})`;
}

/** SQL for "the earlier of the stored and the incoming value, ignoring NULLs". */
function earliest(column: string): string {
  return `coalesce(min(${column}, excluded.${column}), ${column}, excluded.${column})`;
}

function minOf(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? Math.min(...present) : null;
}
