// One cold start of an image, split the way the stargz-snapshotter benchmark splits it:
// pull (`podman pull`), create (`podman create`), run (`podman start --attach` until the app prints
// its ready line). Bytes the registry sent during each step come from its access log.
import { spawn } from 'node:child_process';

import type { PodmanFixture } from '../../backend/test/support/podman.ts';
import type { RegistryFixture } from '../../backend/test/support/registry.ts';
import { READY_LINE } from '../images/catalog.ts';

export interface StartTimes {
  pullSeconds: number;
  createSeconds: number;
  runSeconds: number;
  totalSeconds: number;
  /** Bytes the registry sent from the start of the pull until the ready line. */
  registryBytes: number;
  /** Of which during the pull. */
  pullRegistryBytes: number;
  /**
   * Full pulls: `podman pull` of the same image once more, now present locally: podman's own
   * part of a pull (registry probe, manifest, config, process start), without any layer work.
   */
  repullSeconds?: number;
}

/** Registry bytes sent so far (all responses in its access log). */
export async function registryBytesSoFar(registry: RegistryFixture): Promise<number> {
  return (await registry.accessLog()).reduce((sum, line) => sum + line.bytes, 0);
}

export async function coldStart(
  podman: PodmanFixture,
  registry: RegistryFixture,
  ref: string,
  measureRepull = false,
): Promise<StartTimes> {
  const bytes0 = await registryBytesSoFar(registry);
  const t0 = performance.now();
  await podman.run(['pull', '--quiet', '--tls-verify=false', ref], { timeoutMs: 3_600_000 });
  const t1 = performance.now();
  const bytes1 = await registryBytesSoFar(registry);
  const name = `bench-${process.pid}-${Math.round(t1)}`;
  await podman.run(['create', '--name', name, ref]);
  const t2 = performance.now();
  try {
    await startUntilReady(podman, name);
  } finally {
    await podman.run(['rm', '--force', name], { allowFailure: true });
  }
  const t3 = performance.now();
  const bytes3 = await registryBytesSoFar(registry);
  const repullSeconds = measureRepull ? await timedPull(podman, ref) : undefined;
  return {
    pullSeconds: (t1 - t0) / 1000,
    createSeconds: (t2 - t1) / 1000,
    runSeconds: (t3 - t2) / 1000,
    totalSeconds: (t3 - t0) / 1000,
    registryBytes: bytes3 - bytes0,
    pullRegistryBytes: bytes1 - bytes0,
    ...(repullSeconds !== undefined && { repullSeconds }),
  };
}

async function timedPull(podman: PodmanFixture, ref: string): Promise<number> {
  const t0 = performance.now();
  await podman.run(['pull', '--quiet', '--tls-verify=false', ref], { timeoutMs: 3_600_000 });
  return (performance.now() - t0) / 1000;
}

/** The small command of the "first run of a small command" goal: reads one file, prints it. */
export const SMALL_COMMAND = ['cat', '/etc/os-release'];

export interface SmallRun {
  pullSeconds: number;
  /** `podman run --rm` of SMALL_COMMAND right after the pull: create, start, exit, remove. */
  runSeconds: number;
  registryBytes: number;
}

/** Pulls `ref`, then runs the small command in it once (the first run after the pull). */
export async function pullAndRunSmallCommand(
  podman: PodmanFixture,
  registry: RegistryFixture,
  ref: string,
): Promise<SmallRun> {
  const bytes0 = await registryBytesSoFar(registry);
  const pullSeconds = await timedPull(podman, ref);
  const t0 = performance.now();
  const out = await podman.run(['run', '--rm', ref, ...SMALL_COMMAND]);
  const runSeconds = (performance.now() - t0) / 1000;
  if (!out.stdout.includes('ID=')) {
    throw new Error(`${SMALL_COMMAND.join(' ')} in ${ref} printed "${out.stdout.trim()}"`);
  }
  return { pullSeconds, runSeconds, registryBytes: (await registryBytesSoFar(registry)) - bytes0 };
}

// podman's own calls go through the fixture (a private mount namespace hiding /var/lib/containers);
// this one is spawned the same way but streamed, so the ready line is timed when it appears.
const HIDE_VAR_LIB =
  '{ [ -d /var/lib/containers ] && mount -t tmpfs slipstream-bench /var/lib/containers || ' +
  'mount -t tmpfs slipstream-bench /var/lib; } && exec "$0" "$@"';

/** Starts the created container attached and resolves when it prints the ready line. */
function startUntilReady(
  podman: PodmanFixture,
  name: string,
  timeoutMs = 1_800_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        HIDE_VAR_LIB,
        'podman',
        'start',
        '--attach',
        name,
      ],
      { env: podman.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let ready = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!ready && out.split('\n').some((line) => line.startsWith(READY_LINE))) {
        ready = true;
        resolve();
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (!ready)
        reject(
          new Error(`container ${name} exited (${code}) before "${READY_LINE}": ${out}${err}`),
        );
    });
  });
}

export interface FullRead {
  pullSeconds: number;
  /** Time the container took to read `path` end to end (measured inside it). */
  readSeconds: number;
  readBytes: number;
  registryBytes: number;
}

/** Python in the image reads the file in 1 MiB reads and prints "<bytes> <seconds>". */
const READ_WHOLE_FILE =
  'import sys, time\n' +
  't = time.monotonic(); n = 0\n' +
  'with open(sys.argv[1], "rb", buffering=0) as f:\n' +
  '    while (b := f.read(1 << 20)): n += len(b)\n' +
  'print(n, time.monotonic() - t)\n';

/** Pulls `ref`, then reads one big file of it sequentially (the "full on-demand read"). */
export async function pullAndReadFile(
  podman: PodmanFixture,
  registry: RegistryFixture,
  ref: string,
  path: string,
): Promise<FullRead> {
  const bytes0 = await registryBytesSoFar(registry);
  const pullSeconds = await timedPull(podman, ref);
  const out = await podman.run(['run', '--rm', ref, 'python3', '-c', READ_WHOLE_FILE, path], {
    timeoutMs: 3_600_000,
  });
  const [n, seconds] = out.stdout.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(n) || !Number.isFinite(seconds)) {
    throw new Error(`reading ${path} in ${ref} printed "${out.stdout.trim()}"`);
  }
  return {
    pullSeconds,
    readSeconds: seconds,
    readBytes: n,
    registryBytes: (await registryBytesSoFar(registry)) - bytes0,
  };
}
