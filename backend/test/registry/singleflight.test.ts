// One in-flight request per key: joiners share it, one caller leaving does not cancel it for
// the others, and the work is cancelled once everyone has left.
import { SingleFlight } from '../../src/registry/singleflight.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

it('shares one run among concurrent callers of the same key', async () => {
  const flights = new SingleFlight<string>();
  let runs = 0;
  const gate = deferred<string>();
  const work = () => {
    runs++;
    return gate.promise;
  };
  const a = flights.run('k', work);
  const b = flights.run('k', work);
  const c = flights.run('other', () => Promise.resolve('x'));
  gate.resolve('v');
  expect(await Promise.all([a, b, c])).toEqual(['v', 'v', 'x']);
  expect(runs).toBe(1);
  expect(flights.size).toBe(0);
});

it('keeps the shared run alive while one caller remains, cancels it when none does', async () => {
  const flights = new SingleFlight<string>();
  const gate = deferred<string>();
  let workSignal!: AbortSignal;
  const work = (signal: AbortSignal) => {
    workSignal = signal;
    return gate.promise;
  };
  const leaving = new AbortController();
  const staying = new AbortController();
  const a = flights.run('k', work, leaving.signal);
  const b = flights.run('k', work, staying.signal);
  leaving.abort(new Error('first caller gave up'));
  await expect(a).rejects.toThrow('first caller gave up');
  expect(workSignal.aborted).toBe(false);
  gate.resolve('done');
  expect(await b).toBe('done');

  const never = deferred<string>();
  const last = new AbortController();
  const c = flights.run(
    'k2',
    (signal) => {
      workSignal = signal;
      return never.promise;
    },
    last.signal,
  );
  last.abort(new Error('bye'));
  await expect(c).rejects.toThrow('bye');
  expect(workSignal.aborted).toBe(true);
  expect(flights.size).toBe(0);
});
