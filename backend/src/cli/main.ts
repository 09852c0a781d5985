import { Command } from 'commander';

import { version } from '../version.ts';
import { registerAuthHelper } from './auth-helper.ts';

function newProgram(): Command {
  return new Command('slipstream')
    .description(
      'Lazy container image pulling for OpenShift: node agent, hub, converter and registry tools',
    )
    .version(version, '-V, --version');
}

/** Builds the `slipstream` command tree. Each subcommand registers itself from its own module. */
export async function buildProgram(): Promise<Command> {
  const program = newProgram();
  const [convert, inspect, hub, agent, checkRegistry] = await Promise.all([
    import('./convert.ts'),
    import('./inspect.ts'),
    import('./hub.ts'),
    import('./agent.ts'),
    import('./check-registry.ts'),
  ]);
  convert.registerConvert(program);
  inspect.registerInspect(program);
  hub.registerHub(program);
  agent.registerAgent(program);
  registerAuthHelper(program);
  checkRegistry.registerCheckRegistry(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // containers/image runs the auth helper at every pull that uses the store, before the pull's
  // first lookup. Loading the agent, hub and converter modules too made it take 0.35 s; on its
  // own it needs a tenth of that.
  if (argv[2] === 'auth-helper') {
    const program = newProgram();
    registerAuthHelper(program);
    await program.parseAsync(argv);
    return;
  }
  await (await buildProgram()).parseAsync(argv);
}
