import { clone } from '../fixtures/clone';
import {
  masterSlipstreamCtrcfg,
  workerCtrcfgWithStore,
  workerLogLevelCtrcfg,
} from '../fixtures/containerRuntimeConfigs';
import { infraPool, masterPool, workerPool } from '../fixtures/machineConfigPools';
import type { ContainerRuntimeConfig, MachineConfigPool } from '../types/k8s';
import {
  buildDisableChange,
  buildEnableChange,
  ctrcfgsSelectingPool,
  poolSlipstreamStore,
  slipstreamStoreIndexes,
} from './ctrcfgChange';
import { applyJsonPatch, PatchError } from './jsonPatch';
import { deleteOptions } from './preconditions';

const STORE = '/var/lib/slipstream/store';
const OTHER = '/var/lib/other-store';
const RECORD = '/metadata/annotations/slipstream.io~1layer-store';
/** The guard every patch of workerLogLevelCtrcfg starts with. */
const UNCHANGED = { op: 'test', path: '/metadata/resourceVersion', value: '2790034' };

/** The object as someone else left it after the wizard read it (a new resourceVersion). */
const changedMeanwhile = (
  ctrcfg: ContainerRuntimeConfig,
  edit: (c: ContainerRuntimeConfig) => void,
): ContainerRuntimeConfig => {
  const live = clone(ctrcfg);
  edit(live);
  live.metadata = { ...live.metadata, resourceVersion: '9999999' };
  return live;
};

describe('ctrcfgsSelectingPool', () => {
  it('matches by the pool labels, not by name', () => {
    const all = [workerLogLevelCtrcfg, masterSlipstreamCtrcfg];
    expect(ctrcfgsSelectingPool(workerPool, all)).toEqual([workerLogLevelCtrcfg]);
    expect(ctrcfgsSelectingPool(masterPool, all)).toEqual([masterSlipstreamCtrcfg]);
    expect(ctrcfgsSelectingPool(infraPool, all)).toEqual([]);
  });
});

