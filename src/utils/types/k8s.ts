import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';

export type LabelSelector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};

export type Condition = {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
};

export type MachineConfigPool = K8sResourceCommon & {
  spec: {
    machineConfigSelector?: LabelSelector;
    nodeSelector?: LabelSelector;
    paused?: boolean;
    maxUnavailable?: number | string;
    configuration?: { name?: string; source?: { kind?: string; name: string }[] };
  };
  status?: {
    observedGeneration?: number;
    configuration?: { name?: string; source?: { kind?: string; name: string }[] };
    machineCount?: number;
    updatedMachineCount?: number;
    readyMachineCount?: number;
    unavailableMachineCount?: number;
    degradedMachineCount?: number;
    conditions?: Condition[];
  };
};

export type StorePath = { path: string };

export type ContainerRuntimeConfig = K8sResourceCommon & {
  spec: {
    machineConfigPoolSelector?: LabelSelector;
    containerRuntimeConfig?: {
      additionalLayerStores?: StorePath[];
      additionalImageStores?: StorePath[];
      additionalArtifactStores?: StorePath[];
      logLevel?: string;
      pidsLimit?: number;
      [key: string]: unknown;
    };
  };
  status?: { observedGeneration?: number; conditions?: Condition[] };
};

/** One file of an Ignition 3.x config, as a MachineConfig carries it (mode in decimal: 420 = 0644). */
export type IgnitionFile = {
  path: string;
  mode?: number;
  overwrite?: boolean;
  contents?: { source?: string; compression?: string };
  user?: { name?: string };
  group?: { name?: string };
};

export type MachineConfig = K8sResourceCommon & {
  spec: {
    config?: {
      ignition: { version: string };
      storage?: { files?: IgnitionFile[]; [key: string]: unknown };
      [key: string]: unknown;
    };
    [key: string]: unknown;
  };
};

export type FeatureGate = K8sResourceCommon & {
  spec?: { featureSet?: string };
  status?: {
    featureGates?: {
      version: string;
      enabled?: { name: string }[];
      disabled?: { name: string }[];
    }[];
  };
};

export type ConfigMap = K8sResourceCommon & { data?: Record<string, string> };

export type Node = K8sResourceCommon & {
  status?: { conditions?: Condition[] };
};

export type ContainerStatus = {
  name: string;
  image: string;
  imageID?: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  state?: { running?: { startedAt?: string }; waiting?: { reason?: string } };
};

export type Pod = K8sResourceCommon & {
  spec?: { nodeName?: string; containers: { name: string; image: string }[] };
  status?: {
    phase?: string;
    startTime?: string;
    conditions?: Condition[];
    containerStatuses?: ContainerStatus[];
  };
};
