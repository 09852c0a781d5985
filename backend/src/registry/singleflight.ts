// One in-flight request per key. Joiners share the result; the shared request is cancelled only
// when every caller has given up, so one impatient reader cannot fail the others.

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
}

export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  get size(): number {
    return this.#flights.size;
  }

  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let flight = this.#flights.get(key);
    if (!flight) {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 0, settled: false, promise: undefined! };
      created.promise = work(controller.signal).finally(() => {
        created.settled = true;
        if (this.#flights.get(key) === created) this.#flights.delete(key);
      });
      // Joiners attach their own handlers; this one only prevents an unhandled rejection.
      created.promise.catch(() => undefined);
      this.#flights.set(key, created);
      flight = created;
    }
    return this.#join(key, flight, signal);
  }

  #join(key: string, flight: Flight<T>, signal?: AbortSignal): Promise<T> {
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        flight.waiters--;
        settle();
      };
      const onAbort = () =>
        finish(() => {
          if (flight.waiters === 0 && !flight.settled) {
            // Nobody wants the answer any more: stop the network work; a new caller restarts it.
            if (this.#flights.get(key) === flight) this.#flights.delete(key);
            flight.controller.abort();
          }
          reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        });
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (v) => finish(() => resolve(v)),
        (e: unknown) => finish(() => reject(e instanceof Error ? e : new Error(String(e)))),
      );
    });
  }
}
