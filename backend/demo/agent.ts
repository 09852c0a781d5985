// The demo's node agent: a real `slipstream agent` child process, mounted at a temp mountpoint
// with a temp state dir, metrics on a free 127.0.0.1 port, reporting to the demo's hub.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startDaemon, stopProcess } from '../test/support/process.ts';
import { freePort, waitFor } from '../test/support/tmp.ts';

const bin = fileURLToPath(new URL('../bin/slipstream.js', import.meta.url));

export interface DemoAgent {
  mountpoint: string;
  metricsUrl: string;
  logFile: string;
  metrics(): Promise<AgentNumbers>;
  /** The layers (digests) the background fetcher has logged complete. */
  layersComplete(): Promise<Set<string>>;
  stop(): Promise<void>;
}

export interface AgentNumbers {
  onDemandBytes: number;
  onDemandFetches: number;
  prefetchBytes: number;
  backgroundBytes: number;
  /** Compressed bytes of the mounted layers that are local, and their total size. */
  localBytes: number;
  layerBytes: number;
}

export interface AgentHub {
  url: string;
  caFile: string | null;
  token: string;
}

/** The value of an unlabelled sample, or the sum of a labelled metric's samples. */
export function metricSum(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

export function parseAgentNumbers(text: string): AgentNumbers {
  return {
    onDemandBytes: metricSum(text, 'slipstream_ondemand_fetched_bytes_total'),
    onDemandFetches: metricSum(text, 'slipstream_ondemand_chunk_fetches_total'),
    prefetchBytes: metricSum(text, 'slipstream_prefetch_fetched_bytes_total'),
    backgroundBytes: metricSum(text, 'slipstream_background_fetched_bytes_total'),
    localBytes: metricSum(text, 'slipstream_layer_fetched_bytes'),
    layerBytes: metricSum(text, 'slipstream_layer_size_bytes'),
  };
}

/** Layers of "background fetch: layer complete" lines in the agent's JSON log. */
export function completedLayers(log: string): Set<string> {
  const done = new Set<string>();
  for (const line of log.split('\n')) {
    if (!line.includes('background fetch: layer complete')) continue;
    try {
      const entry = JSON.parse(line) as { layer?: unknown };
      if (typeof entry.layer === 'string') done.add(entry.layer);
    } catch {
      // not a JSON line
    }
  }
  return done;
}

export async function startDemoAgent(dir: string, node: string, hub: AgentHub): Promise<DemoAgent> {
  await mkdir(dir, { recursive: true });
  const mountpoint = join(dir, 'store');
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, hub.token);
  await writeFile(join(dir, 'registries.conf'), '');
  const configFile = join(dir, 'agent.yaml');
  await writeFile(
    configFile,
    [
      `mountpoint: ${mountpoint}`,
      `stateDir: ${join(dir, 'state')}`,
      'cacheSize: 2Gi',
      // All of the free space if need be: on a nearly full disk the default (10 % kept free)
      // would leave the demo's cache no room, and the image would never become local.
      'cacheMinFreePercent: 0',
      'lookupTimeoutSeconds: 10',
      'prefetch: { enabled: true, maxBytes: 64Mi }',
      // The default quiet period: the background fetch waits until the app's start reads are done.
      'backgroundFetch: { enabled: true, quietPeriodSeconds: 5, concurrency: 2 }',
      `registriesConf: ${join(dir, 'registries.conf')}`,
      'authFiles: []',
      `metricsAddress: 127.0.0.1:${port}`,
      `hub: { url: "${hub.url}", tokenFile: ${tokenFile}${hub.caFile ? `, caFile: ${hub.caFile}` : ''}, reportIntervalSeconds: 1 }`,
      `nodeName: ${node}`,
      // debug: every chunk fetch with its priority, bytes and seconds (kept in demo-output/agent.log).
      'logLevel: debug',
    ].join('\n'),
  );
  const logFile = join(dir, 'agent.log');
  const child = startDaemon(process.execPath, [bin, 'agent', '--config', configFile], logFile);
  const stop = () => stopProcess(child, 15_000);
  try {
    await waitFor(
      'the agent to mount its store',
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`agent exited:\n${await readFile(logFile, 'utf8').catch(() => '')}`);
        }
        return (await fetch(metricsUrl)).ok;
      },
      30_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    mountpoint,
    metricsUrl,
    logFile,
    metrics: async () => parseAgentNumbers(await (await fetch(metricsUrl)).text()),
    layersComplete: async () => completedLayers(await readFile(logFile, 'utf8').catch(() => '')),
    stop,
  };
}
