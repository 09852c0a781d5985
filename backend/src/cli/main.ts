import { Command } from 'commander';

import { version } from '../version.ts';
import { registerAgent } from './agent.ts';
import { registerAuthHelper } from './auth-helper.ts';
import { registerCheckRegistry } from './check-registry.ts';
import { registerConvert } from './convert.ts';
import { registerHub } from './hub.ts';
import { registerInspect } from './inspect.ts';

/** Builds the `slipstream` command tree. Each subcommand registers itself from its own module. */
export function buildProgram(): Command {
  const program = new Command('slipstream')
    .description(
      'Lazy container image pulling for OpenShift: node agent, hub, converter and registry tools',
    )
    .version(version, '-V, --version');
  registerConvert(program);
  registerInspect(program);
  registerHub(program);
  registerAgent(program);
  registerAuthHelper(program);
  registerCheckRegistry(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
