// The agent's supervisor holds the FUSE mount; a worker serves it. A worker that dies (here:
// SIGKILL, as an OOM kill or a crash would) is replaced, and readers of the mount — a process with
// a file open, a running container — go on reading, uncached bytes included, as if nothing had
// happened. SIGHUP replaces the worker on purpose (an upgrade); SIGTERM unmounts.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { jest } from '@jest/globals';

import { mountsAt } from '../../src/fuse/index.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { isAlive, run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  killWorker,
  knownContent,
  pushEstargzImage,
  startFreshAgent,
  tearDown,
  workerPid,
} from './fixtures.ts';

jest.setTimeout(240_000);

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** 24 MiB: six 4 MiB chunks. */
const known = knownContent('slipstream', 24 << 20);
let dir: string;
let registry: RegistryFixture;
let ref: string;
let layers: { digest: string; size: number }[];
let agent: AgentProcess | undefined;
let podman: PodmanFixture | undefined;

beforeAll(async () => {
  dir = await makeTempDir('supervisor');
  registry = await startRegistry();
  layers = (await pushEstargzImage(dir, registry, 'sup', { 'data/known.bin': known })).layers;
  ref = `${registry.host}/sup:esgz`;
});

/** An agent with its own state (no chunk cached by an earlier test). */
const freshAgent = (name: string): Promise<AgentProcess> => startFreshAgent(dir, name);

afterEach(async () => {
  await podman?.stop();
  podman = undefined;
  await agent?.stop();
  agent = undefined;
});

afterAll(() => tearDown(dir, registry));

const layerDir = (a: AgentProcess, digest: string) => join(a.mountpoint, b64(ref), digest);

it('a reader with a file open reads on, uncached bytes included, across a killed worker', async () => {
  agent = await freshAgent('reader');
  const l1 = layers[0];
  const path = join(layerDir(agent, l1.digest), 'diff/data/known.bin');
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(1 << 20);
    await file.read(head, 0, head.length, 0);
    expect(head.equals(known.subarray(0, head.length))).toBe(true);

    await killWorker(agent);
    // 13 MiB in: a chunk nobody read before the kill, served by the new worker through the
    // kernel's inode of the file the old worker looked up.
    const middle = Buffer.alloc(1 << 20);
    const { bytesRead } = await file.read(middle, 0, middle.length, 13 << 20);
    expect(bytesRead).toBe(middle.length);
    expect(middle.equals(known.subarray(13 << 20, 14 << 20))).toBe(true);
    // New names and new layers resolve too.
    expect((await stat(join(layerDir(agent, l1.digest), 'diff/etc/motd'))).isFile()).toBe(true);
    const l2 = layers[1];
    const info = JSON.parse(await readFile(join(layerDir(agent, l2.digest), 'info'), 'utf8')) as {
      'compressed-diff-digest': string;
    };
    expect(info['compressed-diff-digest']).toBe(l2.digest);
  } finally {
    await file.close();
  }
  const log = await agent.log();
  expect(log).toContain('worker died; starting another');
  expect(log).toMatch(/"resumed":true[^\n]*"msg":"store mounted"/);
  expect(mountsAt(agent.mountpoint)).toHaveLength(1);
  // The first worker left its compiled code for the second, in a directory only root can use.
  const cache = join(agent.stateDir, 'compile-cache');
  expect((await stat(cache)).mode & 0o777).toBe(0o700);
  expect(await readdir(cache)).not.toHaveLength(0);
});

