// `slipstream check-registry` end to end: the CLI binary against a real registry.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { jest } from '@jest/globals';

import { buildEstargz } from '../../src/estargz/build.ts';
import { Annotations, MediaTypes, type ImageManifest } from '../../src/image/types.ts';
import type { RegistryCheckReport } from '../../src/registry/check.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { CredentialStore } from '../../src/registry/credentials.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { freePort, makeTempDir, removeDir } from '../support/tmp.ts';
import { descriptorOf, pushTestImage } from './helpers.ts';
import { startFaultProxy } from './servers.ts';

// Real registries and child processes: generous on a loaded CI machine (no timing asserted).
jest.setTimeout(120_000);

const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

let dir: string;
let registry: RegistryFixture;

/** `slipstream check-registry` with exactly these arguments. */
function checkRegistryCli(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'check-registry', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** ARGS with no registries.conf and only `authFile`'s credentials (default: none). */
function cli(
  args: string[],
  authFile = join(dir, 'none.json'),
): Promise<{ code: number; stdout: string; stderr: string }> {
  return checkRegistryCli([
    ...args,
    '--registries-conf',
    join(dir, 'none.conf'),
    '--auth-file',
    authFile,
  ]);
}

async function estargzLayer(): Promise<{ blob: Buffer; tocDigest: string }> {
  const root = join(dir, 'rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await writeFile(join(root, 'bin/hello'), Buffer.alloc(300_000, 'x'));
  await run('tar', ['-C', root, '-cf', join(dir, 'layer.tar'), '.']);
  const tar = await readFile(join(dir, 'layer.tar'));
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (d: Buffer) => parts.push(d));
  const { tocDigest } = await buildEstargz(() => Promise.resolve([tar]), out);
  out.end();
  return { blob: Buffer.concat(parts), tocDigest };
}

beforeAll(async () => {
  dir = await makeTempDir('check-registry');
  await writeFile(join(dir, 'none.json'), '{}');
  registry = await startRegistry();
  const client = new RegistryClient();
  try {
    const repo = openRegistryRepository(`${registry.host}/check/app`, { client });
    await pushTestImage(repo, 'plain', [200_000]);
    const { blob: layer, tocDigest } = await estargzLayer();
    await repo.putBlob(layer);
    const config = Buffer.from(
      JSON.stringify({
        os: 'linux',
        architecture: 'amd64',
        rootfs: { type: 'layers', diff_ids: [computeDigest(layer)] },
      }),
    );
    await repo.putBlob(config);
    const annotated = {
      ...descriptorOf(MediaTypes.ociLayerGzip, layer),
      annotations: { [Annotations.estargzTocDigest]: tocDigest },
    };
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: descriptorOf(MediaTypes.ociConfig, config),
      layers: [annotated],
    };
    const put = (tag: string, m: object, mediaType: string = MediaTypes.ociManifest) =>
      repo.putManifest(tag, mediaType, Buffer.from(JSON.stringify(m)));
    await put('lazy', manifest);
    // The layer's TOC digest annotation changed after conversion: the store refuses the layer.
    await put('tampered', {
      ...manifest,
      layers: [
        {
          ...annotated,
          annotations: { [Annotations.estargzTocDigest]: `sha256:${'1'.repeat(64)}` },
        },
      ],
    });
    // The same eStargz layer without its TOC digest annotation (a tool that drops annotations).
    await put('no-annotation', {
      ...manifest,
      layers: [descriptorOf(MediaTypes.ociLayerGzip, layer)],
    });
    // And in a Docker schema2 manifest, whose layer annotations containers/image ignores.
    await put(
      'docker',
      {
        ...manifest,
        mediaType: MediaTypes.dockerManifest,
        config: descriptorOf(MediaTypes.dockerConfig, config),
        layers: [{ ...annotated, mediaType: MediaTypes.dockerLayerGzip }],
      },
      MediaTypes.dockerManifest,
    );
  } finally {
    await client.close();
  }
});

afterAll(async () => {
  await registry?.stop();
  await removeDir(dir);
});

