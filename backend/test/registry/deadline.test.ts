// Deadlines are built from computed budgets (a share of what is left for each mirror), which are
// often fractional or, with a misconfigured timeout, not finite. None of them may throw.
import { Deadline } from '../../src/registry/deadline.ts';

it.each([14_999.5, 0.25, 0, -3, Number.POSITIVE_INFINITY, 2 ** 40])(
  'accepts a budget of %p ms',
  (ms) => {
    const deadline = new Deadline(ms);
    expect(deadline.signal.aborted).toBe(false);
    expect(deadline.remaining()).toBeGreaterThanOrEqual(0);
  },
);

it('a fractional budget still expires', async () => {
  const deadline = new Deadline(5.5);
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(deadline.signal.aborted).toBe(true);
  expect(() => deadline.check('registry.test')).toThrow(
    /deadline exceeded talking to registry.test/,
  );
});
