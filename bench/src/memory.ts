/**
 * The memory tier against the caches a Node user would otherwise pick, in one run.
 *
 * Workload: 100,000 string keys, 200-byte string values, capacity 100,000.
 * - get (hit): every key is held; keys are read in a shuffled order.
 * - get (hit, key made per call): the same, each key string made for the call (`key:${n}`), as a
 *   gateway makes its key from each request: a string whose hash no one has computed yet.
 * - get (miss): keys that are not held.
 * - put (new, evicting): the cache is full, every put is a new key and evicts one entry.
 * - put (update): every put rewrites a held key.
 *
 * meshcache is configured with LRU, a TTL and a TTI (so every hit checks both deadlines), and
 * again with TINYLFU, otherwise the same;
 * lru-cache is the baseline for the ratio column, configured with the same capacity and no TTL
 * (its fastest path); a second lru-cache row has a TTL. A plain Map is the floor: no order,
 * no expiry, no bound (it never evicts: evicting a Map's oldest key under churn is quadratic in
 * V8, see packages/cache-core/src/policy/linked-list.ts). quick-lru and tiny-lru are popular alternatives.
 * (@isaacs/ttlcache was tried and dropped: with a max and one TTL for all entries, evicting
 * puts are quadratic for it, and 200k of them did not finish in 5 minutes.)
 *
 * Then: the garbage collections during 5M hits (none: a hit allocates nothing), and the bytes an
 * evicting put allocates (the collector's share of a full cache's writes).
 *
 * Run: npm run demo   (or: npx --yes pnpm@10.34.8 --filter @meshcache/bench run memory)
 */
import { CacheManager } from '@meshcache/core';
import { LRUCache } from 'lru-cache';
import QuickLRU from 'quick-lru';
import { lru } from 'tiny-lru';
import {
  allocated,
  countCollections,
  formatOps,
  keepAlive,
  measure,
  type Subject,
  shuffled,
  table,
} from './harness.js';
import { knob, readOnlyPrefixes, readWhole } from './knobs.js';

const N = knob((env) => readWhole(env, 'BENCH_KEYS', 100_000));
const OPS = Math.max(1_000_000, N);
const ROUNDS = knob((env) => readWhole(env, 'BENCH_ROUNDS', 7));
const VALUE = 'x'.repeat(200);
/** Evicting puts whose allocation is counted (fewer than the fresh keys there are). */
const EVICTING_PUTS = 200_000;

const keys = Array.from({ length: N }, (_, i) => `key:${i}`);
const readOrder = shuffled(keys);
const readNumbers = Int32Array.from(readOrder, (key) => Number(key.slice(4)));
const missing = Array.from({ length: N }, (_, i) => `missing:${i}`);
let fresh = 0;
const freshKey = (): string => `new:${fresh++}`;
const freshKeys = Array.from({ length: OPS * 2 }, freshKey);

/** The common shape of every subject: get, set. */
interface Adapter {
  get(key: string): unknown;
  set(key: string, value: string): void;
}

interface Contender {
  readonly name: string;
  readonly make: () => Adapter;
}

