import { STORE_ANNOTATION } from '../constants';
import { applyJsonPatch, PatchError } from '../ctrcfg/jsonPatch';
import { selectorMatches } from '../ctrcfg/labelSelector';
import { clone } from '../fixtures/clone';
import { masterSlipstreamCtrcfg, workerCtrcfgWithStore } from '../fixtures/containerRuntimeConfigs';
import { allPools, infraPool, masterPool, workerPool } from '../fixtures/machineConfigPools';
import {
  masterStoreMachineConfig,
  workerGeneratedContainerRuntimeMachineConfig,
} from '../fixtures/machineConfigs';
import type { MachineConfig, MachineConfigPool } from '../types/k8s';
import { storeDirectoryOf, storeFileIndex, storeMachineConfig } from './storeMachineConfig';
import {
  buildStoreDisableChange,
  buildStoreEnableChange,
  poolsSelecting,
  storeMachineConfigLabels,
} from './storeMachineConfigChange';

const STORE = '/var/lib/slipstream/store';
const ROLE = 'machineconfiguration.openshift.io/role';
const CREATED_BY = 'slipstream.io/created-by';

/** The object after a patch the API server accepts (throws as it would refuse). */
const patched = (change: ReturnType<typeof buildStoreEnableChange>): MachineConfig => {
  if (change.action !== 'patch') throw new Error(`expected a patch, got ${change.action}`);
  return applyJsonPatch(change.target, change.patch);
};

describe('buildStoreEnableChange', () => {
  it('creates the pool’s MachineConfig, labelled for its selector and as the wizard’s', () => {
    const change = buildStoreEnableChange(workerPool, [], `${STORE}/`);
    expect(change).toEqual({
      action: 'create',
      object: storeMachineConfig('worker', STORE, { [ROLE]: 'worker' }),
    });
    if (change.action !== 'create') return;
    expect(
      selectorMatches(workerPool.spec.machineConfigSelector, change.object.metadata?.labels),
    ).toBe(true);
    expect(change.object.metadata?.labels?.[CREATED_BY]).toBe('slipstream-console');
  });

  it('labels a custom pool’s MachineConfig with its own role from an In list', () => {
    const change = buildStoreEnableChange(infraPool, [], STORE);
    expect(change.action === 'create' && change.object.metadata?.labels).toEqual({
      [ROLE]: 'infra',
      [CREATED_BY]: 'slipstream-console',
    });
  });

  it('changes nothing when the pool’s MachineConfig is right', () => {
    expect(buildStoreEnableChange(masterPool, [masterStoreMachineConfig], STORE)).toEqual({
      action: 'none',
      target: masterStoreMachineConfig,
    });
  });

  it('ignores MachineConfigs that are not the wizard’s', () => {
    const notOurs = clone(masterStoreMachineConfig);
    notOurs.metadata = { ...notOurs.metadata, labels: { [ROLE]: 'master' } };
    expect(buildStoreEnableChange(masterPool, [notOurs], STORE).action).toBe('create');
    expect(
      buildStoreEnableChange(workerPool, [workerGeneratedContainerRuntimeMachineConfig], STORE)
        .action,
    ).toBe('create');
  });

  it('patches the file of one that creates another directory, guarded by resourceVersion', () => {
    const change = buildStoreEnableChange(masterPool, [masterStoreMachineConfig], '/srv/store');
    expect(change.action === 'patch' && change.patch).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '2845502' },
      {
        op: 'test',
        path: '/spec/config/storage/files/0/path',
        value: '/etc/tmpfiles.d/slipstream-store.conf',
      },
      {
        op: 'replace',
        path: '/spec/config/storage/files/0',
        value: {
          path: '/etc/tmpfiles.d/slipstream-store.conf',
          mode: 420,
          overwrite: true,
          contents: { source: 'data:,d%20%2Fsrv%2Fstore%200755%20root%20root%20-%0A' },
        },
      },
      { op: 'add', path: '/metadata/annotations/slipstream.io~1layer-store', value: '/srv/store' },
    ]);
    const after = patched(change);
    expect(storeDirectoryOf(after)).toBe('/srv/store');
    expect(after.metadata?.annotations?.[STORE_ANNOTATION]).toBe('/srv/store');
    // Refused once someone else changed it.
    const moved = clone(masterStoreMachineConfig);
    moved.metadata = { ...moved.metadata, resourceVersion: '2849999' };
    expect(() => change.action === 'patch' && applyJsonPatch(moved, change.patch)).toThrow(
      PatchError,
    );
  });

  it('adds the file where it is missing, keeping what else the MachineConfig holds', () => {
    const withOther = clone(masterStoreMachineConfig);
    withOther.spec.config = {
      ignition: { version: '3.2.0' },
      storage: { files: [{ path: '/etc/motd', mode: 420, contents: { source: 'data:,hi' } }] },
    };
    const after = patched(buildStoreEnableChange(masterPool, [withOther], STORE));
    expect(after.spec.config?.storage?.files?.map((f) => f.path)).toEqual([
      '/etc/motd',
      '/etc/tmpfiles.d/slipstream-store.conf',
    ]);
    const empty = clone(masterStoreMachineConfig);
    empty.spec = {};
    const filled = patched(buildStoreEnableChange(masterPool, [empty], STORE));
    expect(storeFileIndex(filled)).toBe(0);
    expect(filled.spec.config?.ignition.version).toBe('3.2.0');
    const noStorage = clone(masterStoreMachineConfig);
    noStorage.spec.config = { ignition: { version: '3.4.0' } };
    expect(storeDirectoryOf(patched(buildStoreEnableChange(masterPool, [noStorage], STORE)))).toBe(
      STORE,
    );
  });

  it('relabels one its pool’s selector no longer picks', () => {
    const pool: MachineConfigPool = clone(masterPool);
    pool.spec.machineConfigSelector = {
      matchLabels: { [ROLE]: 'master', 'example.com/site': 'east' },
    };
    const change = buildStoreEnableChange(pool, [masterStoreMachineConfig], STORE);
    expect(change.action === 'patch' && change.patch).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '2845502' },
      { op: 'add', path: '/metadata/labels/example.com~1site', value: 'east' },
    ]);
    expect(selectorMatches(pool.spec.machineConfigSelector, patched(change).metadata?.labels)).toBe(
      true,
    );
  });

  it('blocks a pool whose selector no labels satisfy', () => {
    const pool: MachineConfigPool = clone(workerPool);
    pool.spec.machineConfigSelector = {};
    expect(buildStoreEnableChange(pool, [], STORE)).toEqual({
      action: 'blocked',
      reason: 'no-selector-labels',
      names: ['worker'],
    });
    // One that refuses the wizard's own label cannot pick the wizard's MachineConfig either.
    pool.spec.machineConfigSelector = {
      matchLabels: { [ROLE]: 'worker' },
      matchExpressions: [{ key: CREATED_BY, operator: 'DoesNotExist' }],
    };
    expect(storeMachineConfigLabels(pool)).toBeUndefined();
    expect(buildStoreEnableChange(pool, [], STORE).action).toBe('blocked');
  });
});

