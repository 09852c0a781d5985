// The agent's supervisor: it owns the FUSE mount, and a worker process serves it.
//
// Why: the kernel ties a FUSE mount to the /dev/fuse descriptor that mounted it. If the process
// serving the store dies holding the only copy, every container running from the store gets
// ENOTCONN on its next uncached read — a crash, an OOM kill or an upgrade of the agent would
// break running workloads. So the supervisor opens /dev/fuse, mounts, and never reads from it; it
// hands the descriptor to a worker (`slipstream agent` again, with the fd inherited as fd 3), which
// does all the work. When a worker dies, the kernel queues the containers' requests until the
// next worker, started with the same descriptor, resumes the session and asks the kernel to
// resend what the dead one had read but not answered (FUSE_NOTIFY_RESEND, Linux ≥ 6.9).
//
// What a worker must know to answer the kernel — which inode numbers it handed out, which layer
// references it holds, credentials from the auth helper — it sends here as it goes (IPC), and
// the next worker gets all of it back before it serves. Chunks and TOCs are on disk already.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setInterval as everyInterval, setTimeout as sleep } from 'node:timers/promises';

import { pino, type Logger } from 'pino';

import { makeDirectory } from '../cache/cache-dir.ts';
import { cleanStaleMounts, FuseConnection, type NegotiatedProtocol } from '../fuse/index.ts';
import type { StoreEvent } from '../store/filesystem.ts';
import { loadAgentConfig, type AgentConfig, type AgentFlags } from './config.ts';

/** The fd number the worker finds the device at. */
export const WORKER_DEVICE_FD = 3;
/** Set in a worker's environment: it serves the inherited device instead of mounting. */
export const WORKER_ENV = 'SLIPSTREAM_AGENT_WORKER';

export type ToWorker =
  | {
      type: 'start';
      /** Set once a worker has answered FUSE_INIT: later workers resume that session. */
      protocol?: NegotiatedProtocol;
      journal: StoreEvent[];
      credentials: unknown[];
      /** The configuration the supervisor started with (see runAgentFromCli). */
      config: AgentConfig;
    }
  /** The agent is shutting down: the supervisor unmounts next (the worker serves on until 'stop'). */
  | { type: 'stopping' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'serving'; protocol: NegotiatedProtocol }
  | { type: 'journal'; event: StoreEvent }
  /** An auth-helper map the worker accepted (parsed: an object keyed by reference). */
  | { type: 'credentials'; map: Record<string, unknown> };

/** Restarts within this window count towards giving up. */
const CRASH_WINDOW_MS = 5 * 60_000;
const MAX_CRASHES_IN_WINDOW = 10;
const STOP_GRACE_MS = 30_000;
/** How often the grace period checks whether the last user of the detached mount let go. */
const CONNECTION_POLL_MS = 250;

/**
 * V8's young generation, in MiB per semi-space. Node's default sizes it for throughput on big
 * machines: the worker's heap then commits 180–250 MB for 40–140 MB of live objects. At 16 the
 * node-image startup run peaked at 535–560 MB RSS instead of 640–660, with the same CPU time and
 * background-fetch time (pull, run and background fetch at 20 ms, 2 runs each; 8 and 4 saved
 * only 10–30 MB more).
 */
const WORKER_SEMI_SPACE_MB = 16;

/** The worker's Node flags: ours, unless the operator chose a young-generation size. */
function workerExecArgv(): string[] {
  const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some(
    (flag) => flag.startsWith('--max-semi-space-size'),
  );
  return chosen
    ? process.execArgv
    : [...process.execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}

/**
 * What the next worker must know, kept compact: inode allocations in order (bounded by the
 * worker's own inode table), references as one net count per layer dir, credentials merged.
 */
interface SupervisorState {
  protocol?: NegotiatedProtocol;
  allocations: StoreEvent[];
  references: Map<number, number>;
  credentials: Record<string, unknown>;
}

export async function superviseAgent(
  configPath: string | undefined,
  flags: AgentFlags,
): Promise<void> {
  const config = await loadAgentConfig(configPath, flags);
  const log = pino({
    level: config.logLevel,
    base: { component: 'supervisor', node: config.nodeName },
  });
  // Everything that can stop a worker from starting is checked before the mount: a mount whose
  // workers die at start hangs every lookup until the supervisor gives up.
  await prepareStateDir(config.stateDir);
  stateDirLock = await lockStateDir(config.stateDir, log);
  // First the stale mount a crashed agent left (any access to it fails with ENOTCONN).
  const stale = await cleanStaleMounts(config.mountpoint);
  if (stale > 0) log.warn({ mountpoint: config.mountpoint, stale }, 'removed stale mounts');
  await makeDirectory(config.mountpoint, 0o755).catch((e: NodeJS.ErrnoException) => {
    const why = e.code === 'EEXIST' ? 'something else is there' : (e.code ?? e.message);
    throw new StartError(`the mountpoint ${config.mountpoint} cannot be a directory (${why})`);
  });
  // Refuses a live mount (another agent serves it).
  const connection = await FuseConnection.mount({
    mountpoint: config.mountpoint,
    fsname: 'slipstream',
    subtype: 'slipstream',
    cleanStale: false, // done above, before the mkdir that a stale mount would fail
  }).catch((e: unknown) => {
    throw new StartError(`cannot mount the store: ${(e as Error).message}`);
  });
  log.info({ mountpoint: config.mountpoint }, 'store mount created; starting the worker');
  await new Supervisor(config, connection, log).run();
  stateDirLock?.close();
}

/** Held for the supervisor's lifetime (see lockStateDir). */
let stateDirLock: Server | undefined;

/** Why the agent cannot start, said in one line; nothing is mounted. */
export class StartError extends Error {
  override readonly name = 'StartError';
}

/** The state directory exists and takes a file: the caches, sockets and records live there. */
async function prepareStateDir(dir: string): Promise<void> {
  const probe = join(dir, `.writable-${process.pid}`);
  try {
    await makeDirectory(dir, 0o700);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new StartError(`the state directory ${dir} is not writable (${why})`);
  }
}

/**
 * One agent per state directory: a second would remove the first's auth socket and in-use blob
 * copies. The supervisor listens on `agent.lock` for as long as it runs; a start that can
 * connect to it finds another agent alive (a socket file left by a dead one refuses connections).
 * Pids would not do: an agent in a container is pid 1 after every restart.
 */
async function lockStateDir(dir: string, log: Logger): Promise<Server | undefined> {
  const path = join(dir, 'agent.lock');
  const held = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (held) throw new StartError(`another agent is running with the state directory ${dir}`);
  await rm(path, { force: true, recursive: true });
  const server = createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
  } catch (e) {
    log.warn({ path, err: (e as Error).message }, 'cannot hold the state directory lock');
    return undefined;
  }
  server.unref(); // the lock must not keep a stopped agent alive
  return server;
}

