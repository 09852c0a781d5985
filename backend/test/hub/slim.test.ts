// The informers cache slimmed objects: slimming must not change what the hub reads from them.
import { observePod, observePulledEvent } from '../../src/hub/pod-record.ts';
import { slimEvent, slimPod } from '../../src/hub/slim.ts';
import { PulledMessages, podPhases, pulledEvent } from '../support/kube-fixtures.ts';

const phases = podPhases({
  namespace: 'shop',
  name: 'cart-7d9f8b6c5d-x2x9q',
  node: 'worker-3.ocp.example.com',
  containers: [
    { name: 'app', image: 'quay.io/shop/cart:3', imageDigest: `sha256:${'3c'.repeat(32)}` },
    { name: 'proxy', image: 'envoyproxy/envoy:v1.30', imageDigest: `sha256:${'e0'.repeat(32)}` },
  ],
  createdAt: Date.parse('2026-11-22T06:00:00Z'),
  scheduledAfter: 1,
  sandboxReadyAfter: 2,
  startedAfter: 9,
  readyAfter: 12,
  uid: 'b1f0c2d3-0000-4000-8000-000000000001',
});

it.each(phases.map((p, i) => [i, p] as const))(
  'phase %i reads the same after slimming',
  (_i, pod) => {
    const slim = slimPod(pod);
    expect(observePod(slim)).toEqual(observePod(pod));
    expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(pod).length / 2);
  },
);

it('keeps what a Pulled event is read for', () => {
  const event = pulledEvent({
    namespace: 'shop',
    podName: 'cart-7d9f8b6c5d-x2x9q',
    podUid: 'b1f0c2d3-0000-4000-8000-000000000001',
    container: 'proxy',
    node: 'worker-3.ocp.example.com',
    message: PulledMessages.pulledWithSize('envoyproxy/envoy:v1.30', '3.2s', '3.4s', 61_000_000),
    at: Date.parse('2026-11-22T06:00:08Z'),
  });
  expect(observePulledEvent(slimEvent(event))).toEqual(observePulledEvent(event));
  expect(observePulledEvent(slimEvent(event))).not.toBeNull();
});
