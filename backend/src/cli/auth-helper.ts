// `slipstream auth-helper`: what registries.conf's `additional-layer-store-auth-helper` runs.
// containers/image writes `{"<physical ref>": {credentials}}` on stdin; we pass it to the running
// agent over its root-only unix socket. A missing agent must never break a pull: we warn on
// stderr and exit 0 (the runtime then pulls normally if the agent cannot serve the layers).
import { createConnection } from 'node:net';
import { join } from 'node:path';

import type { Command } from 'commander';

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** Sends the helper JSON to the agent; resolves with the agent's answer line. */
export async function sendCredentials(socketPath: string, json: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const parts: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('agent did not answer in 5 s')));
    socket.on('connect', () => socket.end(json));
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('end', () => resolve(Buffer.concat(parts).toString('utf8').trim()));
    socket.on('error', reject);
  });
}

export function registerAuthHelper(program: Command): void {
  program
    .command('auth-helper')
    .description(
      'Pass registry credentials from containers/image (JSON on stdin) to the running agent',
    )
    .option('--state-dir <dir>', 'the agent state directory', '/var/lib/slipstream')
    .option('--socket <path>', 'the agent socket (default <state-dir>/auth.sock)')
    .action(async (opts: { stateDir: string; socket?: string }) => {
      const input = await readStdin();
      try {
        JSON.parse(input);
      } catch {
        process.stderr.write('slipstream auth-helper: stdin is not JSON; nothing sent\n');
        return;
      }
      const socket = opts.socket ?? join(opts.stateDir, 'auth.sock');
      try {
        const answer = await sendCredentials(socket, input);
        if (answer !== 'ok') process.stderr.write(`slipstream auth-helper: agent said ${answer}\n`);
      } catch (e) {
        process.stderr.write(
          `slipstream auth-helper: cannot reach the agent at ${socket}: ${(e as Error).message}\n`,
        );
      }
    });
}
