// Hand-built FUSE requests and a transport that feeds them to a FuseSession: the kernel cannot be
// made to send malformed or unknown requests, so the decoder and dispatcher are driven directly.

import type { FuseTransport } from '../../src/fuse/index.ts';

export interface RequestSpec {
  opcode: number;
  unique: bigint;
  nodeid?: number;
  payload?: Buffer;
  /** Override the header's length field (to craft a mismatch). */
  len?: number;
  /** Override total_extlen (8-byte units). */
  extlen?: number;
}

export function buildRequest(spec: RequestSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const buf = Buffer.alloc(40 + payload.length);
  buf.writeUInt32LE(spec.len ?? buf.length, 0);
  buf.writeUInt32LE(spec.opcode, 4);
  buf.writeBigUInt64LE(spec.unique, 8);
  buf.writeBigUInt64LE(BigInt(spec.nodeid ?? 1), 16);
  buf.writeUInt32LE(1000, 24); // uid
  buf.writeUInt32LE(1001, 28); // gid
  buf.writeUInt32LE(4242, 32); // pid
  buf.writeUInt16LE(spec.extlen ?? 0, 36);
  payload.copy(buf, 40);
  return buf;
}

export function cstring(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

export function u32s(...values: number[]): Buffer {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeUInt32LE(v, i * 4));
  return buf;
}

export function u64s(...values: (number | bigint)[]): Buffer {
  const buf = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => buf.writeBigUInt64LE(BigInt(v), i * 8));
  return buf;
}

export interface Reply {
  len: number;
  error: number;
  unique: bigint;
  body: Buffer;
}

/** A FuseTransport fed from a queue; replies are collected and parsed. */
export class QueueTransport implements FuseTransport {
  readonly replies: Reply[] = [];
  private onRequest: ((buf: Buffer, length: number) => void) | undefined;
  private onEnd: ((err?: Error) => void) | undefined;
  private replyWaiters: (() => void)[] = [];

  listen(onRequest: (buf: Buffer, length: number) => void, onEnd: (err?: Error) => void): void {
    this.onRequest = onRequest;
    this.onEnd = onEnd;
  }

  /** Deliver one request, asynchronously like a device read completing. */
  push(request: Buffer): void {
    setImmediate(() => this.onRequest?.(request, request.length));
  }

  end(): void {
    setImmediate(() => this.onEnd?.());
  }

  write(chunks: readonly Buffer[]): void {
    const all = Buffer.concat(chunks);
    this.replies.push({
      len: all.readUInt32LE(0),
      error: all.readInt32LE(4),
      unique: all.readBigUInt64LE(8),
      body: all.subarray(16),
    });
    for (const w of this.replyWaiters.splice(0)) w();
  }

  /** Resolves with the reply to `unique` once it has been written. */
  async replyTo(unique: bigint): Promise<Reply> {
    for (;;) {
      const found = this.replies.find((r) => r.unique === unique);
      if (found) return found;
      await new Promise<void>((resolve) => this.replyWaiters.push(resolve));
    }
  }
}
