// The scheduler's contract between classes of work: prioritized requests pre-empt background
// ones, background waits for quiet, and that wait is bounded (one unpausable lane after
// maxPauseMs) so that a long series of small misses cannot starve the image's background fetch.
import { BackgroundFetcher } from '../../src/fetch/background.ts';
import type { LayerFetcher } from '../../src/fetch/layer-fetcher.ts';
import { FetchScheduler } from '../../src/fetch/scheduler.ts';
import { FetchAbortedError, Priority } from '../../src/fetch/types.ts';
import { waitFor } from '../support/tmp.ts';

interface Held {
  started: boolean;
  signal?: AbortSignal;
  release(): void;
  done: Promise<unknown>;
}

/** Runs a request of `priority` that holds the slot until released. */
function hold(scheduler: FetchScheduler, priority: Priority): Held {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held: Held = { started: false, release: () => release(), done: Promise.resolve() };
  held.done = scheduler
    .run(priority, async (signal) => {
      held.started = true;
      held.signal = signal;
      await Promise.race([
        gate,
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(new FetchAbortedError())),
        ),
      ]);
    })
    .catch((e: unknown) => e);
  return held;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('background waits for quiet and is aborted when prioritized work arrives', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 20, maxPauseMs: 60_000 });
  const background = hold(scheduler, Priority.background);
  await waitFor('background start', () => Promise.resolve(background.started), 5_000, 5);
  const read = hold(scheduler, Priority.onDemand);
  expect(await background.done).toBeInstanceOf(FetchAbortedError);
  read.release();
  await read.done;
  scheduler.stop();
});

it('without maxPauseMs elapsed, background never runs beside prioritized work', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 10, maxPauseMs: 60_000 });
  const read = hold(scheduler, Priority.onDemand);
  const background = hold(scheduler, Priority.background);
  await sleep(150);
  expect(background.started).toBe(false);
  read.release();
  await read.done;
  await waitFor('background after quiet', () => Promise.resolve(background.started), 5_000, 5);
  background.release();
  await background.done;
  scheduler.stop();
});

it('after maxPauseMs one background request runs beside prioritized work, unaborted, lane kept', async () => {
  const scheduler = new FetchScheduler({
    quietPeriodMs: 60_000,
    maxPauseMs: 50,
    backgroundConcurrency: 2,
  });
  const read = hold(scheduler, Priority.onDemand);
  const first = hold(scheduler, Priority.background);
  const second = hold(scheduler, Priority.background);
  await waitFor(
    'one background request',
    () => Promise.resolve(first.started || second.started),
    5_000,
    5,
  );
  const [running, queued] = first.started ? [first, second] : [second, first];
  await sleep(100);
  expect(queued.started).toBe(false); // one lane only
  // New prioritized work does not abort the unpaused request.
  const another = hold(scheduler, Priority.onDemand);
  await waitFor('second read', () => Promise.resolve(another.started), 5_000, 5);
  expect(running.signal?.aborted).toBe(false);
  running.release();
  expect(await running.done).toBeUndefined();
  // The lane stays open for the next background request while reads go on.
  await waitFor('next background request', () => Promise.resolve(queued.started), 5_000, 5);
  queued.release();
  await queued.done;
  read.release();
  another.release();
  await Promise.all([read.done, another.done]);
  scheduler.stop();
});

it('a prefetch holds background off while it runs, but its end does not restart the quiet period', async () => {
  // A long quiet period: background that starts right after the prefetch cannot have waited it.
  const scheduler = new FetchScheduler({ quietPeriodMs: 60_000, maxPauseMs: 600_000 });
  // Reads long ago (nothing yet): the quiet period has elapsed at start.
  const prefetch = hold(scheduler, Priority.prefetch);
  await waitFor('prefetch start', () => Promise.resolve(prefetch.started), 5_000, 5);
  const background = hold(scheduler, Priority.background);
  await sleep(100);
  expect(background.started).toBe(false); // prioritized work runs
  prefetch.release();
  await prefetch.done;
  await waitFor(
    'background once the prefetch ended',
    () => Promise.resolve(background.started),
    5_000,
    5,
  );
  background.release();
  await background.done;
  // A read, by contrast, starts the (long) quiet period: the next background request waits.
  const read = hold(scheduler, Priority.onDemand);
  read.release();
  await read.done;
  const later = hold(scheduler, Priority.background);
  await sleep(150);
  expect(later.started).toBe(false);
  scheduler.stop();
  expect(await later.done).toBeInstanceOf(FetchAbortedError);
});

