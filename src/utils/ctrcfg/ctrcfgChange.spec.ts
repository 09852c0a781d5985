import { clone } from '../fixtures/clone';
import {
  masterSlipstreamCtrcfg,
  workerCtrcfgWithStore,
  workerLogLevelCtrcfg,
} from '../fixtures/containerRuntimeConfigs';
import { infraPool, masterPool, workerPool } from '../fixtures/machineConfigPools';
import type { ContainerRuntimeConfig } from '../types/k8s';
import { buildDisableChange, buildEnableChange, ctrcfgsSelectingPool } from './ctrcfgChange';
import { applyJsonPatch, PatchError } from './jsonPatch';

const STORE = '/var/lib/slipstream/store';

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
        {
          op: 'add',
          path: '/spec/containerRuntimeConfig/additionalLayerStores',
          value: [{ path: STORE }],
        },
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
    expect(change.patch[0]).toEqual({
      op: 'test',
      path: '/spec/containerRuntimeConfig/additionalLayerStores',
      value: [{ path: '/var/lib/other' }],
    });
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
