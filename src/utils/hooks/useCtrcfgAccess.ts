import type { K8sVerb } from '@openshift-console/dynamic-plugin-sdk';
import { useAccessReview } from '@openshift-console/dynamic-plugin-sdk';

import { ContainerRuntimeConfigModel } from '../models';

const review = (verb: K8sVerb) => ({
  group: ContainerRuntimeConfigModel.apiGroup,
  resource: ContainerRuntimeConfigModel.plural,
  verb,
});

/** Whether the user may change ContainerRuntimeConfigs: actions are shown only when allowed. */
export const useCtrcfgAccess = (): { allowed: boolean; loading: boolean } => {
  const [canPatch, patchLoading] = useAccessReview(review('patch'));
  const [canCreate, createLoading] = useAccessReview(review('create'));
  return { allowed: canPatch && canCreate, loading: patchLoading || createLoading };
};
