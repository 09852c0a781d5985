// Store-path validation, mirroring the openshift/api StorePath rules for
// ContainerRuntimeConfig.spec.containerRuntimeConfig.additionalLayerStores (release-4.22), so the
// wizard rejects what the API server would reject before anything is sent.

export const MAX_STORE_PATH_LENGTH = 256;
export const MAX_LAYER_STORES = 5;
const STORE_PATH_PATTERN = /^\/[a-zA-Z0-9/._-]+$/;

export type StorePathError =
  | 'empty'
  | 'not-absolute'
  | 'too-long'
  | 'invalid-characters'
  | 'double-slash'
  | 'duplicate'
  | 'too-many-stores';

/**
 * Validates `path` as a new additional layer store next to `existingStores` (the paths the pool's
 * ContainerRuntimeConfig already lists). Returns null when the API would accept it.
 */
export const validateStorePath = (
  path: string,
  existingStores: readonly string[] = [],
): StorePathError | null => {
  if (path.length === 0) return 'empty';
  if (!path.startsWith('/')) return 'not-absolute';
  if (path.length > MAX_STORE_PATH_LENGTH) return 'too-long';
  if (!STORE_PATH_PATTERN.test(path)) return 'invalid-characters';
  if (path.includes('//')) return 'double-slash';
  if (existingStores.includes(path)) return 'duplicate';
  if (existingStores.length + 1 > MAX_LAYER_STORES) return 'too-many-stores';
  return null;
};