describe('buildEnableChange', () => {
  it('patches the existing ctrcfg of the pool and keeps its other settings', () => {
    const change = buildEnableChange(workerPool, [workerLogLevelCtrcfg], STORE);
    expect(change).toEqual({
      action: 'patch',
      target: workerLogLevelCtrcfg,
      patch: [
        UNCHANGED,
        {
          op: 'add',
          path: '/spec/containerRuntimeConfig/additionalLayerStores',
          value: [{ path: STORE }],
        },
        { op: 'add', path: RECORD, value: STORE },
      ],
    });
    if (change.action !== 'patch') throw new Error('expected a patch');
    const result = applyJsonPatch(workerLogLevelCtrcfg, change.patch);
    expect(result.spec.containerRuntimeConfig).toEqual({
      logLevel: 'debug',
      pidsLimit: 4096,
      additionalLayerStores: [{ path: STORE }],
    });
  });

  it('appends to an existing list behind a test op', () => {
    const other = clone(workerLogLevelCtrcfg);
    other.spec.containerRuntimeConfig = { additionalLayerStores: [{ path: '/var/lib/other' }] };
    const change = buildEnableChange(workerPool, [other], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    expect(change.patch.slice(0, 2)).toEqual([
      UNCHANGED,
      {
        op: 'test',
        path: '/spec/containerRuntimeConfig/additionalLayerStores',
        value: [{ path: '/var/lib/other' }],
      },
    ]);
    const result = applyJsonPatch(other, change.patch);
    expect(result.spec.containerRuntimeConfig?.additionalLayerStores).toEqual([
      { path: '/var/lib/other' },
      { path: STORE },
    ]);
    // Someone else changed the list since: the API server would refuse the same patch.
    const changed = clone(other);
    changed.spec.containerRuntimeConfig = { additionalLayerStores: [{ path: '/x' }] };
    expect(() => applyJsonPatch(changed, change.patch)).toThrow(PatchError);
  });

  it('creates one labelled ctrcfg only when none selects the pool', () => {
    const change = buildEnableChange(workerPool, [masterSlipstreamCtrcfg], STORE);
    expect(change).toEqual({
      action: 'create',
      object: {
        apiVersion: 'machineconfiguration.openshift.io/v1',
        kind: 'ContainerRuntimeConfig',
        metadata: {
          name: 'slipstream-worker',
          labels: { 'slipstream.io/created-by': 'slipstream-console' },
          annotations: { 'slipstream.io/layer-store': STORE },
        },
        spec: {
          machineConfigPoolSelector: {
            matchLabels: { 'pools.operator.machineconfiguration.openshift.io/worker': '' },
          },
          containerRuntimeConfig: { additionalLayerStores: [{ path: STORE }] },
        },
      },
    });
  });

  it('never adds a second ctrcfg and never picks one of two', () => {
    const second: ContainerRuntimeConfig = {
      ...workerLogLevelCtrcfg,
      metadata: { name: 'another' },
    };
    expect(buildEnableChange(workerPool, [workerLogLevelCtrcfg, second], STORE)).toEqual({
      action: 'blocked',
      reason: 'multiple-ctrcfgs',
      names: ['set-log-level', 'another'],
    });
  });

  it('does nothing when the store is already there', () => {
    expect(buildEnableChange(workerPool, [workerCtrcfgWithStore], STORE).action).toBe('none');
  });

  it('refuses a custom pool without the pools.operator label', () => {
    expect(buildEnableChange(infraPool, [], STORE)).toEqual({
      action: 'blocked',
      reason: 'no-pool-label',
      names: ['infra'],
    });
  });

  it('refuses a sixth store', () => {
    const full = clone(workerLogLevelCtrcfg);
    full.spec.containerRuntimeConfig = {
      additionalLayerStores: ['/a', '/b', '/c', '/d', '/e'].map((path) => ({ path })),
    };
    expect(buildEnableChange(workerPool, [full], STORE).action).toBe('blocked');
  });
});

describe('buildDisableChange', () => {
  it('removes only our store, keeping the admin settings', () => {
    const change = buildDisableChange(workerPool, [workerCtrcfgWithStore], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    const result = applyJsonPatch(workerCtrcfgWithStore, change.patch);
    expect(result.spec.containerRuntimeConfig).toEqual({ logLevel: 'debug', pidsLimit: 4096 });
  });

  it('removes one entry of several', () => {
    const two = clone(workerCtrcfgWithStore);
    two.spec.containerRuntimeConfig = {
      additionalLayerStores: [{ path: '/var/lib/other' }, { path: STORE }],
    };
    const change = buildDisableChange(workerPool, [two], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    expect(change.patch).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '2852101' },
      {
        op: 'test',
        path: '/spec/containerRuntimeConfig/additionalLayerStores/1/path',
        value: STORE,
      },
      { op: 'remove', path: '/spec/containerRuntimeConfig/additionalLayerStores/1' },
    ]);
    expect(
      applyJsonPatch(two, change.patch).spec.containerRuntimeConfig?.additionalLayerStores,
    ).toEqual([{ path: '/var/lib/other' }]);
  });

  it('deletes the ctrcfg only when we created it', () => {
    expect(buildDisableChange(masterPool, [masterSlipstreamCtrcfg], STORE)).toEqual({
      action: 'delete',
      target: masterSlipstreamCtrcfg,
    });
  });

  it('patches a ctrcfg we created once an admin added settings to it', () => {
    const edited = clone(masterSlipstreamCtrcfg);
    edited.spec.containerRuntimeConfig = {
      ...edited.spec.containerRuntimeConfig,
      logLevel: 'info',
    };
    expect(buildDisableChange(masterPool, [edited], STORE).action).toBe('patch');
  });

  it('does nothing when the pool has no Slipstream store', () => {
    expect(buildDisableChange(workerPool, [workerLogLevelCtrcfg], STORE)).toEqual({
      action: 'none',
    });
  });
});