it('passes for an eStargz image on a registry with range support', async () => {
  const { code, stdout } = await cli([
    `${registry.host}/check/app:lazy`,
    '--json',
    '--platform',
    'linux/amd64',
  ]);
  const report = JSON.parse(stdout) as RegistryCheckReport;
  expect(code).toBe(0);
  expect(report.ok).toBe(true);
  expect(report.auth).toBe('anonymous');
  const byName = Object.fromEntries(report.checks.map((c) => [c.name, c.ok]));
  expect(byName).toEqual({
    reachable: true,
    manifest: true,
    range: true,
    'suffix-range': true,
    'multi-range': true,
    redirect: true,
    estargz: true,
  });
  expect(report.layers[0]).toMatchObject({ format: 'estargz', lazySupported: true });
  expect(report.throughput?.bytes).toBeGreaterThan(0);
});

it('fails (exit 1) for an image without eStargz layers, explaining why', async () => {
  const { code, stdout } = await cli([
    `${registry.host}/check/app:plain`,
    '--platform',
    'linux/amd64',
  ]);
  expect(code).toBe(1);
  expect(stdout).toMatch(/CANNOT/);
  expect(stdout).toMatch(/\[FAIL\] estargz/);
  expect(stdout).toMatch(/\[ok {2}\] range/);
});

it('fails (exit 1) for an eStargz layer without its TOC digest annotation', async () => {
  const { code, stdout } = await cli([
    `${registry.host}/check/app:no-annotation`,
    '--json',
    '--platform',
    'linux/amd64',
  ]);
  const report = JSON.parse(stdout) as RegistryCheckReport;
  expect(code).toBe(1);
  expect(report.layers[0]).toMatchObject({ format: 'estargz', lazySupported: false });
  expect(report.layers[0].reason).toContain('containerd.io/snapshot/stargz/toc.digest');
  expect(report.checks.find((c) => c.name === 'estargz')).toMatchObject({ ok: false });
});

it('fails (exit 1) for a Docker schema2 manifest, whose annotations never reach CRI-O', async () => {
  const { code, stdout } = await cli([
    `${registry.host}/check/app:docker`,
    '--platform',
    'linux/amd64',
  ]);
  expect(code).toBe(1);
  expect(stdout).toMatch(/\[FAIL\] manifest\s+Docker schema2 manifest/);
  expect(stdout).toMatch(/\[ok {2}\] estargz/);
});

it('fails (exit 1) when the registry is unreachable, and exit 2 for a bad reference', async () => {
  const port = await freePort();
  const down = await cli([`127.0.0.1:${port}/x/y:z`, '--timeout', '3']);
  expect(down.code).toBe(1);
  expect(down.stdout).toMatch(/\[FAIL\] reachable/);
  const bad = await cli(['Not A Ref']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/invalid image reference/);
});

it('uses credentials from --auth-file, reports Basic auth and never prints the secret', async () => {
  const password = 'check-registry-secret';
  const privateRegistry = await startRegistry({ htpasswd: { username: 'u', password } });
  try {
    const credentials = new CredentialStore();
    credentials.addCredential(privateRegistry.host, { username: 'u', password });
    const client = new RegistryClient({ credentials });
    try {
      await pushTestImage(
        openRegistryRepository(`${privateRegistry.host}/p/app`, { client }),
        'v1',
        [100_000],
      );
    } finally {
      await client.close();
    }
    const authFile = join(dir, 'auth.json');
    const auth = Buffer.from(`u:${password}`).toString('base64');
    await writeFile(authFile, JSON.stringify({ auths: { [privateRegistry.host]: { auth } } }));
    const human = await cli(
      [`${privateRegistry.host}/p/app:v1`, '--platform', 'linux/amd64'],
      authFile,
    );
    expect(human.stdout).toMatch(/auth\s+basic/);
    expect(human.stdout).toMatch(/\[ok {2}\] range/);
    const json = await cli([`${privateRegistry.host}/p/app:v1`, '--json'], authFile);
    for (const out of [human.stdout, human.stderr, json.stdout, json.stderr]) {
      expect(out).not.toContain(password);
      expect(out).not.toContain(auth);
    }
    const denied = await cli([`${privateRegistry.host}/p/app:v1`]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/\[FAIL\] reachable\s+unauthorized/);
  } finally {
    await privateRegistry.stop();
  }
});

