// Pure parsing rules: references, credentials files, registries.conf, challenges, multipart
// bodies, redirect expiry.
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parseChallenges } from '../../src/registry/auth.ts';
import { CredentialStore, normalizeAuthKey } from '../../src/registry/credentials.ts';
import { RegistryErrorKind } from '../../src/registry/errors.ts';
import { selectPlatform } from '../../src/registry/manifest.ts';
import { parseByteranges, parseContentRange, sliceRanges } from '../../src/registry/multipart.ts';
import { redirectExpiry, DEFAULT_REDIRECT_TTL_MS } from '../../src/registry/redirect.ts';
import { apiHost, formatReference, parseReference } from '../../src/registry/reference.ts';
import { loadRegistriesConf, RegistriesConfig } from '../../src/registry/registries-conf.ts';
import { parseRetryAfter } from '../../src/registry/session.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { caught } from './helpers.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['docker.io/library/busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['index.docker.io/foo/bar', 'docker.io', 'foo/bar', 'latest', undefined],
    ['quay.io/ns/app@' + D, 'quay.io', 'ns/app', undefined, D],
    ['localhost:5000/a/b/c:tag@' + D, 'localhost:5000', 'a/b/c', 'tag', D],
    ['127.0.0.1:5000/app', '127.0.0.1:5000', 'app', 'latest', undefined],
    ['docker://registry.example.com/x', 'registry.example.com', 'x', 'latest', undefined],
  ])('%s', (input, registry, repository, tag, digest) => {
    const ref = parseReference(input);
    expect(ref).toEqual({
      registry,
      repository,
      ...(tag ? { tag } : {}),
      ...(digest ? { digest } : {}),
    });
    expect(parseReference(formatReference(ref))).toEqual(ref);
  });

  it.each(['', 'UPPER/case', 'a//b', 'app:bad tag', 'app@sha256:short', 'ho$t.io/app'])(
    'rejects %j',
    async (input) => {
      expect((await caught(() => parseReference(input))).kind).toBe(
        RegistryErrorKind.invalidReference,
      );
    },
  );

  it('maps docker.io to its API host', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('quay.io')).toBe('quay.io');
  });
});