it('a running container reads on across a killed worker and a SIGHUP replacement', async () => {
  agent = await freshAgent('container');
  podman = await createPodman({
    additionalLayerStore: agent.mountpoint,
    insecureRegistries: [registry.host],
  });
  await podman.run(['pull', '--quiet', '--tls-verify=false', ref]);
  // The container reads the file in three parts, waiting for the test between them.
  const gate = join(dir, 'gate');
  await mkdir(gate, { recursive: true });
  const script = [
    'dd if=/data/known.bin bs=1M count=4 2>/dev/null | sha256sum',
    'while [ ! -e /gate/one ]; do sleep 0.1; done',
    'dd if=/data/known.bin bs=1M skip=8 count=8 2>/dev/null | sha256sum',
    'while [ ! -e /gate/two ]; do sleep 0.1; done',
    'dd if=/data/known.bin bs=1M skip=16 2>/dev/null | sha256sum',
  ].join('; ');
  const container = podman.run(['run', '--rm', '-v', `${gate}:/gate`, ref, 'sh', '-c', script], {
    timeoutMs: 120_000,
  });
  await waitFor('the first read', async () =>
    (await agent!.log()).includes('"priority":"onDemand"'),
  );
  await killWorker(agent);
  await writeFile(join(gate, 'one'), '');
  await new Promise((r) => setTimeout(r, 1500));
  const before = await workerPid(agent.pid);
  process.kill(agent.pid, 'SIGHUP');
  await waitFor('the replacement', async () => (await workerPid(agent!.pid)) !== before);
  await writeFile(join(gate, 'two'), '');
  const out = (await container).stdout.trim().split('\n');
  const sha = (b: Buffer) => `${createHash('sha256').update(b).digest('hex')}  -`;
  expect(out).toEqual([
    sha(known.subarray(0, 4 << 20)),
    sha(known.subarray(8 << 20, 16 << 20)),
    sha(known.subarray(16 << 20)),
  ]);
  expect(await agent.log()).toContain('replacing the worker');
});

// A newer chart's ConfigMap (a key this agent does not know) or a bad edit must not keep new
// workers from starting: after ten failed starts the supervisor would unmount under running
// containers. A reload says which changed settings wait for a new worker.
it('a new worker runs with the configuration the agent started with when the file no longer loads', async () => {
  agent = await freshAgent('bad-config');
  const configFile = join(dirname(agent.stateDir), 'agent.yaml');
  const original = await readFile(configFile, 'utf8');
  await waitFor(
    'a reload that names the setting a new worker needs',
    async () => {
      if ((await agent!.log()).includes('take effect only in a new worker')) return true;
      await writeFile(configFile, original.replace('logLevel: debug', 'logLevel: info'));
      return false;
    },
    15_000,
    1_000,
  );
  expect(await agent.log()).toMatch(/"settings":\["logLevel"\]/);
  await writeFile(configFile, `${original}\nsettingOfANewerChart: true\n`);
  await waitFor('the refused reload', async () =>
    (await agent!.log()).includes('configuration reload failed; keeping the old one'),
  );
  await killWorker(agent);
  const top = layers[1];
  const info = JSON.parse(await readFile(join(layerDir(agent, top.digest), 'info'), 'utf8')) as {
    'compressed-diff-digest': string;
  };
  expect(info['compressed-diff-digest']).toBe(top.digest);
  const log = await agent.log();
  expect(log).toContain('configuration file refused; this worker runs with the configuration');
  expect(log).toContain('settingOfANewerChart');
  expect(mountsAt(agent.mountpoint)).toHaveLength(1);
});

it('SIGTERM to the supervisor unmounts the store', async () => {
  agent = await freshAgent('sigterm');
  const mountpoint = agent.mountpoint;
  expect(mountsAt(mountpoint)).toHaveLength(1);
  await agent.stop();
  agent = undefined;
  expect(mountsAt(mountpoint)).toHaveLength(0);
});

it('is unhealthy once its mount is taken away, so that the kubelet restarts it', async () => {
  agent = await freshAgent('taken-away');
  const healthz = agent.metricsUrl.replace(/\/metrics$/, '/healthz');
  expect((await fetch(healthz)).status).toBe(200);
  // An admin's or a script's lazy unmount: the FUSE connection lives on, nothing reaches the agent.
  await run('umount', ['-l', agent.mountpoint]);
  await waitFor('/healthz to fail', async () => (await fetch(healthz)).status === 503, 20_000);
  expect(await agent.log()).toContain('store: the store was unmounted by something else');
  await agent.stop();
  agent = undefined;
});

