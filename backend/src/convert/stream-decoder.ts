// One zlib decoder (gunzip, zstd) driven a write at a time by a single reader: each write hands
// back what the decoder produced from it. A decoder's error is thrown from the write or end that
// meets it (a write's callback is never called once the decoder has failed, so waiting for it
// alone would wait forever).
import type { Transform } from 'node:stream';

export class StreamDecoder {
  readonly #decoder: Transform;
  #out: Buffer[] = [];
  #ended = false;
  readonly #finished: Promise<void>;

  constructor(decoder: Transform) {
    this.#decoder = decoder;
    decoder.on('data', (chunk: Buffer) => this.#out.push(chunk));
    this.#finished = new Promise((resolve, reject) => {
      decoder.on('end', () => {
        this.#ended = true;
        resolve();
      });
      decoder.on('error', reject);
    });
    this.#finished.catch(() => undefined);
  }

  /**
   * Whether the decoder has reached the end of its stream (gzip: its last member). Writes after
   * that are accepted and ignored.
   */
  get ended(): boolean {
    return this.#ended;
  }

  async write(data: Buffer): Promise<Buffer[]> {
    const written = new Promise<void>((resolve, reject) =>
      this.#decoder.write(data, (err) => (err ? reject(err) : resolve())),
    );
    written.catch(() => undefined);
    await Promise.race([written, this.#finished.then(() => written)]);
    return this.#take();
  }

  async end(): Promise<Buffer[]> {
    this.#decoder.end();
    await this.#finished;
    return this.#take();
  }

  /** Stops the decoder (the reader gave up). */
  destroy(): void {
    this.#decoder.destroy();
  }

  #take(): Buffer[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }
}
