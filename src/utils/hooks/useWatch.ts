import type { K8sResourceCommon, WatchK8sResource } from '@openshift-console/dynamic-plugin-sdk';
import { useK8sWatchResource } from '@openshift-console/dynamic-plugin-sdk';

export type Watched<T> = { data: T | undefined; loaded: boolean; error: unknown };

/** useK8sWatchResource with a typed (unknown) error instead of the SDK's `any`. */
export const useWatch = <T extends K8sResourceCommon | K8sResourceCommon[]>(
  resource: WatchK8sResource | null,
): Watched<T> => {
  const result = useK8sWatchResource<T>(resource);
  const error: unknown = result[2];
  return { data: result[0], loaded: result[1], error };
};
