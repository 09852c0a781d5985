// The cluster the host shows: recorded object shapes from src/utils/fixtures.
import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';

import { agentConfigMap } from '../../src/utils/fixtures/agentConfigMap';
import {
  masterSlipstreamCtrcfg,
  workerLogLevelCtrcfg,
} from '../../src/utils/fixtures/containerRuntimeConfigs';
import { featureGateTechPreview } from '../../src/utils/fixtures/featureGates';
import { allPools } from '../../src/utils/fixtures/machineConfigPools';
import { allNodes } from '../../src/utils/fixtures/nodes';
import { lazyPod } from '../../src/utils/fixtures/pods';

const workerNode = (name: string): K8sResourceCommon => ({
  ...allNodes[3],
  metadata: { ...allNodes[3].metadata, name, labels: { 'node-role.kubernetes.io/worker': '' } },
});

/**
 * master: on (our ctrcfg); worker: off (an admin ctrcfg exists); infra: custom, paused. The worker
 * nodes are the ones the hub's agents report from, so agent health joins real hub data.
 */
export const cluster = (hubNodes: string[]): K8sResourceCommon[] => [
  ...allPools,
  workerLogLevelCtrcfg,
  masterSlipstreamCtrcfg,
  featureGateTechPreview,
  ...allNodes.filter((n) => n.metadata?.labels?.['node-role.kubernetes.io/worker'] === undefined),
  ...hubNodes.map(workerNode),
  agentConfigMap,
  lazyPod,
];
