/**
 * The soak: three node processes on 127.0.0.1, each writing and removing at random over one
 * shared key space (3 puts to 1 removal) for a while, sampled every second: RSS, heap, event-loop
 * delay (p99 and max since the last sample), and the most bytes queued for any peer. At the end
 * the writes stop and the three must hold the same contents.
 *
 * A module (soak(), used by test/soak.test.ts for CI's 60-second run) and a script, for the long
 * run documented in bench/README.md:
 *
 *   node --conditions=@meshcache/source --import tsx test/soak.ts [--seconds 600] [--rate 3000] [--keys 20000]
 *
 * The script prints one line per 10 s and a summary, and exits 1 when the contents differ at the
 * end, or when (runs of 3 minutes or more) the mean RSS of the last minute is more than 1.2 times
 * that of the second minute on any node: memory that keeps growing under a steady load. It exits
 * 2, before any node starts, on an option it does not know or a value that is not a positive number.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CACHE, converged, type Running, startNode, stopAll, until } from './node-processes.js';

export interface SoakOptions {
  readonly seconds: number;
  /** Changes per second per node. */
  readonly rate: number;
  readonly keys: number;
  /** Called with each sample (for progress lines). */
  readonly onSample?: (sample: Sample) => void;
}

export interface Sample {
  readonly second: number;
  /** Per node, in node order. */
  readonly rssMiB: number[];
  readonly heapMiB: number[];
  readonly loopDelayP99Ms: number[];
  readonly loopDelayMaxMs: number[];
  /** The most bytes any node had queued for any peer. */
  readonly mostQueuedBytes: number;
}

export interface SoakResult {
  readonly samples: Sample[];
  readonly changes: number;
  /** Seconds from the writes stopping to equal contents. */
  readonly convergedAfterSeconds: number;
  readonly entries: number;
  /** Per node: mean RSS of the last minute over that of the second minute (undefined under 3 minutes). */
  readonly rssGrowth: Array<number | undefined>;
}

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly loopDelay: { readonly p99: number; readonly max: number };
}

const MiB = 1024 * 1024;
const round = (n: number) => Math.round(n * 10) / 10;

/** Runs the soak; the caller stops the processes (stopAll) whatever happens. */
export async function soak(options: SoakOptions): Promise<SoakResult> {
  const caches = {
    'Response Cache': { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 50 } },
  };
  const nodes: Running[] = [];
  nodes.push(await startNode('gw-1', [], { caches }));
  nodes.push(await startNode('gw-2', [nodes[0]?.url as string], { caches }));
  nodes.push(await startNode('gw-3', [nodes[0]?.url as string, nodes[1]?.url as string], { caches }));
  await until(
    async () => {
      const views = (await Promise.all(nodes.map((n) => n.ask('peers')))) as Array<Array<{ state: string }>>;
      return views.every((peers) => peers.filter((p) => p.state === 'connected').length === 2);
    },
    'the mesh',
    30_000,
  );
  for (const node of nodes) await node.ask('memory'); // resets the event-loop histogram
  for (const node of nodes) await node.ask(`churn ${CACHE} ${options.rate} ${options.keys}`);

  const samples: Sample[] = [];
  const started = Date.now();
  for (let second = 1; second <= options.seconds; second++) {
    const due = started + second * 1000;
    await until(async () => Date.now() >= due, 'the next sample', 60_000);
    const memory = (await Promise.all(nodes.map((node) => node.ask('memory')))) as Memory[];
    const peers = (await Promise.all(nodes.map((node) => node.ask('peers')))) as Array<Array<{ queuedBytes: number }>>;
    const sample: Sample = {
      second,
      rssMiB: memory.map((m) => round(m.rss / MiB)),
      heapMiB: memory.map((m) => round(m.heapUsed / MiB)),
      loopDelayP99Ms: memory.map((m) => round(m.loopDelay.p99)),
      loopDelayMaxMs: memory.map((m) => round(m.loopDelay.max)),
      mostQueuedBytes: Math.max(0, ...peers.flat().map((p) => p.queuedBytes)),
    };
    samples.push(sample);
    options.onSample?.(sample);
  }

  let changes = 0;
  for (const node of nodes) {
    const counts = (await node.ask(`churn ${CACHE} 0`)) as { puts: number; removes: number };
    changes += counts.puts + counts.removes;
  }
  const stopped = Date.now();
  await converged(nodes, 'the three nodes to hold the same contents', CACHE, 120_000);
  const convergedAfterSeconds = (Date.now() - stopped) / 1000;
  const entries = ((await (nodes[0] as Running).ask(`count ${CACHE}`)) as { count: number }).count;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const rssGrowth = nodes.map((_, i) => {
    if (samples.length < 180) return undefined;
    const second = samples.slice(60, 120).map((s) => s.rssMiB[i] as number);
    const last = samples.slice(-60).map((s) => s.rssMiB[i] as number);
    return round((mean(last) / mean(second)) * 100) / 100;
  });
  return { samples, changes, convergedAfterSeconds, entries, rssGrowth };
}

