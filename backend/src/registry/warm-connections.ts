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

/** How long an opened connection waits to be used. */
export const WARM_IDLE_MS = 10_000;

export class WarmConnections {
  readonly #dial: Connector;
  readonly #idleMs: number;
  readonly #waiting = new Map<string, Waiting[]>();

  constructor(dial: Connector, idleMs = WARM_IDLE_MS) {
    this.#dial = dial;
    this.#idleMs = idleMs;
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
      this.#dial(options, callback);
      return;
    }
    void entry.socket.then((socket) => {
      entry.claim();
      if (!socket || !isFresh(socket)) {
        socket?.destroy();
        this.#dial(options, callback);
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

  #take(options: ConnectOptions): Waiting | undefined {
    const port = options.port || DEFAULT_PORTS[options.protocol] || '';
    const keys = [`${options.protocol}//${options.hostname}:${port}`];
    if (options.port) keys.push(`tcp://${options.hostname}:${options.port}`);
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
        this.#dial(options, (err, socket) => (err ? reject(err) : resolve(socket)));
        return;
      }
      const socket = tcpConnect({ host: options.hostname, port: Number(options.port) });
      socket.setNoDelay(true).setKeepAlive(true, 60_000);
      socket.once('connect', () => {
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
  return `${target.protocol}//${hostname}:${port || DEFAULT_PORTS[target.protocol] || ''}`;
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
