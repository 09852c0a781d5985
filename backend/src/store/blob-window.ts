// Reads of a layer's `blob` file (containers/storage copies it whole when an image that came from
// the store is pushed or saved): the kernel asks in 128 KiB pieces, so each piece becomes part
// of an aligned window fetched once; the last few windows stay in memory, and concurrent readers
// of one window share its request.

export interface WindowSource {
  readRange(start: number, end: number): Promise<Buffer>;
}

export class BlobWindowReader {
  readonly #source: WindowSource;
  readonly #size: number;
  readonly #windowBytes: number;
  readonly #keep: number;
  /** Window index → its bytes (in fetch order; oldest first). */
  readonly #windows = new Map<number, Promise<Buffer>>();
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(source: WindowSource, size: number, windowBytes = 8 * 2 ** 20, keep = 3) {
    this.#source = source;
    this.#size = size;
    this.#windowBytes = windowBytes;
    this.#keep = keep;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    // Copies are one-off: do not hold the windows' memory once the reader has gone.
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#windows.clear(), 30_000).unref();
    const end = Math.min(offset + length, this.#size);
    if (offset >= end) return Buffer.alloc(0);
    const first = Math.floor(offset / this.#windowBytes);
    const last = Math.floor((end - 1) / this.#windowBytes);
    const parts: Buffer[] = [];
    for (let w = first; w <= last; w++) {
      const data = await this.#window(w);
      const base = w * this.#windowBytes;
      parts.push(
        data.subarray(Math.max(offset, base) - base, Math.min(end, base + data.length) - base),
      );
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  #window(index: number): Promise<Buffer> {
    const known = this.#windows.get(index);
    if (known) return known;
    const start = index * this.#windowBytes;
    const pending = this.#source.readRange(start, Math.min(start + this.#windowBytes, this.#size));
    this.#windows.set(index, pending);
    // A failed window is forgotten so that the next read tries again.
    pending.catch(() => this.#windows.delete(index));
    while (this.#windows.size > this.#keep) {
      this.#windows.delete(this.#windows.keys().next().value!);
    }
    return pending;
  }
}
