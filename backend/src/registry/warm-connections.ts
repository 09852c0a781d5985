// Connections opened ahead of the requests that will use them.
//
// Why: the moment a first lookup's manifest arrives, the agent sends a dozen TOC pieces and the
// boot files' ranges at once. Each went out on a new connection, so each paid a TCP handshake (and
// a TLS one for https) before its request: at 80 ms RTT the pieces' first bytes came 170–200 ms
// after they were sent, against 87 ms on a connection already open. `open()` at the start of the
// lookup makes those connections beside the manifest's fetch; the pool's connector (`connect`)
// then hands them out instead of dialling.
//
// A connection nobody takes within `idleMs` is closed, and so is one the server closes while it
// waits. One the server has written to (a "408 Request Timeout" before closing) is not handed out.
//
// Every connection made here is timed to its TCP handshake: `rttMs(host)` is the round trip to
// the registry, which decides whether a lookup splits its reads into pieces (store/layer-manager).
import { EventEmitter } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';

import type { buildConnector } from 'undici';

type Connector = buildConnector.connector;
type ConnectOptions = buildConnector.Options;

/**
 * `https:`/`http:` connections are ready for that scheme (TLS done for https). `tcp:` ones are
 * plain TCP for a host whose scheme is not known yet (an insecure registry before its first
 * answer): http uses them as they are, https runs its TLS handshake over them.
 */
export type WarmProtocol = 'https:' | 'http:' | 'tcp:';

export interface WarmTarget {
  protocol: WarmProtocol;
  /** As in a URL: name or address, and the port unless it is the scheme's default. */
  host: string;
}

interface Waiting {
  /** The socket once connected; undefined when the connection failed or was closed. */
  socket: Promise<Socket | undefined>;
  protocol: WarmProtocol;
  /** Detaches the listeners and timer that watched the idle socket. */
  claim: () => void;
}

const DEFAULT_PORTS: Record<string, string> = { 'https:': '443', 'http:': '80' };

/**
 * Handshake times kept per host for its round-trip estimate, and for how long. Their minimum is
 * taken: a handshake's time also holds however long the thread was busy when it completed (a
 * first lookup's burst of connections completes together, on a thread busy with that lookup).
 */
const HANDSHAKES_KEPT = 64;
const HANDSHAKE_AGE_MS = 60_000;

/** How long an opened connection waits to be used. */
export const WARM_IDLE_MS = 10_000;

export class WarmConnections {
  readonly #dial: Connector;
  readonly #idleMs: number;
  readonly #waiting = new Map<string, Waiting[]>();
  /** Recent TCP handshake times per `hostname:port`, newest last. */
  readonly #handshakes = new Map<string, { ms: number; at: number }[]>();

  constructor(dial: Connector, idleMs = WARM_IDLE_MS) {
    this.#dial = dial;
    this.#idleMs = idleMs;
  }

