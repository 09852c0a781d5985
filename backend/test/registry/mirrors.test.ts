// registries.conf mirrors against two real registries: mirrors are tried in order, then the
// source; pull-from-mirror is honoured; credentials go only to the host they were given for,
// and the ALS auth-helper map is keyed by the physical (mirror) reference.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { RegistryClient } from '../../src/registry/client.ts';
import { CredentialStore } from '../../src/registry/credentials.ts';
import { RegistryErrorKind } from '../../src/registry/errors.ts';
import { loadRegistriesConf } from '../../src/registry/registries-conf.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { caught, pushTestImage, type TestImage } from './helpers.ts';
import { startFaultProxy, type FaultProxy } from './servers.ts';

// Real registries and child processes: generous on a loaded CI machine (no timing asserted).
jest.setTimeout(60_000);

const MIRROR_USER = 'mirror-user';
const MIRROR_PASSWORD = 'mirror-only-secret';

let dir: string;
let source: RegistryFixture;
let mirror: RegistryFixture;
let mirrorProxy: FaultProxy;
let sourceProxy: FaultProxy;
let onBoth: TestImage;
let onSourceOnly: TestImage;

beforeAll(async () => {
  dir = await makeTempDir('registry-mirrors');
  source = await startRegistry();
  mirror = await startRegistry({ htpasswd: { username: MIRROR_USER, password: MIRROR_PASSWORD } });
  sourceProxy = await startFaultProxy(source.host);
  mirrorProxy = await startFaultProxy(mirror.host);
  const pusher = new RegistryClient({ credentials: mirrorCredentials() });
  try {
    onBoth = await pushTestImage(
      openRegistryRepository(`${source.host}/team/app`, { client: pusher }),
      'both',
      [4000],
    );
    // The same manifest bytes on the mirror (mirrors hold copies by digest).
    const mirrorRepo = openRegistryRepository(`${mirror.host}/mirrored/app`, { client: pusher });
    for (const l of onBoth.layers) await mirrorRepo.putBlob(l);
    await mirrorRepo.putBlob(onBoth.config);
    await mirrorRepo.putManifest(
      onBoth.manifestDigest,
      onBoth.manifest.mediaType!,
      onBoth.manifestBytes,
    );
    onSourceOnly = await pushTestImage(
      openRegistryRepository(`${source.host}/team/app`, { client: pusher }),
      'source-only',
      [3000],
    );
  } finally {
    await pusher.close();
  }
});

afterAll(async () => {
  await mirrorProxy?.stop();
  await sourceProxy?.stop();
  await mirror?.stop();
  await source?.stop();
  await removeDir(dir);
});

function mirrorCredentials(): CredentialStore {
  const store = new CredentialStore();
  store.addCredential(mirror.host, { username: MIRROR_USER, password: MIRROR_PASSWORD });
  return store;
}

/** registries.conf with the mirror as OpenShift renders an ImageDigestMirrorSet, via a drop-in. */
async function writeConf(pullFromMirror: string): Promise<string> {
  const conf = join(dir, `registries-${pullFromMirror}.conf`);
  await writeFile(conf, 'unqualified-search-registries = []\nshort-name-mode = "enforcing"\n');
  await mkdir(`${conf}.d`, { recursive: true });
  await writeFile(
    join(`${conf}.d`, '99-mirrors.conf'),
    `[[registry]]\nprefix = "${sourceProxy.host}/team"\nlocation = "${sourceProxy.host}/team"\n\n` +
      `[[registry.mirror]]\nlocation = "${mirrorProxy.host}/mirrored"\npull-from-mirror = "${pullFromMirror}"\n`,
  );
  return conf;
}

