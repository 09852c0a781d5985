// `slipstream hub`: the cluster-wide telemetry service the console plugin reads.
import type { Command } from 'commander';

import { HubConfigError, loadHubConfig } from '../hub/config.ts';
import { DatabaseError } from '../hub/db.ts';

interface HubFlags {
  config?: string;
  listen?: string;
  dbPath?: string;
  namespace?: string;
  kubeconfig?: string;
  insecureHttp?: boolean;
}

export function registerHub(program: Command): void {
  program
    .command('hub')
    .description(
      'Run the hub: receives agent reports, watches pods and events, serves the REST API',
    )
    .option('-c, --config <file>', 'hub configuration YAML (e.g. /etc/slipstream/hub.yaml)')
    .option('--listen <host:port>', 'address to serve on (overrides the file)')
    .option('--db-path <file>', 'SQLite database file (overrides the file)')
    .option('--namespace <ns>', 'namespace the hub and agents run in (default: POD_NAMESPACE)')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster service account)')
    .option('--insecure-http', 'serve plain HTTP when no tls is configured (development only)')
    .action(async (flags: HubFlags) => {
      try {
        await runHub(flags);
      } catch (error) {
        // Configuration and database problems are the operator's to fix: a message, not a trace.
        if (error instanceof HubConfigError || error instanceof DatabaseError) {
          process.stderr.write(`slipstream hub: ${error.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw error;
      }
    });
}

async function runHub(flags: HubFlags): Promise<void> {
  const config = await loadHubConfig(flags.config, {
    listen: flags.listen,
    dbPath: flags.dbPath,
    namespace: flags.namespace,
    kubeconfig: flags.kubeconfig,
    insecureHttp: flags.insecureHttp,
  });
  // Loaded on use: the Kubernetes client is heavy and other subcommands do not need it.
  const { startHub } = await import('../hub/server.ts');
  const hub = await startHub({ config });
  const shutdown = () => {
    hub.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