describe('CredentialStore', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('creds');
  });
  afterAll(() => removeDir(dir));

  it('reads auth.json and docker config.json, most specific key first', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await writeFile(
      join(dir, 'auth.json'),
      JSON.stringify({
        auths: {
          'quay.io': { auth: b64('org:orgpw') },
          'quay.io/team/app': { auth: b64('app:apppw') },
        },
      }),
    );
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { username: 'hub', password: 'hubpw' },
          'ghcr.io': { identitytoken: 'idtok' },
        },
        credHelpers: { 'gcr.io': 'gcloud' },
      }),
    );
    const store = new CredentialStore();
    await store.addAuthFile(join(dir, 'auth.json'));
    await store.addAuthFile(join(dir, 'config.json'));
    await store.addAuthFile(join(dir, 'missing.json'));
    expect(store.lookup('quay.io', 'team/app').credential).toEqual({
      username: 'app',
      password: 'apppw',
    });
    expect(store.lookup('quay.io', 'team/other').credential).toEqual({
      username: 'org',
      password: 'orgpw',
    });
    expect(store.lookup('docker.io', 'library/busybox').credential).toEqual({
      username: 'hub',
      password: 'hubpw',
    });
    expect(store.lookup('ghcr.io', 'x/y').credential).toEqual({ identityToken: 'idtok' });
    expect(store.lookup('gcr.io', 'p/i').unsupportedHelper).toBe('gcloud');
    expect(store.warnings.join('\n')).toMatch(/docker-credential-gcloud.*not supported/);
    expect(store.lookup('mirror.example.com', 'team/app')).toEqual({});
  });

  it('reads an auth file again once it changed on disk: a Secret volume swap, an edit, a fix', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const auths = (user: string) =>
      JSON.stringify({ auths: { 'quay.io': { auth: b64(`${user}:pw`) } } });
    // The kubelet's Secret volume layout: the file is a symlink through ..data, which is swapped.
    const vol = join(dir, 'secret-volume');
    await mkdir(join(vol, '..2026_a'), { recursive: true });
    await writeFile(join(vol, '..2026_a', '.dockerconfigjson'), auths('old'));
    await symlink('..2026_a', join(vol, '..data'));
    await symlink('..data/.dockerconfigjson', join(vol, '.dockerconfigjson'));
    const later = join(dir, 'later.json'); // absent at start, written later
    const store = new CredentialStore();
    await store.addAuthFile(join(vol, '.dockerconfigjson'));
    await store.addAuthFile(later);
    expect(store.lookup('quay.io', 'a/b').credential?.username).toBe('old');
    expect(await store.refreshAuthFiles()).toBe(false); // nothing changed: nothing read

    await mkdir(join(vol, '..2026_b'));
    await writeFile(join(vol, '..2026_b', '.dockerconfigjson'), auths('rotated'));
    await symlink('..2026_b', join(vol, '..data_tmp'));
    await rename(join(vol, '..data_tmp'), join(vol, '..data'));
    await writeFile(later, JSON.stringify({ auths: { 'ghcr.io': { auth: b64('gh:pw') } } }));
    expect(await store.refreshAuthFiles()).toBe(true);
    expect(store.lookup('quay.io', 'a/b').credential?.username).toBe('rotated');
    expect(store.lookup('ghcr.io', 'x/y').credential?.username).toBe('gh');

    // A broken rewrite keeps the previous credentials (and says so); fixing it takes effect.
    await writeFile(later, '{"auths": oops');
    await expect(store.refreshAuthFiles()).rejects.toThrow(/later.json is not valid JSON/);
    expect(store.lookup('ghcr.io', 'x/y').credential?.username).toBe('gh');
    await writeFile(later, JSON.stringify({ auths: { 'ghcr.io': { auth: b64('gh2:pw') } } }));
    expect(await store.refreshAuthFiles()).toBe(true);
    expect(store.lookup('ghcr.io', 'x/y').credential?.username).toBe('gh2');
  });

  it('does not echo secrets from an invalid auth file', async () => {
    await writeFile(join(dir, 'bad.json'), '{"auths": {"x": {"auth": "c2VjcmV0OnB3"}} oops');
    const err = await caught(() => new CredentialStore().addAuthFile(join(dir, 'bad.json')));
    expect(err.message).not.toContain('c2VjcmV0');
  });

  it('prefers the auth-helper map (physical refs), then pull secrets, then files', () => {
    const store = new CredentialStore();
    store.addPullSecret('ns/pull', {
      auths: { 'mirror.local:5000': { auth: Buffer.from('secret:spw').toString('base64') } },
    });
    store.addAuthHelperMap({
      ['mirror.local:5000/ns/app@sha256:' + 'b'.repeat(64)]: {
        username: 'helper',
        password: 'hpw',
      },
      'not a ref!': { username: 'x' },
    });
    expect(store.lookup('mirror.local:5000', 'ns/app').credential).toEqual({
      username: 'helper',
      password: 'hpw',
    });
    expect(store.lookup('mirror.local:5000', 'ns/other').credential).toEqual({
      username: 'secret',
      password: 'spw',
    });
    // A legacy .dockercfg secret has no "auths" wrapper.
    store.addPullSecret('ns/legacy', {
      'legacy.io': { auth: Buffer.from('l:lpw').toString('base64') },
    });
    expect(store.lookup('legacy.io', 'a').credential).toEqual({ username: 'l', password: 'lpw' });
  });

  it('normalises auth keys as containers/image does', () => {
    expect(normalizeAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeAuthKey('Quay.IO/ns/')).toBe('quay.io/ns');
    // A URL names its host only; a plain key is a prefix as written, "/v2" included.
    expect(normalizeAuthKey('https://reg.test/otherns')).toBe('reg.test');
    expect(normalizeAuthKey('reg.test/team/v2')).toBe('reg.test/team/v2');
    expect(normalizeAuthKey('reg.test/ns/app', true)).toBe('reg.test');
  });

  it('takes the first auth file with a key for the repository, then its most specific key', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const first = join(dir, 'order-1.json');
    const second = join(dir, 'order-2.json');
    await writeFile(first, JSON.stringify({ auths: { 'reg.test': { auth: b64('host:right') } } }));
    await writeFile(
      second,
      JSON.stringify({ auths: { 'reg.test/team/app': { auth: b64('repo:wrong') } } }),
    );
    const store = new CredentialStore();
    await store.addAuthFile(first);
    await store.addAuthFile(second);
    expect(store.lookup('reg.test', 'team/app').credential?.username).toBe('host');
    expect(store.lookup('other.test', 'team/app')).toEqual({});
  });

  it('prefers a plain key to a URL key for the same host, and scopes /v2 keys as written', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const store = new CredentialStore();
    store.addPullSecret('ns/urls', {
      auths: {
        'https://reg.test/otherns': { auth: b64('url:pw') },
        'reg.test': { auth: b64('plain:pw') },
        'https://only-url.test/v1/': { auth: b64('only:pw') },
        'scoped.test/team/v2': { auth: b64('scoped:pw') },
      },
    });
    expect(store.lookup('reg.test', 'team/app').credential?.username).toBe('plain');
    expect(store.lookup('only-url.test', 'any/app').credential?.username).toBe('only');
    expect(store.lookup('scoped.test', 'team/app')).toEqual({});
    expect(store.lookup('scoped.test', 'team/v2').credential?.username).toBe('scoped');
  });

  it('files an auth-helper key that is a bare host under that host, not under Docker Hub', () => {
    const store = new CredentialStore();
    store.addAuthHelperMap({
      'myreg.corp:5000': { username: 'corp', password: 'pw' },
      'myreg.corp': { username: 'corp2', password: 'pw' },
    });
    expect(store.lookup('myreg.corp:5000', 'team/app').credential?.username).toBe('corp');
    expect(store.lookup('myreg.corp', 'team/app').credential?.username).toBe('corp2');
    expect(store.lookup('docker.io', 'library/myreg.corp')).toEqual({});
  });
});

