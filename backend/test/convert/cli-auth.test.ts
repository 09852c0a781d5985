// The convert/inspect CLI authenticates to registries with the same auth files podman reads
// (here REGISTRY_AUTH_FILE), against a real docker-registry with htpasswd Basic auth. A
// destination it may not push to is refused before any layer is converted.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { buildTar } from '../../src/tar/index.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { writeSourceImage } from './layout-helpers.ts';
import { runCli as cli } from './run-cli.ts';

jest.setTimeout(120_000);

describe('convert and inspect with registry credentials', () => {
  const user = { username: 'builder', password: 's3cret-Pa55' };
  let dir: string;
  let registry: RegistryFixture;
  let withAuth: NodeJS.ProcessEnv;
  let withoutAuth: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convert-auth-'));
    registry = await startRegistry({ htpasswd: user });
    const tar = buildTar([{ name: 'hello.txt', type: 'file', data: Buffer.from('hello\n') }]);
    await writeSourceImage(join(dir, 'src'), 'v1', [tar]);
    const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64');
    await writeFile(
      join(dir, 'auth.json'),
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
    );
    await writeFile(join(dir, 'empty.json'), '{"auths":{}}');
    const base = { ...process.env, HOME: dir, CONTAINERS_REGISTRIES_CONF: join(dir, 'none.conf') };
    withAuth = { ...base, REGISTRY_AUTH_FILE: join(dir, 'auth.json') };
    withoutAuth = { ...base, REGISTRY_AUTH_FILE: join(dir, 'empty.json') };
  });

  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is refused without credentials and never prints the password', async () => {
    const target = `${registry.host}/private/app:esgz`;
    const refused = await cli(
      ['convert', '--insecure', `oci:${join(dir, 'src')}:v1`, target],
      withoutAuth,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /cannot push to [^ ]+\/private\/app: .*not authorized .*requires a username and password/,
    );
    expect(refused.stderr).not.toContain(user.password);
    // Said before converting: no layer was converted, and the registry saw one upload asked for.
    expect(refused.stderr).not.toMatch(/image layer/);
    const requests = (await registry.accessLog()).filter((l) => l.path.includes('/private/'));
    expect(requests.map((l) => `${l.method} ${l.status}`)).toEqual(['POST 401']);
  });

  it('pushes and inspects with the credentials from REGISTRY_AUTH_FILE', async () => {
    const target = `${registry.host}/private/app:esgz`;
    const converted = await cli(
      ['convert', '--insecure', `oci:${join(dir, 'src')}:v1`, target],
      withAuth,
    );
    expect(converted.stderr).not.toContain(user.password);
    expect(converted.code).toBe(0);
    // The upload opened to check for push access at the start was cancelled, not left open.
    const probe = (await registry.accessLog()).filter((l) => l.path.includes('/private/'));
    const opened = probe.filter((l) => l.method === 'POST' && l.status === 202);
    expect(opened.length).toBeGreaterThan(0);
    expect(probe.some((l) => l.method === 'DELETE' && l.status === 204)).toBe(true);
    const inspected = await cli(['inspect', '--insecure', '--json', target], withAuth);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain('"estargz"');
  });
});
