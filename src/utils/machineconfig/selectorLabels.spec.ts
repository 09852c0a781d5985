import { selectorMatches } from '../ctrcfg/labelSelector';
import { infraPool, masterPool, workerPool } from '../fixtures/machineConfigPools';
import type { LabelSelector } from '../types/k8s';
import { labelsForSelector } from './selectorLabels';

const ROLE = 'machineconfiguration.openshift.io/role';

describe('labelsForSelector', () => {
  it('copies matchLabels (the default pools select role: <pool>)', () => {
    expect(labelsForSelector(workerPool.spec.machineConfigSelector, 'worker')).toEqual({
      [ROLE]: 'worker',
    });
    expect(labelsForSelector(masterPool.spec.machineConfigSelector, 'master')).toEqual({
      [ROLE]: 'master',
    });
  });

  it('takes the pool’s own name from an In list, else its first value', () => {
    // infra: role In [worker, infra]
    expect(labelsForSelector(infraPool.spec.machineConfigSelector, 'infra')).toEqual({
      [ROLE]: 'infra',
    });
    expect(labelsForSelector(infraPool.spec.machineConfigSelector, 'gpu')).toEqual({
      [ROLE]: 'worker',
    });
  });

  it('gives Exists an empty value and adds nothing for NotIn / DoesNotExist', () => {
    const selector: LabelSelector = {
      matchLabels: { [ROLE]: 'worker' },
      matchExpressions: [
        { key: 'example.com/gpu', operator: 'Exists' },
        { key: 'example.com/tier', operator: 'NotIn', values: ['legacy'] },
        { key: 'example.com/old', operator: 'DoesNotExist' },
      ],
    };
    const labels = labelsForSelector(selector, 'gpu');
    expect(labels).toEqual({ [ROLE]: 'worker', 'example.com/gpu': '' });
    expect(selectorMatches(selector, labels)).toBe(true);
  });

  it('skips an In value that a NotIn on the same key excludes', () => {
    expect(
      labelsForSelector(
        {
          matchExpressions: [
            { key: ROLE, operator: 'In', values: ['worker', 'infra'] },
            { key: ROLE, operator: 'NotIn', values: ['infra'] },
          ],
        },
        'infra',
      ),
    ).toEqual({ [ROLE]: 'worker' });
  });

  it('takes a value every In on the key allows, and an Exists the In’s value', () => {
    expect(
      labelsForSelector(
        {
          matchExpressions: [
            { key: ROLE, operator: 'Exists' },
            { key: ROLE, operator: 'In', values: ['a', 'b'] },
            { key: ROLE, operator: 'In', values: ['b', 'c'] },
          ],
        },
        'x',
      ),
    ).toEqual({ [ROLE]: 'b' });
  });

  it('finds none for a selector no labels can satisfy', () => {
    const none: (LabelSelector | undefined)[] = [
      undefined,
      {},
      { matchLabels: {}, matchExpressions: [] },
      // Only negative requirements: an unlabelled MachineConfig would reach other pools too.
      { matchExpressions: [{ key: ROLE, operator: 'NotIn', values: ['master'] }] },
      { matchExpressions: [{ key: ROLE, operator: 'DoesNotExist' }] },
      // Contradictions.
      {
        matchLabels: { [ROLE]: 'worker' },
        matchExpressions: [{ key: ROLE, operator: 'NotIn', values: ['worker'] }],
      },
      {
        matchLabels: { [ROLE]: 'worker' },
        matchExpressions: [{ key: ROLE, operator: 'In', values: ['infra'] }],
      },
      {
        matchExpressions: [
          { key: ROLE, operator: 'In', values: ['worker'] },
          { key: ROLE, operator: 'DoesNotExist' },
        ],
      },
      {
        matchExpressions: [
          { key: ROLE, operator: 'In', values: ['a'] },
          { key: ROLE, operator: 'In', values: ['b'] },
        ],
      },
      // Rejected by the API, and matched by nothing in the MCO.
      { matchExpressions: [{ key: ROLE, operator: 'In', values: [] }] },
      { matchExpressions: [{ key: ROLE, operator: 'Gt', values: ['1'] }] },
    ];
    none.forEach((selector) =>
      expect([selector, labelsForSelector(selector, 'worker')]).toEqual([selector, undefined]),
    );
  });
});
