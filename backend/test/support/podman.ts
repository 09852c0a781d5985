// podman with its own configuration in a temp dir, through CONTAINERS_CONF,
// CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF: it never touches /var/lib/containers
// or /etc/containers. The overlay driver (the only one with additionallayerstores), runc, and
// explicit ulimits (these machines lack CAP_SYS_RESOURCE; crun rejects cgroup v1 hybrid).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { unmountBelow } from './containerd.ts';
import { run, type RunOptions, type RunResult } from './process.ts';
import { makeTempDir, removeDir } from './tmp.ts';

export interface PodmanOptions {
  /** A store path for `additionallayerstores = ["<path>:ref"]`. */
  additionalLayerStore?: string;
  /** Registries (host:port) to reach over plain http. */
  insecureRegistries?: string[];
}

export interface PodmanFixture {
  dir: string;
  graphRoot: string;
  env: NodeJS.ProcessEnv;
  /** Runs `podman ...args` with this fixture's configuration. */
  run(args: string[], opts?: RunOptions): Promise<RunResult>;
  stop(): Promise<void>;
}

/**
 * containers/image keeps a blob-info cache in /var/lib/containers/cache for root, whatever the
 * storage configuration says (podman push and pull write it; there is no flag). Each podman call
 * therefore runs in its own mount namespace with an empty tmpfs over /var/lib/containers, so the
 * machine's defaults are never touched. Mounts podman makes (overlay for a container) stay
 * private to that namespace, which is all a `podman run --rm` needs.
 */
const HIDE_VAR_LIB =
  '{ [ -d /var/lib/containers ] && mount -t tmpfs slipstream-test /var/lib/containers || ' +
  'mount -t tmpfs slipstream-test /var/lib; } && exec "$0" "$@"';

/** The hard RLIMIT_NOFILE of this process: podman may not raise limits above it here. */
async function hardNofile(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const m = /Max open files\s+\d+\s+(\d+)/.exec(limits);
  return m ? Math.min(Number(m[1]), 20000) : 1024;
}

export async function createPodman(opts: PodmanOptions = {}): Promise<PodmanFixture> {
  const dir = await makeTempDir('podman');
  const graphRoot = join(dir, 'graph');
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const nofile = await hardNofile();
  await writeFile(
    join(dir, 'containers.conf'),
    `[containers]\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=1000:1000"]\n` +
      `netns = "none"\n` +
      `[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n` +
      `events_logfile_path = "${join(dir, 'events.log')}"\ntmp_dir = "${join(dir, 'tmp')}"\n`,
  );
  const als = opts.additionalLayerStore
    ? `[storage.options]\nadditionallayerstores = ["${opts.additionalLayerStore}:ref"]\n`
    : '';
  await writeFile(
    join(dir, 'storage.conf'),
    `[storage]\ndriver = "overlay"\ngraphroot = "${graphRoot}"\nrunroot = "${join(dir, 'run')}"\n${als}`,
  );
  const insecure = (opts.insecureRegistries ?? [])
    .map((host) => `[[registry]]\nlocation = "${host}"\ninsecure = true\n`)
    .join('');
  await writeFile(
    join(dir, 'registries.conf'),
    `unqualified-search-registries = []\nshort-name-mode = "disabled"\n${insecure}`,
  );
  await writeFile(join(dir, 'auth.json'), '{"auths":{}}\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
    TMPDIR: join(dir, 'tmp'),
  };
  const podman = (args: string[], runOpts: RunOptions = {}) =>
    run(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', '-c', HIDE_VAR_LIB, 'podman', ...args],
      {
        ...runOpts,
        env: { ...env, ...runOpts.env },
      },
    );
  return {
    dir,
    graphRoot,
    env,
    run: podman,
    stop: async () => {
      await podman(['rm', '--all', '--force'], { allowFailure: true });
      await podman(['rmi', '--all', '--force'], { allowFailure: true });
      await unmountBelow(dir);
      await removeDir(dir);
    },
  };
}
