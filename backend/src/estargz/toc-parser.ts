// Where a TOC is inflated and parsed: here, or on a parser thread (TocParserPool). The agent uses
// the threads: a 20k-entry TOC takes ~100 ms of CPU and a collection of its JSON garbage, which
// on the agent's own thread stopped every FUSE reply for as long (any container's reads, not just
// the pull's), and an image's layers were parsed one after the other on one core. A thread that
// runs out of memory on a TOC ends alone, with a clear error for that lookup.
import { availableParallelism } from 'node:os';
import { Worker, type ResourceLimits } from 'node:worker_threads';

import { EstargzError, EstargzErrorCode, type EstargzErrorCode as Code } from './errors.ts';
import { LayerIndex, type LayerIndexColumns } from './layer-index.ts';
import { extractTocJson } from './tail.ts';
import { parseToc, type ParseTocOptions } from './toc.ts';

export interface TocParseJob {
  /** The TOC's gzip member: from the footer's TOC offset to the footer. */
  tocGzip: Buffer;
  options: ParseTocOptions;
}

/** Inflates, verifies and parses one TOC. Rejects with EstargzError on bad input. */
export type TocParser = (job: TocParseJob) => Promise<LayerIndex>;

/** The parse on the calling thread (the CLI, tests, and the agent when threads are off). */
export async function parseTocHere(job: TocParseJob): Promise<LayerIndex> {
  const json = await extractTocJson(job.tocGzip, job.options.limits);
  return parseToc(json, job.options);
}

/** What a parser thread answers (toc-parser-thread.ts). */
export type ThreadReply =
  | { ready: true }
  | { id: number; columns: LayerIndexColumns }
  | { id: number; error: { code?: Code; message: string } };

export interface TocParserPoolOptions {
  /** Parser threads at most (default: defaultParserThreads()). */
  threads?: number;
  /** A thread with nothing to do for this long ends; the next TOC starts one again. */
  idleMs?: number;
  /** V8 heap limits of each thread: a TOC that needs more fails its lookup, not the agent. */
  resourceLimits?: ResourceLimits;
}

interface Pending {
  id: number;
  job: TocParseJob;
  resolve: (index: LayerIndex) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  job: Pending | undefined;
  /** Why the thread failed, if it did (reported with its exit). */
  error: Error | undefined;
  /** It has loaded the parser: a thread that ends before this would end again if replaced. */
  ready: boolean;
  /** Ends the thread when it has been idle for idleMs. */
  idleTimer: NodeJS.Timeout | undefined;
  retiring: boolean;
}

const THREAD_SCRIPT = new URL('./toc-parser-thread.ts', import.meta.url);

/**
 * One thread per core, at most four; none on a single core, where a thread only adds the copy of
 * its result (measured on 2 cores: one thread made node's pull 0.39 → 0.42 s, two 0.35 s).
 */
export function defaultParserThreads(): number {
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(4, cores);
}

/**
 * Parser threads, started as TOCs arrive (or at prepare()) and ended when idle, so that a node
 * between pulls does not keep their heaps (~25 MiB each). One TOC at a time per thread; jobs wait
 * in order for a free one.
 */
export class TocParserPool {
  readonly #size: number;
  readonly #idleMs: number;
  readonly #limits: ResourceLimits | undefined;
  readonly #threads = new Set<Thread>();
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;
  /** Threads cannot start here: every parse runs on the calling thread instead. */
  #unavailable = false;

  constructor(options: TocParserPoolOptions = {}) {
    this.#size = Math.max(1, options.threads ?? defaultParserThreads());
    this.#idleMs = options.idleMs ?? 30_000;
    this.#limits = options.resourceLimits;
  }