it('decodes bulk chunks one at a time, a reader’s at once', async () => {
  const scheduler = new FetchScheduler();
  let running = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const work = (): Promise<void> =>
    new Promise<void>((resolve) => {
      running++;
      most = Math.max(most, running);
      gates.push(() => {
        running--;
        resolve();
      });
    });
  const bulk = [Priority.prefetch, Priority.background, Priority.prefetch].map((p) =>
    scheduler.decode(p, work),
  );
  await sleep(20);
  expect(running).toBe(1); // the other two wait
  const read = scheduler.decode(Priority.onDemand, work);
  await sleep(20);
  expect(running).toBe(2); // the reader did not wait behind them
  while (gates.length > 0) {
    gates.shift()!();
    await sleep(5);
  }
  await Promise.all([...bulk, read]);
  expect(most).toBe(2);
  scheduler.stop();
});

it('bulk decoding lets pending I/O run every few milliseconds instead of holding the thread', async () => {
  const scheduler = new FetchScheduler();
  let decoded = 0;
  let readerTurn: Promise<number> | undefined;
  // Small chunks inflate inline: synchronous work, ~0.2 ms each here.
  const inlineInflate = (): Promise<void> => {
    const until = performance.now() + 0.2;
    while (performance.now() < until);
    decoded++;
    // A container's FUSE request arrives while the bulk work is under way.
    if (decoded === 10) {
      readerTurn = new Promise((resolve) => setImmediate(() => resolve(decoded)));
    }
    return Promise.resolve();
  };
  const bulk = Array.from({ length: 1000 }, () =>
    scheduler.decode(Priority.background, inlineInflate),
  );
  await waitFor('the reader request', () => Promise.resolve(readerTurn !== undefined), 5_000, 1);
  const decodedBeforeReader = (await readerTurn!) - 10;
  await Promise.all(bulk);
  expect(decoded).toBe(1000);
  // Without yields all 1000 (200 ms) ran first; with them the reader waits a slice or two.
  expect(decodedBeforeReader).toBeLessThan(100);
  scheduler.stop();
});

it('a pull (preemptBackground) restarts the quiet period like a read', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 60_000, maxPauseMs: 600_000 });
  const background = hold(scheduler, Priority.background);
  await waitFor('background start', () => Promise.resolve(background.started), 5_000, 5);
  scheduler.preemptBackground();
  expect(await background.done).toBeInstanceOf(FetchAbortedError);
  const next = hold(scheduler, Priority.background);
  await sleep(150);
  expect(next.started).toBe(false);
  scheduler.stop();
  expect(await next.done).toBeInstanceOf(FetchAbortedError);
});

it('backgroundTurn waits out the quiet period, and counts toward the longest pause', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 300, maxPauseMs: 600_000 });
  scheduler.preemptBackground();
  let turned = false;
  const turn = scheduler.backgroundTurn().then(() => (turned = true));
  await sleep(100);
  expect(turned).toBe(false);
  await turn; // quiet after 300 ms
  scheduler.stop();

  // Reads that never stop: the turn still comes once maxPauseMs has passed.
  const busy = new FetchScheduler({ quietPeriodMs: 60_000, maxPauseMs: 300 });
  const reader = hold(busy, Priority.onDemand);
  let busyTurn = false;
  const waiting = busy.backgroundTurn().then(() => (busyTurn = true));
  await sleep(100);
  expect(busyTurn).toBe(false);
  await waiting;
  reader.release();
  await reader.done;
  busy.stop();
});

