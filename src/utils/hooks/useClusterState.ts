import {
  ContainerRuntimeConfigModel,
  FeatureGateModel,
  groupVersionKind,
  MachineConfigPoolModel,
  NodeModel,
} from '../models';
import type { ContainerRuntimeConfig, FeatureGate, MachineConfigPool, Node } from '../types/k8s';
import { useWatch } from './useWatch';

export type ClusterState = {
  pools: MachineConfigPool[];
  ctrcfgs: ContainerRuntimeConfig[];
  nodes: Node[];
  featureGate: FeatureGate | undefined;
  loaded: boolean;
  error: unknown;
};

/** Live pools, ContainerRuntimeConfigs, nodes and the cluster FeatureGate (websocket watches). */
export const useClusterState = (): ClusterState => {
  const pools = useWatch<MachineConfigPool[]>({
    groupVersionKind: groupVersionKind(MachineConfigPoolModel),
    isList: true,
  });
  const ctrcfgs = useWatch<ContainerRuntimeConfig[]>({
    groupVersionKind: groupVersionKind(ContainerRuntimeConfigModel),
    isList: true,
  });
  const nodes = useWatch<Node[]>({
    groupVersionKind: groupVersionKind(NodeModel),
    isList: true,
  });
  const featureGate = useWatch<FeatureGate>({
    groupVersionKind: groupVersionKind(FeatureGateModel),
    name: 'cluster',
  });
  return {
    pools: pools.data ?? [],
    ctrcfgs: ctrcfgs.data ?? [],
    nodes: nodes.data ?? [],
    // A user who may not read the FeatureGate still gets the page, with the gate "unknown".
    featureGate: featureGate.error ? undefined : featureGate.data,
    loaded:
      pools.loaded &&
      ctrcfgs.loaded &&
      (nodes.loaded || Boolean(nodes.error)) &&
      (featureGate.loaded || Boolean(featureGate.error)),
    error: pools.error ?? ctrcfgs.error,
  };
};
