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
 * The path without trailing slashes: "/var/lib/store/" names the same directory as
 * "/var/lib/store", so the wizard writes, finds and removes it as one path.
 */
export const normalizeStorePath = (path: string): string =>
  path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;

export const sameStorePath = (a: string, b: string): boolean =>
  normalizeStorePath(a) === normalizeStorePath(b);

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
  // The wizard writes the path without trailing slashes; that is the path the API checks.
  const written = normalizeStorePath(path);
  if (written.length > MAX_STORE_PATH_LENGTH) return 'too-long';
  if (!STORE_PATH_PATTERN.test(written)) return 'invalid-characters';
  if (written.includes('//')) return 'double-slash';
  if (existingStores.some((store) => sameStorePath(store, written))) return 'duplicate';
  if (existingStores.length + 1 > MAX_LAYER_STORES) return 'too-many-stores';
  return null;
};

/**
 * Validates `path` for several pools at once, each with the stores its ContainerRuntimeConfig
 * lists. A pool that already lists the path needs no change, so that is an error only when every
 * pool does (there is nothing to do); any other pool's error is the answer.
 */
export const validateStorePathForPools = (
  path: string,
  storesPerPool: readonly (readonly string[])[],
): StorePathError | null => {
  const errors = (storesPerPool.length > 0 ? storesPerPool : [[]]).map((stores) =>
    validateStorePath(path, stores),
  );
  const other = errors.find((e) => e !== null && e !== 'duplicate');
  if (other) return other;
  return errors.every((e) => e === 'duplicate') ? 'duplicate' : null;
};