describe('concurrent edits', () => {
  it('refuses to replace a list someone added after the wizard read the ctrcfg', () => {
    const change = buildEnableChange(workerPool, [workerLogLevelCtrcfg], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    const live = changedMeanwhile(workerLogLevelCtrcfg, (c) => {
      c.spec.containerRuntimeConfig = {
        ...c.spec.containerRuntimeConfig,
        additionalLayerStores: [{ path: '/var/lib/other-vendor/store' }],
      };
    });
    // Without the test op, "add …/additionalLayerStores" would silently replace their list.
    expect(() => applyJsonPatch(live, change.patch)).toThrow(PatchError);
  });

  it('refuses to wipe settings added to a ctrcfg that had no containerRuntimeConfig', () => {
    const bare = clone(workerLogLevelCtrcfg);
    delete bare.spec.containerRuntimeConfig;
    const change = buildEnableChange(workerPool, [bare], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    expect(change.patch[1]).toMatchObject({ op: 'add', path: '/spec/containerRuntimeConfig' });
    expect(applyJsonPatch(bare, change.patch).spec.containerRuntimeConfig).toEqual({
      additionalLayerStores: [{ path: STORE }],
    });
    const live = changedMeanwhile(bare, (c) => {
      c.spec.containerRuntimeConfig = { pidsLimit: 8192, logLevel: 'info' };
    });
    expect(() => applyJsonPatch(live, change.patch)).toThrow(PatchError);
  });

  it('guards the disable patch and the delete', () => {
    const change = buildDisableChange(workerPool, [workerCtrcfgWithStore], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    const live = changedMeanwhile(workerCtrcfgWithStore, () => undefined);
    expect(() => applyJsonPatch(live, change.patch)).toThrow(PatchError);
    expect(deleteOptions(masterSlipstreamCtrcfg)).toEqual({
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      preconditions: {
        uid: '4f7f3c0d-1d2b-4c80-b3c1-7e9d6ab0f812',
        resourceVersion: '2845518',
      },
    });
  });
});

describe('a custom pool whose pool label has a value', () => {
  const gpu: MachineConfigPool = {
    ...clone(workerPool),
    metadata: {
      name: 'gpu',
      labels: { 'pools.operator.machineconfiguration.openshift.io/gpu': 'true' },
    },
  };

  it('is selected by the label with its value, so the created ctrcfg reaches it', () => {
    const change = buildEnableChange(gpu, [], STORE);
    if (change.action !== 'create') throw new Error('expected a create');
    expect(change.object.spec.machineConfigPoolSelector).toEqual({
      matchLabels: { 'pools.operator.machineconfiguration.openshift.io/gpu': 'true' },
    });
    expect(ctrcfgsSelectingPool(gpu, [change.object])).toEqual([change.object]);
  });
});

describe('the store the wizard added at a custom path', () => {
  const enabled = (ctrcfg: ContainerRuntimeConfig, path: string) => {
    const change = buildEnableChange(workerPool, [ctrcfg], path, STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    return applyJsonPatch(ctrcfg, change.patch);
  };

  it('is recognised as the pool’s store although the agent mounts another path', () => {
    const after = enabled(workerLogLevelCtrcfg, OTHER);
    expect(after.metadata?.annotations).toEqual({
      'machineconfiguration.openshift.io/mc-name-suffix': '',
      'slipstream.io/layer-store': OTHER,
    });
    expect(slipstreamStoreIndexes(after, STORE)).toEqual([0]);
    expect(poolSlipstreamStore(workerPool, [after], STORE)?.paths).toEqual([OTHER]);
  });

  it('is removed exactly by disabling, and the ctrcfg is as the admin left it', () => {
    const after = enabled(workerLogLevelCtrcfg, OTHER);
    const change = buildDisableChange(workerPool, [after], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    const restored = applyJsonPatch(after, change.patch);
    expect(restored.spec).toEqual(workerLogLevelCtrcfg.spec);
    expect(restored.metadata?.annotations).toEqual(workerLogLevelCtrcfg.metadata?.annotations);
  });

  it('keeps a store someone else listed next to it', () => {
    const withOther = clone(workerLogLevelCtrcfg);
    withOther.spec.containerRuntimeConfig = { additionalLayerStores: [{ path: '/vendor' }] };
    const after = enabled(withOther, OTHER);
    const change = buildDisableChange(workerPool, [after], STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    expect(
      applyJsonPatch(after, change.patch).spec.containerRuntimeConfig?.additionalLayerStores,
    ).toEqual([{ path: '/vendor' }]);
  });

  it('is not given a second store when enabled again, at any path', () => {
    const after = enabled(workerLogLevelCtrcfg, OTHER);
    expect(buildEnableChange(workerPool, [after], OTHER, STORE).action).toBe('none');
    expect(buildEnableChange(workerPool, [after], STORE, STORE)).toEqual({
      action: 'blocked',
      reason: 'other-slipstream-store',
      names: [OTHER],
    });
  });

  it('treats a trailing slash as the same path', () => {
    const slash = clone(workerLogLevelCtrcfg);
    slash.spec.containerRuntimeConfig = { additionalLayerStores: [{ path: `${STORE}/` }] };
    expect(buildEnableChange(workerPool, [slash], STORE).action).toBe('none');
    expect(slipstreamStoreIndexes(slash, STORE)).toEqual([0]);
    const change = buildEnableChange(workerPool, [workerLogLevelCtrcfg], `${OTHER}/`, STORE);
    if (change.action !== 'patch') throw new Error('expected a patch');
    expect(change.patch[1]).toMatchObject({ value: [{ path: OTHER }] });
  });
});