it('fails (exit 1) for a layer whose TOC does not match its annotation, as the store would', async () => {
  const { code, stdout } = await cli([
    `${registry.host}/check/app:tampered`,
    '--json',
    '--platform',
    'linux/amd64',
  ]);
  const report = JSON.parse(stdout) as RegistryCheckReport;
  expect(code).toBe(1);
  expect(report.layers[0]).toMatchObject({ format: 'estargz', lazySupported: false });
  expect(report.layers[0].reason).toContain(`not the ${Annotations.estargzTocDigest} annotation`);
  expect(report.checks.find((c) => c.name === 'estargz')).toMatchObject({ ok: false });
});

it('fails (exit 1) behind a front that answers ranges with 206 and the wrong bytes', async () => {
  const front = await startFaultProxy(registry.host);
  front.rule = () => ({ type: 'range-from-start' });
  try {
    const { code, stdout } = await cli([
      `${front.host}/check/app:lazy`,
      '--json',
      '--platform',
      'linux/amd64',
    ]);
    const report = JSON.parse(stdout) as RegistryCheckReport;
    expect(code).toBe(1);
    const range = report.checks.find((c) => c.name === 'range');
    expect(range).toMatchObject({ ok: false, blocking: true });
    expect(range?.detail).toContain('other bytes than the blob holds');
  } finally {
    await front.stop();
  }
});

it('does not advise converting an eStargz image when the registry ignores Range', async () => {
  const front = await startFaultProxy(registry.host);
  front.rule = () => ({ type: 'ignore-range' });
  try {
    const { code, stdout } = await cli([
      `${front.host}/check/app:lazy`,
      '--json',
      '--platform',
      'linux/amd64',
    ]);
    const report = JSON.parse(stdout) as RegistryCheckReport;
    expect(code).toBe(1);
    expect(report.checks.find((c) => c.name === 'range')).toMatchObject({ ok: false });
    const estargz = report.checks.find((c) => c.name === 'estargz');
    expect(estargz?.detail).toMatch(/does not serve byte ranges .* converting will not help/);
    expect(estargz?.detail).not.toContain('convert the image');
  } finally {
    await front.stop();
  }
});

it('takes --auth-file and --certs-dir before the reference, and refuses ones that are not there', async () => {
  const ref = `${registry.host}/check/app:lazy`;
  const conf = ['--registries-conf', join(dir, 'none.conf')];
  const none = join(dir, 'none.json');
  await mkdir(join(dir, 'certs.d'), { recursive: true });
  const before = await checkRegistryCli([
    ...conf,
    '--auth-file',
    none,
    '--auth-file',
    none,
    '--certs-dir',
    join(dir, 'certs.d'),
    ref,
  ]);
  expect(before.stderr).toBe('');
  expect(before.code).toBe(0);
  const missing = await checkRegistryCli([...conf, '--auth-file', join(dir, 'missing.json'), ref]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain(`--auth-file ${join(dir, 'missing.json')} does not exist`);
  const noCerts = await checkRegistryCli([
    ...conf,
    '--auth-file',
    none,
    '--certs-dir',
    join(dir, 'nope'),
    ref,
  ]);
  expect(noCerts.code).toBe(2);
  expect(noCerts.stderr).toContain('does not exist');
  for (const timeout of ['abc', '0', '-5']) {
    const bad = await cli([ref, '--timeout', timeout]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout must be a positive number of seconds');
  }
});

it('says which registry has an auth entry that is not base64 of user:password', async () => {
  const privateRegistry = await startRegistry({ htpasswd: { username: 'u', password: 'pw' } });
  try {
    const authFile = join(dir, 'broken-auth.json');
    await writeFile(
      authFile,
      JSON.stringify({ auths: { [privateRegistry.host]: { auth: 'not base64!!' } } }),
    );
    const { code, stdout, stderr } = await cli([`${privateRegistry.host}/p/app:v1`], authFile);
    expect(code).toBe(1);
    expect(stderr).toContain(`the entry for ${privateRegistry.host} cannot be used`);
    expect(stdout).toMatch(
      new RegExp(
        `\\[FAIL\\] reachable\\s+unauthorized: credentials for ${privateRegistry.host.replace(/\./g, '\\.')} in ${authFile.replace(/\./g, '\\.')} cannot be used`,
      ),
    );
    expect(stdout).not.toContain('not base64!!');
  } finally {
    await privateRegistry.stop();
  }
});