/** A one-line summary of the samples: ranges per figure across nodes and time. */
export function summary(result: SoakResult): Record<string, string | number> {
  const all = (pick: (s: Sample) => number[]) => result.samples.flatMap(pick);
  const range = (values: number[]) => `${Math.min(...values)}-${Math.max(...values)}`;
  return {
    seconds: result.samples.length,
    'changes (all nodes)': result.changes,
    'RSS (MiB)': range(all((s) => s.rssMiB)),
    'heap used (MiB)': range(all((s) => s.heapMiB)),
    'event-loop delay p99 (ms)': range(all((s) => s.loopDelayP99Ms)),
    'event-loop delay max (ms)': Math.max(...all((s) => s.loopDelayMaxMs)),
    'most queued for a peer (KiB)': Math.round(Math.max(...result.samples.map((s) => s.mostQueuedBytes)) / 1024),
    'converged after writes stopped (s)': result.convergedAfterSeconds,
    'entries at the end': result.entries,
    'RSS last minute / second minute': result.rssGrowth.every((g) => g === undefined)
      ? 'run under 3 min'
      : result.rssGrowth.join(', '),
  };
}

const USAGE =
  'usage: node --conditions=@meshcache/source --import tsx test/soak.ts [--seconds 600] [--rate 3000] [--keys 20000]';

/**
 * The script's options, read strictly: an unknown option (`--second 60`), a missing value or one
 * that is not a positive number is an Error naming it. Read loosely, a mistyped option was
 * ignored and a 10-minute soak at the defaults began.
 */
export function soakOptions(args: readonly string[]): SoakOptions {
  const { values } = parseArgs({
    args: args.filter((arg) => arg !== '--'),
    options: { seconds: { type: 'string' }, rate: { type: 'string' }, keys: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const option = (name: 'seconds' | 'rate' | 'keys', fallback: number) => {
    const raw = values[name];
    const value = raw === undefined ? fallback : /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(value) || value <= 0) {
      throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  return { seconds: option('seconds', 600), rate: option('rate', 3000), keys: option('keys', 20_000) };
}

async function main(): Promise<void> {
  let options: SoakOptions;
  try {
    options = soakOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`soak: ${(error as Error).message}`);
    console.error(USAGE);
    process.exit(2);
  }
  const { seconds, rate, keys } = options;
  // Stopped by its pid (a CI job's timeout, `kill PID`), not through its process group as Ctrl-C
  // at a terminal does, the soak exited and left its three nodes running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  console.log(`soak: 3 nodes, ${rate} changes/s each over ${keys} keys, ${seconds} s`);
  let failed = false;
  try {
    const result = await soak({
      seconds,
      rate,
      keys,
      onSample: (s) => {
        if (s.second % 10 === 0) {
          console.log(
            `${s.second}s rss ${s.rssMiB.join('/')} MiB heap ${s.heapMiB.join('/')} MiB loop p99 ${s.loopDelayP99Ms.join('/')} ms queued ${Math.round(s.mostQueuedBytes / 1024)} KiB`,
          );
        }
      },
    });
    console.log(summary(result));
    const grew = result.rssGrowth.filter((g) => g !== undefined && g > 1.2);
    if (grew.length > 0) {
      console.error(`soak: RSS of the last minute is more than 1.2x that of the second minute (${grew.join(', ')})`);
      failed = true;
    }
  } catch (error) {
    console.error(`soak: ${(error as Error).message}`);
    failed = true;
  } finally {
    await stopAll();
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
