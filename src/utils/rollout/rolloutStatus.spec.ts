import { clone } from '../fixtures/clone';
import {
  infraPool,
  masterPool,
  workerPool,
  workerPoolUpdating,
} from '../fixtures/machineConfigPools';
import type { MachineConfigPool } from '../types/k8s';
import { getRolloutStatus, rolloutSince } from './rolloutStatus';

describe('getRolloutStatus', () => {
  it('reports a converged pool as updated', () => {
    expect(getRolloutStatus(workerPool)).toMatchObject({
      phase: 'updated',
      machineCount: 3,
      updated: 3,
      percent: 100,
      reasons: [],
    });
    expect(getRolloutStatus(masterPool).phase).toBe('updated');
  });

  it('reports progress of a pool in the middle of a rollout', () => {
    const status = getRolloutStatus(workerPoolUpdating);
    expect(status).toMatchObject({
      phase: 'updating',
      updated: 1,
      ready: 1,
      unavailable: 1,
      percent: 33,
      targetConfig: 'rendered-worker-c48d1e0b6f7a239e51d4',
      currentConfig: 'rendered-worker-3f1c9e2a7b5d4c60e8a1',
    });
    expect(status.reasons.map((c) => c.type)).toEqual(['Updating']);
  });

  it('says a paused pool with a pending config is paused', () => {
    expect(getRolloutStatus(infraPool)).toMatchObject({ phase: 'paused', percent: 0 });
  });

  it('puts degradation first', () => {
    const degraded: MachineConfigPool = clone(workerPoolUpdating);
    degraded.status = { ...degraded.status, degradedMachineCount: 1 };
    expect(getRolloutStatus(degraded).phase).toBe('degraded');
    const renderDegraded: MachineConfigPool = clone(workerPool);
    renderDegraded.status?.conditions?.push({
      type: 'RenderDegraded',
      status: 'True',
      message: 'Failed to render configuration for pool worker',
    });
    const status = getRolloutStatus(renderDegraded);
    expect(status.phase).toBe('degraded');
    expect(status.reasons[0].message).toContain('Failed to render');
  });

  it('is pending until the controller observed a new generation', () => {
    const pending: MachineConfigPool = clone(workerPool);
    pending.metadata = { ...pending.metadata, generation: 5 };
    expect(getRolloutStatus(pending).phase).toBe('pending');
  });

  it('says a pool without status waits for the MCO', () => {
    const fresh: MachineConfigPool = { metadata: { name: 'new' }, spec: {} };
    expect(getRolloutStatus(fresh)).toMatchObject({ phase: 'pending', percent: 0 });
  });

  it('says a converged pool without machines has none, not that it is up to date', () => {
    const empty: MachineConfigPool = clone(workerPool);
    empty.status = { ...empty.status, machineCount: 0, updatedMachineCount: 0 };
    expect(getRolloutStatus(empty)).toMatchObject({ phase: 'empty', percent: 0 });
  });
});

describe('rolloutSince', () => {
  it('waits for the MCO until the pool targets a new rendered config', () => {
    const before = workerPool.spec.configuration?.name;
    expect(rolloutSince(getRolloutStatus(workerPool), before)).toMatchObject({
      phase: 'pending',
      updated: 0,
      percent: 0,
    });
    // The MCO rendered the change: the pool's own state from then on.
    expect(rolloutSince(getRolloutStatus(workerPoolUpdating), before)).toMatchObject({
      phase: 'updating',
      percent: 33,
    });
  });
});
