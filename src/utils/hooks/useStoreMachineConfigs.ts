import { CREATED_BY_LABEL, CREATED_BY_VALUE } from '../constants';
import { groupVersionKind, MachineConfigModel } from '../models';
import type { MachineConfig } from '../types/k8s';
import type { Watched } from './useWatch';
import { useWatch } from './useWatch';

/**
 * The MachineConfigs the wizard created (the store directory of each enabled pool), watched by
 * their created-by label: a cluster holds hundreds of other MachineConfigs (every rendered-*), and
 * listing them all on each wizard visit would be wasteful.
 */
export const useStoreMachineConfigs = (): Watched<MachineConfig[]> =>
  useWatch<MachineConfig[]>({
    groupVersionKind: groupVersionKind(MachineConfigModel),
    isList: true,
    selector: { matchLabels: { [CREATED_BY_LABEL]: CREATED_BY_VALUE } },
  });

/**
 * The store MachineConfigs when they are known: undefined while loading, or when the user may not
 * list MachineConfigs (then no pool is flagged for a missing one).
 */
export const useKnownStoreMachineConfigs = (): MachineConfig[] | undefined => {
  const { data, loaded, error } = useStoreMachineConfigs();
  return loaded && !error ? data : undefined;
};
