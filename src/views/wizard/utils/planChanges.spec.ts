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
import { masterStoreMachineConfig } from '../../../utils/fixtures/machineConfigs';
import { storeMachineConfig } from '../../../utils/machineconfig/storeMachineConfig';
import { additionalStorageGate } from '../../../utils/rollout/featureGate';
import type { MachineConfigPool } from '../../../utils/types/k8s';
import { changeYaml, machineConfigChangeYaml } from './changeYaml';
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

describe('planChanges: the store MachineConfig', () => {
  const ROLE = 'machineconfiguration.openshift.io/role';

  it('creates one for each pool enabled, and names the other pools its labels reach', () => {
    const plans = planChanges('enable', allPools, [workerLogLevelCtrcfg], ['worker'], PATHS);
    expect(plans[0].machineConfig).toEqual({
      action: 'create',
      object: storeMachineConfig('worker', STORE, { [ROLE]: 'worker' }),
    });
    // infra selects role In [worker, infra]: it reboots with the worker's MachineConfig.
    expect(plans[0].machineConfigAlsoAffects).toEqual(['infra']);
    expect(plans[0].alsoAffects).toEqual([]);
  });

  it('offers the missing one to a pool enabled before it existed: there is something to do', () => {
    const plans = planChanges('enable', allPools, [masterSlipstreamCtrcfg], ['master'], PATHS);
    expect(plans[0].change.action).toBe('none');
    expect(plans[0].machineConfig.action).toBe('create');
    expect(planIsApplicable(plans)).toBe(true);
    // With it in place, there is nothing left to do.
    const done = planChanges('enable', allPools, [masterSlipstreamCtrcfg], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(done[0].machineConfig.action).toBe('none');
    expect(planIsApplicable(done)).toBe(false);
  });

  it('deletes it when disabling, and only the wizard’s', () => {
    const plans = planChanges('disable', allPools, [masterSlipstreamCtrcfg], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(plans[0].machineConfig).toEqual({ action: 'delete', target: masterStoreMachineConfig });
    expect(plans[0].machineConfigAlsoAffects).toEqual([]);
    // A pool already off whose MachineConfig was left behind still gets it removed.
    const leftover = planChanges('disable', allPools, [], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(leftover[0].change.action).toBe('none');
    expect(planIsApplicable(leftover)).toBe(true);
  });

  it('blocks the pool when no labels satisfy its machineConfigSelector', () => {
    const pool = clone(workerPool);
    pool.spec.machineConfigSelector = {
      matchExpressions: [{ key: ROLE, operator: 'DoesNotExist' }],
    };
    const plans = planChanges('enable', [pool], [workerLogLevelCtrcfg], ['worker'], PATHS);
    expect(plans[0].change.action).toBe('patch');
    expect(plans[0].machineConfig.action).toBe('blocked');
    expect(planIsApplicable(plans)).toBe(false);
    expect(
      applyBlockers({
        action: 'enable',
        plans,
        storePathError: null,
        optionErrors: [],
        gate: additionalStorageGate(featureGateTechPreview),
      }),
    ).toEqual(['pool-blocked']);
  });

  it('warns of pools a shared ctrcfg gives the store that no store MachineConfig reaches', () => {
    const shared = clone(workerLogLevelCtrcfg);
    shared.spec.machineConfigPoolSelector = { matchLabels: { 'slipstream.io/lazy': 'yes' } };
    const label = (pool: MachineConfigPool): MachineConfigPool => ({
      ...pool,
      metadata: {
        ...pool.metadata,
        labels: { ...pool.metadata?.labels, 'slipstream.io/lazy': 'yes' },
      },
    });
    // master gets the store through the shared ctrcfg, and no MachineConfig for role: master.
    const pools = [label(workerPool), infraPool, label(masterPool)];
    const plans = planChanges('enable', pools, [shared], ['worker'], PATHS);
    expect(plans[0].alsoAffects).toEqual(['master']);
    expect(plans[0].withoutStoreDirectory).toEqual(['master']);
    // Not once master has its own, nor when it is selected too.
    expect(
      planChanges('enable', pools, [shared], ['worker'], {
        ...PATHS,
        machineConfigs: [masterStoreMachineConfig],
      })[0].withoutStoreDirectory,
    ).toEqual([]);
    expect(
      planChanges('enable', pools, [shared], ['worker', 'master'], PATHS)[0].withoutStoreDirectory,
    ).toEqual([]);
    // infra picks the worker's MachineConfig (role In [worker, infra]): covered by it.
    const withInfra = [label(workerPool), label(infraPool), masterPool];
    expect(
      planChanges('enable', withInfra, [shared], ['worker'], PATHS)[0].withoutStoreDirectory,
    ).toEqual([]);
  });
});

describe('machineConfigChangeYaml', () => {
  it('shows the object to create and the file it writes, decoded', () => {
    const [plan] = planChanges('enable', allPools, [workerLogLevelCtrcfg], ['worker'], PATHS);
    const text = machineConfigChangeYaml(plan.machineConfig);
    expect(text.split('\n')[0]).toBe('# CREATE machineconfigs.machineconfiguration.openshift.io');
    expect(parse(text)).toMatchObject({
      kind: 'MachineConfig',
      metadata: { name: '99-worker-slipstream-store' },
      spec: { config: { storage: { files: [{ path: '/etc/tmpfiles.d/slipstream-store.conf' }] } } },
    });
    expect(text).toContain(
      '# /etc/tmpfiles.d/slipstream-store.conf, decoded:\n#   d /var/lib/slipstream/store 0755 root root -',
    );
  });

  it('shows a patch with the spec it produces, and a deletion', () => {
    const [patch] = planChanges('enable', allPools, [masterSlipstreamCtrcfg], ['master'], {
      storePath: '/srv/store',
      agentPath: STORE,
      machineConfigs: [masterStoreMachineConfig],
    });
    const text = machineConfigChangeYaml(patch.machineConfig);
    expect(text).toContain(
      '# PATCH machineconfigs.machineconfiguration.openshift.io/99-master-slipstream-store',
    );
    expect(text).toContain('#   d /srv/store 0755 root root -');
    const [remove] = planChanges('disable', allPools, [masterSlipstreamCtrcfg], ['master'], {
      ...PATHS,
      machineConfigs: [masterStoreMachineConfig],
    });
    expect(machineConfigChangeYaml(remove.machineConfig)).toBe(
      '# DELETE machineconfigs.machineconfiguration.openshift.io/99-master-slipstream-store',
    );
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
      { ...PATHS, machineConfigs: [masterStoreMachineConfig] },
    );
    // master is on with its store MachineConfig already: nothing changes it.
    expect(appliedPools(plans)).toEqual({
      worker: {
        requestIds: ['worker', 'machineconfig-worker'],
        configBefore: workerPool.spec.configuration?.name,
      },
    });
  });

  it('counts the store MachineConfig request alone', () => {
    const plans = planChanges('enable', allPools, [masterSlipstreamCtrcfg], ['master'], PATHS);
    expect(appliedPools(plans)).toEqual({
      master: {
        requestIds: ['machineconfig-master'],
        configBefore: masterPool.spec.configuration?.name,
      },
    });
  });
});

describe('firstOf', () => {
  it('keeps the first names and counts the rest', () => {
    expect(firstOf(['a', 'b', 'c'], 2)).toEqual({ shown: ['a', 'b'], more: 1 });
    expect(firstOf(['a'], 2)).toEqual({ shown: ['a'], more: 0 });
  });
});