describe('registries.conf', () => {
  it('rewrites to mirrors in order and then the source, honouring pull-from-mirror', () => {
    const conf = new RegistriesConfig();
    conf.addToml(`
[[registry]]
prefix = "quay.io/openshift-release-dev"
location = "quay.io/openshift-release-dev"
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror.corp:5000/ocp"
insecure = true
[[registry.mirror]]
location = "backup.corp/ocp"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "tags.corp/hub"
pull-from-mirror = "tag-only"
`);
    const digestRef = parseReference(`quay.io/openshift-release-dev/ocp-release@${D}`);
    expect(conf.pullSources(digestRef)).toEqual([
      {
        registry: 'mirror.corp:5000',
        repository: 'ocp/ocp-release',
        reference: { registry: 'mirror.corp:5000', repository: 'ocp/ocp-release', digest: D },
        insecure: true,
        mirror: true,
      },
      {
        registry: 'backup.corp',
        repository: 'ocp/ocp-release',
        reference: { registry: 'backup.corp', repository: 'ocp/ocp-release', digest: D },
        insecure: false,
        mirror: true,
      },
      {
        registry: 'quay.io',
        repository: 'openshift-release-dev/ocp-release',
        reference: digestRef,
        insecure: false,
        mirror: false,
      },
    ]);
    expect(
      conf.pullSources(parseReference('quay.io/openshift-release-dev/ocp-release:4.22')),
    ).toHaveLength(1);
    expect(conf.pullSources(parseReference('busybox:1'))[0]).toMatchObject({
      registry: 'tags.corp',
      repository: 'hub/library/busybox',
    });
    expect(conf.pullSources(parseReference(`busybox@${D}`))).toHaveLength(1);
    expect(conf.isInsecure('mirror.corp:5000')).toBe(true);
    expect(conf.isInsecure('quay.io')).toBe(false);
    expect(conf.pullSources(parseReference('example.com/x'))).toEqual([
      {
        registry: 'example.com',
        repository: 'x',
        reference: parseReference('example.com/x'),
        insecure: false,
        mirror: false,
      },
    ]);
  });

  // Each case as containers/image (pkg/sysregistriesv2: refMatchingPrefix, rewriteReference,
  // findRegistry) resolves it: the agent must ask where podman and CRI-O pull from.
  const physical = (conf: RegistriesConfig, ref: string): string[] =>
    conf.pullSources(parseReference(ref)).map((s) => formatReference(s.reference));

  it('matches *. wildcard prefixes and rewrites their mirrors as containers/image does', () => {
    const conf = new RegistriesConfig();
    conf.addToml(`
[[registry]]
prefix = "*.example.test"
[[registry.mirror]]
location = "cache.corp:5000/mirror"
`);
    // No location: the source is the reference as written; the mirror gets what follows the host.
    expect(physical(conf, 'foo.example.test/team/app:v1')).toEqual([
      'cache.corp:5000/mirror/team/app:v1',
      'foo.example.test/team/app:v1',
    ]);
    // A host with a port matches too, and its mirror gets ":5000/app…" appended, which is no
    // reference: containers/image fails such a pull, the agent misses it.
    expect(() => physical(conf, `a.b.example.test:5000/app@${D}`)).toThrow(
      /"\*.example.test" rewrites a.b.example.test:5000\/app@sha256:a+ to cache.corp:5000\/mirror:5000\/app/,
    );
    expect(physical(conf, 'example.test.evil.io/app:v1')).toEqual(['example.test.evil.io/app:v1']);
    expect(physical(conf, 'other.io/x.example.test/app:v1')).toEqual([
      'other.io/x.example.test/app:v1',
    ]);
    expect(() => conf.addToml('[[registry]]\nprefix = "*.bad.test/ns"\n', 'w.conf')).toThrow(
      /w.conf: wildcard prefix "\*.bad.test\/ns" must be of the form \*.example.com/,
    );
  });

  it('matches prefixes at / : @ boundaries, tags and digests included, longest first', () => {
    const conf = new RegistriesConfig();
    conf.addToml(`
[[registry]]
prefix = "example.test/team"
location = "mirror.corp/team-copy"

[[registry]]
prefix = "example.test/team/app:v1"
location = "pinned.corp/app:stable"

[[registry]]
prefix = "example.test/team"
location = "ignored.corp/second-with-the-same-prefix"

[[registry]]
location = "plain.test"
insecure = true
`);
    expect(physical(conf, 'example.test/team/app:v2')).toEqual(['mirror.corp/team-copy/app:v2']);
    expect(physical(conf, 'example.test/team/app:v1')).toEqual(['pinned.corp/app:stable']);
    expect(physical(conf, 'example.test/teamwork/app:v1')).toEqual([
      'example.test/teamwork/app:v1',
    ]);
    // containers/image's documented quirk: a host prefix also matches the host with a port.
    expect(conf.pullSources(parseReference('plain.test:5000/x:1'))[0].insecure).toBe(true);
  });

  it('treats an empty pull-from-mirror as unset and can refuse every reference', () => {
    const conf = new RegistriesConfig();
    conf.addToml(`
[[registry]]
location = "a.io"
[[registry.mirror]]
location = "m.io"
pull-from-mirror = ""
`);
    expect(physical(conf, 'a.io/x:1')).toEqual(['m.io/x:1', 'a.io/x:1']);
    const unusable = RegistriesConfig.unusable('registries.conf cannot be used: invalid TOML');
    expect(unusable.unusableReason).toMatch(/invalid TOML/);
    expect(() => unusable.pullSources(parseReference('a.io/x:1'))).toThrow(/invalid TOML/);
  });

  it('applies drop-ins in name order, later entries replacing earlier ones', async () => {
    const dir = await makeTempDir('regconf');
    try {
      const main = join(dir, 'registries.conf');
      await writeFile(
        main,
        '[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m1.io"\n',
      );
      await mkdir(`${main}.d`);
      await writeFile(
        join(`${main}.d`, '10-b.conf'),
        '[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m2.io"\n',
      );
      await writeFile(
        join(`${main}.d`, '20-c.conf'),
        '[registries.insecure]\nregistries = ["old.io"]\n',
      );
      await writeFile(join(`${main}.d`, 'ignored.txt'), 'not toml');
      const conf = await loadRegistriesConf(main);
      expect(conf.pullSources(parseReference('a.io/x')).map((s) => s.registry)).toEqual([
        'm2.io',
        'a.io',
      ]);
      expect(conf.isInsecure('old.io')).toBe(true);
    } finally {
      await removeDir(dir);
    }
  });

  it('rejects invalid files with the file name and the field', async () => {
    const conf = new RegistriesConfig();
    const err = await caught(() =>
      conf.addToml('[[registry]]\nlocation = "a.io"\ninsecure = "yes"\n', '/etc/x.conf'),
    );
    expect(err.message).toMatch(/\/etc\/x.conf: registry.insecure must be a boolean/);
    expect((await caught(() => conf.addToml('[[registry]\n', 'y.conf'))).message).toMatch(
      /y.conf: invalid TOML/,
    );
  });
});

