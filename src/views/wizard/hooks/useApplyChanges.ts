import { k8sCreate, k8sDelete, k8sPatch } from '@openshift-console/dynamic-plugin-sdk';
import { useCallback, useState } from 'react';

import type { CtrcfgChange } from '../../../utils/ctrcfg/ctrcfgChange';
import { deleteOptions } from '../../../utils/ctrcfg/preconditions';
import type { MachineConfigChange } from '../../../utils/machineconfig/storeMachineConfigChange';
import {
  ConfigMapModel,
  ContainerRuntimeConfigModel,
  MachineConfigModel,
} from '../../../utils/models';
import type { ConfigMap } from '../../../utils/types/k8s';
import type { PlannedRequest, SkipReason } from '../utils/applyOrder';
import { applyOrder } from '../utils/applyOrder';
import type { PoolPlan, WizardAction } from '../utils/planChanges';
import { agentConfigPatch, isConflict } from '../utils/requests';

export type StepResult = {
  id: string;
  status: 'pending' | 'done' | 'failed' | 'skipped';
  error?: string;
  /** Refused because the object changed after the wizard read it. */
  conflict?: boolean;
  /** Set for a store MachineConfig request: the MachineConfig's name. */
  machineConfig?: string;
  /** Why a skipped request was not sent. */
  skipReason?: SkipReason;
};

export type AgentConfigUpdate = { configMap: ConfigMap; text: string };

const send = (
  model: typeof ContainerRuntimeConfigModel,
  change: CtrcfgChange | MachineConfigChange,
): Promise<unknown> => {
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

const sendRequest = ({ kind, plan }: PlannedRequest): Promise<unknown> =>
  kind === 'ctrcfg'
    ? send(ContainerRuntimeConfigModel, plan.change)
    : send(MachineConfigModel, plan.machineConfig);

const machineConfigName = ({ kind, plan }: PlannedRequest): string | undefined => {
  if (kind !== 'machineconfig') return undefined;
  const change = plan.machineConfig;
  if (change.action === 'create') return change.object.metadata?.name;
  return change.action === 'patch' || change.action === 'delete'
    ? change.target.metadata?.name
    : undefined;
};

const sendAgentConfig = ({ configMap, text }: AgentConfigUpdate) =>
  k8sPatch({ model: ConfigMapModel, resource: configMap, data: agentConfigPatch(configMap, text) });

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

type Job = {
  id: string;
  run: () => Promise<unknown>;
  after: string[];
  machineConfig?: string;
  skipReason?: SkipReason;
};

/**
 * Sends the agent options first (so the agent is ready before nodes reboot), then each pool's
 * requests in the order applyOrder gives: a failure is recorded and the rest still run, because
 * pools are independent — except a request that depends on a failed one, which is not sent.
 * Only an explicit Apply calls apply(), once.
 */
export const useApplyChanges = () => {
  const [results, setResults] = useState<StepResult[]>([]);
  const [running, setRunning] = useState(false);

  const apply = useCallback(
    async (action: WizardAction, plans: PoolPlan[], agentConfig?: AgentConfigUpdate) => {
      const jobs: Job[] = [];
      if (agentConfig) {
        jobs.push({ id: 'agent-config', run: () => sendAgentConfig(agentConfig), after: [] });
      }
      applyOrder(action, plans).forEach((request) =>
        jobs.push({
          id: request.id,
          run: () => sendRequest(request),
          after: request.after,
          machineConfig: machineConfigName(request),
          skipReason: request.skipReason,
        }),
      );
      const label = ({ id, machineConfig }: Job): StepResult =>
        machineConfig ? { id, status: 'pending', machineConfig } : { id, status: 'pending' };
      setRunning(true);
      setResults(jobs.map(label));
      const done = new Set<string>();
      for (const job of jobs) {
        let result: StepResult;
        if (!job.after.every((id) => done.has(id))) {
          result = { ...label(job), status: 'skipped', skipReason: job.skipReason };
        } else {
          try {
            await job.run();
            done.add(job.id);
            result = { ...label(job), status: 'done' };
          } catch (e) {
            result = {
              ...label(job),
              status: 'failed',
              error: message(e),
              conflict: isConflict(e),
            };
          }
        }
        setResults((prev) => prev.map((r) => (r.id === job.id ? result : r)));
      }
      setRunning(false);
    },
    [],
  );

  return { apply, results, running };
};
