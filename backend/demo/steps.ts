// Small shared pieces of the demo: output lines, the cleanup stack, registry byte counts.
import type { RegistryFixture } from '../test/support/registry.ts';

export const MiB = 1024 * 1024;

export function say(message: string): void {
  process.stdout.write(`[demo] ${message}\n`);
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Stops what the demo started, newest first, whatever fails on the way (also on Ctrl-C). */
export class Cleanup {
  private readonly steps: { what: string; stop: () => Promise<void> }[] = [];

  add(what: string, stop: () => Promise<void>): void {
    this.steps.push({ what, stop });
  }

  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.stop();
      } catch (error) {
        process.stderr.write(`[demo] stopping ${step.what} failed: ${String(error)}\n`);
      }
    }
  }
}

/** Bytes the registry sent for requests logged after line `since` (blob and manifest bodies). */
export async function bytesServedSince(registry: RegistryFixture, since: number): Promise<number> {
  return (await registry.accessLog()).slice(since).reduce((sum, line) => sum + line.bytes, 0);
}
