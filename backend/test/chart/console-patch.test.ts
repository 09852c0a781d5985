// Runs the console patch Jobs' script exactly as the rendered Jobs run it (`/bin/sh -c <script>
// console-plugins add|remove slipstream`) against a JSON fixture of
// consoles.operator.openshift.io/cluster. A stand-in `oc` (shell + jq) serves `get` from the
// fixture and applies `patch --type=merge` with the API server's optimistic concurrency: a
// patch whose metadata.resourceVersion is stale fails with Conflict.
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { makeTempDir, removeDir } from '../support/tmp.ts';
import { createRenderer, find } from './render.ts';
import type { Renderer } from './render.ts';

const run = promisify(execFile);

// get: print the fixture (or NotFound). patch: refuse a stale resourceVersion; otherwise merge
// (jq's `*` merges objects and replaces arrays, as a JSON merge patch does) and bump the version.
// CONCURRENT_PLUGIN simulates another writer that adds a plugin just before our first patch.
const FAKE_OC = `#!/bin/sh
set -eu
state=$FIXTURE
echo "$*" >> "$FIXTURE.calls"
case "$1" in
  get)
    [ -f "$state" ] || { echo 'Error from server (NotFound): consoles.operator.openshift.io "cluster" not found' >&2; exit 1; }
    cat "$state" ;;
  patch)
    patch=$(printf '%s' "$*" | sed -n 's/.* -p //p')
    if [ -n "\${CONCURRENT_PLUGIN:-}" ] && [ ! -f "$state.raced" ]; then
      touch "$state.raced"
      jq --arg p "$CONCURRENT_PLUGIN" '.spec.plugins += [$p] | .metadata.resourceVersion = ((.metadata.resourceVersion | tonumber) + 1 | tostring)' "$state" > "$state.tmp" && mv "$state.tmp" "$state"
    fi
    current=$(jq -r .metadata.resourceVersion "$state")
    wanted=$(printf '%s' "$patch" | jq -r '.metadata.resourceVersion // empty')
    if [ -n "$wanted" ] && [ "$wanted" != "$current" ]; then
      echo 'Error from server (Conflict): Operation cannot be fulfilled on consoles.operator.openshift.io "cluster": the object has been modified; please apply your changes to the latest version and try again' >&2
      exit 1
    fi
    jq --argjson p "$patch" '. * $p | .metadata.resourceVersion = ((.metadata.resourceVersion | tonumber) + 1 | tostring)' "$state" > "$state.tmp" && mv "$state.tmp" "$state"
    echo 'console.operator.openshift.io/cluster patched' ;;
  *) echo "fake oc: unsupported $*" >&2; exit 3 ;;
esac
`;

interface Console {
  metadata: { name: string; resourceVersion: string };
  spec: { managementState: string; plugins?: string[] };
}

let renderer: Renderer;
let dir: string;
let scripts: { add: string[]; remove: string[] };

beforeAll(async () => {
  renderer = await createRenderer();
  dir = await makeTempDir('console-patch');
  await writeFile(join(dir, 'oc'), FAKE_OC);
  await chmod(join(dir, 'oc'), 0o755);
  const { objects } = await renderer.render();
  const command = (name: string): string[] =>
    (
      find(objects, 'Job', name).spec as {
        template: { spec: { containers: { command: string[] }[] } };
      }
    ).template.spec.containers[0].command;
  scripts = {
    add: command('slipstream-console-enable'),
    remove: command('slipstream-console-disable'),
  };
}, 120_000);

afterAll(async () => {
  await renderer?.cleanup();
  if (dir) await removeDir(dir);
});

let fixtureCounter = 0;

async function fixture(plugins: string[] | undefined): Promise<string> {
  const file = join(dir, `console-${fixtureCounter++}.json`);
  const spec: Console['spec'] = { managementState: 'Managed' };
  if (plugins) spec.plugins = plugins;
  await writeFile(
    file,
    JSON.stringify({ metadata: { name: 'cluster', resourceVersion: '100' }, spec }),
  );
  return file;
}

