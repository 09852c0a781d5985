import { readMountpoint } from '../agent-config/mountpoint';
import { AGENT_CONFIG_KEY } from '../constants';
import { ConfigMapModel, groupVersionKind } from '../models';
import type { ConfigMap } from '../types/k8s';
import { useHubAbout } from './useHubAbout';
import { useWatch } from './useWatch';

export type AgentConfig = {
  configMap: ConfigMap | undefined;
  namespace: string | undefined;
  /** The agent's mountpoint — the store path CRI-O must list; the hub's default until known. */
  storePath: string;
  loaded: boolean;
};

/** The agent's ConfigMap (namespace and name come from the hub's /about). */
export const useAgentConfig = (): AgentConfig => {
  const { about, storePath, agentConfigMap, loaded: aboutLoaded, error } = useHubAbout();
  const {
    data: configMap,
    loaded: cmLoaded,
    error: cmError,
  } = useWatch<ConfigMap>(
    about
      ? {
          groupVersionKind: groupVersionKind(ConfigMapModel),
          name: agentConfigMap,
          namespace: about.namespace,
        }
      : null,
  );
  const readable = about && !cmError ? configMap : undefined;
  return {
    configMap: readable,
    namespace: about?.namespace,
    storePath: readMountpoint(readable?.data?.[AGENT_CONFIG_KEY]) ?? storePath,
    loaded: (aboutLoaded && (!about || cmLoaded || Boolean(cmError))) || Boolean(error),
  };
};
