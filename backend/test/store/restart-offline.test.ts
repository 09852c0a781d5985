// After an agent restart (a node reboot, an upgrade) the runtime looks up again, at every
// container start, the layers of the images it already has. When the registry has no answer for
// such a layer — it hangs, or its tag has moved on to an image without the layer — the agent
// answers from its layer record (descriptor, DiffID, repository) and, with the TOC and the chunks
// cached, serves the container without the registry. A damaged record is never used, nor a
// record under a reference the layer was not served under: another image that lists the layer
// twice must not get it from the store, even when only the agent's requests fail.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { MediaTypes } from '../../src/image/types.ts';
import { openRegistryRepository } from '../../src/registry/index.ts';
import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  type EstargzManifest,
  layerDirIn,
  pushEstargzImage,
  pushWithTopLayerTwice,
  startAgentProcess,
  startFreshAgent,
  tearDown,
  TREE_LISTING_SCRIPT,
} from './fixtures.ts';

jest.setTimeout(600_000);

const OPTIONS = { backgroundFetch: true, prefetch: true, quietPeriodSeconds: 0 };
const ANSWERED_FROM_RECORD = '"msg":"store: lookup answered from the layer record"';

describe('an agent restarted while the registry has no answer for its images', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let manifest: EstargzManifest;
  let podman: PodmanFixture | undefined;
  let agent: AgentProcess | undefined;
  let release: () => void = () => undefined;
  /** The digest of `offline:esgz` as pushed (before the second test moves the tag). */
  let pushedDigest: string;
  const image = () => `${proxy.host}/offline:esgz`;

  beforeAll(async () => {
    dir = await makeTempDir('restart-offline');
    registry = await startRegistry();
    manifest = await pushEstargzImage(dir, registry, 'offline');
    const res = await fetch(`${registry.url}/v2/offline/manifests/esgz`, {
      headers: { accept: MediaTypes.ociManifest },
    });
    pushedDigest = res.headers.get('docker-content-digest')!;
    expect(pushedDigest).toMatch(/^sha256:/);
    proxy = await startFaultProxy(registry.host);
  });

  afterAll(async () => {
    release();
    await tearDown(dir, podman, agent, proxy, registry);
  });

  /** Until `release()`, every request to the registry hangs (the worst kind of down). */
  function registryHangs(): void {
    const held = new Promise<void>((resolve) => (release = resolve));
    proxy.rule = () => ({ type: 'hold', until: held });
  }

  function registryAnswers(): void {
    release();
    proxy.rule = () => undefined;
  }

  async function restartAgent(
    name: string,
    options: Parameters<typeof startAgentProcess>[1] = OPTIONS,
  ): Promise<AgentProcess> {
    await agent?.stop();
    agent = await startAgentProcess(join(dir, name), options);
    return agent;
  }

  async function layersCompleted(a: AgentProcess): Promise<number> {
    return (await a.log()).split('"msg":"background fetch: layer complete"').length - 1;
  }

  const blobRequestsSince = (n: number) =>
    proxy.log.slice(n).filter((line) => line.path.includes('/blobs/'));

  it('starts a fully cached image with the same tree while the registry hangs', async () => {
    agent = await startFreshAgent(dir, 'agent', OPTIONS);
    podman = await createPodman({
      additionalLayerStore: agent.mountpoint,
      insecureRegistries: [proxy.host],
    });
    await podman.run(['pull', '-q', image()]);
    const tree = (await podman.run(['run', '--rm', image(), 'sh', '-c', TREE_LISTING_SCRIPT]))
      .stdout;
    expect(tree).toContain('data/big.bin F');
    const first = agent;
    await waitFor(
      'every layer local',
      async () => (await layersCompleted(first)) >= manifest.layers.length,
      120_000,
    );
    // Each layer is recorded under its digest (and its TOC digest).
    const recorded = await readdir(join(agent.stateDir, 'layers'));
    for (const layer of manifest.layers) {
      expect(recorded).toContain(`${layer.digest.replace(':', '-')}.json`);
    }

    registryHangs();
    const before = proxy.log.length;
    await restartAgent('agent');
    const again = await podman.run(['run', '--rm', image(), 'sh', '-c', TREE_LISTING_SCRIPT]);
    expect(again.stdout).toBe(tree);
    expect(blobRequestsSince(before)).toEqual([]); // the registry was asked for the manifest only
    const log = await agent.log();
    expect(log.split(ANSWERED_FROM_RECORD).length - 1).toBe(manifest.layers.length);
    expect(log).toContain('"registry":"no answer within 3000 ms"');
    expect(log).not.toContain('not resolved within');
    registryAnswers();
  });

  it('starts the image after its tag moved on to an image without its base layer', async () => {
    const [base, ...rest] = manifest.layers;
    const moved = { ...manifest, layers: rest };
    await openRegistryRepository(`${registry.host}/offline`, { insecure: true }).putManifest(
      'esgz',
      MediaTypes.ociManifest,
      Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, ...moved }),
      ),
    );
    await restartAgent('agent');
    const { stdout } = await podman!.run(['run', '--rm', image(), 'cat', '/etc/passwd']);
    expect(stdout).toContain('root:');
    const log = await agent!.log();
    expect(log).toContain(`"registry":"${base.digest} is not a layer of ${image()}"`);
    // The layers the moved tag still lists are the registry's answer, not the record's.
    expect(log.split(ANSWERED_FROM_RECORD).length - 1).toBe(1);
  });

  it('never uses a damaged record, nor one for a reference the layer was not served under', async () => {
    const options = { backgroundFetch: false, prefetch: false, lookupTimeoutSeconds: 2 };
    await agent?.stop();
    agent = await startFreshAgent(dir, 'agent2', options);
    const [base, top] = manifest.layers;
    const ref = `${proxy.host}/offline@${pushedDigest}`;
    for (const layer of [base, top]) {
      await readFile(join(layerDirIn(agent.mountpoint, ref, layer.digest), 'info'));
    }
    // Cached, so that the restarted agent can serve it without the registry.
    await readFile(join(layerDirIn(agent.mountpoint, ref, top.digest), 'diff/opt/app/hello.txt'));
    const recordFile = join(agent.stateDir, 'layers', `${base.digest.replace(':', '-')}.json`);
    await waitFor('the record saved', () =>
      readFile(recordFile).then(
        () => true,
        () => false,
      ),
    );
    // The record altered on disk (its save time): its checksum no longer matches.
    const file = JSON.parse(await readFile(recordFile, 'utf8')) as { record: string };
    file.record = file.record.replace('"savedAt":', '"savedAt":1');
    await writeFile(recordFile, JSON.stringify(file));

    registryHangs();
    await restartAgent('agent2', options);
    await expect(
      readFile(join(layerDirIn(agent.mountpoint, ref, base.digest), 'info')),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    const elsewhere = `${proxy.host}/offline:elsewhere`;
    await expect(
      readFile(join(layerDirIn(agent.mountpoint, elsewhere, top.digest), 'info')),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    // The undamaged record of the top layer answers for its own reference: its files are served
    // (a container start), its `info` is not (a pull must not take it without a manifest).
    const topDir = layerDirIn(agent.mountpoint, ref, top.digest);
    expect(await readFile(join(topDir, 'diff/opt/app/hello.txt'), 'utf8')).toBe(
      'hello from layer2\n',
    );
    await expect(readFile(join(topDir, 'info'))).rejects.toMatchObject({ code: 'ENOENT' });
    const log = await agent.log();
    expect(log).toContain('"msg":"layer records: record dropped"');
    expect(log.split(ANSWERED_FROM_RECORD).length - 1).toBe(1);
    registryAnswers();
  });

  /**
   * Pushes offline:esgz as first pushed, with its top layer listed twice, as `tag`; restarts the
   * agent; and pulls and runs it from a fresh storage while the agent's registry requests fail
   * (other credentials than the runtime's, say) and the runtime's go through. Returns the log.
   */
  async function pullTwiceListedWhileOnlyTheAgentFails(tag: string): Promise<string> {
    const ref = `${proxy.host}/offline:${tag}`;
    await pushWithTopLayerTwice(registry, 'offline', pushedDigest, tag);
    await restartAgent('agent');
    proxy.rule = (req) =>
      String(req.headers['user-agent']).startsWith('slipstream')
        ? { type: 'status', status: 503 }
        : undefined;
    const fresh = await createPodman({
      additionalLayerStore: agent!.mountpoint,
      insecureRegistries: [proxy.host],
    });
    try {
      await fresh.run(['pull', '-q', ref]);
      const { stdout } = await fresh.run(['run', '--rm', ref, 'cat', '/opt/app/hello.txt']);
      expect(stdout).toBe('hello from layer2\n');
      return await agent!.log();
    } finally {
      proxy.rule = () => undefined;
      await fresh.stop();
    }
  }

  it('pulls a layer another tag lists twice normally while only the agent’s requests fail', async () => {
    // The records of offline:esgz's layers do not answer for :dup.
    const log = await pullTwiceListedWhileOnlyTheAgentFails('dup');
    expect(log).not.toContain(ANSWERED_FROM_RECORD);
  });

  it('pulls the same reference, pushed again with a layer listed twice, normally while only the agent’s requests fail', async () => {
    // The records of offline:esgz answer for offline:esgz, but a pull must not take a layer
    // from them: `info` stays hidden until a manifest the agent read lists the layer.
    const log = await pullTwiceListedWhileOnlyTheAgentFails('esgz');
    expect(log).toContain(ANSWERED_FROM_RECORD);
    expect(log).toContain('"fromRecord":true,"reason":"unreachable: manifest esgz');
    expect(log).toContain('"msg":"store: layer not offered to a pull"');
  });
});
