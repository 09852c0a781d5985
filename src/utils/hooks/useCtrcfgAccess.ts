import type { K8sModel, K8sVerb } from '@openshift-console/dynamic-plugin-sdk';
import { useAccessReview } from '@openshift-console/dynamic-plugin-sdk';

import { ContainerRuntimeConfigModel, MachineConfigModel } from '../models';

const review = (model: K8sModel, verb: K8sVerb) => ({
  group: model.apiGroup,
  resource: model.plural,
  verb,
});

/**
 * Whether the user may make every request the action can send: enabling patches the pool's
 * ContainerRuntimeConfig or creates one, and creates (or fixes) the pool's store MachineConfig;
 * disabling patches the ctrcfg or deletes the one the wizard created, and deletes the store
 * MachineConfig. Actions are shown only when allowed.
 */
export const useCtrcfgAccess = (
  action: 'enable' | 'disable',
): { allowed: boolean; loading: boolean } => {
  const [canPatch, patchLoading] = useAccessReview(review(ContainerRuntimeConfigModel, 'patch'));
  const [canCreateOrDelete, otherLoading] = useAccessReview(
    review(ContainerRuntimeConfigModel, action === 'enable' ? 'create' : 'delete'),
  );
  const [canChangeMc, mcLoading] = useAccessReview(
    review(MachineConfigModel, action === 'enable' ? 'create' : 'delete'),
  );
  // Enabling patches a store MachineConfig that creates another directory; disabling never does.
  const [canPatchMc, mcPatchLoading] = useAccessReview(
    review(MachineConfigModel, action === 'enable' ? 'patch' : 'delete'),
  );
  return {
    allowed: canPatch && canCreateOrDelete && canChangeMc && canPatchMc,
    loading: patchLoading || otherLoading || mcLoading || mcPatchLoading,
  };
};
