/**
 * What a replicated cache's repair digest costs its writes, and a repair's listing its steps, with
 * the keys a gateway caches under (URLs of about 80 characters) and short ones (`key:N`), in one
 * process:
 *
 * - a rewrite of a held key, and a new key that evicts one, in a replicated cache that keeps its
 *   digest (ReplicaPort.digest started, as CacheRepair starts it), next to the same writes in a
 *   cache that is not replicated (no versions, no digest): the digest's upkeep is the difference;
 * - a listing's step over the held entries (ReplicaPort.liveEntries, the bucket of each key from
 *   the hash the store keeps), next to the same walk hashing each key (FNV-1a, as the listing did
 *   before 2026-12-03).
 *
 * BENCH_DIGEST_KEYS keys (100,000) in a cache bounded at that many; median of BENCH_ROUNDS rounds
 * (6: the walks take turns at going first); nanoseconds an operation.
 *
 * Run: node --expose-gc bench/dist/replication-digest.js (after `npx tsc -p bench`), or as part of
 * npx --yes pnpm@10.34.8 run bench:replication (BENCH_ONLY=digest).
 */
import { CacheManager } from '@meshcache/core';
import { fnv1a, replicaPortOf } from '@meshcache/core/internal';
import { table } from './harness.js';

const KEYS = Number(process.env['BENCH_DIGEST_KEYS'] ?? 100_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 6);
const settle = () => (globalThis as { gc?: () => void }).gc?.();

const SHAPES = {
  'URLs (about 80 characters)': (i: number) =>
    `GET https://api.gateway.example.com/v2/customers/${i}/orders?page=3&limit=50`,
  'key:N': (i: number) => `key:${i}`,
} as const;

/** ns an operation, from a start of performance.now() and a count. */
const since = (start: number, count: number) => ((performance.now() - start) * 1e6) / count;

/**
 * One cache's rounds: ns a rewrite, a new key evicting one, and a listing's step (kept hash,
 * hashed each step). Each is a loop of its own, written out: a loop that called a closure for
 * each operation measured the call as much as the operation.
 */
function rounds(keys: readonly string[], replicated: boolean): number[][] {
  let counter = 0;
  const manager = new CacheManager(
    replicated ? { versionClock: () => ({ time: 1_700_000_000_000, counter: counter++, node: 'gw-1' }) } : {},
  );
  const cache = manager.addCache<string>('digest', { maxElementsInMemory: KEYS });
  const port = replicaPortOf(cache);
  if (replicated) port.digest(1);
  for (let i = 0; i < KEYS; i++) cache.put(keys[i] as string, 'v');
  const results: number[][] = [];
  let sink = 0;
  const kept = () => {
    const entries = port.liveEntries();
    const start = performance.now();
    while (entries.next()) sink += entries.keyHash & 1;
    return since(start, cache.size);
  };
  const hashed = () => {
    const entries = port.liveEntries();
    const start = performance.now();
    while (entries.next()) sink += fnv1a(entries.key) & 1;
    return since(start, cache.size);
  };
  // The first round warms the JIT up; not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    settle();
    let start = performance.now();
    for (let i = 0; i < KEYS; i++) cache.put(keys[i] as string, 'w');
    const rewrite = since(start, KEYS);
    start = performance.now();
    for (let i = 0; i < KEYS; i++) cache.put(keys[KEYS + ((i + round * 7919) % KEYS)] as string, 'e');
    const evicting = since(start, KEYS);
    // The two walks take turns at going first: the second finds the first's cache lines.
    let walks = [Number.NaN, Number.NaN];
    if (replicated) walks = round % 2 === 0 ? [kept(), hashed()] : [hashed(), kept()].reverse();
    if (round > 0) results.push([rewrite, evicting, walks[0] as number, walks[1] as number]);
    for (let i = 0; i < KEYS; i++) cache.put(keys[i] as string, 'v');
  }
  if (sink < 0) throw new Error('unreachable');
  void manager.shutdown();
  return results;
}

export async function replicationDigest(): Promise<void> {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const ns = (value: number) => `${value.toFixed(0)} ns`;
  const rows: string[][] = [];
  for (const [shape, keyOf] of Object.entries(SHAPES)) {
    const keys = Array.from({ length: 2 * KEYS }, (_, i) => keyOf(i));
    const replicated = rounds(keys, true);
    const local = rounds(keys, false);
    const at = (of: number[][], column: number) => median(of.map((row) => row[column] as number));
    rows.push([
      shape,
      `${ns(at(replicated, 0))} (${ns(at(local, 0))})`,
      `${ns(at(replicated, 1))} (${ns(at(local, 1))})`,
      ns(at(replicated, 2)),
      ns(at(replicated, 3)),
    ]);
  }
  console.log(
    `\nA replicated cache's digest upkeep and a repair listing's steps, ${KEYS.toLocaleString()} keys; median of ${ROUNDS} rounds\n`,
  );
  console.log(
    table(
      [
        'keys',
        'rewrite of a held key: replicated (not replicated)',
        'new key evicting one: replicated (not replicated)',
        "listing's step, the kept hash",
        "listing's step, each key hashed (before 2026-12-03)",
      ],
      rows,
    ),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await replicationDigest();
