import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { buildProgram } from '../../src/cli/main.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

describe('slipstream CLI', () => {
  it('prints help listing its name', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help']);
    expect(stdout).toContain('Usage: slipstream');
  });

  it('reports the package version', async () => {
    expect((await buildProgram()).version()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('starts the auth helper without loading the agent, hub or converter', async () => {
    // containers/image runs the helper at every pull: its start is on the pull's path.
    const dir = await makeTempDir('cli-modules');
    try {
      const hook = join(dir, 'record.mjs');
      const list = join(dir, 'modules.json');
      await writeFile(
        hook,
        `import { registerHooks } from 'node:module';
         import { writeFileSync } from 'node:fs';
         const seen = [];
         registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });
         process.on('exit', () => writeFileSync(${JSON.stringify(list)}, JSON.stringify(seen)));`,
      );
      const args = ['--import', pathToFileURL(hook).href, bin, 'auth-helper'];
      const child = run(process.execPath, [...args, '--state-dir', join(dir, 'none')]);
      child.child.stdin?.end('{}');
      const { stderr } = await child; // no agent there: a warning, exit 0
      expect(stderr).toContain('cannot reach the agent');
      const loaded = JSON.parse(await readFile(list, 'utf8')) as string[];
      expect(loaded.some((url) => url.endsWith('/src/cli/auth-helper.ts'))).toBe(true);
      expect(
        loaded.filter((url) => /\/src\/(agent|hub|convert|registry|store)\//.test(url)),
      ).toEqual([]);
    } finally {
      await removeDir(dir);
    }
  });
});
