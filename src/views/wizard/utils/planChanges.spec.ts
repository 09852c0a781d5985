import { parse } from 'yaml';

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
import type { MachineConfigPool } from '../../../utils/types/k8s';
import { changeYaml } from './changeYaml';
import { planChanges, planIsApplicable } from './planChanges';

const STORE = '/var/lib/slipstream/store';

describe('planChanges', () => {
  it('plans one change per selected pool', () => {
    const plans = planChanges(
      'enable',
      allPools,
      [workerLogLevelCtrcfg],
      ['worker', 'master'],
      STORE,
    );
    expect(plans.map((p) => [p.pool.metadata?.name, p.change.action])).toEqual([
      ['master', 'create'],
      ['worker', 'patch'],
    ]);
    expect(planIsApplicable(plans)).toBe(true);
  });

  it('is not applicable when a pool is blocked or nothing changes', () => {
    expect(planIsApplicable(planChanges('enable', allPools, [], ['infra'], STORE))).toBe(false);
    expect(
      planIsApplicable(planChanges('disable', allPools, [workerLogLevelCtrcfg], ['worker'], STORE)),
    ).toBe(false);
    expect(planIsApplicable([])).toBe(false);
  });

  it('names the other pools a shared ctrcfg reaches and sends its change once', () => {
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
    const plans = planChanges('enable', pools, [shared], ['worker', 'infra'], STORE);
    expect(plans[0].alsoAffects).toEqual(['infra']);
    expect(plans[1].coveredBy).toBe('worker');
    expect(planIsApplicable(plans)).toBe(true);
  });
});

describe('changeYaml', () => {
  it('shows the patch and the spec it produces', () => {
    const [plan] = planChanges('enable', allPools, [workerLogLevelCtrcfg], ['worker'], STORE);
    const text = changeYaml(plan.change);
    expect(text).toContain(
      '# PATCH containerruntimeconfigs.machineconfiguration.openshift.io/set-log-level',
    );
    const [patchPart, resultPart] = text.split('# resulting spec');
    expect(parse(patchPart)).toEqual([
      {
        op: 'add',
        path: '/spec/containerRuntimeConfig/additionalLayerStores',
        value: [{ path: STORE }],
      },
    ]);
    expect(parse(resultPart)).toMatchObject({
      spec: {
        containerRuntimeConfig: { logLevel: 'debug', additionalLayerStores: [{ path: STORE }] },
      },
    });
  });

  it('shows the object to create and the object to delete', () => {
    const [create] = planChanges('enable', allPools, [], ['worker'], STORE);
    expect(parse(changeYaml(create.change))).toMatchObject({
      kind: 'ContainerRuntimeConfig',
      metadata: { name: 'slipstream-worker' },
    });
    const [remove] = planChanges('disable', allPools, [masterSlipstreamCtrcfg], ['master'], STORE);
    expect(changeYaml(remove.change)).toBe(
      '# DELETE containerruntimeconfigs.machineconfiguration.openshift.io/slipstream-master',
    );
  });
});