/**
 * The worker's environment. NODE_COMPILE_CACHE keeps V8's compiled code of our modules for the
 * next worker, which then starts ~150 ms sooner (FUSE requests wait for it after a crash). The
 * cache lives in the state directory, which only root can write: a cache that anyone could write
 * would be code run as root. An operator's own NODE_COMPILE_CACHE is kept.
 */
function workerEnv(stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: '1' };
  if (env.NODE_COMPILE_CACHE !== undefined) return env;
  const dir = join(stateDir, 'compile-cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    env.NODE_COMPILE_CACHE = dir;
  } catch {
    // not writable: start without the cache
  }
  return env;
}

class Supervisor {
  readonly #config: AgentConfig;
  readonly #connection: FuseConnection;
  readonly #log: Logger;
  readonly #state: SupervisorState = { allocations: [], references: new Map(), credentials: {} };
  readonly #crashes: number[] = [];
  #worker: ChildProcess | undefined;
  /** Settles when the current worker has exited. */
  #workerExited: Promise<void> = Promise.resolve();
  #stopping = false;
  /** Set once shutdown's unmount has ended the mount for good (no connection left to abort). */
  #unmounted = false;
  #aborted: Promise<void> | undefined;
  #restarting = false;
  #stopped: () => void = () => undefined;

  constructor(config: AgentConfig, connection: FuseConnection, log: Logger) {
    this.#config = config;
    this.#connection = connection;
    this.#log = log;
  }

  /** Serves until SIGTERM/SIGINT (or until workers keep dying); SIGHUP replaces the worker. */
  async run(): Promise<void> {
    const stopped = new Promise<void>((resolve) => (this.#stopped = resolve));
    const onStop = (signal: NodeJS.Signals): void => {
      this.#log.info({ signal }, 'stopping');
      void this.#shutdown();
    };
    const onRestart = (): void => void this.#restartWorker();
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onRestart);
    this.#spawn();
    await stopped;
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onRestart);
  }

  #spawn(): void {
    const entry = process.argv[1];
    if (!entry) throw new Error('cannot tell which script to run the worker with');
    const worker = fork(entry, process.argv.slice(2), {
      execArgv: workerExecArgv(),
      env: workerEnv(this.#config.stateDir),
      stdio: ['ignore', 'inherit', 'inherit', this.#connection.device.fd, 'ipc'],
      serialization: 'advanced',
    });
    this.#worker = worker;
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    this.#workerExited = new Promise((resolve) =>
      worker.once('exit', (code, signal) => {
        resolve();
        this.#onExit(worker, code, signal);
      }),
    );
    const { protocol, allocations, references, credentials } = this.#state;
    const start: ToWorker = {
      type: 'start',
      ...(protocol && { protocol }),
      journal: [
        ...allocations,
        ...[...references].map(([dir, delta]): StoreEvent => ({ t: 'use', dir, delta })),
      ],
      credentials: Object.keys(credentials).length > 0 ? [credentials] : [],
      config: this.#config,
    };
    worker.send(start);
    this.#log.info({ pid: worker.pid, resume: Boolean(this.#state.protocol) }, 'worker started');
  }

