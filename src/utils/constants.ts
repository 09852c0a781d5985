export const PLUGIN_NAME = 'slipstream';
export const I18N_NAMESPACE = 'plugin__slipstream';
export const HUB_API = '/api/proxy/plugin/slipstream/hub/api/v1';
export const DEFAULT_STORE_PATH = '/var/lib/slipstream/store';
export const DEFAULT_AGENT_CONFIGMAP = 'slipstream-agent';
export const AGENT_CONFIG_KEY = 'agent.yaml';
/** Label put on a ContainerRuntimeConfig the wizard created, so that disabling may delete it. */
export const CREATED_BY_LABEL = 'slipstream.io/created-by';
export const CREATED_BY_VALUE = 'slipstream-console';
/**
 * Annotation on a ContainerRuntimeConfig naming the layer store the wizard added to it, so that the
 * pool's state and disabling find exactly that store even when it is not the agent's mountpoint.
 */
export const STORE_ANNOTATION = 'slipstream.io/layer-store';
export const ALS_FEATURE_GATE = 'AdditionalStorageConfig';
export const FLAG_HUB = 'SLIPSTREAM_HUB';
export const FLAG_ALS_GATE = 'SLIPSTREAM_ALS_GATE';

export const ROUTES = {
  overview: '/lazy-pulling',
  wizard: '/lazy-pulling/configure',
  dashboards: '/lazy-pulling/startup',
} as const;
