import { parse } from 'yaml';

import { agentConfigYaml } from '../fixtures/agentConfigMap';
import {
  DEFAULT_AGENT_OPTIONS,
  parseAgentConfig,
  parseQuantity,
  readAgentOptions,
  validateAgentOptions,
  writeAgentOptions,
} from './agentConfig';

describe('agent options', () => {
  it('reads the options from the rendered agent.yaml', () => {
    expect(readAgentOptions(agentConfigYaml)).toEqual(DEFAULT_AGENT_OPTIONS);
    expect(readAgentOptions(undefined)).toEqual(DEFAULT_AGENT_OPTIONS);
  });

  it('writes only the wizard options and keeps the rest, comments included', () => {
    const written = writeAgentOptions(agentConfigYaml, {
      prefetchEnabled: false,
      prefetchMaxBytes: '64Mi',
      backgroundFetchEnabled: true,
      backgroundConcurrency: 4,
      cacheSize: '50Gi',
    });
    expect(written).toContain('# Rendered by the slipstream Helm chart.');
    const before = parse(agentConfigYaml) as Record<string, unknown>;
    expect(parse(written)).toEqual({
      ...before,
      cacheSize: '50Gi',
      prefetch: { enabled: false, maxBytes: '64Mi' },
      backgroundFetch: { enabled: true, quietPeriodSeconds: 5, concurrency: 4 },
    });
  });

  it('creates a document from nothing', () => {
    expect(parse(writeAgentOptions('', DEFAULT_AGENT_OPTIONS))).toEqual({
      cacheSize: '20Gi',
      prefetch: { enabled: true, maxBytes: '256Mi' },
      backgroundFetch: { enabled: true, concurrency: 2 },
    });
  });

  it('refuses to rewrite a broken document', () => {
    expect(() => writeAgentOptions('a: [', DEFAULT_AGENT_OPTIONS)).toThrow();
    expect(() => writeAgentOptions('- a\n- b\n', DEFAULT_AGENT_OPTIONS)).toThrow();
  });

  it('reads a malformed agent.yaml without throwing, and says why it cannot be used', () => {
    const broken =
      'mountpoint: /var/lib/slipstream/store\ncacheSize: [20Gi\nprefetch: {enabled: true\n';
    const parsed = parseAgentConfig(broken);
    expect(parsed.options).toEqual(DEFAULT_AGENT_OPTIONS);
    expect(parsed.error).toEqual(expect.any(String));
    expect(parseAgentConfig('just a string').error).toBe('agent.yaml is not a mapping of keys');
    expect(parseAgentConfig(agentConfigYaml).error).toBeUndefined();
    expect(parseAgentConfig(undefined)).toEqual({ options: DEFAULT_AGENT_OPTIONS });
  });

  it('ignores values of the wrong type instead of passing them on', () => {
    expect(
      readAgentOptions('prefetch: { enabled: "yes" }\nbackgroundFetch: { concurrency: "8" }\n'),
    ).toEqual(DEFAULT_AGENT_OPTIONS);
  });

  it('accepts a whole concurrency within the agent’s bounds only', () => {
    const concurrency = (backgroundConcurrency: number) =>
      validateAgentOptions({ ...DEFAULT_AGENT_OPTIONS, backgroundConcurrency });
    expect(concurrency(1)).toEqual([]);
    expect(concurrency(64)).toEqual([]);
    expect(concurrency(65)).toEqual(['concurrency']);
    expect(concurrency(500)).toEqual(['concurrency']);
    expect(concurrency(2.5)).toEqual(['concurrency']);
    expect(concurrency(Number.NaN)).toEqual(['concurrency']);
  });

  it('parses and validates quantities as the agent does', () => {
    expect(parseQuantity('20Gi')).toBe(20 * 2 ** 30);
    expect(parseQuantity('1048576')).toBe(1048576);
    expect(parseQuantity('20GB')).toBeNull();
    expect(validateAgentOptions({ ...DEFAULT_AGENT_OPTIONS, cacheSize: '0' })).toEqual([
      'cache-size',
    ]);
    expect(
      validateAgentOptions({
        ...DEFAULT_AGENT_OPTIONS,
        prefetchMaxBytes: 'x',
        backgroundConcurrency: 0,
      }),
    ).toEqual(['prefetch-max-bytes', 'concurrency']);
  });
});
