import { clone } from '../fixtures/clone';
import {
  failedCtrcfg,
  masterSlipstreamCtrcfg,
  workerCtrcfgWithStore,
  workerLogLevelCtrcfg,
} from '../fixtures/containerRuntimeConfigs';
import { featureGateDefault, featureGateTechPreview } from '../fixtures/featureGates';
import { masterPool, workerPool, workerPoolUpdating } from '../fixtures/machineConfigPools';
import { allNodes } from '../fixtures/nodes';
import type { NodeStatus } from '../types/hub';
import { additionalStorageGate } from './featureGate';
import { nextStep, poolAgentHealth, poolLazyState } from './lazyState';
import { getRolloutStatus } from './rolloutStatus';

const STORE = '/var/lib/slipstream/store';
const hubNode = (node: string, healthy = true): NodeStatus => ({
  node,
  agentVersion: '0.1.0',
  mountState: 'mounted',
  cache: { usedBytes: 1, capBytes: 2 },
  lastReportAt: '2026-11-22T07:40:00Z',
  healthy,
  layersServed: 3,
});

describe('poolLazyState', () => {
  it('is off without our store, applying during the rollout, on once converged', () => {
    expect(
      poolLazyState(workerPool, [workerLogLevelCtrcfg], STORE, getRolloutStatus(workerPool)),
    ).toBe('off');
    expect(
      poolLazyState(
        workerPoolUpdating,
        [workerCtrcfgWithStore],
        STORE,
        getRolloutStatus(workerPoolUpdating),
      ),
    ).toBe('applying');
    expect(
      poolLazyState(workerPool, [workerCtrcfgWithStore], STORE, getRolloutStatus(workerPool)),
    ).toBe('on');
  });

  it('is failed when the MCO reports a Failure condition', () => {
    expect(poolLazyState(masterPool, [failedCtrcfg], STORE, getRolloutStatus(masterPool))).toBe(
      'failed',
    );
    expect(
      poolLazyState(masterPool, [masterSlipstreamCtrcfg], STORE, getRolloutStatus(masterPool)),
    ).toBe('on');
  });
});

describe('poolLazyState and the store path', () => {
  it('recognises the store the wizard recorded at another path than the agent’s', () => {
    const custom = clone(workerCtrcfgWithStore);
    custom.metadata = {
      ...custom.metadata,
      annotations: { 'slipstream.io/layer-store': '/var/lib/other-store' },
    };
    custom.spec.containerRuntimeConfig = {
      ...custom.spec.containerRuntimeConfig,
      additionalLayerStores: [{ path: '/var/lib/other-store' }],
    };
    expect(poolLazyState(workerPool, [custom], STORE, getRolloutStatus(workerPool))).toBe('on');
  });

  it('recognises the agent’s path with a trailing slash', () => {
    const slash = clone(workerCtrcfgWithStore);
    slash.spec.containerRuntimeConfig = { additionalLayerStores: [{ path: `${STORE}/` }] };
    expect(poolLazyState(workerPool, [slash], STORE, getRolloutStatus(workerPool))).toBe('on');
  });

  it('calls a pool without machines on, not applying forever', () => {
    const empty = clone(workerPool);
    empty.status = { ...empty.status, machineCount: 0, updatedMachineCount: 0 };
    expect(poolLazyState(empty, [workerCtrcfgWithStore], STORE, getRolloutStatus(empty))).toBe(
      'on',
    );
  });
});

describe('poolAgentHealth', () => {
  it('lists the pool nodes without a healthy mounted agent', () => {
    const health = poolAgentHealth(workerPool, allNodes, [
      hubNode('ip-10-0-20-11.ec2.internal'),
      hubNode('ip-10-0-51-207.ec2.internal', false),
      hubNode('ip-10-0-12-34.ec2.internal'),
    ]);
    expect(health.nodes).toHaveLength(3);
    expect(health.healthy).toEqual(['ip-10-0-20-11.ec2.internal']);
    expect(health.missing).toEqual(['ip-10-0-51-207.ec2.internal', 'ip-10-0-88-19.ec2.internal']);
  });
});

describe('nextStep', () => {
  const onGate = additionalStorageGate(featureGateTechPreview);
  const allHealthy = { nodes: ['a'], healthy: ['a'], missing: [] };
  const updated = getRolloutStatus(workerPool);

  it('asks for the feature gate first', () => {
    expect(nextStep('off', updated, additionalStorageGate(featureGateDefault), allHealthy)).toBe(
      'enable-feature-gate',
    );
  });

  it('asks for the agent before enabling', () => {
    const missing = { nodes: ['a'], healthy: [], missing: ['a'] };
    expect(nextStep('off', updated, onGate, missing)).toBe('install-agent');
    expect(nextStep('off', updated, onGate, allHealthy)).toBe('enable');
  });

  it('follows the rollout', () => {
    const updating = getRolloutStatus(workerPoolUpdating);
    expect(nextStep('applying', updating, onGate, allHealthy)).toBe('wait-for-rollout');
    expect(nextStep('applying', { ...updating, paused: true }, onGate, allHealthy)).toBe(
      'unpause-pool',
    );
    expect(nextStep('on', updated, onGate, allHealthy)).toBe('none');
    expect(nextStep('failed', updated, onGate, allHealthy)).toBe('investigate-ctrcfg');
    expect(nextStep('on', { ...updated, phase: 'degraded' }, onGate, allHealthy)).toBe(
      'investigate-degraded',
    );
  });

  it('asks for the store MachineConfig of a pool that lists the store without it', () => {
    const updating = getRolloutStatus(workerPoolUpdating);
    expect(nextStep('on', updated, onGate, allHealthy, false)).toBe('add-store-machineconfig');
    expect(nextStep('applying', updating, onGate, allHealthy, false)).toBe(
      'add-store-machineconfig',
    );
    // Off: nothing lists the store, nothing to repair.
    expect(nextStep('off', updated, onGate, allHealthy, false)).toBe('enable');
    expect(nextStep('on', { ...updated, phase: 'degraded' }, onGate, allHealthy, false)).toBe(
      'investigate-degraded',
    );
  });
});