  readonly parse: TocParser = (job) =>
    new Promise<LayerIndex>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the TOC parser is closed'));
        return;
      }
      if (this.#unavailable) {
        parseTocHere(job).then(resolve, reject);
        return;
      }
      this.#queue.push({ id: this.#nextId++, job, resolve, reject });
      this.#dispatch();
    });

  /** Starts the threads now: an image's TOCs are on their way (a thread takes ~30 ms to load). */
  prepare(): void {
    if (this.#closed || this.#unavailable) return;
    while (this.#threads.size < this.#size) this.#idle(this.#spawn());
  }

  /** Threads running now. */
  get threads(): number {
    return this.#threads.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) {
      pending.reject(new Error('the TOC parser is closed'));
    }
    await Promise.all([...this.#threads].map((t) => this.#retire(t)));
  }

  #spawn(): Thread {
    const worker = new Worker(THREAD_SCRIPT, {
      ...(this.#limits && { resourceLimits: this.#limits }),
      stdout: false,
      stderr: false,
    });
    worker.unref(); // never what keeps the process alive
    const thread: Thread = {
      worker,
      job: undefined,
      error: undefined,
      ready: false,
      idleTimer: undefined,
      retiring: false,
    };
    this.#threads.add(thread);
    worker.on('message', (reply: ThreadReply) => this.#onReply(thread, reply));
    worker.on('error', (error: Error) => {
      thread.error = error;
    });
    worker.on('exit', (code) => this.#onExit(thread, code));
    return thread;
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let thread = [...this.#threads].find((t) => !t.job && !t.retiring);
      if (!thread && this.#threads.size < this.#size) thread = this.#spawn();
      if (!thread) return;
      const pending = this.#queue.shift()!;
      clearTimeout(thread.idleTimer);
      thread.job = pending;
      // A copy the thread owns: the member is usually a view into a larger read.
      const bytes = new Uint8Array(pending.job.tocGzip);
      thread.worker.postMessage({ id: pending.id, tocGzip: bytes, options: pending.job.options }, [
        bytes.buffer,
      ]);
    }
  }

  #idle(thread: Thread): void {
    clearTimeout(thread.idleTimer);
    thread.idleTimer = setTimeout(() => void this.#retire(thread), this.#idleMs);
    thread.idleTimer.unref();
  }

  async #retire(thread: Thread): Promise<void> {
    clearTimeout(thread.idleTimer);
    thread.retiring = true;
    await thread.worker.terminate();
  }

  #onReply(thread: Thread, reply: ThreadReply): void {
    if ('ready' in reply) {
      thread.ready = true;
      return;
    }
    const pending = thread.job;
    if (!pending || pending.id !== reply.id) return;
    thread.job = undefined;
    if ('error' in reply) {
      const { code, message } = reply.error;
      pending.reject(code ? new EstargzError(code, message) : new Error(message));
    } else {
      pending.resolve(new LayerIndex(withBufferXattrs(reply.columns)));
    }
    this.#idle(thread);
    this.#dispatch();
  }

  #onExit(thread: Thread, code: number): void {
    clearTimeout(thread.idleTimer);
    this.#threads.delete(thread);
    const pending = thread.job;
    if (this.#closed) {
      pending?.reject(new Error('the TOC parser is closed'));
      return;
    }
    if (!thread.ready && !thread.retiring) {
      // It ended while loading, before it took any job: so would a replacement.
      this.#unavailable = true;
      for (const waiting of [...(pending ? [pending] : []), ...this.#queue.splice(0)]) {
        parseTocHere(waiting.job).then(waiting.resolve, waiting.reject);
      }
      return;
    }
    pending?.reject(threadDied(thread.error, code));
    this.#dispatch();
  }
}

function threadDied(error: Error | undefined, exitCode: number): Error {
  if ((error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new EstargzError(
      EstargzErrorCode.limitExceeded,
      'the TOC parser thread ran out of memory on this TOC',
    );
  }
  const why = error ? error.message : `exit code ${exitCode}`;
  return new Error(`the TOC parser thread stopped: ${why}`);
}

/** xattr values cross the thread boundary as Uint8Array; the file system hands out Buffers. */
function withBufferXattrs(columns: LayerIndexColumns): LayerIndexColumns {
  for (const values of columns.xattrs.values()) {
    for (const [name, value] of values) {
      values.set(name, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  }
  return columns;
}
