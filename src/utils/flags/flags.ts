// console.flag handlers: "hub installed" (its /about answers through the console proxy) and
// "AdditionalStorageConfig gate on" (from featuregates.config.openshift.io/cluster).
import type { SetFeatureFlag } from '@openshift-console/dynamic-plugin-sdk';
import { consoleFetchJSON, k8sGet } from '@openshift-console/dynamic-plugin-sdk';

import { FLAG_ALS_GATE, FLAG_HUB, HUB_API } from '../constants';
import { FeatureGateModel } from '../models';
import { additionalStorageGate } from '../rollout/featureGate';
import type { FeatureGate } from '../types/k8s';

export const hubInstalledHandler = (setFlag: SetFeatureFlag): void => {
  consoleFetchJSON(`${HUB_API}/about`).then(
    () => setFlag(FLAG_HUB, true),
    () => setFlag(FLAG_HUB, false),
  );
};

export const alsGateHandler = (setFlag: SetFeatureFlag): void => {
  k8sGet({ model: FeatureGateModel, name: 'cluster' }).then(
    (fg) => setFlag(FLAG_ALS_GATE, additionalStorageGate(fg as FeatureGate).enabled === true),
    () => setFlag(FLAG_ALS_GATE, false),
  );
};
