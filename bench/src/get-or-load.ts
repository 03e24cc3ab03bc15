/**
 * A getOrLoad hit beside a get hit: what an API gateway pays on every request it answers from the
 * cache through getOrLoad (with stale-if-error, as a response cache asks for it) rather than get.
 *
 * Workload: as src/memory.ts, 100,000 string keys, 200-byte string values, every key held, read in
 * a shuffled order; the cache with LRU, a TTL and a TTI (so a hit checks both deadlines and moves
 * the idle clock). Three operations:
 * - get (hit)
 * - getOrLoad (hit): the loader and the options object made once, as a route hands the same ones
 * - getOrLoad (hit, staleIfErrorSeconds: 60)
 * A getOrLoad's promise is not awaited: a hit's is already resolved, and awaiting it would measure
 * the microtask queue, not the cache.
 *
 * For each: the median time of interleaved rounds (harness.ts), run twice, each build first once
 * (the mean of the two medians), and the bytes allocated per operation (V8's sampling heap
 * profiler, a sample every 32 bytes, freed objects included).
 *
 * Knobs: BENCH_ROUNDS (default 7), BENCH_KEYS (default 100000), and BENCH_BASELINE=/path/to/
 * packages/cache-core/dist/index.js, which adds the same rows from another build of @meshcache/core
 * (an older commit's, in a worktree), measured in the same run, interleaved with this build's.
 *
 * Run: npx --yes pnpm@10.34.8 run bench:get-or-load (or, built: node --expose-gc dist/get-or-load.js in bench/)
 */
import { CacheManager } from '@meshcache/core';
import { allocated, formatOps, keepAlive, measure, type Subject, shuffled, table } from './harness.js';
import { knob, readWhole } from './knobs.js';

const N = knob((env) => readWhole(env, 'BENCH_KEYS', 100_000));
const OPS = Math.max(1_000_000, N);
const ROUNDS = knob((env) => readWhole(env, 'BENCH_ROUNDS', 7));
/** Operations whose allocation is counted. */
const ALLOC_OPS = 200_000;
const VALUE = 'x'.repeat(200);

const keys = Array.from({ length: N }, (_, i) => `key:${i}`);
const readOrder = shuffled(keys);

/** What the bench needs of a cache, from this build or the baseline's. */
interface BenchCache {
  get(key: string): string | undefined;
  put(key: string, value: string): void;
  getOrLoad(
    key: string,
    loader: (key: string) => string,
    options?: { staleIfErrorSeconds?: number },
  ): Promise<string | undefined>;
}

interface Build {
  readonly name: string;
  readonly Manager: new () => { addCache(name: string, config: object): unknown };
}

const builds: Build[] = [{ name: 'meshcache', Manager: CacheManager }];
const baselinePath = process.env['BENCH_BASELINE'];
if (baselinePath !== undefined) {
  const baseline = (await import(baselinePath)) as { CacheManager: Build['Manager'] };
  builds.push({ name: 'meshcache baseline', Manager: baseline.CacheManager });
}

function filled(build: Build): BenchCache {
  const cache = new build.Manager().addCache('bench', {
    maxElementsInMemory: N,
    timeToLiveSeconds: 3600,
    timeToIdleSeconds: 600,
  }) as BenchCache;
  for (const key of keys) cache.put(key, VALUE);
  return cache;
}

const loader = (key: string): string => `loaded ${key}`;
const staleIfError = { staleIfErrorSeconds: 60 };

const operations: Array<{ name: string; run: (cache: BenchCache, ops: number) => number }> = [
  {
    name: 'get (hit)',
    run: (cache, ops) => {
      let found = 0;
      for (let i = 0; i < ops; i++) if (cache.get(readOrder[i % N] as string) !== undefined) found++;
      return found;
    },
  },
  {
    name: 'getOrLoad (hit)',
    run: (cache, ops) => {
      let found = 0;
      for (let i = 0; i < ops; i++) if (cache.getOrLoad(readOrder[i % N] as string, loader) !== undefined) found++;
      return found;
    },
  },
  {
    name: 'getOrLoad (hit, staleIfErrorSeconds)',
    run: (cache, ops) => {
      let found = 0;
      for (let i = 0; i < ops; i++) {
        if (cache.getOrLoad(readOrder[i % N] as string, loader, staleIfError) !== undefined) found++;
      }
      return found;
    },
  },
];

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${N.toLocaleString()} keys, 200-byte values, ${OPS.toLocaleString()} ops a round, median of ${ROUNDS} rounds twice (each build first once), the mean of the two; allocation over ${ALLOC_OPS.toLocaleString()} ops\n`,
  );
  const rows: string[][] = [];
  for (const operation of operations) {
    const caches = new Map(builds.map((build) => [build.name, filled(build)]));
    const subjects: Subject[] = builds.map((build) => {
      const cache = caches.get(build.name) as BenchCache;
      return { name: build.name, run: (ops) => operation.run(cache, ops) };
    });
    // Each subject runs first in half the runs: within a round the first one reads slower or faster
    // (the same code read 3% to 7% apart by place alone), and a baseline always second looked faster.
    const timed = [...measure(subjects, OPS, ROUNDS), ...measure([...subjects].reverse(), OPS, ROUNDS)];
    for (const build of builds) {
      const cache = caches.get(build.name) as BenchCache;
      const { total } = await allocated(() => {
        operation.run(cache, ALLOC_OPS);
      }, 32);
      const own = timed.filter((r) => r.subject === build.name);
      const nsPerOp = own.reduce((sum, r) => sum + r.nsPerOp, 0) / own.length;
      rows.push([
        build.name,
        operation.name,
        formatOps(1e9 / nsPerOp),
        `${nsPerOp.toFixed(0)} ns`,
        `${Math.round(total / ALLOC_OPS)} B`,
      ]);
    }
  }
  console.log(table(['build', 'operation', 'ops/s', 'time an op', 'allocated an op'], rows));
  if (keepAlive() === -1) console.log('');
}

await main();
