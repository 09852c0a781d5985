import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { buildProgram } from '../../src/cli/main.ts';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

describe('slipstream CLI', () => {
  it('prints help listing its name', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help']);
    expect(stdout).toContain('Usage: slipstream');
  });

  it('reports the package version', () => {
    expect(buildProgram().version()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
