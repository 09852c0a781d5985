import { clone } from '../../../utils/fixtures/clone';
import {
  masterSlipstreamCtrcfg,
  workerLogLevelCtrcfg,
} from '../../../utils/fixtures/containerRuntimeConfigs';
import {
  allPools,
  infraPool,
  masterPool,
  workerPool,
} from '../../../utils/fixtures/machineConfigPools';
import { masterStoreMachineConfig } from '../../../utils/fixtures/machineConfigs';
import type { MachineConfigPool } from '../../../utils/types/k8s';
import { applyOrder } from './applyOrder';
import { planChanges } from './planChanges';

const STORE = '/var/lib/slipstream/store';
const PATHS = { storePath: STORE, agentPath: STORE };

const summary = (requests: ReturnType<typeof applyOrder>) =>
  requests.map(({ id, kind, after, skipReason }) => ({ id, kind, after, skipReason }));

describe('applyOrder', () => {
  it('enabling: every store MachineConfig before the ctrcfg changes that need it', () => {
    const plans = planChanges(
      'enable',
      allPools,
      [workerLogLevelCtrcfg],
      ['worker', 'master'],
      PATHS,
    );
    expect(summary(applyOrder('enable', plans))).toEqual([
      { id: 'machineconfig-master', kind: 'machineconfig', after: [], skipReason: undefined },
      { id: 'machineconfig-worker', kind: 'machineconfig', after: [], skipReason: undefined },
      {
        id: 'master',
        kind: 'ctrcfg',
        after: ['machineconfig-master'],
        skipReason: 'store-directory-missing',
      },
      {
        id: 'worker',
        kind: 'ctrcfg',
        after: ['machineconfig-worker'],
        skipReason: 'store-directory-missing',
      },
    ]);
  });

  it('enabling: a ctrcfg change waits for the MachineConfigs of the pools it covers too', () => {
    const shared = clone(workerLogLevelCtrcfg);
    shared.spec.machineConfigPoolSelector = { matchLabels: { 'slipstream.io/lazy': 'yes' } };
    const label = (pool: MachineConfigPool): MachineConfigPool => ({
      ...pool,
      metadata: {
        ...pool.metadata,
        labels: { ...pool.metadata?.labels, 'slipstream.io/lazy': 'yes' },
      },
    });
    const pools = [label(workerPool), label(infraPool), masterPool];
    const plans = planChanges('enable', pools, [shared], ['worker', 'infra'], PATHS);
    const order = applyOrder('enable', plans);
    expect(order.map((r) => r.id)).toEqual([
      'machineconfig-worker',
      'machineconfig-infra',
      'worker',
    ]);
    expect(order[2].after).toEqual(['machineconfig-worker', 'machineconfig-infra']);
  });

  it('enabling a pool that has its store already: only the MachineConfig', () => {
    const plans = planChanges('enable', allPools, [masterSlipstreamCtrcfg], ['master'], PATHS);
    expect(summary(applyOrder('enable', plans))).toEqual([
      { id: 'machineconfig-master', kind: 'machineconfig', after: [], skipReason: undefined },
    ]);
  });

  it('disabling: the ctrcfg change first, then the MachineConfig, only if it went through', () => {
    const plans = planChanges('disable', allPools, [masterSlipstreamCtrcfg], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(summary(applyOrder('disable', plans))).toEqual([
      { id: 'master', kind: 'ctrcfg', after: [], skipReason: undefined },
      {
        id: 'machineconfig-master',
        kind: 'machineconfig',
        after: ['master'],
        skipReason: 'store-still-listed',
      },
    ]);
    // A MachineConfig left behind by a pool already off goes on its own.
    const leftover = planChanges('disable', allPools, [], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(summary(applyOrder('disable', leftover))).toEqual([
      { id: 'machineconfig-master', kind: 'machineconfig', after: [], skipReason: undefined },
    ]);
  });

  it('sends nothing for blocked or unchanged pools', () => {
    expect(applyOrder('enable', [])).toEqual([]);
    const plans = planChanges('enable', allPools, [masterSlipstreamCtrcfg], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(applyOrder('enable', plans)).toEqual([]);
  });
});
