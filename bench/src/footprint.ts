/**
 * Memory per entry: what 1,000,000 entries cost, key included, for meshcache and the caches a
 * user would otherwise pick.
 *
 * Workload (issue 20): string keys `key:N`, one shared 200-byte value (so the value itself is not
 * counted, only the reference to it), capacity = the number of entries. Each subject is measured
 * in a process of its own (`node --expose-gc dist/footprint.js SUBJECT`): a forced GC, the memory
 * in use, the entries put, a forced GC, the memory in use again; the difference over the count is
 * the row. The subjects' processes are interleaved round by round and the median is reported.
 *
 * Two columns: the V8 heap alone (heapUsed), and the heap plus the ArrayBuffers behind typed
 * arrays (process.memoryUsage().arrayBuffers), which live outside the heap. A store that keeps
 * its metadata in typed arrays (lru-cache's links, meshcache's slots) looks smaller than it is
 * by the first measure; the second is the one to compare.
 *
 * Run: node --expose-gc dist/footprint.js   (BENCH_FOOTPRINT_ENTRIES, BENCH_FOOTPRINT_ROUNDS, BENCH_ONLY)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CacheManager } from '@meshcache/core';
import { LRUCache } from 'lru-cache';
import { table } from './harness.js';
import { knob, readOnlyPrefixes, readWhole } from './knobs.js';

const ENTRIES = knob((env) => readWhole(env, 'BENCH_FOOTPRINT_ENTRIES', 1_000_000));
const ROUNDS = knob((env) => readWhole(env, 'BENCH_FOOTPRINT_ROUNDS', 3));
const VALUE = 'v'.repeat(200);

interface Subject {
  readonly name: string;
  /** Builds the store and fills it; returns it, so it stays reachable while the heap is measured. */
  readonly fill: (n: number) => unknown;
}

function meshcache(config: Record<string, unknown>, versioned = false): (n: number) => unknown {
  return (n) => {
    let counter = 0;
    const manager = new CacheManager(
      versioned
        ? { versionClock: () => ({ time: 1_700_000_000_000 + counter, counter: counter++, node: 'gw-1' }) }
        : {},
    );
    const cache = manager.addCache<string>('bench', { maxElementsInMemory: n, ...config });
    for (let i = 0; i < n; i++) cache.put(`key:${i}`, VALUE);
    return manager;
  };
}

const SUBJECTS: readonly Subject[] = [
  { name: 'Map', fill: (n) => fillMap(n) },
  { name: 'lru-cache (max)', fill: (n) => fillLru(new LRUCache<string, string>({ max: n }), n) },
  { name: 'lru-cache (max, ttl)', fill: (n) => fillLru(new LRUCache<string, string>({ max: n, ttl: 3_600_000 }), n) },
  { name: 'meshcache (LRU, no expiry)', fill: meshcache({}) },
  { name: 'meshcache (LRU, TTL+TTI)', fill: meshcache({ timeToLiveSeconds: 3600, timeToIdleSeconds: 600 }) },
  {
    name: 'meshcache (LRU, TTL+TTI, versioned)',
    fill: meshcache({ timeToLiveSeconds: 3600, timeToIdleSeconds: 600 }, true),
  },
  {
    name: 'meshcache (TINYLFU, TTL+TTI)',
    fill: meshcache({ timeToLiveSeconds: 3600, timeToIdleSeconds: 600, memoryStoreEvictionPolicy: 'TINYLFU' }),
  },
];

function fillMap(n: number): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < n; i++) map.set(`key:${i}`, VALUE);
  return map;
}

function fillLru(cache: LRUCache<string, string>, n: number): LRUCache<string, string> {
  for (let i = 0; i < n; i++) cache.set(`key:${i}`, VALUE);
  return cache;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc');
  collect();
  collect();
}

/** In the child: one subject, one measurement, printed as bytes per entry. */
function measureOne(name: string): void {
  const subject = SUBJECTS.find((s) => s.name === name);
  if (subject === undefined) throw new Error(`unknown subject ${name}`);
  gc();
  const before = process.memoryUsage();
  const held = subject.fill(ENTRIES);
  gc();
  const after = process.memoryUsage();
  const heap = (after.heapUsed - before.heapUsed) / ENTRIES;
  const buffers = (after.arrayBuffers - before.arrayBuffers) / ENTRIES;
  console.log(`${heap.toFixed(1)} ${(heap + buffers).toFixed(1)}`);
  if (held === undefined) console.log('');
}

function main(): void {
  const only = knob((env) =>
    readOnlyPrefixes(
      env,
      'BENCH_ONLY',
      SUBJECTS.map((s) => s.name),
    ),
  );
  const subjects = SUBJECTS.filter((s) => only === undefined || only.some((prefix) => s.name.startsWith(prefix)));
  const heap = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  const total = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < ROUNDS; round++) {
    for (const subject of subjects) {
      const run = spawnSync(process.execPath, ['--expose-gc', self, subject.name], {
        encoding: 'utf8',
        env: process.env,
      });
      if (run.status !== 0) throw new Error(`${subject.name}: ${run.stderr}`);
      const [heapBytes, totalBytes] = run.stdout.trim().split(' ').map(Number);
      heap.get(subject.name)?.push(heapBytes ?? Number.NaN);
      total.get(subject.name)?.push(totalBytes ?? Number.NaN);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const heapBase = median(heap.get('lru-cache (max, ttl)') ?? []);
  const totalBase = median(total.get('lru-cache (max, ttl)') ?? []);
  const ratio = (bytes: number, base: number) => (Number.isNaN(base) ? '' : `${(bytes / base).toFixed(2)}x`);
  console.log(
    `\nMemory per entry: ${ENTRIES.toLocaleString()} entries, keys \`key:N\`, one shared 200-byte value, after GC, key included; median of ${ROUNDS} processes each\n`,
  );
  console.log(
    table(
      ['store', 'heap B/entry', 'vs lru-cache (max, ttl)', 'heap + ArrayBuffers B/entry', 'vs lru-cache (max, ttl)'],
      subjects.map((s) => {
        const heapBytes = median(heap.get(s.name) ?? []);
        const totalBytes = median(total.get(s.name) ?? []);
        return [
          s.name,
          heapBytes.toFixed(0),
          ratio(heapBytes, heapBase),
          totalBytes.toFixed(0),
          ratio(totalBytes, totalBase),
        ];
      }),
    ),
  );
}

const subjectArgument = process.argv[2];
if (subjectArgument !== undefined) measureOne(subjectArgument);
else main();
