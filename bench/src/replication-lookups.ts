/**
 * What reading ahead saves a receiver (ReplicaPort.prefetch, core's KeyIndex.prefetch): a cache
 * of 1,000,000 keys looks up runs of 1,024 keys as replication hands them over, each run with and
 * without the read-ahead, in turns, in one process:
 *
 * - a repair's key list: knownVersion of keys the cache holds, in an order unrelated to where
 *   they sit (a peer lists its own slots; this cache's index places keys by hash);
 * - a bootstrap's entries: applyPut of keys the cache does not hold yet (a miss, then a write).
 *
 * Keys are fresh strings, as a frame's decoder makes them. Median of BENCH_ROUNDS rounds, each
 * way; nanoseconds a key.
 *
 * Run: node --expose-gc bench/dist/replication-lookups.js (after `npx tsc -p bench`), or as part of
 * npx --yes pnpm@10.34.8 run bench:replication (BENCH_ONLY=lookups).
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { table } from './harness.js';

const HELD = Number(process.env['BENCH_LOOKUP_KEYS'] ?? 1_000_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const RUN = 1024;
const settle = () => (globalThis as { gc?: () => void }).gc?.();

/** A deterministic shuffle (xorshift), so that runs compare the same order. */
function shuffled(count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  let state = 0x9e3779b9;
  for (let i = count - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** Fresh strings, as a decoder makes them (not the ones the cache holds). */
const fresh = (prefix: string, order: readonly number[]) => order.map((i) => Buffer.from(`${prefix}${i}`).toString());

/** Versions as a replicated cache's: each write newer than the last. */
function versions() {
  let counter = 0;
  return () => ({ time: 1_700_000_000_000, counter: ++counter, node: 'peer' });
}

function cacheOf(manager: CacheManager) {
  const cache = manager.addCache<string>('lookups', { maxElementsInMemory: 0 });
  return { cache, port: replicaPortOf(cache) };
}

/** ns a key: `each` over `keys` in runs of RUN, read ahead first when `ahead`. */
function timed(
  keys: readonly string[],
  ahead: boolean,
  prefetch: (run: string[]) => void,
  each: (key: string) => void,
) {
  settle();
  const start = performance.now();
  for (let from = 0; from < keys.length; from += RUN) {
    const run = keys.slice(from, from + RUN);
    if (ahead) prefetch(run);
    for (const key of run) each(key);
  }
  return ((performance.now() - start) * 1e6) / keys.length;
}

export async function replicationLookups(): Promise<void> {
  const order = shuffled(HELD);
  const held: Record<'plain' | 'ahead', number[]> = { plain: [], ahead: [] };
  const added: Record<'plain' | 'ahead', number[]> = { plain: [], ahead: [] };
  const manager = new CacheManager({ versionClock: versions() });
  const { cache, port } = cacheOf(manager);
  for (let i = 0; i < HELD; i++) cache.put(`key:${i}`, 'v');
  let found = 0;
  // A first round each way warms the JIT up; not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const way of round % 2 === 0 ? (['plain', 'ahead'] as const) : (['ahead', 'plain'] as const)) {
      const ns = timed(
        fresh('key:', order),
        way === 'ahead',
        (run) => port.prefetch(run),
        (key) => {
          if (port.knownVersion(key) !== undefined) found++;
        },
      );
      if (round > 0) held[way].push(ns);
    }
  }
  if (found !== (ROUNDS + 1) * 2 * HELD) throw new Error(`the cache answered for ${found} keys`);
  await manager.shutdown();
  // A bootstrap: a cache of HELD keys takes HELD more, in runs, each way in a cache of its own.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const way of round % 2 === 0 ? (['plain', 'ahead'] as const) : (['ahead', 'plain'] as const)) {
      const stamp = versions();
      const joiner = new CacheManager({ versionClock: stamp });
      const { cache: joined, port: taking } = cacheOf(joiner);
      for (let i = 0; i < HELD; i++) joined.put(`held:${i}`, 'v');
      const ns = timed(
        fresh('new:', order),
        way === 'ahead',
        (run) => taking.prefetch(run),
        (key) => taking.applyPut(key, 'v', stamp(), 0, 0, 0),
      );
      if (joined.size !== 2 * HELD) throw new Error(`the joiner holds ${joined.size} keys`);
      if (round > 0) added[way].push(ns);
      await joiner.shutdown();
    }
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const row = (what: string, times: Record<'plain' | 'ahead', number[]>) => {
    const plain = median(times.plain);
    const ahead = median(times.ahead);
    return [what, `${plain.toFixed(0)} ns`, `${ahead.toFixed(0)} ns`, `${(plain / ahead).toFixed(2)}x`];
  };
  console.log(
    `\nA peer's keys looked up in runs of ${RUN}, in a cache of ${HELD.toLocaleString()} keys; median of ${ROUNDS} rounds each way, taking turns\n`,
  );
  console.log(
    table(
      ['lookup', 'as they come', 'read ahead first', 'faster'],
      [
        row("a repair's key list: knownVersion of keys held", held),
        row("a bootstrap's entries: applyPut of keys not held", added),
      ],
    ),
  );
}
