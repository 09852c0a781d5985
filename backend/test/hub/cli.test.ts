// `slipstream hub` as an operator meets it: bad configuration is a one-line error naming the field.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jest } from '@jest/globals';

import { resolveHubConfig } from '../../src/hub/config.ts';
import { run } from '../support/process.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

// Each case starts a Node process that loads the Kubernetes client: slow on a busy machine.
jest.setTimeout(60_000);

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('hub-cli');
});
afterAll(async () => {
  await removeDir(dir);
});

it('rejects unknown keys, bad values and missing TLS with exit code 2 and the fields named', async () => {
  const file = join(dir, 'hub.yaml');
  await writeFile(file, 'listen: 0.0.0.0\nretentionDays: 0\ncolour: blue\nnamespace: slipstream\n');
  const result = await run(process.execPath, [bin, 'hub', '--config', file], {
    allowFailure: true,
  });
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/^slipstream hub: invalid hub configuration: /);
  expect(result.stderr).toMatch(/listen: expected host:port/);
  expect(result.stderr).toMatch(/retentionDays:/);
  expect(result.stderr).toMatch(/Unrecognized key: "colour"/);
  expect(result.stderr).toMatch(/tls: tls \{certFile, keyFile\} is required/);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
});

it('says so when there is no Kubernetes API to watch', async () => {
  const file = join(dir, 'plain.yaml');
  await writeFile(
    file,
    `insecureHttp: true\nlisten: 127.0.0.1:0\ndbPath: ${join(dir, 'hub.db')}\n`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, POD_NAMESPACE: 'slipstream' };
  delete env.KUBERNETES_SERVICE_HOST;
  const result = await run(process.execPath, [bin, 'hub', '--config', file], {
    allowFailure: true,
    env,
  });
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/no usable Kubernetes API server address/);
});

it('fills defaults and takes the namespace from POD_NAMESPACE', () => {
  expect(resolveHubConfig({ insecureHttp: true }, { POD_NAMESPACE: 'ops' })).toEqual({
    listen: ':8443',
    insecureHttp: true,
    dbPath: '/var/lib/slipstream-hub/hub.db',
    retentionDays: 30,
    namespace: 'ops',
    agentConfigMap: 'slipstream-agent',
    logLevel: 'info',
  });
  expect(() => resolveHubConfig({ insecureHttp: true }, {})).toThrow(/namespace/);
});

it('names a damaged database in one line, without a stack trace', async () => {
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  const dbPath = join(dir, 'damaged.db');
  await writeFile(dbPath, 'this is not a database, it is a note someone left here\n'.repeat(200));
  const file = join(dir, 'damaged.yaml');
  await writeFile(
    file,
    `insecureHttp: true\nlisten: 127.0.0.1:0\ndbPath: ${dbPath}\nnamespace: slipstream\nkubeconfig: ${kubeconfig}\n`,
  );
  const result = await run(process.execPath, [bin, 'hub', '--config', file], {
    allowFailure: true,
  });
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/^slipstream hub: cannot use hub database .*damaged\.db: /);
  expect(result.stderr).toMatch(/not a database/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
});
