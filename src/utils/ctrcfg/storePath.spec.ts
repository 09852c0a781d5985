import {
  MAX_LAYER_STORES,
  normalizeStorePath,
  sameStorePath,
  validateStorePath,
  validateStorePathForPools,
} from './storePath';

describe('normalizeStorePath', () => {
  it('drops trailing slashes, so "/a/" and "/a" are one path', () => {
    expect(normalizeStorePath('/var/lib/store/')).toBe('/var/lib/store');
    expect(normalizeStorePath('/var/lib/store//')).toBe('/var/lib/store');
    expect(normalizeStorePath('/')).toBe('/');
    expect(sameStorePath('/a/', '/a')).toBe(true);
    expect(sameStorePath('/a', '/b')).toBe(false);
  });
});

describe('validateStorePath', () => {
  it('accepts the default store path', () => {
    expect(validateStorePath('/var/lib/slipstream/store')).toBeNull();
  });

  it.each([
    ['', 'empty'],
    ['var/lib/store', 'not-absolute'],
    [`/${'a'.repeat(256)}`, 'too-long'],
    ['/var/lib/store:ref', 'invalid-characters'],
    ['/var/lib/my store', 'invalid-characters'],
    ['/', 'invalid-characters'],
    ['/var//lib', 'double-slash'],
  ])('rejects %j as %s', (path, error) => {
    expect(validateStorePath(path)).toBe(error);
  });

  it('accepts exactly 256 characters', () => {
    expect(validateStorePath(`/${'a'.repeat(255)}`)).toBeNull();
  });

  it('rejects a path the pool already lists, with or without a trailing slash', () => {
    expect(validateStorePath('/a', ['/b', '/a'])).toBe('duplicate');
    expect(validateStorePath('/a/', ['/a'])).toBe('duplicate');
    expect(validateStorePath('/a', ['/a/'])).toBe('duplicate');
  });

  it('checks the path as it will be written', () => {
    expect(validateStorePath('/var/lib/store/')).toBeNull();
    expect(validateStorePath('//')).toBe('invalid-characters');
  });

  it('rejects a sixth store', () => {
    const five = Array.from({ length: MAX_LAYER_STORES }, (_, i) => `/s${i}`);
    expect(validateStorePath('/new', five)).toBe('too-many-stores');
    expect(validateStorePath('/new', five.slice(1))).toBeNull();
  });
});

describe('validateStorePathForPools', () => {
  const five = Array.from({ length: MAX_LAYER_STORES }, (_, i) => `/s${i}`);

  it('lets a pool that already lists the path sit next to one that does not', () => {
    expect(validateStorePathForPools('/a', [['/a'], ['/b']])).toBeNull();
  });

  it('says so when every pool already lists the path', () => {
    expect(validateStorePathForPools('/a', [['/a'], ['/b', '/a']])).toBe('duplicate');
  });

  it('counts the stores of each pool on its own, not of all pools together', () => {
    expect(validateStorePathForPools('/new', [five.slice(0, 3), five.slice(3)])).toBeNull();
    expect(validateStorePathForPools('/new', [['/x'], five])).toBe('too-many-stores');
  });

  it('checks the path itself without pools', () => {
    expect(validateStorePathForPools('relative', [])).toBe('not-absolute');
    expect(validateStorePathForPools('/var/lib/slipstream/store', [])).toBeNull();
  });
});
