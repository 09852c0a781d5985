import type { K8sModel } from '@openshift-console/dynamic-plugin-sdk';

// The SDK exports no models for these kinds; the shapes follow openshift/api (release-4.22).

export const MachineConfigPoolModel: K8sModel = {
  apiGroup: 'machineconfiguration.openshift.io',
  apiVersion: 'v1',
  kind: 'MachineConfigPool',
  plural: 'machineconfigpools',
  abbr: 'MCP',
  label: 'MachineConfigPool',
  labelPlural: 'MachineConfigPools',
  namespaced: false,
};

export const ContainerRuntimeConfigModel: K8sModel = {
  apiGroup: 'machineconfiguration.openshift.io',
  apiVersion: 'v1',
  kind: 'ContainerRuntimeConfig',
  plural: 'containerruntimeconfigs',
  abbr: 'CRC',
  label: 'ContainerRuntimeConfig',
  labelPlural: 'ContainerRuntimeConfigs',
  namespaced: false,
};

export const MachineConfigModel: K8sModel = {
  apiGroup: 'machineconfiguration.openshift.io',
  apiVersion: 'v1',
  kind: 'MachineConfig',
  plural: 'machineconfigs',
  abbr: 'MC',
  label: 'MachineConfig',
  labelPlural: 'MachineConfigs',
  namespaced: false,
};

export const FeatureGateModel: K8sModel = {
  apiGroup: 'config.openshift.io',
  apiVersion: 'v1',
  kind: 'FeatureGate',
  plural: 'featuregates',
  abbr: 'FG',
  label: 'FeatureGate',
  labelPlural: 'FeatureGates',
  namespaced: false,
};

export const ConfigMapModel: K8sModel = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  abbr: 'CM',
  label: 'ConfigMap',
  labelPlural: 'ConfigMaps',
  namespaced: true,
};

export const NodeModel: K8sModel = {
  apiVersion: 'v1',
  kind: 'Node',
  plural: 'nodes',
  abbr: 'N',
  label: 'Node',
  labelPlural: 'Nodes',
  namespaced: false,
};

export const PodModel: K8sModel = {
  apiVersion: 'v1',
  kind: 'Pod',
  plural: 'pods',
  abbr: 'P',
  label: 'Pod',
  labelPlural: 'Pods',
  namespaced: true,
};

/** "group~version~Kind" reference used by useK8sWatchResource's groupVersionKind. */
export const groupVersionKind = (model: K8sModel) => ({
  group: model.apiGroup,
  version: model.apiVersion,
  kind: model.kind,
});
