// The optimistic-concurrency guards every wizard request carries, so that the API server refuses it
// when someone changed the object after the wizard read it.
import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';

import type { PatchOperation } from './jsonPatch';

/** The leading op of a patch: refused (422) once the object's resourceVersion moved on. */
export const unchangedSince = (target: K8sResourceCommon): PatchOperation[] =>
  target.metadata?.resourceVersion === undefined
    ? []
    : [{ op: 'test', path: '/metadata/resourceVersion', value: target.metadata.resourceVersion }];

/** DeleteOptions whose preconditions make the API server refuse (409) a changed object. */
export const deleteOptions = (target: K8sResourceCommon) => ({
  kind: 'DeleteOptions',
  apiVersion: 'v1',
  preconditions: {
    ...(target.metadata?.uid ? { uid: target.metadata.uid } : {}),
    ...(target.metadata?.resourceVersion
      ? { resourceVersion: target.metadata.resourceVersion }
      : {}),
  },
});
