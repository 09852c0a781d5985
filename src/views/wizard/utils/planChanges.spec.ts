import { parse } from 'yaml';

import { clone } from '../../../utils/fixtures/clone';
import {
  masterSlipstreamCtrcfg,
  workerLogLevelCtrcfg,
} from '../../../utils/fixtures/containerRuntimeConfigs';
import { featureGateDefault, featureGateTechPreview } from '../../../utils/fixtures/featureGates';
import {
  allPools,
  infraPool,
  masterPool,
  workerPool,
} from '../../../utils/fixtures/machineConfigPools';
import { additionalStorageGate } from '../../../utils/rollout/featureGate';
import type { MachineConfigPool } from '../../../utils/types/k8s';
import { changeYaml } from './changeYaml';
import { applyBlockers, appliedPools, firstOf, planChanges, planIsApplicable } from './planChanges';

const STORE = '/var/lib/slipstream/store';
const PATHS = { storePath: STORE, agentPath: STORE };

describe('planChanges', () => {
  it('plans one change per selected pool', () => {
    const plans = planChanges(
      'enable',
      allPools,
      [workerLogLevelCtrcfg],
      ['worker', 'master'],
      PATHS,
    );
    expect(plans.map((p) => [p.pool.metadata?.name, p.change.action])).toEqual([
      ['master', 'create'],
      ['worker', 'patch'],
    ]);
    expect(planIsApplicable(plans)).toBe(true);
  });

  it('is not applicable when a pool is blocked or nothing changes', () => {
    expect(planIsApplicable(planChanges('enable', allPools, [], ['infra'], PATHS))).toBe(false);
    expect(
      planIsApplicable(planChanges('disable', allPools, [workerLogLevelCtrcfg], ['worker'], PATHS)),
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
    const plans = planChanges('enable', pools, [shared], ['worker', 'infra'], PATHS);
    expect(plans[0].alsoAffects).toEqual(['infra']);
    expect(plans[1].coveredBy).toBe('worker');
    expect(planIsApplicable(plans)).toBe(true);
  });
});

describe('changeYaml', () => {
  it('shows the patch and the spec it produces', () => {
    const [plan] = planChanges('enable', allPools, [workerLogLevelCtrcfg], ['worker'], PATHS);
    const text = changeYaml(plan.change);
    expect(text).toContain(
      '# PATCH containerruntimeconfigs.machineconfiguration.openshift.io/set-log-level',
    );
    const [patchPart, resultPart] = text.split('# resulting spec');
    expect(parse(patchPart)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '2790034' },
      {
        op: 'add',
        path: '/spec/containerRuntimeConfig/additionalLayerStores',
        value: [{ path: STORE }],
      },
      { op: 'add', path: '/metadata/annotations/slipstream.io~1layer-store', value: STORE },
    ]);
    expect(parse(resultPart)).toMatchObject({
      spec: {
        containerRuntimeConfig: { logLevel: 'debug', additionalLayerStores: [{ path: STORE }] },
      },
    });
  });

  it('shows the object to create and the object to delete', () => {
    const [create] = planChanges('enable', allPools, [], ['worker'], PATHS);
    expect(parse(changeYaml(create.change))).toMatchObject({
      kind: 'ContainerRuntimeConfig',
      metadata: { name: 'slipstream-worker' },
    });
    const [remove] = planChanges('disable', allPools, [masterSlipstreamCtrcfg], ['master'], PATHS);
    expect(changeYaml(remove.change)).toBe(
      '# DELETE containerruntimeconfigs.machineconfiguration.openshift.io/slipstream-master',
    );
  });
});

describe('applyBlockers', () => {
  const on = additionalStorageGate(featureGateTechPreview);
  const enablePlans = planChanges('enable', allPools, [workerLogLevelCtrcfg], ['worker'], PATHS);
  const facts = {
    action: 'enable' as const,
    plans: enablePlans,
    storePathError: null,
    optionErrors: [],
    gate: on,
  };

  it('lets a valid plan through', () => {
    expect(applyBlockers(facts)).toEqual([]);
  });

  it('blocks on an invalid store path or invalid agent options, however Review was reached', () => {
    expect(applyBlockers({ ...facts, storePathError: 'invalid-characters' })).toEqual([
      'invalid-store-path',
    ]);
    expect(applyBlockers({ ...facts, optionErrors: ['cache-size'] })).toEqual([
      'invalid-agent-options',
    ]);
  });

  it('blocks when the feature gate is off, and not when it could not be read', () => {
    expect(applyBlockers({ ...facts, gate: additionalStorageGate(featureGateDefault) })).toEqual([
      'feature-gate-off',
    ]);
    expect(applyBlockers({ ...facts, gate: additionalStorageGate(undefined) })).toEqual([]);
  });

  it('blocks a blocked pool and a plan that changes nothing', () => {
    expect(
      applyBlockers({ ...facts, plans: planChanges('enable', allPools, [], ['infra'], PATHS) }),
    ).toEqual(['pool-blocked']);
    expect(applyBlockers({ ...facts, plans: [] })).toEqual(['nothing-to-change']);
  });

  it('ignores the enable-only checks when disabling', () => {
    const plans = planChanges('disable', allPools, [masterSlipstreamCtrcfg], ['master'], PATHS);
    expect(
      applyBlockers({
        action: 'disable',
        plans,
        storePathError: 'empty',
        optionErrors: ['cache-size'],
        gate: additionalStorageGate(featureGateDefault),
      }),
    ).toEqual([]);
  });
});

describe('appliedPools', () => {
  it('names the request that changes each pool and the config it targeted before', () => {
    const plans = planChanges(
      'enable',
      allPools,
      [workerLogLevelCtrcfg, masterSlipstreamCtrcfg],
      ['worker', 'master'],
      PATHS,
    );
    expect(appliedPools(plans)).toEqual({
      worker: { requestId: 'worker', configBefore: workerPool.spec.configuration?.name },
    });
  });
});

describe('firstOf', () => {
  it('keeps the first names and counts the rest', () => {
    expect(firstOf(['a', 'b', 'c'], 2)).toEqual({ shown: ['a', 'b'], more: 1 });
    expect(firstOf(['a'], 2)).toEqual({ shown: ['a'], more: 0 });
  });
});
