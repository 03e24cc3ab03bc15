/**
 * The `meshcache` program (commander), runnable in-process: run(argv, io) resolves with the exit
 * code instead of exiting, and writes only through `io`, so tests drive it as a terminal would.
 *
 * Exit codes: 0 success; 1 a failed operation (unreachable node, refused secret, unknown cache,
 * a node that could not start), with one clear line on stderr; 2 bad usage (an unknown command
 * or option, a missing argument, a bad value, an unusable config file); 3 and 4 only from
 * import-ehcache: converted, with things left unconverted; an internal error, a bug in the
 * importer (commands/import-ehcache.ts).
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { adminCommands } from './commands/admin.js';
import { demo } from './commands/demo.js';
import { type ImportEhcacheCommandOptions, importEhcacheCommand } from './commands/import-ehcache.js';
import { serve } from './commands/serve.js';
import type { Io } from './io.js';

/** This package's version, from its package.json (one level above src/ and dist/ alike). */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let outcome: Promise<number> = Promise.resolve(0);
  const program = new Command('meshcache')
    .description('meshcache: an Ehcache-style replicated local cache. Run a node, or look at a running cluster.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 success; 1 a failed operation (unreachable node, refused secret, unknown cache), with one line on stderr; 2 bad usage; serve and import-ehcache say theirs in their --help.\n',
    );
  /** Whether --default-cache was given, and whether after a --no-default-cache. */
  let defaultCacheNamed = false;
  let defaultCacheBoth = false;
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
      '\nExit codes: 0 after a clean stop (SIGINT or SIGTERM); 1 the node could not start (the peer port or the http port taken, the disk store locked, the disk under diskStorePath full); 2 a configuration that cannot be used (unreadable, not JSON, a bad field, a diskStorePath this user cannot create or write: each named on stderr).\n\nExamples:\n  meshcache serve --config examples/gateway-cluster/gw-1.json\n  MESHCACHE_SECRET=s3cret meshcache serve --config gw-1.json\n',
    )
    .action((options: { config: string; verbose?: boolean }) => runAction(serve(io, options)));

  program
    .command('demo')
    .description(
      'start a three-node cluster on 127.0.0.1 and show replication live, with a live page of the cluster (no config needed)',
    )
    .option(
      '--keep-running',
      'after the story, keep the cluster up with light traffic until Ctrl-C (default at a terminal)',
    )
    .option('--no-keep-running', 'end after the story (default when the output is not a terminal)')
    .addHelpText('after', '\nExample:\n  meshcache demo\n')
    .action((options: { keepRunning?: boolean }) =>
      runAction(demo(io, options.keepRunning === undefined ? {} : { keepRunning: options.keepRunning })),
    );

  program
    .command('import-ehcache')
    .description(
      'convert an Ehcache 2 ehcache.xml into a meshcache config (JSON on stdout); what does not convert is listed on stderr',
    )
    .argument('<file>', 'the ehcache.xml')
    .option('--name <name>', 'this node’s name (every node needs its own); left out otherwise')
    .option(
      '--cluster <name>',
      'the cluster’s name (the same on every node); default: the multicast group, the CacheManager name, or "ehcache"',
    )
    .option('--out <file>', 'write the config to this file instead of stdout')
    .option('--force', 'replace the --out file if it exists')
    .option(
      '--default-cache <name>',
      'write the defaultCache’s settings as a cache of this name (repeatable; default "default")',
      // After --no-default-cache the value is false (not a list; spreading it threw): the two
      // contradict, as they do in the other order, where commander keeps the false in silence.
      (name: string, names: string[] | false | undefined) => {
        defaultCacheNamed = true;
        if (names === false) defaultCacheBoth = true;
        return [...(Array.isArray(names) ? names : []), name];
      },
    )
    .option('--no-default-cache', 'leave the defaultCache out')
    .addHelpText(
      'after',
      '\nExit codes: 0 everything converted; 3 converted, with things not converted (each on stderr); 2 bad usage or an unusable file; 1 the output cannot be written; 4 an internal error (a bug in the importer).\n\nExamples:\n  meshcache import-ehcache ehcache.xml --name gw-1 > gw-1.json\n  meshcache import-ehcache conf/ehcache.xml --name gw-2 --cluster gateways --out gw-2.json\n',
    )
    .action((file: string, options: ImportEhcacheCommandOptions) =>
      runAction(
        importEhcacheCommand(io, file, {
          ...options,
          bothDefaultCacheOptions: defaultCacheBoth || (options.defaultCache === false && defaultCacheNamed),
        }),
      ),
    );

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
