// `slipstream agent` as a child process with a configuration file and command-line flags of the
// test's choosing (store/fixtures.ts's startAgentProcess writes its own file and passes no flags).
import { type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startDaemon, stopProcess } from '../support/process.ts';
import { waitFor } from '../support/tmp.ts';

const bin = fileURLToPath(new URL('../../bin/slipstream.js', import.meta.url));

export interface ConfiguredAgent {
  /** The supervisor's pid. */
  pid: number;
  child: ChildProcess;
  mountpoint: string;
  configFile: string;
  log(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the agent under `dir` (store, state, agent.yaml, registries.conf there) with `extra`
 * YAML lines after the test defaults and `flags` on the command line; resolves once mounted.
 */
export async function startConfiguredAgent(
  dir: string,
  extra: string[] = [],
  flags: string[] = [],
): Promise<ConfiguredAgent> {
  const mountpoint = join(dir, 'store');
  const configFile = join(dir, 'agent.yaml');
  const logFile = join(dir, 'agent.log');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'registries.conf'), '');
  await writeFile(
    configFile,
    [
      `mountpoint: ${mountpoint}`,
      `stateDir: ${join(dir, 'state')}`,
      'cacheMinFreePercent: 0',
      `registriesConf: ${join(dir, 'registries.conf')}`,
      'authFiles: []',
      "metricsAddress: ''",
      'warmUp: false',
      'nodeName: test-node',
      'logLevel: debug',
      ...extra,
    ].join('\n'),
  );
  const child = startDaemon(
    process.execPath,
    [bin, 'agent', '--config', configFile, ...flags],
    logFile,
    { env: { ...process.env, UV_THREADPOOL_SIZE: undefined } },
  );
  const log = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
  await waitFor(
    'agent mounted',
    async () => {
      if (child.exitCode !== null) throw new Error(`agent exited:\n${await log()}`);
      return (await log()).includes('"msg":"store mounted"');
    },
    30_000,
  );
  return {
    pid: child.pid!,
    child,
    mountpoint,
    configFile,
    log,
    stop: () => stopProcess(child, 15_000),
  };
}
