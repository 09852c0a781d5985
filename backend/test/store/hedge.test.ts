// A reader's request that straggles is asked again: through the real agent, a registry behind a
// proxy withholds one read-ahead request of a file read sequentially. Without the hedge the read
// would wait for it forever; with it the file arrives whole and verified, the withheld range was
// asked twice, and the hedge is counted in the agent's metrics.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir } from '../support/tmp.ts';
import {
  type AgentProcess,
  layerDirIn,
  pushEstargzImage,
  startFreshAgent,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(300_000);

/** Sixteen read-ahead steps of 4 MiB: enough requests of one size for the hedger's median. */
const stream = randomBytes(64 * 2 ** 20);

describe('a straggling read-ahead request', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let agent: AgentProcess | undefined;
  let releaseHeld!: () => void;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));

  beforeAll(async () => {
    dir = await makeTempDir('hedge');
    registry = await startRegistry();
    await pushEstargzImage(dir, registry, 'hedge', { 'data/stream.bin': stream });
    proxy = await startFaultProxy(registry.host);
  });

  afterAll(async () => {
    releaseHeld();
    await tearDown(dir, agent, proxy, registry);
  });

  it('is asked again and the first answer serves the reader', async () => {
    agent = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: false });
    const manifest = JSON.parse(
      await (
        await fetch(`${registry.url}/v2/hedge/manifests/esgz`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).text(),
    ) as { layers: { digest: string }[] };
    const layer = manifest.layers[0].digest; // extra files go into the lower layer
    // The 10th request of 3 MiB or more for the layer is withheld; the same range asked again
    // is answered.
    let big = 0;
    let withheld: string | undefined;
    proxy.rule = (req) => {
      const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      if (!req.url?.endsWith(layer) || !range) return undefined;
      if (Number(range[2]) - Number(range[1]) < 3 * 2 ** 20) return undefined;
      if (++big === 10 && withheld === undefined) {
        withheld = req.headers.range;
        return { type: 'hold', until: held };
      }
      return undefined;
    };
    const diff = join(layerDirIn(agent.mountpoint, `${proxy.host}/hedge:esgz`, layer), 'diff');
    const read = await readFile(join(diff, 'data/stream.bin'));
    expect(read.equals(stream)).toBe(true);
    expect(withheld).toBeDefined();
    expect(proxy.log.filter((l) => l.range === withheld)).toHaveLength(2);
    expect(await agent.metrics()).toMatch(/^slipstream_ondemand_hedged_requests_total 1$/m);
    expect(await agent.log()).toContain('fetch: straggling request asked again');
  });
});
