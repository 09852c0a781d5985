import type { K8sVerb } from '@openshift-console/dynamic-plugin-sdk';
import { useAccessReview } from '@openshift-console/dynamic-plugin-sdk';

import { ContainerRuntimeConfigModel } from '../models';

const review = (verb: K8sVerb) => ({
  group: ContainerRuntimeConfigModel.apiGroup,
  resource: ContainerRuntimeConfigModel.plural,
  verb,
});

/**
 * Whether the user may make every request the action can send: enabling patches the pool's
 * ContainerRuntimeConfig or creates one, disabling patches it or deletes the one the wizard
 * created. Actions are shown only when allowed.
 */
export const useCtrcfgAccess = (
  action: 'enable' | 'disable',
): { allowed: boolean; loading: boolean } => {
  const [canPatch, patchLoading] = useAccessReview(review('patch'));
  const [canCreateOrDelete, otherLoading] = useAccessReview(
    review(action === 'enable' ? 'create' : 'delete'),
  );
  return { allowed: canPatch && canCreateOrDelete, loading: patchLoading || otherLoading };
};
