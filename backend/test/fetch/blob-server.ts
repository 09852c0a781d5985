// Test fixture: a real HTTP server on 127.0.0.1 serving one blob with single byte ranges, plus a
// builder for blobs made of independently gzipped chunks (the eStargz chunk layout).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

import type { ChunkSpec } from '../../src/fetch/types.ts';

export interface ChunkedBlob {
  blob: Buffer;
  chunks: ChunkSpec[];
  contents: Buffer[];
}

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** `count` chunks of `size` random-ish bytes, each its own gzip member, after a small header. */
export function makeChunkedBlob(count: number, size: number): ChunkedBlob {
  const parts: Buffer[] = [gzipSync(Buffer.from('header'))];
  let offset = parts[0].length;
  const chunks: ChunkSpec[] = [];
  const contents: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    // Half random, half repetitive: compressible like real files, and unique per chunk.
    const content = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size / 2, i % 251)]);
    const member = gzipSync(content);
    chunks.push({
      digest: sha256(content),
      offset,
      compressedSize: member.length,
      innerOffset: 0,
      size,
    });
    contents.push(content);
    parts.push(member);
    offset += member.length;
  }
  return { blob: Buffer.concat(parts), chunks, contents };
}

export interface BlobServer {
  url: string;
  /** Every request's Range header, in arrival order. */
  ranges: string[];
  bytesServed: number;
  /** Replace the served bytes (e.g. to corrupt one). */
  blob: Buffer;
  /** Requests wait for this before answering, when set. */
  gate: Promise<void> | undefined;
  /** Flip the byte at this blob offset in the next `corruptResponses` responses that cover it. */
  corruptOffset: number;
  corruptResponses: number;
  close(): Promise<void>;
}

export async function startBlobServer(blob: Buffer): Promise<BlobServer> {
  const state: BlobServer = {
    url: '',
    ranges: [],
    bytesServed: 0,
    blob,
    gate: undefined,
    corruptOffset: -1,
    corruptResponses: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const range = req.headers.range ?? '';
    state.ranges.push(range);
    const m = /^bytes=(\d+)-(\d+)$/.exec(range);
    const answer = (): void => {
      if (!m) {
        res.writeHead(200, { 'content-length': state.blob.length });
        res.end(state.blob);
        return;
      }
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), state.blob.length - 1);
      let body = state.blob.subarray(start, end + 1);
      if (
        state.corruptResponses > 0 &&
        state.corruptOffset >= start &&
        state.corruptOffset <= end
      ) {
        state.corruptResponses--;
        body = Buffer.from(body);
        body[state.corruptOffset - start] ^= 0x80;
      }
      state.bytesServed += body.length;
      res.writeHead(206, {
        'content-length': body.length,
        'content-range': `bytes ${start}-${end}/${state.blob.length}`,
      });
      res.end(body);
    };
    if (state.gate) void state.gate.then(answer);
    else answer();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/blob`;
  const close = state.close;
  state.close = async () => {
    server.closeAllConnections();
    await close();
  };
  return state;
}