async function runJob(
  action: 'add' | 'remove',
  file: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; console: Console | undefined; patches: number }> {
  const [shell, ...args] = scripts[action];
  const { stdout } = await run(shell, args, {
    env: { PATH: `${dir}:${process.env.PATH}`, FIXTURE: file, ...env },
  });
  const read = async (path: string) => readFile(path, 'utf8').catch(() => undefined);
  const state = await read(file);
  const calls = (await read(`${file}.calls`)) ?? '';
  return {
    stdout,
    console: state ? (JSON.parse(state) as Console) : undefined,
    patches: calls.split('\n').filter((l) => l.startsWith('patch')).length,
  };
}

describe('console plugin patch Jobs', () => {
  it('run the script with the action and plugin name', () => {
    expect(scripts.add.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(scripts.add.slice(3)).toEqual(['console-plugins', 'add', 'slipstream']);
    expect(scripts.remove.slice(3)).toEqual(['console-plugins', 'remove', 'slipstream']);
  });

  it('add appends the plugin and keeps the others in order', async () => {
    const file = await fixture(['monitoring-plugin', 'networking-console-plugin']);
    const { console } = await runJob('add', file);
    expect(console?.spec.plugins).toEqual([
      'monitoring-plugin',
      'networking-console-plugin',
      'slipstream',
    ]);
    expect(console?.spec.managementState).toBe('Managed');
  });

  it('add creates the list when the console has none', async () => {
    const file = await fixture(undefined);
    expect((await runJob('add', file)).console?.spec.plugins).toEqual(['slipstream']);
  });

  it('add is idempotent: a second run does not patch', async () => {
    const file = await fixture(['slipstream', 'other']);
    const { console, patches, stdout } = await runJob('add', file);
    expect(patches).toBe(0);
    expect(stdout).toContain('nothing to add');
    expect(console?.spec.plugins).toEqual(['slipstream', 'other']);
    expect(console?.metadata.resourceVersion).toBe('100');
  });

  it('remove takes out every copy of the plugin and nothing else', async () => {
    const file = await fixture(['a', 'slipstream', 'b', 'slipstream']);
    const { console, patches } = await runJob('remove', file);
    expect(console?.spec.plugins).toEqual(['a', 'b']);
    expect(patches).toBe(1);
  });

  it('remove is idempotent: nothing to do when the plugin is not listed', async () => {
    const file = await fixture(['a']);
    const first = await runJob('remove', file);
    expect(first.patches).toBe(0);
    const empty = await fixture(undefined);
    expect((await runJob('remove', empty)).patches).toBe(0);
  });

  it('install then uninstall leaves the console as it was', async () => {
    const file = await fixture(['a', 'b']);
    await runJob('add', file);
    await runJob('add', file);
    const { console } = await runJob('remove', file);
    expect(console?.spec.plugins).toEqual(['a', 'b']);
  });

  it('reads again when another writer changed the list meanwhile, and keeps their change', async () => {
    const file = await fixture(['a']);
    const { console, patches, stdout } = await runJob('add', file, {
      CONCURRENT_PLUGIN: 'other-plugin',
    });
    expect(stdout).toContain('reading it again');
    expect(patches).toBe(2);
    expect(console?.spec.plugins).toEqual(['a', 'other-plugin', 'slipstream']);
  });

  it('succeeds without a console (capability disabled): nothing to add to or remove from', async () => {
    const missing = join(dir, 'no-console.json');
    for (const action of ['add', 'remove'] as const) {
      const { stdout, console } = await runJob(action, missing);
      expect(stdout).toContain(`nothing to ${action}`);
      expect(console).toBeUndefined();
    }
  });

  it('fails on a usage error', async () => {
    const script = scripts.add[2];
    await expect(
      run('/bin/sh', ['-c', script, 'console-plugins', 'enable', 'slipstream']),
    ).rejects.toMatchObject({
      code: 2,
    });
  });
});
