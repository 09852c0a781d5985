// Read-ahead for sequential readers of a file: a few fetches run ahead of the reader, in file
// order, each a few MiB. Why not one request for the whole window: the chunks of one request
// only arrive when all of it has, and parallel requests for the whole window share the link and
// finish together; either way the reader stalls until the whole window is in, then drains it at
// once, and the next window starts from an idle link (measured: bursts and gaps, about half the
// link's rate at 20 ms RTT). Small steps started in order arrive in order: the reader consumes
// each as it lands and the window slides continuously.
import type { ChunkSpec } from '../fetch/types.ts';
import { chunkSpec, type ResolvedLayer } from './layer.ts';

export interface ReadAheadOptions {
  /** How far past the reader's last read to fetch, in file bytes. */
  windowBytes: number;
  /** File bytes per fetch (whole chunks: at least one). */
  stepBytes: number;
  /** Fetches running at once per file. */
  depth: number;
}

interface Stream {
  ino: number;
  layer: ResolvedLayer;
  local: number;
  size: number;
  /** First file offset not yet asked for. */
  next: number;
  /** Fetch up to here. */
  horizon: number;
  active: number;
}

/** Bound on tracked files: a heuristic's memory must not grow with every file ever read. */
const MAX_STREAMS = 10_000;

export class ReadAhead {
  readonly #options: ReadAheadOptions;
  readonly #streams = new Map<number, Stream>();

  constructor(options: ReadAheadOptions) {
    this.#options = options;
  }

  /**
   * A sequential reader of inode `ino` (file `local` of `layer`) has read up to `end`; fetch up
   * to `windowBytes` past it (default and cap: the configured window).
   */
  advance(
    ino: number,
    layer: ResolvedLayer,
    local: number,
    end: number,
    size: number,
    windowBytes = this.#options.windowBytes,
  ): void {
    let stream = this.#streams.get(ino);
    if (stream?.layer !== layer) {
      if (this.#streams.size >= MAX_STREAMS) this.#streams.clear();
      stream = { ino, layer, local, size, next: end, horizon: end, active: 0 };
      this.#streams.set(ino, stream);
    }
    const window = Math.min(windowBytes, this.#options.windowBytes);
    // Ahead of what we asked for, or far behind it (the reader went back): start from here.
    if (end > stream.next || end + window < stream.next) stream.next = end;
    stream.horizon = Math.min(end + window, size);
    this.#pump(stream);
  }

  #pump(stream: Stream): void {
    while (stream.active < this.#options.depth && stream.next < stream.horizon) {
      const step = this.#nextStep(stream);
      if (step.length === 0) continue;
      stream.active++;
      // Done once the step's response is in, not once it is decoded: the next request goes
      // out while the CPU inflates and verifies (never rejects: the read reports failures).
      void stream.layer.fetcher.fetchAhead(step).finally(() => {
        stream.active--;
        this.#pump(stream);
      });
    }
    if (stream.active === 0 && stream.next >= stream.size) this.#forget(stream);
  }

  /** The missing chunks of the next step; moves `next` past it. */
  #nextStep(stream: Stream): ChunkSpec[] {
    const length = Math.min(this.#options.stepBytes, stream.horizon - stream.next);
    const refs = stream.layer.index.chunksFor(stream.local, stream.next, length);
    const last = refs.at(-1);
    stream.next = last ? last.fileOffset + last.size : stream.horizon;
    return refs.map(chunkSpec).filter((c) => !stream.layer.fetcher.isCached(c));
  }

  #forget(stream: Stream): void {
    if (this.#streams.get(stream.ino) === stream) this.#streams.delete(stream.ino);
  }
}
