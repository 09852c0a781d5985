// Credentials from containers/image's auth helper reach the agent: a registry with Basic auth
// answers a lookup ENOENT (so the runtime would pull normally) until `slipstream auth-helper`
// hands the agent credentials for the physical reference; then the layer is served lazily.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { MediaTypes } from '../../src/image/types.ts';
import { CredentialStore, openRegistryRepository } from '../../src/registry/index.ts';
import { run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  killWorker,
  pushEstargzImage,
  startAgentProcess,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(300_000);

const bin = new URL('../../bin/slipstream.js', import.meta.url).pathname;
const user = { username: 'puller', password: 'pull-secret-123' };

/** Copies repo:tag (manifest and blobs, bytes unchanged) from an open registry to another. */
async function copyImage(
  from: RegistryFixture,
  to: RegistryFixture,
  repo: string,
  tag: string,
  credentials: CredentialStore,
): Promise<void> {
  const get = async (path: string, accept?: string): Promise<Buffer> => {
    const res = await fetch(`${from.url}/v2/${repo}/${path}`, {
      headers: accept ? { accept } : {},
    });
    return Buffer.from(await res.arrayBuffer());
  };
  const manifestBytes = await get(`manifests/${tag}`, MediaTypes.ociManifest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  const target = openRegistryRepository(`${to.host}/${repo}`, { insecure: true, credentials });
  for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    await target.putBlob(await get(`blobs/${digest}`));
  }
  await target.putManifest(tag, MediaTypes.ociManifest, manifestBytes);
}

describe('credentials through slipstream auth-helper', () => {
  let dir: string;
  let open: RegistryFixture;
  let locked: RegistryFixture;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = await makeTempDir('store-auth');
    open = await startRegistry();
    locked = await startRegistry({ htpasswd: user });
    await writeFile(join(dir, 'registries.conf'), '');
    await pushEstargzImage(dir, open, 'app');
    const pusher = new CredentialStore();
    pusher.addAuthHelperMap({ [`${locked.host}/app:esgz`]: user });
    await copyImage(open, locked, 'app', 'esgz', pusher);
  });

  afterAll(() => tearDown(dir, agent, locked, open));

  it('misses without credentials, serves lazily once the helper passed them', async () => {
    agent = await startAgentProcess(dir);
    const ref = `${locked.host}/app:esgz`;
    const manifest = (await (
      await fetch(`${open.url}/v2/app/manifests/esgz`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as { layers: { digest: string }[] };
    const layerDir = join(
      agent.mountpoint,
      Buffer.from(ref).toString('base64'),
      manifest.layers[1].digest,
    );

    await expect(readFile(join(layerDir, 'diff/opt/app/hello.txt'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    // The reason is logged as the lookup is answered; the log file may lag the reply a little.
    await waitFor('the reason in the log', async () => /unauthorized/i.test(await agent!.log()));

    const helper = await run(
      process.execPath,
      [bin, 'auth-helper', '--state-dir', agent.stateDir],
      {
        input: JSON.stringify({ [ref]: user }),
      },
    );
    expect(helper.stderr).toBe('');
    expect(await readFile(join(layerDir, 'diff/opt/app/hello.txt'), 'utf8')).toBe(
      'hello from layer2\n',
    );
    expect(await agent.log()).not.toContain(user.password); // never logged
  });

  it("keeps the helper's credentials across a worker that died (the supervisor hands them on)", async () => {
    const ref = `${locked.host}/app:esgz`;
    await killWorker(agent!);
    // The new worker resolves the image again (manifest, TOCs): only with the credentials.
    const layers = (await (
      await fetch(`${open.url}/v2/app/manifests/esgz`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as { layers: { digest: string }[] };
    const layerDir = join(
      agent!.mountpoint,
      Buffer.from(ref).toString('base64'),
      layers.layers[0].digest,
    );
    expect(await readFile(join(layerDir, 'diff/etc/motd'), 'utf8')).toBe('welcome\n');
  });
});
