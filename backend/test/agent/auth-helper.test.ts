import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startAuthSocket } from '../../src/agent/auth-socket.ts';
import { CredentialStore } from '../../src/registry/index.ts';
import { run } from '../support/process.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

describe('slipstream auth-helper → agent socket', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('auth-helper');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('hands the containers/image JSON to the agent over a root-only socket', async () => {
    const received: unknown[] = [];
    const credentials = new CredentialStore();
    const socket = await startAuthSocket(join(dir, 'auth.sock'), (json) => {
      received.push(json);
      credentials.addAuthHelperMap(json);
    });
    try {
      expect((await stat(socket.path)).mode & 0o777).toBe(0o600);
      const input = JSON.stringify({
        'registry.example.com/team/app:v1': { username: 'robot', password: 's3cret' },
      });
      const result = await run(process.execPath, [bin, 'auth-helper', '--state-dir', dir], {
        input,
      });
      expect(result.stderr).not.toMatch(/cannot reach|agent said/);
      expect(received).toEqual([JSON.parse(input)]);
    } finally {
      await socket.close();
    }
  });

  it('takes its socket path back from whatever a previous run or a hand left there', async () => {
    const path = join(dir, 'auth.sock');
    await mkdir(join(path, 'sub'), { recursive: true });
    const socket = await startAuthSocket(path, () => undefined);
    try {
      expect((await stat(path)).isSocket()).toBe(true);
    } finally {
      await socket.close();
    }
  });

  it('tells the helper a message is too large instead of resetting the connection', async () => {
    const received: unknown[] = [];
    const socket = await startAuthSocket(join(dir, 'auth.sock'), (json) => received.push(json));
    try {
      const input = JSON.stringify({
        'r.example/a:1': { username: 'u', password: 'x'.repeat(2 << 20) },
      });
      const result = await run(process.execPath, [bin, 'auth-helper', '--state-dir', dir], {
        input,
      });
      expect(result.code).toBe(0); // never fails a pull
      expect(result.stderr).toMatch(/message too large/);
      expect(result.stderr).not.toMatch(/cannot reach/);
      expect(received).toEqual([]);
    } finally {
      await socket.close();
    }
  });

  it('never fails a pull when the agent is not running, and rejects garbage', async () => {
    const missing = await run(process.execPath, [bin, 'auth-helper', '--state-dir', dir], {
      input: '{}',
    });
    expect(missing.code).toBe(0);
    expect(missing.stderr).toMatch(/cannot reach the agent/);
    const garbage = await run(process.execPath, [bin, 'auth-helper', '--state-dir', dir], {
      input: 'not json',
    });
    expect(garbage.code).toBe(0);
    expect(garbage.stderr).toMatch(/not JSON/);
  });
});