describe('protocol details', () => {
  it('parses Bearer and Basic challenges', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.io/token",service="reg.io",scope="repository:a:pull"',
      ),
    ).toEqual([{ scheme: 'bearer', realm: 'https://auth.io/token', service: 'reg.io' }]);
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([
      { scheme: 'basic', realm: 'Registry Realm' },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });

  it('parses multipart/byteranges bodies by their Content-Range lengths', () => {
    const data = Buffer.from('--B\r\n'); // binary data may contain the delimiter text
    const body = Buffer.concat([
      Buffer.from(
        '\r\n--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-4/100\r\n\r\n',
      ),
      data,
      Buffer.from('\r\n--XYZ\r\nContent-Range: bytes 50-52/100\r\n\r\nabc\r\n--XYZ--\r\n'),
    ]);
    const parts = parseByteranges(body, 'XYZ');
    expect(parts.map((p) => [p.start, p.end, p.data.toString()])).toEqual([
      [0, 5, '--B\r\n'],
      [50, 53, 'abc'],
    ]);
    expect(
      sliceRanges(parts, [
        { start: 51, end: 53 },
        { start: 1, end: 3 },
      ])?.map(String),
    ).toEqual(['bc', '-B']);
    expect(sliceRanges(parts, [{ start: 4, end: 6 }])).toBeUndefined();
    expect(() => parseByteranges(body.subarray(0, 90), 'XYZ')).toThrow();
  });

  it('parses Retry-After as seconds or a date, capped', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('100000')).toBe(60_000);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('parses Content-Range strictly', () => {
    expect(parseContentRange('bytes 0-9/100')).toEqual({ start: 0, end: 10, total: 100 });
    expect(parseContentRange('bytes 5-4/100')).toBeUndefined();
    expect(parseContentRange('bytes 0-100/100')).toBeUndefined();
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 10, total: undefined });
  });

  it('reuses presigned URLs until shortly before they expire', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const s3 = new URL(
      'https://b.s3.amazonaws.com/x?X-Amz-Date=20260101T115500Z&X-Amz-Expires=1200&X-Amz-Signature=s',
    );
    const expiry = redirectExpiry(s3, now);
    expect(expiry).toBeLessThan(now + 15 * 60_000);
    expect(expiry).toBeGreaterThan(now + 14 * 60_000);
    expect(redirectExpiry(new URL(`https://cdn/x?Expires=${now / 1000 + 600}`), now)).toBeLessThan(
      now + 600_000,
    );
    expect(redirectExpiry(new URL('https://storage/x'), now)).toBe(now + DEFAULT_REDIRECT_TTL_MS);
  });

  it('selects platform manifests with arm64 variant defaults', () => {
    const m = (architecture: string, variant?: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: D,
      size: 1,
      platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    });
    const index = {
      schemaVersion: 2 as const,
      manifests: [m('arm', 'v6'), m('arm', 'v7'), m('arm64'), m('amd64')],
    };
    expect(
      selectPlatform(index, { os: 'linux', architecture: 'arm64', variant: 'v8' })?.platform,
    ).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(
      selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v7' })?.platform?.variant,
    ).toBe('v7');
    expect(selectPlatform(index, { os: 'windows', architecture: 'amd64' })).toBeUndefined();
  });
});
