/**
 * The commands that look at or change a live node: peers, stats, get, put, remove, clear. Each
 * is one admin call (docs/protocol.md, "Admin sessions"), printed for people or, with --json,
 * for scripts.
 */
import { createReadStream } from 'node:fs';
import { TextDecoder } from 'node:util';
import { AdminError, type PeerInfo, type RemovalReplication } from '@meshcache/replication';
import { type Command, Option } from 'commander';
import { ago, bytes, jsonLine, millis, notJson, printable, table } from '../format.js';
import { inexactNumberIn } from '../inexact-numbers.js';
import { type Io, readAll, styles } from '../io.js';
import { cacheName, type NodeOptions, nodeOptions, wholeNumber, withNode } from './connect.js';

type Run = (code: Promise<number>) => void;

export function adminCommands(program: Command, io: Io, run: Run): void {
  const style = styles(io);

  nodeOptions(
    program
      .command('peers')
      .description('list the peers of a node: how each was found, its state, queue and lag')
      .option('--watch', 'refresh every second until Ctrl-C'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  meshcache peers --node ws://127.0.0.1:40001\n  meshcache peers --node ws://127.0.0.1:40001 --json\n',
    )
    .action((options: NodeOptions & { watch?: boolean }) =>
      run(
        withNode(io, options, async (client) => {
          const show = async () => {
            const peers = await client.peers();
            if (options.json === true) io.out(`${jsonLine(peers)}\n`);
            else io.out(peersTable(peers, style));
          };
          await show();
          if (options.watch !== true) return 0;
          let stop = false;
          const ended = Promise.race([io.interrupted, io.outputClosed ?? new Promise<never>(() => {})]);
          void ended.then(() => {
            stop = true;
          });
          while (!stop) {
            await Promise.race([new Promise((resolve) => setTimeout(resolve, 1000)), ended]);
            if (stop) break;
            if (io.tty && options.json !== true) io.out('\u001b[2J\u001b[H'); // in place, for people
            await show();
          }
          return 0;
        }),
      ),
    );

  nodeOptions(
    program
      .command('stats')
      .description('per-cache statistics of a node, with its replication figures')
      .option('--cache <name>', 'only this cache', cacheName),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  meshcache stats --node ws://127.0.0.1:40001\n  meshcache stats --node ws://127.0.0.1:40001 --cache "Response Cache" --json\n',
    )
    .action((options: NodeOptions & { cache?: string }) =>
      run(
        withNode(io, options, async (client) => {
          const reports = await client.stats(options.cache);
          if (options.json === true) {
            io.out(`${jsonLine(reports)}\n`);
            return 0;
          }
          // On a backplane node every replicated cache carries the same backplane figures: one line first.
          const backplane = reports
            .map(({ replication }) => (replication as { backplane?: PeerInfo['backplane'] } | null)?.backplane)
            .find((info) => info !== undefined);
          if (backplane !== undefined) io.out(`${backplaneLine(backplane)}\n`);
          io.out(
            table(
              [
                'CACHE',
                'HITS',
                'MISSES',
                'HIT RATIO',
                'IN MEMORY',
                'ON DISK',
                'EVICTIONS',
                'EXPIRATIONS',
                'SENT',
                'APPLIED',
                'REPAIRS',
              ],
              reports.map(({ name, statistics: s, replication }) => {
                const r = replication as { sent: number; applied: number; repairs: number } | null;
                return [
                  name,
                  String(s.hits),
                  String(s.misses),
                  `${(s.hitRatio * 100).toFixed(1)}%`,
                  String(s.memorySize),
                  String(s.diskSize),
                  String(s.evictions),
                  String(s.expirations),
                  r === null ? '(local)' : String(r.sent),
                  r === null ? '' : String(r.applied),
                  r === null ? '' : String(r.repairs),
                ];
              }),
            ),
          );
          return 0;
        }),
      ),
    );

  nodeOptions(
    program
      .command('get')
      .description(
        'read an entry (quietly: no statistics, no idle-time reset), shown as JSON; a value JSON cannot hold as it is (a Map, a Set, binary, NaN, Infinity, a BigInt...) is refused (exit 1), naming where it is',
      )
      .argument('<cache>', 'the cache, by name', cacheName)
      .argument('<key>', 'the key'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  meshcache get --node ws://127.0.0.1:40001 "Response Cache" "GET /orders/42" --json\n',
    )
    .action((cache: string, key: string, options: NodeOptions) =>
      run(
        withNode(io, options, async (client) => {
          const answer = await client.get(cache, key);
          // Shown only as it is: a value JSON would write as another one is refused (exit 1), the
          // same with --json or without.
          const problem = answer.found ? notJson(answer.value) : undefined;
          if (problem !== undefined) {
            throw new AdminError(
              'E_VALUE_NOT_ENCODABLE',
              `cannot show the value of key ${jsonLine(key)} in ${jsonLine(cache)} as JSON: ${problem}, which JSON has no way to write`,
            );
          }
          if (options.json === true)
            io.out(`${jsonLine(answer.found ? { found: true, value: answer.value } : { found: false })}\n`);
          else io.out(answer.found ? `${jsonLine(answer.value, 2)}\n` : `${style.dim('(no entry)')}\n`);
          return 0;
        }),
      ),
    );

  nodeOptions(
    program
      .command('put')
      .description('write an entry; it replicates like any write. VALUE is JSON, or else a string')
      .argument('<cache>', 'the cache, by name', cacheName)
      .argument('<key>', 'the key')
      .argument('[value]', 'the value; or give --value-file')
      .option('--value-file <file>', 'read the value from a file (UTF-8; - for standard input), as VALUE is read')
      .addOption(
        new Option(
          '--ttl <seconds>',
          "this entry's time to live, whole seconds, in place of the cache's TTL and TTI (as put's timeToLiveSeconds; 0: never expires)",
        ).argParser(wholeNumber('--ttl', 0)),
      ),
    false,
  )
    .addHelpText(
      'after',
      '\nExamples:\n  meshcache put --node ws://127.0.0.1:40001 tokens svc/orders \'"eyJ..."\' --ttl 3000\n' +
        '  curl -s https://api.example.com/config | meshcache put --node ws://127.0.0.1:40001 config main --value-file -\n',
    )
    .action(
      (
        cache: string,
        key: string,
        given: string | undefined,
        options: NodeOptions & { ttl?: number; valueFile?: string },
      ) =>
        run(
          (async () => {
            // The value is read before connecting: bad usage is said as such, and no session
            // waits open on a pipe's writer.
            let value: unknown;
            try {
              value = parseValue(await valueText(io, given, options.valueFile));
            } catch (error) {
              if (!(error instanceof AdminError)) throw error;
              io.err(`meshcache: ${printable(error.message)}\n`);
              return 2;
            }
            return withNode(io, options, async (client) => {
              try {
                await client.put(cache, key, value, options.ttl === undefined ? {} : { ttlSeconds: options.ttl });
              } catch (error) {
                // A value no cache could take as given (refused by the client before sending, or by the cache): bad usage.
                if (error instanceof AdminError && error.code === 'E_VALUE_NOT_ENCODABLE') {
                  throw new AdminError('E_BAD_USAGE', error.message, { cause: error });
                }
                throw error;
              }
              io.out(`put ${jsonLine(key)} into ${jsonLine(cache)}\n`);
              return 0;
            });
          })(),
        ),
    );

  nodeOptions(
    program
      .command('remove')
      .description('remove an entry; peers drop it too as the cache replicates removals (the output says which)')
      .argument('<cache>', 'the cache, by name', cacheName)
      .argument('<key>', 'the key'),
    false,
  )
    .addHelpText(
      'after',
      `${REMOVALS_HELP}\nExamples:\n  meshcache remove --node ws://127.0.0.1:40001 tokens svc/orders\n`,
    )
    .action((cache: string, key: string, options: NodeOptions) =>
      run(
        withNode(io, options, async (client) => {
          const { removed, removals } = await client.removeEntry(cache, key);
          io.out(`${removalLine(removed, key, removals)}\n`);
          return 0;
        }),
      ),
    );

  nodeOptions(
    program
      .command('clear')
      .description(
        'remove every entry of a cache; peers empty it too as the cache replicates removals (the output says which)',
      )
      .argument('<cache>', 'the cache, by name', cacheName),
    false,
  )
    .addHelpText(
      'after',
      `${REMOVALS_HELP}\nExamples:\n  meshcache clear --node ws://127.0.0.1:40001 "Response Cache"\n`,
    )
    .action((cache: string, options: NodeOptions) =>
      run(
        withNode(io, options, async (client) => {
          const { removals } = await client.clear(cache);
          io.out(`${clearLine(cache, removals)}\n`);
          return 0;
        }),
      ),
    );
}

/** What --help of remove and clear says of the other nodes. */
const REMOVALS_HELP =
  '\nThe other nodes: a cache that replicates removals (the default) sends the\n' +
  'removal to its peers; with replicateRemovals: false, peers drop it at their\n' +
  'next repair; a cache that does not replicate changes on this node only.\n';

/**
 * What `remove` did, here and beyond, by what the node says of the cache's removals. The lines
 * once promised every node whatever the cache: one that does not replicate changes this node
 * alone, and with replicateRemovals off nothing is sent until a repair. A node older than the
 * answer's `removals` says nothing of it, and neither does the line.
 */
export function removalLine(removed: boolean, key: string, removals: RemovalReplication | undefined): string {
  const held = removed ? `removed ${jsonLine(key)}` : `${jsonLine(key)} was not held here`;
  switch (removals) {
    case 'sent':
      return removed ? held : `${held} (the removal still reaches every node)`;
    case 'repair':
      return `${removed ? `${held} here` : held}; ${NOT_SENT}: peers drop the key at their next repair`;
    case 'none':
      return removed
        ? `${held} on this node only (the cache does not replicate)`
        : `${held} (the cache does not replicate)`;
    case undefined:
      return removed
        ? held
        : `${held} (whether peers drop it too depends on the cache's replication; this node does not say)`;
  }
}

/** What `clear` did, as removalLine says it for `remove`. */
export function clearLine(cache: string, removals: RemovalReplication | undefined): string {
  const cleared = `cleared ${jsonLine(cache)}`;
  switch (removals) {
    case 'sent':
    case undefined:
      return cleared;
    case 'repair':
      return `${cleared} here; ${NOT_SENT}: peers empty it at their next repair`;
    case 'none':
      return `${cleared} on this node only (the cache does not replicate)`;
  }
}

const NOT_SENT = 'this cache does not send removals (replicateRemovals: false)';

/** Most bytes --value-file reads: a frame's worth (AdminClient refuses a value past 15 MiB encoded). */
const MOST_VALUE_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The value's text: VALUE as given, or what --value-file holds (standard input for `-`), read as
 * UTF-8 with one final newline taken off, as `echo` and editors add it and `$(cat file)` drops it.
 * @throws AdminError E_BAD_USAGE
 */
async function valueText(io: Io, given: string | undefined, file: string | undefined): Promise<string> {
  if (file === undefined) {
    if (given === undefined) throw new AdminError('E_BAD_USAGE', 'give the value, or --value-file');
    return given;
  }
  if (given !== undefined) throw new AdminError('E_BAD_USAGE', 'give the value or --value-file, not both');
  const what = file === '-' ? '--value-file - (standard input)' : `--value-file ${file}`;
  let bytes: Buffer;
  try {
    if (file === '-') {
      if (io.readStdin === undefined) throw new Error('there is no standard input here');
      bytes = await io.readStdin(MOST_VALUE_FILE_BYTES);
    } else {
      // Read up to the bound, whatever the file is: a pipe or a device (/dev/stdin, <(cmd),
      // /dev/zero) has no size to check first.
      bytes = await readAll(createReadStream(file), MOST_VALUE_FILE_BYTES);
    }
  } catch (error) {
    throw new AdminError('E_BAD_USAGE', `cannot read ${what}: ${(error as Error).message}`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/\r?\n$/, '');
  } catch {
    throw new AdminError('E_BAD_USAGE', `${what} is not UTF-8 text: a value is JSON, or else a string`);
  }
}

/**
 * JSON when it parses (`42`, `{"a":1}`, `"quoted"`), else the text as it is. A number JSON.parse
 * cannot hold as written (`1e400` is Infinity, written back as null; `12345678901234567890` loses
 * its last digits) is bad usage rather than a different value stored in silence: quoted, it is a
 * string.
 * @throws AdminError E_BAD_USAGE
 */
export function parseValue(raw: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return raw;
  }
  const inexact = inexactNumberIn(raw);
  if (inexact !== undefined) {
    throw new AdminError(
      'E_BAD_USAGE',
      `the value holds ${inexact.length > 40 ? `${inexact.slice(0, 40)}...` : inexact}, a number JavaScript cannot keep as written: quote it to store it as a string`,
    );
  }
  return value;
}

export function peersTable(all: readonly PeerInfo[], style: ReturnType<typeof styles>): string {
  // A node on a Redis backplane lists the backplane first (id 'backplane'): one line above the peers.
  const backplane = all[0]?.foundBy === 'backplane' ? all[0].backplane : undefined;
  const peers = backplane === undefined ? all : all.slice(1);
  const head = backplane === undefined ? '' : `${backplaneLine(backplane)}\n`;
  if (peers.length === 0) return `${head}${style.dim('(no peers)')}\n`;
  const now = Date.now();
  return (
    head +
    table(
      ['ID', 'URL', 'FOUND BY', 'STATE', 'CACHES', 'LAST SEEN', 'QUEUE', 'LAG'],
      peers.map((peer) => [
        peer.id,
        peer.url,
        peer.foundBy,
        peer.state,
        peer.caches.join(', '),
        ago(peer.lastSeen, now),
        `${peer.queuedChanges} (${bytes(peer.queuedBytes)})`,
        millis(peer.lagMillis),
      ]),
    )
  );
}

/**
 * One line: how the node stands with its backplane, and why it is down when it is (what only the
 * node's log said: WRONGPASS, a refused connection), and what the last gap was (Redis lost its
 * data...). A node from before `reason` and `lastGap` answers without them, and the line says neither.
 */
export function backplaneLine(info: NonNullable<PeerInfo['backplane']>, now = Date.now()): string {
  const { refused } = info;
  const reason = (info.reason as string | null | undefined) ?? null;
  const lastGap = (info.lastGap as typeof info.lastGap | undefined) ?? null;
  const parts = [
    `BACKPLANE ${info.url} ${info.state}${reason === null ? '' : ` (${reason})`}`,
    `stream ${info.stream}`,
    `last id ${info.lastId ?? '-'}`,
    `lag ${info.lag === null ? '-' : `${info.lag} entries`} (${millis(info.lagMillis)})`,
    `members ${info.members}`,
    `repairs ${info.repairs}`,
    `gaps ${info.gaps}${lastGap === null ? '' : ` (last ${ago(lastGap.at, now)}: ${lastGap.why})`}`,
    `pending ${bytes(info.pendingBytes)}`,
  ];
  if (info.repairOwed) parts.push('repair owed (no member could give it yet)');
  const refusals = refused.unauthenticated + refused.replayed + refused.stale;
  if (refusals > 0) {
    parts.push(`refused ${refused.unauthenticated} forged, ${refused.replayed} replayed, ${refused.stale} stale`);
  }
  return printable(parts.join('  '));
}
