// RequestHedger: what it does with attempts it controls (never how fast): a straggler is asked
// again and the first answer wins, small requests and classes without history are not, the
// budget bounds the duplicates, and failures and aborts reach the caller.
import { MIN_HEDGE_BYTES, RequestHedger } from '../../src/fetch/hedge.ts';

const BIG = 4 * MIN_HEDGE_BYTES;

/** An attempt that answers `value` at once. */
const quick = (value: string) => () => Promise.resolve(value);

/** An attempt that never answers; it rejects when aborted, and says whether it was. */
function stuck() {
  const state = { aborted: false };
  const attempt = (signal: AbortSignal) =>
    new Promise<string>((_, reject) =>
      signal.addEventListener('abort', () => {
        state.aborted = true;
        reject(new Error('aborted'));
      }),
    );
  return { attempt, state };
}

/** A hedger that has seen `n` quick requests of `bytes`. */
async function withHistory(bytes: number, n = 8): Promise<RequestHedger> {
  const hedger = new RequestHedger();
  for (let i = 0; i < n; i++) await hedger.run(bytes, undefined, quick('warm-up'));
  return hedger;
}

it('asks a straggling request again: the first answer wins and the straggler is aborted', async () => {
  const hedger = await withHistory(BIG);
  const straggler = stuck();
  const events: { bytes: number; afterMs: number }[] = [];
  let calls = 0;
  const value = await hedger.run(
    BIG,
    undefined,
    (signal) => (++calls === 1 ? straggler.attempt(signal) : Promise.resolve('second')),
    (e) => events.push(e),
  );
  expect(value).toBe('second');
  expect(calls).toBe(2);
  expect(straggler.state.aborted).toBe(true);
  expect(events).toHaveLength(1);
  expect(events[0].bytes).toBe(BIG);
  expect(events[0].afterMs).toBeGreaterThanOrEqual(hedger.delayFor(BIG)! - 1);
  expect(hedger.hedges).toBe(1);
});

it('hedges a request that started before its size class had history, once it has', async () => {
  const hedger = new RequestHedger();
  const straggler = stuck();
  let calls = 0;
  const running = hedger.run(BIG, undefined, (signal) =>
    ++calls === 1 ? straggler.attempt(signal) : Promise.resolve('hedge'),
  );
  // Requests beside it finish and give the class its median.
  for (let i = 0; i < 8; i++) await hedger.run(BIG, undefined, quick('beside'));
  expect(await running).toBe('hedge');
  expect(straggler.state.aborted).toBe(true);
});

it('does not hedge without history of the size class, nor requests under MIN_HEDGE_BYTES', async () => {
  const fresh = new RequestHedger();
  expect(fresh.delayFor(BIG)).toBeUndefined();
  const small = MIN_HEDGE_BYTES / 2;
  const hedger = await withHistory(small);
  expect(hedger.delayFor(small)).toBeDefined(); // it knows the class...
  let calls = 0;
  const slow = () =>
    new Promise<string>((resolve) => {
      calls++;
      setTimeout(() => resolve('slow'), 3 * (hedger.delayFor(small) ?? 0));
    });
  expect(await hedger.run(small, undefined, slow)).toBe('slow'); // ...and still waits
  expect(calls).toBe(1);
  expect(hedger.hedges).toBe(0);
});

it('hedges within a budget: past it, a straggler is waited for', async () => {
  const hedger = await withHistory(BIG);
  const delay = hedger.delayFor(BIG)!;
  const attempts: number[] = [];
  const lateThenQuick = (n: number) => {
    let call = 0;
    return () => {
      attempts.push(n);
      return ++call === 1
        ? new Promise<string>((resolve) => setTimeout(() => resolve(`late ${n}`), 2 * delay))
        : Promise.resolve(`hedge ${n}`);
    };
  };
  // 8 + 3 requests: the budget (2 + 5 % of them) allows two hedges.
  const answers = [];
  for (const n of [1, 2, 3]) answers.push(await hedger.run(BIG, undefined, lateThenQuick(n)));
  expect(answers).toEqual(['hedge 1', 'hedge 2', 'late 3']);
  expect(attempts).toEqual([1, 1, 2, 2, 3]);
  expect(hedger.hedges).toBe(2);
});

it('takes the hedge when the first attempt fails after it went out; fails when both do', async () => {
  const hedger = await withHistory(BIG);
  const delay = hedger.delayFor(BIG)!;
  let call = 0;
  const failsLate = () =>
    ++call === 1
      ? new Promise<string>((_, reject) =>
          setTimeout(() => reject(new Error('connection reset')), 2 * delay),
        )
      : new Promise<string>((resolve) => setTimeout(() => resolve('hedge'), 3 * delay));
  expect(await hedger.run(BIG, undefined, failsLate)).toBe('hedge');

  const both = () =>
    new Promise<string>((_, reject) =>
      setTimeout(() => reject(new Error(`failed ${++call}`)), 2 * delay),
    );
  call = 0;
  await expect(hedger.run(BIG, undefined, both)).rejects.toThrow('failed 1');
});

it('a failure before the hedge delay is the caller’s at once; the caller’s abort reaches every attempt', async () => {
  const hedger = await withHistory(BIG);
  let calls = 0;
  await expect(
    hedger.run(BIG, undefined, () => {
      calls++;
      return Promise.reject(new Error('404'));
    }),
  ).rejects.toThrow('404');
  expect(calls).toBe(1);

  const caller = new AbortController();
  const first = stuck();
  const second = stuck();
  let n = 0;
  const running = hedger.run(BIG, caller.signal, (signal) =>
    ++n === 1 ? first.attempt(signal) : second.attempt(signal),
  );
  setTimeout(() => caller.abort(), 2 * hedger.delayFor(BIG)!);
  await expect(running).rejects.toThrow('aborted');
  expect(n).toBe(2);
  expect(first.state.aborted && second.state.aborted).toBe(true);
});
