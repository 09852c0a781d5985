import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  ConfigError,
  loadAgentConfig,
  parseByteSize,
  resolveAgentConfig,
} from '../../src/agent/config.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

describe('agent configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('agent-config');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('reads the documented file, expands ${NODE_NAME} and lets flags override it', async () => {
    const path = join(dir, 'agent.yaml');
    await writeFile(
      path,
      [
        'mountpoint: /var/lib/slipstream/store',
        'stateDir: /var/lib/slipstream',
        'cacheSize: 20Gi',
        'lookupTimeoutSeconds: 10',
        'prefetch: { enabled: true, maxBytes: 256Mi }',
        'backgroundFetch: { enabled: true, quietPeriodSeconds: 5, maxPauseSeconds: 3, concurrency: 2 }',
        'registriesConf: /etc/containers/registries.conf',
        'authFiles: [/var/lib/kubelet/config.json, /run/containers/0/auth.json]',
        'metricsAddress: 0.0.0.0:9464',
        'hub: { url: "https://slipstream-hub.slipstream.svc:8443", tokenFile: /t, caFile: /ca.crt, reportIntervalSeconds: 10 }',
        'nodeName: ${NODE_NAME}',
        'logLevel: info',
      ].join('\n'),
    );
    const config = await loadAgentConfig(
      path,
      { mountpoint: '/mnt/store', backgroundFetch: false, cacheSize: '1Gi' },
      { NODE_NAME: 'worker-1' },
    );
    expect(config).toMatchObject({
      mountpoint: '/mnt/store',
      cacheSize: 2 ** 30,
      prefetch: { enabled: true, maxBytes: 256 * 2 ** 20 },
      backgroundFetch: {
        enabled: false,
        quietPeriodSeconds: 5,
        maxPauseSeconds: 3,
        concurrency: 2,
      },
      hub: { url: 'https://slipstream-hub.slipstream.svc:8443', reportIntervalSeconds: 10 },
      nodeName: 'worker-1',
    });
  });

  it('fills defaults when no file is given', async () => {
    const config = await loadAgentConfig(undefined, {}, { NODE_NAME: 'n' });
    expect(config.mountpoint).toBe('/var/lib/slipstream/store');
    expect(config.lookupTimeoutSeconds).toBe(10);
    expect(config.cacheSize).toBe(20 * 2 ** 30);
    expect(config.warmUp).toBe(true);
    expect(config.shutdownGraceSeconds).toBe(10);
    expect(resolveAgentConfig({ warmUp: false }).warmUp).toBe(false);
  });

  it('rejects unknown keys and bad values with errors that name the field', () => {
    const attempt = (): unknown =>
      resolveAgentConfig({
        cacheSize: 'lots',
        prefetch: { enable: true },
        mountpoint: 'relative/path',
        metricsAddress: 'nowhere',
        cacheMinFreePercent: 120,
        warmUp: 'no',
      });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/cacheSize: not a byte size: lots/);
    expect(attempt).toThrow(/unknown field prefetch\.enable/);
    expect(attempt).toThrow(/mountpoint: must be an absolute path/);
    expect(attempt).toThrow(/metricsAddress/);
    expect(attempt).toThrow(/cacheMinFreePercent/);
    expect(attempt).toThrow(/warmUp/);
  });

  it('reports YAML syntax errors and unreadable files clearly', async () => {
    const path = join(dir, 'broken.yaml');
    await writeFile(path, 'mountpoint: [unclosed');
    await expect(loadAgentConfig(path)).rejects.toThrow(/not valid YAML/);
    await expect(loadAgentConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/cannot read/);
    expect(() => resolveAgentConfig('just a string')).toThrow(/expected a YAML mapping/);
  });

  it('parses byte sizes', () => {
    expect(parseByteSize('256Mi')).toBe(256 * 2 ** 20);
    expect(parseByteSize('1.5G')).toBe(1.5e9);
    expect(parseByteSize(4096)).toBe(4096);
    expect(parseByteSize('12 parsecs')).toBeUndefined();
  });
});
