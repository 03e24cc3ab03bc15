/**
 * The `meshcache` program (commander), runnable in-process: run(argv, io) resolves with the exit
 * code instead of exiting, and writes only through `io`, so tests drive it as a terminal would.
 *
 * Exit codes: 0 success; 1 a failed operation (unreachable node, refused secret, unknown cache,
 * a node that could not start), with one clear line on stderr; 2 bad usage (an unknown command
 * or option, a missing argument, a bad value, an unusable config file).
 */
import { Command, CommanderError, Option } from 'commander';
import { adminCommands } from './commands/admin.js';
import { demo } from './commands/demo.js';
import { serve } from './commands/serve.js';
import type { Io } from './io.js';

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let outcome: Promise<number> = Promise.resolve(0);
  const program = new Command('meshcache')
    .description('meshcache: an Ehcache-style replicated local cache. Run a node, or look at a running cluster.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) })
    .showHelpAfterError('(add --help for usage)');
  const runAction = (code: Promise<number>) => {
    outcome = code;
  };

  program
    .command('serve')
    .description('run a node in the foreground; SIGINT or SIGTERM leaves the cluster cleanly')
    .requiredOption('--config <file>', 'the node’s configuration (JSON; see docs/replication.md)')
    .addOption(new Option('--verbose', 'debug lines in the log'))
    .addHelpText(
      'after',
      '\nExamples:\n  meshcache serve --config examples/gateway-cluster/gw-1.json\n  MESHCACHE_SECRET=s3cret meshcache serve --config gw-1.json\n',
    )
    .action((options: { config: string; verbose?: boolean }) => runAction(serve(io, options)));

  program
    .command('demo')
    .description('start a three-node cluster on 127.0.0.1 and show replication live (no config needed)')
    .addHelpText('after', '\nExample:\n  meshcache demo\n')
    .action(() => runAction(demo(io)));

  adminCommands(program, io, runAction);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version are successes; everything else commander refuses is bad usage
      return error.exitCode === 0 ? 0 : 2;
    }
    throw error;
  }
  return outcome;
}
