// A RangeSource over a plain HTTP(S) URL (undici keep-alive pool). Used for blobs behind a URL
// that needs no registry logic, and by tests against a real local server. Each range is one
// `Range: bytes=a-b` request; ranges of one read go out in parallel.
import type { Agent } from 'undici';
import { request } from 'undici';

import { ChunkFetchError, FetchAbortedError, type ByteRange, type RangeSource } from './types.ts';

export interface HttpRangeSourceOptions {
  headers?: Record<string, string>;
  dispatcher?: Agent;
}

export class HttpRangeSource implements RangeSource {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #dispatcher: Agent | undefined;

  constructor(url: string, options: HttpRangeSourceOptions = {}) {
    this.#url = url;
    this.#headers = options.headers ?? {};
    this.#dispatcher = options.dispatcher;
  }

  async read(ranges: readonly ByteRange[], signal?: AbortSignal): Promise<Buffer[]> {
    return Promise.all(ranges.map((r) => this.#readOne(r, signal)));
  }

  async #readOne(range: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    if (range.length === 0) return Buffer.alloc(0);
    const last = range.offset + range.length - 1;
    let response;
    try {
      response = await request(this.#url, {
        method: 'GET',
        headers: { ...this.#headers, range: `bytes=${range.offset}-${last}` },
        signal,
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
    } catch (e) {
      if (signal?.aborted) throw new FetchAbortedError();
      throw new ChunkFetchError(`GET ${this.#url}: ${(e as Error).message}`, { cause: e });
    }
    try {
      if (response.statusCode !== 206) {
        throw new ChunkFetchError(
          `GET ${this.#url} bytes=${range.offset}-${last}: HTTP ${response.statusCode} (expected 206)`,
        );
      }
      const body = Buffer.from(await response.body.arrayBuffer());
      if (body.length !== range.length) {
        throw new ChunkFetchError(
          `GET ${this.#url}: got ${body.length} bytes, wanted ${range.length}`,
        );
      }
      return body;
    } catch (e) {
      response.body.destroy();
      if (signal?.aborted) throw new FetchAbortedError();
      throw e;
    }
  }
}
