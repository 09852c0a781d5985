import { k8sCreate, k8sDelete, k8sPatch } from '@openshift-console/dynamic-plugin-sdk';
import { useCallback, useState } from 'react';

import { deleteOptions } from '../../../utils/ctrcfg/ctrcfgChange';
import { ConfigMapModel, ContainerRuntimeConfigModel } from '../../../utils/models';
import type { ConfigMap } from '../../../utils/types/k8s';
import type { PoolPlan } from '../utils/planChanges';
import { agentConfigPatch, isConflict } from '../utils/requests';

export type StepResult = {
  id: string;
  status: 'pending' | 'done' | 'failed';
  error?: string;
  /** Refused because the object changed after the wizard read it. */
  conflict?: boolean;
};

export type AgentConfigUpdate = { configMap: ConfigMap; text: string };

const sendChange = (plan: PoolPlan): Promise<unknown> => {
  const { change } = plan;
  const model = ContainerRuntimeConfigModel;
  switch (change.action) {
    case 'patch':
      return k8sPatch({ model, resource: change.target, data: change.patch });
    case 'create':
      return k8sCreate({ model, data: change.object });
    case 'delete':
      return k8sDelete({ model, resource: change.target, json: deleteOptions(change.target) });
    default:
      return Promise.resolve();
  }
};

const sendAgentConfig = ({ configMap, text }: AgentConfigUpdate) =>
  k8sPatch({ model: ConfigMapModel, resource: configMap, data: agentConfigPatch(configMap, text) });

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Sends the agent options first (so the agent is ready before nodes reboot), then each pool's
 * change in order; a failure is recorded and the rest still run, because pools are independent.
 * Only an explicit Apply calls apply(), once.
 */
export const useApplyChanges = () => {
  const [results, setResults] = useState<StepResult[]>([]);
  const [running, setRunning] = useState(false);

  const apply = useCallback(async (plans: PoolPlan[], agentConfig?: AgentConfigUpdate) => {
    const jobs: { id: string; run: () => Promise<unknown> }[] = [];
    if (agentConfig) jobs.push({ id: 'agent-config', run: () => sendAgentConfig(agentConfig) });
    plans
      .filter((p) => !p.coveredBy && p.change.action !== 'none' && p.change.action !== 'blocked')
      .forEach((p) => jobs.push({ id: p.pool.metadata?.name ?? '', run: () => sendChange(p) }));
    setRunning(true);
    setResults(jobs.map(({ id }) => ({ id, status: 'pending' })));
    for (const job of jobs) {
      let result: StepResult;
      try {
        await job.run();
        result = { id: job.id, status: 'done' };
      } catch (e) {
        result = { id: job.id, status: 'failed', error: message(e), conflict: isConflict(e) };
      }
      setResults((prev) => prev.map((r) => (r.id === job.id ? result : r)));
    }
    setRunning(false);
  }, []);

  return { apply, results, running };
};
