// The demo's cluster view: the real hub (HTTPS, SQLite file in a temp dir) with the stand-in
// Kubernetes API server as its only stand-in. The pods are what the kubelet would record for the
// two real podman pulls: Pod objects through all their phases and a Pulled event carrying the
// pull time podman took, placed at the wall-clock times the pulls really happened.
import type { PodsPageT, PodStartupT, SummaryT } from '../src/hub/api-schemas.ts';
import type { TestHub } from '../test/support/hub.ts';
import { PulledMessages } from '../test/support/kube-fixtures.ts';
import { waitFor } from '../test/support/tmp.ts';

/** One real pull + first run, timed. */
export interface MeasuredStart {
  image: string;
  /** Wall clock (ms since the epoch) when the pull began. */
  pullStartedAt: number;
  pullMs: number;
  runMs: number;
  imageBytes: number;
}

// The kubelet's steps before the pull (schedule, sandbox) are not part of a podman run; the demo
// gives each pod the same 1 s for each, so they cancel out in the comparison.
const SCHEDULED_AFTER = 1;
const SANDBOX_AFTER = 2;

/** Applies the pod and its Pulled event; returns the pod's uid. */
export async function recordPod(
  hub: TestHub,
  node: string,
  name: string,
  start: MeasuredStart,
): Promise<string> {
  const pullSeconds = Math.round(start.pullMs) / 1000;
  const startedAfter = SANDBOX_AFTER + Math.ceil((start.pullMs + start.runMs) / 1000);
  return hub.seedPod(
    {
      namespace: 'demo',
      name,
      node,
      containers: [{ name: 'app', image: start.image, imageDigest: `sha256:${'00'.repeat(32)}` }],
      createdAt: start.pullStartedAt - SANDBOX_AFTER * 1000,
      scheduledAfter: SCHEDULED_AFTER,
      sandboxReadyAfter: SANDBOX_AFTER,
      startedAfter,
      readyAfter: startedAfter + 1,
    },
    {
      pulled: [
        PulledMessages.pulledWithSize(
          start.image,
          `${pullSeconds}s`,
          `${pullSeconds}s`,
          start.imageBytes,
        ),
      ],
      pulledAfter: SANDBOX_AFTER + Math.ceil(start.pullMs / 1000),
    },
  );
}

/** Waits until the hub has joined the agent's lazy pull to the pod, then returns its row. */
export async function lazyPodRow(hub: TestHub, name: string): Promise<PodStartupT> {
  let row: PodStartupT | undefined;
  await waitFor(
    `the hub to record ${name} as lazily pulled`,
    async () => {
      const page = (await hub.get<PodsPageT>('/api/v1/pods?namespace=demo&limit=50')).body;
      row = page.items.find((p) => p.name === name);
      return row?.lazy === true;
    },
    60_000,
    500,
  );
  if (!row) throw new Error(`the hub has no pod ${name}`);
  return row;
}

export async function hubSummary(hub: TestHub): Promise<SummaryT> {
  const answer = await hub.get<SummaryT>('/api/v1/summary');
  if (answer.status !== 200) throw new Error(`hub summary: HTTP ${answer.status}`);
  return answer.body;
}
