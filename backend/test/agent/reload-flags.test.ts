// A configuration file that changes is reloaded, and the command-line flags the agent was started
// with still win over it: a reload used to drop them (flags gone, the file's values back).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { unmountBelow } from '../support/containerd.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';
import { startConfiguredAgent, type ConfiguredAgent } from './agent-process.ts';

jest.setTimeout(60_000);

let dir: string;
let agent: ConfiguredAgent | undefined;

beforeAll(async () => {
  dir = await makeTempDir('reload-flags');
});

afterAll(async () => {
  await agent?.stop();
  await unmountBelow(dir);
  await removeDir(dir);
});

/** The fields of the last "configuration reloaded" line. */
async function lastReload(a: ConfiguredAgent): Promise<Record<string, unknown> | undefined> {
  const lines = (await a.log()).split('\n').filter((l) => l.includes('configuration reloaded'));
  const last = lines.at(-1);
  return last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>);
}

it('applies the command-line flags again when the configuration file is reloaded', async () => {
  agent = await startConfiguredAgent(
    join(dir, 'agent'),
    ['cacheSize: 64Mi', 'prefetch: { enabled: true }', 'backgroundFetch: { enabled: true }'],
    ['--cache-size', '10Mi', '--no-background-fetch', '--no-prefetch'],
  );
  const edited = (await readFile(agent.configFile, 'utf8')).replace(
    'cacheSize: 64Mi',
    'cacheSize: 65Mi',
  );
  // The watch starts a little after "store mounted": edit until a change is seen (once a second,
  // longer than the watcher's debounce, which each write would otherwise restart).
  await waitFor(
    'the reload',
    async () => {
      if ((await lastReload(agent!)) !== undefined) return true;
      await writeFile(agent!.configFile, edited);
      return false;
    },
    15_000,
    1_000,
  );
  expect(await lastReload(agent)).toMatchObject({
    cacheSize: 10 * 2 ** 20,
    prefetch: { enabled: false },
    backgroundFetch: { enabled: false },
  });
});

it('keeps its configuration when the file is emptied (a write caught halfway)', async () => {
  agent ??= await startConfiguredAgent(join(dir, 'agent'), ['cacheSize: 64Mi']);
  const running = agent;
  const failures = async () =>
    (await running.log()).split('configuration reload failed; keeping the old one').length - 1;
  const before = await failures();
  await waitFor(
    'the empty file refused',
    async () => {
      if ((await failures()) > before) return true;
      await writeFile(running.configFile, '');
      return false;
    },
    15_000,
    1_000,
  );
  expect(await running.log()).toContain('agent.yaml is empty');
});
