// Sends the collector's reports to the hub: every `intervalSeconds` (each report doubles as the
// node's heartbeat) and shortly after a notable event. Each report goes to the on-disk spool first
// and leaves it only when the hub has accepted it (2xx) or rejected the report itself (400, 413,
// 415, 422: a retry of the same bytes cannot fix it); anything else (network error, 5xx, 401/403 while the hub's caches warm up)
// keeps it for the next attempt, oldest first, so reports reach the hub in order.
import { readFile } from 'node:fs/promises';

import { Agent, request, type Dispatcher } from 'undici';

import type { TelemetryCollector } from './collector.ts';
import { ReportSpool } from './spool.ts';

/**
 * Answers about the report itself (malformed, too large, wrong type, invalid): resending the same
 * bytes gets the same answer, and would hold every later report behind it.
 */
const REJECTED_FOR_GOOD = new Set([400, 413, 415, 422]);

export interface ReporterLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ReporterOptions {
  collector: TelemetryCollector;
  /** Base URL of the hub, e.g. https://slipstream-hub.slipstream.svc:8443 */
  hubUrl: string;
  /** Service-account token file; re-read before each send because projected tokens rotate. */
  tokenFile: string;
  /** CA bundle that signs the hub's serving certificate (service-ca). */
  caFile?: string | null;
  intervalSeconds?: number;
  spoolDir: string;
  spoolMaxBytes?: number;
  /** Delay after a notable event before sending, so that bursts travel in one report. */
  notableDelayMs?: number;
  log?: ReporterLog;
  /** Overrides the HTTP dispatcher (tests). */
  dispatcher?: Dispatcher;
}

export interface FlushResult {
  sent: number;
  dropped: number;
  pending: number;
}

const quietLog: ReporterLog = { info: () => undefined, warn: () => undefined };

export class Reporter {
  private readonly opts: ReporterOptions;
  private readonly spool: ReportSpool;
  private readonly log: ReporterLog;
  private dispatcher: Dispatcher | null = null;
  private ownsDispatcher = false;
  /** The CA bytes the current pool trusts. */
  private trusted: Buffer | undefined;
  private timer: NodeJS.Timeout | null = null;
  private notableTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private started = false;

  constructor(opts: ReporterOptions) {
    this.opts = opts;
    this.spool = new ReportSpool(opts.spoolDir, opts.spoolMaxBytes ?? 64 * 1024 * 1024);
    this.log = opts.log ?? quietLog;
    opts.collector.onNotable(() => this.scheduleNotable());
  }

  /** Prepares the spool and starts the periodic flush (pending reports from before go first). */
  async start(): Promise<void> {
    await this.spool.init();
    this.started = true;
    const everyMs = (this.opts.intervalSeconds ?? 10) * 1000;
    this.timer = setInterval(() => void this.flush().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  /** Stops the timers and makes a last attempt to deliver everything. */
  async stop(): Promise<FlushResult> {
    if (this.timer) clearInterval(this.timer);
    if (this.notableTimer) clearTimeout(this.notableTimer);
    this.timer = this.notableTimer = null;
    const result = await this.flush();
    this.started = false;
    if (this.ownsDispatcher) await this.dispatcher?.close();
    this.dispatcher = null;
    return result;
  }

  /** Closes the current window into a report, spools it, and sends whatever is pending. */
  async flush(): Promise<FlushResult> {
    return this.serialized(async () => {
      if (!this.started) await this.spool.init();
      const report = this.opts.collector.drain();
      let dropped = await this.spool.add(JSON.stringify(report));
      if (dropped > 0) {
        this.opts.collector.metrics.reportDropped(dropped);
        this.log.warn({ dropped }, 'report spool full: dropped the oldest reports');
      }
      const sent = await this.sendPending();
      dropped += sent.dropped;
      const pending = await this.spool.list();
      this.opts.collector.metrics.spoolSize(await this.spool.sizeBytes());
      return { sent: sent.sent, dropped, pending: pending.length };
    });
  }

  private async sendPending(): Promise<{ sent: number; dropped: number }> {
    let sent = 0;
    let dropped = 0;
    for (const name of await this.spool.list()) {
      const entry = await this.spool.read(name);
      if (!entry) continue;
      const outcome = await this.send(entry.body);
      if (outcome === 'retry') break;
      await this.spool.remove(name);
      if (outcome === 'accepted') {
        sent++;
        this.opts.collector.metrics.reportSent();
      } else {
        dropped++;
        this.opts.collector.metrics.reportDropped();
      }
    }
    return { sent, dropped };
  }

  private async send(body: string): Promise<'accepted' | 'rejected' | 'retry'> {
    try {
      const token = (await readFile(this.opts.tokenFile, 'utf8')).trim();
      const response = await request(new URL('/api/v1/reports', this.opts.hubUrl), {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        dispatcher: await this.getDispatcher(),
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      const text = await response.body.text();
      if (response.statusCode >= 200 && response.statusCode < 300) return 'accepted';
      if (REJECTED_FOR_GOOD.has(response.statusCode)) {
        this.log.warn(
          { status: response.statusCode, answer: text.slice(0, 500) },
          'hub rejected a report; dropped',
        );
        return 'rejected';
      }
      this.log.warn({ status: response.statusCode }, 'hub did not accept a report; will retry');
      return 'retry';
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'hub unreachable; report kept on disk');
      return 'retry';
    }
  }

  /**
   * The connection pool to the hub, trusting the CA file as it is now: the file is read again for
   * every report (a few KiB), and a new pool made when it changed. The service CA rotates (the
   * kubelet rewrites the projected file) while an agent runs for months under `OnDelete`.
   */
  private async getDispatcher(): Promise<Dispatcher> {
    if (this.opts.dispatcher) return (this.dispatcher ??= this.opts.dispatcher);
    // A file that cannot be read now (the kubelet swapping it): the pool as it is, if there is one.
    const ca = this.opts.caFile
      ? await readFile(this.opts.caFile).catch((error: unknown) => {
          if (this.dispatcher) return this.trusted;
          throw error;
        })
      : undefined;
    const stale =
      this.dispatcher !== null && ca !== undefined && !ca.equals(this.trusted ?? Buffer.alloc(0));
    if (this.dispatcher && !stale) return this.dispatcher;
    if (stale) {
      this.log.info({ caFile: this.opts.caFile }, 'hub CA changed; reconnecting with the new one');
      void this.dispatcher!.close().catch(() => undefined);
    }
    this.trusted = ca;
    this.dispatcher = new Agent({ connect: ca ? { ca } : {} });
    this.ownsDispatcher = true;
    return this.dispatcher;
  }

  private scheduleNotable(): void {
    if (!this.started || this.notableTimer) return;
    this.notableTimer = setTimeout(() => {
      this.notableTimer = null;
      void this.flush().catch(() => undefined);
    }, this.opts.notableDelayMs ?? 1000);
    this.notableTimer.unref();
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const next = this.chain.then(task, task);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
