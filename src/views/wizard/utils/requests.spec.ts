import { applyJsonPatch, PatchError } from '../../../utils/ctrcfg/jsonPatch';
import { agentConfigMap } from '../../../utils/fixtures/agentConfigMap';
import { clone } from '../../../utils/fixtures/clone';
import { agentConfigPatch, isConflict } from './requests';

describe('agentConfigPatch', () => {
  it('replaces agent.yaml only while the ConfigMap is as the wizard read it', () => {
    const patch = agentConfigPatch(agentConfigMap, 'cacheSize: 50Gi\n');
    expect(patch).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '2801456' },
      { op: 'test', path: '/data/agent.yaml', value: agentConfigMap.data?.['agent.yaml'] },
      { op: 'replace', path: '/data/agent.yaml', value: 'cacheSize: 50Gi\n' },
    ]);
    expect(applyJsonPatch(agentConfigMap, patch).data?.['agent.yaml']).toBe('cacheSize: 50Gi\n');
    // Another key changed meanwhile (a new resourceVersion): refused as well.
    const changed = clone(agentConfigMap);
    changed.data = { ...changed.data, 'other.yaml': 'x: 1\n' };
    changed.metadata = { ...changed.metadata, resourceVersion: '2801999' };
    expect(() => applyJsonPatch(changed, patch)).toThrow(PatchError);
  });
});

describe('isConflict', () => {
  const httpError = (code: number, message: string) => Object.assign(new Error(message), { code });

  it('recognises a refused precondition or test op', () => {
    expect(isConflict(httpError(409, 'the object has been modified'))).toBe(true);
    expect(
      isConflict(httpError(422, 'testing value /metadata/resourceVersion failed: test failed')),
    ).toBe(true);
    const response = { status: 422 };
    expect(isConflict(Object.assign(new Error('test operation failed'), { response }))).toBe(true);
  });

  it('leaves other failures as they are', () => {
    expect(isConflict(httpError(403, 'forbidden'))).toBe(false);
    expect(isConflict(httpError(422, 'spec.containerRuntimeConfig: Invalid value'))).toBe(false);
    expect(isConflict(new Error('network'))).toBe(false);
  });
});
