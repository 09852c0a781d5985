// Pulling and running the demo's app, measured: seconds for pull and run, the registry's bytes
// (its access log), and the agent's background fetch until the whole image is local.
import { performance } from 'node:perf_hooks';

import type { PodmanFixture } from '../test/support/podman.ts';
import type { RegistryFixture } from '../test/support/registry.ts';
import { waitFor } from '../test/support/tmp.ts';
import type { AgentNumbers, DemoAgent } from './agent.ts';
import type { MeasuredStart } from './cluster.ts';
import { bytesServedSince, mib, say, secs } from './steps.ts';

export async function layerDigests(
  registry: RegistryFixture,
  repo: string,
  tag: string,
): Promise<{ digest: string; size: number }[]> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (!res.ok) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.status}`);
  const manifest = (await res.json()) as { layers: { digest: string; size: number }[] };
  return manifest.layers;
}

export async function layerBytes(
  registry: RegistryFixture,
  repo: string,
  tag: string,
): Promise<number> {
  return (await layerDigests(registry, repo, tag)).reduce((sum, layer) => sum + layer.size, 0);
}

export interface PullRun extends MeasuredStart {
  registryBytes: number;
  appSaid: string;
}

/** `podman pull` then `podman run` of the app, timed, with the registry bytes they cost. */
export async function pullAndRun(
  podman: PodmanFixture,
  registry: RegistryFixture,
  image: string,
  imageBytes: number,
): Promise<PullRun> {
  const before = (await registry.accessLog()).length;
  const pullStartedAt = Date.now();
  const started = performance.now();
  await podman.run(['pull', image]);
  const pulled = performance.now();
  const { stdout } = await podman.run(['run', '--rm', image, 'sh', '/app/start.sh']);
  const ran = performance.now();
  return {
    image,
    pullStartedAt,
    pullMs: pulled - started,
    runMs: ran - pulled,
    imageBytes,
    registryBytes: await bytesServedSince(registry, before),
    appSaid: stdout.trim(),
  };
}

/** Waits for the agent's background fetcher to finish every layer, with a progress line now and then. */
export async function waitForWholeImage(
  agent: DemoAgent,
  layers: string[],
  since: number,
): Promise<AgentNumbers> {
  let lastSaid = performance.now();
  await waitFor(
    'the background fetch to bring the whole image',
    async () => {
      const done = await agent.layersComplete();
      if (layers.every((layer) => done.has(layer))) return true;
      if (performance.now() - lastSaid > 10_000) {
        lastSaid = performance.now();
        const n = await agent.metrics();
        say(`   background fetch: ${mib(n.backgroundBytes)} so far`);
      }
      return false;
    },
    300_000,
    500,
  );
  const numbers = await agent.metrics();
  say(
    `   background fetch done: the whole image is local ${secs(performance.now() - since)} after the ` +
      `lazy pull began (agent: ${mib(numbers.onDemandBytes)} on demand + ${mib(numbers.prefetchBytes)} ` +
      `prefetched + ${mib(numbers.backgroundBytes)} in the background)`,
  );
  return numbers;
}
