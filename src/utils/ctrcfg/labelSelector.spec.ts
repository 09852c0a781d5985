import { selectorMatches } from './labelSelector';

const worker = { 'pools.operator.machineconfiguration.openshift.io/worker': '' };

describe('selectorMatches (MCO semantics)', () => {
  it('matches labels and expressions together', () => {
    expect(selectorMatches({ matchLabels: worker }, worker)).toBe(true);
    expect(
      selectorMatches(
        {
          matchExpressions: [
            { key: 'pools.operator.machineconfiguration.openshift.io/worker', operator: 'Exists' },
          ],
        },
        worker,
      ),
    ).toBe(true);
    expect(selectorMatches({ matchLabels: { a: 'b' } }, worker)).toBe(false);
  });

  it('selects no pool with a missing or empty selector, as the MCO skips selector.Empty()', () => {
    expect(selectorMatches(undefined, worker)).toBe(false);
    expect(selectorMatches({}, worker)).toBe(false);
    expect(selectorMatches({ matchLabels: {}, matchExpressions: [] }, worker)).toBe(false);
  });

  it('selects nothing with a selector the API would reject', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In' }] }, { a: 'x' })).toBe(
      false,
    );
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Gt' }] }, { a: '1' })).toBe(
      false,
    );
  });
});
