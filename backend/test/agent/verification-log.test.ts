import { jest } from '@jest/globals';

import { verificationLog } from '../../src/agent/verification-log.ts';

describe('verificationLog', () => {
  afterEach(() => jest.useRealTimers());

  it('logs the first failure of a layer at once, the rest of its window as one line', () => {
    jest.useFakeTimers();
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    const log = {
      warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }),
    };
    const note = verificationLog(log as never, 30_000);
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    for (let i = 0; i < 1000; i++) note({ layer: a, digest: `d${i}`, final: i % 2 === 1 });
    note({ layer: b, digest: 'x', final: true });
    expect(lines.map((l) => l.fields.layer)).toEqual([a, b]);
    jest.advanceTimersByTime(30_000);
    expect(lines).toHaveLength(3); // b had no more failures: no summary
    expect(lines[2].fields).toMatchObject({ layer: a, failures: 999, givenUp: 500 });
    // A new window opens with the next failure.
    note({ layer: a, digest: 'again', final: false });
    expect(lines).toHaveLength(4);
    expect(lines[3].fields).toMatchObject({ layer: a, digest: 'again' });
  });
});