/**
 * A layer of 1000 ten-byte chunks that counts how many were planned (asked for by position), and
 * a fetcher that records each batch it is given.
 */
function countingLayer() {
  const counts = { planned: 0, warmed: [] as number[] };
  const chunk = {
    digest: `sha256:${'1'.repeat(64)}`,
    offset: 0,
    compressedSize: 10,
    innerOffset: 0,
    size: 10,
  };
  const chunks = { length: 1000, at: () => (counts.planned++, chunk) };
  const fetcher = {
    layer: 'sha256:layer',
    isCached: () => false,
    warm: (batch: readonly unknown[]) => (counts.warmed.push(batch.length), Promise.resolve()),
  } as unknown as LayerFetcher;
  return { counts, chunks, fetcher };
}

it('the background fetch plans no batch before its turn (a pull ends without that work)', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 300, maxPauseMs: 600_000 });
  scheduler.preemptBackground(); // what a pull's `use` does
  const { counts, chunks, fetcher } = countingLayer();
  const background = new BackgroundFetcher(scheduler, { concurrency: 2, batchBytes: 100 });
  background.add(fetcher, chunks);
  await sleep(100);
  expect(counts.planned).toBe(0);
  await waitFor('batches', () => Promise.resolve(counts.warmed.length > 0), 5_000, 10);
  expect(counts.planned).toBeGreaterThan(0);
  background.stop();
  scheduler.stop();
});

it('a layer queued in the tick that ends the quiet gets no turn (an idle agent, then a pull)', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 300, maxPauseMs: 600_000 });
  const { counts, chunks, fetcher } = countingLayer();
  const background = new BackgroundFetcher(scheduler, { concurrency: 2, batchBytes: 100 });
  // Long quiet; the layer is queued, then the pull restarts the quiet period in the same tick.
  background.add(fetcher, chunks);
  scheduler.preemptBackground();
  await sleep(100);
  expect(counts.planned).toBe(0);
  background.stop();
  scheduler.stop();
});

it('the background fetch says it waits for room only when no layer can go on, once', async () => {
  const scheduler = new FetchScheduler({ quietPeriodMs: 0, maxPauseMs: 600_000 });
  const spec = (size: number) => ({
    digest: `sha256:${'2'.repeat(64)}`,
    offset: 0,
    compressedSize: size,
    innerOffset: 0,
    size,
  });
  const fetcherOf = (layer: string) => ({
    layer,
    isCached: () => false,
    warm: () => new Promise<void>((resolve) => setTimeout(resolve, 5)),
  });
  let room = 100;
  const events: boolean[] = [];
  const done: string[] = [];
  const background = new BackgroundFetcher(scheduler, {
    concurrency: 1,
    batchBytes: 10,
    hasRoom: (bytes) => bytes <= room,
    roomRetryMs: 20,
    onRoom: (waiting) => events.push(waiting),
    onLayerDone: (layer) => done.push(layer),
  });
  // A layer whose one chunk never fits, beside one whose 40 small chunks do: the second goes on.
  background.add(fetcherOf('big') as unknown as LayerFetcher, [spec(1000)]);
  const small = Array.from({ length: 40 }, (_, i) => ({ ...spec(10), offset: i }));
  background.add(fetcherOf('small') as unknown as LayerFetcher, small);
  try {
    await waitFor('the small layer', () => Promise.resolve(done.includes('small')), 4_000, 10);
    await waitFor('waiting for room', () => Promise.resolve(events.length > 0), 4_000, 10);
    await sleep(100); // several retries of the big layer: no more events
    expect(events).toEqual([true]);
    room = 10_000;
    await waitFor('the big layer', () => Promise.resolve(done.includes('big')), 4_000, 10);
    expect(events).toEqual([true, false]);
  } finally {
    background.stop();
    scheduler.stop();
  }
});
