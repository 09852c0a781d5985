import { parse } from 'yaml';

import { agentConfigYaml } from '../fixtures/agentConfigMap';
import {
  DEFAULT_AGENT_OPTIONS,
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
