// How many TOC entries the agent holds in memory for all its open layers together. An index costs
// ~150–250 bytes per entry, and a TOC of 2 million entries compresses to under 10 MB: without a
// bound across layers, one image of a few such layers (anyone who can start a pod can name one)
// takes the agent past its memory limit, and every lazily pulled container on the node with it.
// A layer whose TOC would pass the bound misses, so the runtime pulls it normally.
import { EstargzError, EstargzErrorCode, type EntryBudget } from '../estargz/index.ts';

export class IndexBudget {
  readonly #max: number;
  #used = 0;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  /** Entries held by open layers and by parses in progress. */
  get used(): number {
    return this.#used;
  }

  get max(): number {
    return this.#max;
  }

  /** One parse's share: it takes entries as it adds them; `end` gives them all back. */
  lease(): IndexLease {
    return new IndexLease(this);
  }

  /** @internal */
  take(count: number): void {
    if (this.#used + count > this.#max) {
      throw new EstargzError(
        EstargzErrorCode.limitExceeded,
        `the agent's open layers hold ${this.#used} TOC entries and this TOC would take them past the agent's limit of ${this.#max} (maxIndexEntries)`,
      );
    }
    this.#used += count;
  }

  /** @internal */
  giveBack(count: number): void {
    this.#used -= count;
  }
}

export class IndexLease implements EntryBudget {
  readonly #budget: IndexBudget;
  #taken = 0;
  #ended = false;

  constructor(budget: IndexBudget) {
    this.#budget = budget;
  }

  take(count: number): void {
    if (this.#ended) {
      // Its index is not wanted any more: stop the parse rather than hold entries no one frees.
      throw new EstargzError(EstargzErrorCode.limitExceeded, 'the TOC parse was abandoned');
    }
    this.#budget.take(count);
    this.#taken += count;
  }

  giveBack(): void {
    this.#budget.giveBack(this.#taken);
    this.#taken = 0;
  }

  /** The index is dropped (its layer released, or never opened): its entries are free again. */
  end(): void {
    if (this.#ended) return;
    this.giveBack();
    this.#ended = true;
  }
}