describe('buildStoreDisableChange', () => {
  const facts = {
    pools: allPools,
    ctrcfgs: [masterSlipstreamCtrcfg],
    agentPath: STORE,
    disabling: ['master'],
  };

  it('deletes the pool’s MachineConfig the wizard created', () => {
    expect(buildStoreDisableChange(masterPool, [masterStoreMachineConfig], facts)).toEqual({
      action: 'delete',
      target: masterStoreMachineConfig,
    });
  });

  it('changes nothing for a pool without one', () => {
    expect(buildStoreDisableChange(masterPool, [], facts)).toEqual({ action: 'none' });
    const notOurs = clone(masterStoreMachineConfig);
    notOurs.metadata = { ...notOurs.metadata, labels: { [ROLE]: 'master' } };
    expect(buildStoreDisableChange(masterPool, [notOurs], facts)).toEqual({ action: 'none' });
  });

  it('keeps it while another pool that keeps the store takes the directory only from it', () => {
    // infra (role In [worker, infra]) picks the worker's MachineConfig and lists the store.
    const infraCtrcfg = clone(masterSlipstreamCtrcfg);
    infraCtrcfg.metadata = { ...infraCtrcfg.metadata, name: 'slipstream-infra' };
    infraCtrcfg.spec.machineConfigPoolSelector = { matchLabels: { 'example.com/infra': '' } };
    const infra: MachineConfigPool = clone(infraPool);
    infra.metadata = { ...infra.metadata, labels: { 'example.com/infra': '' } };
    const pools = [masterPool, workerPool, infra];
    const workerMc = storeMachineConfig('worker', STORE, { [ROLE]: 'worker' });
    const disableWorker = {
      pools,
      ctrcfgs: [workerCtrcfgWithStore, infraCtrcfg],
      agentPath: STORE,
      disabling: ['worker'],
    };
    expect(buildStoreDisableChange(workerPool, [workerMc], disableWorker)).toEqual({
      action: 'none',
      target: workerMc,
      keptFor: ['infra'],
    });
    // Not once infra has its own, nor when infra is disabled too.
    const infraMc = storeMachineConfig('infra', STORE, { [ROLE]: 'infra' });
    expect(buildStoreDisableChange(workerPool, [workerMc, infraMc], disableWorker).action).toBe(
      'delete',
    );
    expect(
      buildStoreDisableChange(workerPool, [workerMc], {
        ...disableWorker,
        disabling: ['worker', 'infra'],
      }).action,
    ).toBe('delete');
    // Nor when infra does not list the store.
    expect(
      buildStoreDisableChange(workerPool, [workerMc], {
        ...disableWorker,
        ctrcfgs: [workerCtrcfgWithStore],
      }).action,
    ).toBe('delete');
  });
});

describe('poolsSelecting', () => {
  it('names the pools whose machineConfigSelector picks the labels', () => {
    expect(poolsSelecting({ [ROLE]: 'worker', [CREATED_BY]: 'x' }, allPools)).toEqual([
      'worker',
      'infra',
    ]);
    expect(poolsSelecting({ [ROLE]: 'worker' }, allPools, 'worker')).toEqual(['infra']);
    expect(poolsSelecting({ [ROLE]: 'infra' }, allPools, 'infra')).toEqual([]);
    expect(poolsSelecting(undefined, allPools)).toEqual([]);
  });
});
