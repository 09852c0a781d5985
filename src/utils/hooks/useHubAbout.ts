import { DEFAULT_AGENT_CONFIGMAP, DEFAULT_STORE_PATH } from '../constants';
import type { About } from '../types/hub';
import { useHubQuery } from './useHubQuery';

export type HubAbout = { about: About | undefined; loaded: boolean; error: Error | undefined };

/** Where the agent config lives and the default store path; sensible defaults while unknown. */
export const useHubAbout = (): HubAbout & { storePath: string; agentConfigMap: string } => {
  const { data, loaded, error } = useHubQuery('about');
  return {
    about: data,
    loaded,
    error,
    storePath: data?.storePathDefault ?? DEFAULT_STORE_PATH,
    agentConfigMap: data?.agentConfigMap ?? DEFAULT_AGENT_CONFIGMAP,
  };
};
