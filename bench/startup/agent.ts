// The Slipstream agent as the benchmark runs it for lazy pulls: its own mountpoint and state dir,
// configured through the agent's YAML file (contracts: mountpoint, stateDir, prefetch,
// backgroundFetch, registriesConf, authFiles, metricsAddress), with CPU time and peak RSS read
// from /proc. When `slipstream agent --help` fails, the lazy cases are recorded as not run.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { run, stopProcess } from '../../backend/test/support/process.ts';
import { freePort, waitFor } from '../../backend/test/support/tmp.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(REPO, 'backend/bin/slipstream.js');

/** Why the agent cannot be used, or null when `slipstream agent --help` works. */
export async function agentUnavailableReason(): Promise<string | null> {
  const res = await run(process.execPath, [CLI, 'agent', '--help'], {
    allowFailure: true,
    cwd: REPO,
  });
  return res.code === 0 ? null : 'agent not available (`slipstream agent --help` failed)';
}

export interface AgentUsage {
  cpuSeconds: number;
  maxRssBytes: number;
}

export interface RunningAgent {
  mountpoint: string;
  /** CPU seconds used and peak RSS so far. */
  usage(): Promise<AgentUsage>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  dir: string;
  /** Registries (host:port) the agent reaches over plain http. */
  insecureRegistries: string[];
  prefetch: boolean;
  backgroundFetch: boolean;
  /** The background fetch's quiet period; the agent's default when absent. */
  quietPeriodSeconds?: number;
  /** The agent's start-up warm-up (its default, on, when absent). */
  warmUp?: boolean;
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const mountpoint = join(opts.dir, 'store');
  const stateDir = join(opts.dir, 'state');
  await mkdir(mountpoint, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const registriesConf = join(opts.dir, 'registries.conf');
  await writeFile(
    registriesConf,
    opts.insecureRegistries
      .map((host) => `[[registry]]\nlocation = "${host}"\ninsecure = true\n`)
      .join(''),
  );
  const config = join(opts.dir, 'agent.yaml');
  const metricsPort = await freePort();
  await writeFile(
    config,
    [
      `mountpoint: ${mountpoint}`,
      `stateDir: ${stateDir}`,
      `cacheSize: 20Gi`,
      `prefetch: { enabled: ${opts.prefetch} }`,
      `backgroundFetch: { enabled: ${opts.backgroundFetch}${opts.quietPeriodSeconds === undefined ? '' : `, quietPeriodSeconds: ${opts.quietPeriodSeconds}`} }`,
      `registriesConf: ${registriesConf}`,
      `authFiles: []`,
      ...(opts.warmUp === undefined ? [] : [`warmUp: ${opts.warmUp}`]),
      `metricsAddress: 127.0.0.1:${metricsPort}`,
      `nodeName: bench`,
      // AGENT_LOG_LEVEL=debug logs every registry request (for diagnosing a run).
      `logLevel: ${process.env.AGENT_LOG_LEVEL ?? 'info'}`,
      '',
    ].join('\n'),
  );
  const log = createWriteStream(join(opts.dir, 'agent.log'));
  const child: ChildProcess = spawn(process.execPath, [CLI, 'agent', '--config', config], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  try {
    await waitFor(
      `agent mount at ${mountpoint}`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`agent exited (${child.exitCode}), see ${opts.dir}/agent.log`);
        // Mounted is not ready: the supervisor mounts, then its worker starts and answers the
        // kernel's FUSE_INIT (about half a second of Node start-up), then starts its auth socket
        // and metrics server, and warms its lookup path. Ready is /readyz answering 200, as for
        // the kubelet's probe: a pull started before that would share the CPU with the agent's
        // own start-up.
        const mounted = (await readFile('/proc/self/mounts', 'utf8'))
          .split('\n')
          .some((l) => l.split(' ')[1] === mountpoint);
        return mounted && (await isReady(metricsPort));
      },
      60_000,
    );
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('agent has no pid');
  // A benchmark stopped by a signal exits without running its finally blocks: the agent (whose
  // supervisor unmounts on SIGTERM) must not outlive it.
  const stopOnExit = (): void => void child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  return {
    mountpoint,
    usage: () => processUsage(pid),
    stop: async () => {
      process.off('exit', stopOnExit);
      await stopProcess(child, 15_000);
      await run('umount', ['-l', mountpoint], { allowFailure: true });
    },
  };
}

async function isReady(metricsPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false; // not listening yet
  }
}

/**
 * CPU seconds (user + system) and peak resident set (VmHWM) of the agent from /proc: the
 * supervisor, its exited workers (cutime/cstime) and its live worker (the largest RSS).
 */
export async function processUsage(pid: number): Promise<AgentUsage> {
  const own = await oneProcess(pid, true);
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const workers = await Promise.all(children.map((c) => oneProcess(c, false).catch(() => null)));
  let cpuSeconds = own.cpuSeconds;
  let maxRssBytes = own.maxRssBytes;
  for (const w of workers) {
    if (!w) continue;
    cpuSeconds += w.cpuSeconds;
    maxRssBytes = Math.max(maxRssBytes, w.maxRssBytes);
  }
  return { cpuSeconds, maxRssBytes };
}

async function oneProcess(pid: number, withExitedChildren: boolean): Promise<AgentUsage> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: utime, stime, cutime, cstime are fields 14–17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let ticks = Number(fields[11]) + Number(fields[12]);
  if (withExitedChildren) ticks += Number(fields[13]) + Number(fields[14]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
  return { cpuSeconds: ticks / 100, maxRssBytes: hwm ? Number(hwm[1]) * 1024 : 0 };
}
