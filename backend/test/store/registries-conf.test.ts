// The agent reads registries.conf as the runtime does, and again when it changes: a file it
// cannot parse makes lookups miss at once (the worker keeps serving; it used to die at start, over
// and over, with the store mounted and every lookup hanging until the agent gave up), and a fixed
// or edited file — a namespace remapped, a `*.` wildcard mirror — takes effect without a restart.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  killWorker,
  layerDirIn,
  pushEstargzImage,
  startFreshAgent,
  tearDown,
  type EstargzManifest,
} from './fixtures.ts';

jest.setTimeout(300_000);

describe('registries.conf in the agent', () => {
  let dir: string;
  let registry: RegistryFixture;
  let manifest: EstargzManifest;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = await makeTempDir('store-regconf');
    registry = await startRegistry();
    manifest = await pushEstargzImage(dir, registry, 'team/app', {
      'etc/greeting': 'hello through a remapped name\n',
    });
  });

  afterAll(() => tearDown(dir, agent, registry));

  /** The agent's registries.conf (startFreshAgent writes it beside its config). */
  const confPath = (): string => join(dir, 'agent', 'registries.conf');

  /** Writes registries.conf until the agent logs `message` (its poll sees a change every 5 s). */
  async function rewriteUntilLogged(text: string, message: string): Promise<void> {
    const count = async () => (await agent!.log()).split(message).length;
    const before = await count();
    await writeFile(confPath(), text);
    await waitFor('the agent to read registries.conf again', async () => {
      return (await count()) > before;
    });
  }

  const greetingOf = (ref: string): Promise<string> =>
    readFile(
      join(layerDirIn(agent!.mountpoint, ref, manifest.layers[0].digest), 'diff/etc/greeting'),
      'utf8',
    );

  it('misses every lookup while registries.conf does not parse, then follows its edits', async () => {
    agent = await startFreshAgent(dir, 'agent', {}, [registry.host]);
    const insecure = `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`;
    await rewriteUntilLogged(`${insecure}[[registry]\n`, 'registries.conf cannot be used');
    // A worker that starts with the broken file (after a crash, an OOM kill, an upgrade) serves.
    await killWorker(agent);
    await waitFor(
      'the new worker to start',
      async () => (await agent!.log()).split('registries.conf cannot be used').length > 2,
    );
    const direct = `${registry.host}/team/app:esgz`;
    const started = Date.now();
    await expect(
      stat(layerDirIn(agent.mountpoint, direct, manifest.layers[0].digest)),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    expect(Date.now() - started).toBeLessThan(5_000); // a miss, not the 10 s lookup bound
    expect(await agent.log()).toContain('invalid TOML');

    // Fixed, with a namespace remapped: the logical name is served from the physical location.
    await rewriteUntilLogged(
      `${insecure}[[registry]]\nprefix = "example.test/team"\nlocation = "${registry.host}/team"\ninsecure = true\n`,
      'registries.conf changed: reloaded',
    );
    expect(await greetingOf(direct)).toBe('hello through a remapped name\n');
    expect(await greetingOf('example.test/team/app:esgz')).toBe('hello through a remapped name\n');

    // A wildcard source without a location, mirrored: a subdomain's images come from the mirror
    // (its own name does not resolve: only the mirror can have answered).
    await rewriteUntilLogged(
      `${insecure}[[registry]]\nprefix = "*.example.test"\n[[registry.mirror]]\nlocation = "${registry.host}"\ninsecure = true\n`,
      'registries.conf changed: reloaded',
    );
    expect(await greetingOf('team.example.test/team/app:esgz')).toBe(
      'hello through a remapped name\n',
    );
    // Only the worker this test killed died.
    expect((await agent.log()).split('"msg":"worker died').length).toBe(2);
    expect(await agent.log()).not.toContain('worker keeps dying');
  });
});
