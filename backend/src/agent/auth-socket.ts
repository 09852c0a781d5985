// The agent end of `slipstream auth-helper`: a root-only unix socket that accepts the JSON
// containers/image hands to an additional-layer-store-auth-helper
// (`{"<physical ref>": {"username", "password", "identityToken"}}`). Credentials stay in memory.
// Protocol: the client writes the JSON and half-closes; the agent answers `ok\n` or `error: …\n`.
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';

const MAX_MESSAGE_BYTES = 1024 * 1024;
/** How long a connection may stay silent (containers/image's helper writes at once). */
const IDLE_TIMEOUT_MS = 10_000;

export interface AuthSocket {
  path: string;
  close(): Promise<void>;
}

export async function startAuthSocket(
  path: string,
  accept: (json: unknown) => void,
  onError: (err: Error) => void = () => undefined,
): Promise<AuthSocket> {
  // A socket file left by a previous run, or anything else under the name (a directory made by
  // hand): the path is the agent's own, and the agent must not fail to start over it.
  await rm(path, { force: true, recursive: true });
  const server: Server = createServer((socket) => handle(socket, accept, onError));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600); // root only: these are registry credentials
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

function handle(
  socket: Socket,
  accept: (json: unknown) => void,
  onError: (e: Error) => void,
): void {
  // A client that connects and says nothing must not hold a connection for ever.
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  const parts: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  socket.on('data', (data: Buffer) => {
    if (tooLarge) return; // read and dropped: the client sees the answer once it has written
    size += data.length;
    if (size > MAX_MESSAGE_BYTES) {
      tooLarge = true;
      parts.length = 0;
      // Not destroy(): a reset would lose the answer and show the client a connection error.
      socket.end('error: message too large\n');
      return;
    }
    parts.push(data);
  });
  socket.on('end', () => {
    if (tooLarge) return;
    try {
      accept(JSON.parse(Buffer.concat(parts).toString('utf8')));
      socket.end('ok\n');
    } catch (e) {
      onError(e as Error);
      socket.end(`error: ${(e as Error).message}\n`);
    }
  });
  socket.on('error', onError);
}
