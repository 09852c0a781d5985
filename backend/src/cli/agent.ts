// `slipstream agent`: the node agent (Additional Layer Store over FUSE).
import type { Command } from 'commander';

import { runAgentFromCli } from '../agent/agent.ts';
import { ConfigError, type AgentFlags } from '../agent/config.ts';
import { StartError } from '../agent/supervisor.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Run the node agent: mount the lazy-pulling Additional Layer Store')
    .option('-c, --config <file>', 'agent configuration (YAML)')
    .option('--mountpoint <path>', 'where to mount the store (listed in storage.conf with :ref)')
    .option('--state-dir <dir>', 'cache, state and sockets live here')
    .option('--cache-size <size>', 'disk cache cap, e.g. 20Gi')
    .option('--lookup-timeout <seconds>', 'answer a lookup ENOENT after this long')
    .option('--no-prefetch', 'do not prefetch landmark-prioritized files')
    .option('--no-background-fetch', 'do not fetch whole layers in the background')
    .option('--registries-conf <file>', 'registries.conf (mirrors, insecure registries)')
    .option('--auth-file <file>', 'auth.json / docker config.json (repeatable)', collect)
    .option('--metrics-address <host:port>', 'Prometheus /metrics, /healthz, /readyz ("" = off)')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(
      async (
        opts: AgentFlags & { config?: string; prefetch: boolean; backgroundFetch: boolean },
      ) => {
        const { config, ...rest } = opts;
        // commander sets the negatable switches to true when absent: only "off" is an override.
        const flags: AgentFlags = {
          ...rest,
          prefetch: opts.prefetch === false ? false : undefined,
          backgroundFetch: opts.backgroundFetch === false ? false : undefined,
        };
        try {
          await runAgentFromCli(config, flags);
        } catch (e) {
          if (e instanceof ConfigError) {
            process.stderr.write(`slipstream agent: ${e.message}\n`);
            process.exitCode = 2;
            return;
          }
          if (e instanceof StartError) {
            process.stderr.write(`slipstream agent: cannot start: ${e.message}\n`);
            process.exitCode = 1;
            return;
          }
          throw e;
        }
      },
    );
}