  #onMessage(message: FromWorker): void {
    if (message.type === 'journal') this.#note(message.event);
    // Later credentials for a reference replace earlier ones, as in the worker's store.
    else if (message.type === 'credentials') Object.assign(this.#state.credentials, message.map);
    else if (message.type === 'serving') this.#state.protocol ??= message.protocol;
  }

  #note(event: StoreEvent): void {
    if (event.t !== 'use') {
      this.#state.allocations.push(event);
      return;
    }
    const held = (this.#state.references.get(event.dir) ?? 0) + event.delta;
    if (held > 0) this.#state.references.set(event.dir, held);
    else this.#state.references.delete(event.dir);
  }

  #onExit(worker: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker !== this.#worker) return;
    this.#worker = undefined;
    if (this.#stopping) {
      // Nobody serves the mount any more (a SIGTERM to the whole process group reaches the worker
      // too): requests still pending or still to come — an unmount's, a container's — must fail
      // rather than wait forever.
      if (!this.#unmounted) void this.#abortConnection();
      return;
    }
    if (this.#restarting) {
      this.#restarting = false;
      this.#spawn();
      return;
    }
    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes[0] < now - CRASH_WINDOW_MS) this.#crashes.shift();
    if (this.#crashes.length > MAX_CRASHES_IN_WINDOW) {
      this.#log.error(
        { code, signal, crashes: this.#crashes.length },
        'worker keeps dying; giving up (the store is unmounted, runtimes pull normally)',
      );
      process.exitCode = 1;
      void this.#shutdown();
      return;
    }
    // 0.1 s after a first crash, up to 5 s when it keeps crashing: requests wait in the kernel.
    const delay = Math.min(5_000, 100 * 2 ** (this.#crashes.length - 1));
    this.#log.error({ code, signal, restartInMs: delay }, 'worker died; starting another');
    setTimeout(() => {
      if (!this.#stopping) this.#spawn();
    }, delay);
  }

  /** SIGHUP: a new worker takes over the live mount (an upgrade of the agent's code, say). */
  async #restartWorker(): Promise<void> {
    if (this.#stopping || this.#restarting || !this.#worker) return;
    this.#log.info({}, 'replacing the worker');
    this.#restarting = true;
    await this.#stopWorker();
  }

  async #stopWorker(): Promise<void> {
    const worker = this.#worker;
    if (!worker || worker.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    if (worker.connected) worker.send({ type: 'stop' } satisfies ToWorker);
    else worker.kill('SIGTERM');
    const timer = setTimeout(() => worker.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /**
   * Lets the users of a detached mount (running containers) read on for the grace period, or
   * until the last of them lets go — unless the worker is gone (a SIGTERM to the whole process
   * group): then nobody could answer them, and waiting only delays the stop.
   */
  async #detachedGrace(): Promise<void> {
    const graceMs = this.#config.shutdownGraceSeconds * 1000;
    this.#log.info(
      { graceMs },
      'the store is still in use: serving its users for the grace period',
    );
    // Ends the losers of the race below (their rejections are handled by the race).
    const over = new AbortController();
    const ended = await Promise.race([
      sleep(graceMs, 'grace' as const, { signal: over.signal }),
      this.#connectionGone(over.signal).then(() => 'released' as const),
      this.#workerExited.then(() => 'worker' as const),
    ]);
    over.abort();
    if (ended === 'worker')
      this.#log.info({}, 'the worker is gone: no grace for the detached mount');
    else if (ended === 'released') this.#log.info({}, 'the last user of the store let go');
  }

  /** Settles once the kernel has ended the connection (never, if that cannot be told). */
  async #connectionGone(signal: AbortSignal): Promise<void> {
    for await (const _tick of everyInterval(CONNECTION_POLL_MS, undefined, { signal })) {
      if ((await this.#connection.isAlive()) === false) return;
    }
  }

  /** Ends the connection (fusectl) once, whoever asks first: the exiting worker or shutdown. */
  #abortConnection(): Promise<void> {
    return (this.#aborted ??= this.#abortIfAlive().catch(() => undefined));
  }

  /** Not once the kernel has ended the connection: its id may be another FUSE mount's by now. */
  async #abortIfAlive(): Promise<void> {
    if ((await this.#connection.isAlive()) !== false) await this.#connection.abort();
  }

  async #shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    // Not ready any more, and the unmount below is no surprise to the worker's mount watch.
    if (this.#worker?.connected) this.#worker.send({ type: 'stopping' } satisfies ToWorker);
    // Unmount while the worker still serves: users of a mount that outlives it (detached lazily,
    // or kept by a container's overlay) get a grace period to finish, then the connection is
    // ended so no reader waits on a server that is gone.
    const result = await this.#connection.unmount({ lazyIfBusy: true }).catch((e: unknown) => {
      this.#log.error({ err: (e as Error).message }, 'unmount failed');
      return 'failed' as const;
    });
    this.#unmounted = result === 'unmounted' || result === 'not-mounted';
    if (result === 'detached') await this.#detachedGrace();
    await this.#stopWorker();
    if (result === 'detached') await this.#abortConnection();
    this.#connection.close();
    this.#log.info({ mountpoint: this.#config.mountpoint, result }, 'store unmounted');
    this.#stopped();
  }
}