const allContenders: Contender[] = [
  {
    name: 'meshcache (LRU, TTL+TTI)',
    make: () => {
      const cache = new CacheManager().addCache<string>('bench', {
        maxElementsInMemory: N,
        timeToLiveSeconds: 3600,
        timeToIdleSeconds: 600,
      });
      return { get: (k) => cache.get(k), set: (k, v) => cache.put(k, v) };
    },
  },
  {
    name: 'meshcache (TINYLFU, TTL+TTI)',
    make: () => {
      const cache = new CacheManager().addCache<string>('bench', {
        maxElementsInMemory: N,
        timeToLiveSeconds: 3600,
        timeToIdleSeconds: 600,
        memoryStoreEvictionPolicy: 'TINYLFU',
      });
      return { get: (k) => cache.get(k), set: (k, v) => cache.put(k, v) };
    },
  },
  {
    name: 'lru-cache (max)',
    make: () => {
      const cache = new LRUCache<string, string>({ max: N });
      return { get: (k) => cache.get(k), set: (k, v) => void cache.set(k, v) };
    },
  },
  {
    name: 'lru-cache (max, ttl)',
    make: () => {
      const cache = new LRUCache<string, string>({ max: N, ttl: 3_600_000 });
      return { get: (k) => cache.get(k), set: (k, v) => void cache.set(k, v) };
    },
  },
  {
    name: 'Map (unbounded)',
    make: () => {
      const map = new Map<string, string>();
      return { get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
    },
  },
  {
    name: 'quick-lru',
    make: () => {
      const cache = new QuickLRU<string, string>({ maxSize: N });
      return { get: (k) => cache.get(k), set: (k, v) => void cache.set(k, v) };
    },
  },
  {
    name: 'tiny-lru (max, ttl)',
    make: () => {
      const cache = lru<string>(N, 3_600_000);
      return { get: (k) => cache.get(k), set: (k, v) => void cache.set(k, v) };
    },
  },
];

/**
 * BENCH_BASELINE=/path/to/packages/cache-core/dist/index.js adds meshcache rows from another
 * build of @meshcache/core (an older commit's, say), measured in the same run, interleaved with the
 * others: on a loaded machine that is the only fair before-and-after.
 */
const baselinePath = process.env['BENCH_BASELINE'];
if (baselinePath !== undefined) {
  const { CacheManager: BaselineManager } = (await import(baselinePath)) as { CacheManager: typeof CacheManager };
  for (const policy of ['LRU', 'TINYLFU'] as const) {
    allContenders.push({
      name: `meshcache baseline (${policy}, TTL+TTI)`,
      make: () => {
        const cache = new BaselineManager().addCache<string>('bench', {
          maxElementsInMemory: N,
          timeToLiveSeconds: 3600,
          timeToIdleSeconds: 600,
          memoryStoreEvictionPolicy: policy,
        });
        return { get: (k) => cache.get(k), set: (k, v) => cache.put(k, v) };
      },
    });
  }
}

/** BENCH_ONLY=meshcache,lru-cache runs only the contenders whose names start with one of those. */
const only = knob((env) =>
  readOnlyPrefixes(
    env,
    'BENCH_ONLY',
    allContenders.map((c) => c.name),
  ),
);
const contenders = allContenders.filter((c) => only === undefined || only.some((prefix) => c.name.startsWith(prefix)));

function filled(contender: Contender): Adapter {
  const cache = contender.make();
  for (const key of keys) cache.set(key, VALUE);
  return cache;
}

type Workload = (cache: Adapter, ops: number) => number;

const workloads: Array<{ name: string; run: Workload; refill: boolean }> = [
  {
    name: 'get (hit)',
    refill: false,
    run: (cache, ops) => {
      let found = 0;
      for (let i = 0; i < ops; i++) if (cache.get(readOrder[i % N] as string) !== undefined) found++;
      return found;
    },
  },
  {
    name: 'get (hit, key made per call)',
    refill: false,
    run: (cache, ops) => {
      let found = 0;
      for (let i = 0; i < ops; i++) if (cache.get(`key:${readNumbers[i % N]}`) !== undefined) found++;
      return found;
    },
  },
  {
    name: 'get (miss)',
    refill: false,
    run: (cache, ops) => {
      let found = 0;
      for (let i = 0; i < ops; i++) if (cache.get(missing[i % N] as string) !== undefined) found++;
      return found;
    },
  },
  {
    name: 'put (new, evicting)',
    refill: true,
    run: (cache, ops) => {
      for (let i = 0; i < ops; i++) cache.set(freshKeys[i] as string, VALUE);
      return ops;
    },
  },
  {
    name: 'put (update)',
    refill: false,
    run: (cache, ops) => {
      for (let i = 0; i < ops; i++) cache.set(readOrder[i % N] as string, VALUE);
      return ops;
    },
  },
];

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${N.toLocaleString()} keys, 200-byte values, ${OPS.toLocaleString()} ops a round, median of ${ROUNDS} rounds\n`,
  );
  const results = new Map<string, Map<string, number>>();
  for (const workload of workloads) {
    const subjects: Subject[] = contenders.map((contender) => {
      let cache = filled(contender);
      return {
        name: contender.name,
        prepare: workload.refill ? () => (cache = filled(contender)) : undefined,
        run: (ops) => workload.run(cache, ops),
      };
    });
    for (const result of measure(subjects, OPS, ROUNDS)) {
      const row = results.get(result.subject) ?? new Map<string, number>();
      row.set(workload.name, result.opsPerSec);
      results.set(result.subject, row);
    }
  }

  const baseline = results.get('lru-cache (max)');
  const header = ['cache', ...workloads.flatMap((w) => [`${w.name} ops/s`, 'vs lru-cache'])];
  const rows = contenders.map((c) => {
    const row = results.get(c.name);
    return [
      c.name,
      ...workloads.flatMap((w) => {
        const ops = row?.get(w.name) ?? Number.NaN;
        const base = baseline?.get(w.name) ?? Number.NaN;
        return [formatOps(ops), `${(ops / base).toFixed(2)}x`];
      }),
    ];
  });
  console.log(table(header, rows));

  // Issue 15's target: a TINYLFU hit costs at most 1.1x an LRU hit, the same cache otherwise.
  const lruRow = results.get('meshcache (LRU, TTL+TTI)');
  const tinyRow = results.get('meshcache (TINYLFU, TTL+TTI)');
  if (lruRow !== undefined && tinyRow !== undefined) {
    console.log(
      '\nmeshcache TINYLFU against meshcache LRU (cost = time per operation; <= 1.10x is the target for a hit):\n',
    );
    console.log(
      table(
        ['operation', 'LRU ops/s', 'TINYLFU ops/s', 'TINYLFU cost vs LRU'],
        workloads.map((w) => {
          const lru = lruRow.get(w.name) ?? Number.NaN;
          const tiny = tinyRow.get(w.name) ?? Number.NaN;
          return [w.name, formatOps(lru), formatOps(tiny), `${(lru / tiny).toFixed(2)}x`];
        }),
      ),
    );
  }

  console.log('\nGarbage collections during 5,000,000 hits (0 = a hit allocates nothing):\n');
  const gcRows: string[][] = [];
  for (const contender of contenders) {
    const cache = filled(contender);
    const collections = await countCollections(() => {
      for (let i = 0; i < 5_000_000; i++) cache.get(readOrder[i % N] as string);
    });
    gcRows.push([contender.name, String(collections)]);
  }
  console.log(table(['cache', 'GCs during 5M hits'], gcRows));

  // What a full cache's put costs the collector beyond its own entry: the key strings are made
  // beforehand, so what is counted is the cache's (the value is shared; its entry is new).
  console.log(
    `\nBytes allocated a put (new, evicting), ${EVICTING_PUTS.toLocaleString()} puts into the full cache (V8's sampling heap profiler, freed objects included):\n`,
  );
  const allocRows: string[][] = [];
  for (const contender of contenders) {
    const cache = filled(contender);
    const { total } = await allocated(() => {
      for (let i = 0; i < EVICTING_PUTS; i++) cache.set(freshKeys[i] as string, VALUE);
    }, 32);
    allocRows.push([contender.name, `${Math.round(total / EVICTING_PUTS)} B`]);
  }
  console.log(table(['cache', 'allocated a put'], allocRows));
  if (keepAlive() === -1) console.log('');
}

await main();
