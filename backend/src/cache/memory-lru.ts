// A byte-bounded LRU of buffers: the small hot-chunk cache in front of the disk cache.
// A Map iterates in insertion order, so re-inserting on access keeps the least recent entry first.

export class MemoryLru {
  readonly #capBytes: number;
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;

  constructor(capBytes: number) {
    this.#capBytes = capBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Whether `key` is held, without making it more recent. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get(key: string): Buffer | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: string, value: Buffer): void {
    this.delete(key);
    // An entry larger than a quarter of the cache would flush everything else for little gain.
    if (value.length > this.#capBytes / 4) return;
    this.#entries.set(key, value);
    this.#bytes += value.length;
    for (const [oldKey, old] of this.#entries) {
      if (this.#bytes <= this.#capBytes) break;
      this.#entries.delete(oldKey);
      this.#bytes -= old.length;
    }
  }

  delete(key: string): void {
    const old = this.#entries.get(key);
    if (old === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= old.length;
  }

  /** Drops every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const key of [...this.#entries.keys()]) if (key.startsWith(prefix)) this.delete(key);
  }
}
