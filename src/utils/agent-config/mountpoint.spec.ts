import { parse } from 'yaml';

import { agentConfigYaml } from '../fixtures/agentConfigMap';
import { readMountpoint } from './mountpoint';

describe('readMountpoint', () => {
  it('agrees with a YAML parser on the rendered agent.yaml', () => {
    expect(readMountpoint(agentConfigYaml)).toBe(
      (parse(agentConfigYaml) as { mountpoint: string }).mountpoint,
    );
  });

  it.each([
    ['mountpoint: "/srv/store" # quoted', '/srv/store'],
    ["mountpoint: '/srv/store'", '/srv/store'],
    ['stateDir: /x\nmountpoint:   /a/b\n', '/a/b'],
  ])('reads %j', (text, expected) => {
    expect(readMountpoint(text)).toBe(expected);
  });

  it('ignores nested keys and missing values', () => {
    expect(readMountpoint('hub:\n  mountpoint: /nested\n')).toBeUndefined();
    expect(readMountpoint('mountpoint:\n')).toBeUndefined();
    expect(readMountpoint(undefined)).toBeUndefined();
  });
});
