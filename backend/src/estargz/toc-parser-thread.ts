// A TOC parser thread (see toc-parser.ts): inflates, verifies and parses one TOC at a time and
// hands the index's columns back, its typed arrays moved rather than copied.
import { parentPort } from 'node:worker_threads';

import { EstargzError } from './errors.ts';
import type { LayerIndexColumns } from './layer-index.ts';
import { extractTocJson } from './tail.ts';
import type { ThreadReply } from './toc-parser.ts';
import { buildTocColumns, type ParseTocOptions } from './toc.ts';

interface Job {
  id: number;
  tocGzip: Uint8Array;
  options: ParseTocOptions;
}

const port = parentPort;
if (!port) throw new Error('toc-parser-thread.ts runs as a worker thread');

port.on('message', (job: Job) => void answer(job));
port.postMessage({ ready: true } satisfies ThreadReply);

async function answer(job: Job): Promise<void> {
  let reply: ThreadReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const gzip = Buffer.from(job.tocGzip.buffer, job.tocGzip.byteOffset, job.tocGzip.byteLength);
    const json = await extractTocJson(gzip, job.options.limits);
    const columns = buildTocColumns(json, job.options);
    reply = { id: job.id, columns };
    transfer = ownedBuffers(columns);
  } catch (e) {
    const code = e instanceof EstargzError ? e.code : undefined;
    reply = { id: job.id, error: { ...(code && { code }), message: (e as Error).message } };
  }
  port!.postMessage(reply, transfer);
}

/** The typed arrays' buffers that nothing else shares (Buffers from Node's pool are copied). */
function ownedBuffers(columns: LayerIndexColumns): ArrayBuffer[] {
  const owned = new Set<ArrayBuffer>();
  for (const value of Object.values(columns)) {
    if (!ArrayBuffer.isView(value) || !(value.buffer instanceof ArrayBuffer)) continue;
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
      owned.add(value.buffer);
    }
  }
  return [...owned];
}