it('resolves a digest through the mirror with the mirror credentials from the auth-helper map', async () => {
  const registries = await loadRegistriesConf(await writeConf('digest-only'));
  const credentials = new CredentialStore();
  // What containers/image hands the helper: keyed by the PHYSICAL reference (the mirror).
  credentials.addAuthHelperMap({
    [`${mirrorProxy.host}/mirrored/app@${onBoth.manifestDigest}`]: {
      username: MIRROR_USER,
      password: MIRROR_PASSWORD,
    },
  });
  credentials.addCredential(sourceProxy.host, {
    username: 'source-user',
    password: 'source-secret',
  });
  const client = new RegistryClient({ credentials, registries });
  try {
    const before = { mirror: mirrorProxy.log.length, source: sourceProxy.log.length };
    const image = await client.resolve(`${sourceProxy.host}/team/app@${onBoth.manifestDigest}`);
    expect(image.source).toMatchObject({
      registry: mirrorProxy.host,
      repository: 'mirrored/app',
      mirror: true,
    });
    expect(image.reference.registry).toBe(sourceProxy.host);
    const data = await image.openBlob(image.layers[0]).readRange(0, 100);
    expect(data.equals(onBoth.layers[0].subarray(0, 100))).toBe(true);
    expect(sourceProxy.log.length).toBe(before.source);
    expect(mirrorProxy.log.slice(before.mirror).some((l) => l.authorization)).toBe(true);
  } finally {
    await client.close();
  }
});

it('falls back to the source when the mirror refuses or lacks the image, without sending source credentials to the mirror', async () => {
  const registries = await loadRegistriesConf(await writeConf('all'));
  const credentials = new CredentialStore();
  credentials.addCredential(sourceProxy.host, {
    username: 'source-user',
    password: 'source-secret',
  });
  const client = new RegistryClient({ credentials, registries });
  try {
    const before = mirrorProxy.log.length;
    const image = await client.resolve(`${sourceProxy.host}/team/app:source-only`);
    expect(image.manifestDigest).toBe(onSourceOnly.manifestDigest);
    expect(image.source.mirror).toBe(false);
    const mirrorLines = mirrorProxy.log.slice(before);
    expect(mirrorLines.length).toBeGreaterThan(0);
    expect(mirrorLines.some((l) => l.authorization)).toBe(false);
  } finally {
    await client.close();
  }
});

it('skips digest-only mirrors for tags and reports the last error when every source fails', async () => {
  const registries = await loadRegistriesConf(await writeConf('digest-only'));
  const client = new RegistryClient({ registries });
  try {
    const before = mirrorProxy.log.length;
    const image = await client.resolve(`${sourceProxy.host}/team/app:both`);
    expect(image.source.mirror).toBe(false);
    expect(mirrorProxy.log.length).toBe(before);
    const err = await caught(() => client.resolve(`${sourceProxy.host}/team/app:missing`));
    expect(err.kind).toBe(RegistryErrorKind.notFound);
  } finally {
    await client.close();
  }
});

it('leaves time for the source when a mirror hangs', async () => {
  const registries = await loadRegistriesConf(await writeConf('all'));
  const client = new RegistryClient({
    registries,
    firstByteTimeoutMs: 2_000,
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
  });
  mirrorProxy.rule = () => ({ type: 'slow-first-byte', delayMs: 30_000 });
  try {
    const image = await client.resolve(`${sourceProxy.host}/team/app@${onBoth.manifestDigest}`, {
      timeoutMs: 30_000,
    });
    expect(image.source.mirror).toBe(false);
    expect(image.manifestDigest).toBe(onBoth.manifestDigest);
  } finally {
    mirrorProxy.rule = () => undefined;
    await client.close();
  }
});

it('asks the source within the time the caller wants its answer in, when a mirror hangs', async () => {
  const registries = await loadRegistriesConf(await writeConf('all'));
  // The default first-byte timeout (15 s): only the answer's bound can cut the mirror short.
  const client = new RegistryClient({ registries });
  mirrorProxy.rule = () => ({ type: 'slow-first-byte', delayMs: 60_000 });
  try {
    const started = Date.now();
    const image = await client.resolve(`${sourceProxy.host}/team/app@${onBoth.manifestDigest}`, {
      timeoutMs: 30_000, // the agent's 3 lookup bounds: the mirror's half would be 15 s
      answerWithinMs: 2_000,
    });
    expect(image.source.mirror).toBe(false);
    // Its share of the 2 s, then the source: far from the 15 s the mirror would have had.
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    mirrorProxy.rule = () => undefined;
    await client.close();
  }
});

it('refuses blocked registries', async () => {
  const registries = await loadRegistriesConf(join(dir, 'none.conf'));
  registries.addToml(`[[registry]]\nlocation = "${sourceProxy.host}"\nblocked = true\n`);
  const client = new RegistryClient({ registries });
  try {
    expect((await caught(() => client.resolve(`${sourceProxy.host}/team/app:both`))).kind).toBe(
      RegistryErrorKind.blocked,
    );
  } finally {
    await client.close();
  }
});