it('SIGTERM to the whole process group (the worker too, as systemd or pkill send it) still unmounts and exits', async () => {
  agent = await freshAgent('group-sigterm');
  const { mountpoint, pid } = agent;
  const worker = await workerPid(pid);
  // The worker takes its SIGTERM first and leaves: nobody serves the mount while the supervisor
  // unmounts it. umount(8) used to stat the path through FUSE and wait for an answer forever.
  process.kill(worker, 'SIGTERM');
  process.kill(pid, 'SIGTERM');
  await waitFor('the supervisor to exit', () => Promise.resolve(!isAlive(pid)), 20_000);
  agent = undefined;
  expect(mountsAt(mountpoint)).toHaveLength(0);
});

it('a busy mount whose worker is gone is not given the detached grace', async () => {
  agent = await freshAgent('group-sigterm-busy');
  const { mountpoint, pid } = agent;
  // An open file makes the mount busy: the supervisor detaches it lazily, and would let its users
  // read on for 10 s — but with the worker gone nobody could answer them.
  const file = await open(join(layerDir(agent, layers[0].digest), 'diff/data/known.bin'), 'r');
  try {
    process.kill(await workerPid(pid), 'SIGTERM');
    process.kill(pid, 'SIGTERM');
    await waitFor('the supervisor to exit', () => Promise.resolve(!isAlive(pid)), 20_000);
  } finally {
    await file.close().catch(() => undefined);
  }
  const log = await agent.log();
  agent = undefined;
  expect(log).toContain('"result":"detached"');
  expect(log).toContain('no grace for the detached mount');
  expect(mountsAt(mountpoint)).toHaveLength(0);
});

it('refuses to start, in one line and without mounting, where no worker could serve', async () => {
  const cli = new URL('../../bin/slipstream.js', import.meta.url).pathname;
  const start = (stateDir: string, mountpoint: string) =>
    run(
      process.execPath,
      [cli, 'agent', '--state-dir', stateDir, '--mountpoint', mountpoint, '--metrics-address', ''],
      { allowFailure: true },
    );
  const expectRefused = (
    result: { code: number | null; stderr: string },
    mountpoint: string,
    why: RegExp,
  ): void => {
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(why);
    expect(result.stderr.trim().split('\n')).toHaveLength(1); // no stack trace
    expect(mountsAt(mountpoint)).toHaveLength(0);
  };
  // A state directory on a read-only filesystem, said as such (Node's recursive mkdir says ENOENT).
  const ro = join(dir, 'read-only');
  await mkdir(ro, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'slipstream-test', ro]);
  try {
    expectRefused(
      await start(join(ro, 'state'), join(dir, 'ro-store')),
      join(dir, 'ro-store'),
      /^slipstream agent: cannot start: the state directory .*read-only\/state is not writable \(EROFS\)$/,
    );
  } finally {
    await run('umount', [ro]);
  }
  // A mountpoint that is a file.
  await writeFile(join(dir, 'a-file'), 'x');
  expectRefused(
    await start(join(dir, 'file-state'), join(dir, 'a-file')),
    join(dir, 'a-file'),
    /cannot start: the mountpoint .*a-file cannot be a directory \(something else is there\)$/,
  );
  // A second agent on a running agent's state directory (another mountpoint): it would remove
  // the first one's auth socket and blob copies.
  agent = await freshAgent('first-of-two');
  expectRefused(
    await start(agent.stateDir, join(dir, 'second-store')),
    join(dir, 'second-store'),
    /cannot start: another agent is running with the state directory /,
  );
  expect(await stat(join(agent.stateDir, 'auth.sock'))).toBeDefined();
});