  /**
   * The round trip to `host` (as in a URL), from the TCP handshakes of the connections made to it
   * in the last minute (their minimum: a handshake is a round trip plus the server's accept, plus
   * the time the thread took to notice), or undefined before any. With no port, https's or http's.
   */
  rttMs(host: string): number | undefined {
    const { hostname, port } = dialOptions({ protocol: 'tcp:', host });
    const ports = port ? [port] : Object.values(DEFAULT_PORTS);
    const now = performance.now();
    const times = ports
      .flatMap((p) => this.#handshakes.get(`${hostname}:${p}`) ?? [])
      .filter((t) => now - t.at < HANDSHAKE_AGE_MS)
      .map((t) => t.ms);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** Connections waiting (or still connecting) for `target`. */
  count(target: WarmTarget): number {
    return this.#waiting.get(keyOf(target))?.length ?? 0;
  }

  /** Opens `count` connections for `target` in the background; failures only mean fewer. */
  open(target: WarmTarget, count: number): void {
    if (target.protocol === 'tcp:' && !dialOptions(target).port) return; // http's port or https's?
    const key = keyOf(target);
    const list = this.#waiting.get(key) ?? [];
    this.#waiting.set(key, list);
    for (let i = 0; i < count; i++) {
      const entry: Waiting = this.#dialWaiting(target, () => this.#forget(key, entry));
      list.push(entry);
    }
  }

  /**
   * The connector for the undici pool: a waiting connection for this origin when there is one
   * (connected or still connecting: it was started earlier than a new one would be), else a new
   * connection.
   */
  readonly connect: Connector = (options, callback) => {
    const entry = this.#take(options);
    if (!entry) {
      this.#dialTimed(options, callback);
      return;
    }
    void entry.socket.then((socket) => {
      entry.claim();
      if (!socket || !isFresh(socket)) {
        socket?.destroy();
        this.#dialTimed(options, callback);
      } else if (entry.protocol === 'tcp:' && options.protocol === 'https:') {
        this.#dial({ ...options, httpSocket: socket }, callback);
      } else {
        callback(null, socket);
      }
    });
  };

  /** Closes every waiting connection. */
  close(): void {
    const all = [...this.#waiting.values()].flat();
    this.#waiting.clear();
    for (const entry of all) {
      entry.claim();
      void entry.socket.then((socket) => socket?.destroy());
    }
  }

  /** Dials, noting how long the TCP handshake took (TLS, if any, comes after it). */
  #dialTimed(options: ConnectOptions, callback: Parameters<Connector>[1]): void {
    const started = performance.now();
    // undici's connector returns the socket it dials (its type says void).
    const socket: unknown = this.#dial(options, callback);
    if (socket instanceof EventEmitter) {
      socket.once('connect', () => this.#recordHandshake(options, performance.now() - started));
    }
  }

  #recordHandshake(options: ConnectOptions, ms: number): void {
    const key = `${options.hostname}:${portOf(options.protocol, options.port)}`;
    const now = performance.now();
    const times = (this.#handshakes.get(key) ?? []).filter((t) => now - t.at < HANDSHAKE_AGE_MS);
    times.push({ ms, at: now });
    if (times.length > HANDSHAKES_KEPT) times.shift();
    this.#handshakes.set(key, times);
  }

  #take(options: ConnectOptions): Waiting | undefined {
    const keys = [originKey(options.protocol, options.hostname, options.port)];
    if (options.port) keys.push(originKey('tcp:', options.hostname, options.port));
    for (const key of keys) {
      const entry = this.#waiting.get(key)?.shift();
      if (entry) return entry;
    }
    return undefined;
  }

  #forget(key: string, entry: Waiting): void {
    const list = this.#waiting.get(key);
    const at = list?.indexOf(entry) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }

  #dialWaiting(target: WarmTarget, forget: () => void): Waiting {
    let watched: Socket | undefined;
    let claimed = false;
    const timer = setTimeout(() => {
      forget();
      watched?.destroy();
    }, this.#idleMs);
    timer.unref();
    const gone = (): void => {
      forget();
      watched?.destroy();
    };
    const claim = (): void => {
      claimed = true;
      clearTimeout(timer);
      watched?.off('error', gone).off('end', gone).off('close', gone);
    };
    const socket = this.#dialSocket(target).then(
      (s) => {
        if (claimed) return s; // taken while connecting: the taker watches it from now on
        watched = s.on('error', gone).once('end', gone).once('close', gone);
        return s;
      },
      (): undefined => {
        forget();
        return undefined;
      },
    );
    return { socket, protocol: target.protocol, claim };
  }

  #dialSocket(target: WarmTarget): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const options = dialOptions(target);
      if (target.protocol !== 'tcp:') {
        this.#dialTimed(options, (err, socket) => (err ? reject(err) : resolve(socket)));
        return;
      }
      const started = performance.now();
      const socket = tcpConnect({ host: options.hostname, port: Number(options.port) });
      socket.setNoDelay(true).setKeepAlive(true, 60_000);
      socket.once('connect', () => {
        this.#recordHandshake(options, performance.now() - started);
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }
}

/** What undici's pool hands its connector for this origin (the host gives TLS its SNI name). */
function dialOptions(target: WarmTarget): ConnectOptions {
  const url = new URL(`tcp://${target.host}`); // a scheme with no default port to drop
  const name = url.hostname.toLowerCase();
  const hostname = name.startsWith('[') ? name.slice(1, -1) : name;
  return { protocol: target.protocol, host: target.host.toLowerCase(), hostname, port: url.port };
}

function keyOf(target: WarmTarget): string {
  const { hostname, port } = dialOptions(target);
  return originKey(target.protocol, hostname, port);
}

/** The port, or the scheme's default when the URL left it out. */
function portOf(protocol: string, port: string): string {
  return port || DEFAULT_PORTS[protocol] || '';
}

/** Where waiting connections are filed: scheme (or `tcp:`), host name and port. */
function originKey(protocol: string, hostname: string, port: string): string {
  return `${protocol}//${hostname}:${portOf(protocol, port)}`;
}

/** Still open, and the server has sent nothing on it (nothing was asked yet). */
function isFresh(socket: Socket): boolean {
  return (
    !socket.destroyed &&
    socket.readyState === 'open' &&
    !socket.readableEnded &&
    socket.readableLength === 0
  );
}
