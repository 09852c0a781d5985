// Parsing the kubelet's Pulled event messages, in every form kubelets have written them.
import {
  containerFromFieldPath,
  parseGoDuration,
  parsePulledMessage,
} from '../../src/hub/kubelet-events.ts';
import { PulledMessages } from '../support/kube-fixtures.ts';

const IMAGE =
  'quay.io/openshift/origin-cli@sha256:0c9d3f1b2a4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c';

describe('parseGoDuration', () => {
  it.each([
    ['1.234s', 1.234],
    ['850ms', 0.85],
    ['2m3.5s', 123.5],
    ['1h0m0s', 3600],
    ['12µs', 0.000012],
    ['12us', 0.000012],
    ['150ns', 1.5e-7],
    ['0', 0],
    ['0s', 0],
  ])('%s is %f seconds', (text, seconds) => {
    expect(parseGoDuration(text)).toBeCloseTo(seconds, 9);
  });

  it.each(['', 's', '1.2', '3 s', '1x', '-1s', '1s junk'])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeNull();
  });
});

describe('parsePulledMessage', () => {
  it('reads pull time, time including waiting and image size (Kubernetes >= 1.30)', () => {
    expect(
      parsePulledMessage(PulledMessages.pulledWithSize(IMAGE, '2m3.512s', '2m10.001s', 734003200)),
    ).toEqual({
      kind: 'pulled',
      image: IMAGE,
      pullSeconds: 123.512,
      totalSeconds: 130.001,
      imageSizeBytes: 734003200,
    });
  });

  it('reads the form without image size (1.26-1.29)', () => {
    expect(
      parsePulledMessage(PulledMessages.pulledWithWaiting('busybox:1.36', '850ms', '1.2s')),
    ).toEqual({
      kind: 'pulled',
      image: 'busybox:1.36',
      pullSeconds: 0.85,
      totalSeconds: 1.2,
      imageSizeBytes: null,
    });
  });

  it('reads the oldest form with the pull time only', () => {
    expect(parsePulledMessage(PulledMessages.pulledPlain('nginx', '14.006573735s'))).toMatchObject({
      kind: 'pulled',
      pullSeconds: 14.006573735,
      totalSeconds: null,
    });
  });

  it('reads both "already present" forms', () => {
    expect(parsePulledMessage(PulledMessages.alreadyPresent(IMAGE))).toEqual({
      kind: 'already-present',
      image: IMAGE,
    });
    expect(
      parsePulledMessage(
        PulledMessages.alreadyPresentAccessible('registry.redhat.io/ubi9/ubi:9.4'),
      ),
    ).toEqual({
      kind: 'already-present',
      image: 'registry.redhat.io/ubi9/ubi:9.4',
    });
  });

  it.each([
    'Pulling image "busybox"',
    'Failed to pull image "busybox": rpc error: code = Unknown',
    'Successfully pulled image "busybox" in soon',
    'Container image "busybox" is present',
    '',
  ])('ignores %j', (message) => {
    expect(parsePulledMessage(message)).toBeNull();
  });
});

describe('containerFromFieldPath', () => {
  it('names the container of spec.containers, initContainers and ephemeralContainers', () => {
    expect(containerFromFieldPath('spec.containers{app}')).toBe('app');
    expect(containerFromFieldPath('spec.initContainers{migrate}')).toBe('migrate');
    expect(containerFromFieldPath('spec.ephemeralContainers{debugger-x7k2p}')).toBe(
      'debugger-x7k2p',
    );
    expect(containerFromFieldPath('spec.volumes{data}')).toBeNull();
    expect(containerFromFieldPath(undefined)).toBeNull();
  });
});
