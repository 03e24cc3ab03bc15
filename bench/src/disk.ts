/**
 * The disk tier against raw lmdb, in one run.
 *
 * - disk hit: a read that misses memory and hits disk (memory holds 1 entry, so every read of
 *   another key goes to disk and is promoted), next to a raw lmdb `get` of the same values.
 * - persistent put: `cache.put` into an overflowToDisk + diskPersistent cache until everything
 *   is committed, next to raw lmdb `put` (its own asynchronous batching) until committed.
 * - restart: open a persistent cache of 1,000,000 entries of 200 bytes and read one entry,
 *   next to opening the raw lmdb environment and reading one entry.
 *
 * Run: npx --yes pnpm@10.34.8 run bench:disk   (BENCH_RESTART_ENTRIES to change the 1,000,000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheManager } from '@meshcache/core';
import { open } from 'lmdb';
import { formatOps, keepAlive, measure, table } from './harness.js';
import { knob, readWhole } from './knobs.js';

const N = 100_000;
const ROUNDS = knob((env) => readWhole(env, 'BENCH_ROUNDS', 5));
const RESTART_ENTRIES = knob((env) => readWhole(env, 'BENCH_RESTART_ENTRIES', 1_000_000));
const VALUE = 'x'.repeat(200);
const keys = Array.from({ length: N }, (_, i) => `key:${i}`);
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-bench-'));
  dirs.push(dir);
  return dir;
}

async function diskHits(): Promise<string[][]> {
  const manager = new CacheManager({ diskStorePath: tempDir() });
  const cache = manager.addCache<string>('bench', { maxElementsInMemory: 1, overflowToDisk: true });
  for (const key of keys) cache.put(key, VALUE);
  const env = open({ path: tempDir() });
  const raw = env.openDB<string, string>({ name: 'bench' });
  await raw.transaction(() => {
    for (const key of keys) raw.put(key, VALUE);
  });
  await new Promise((resolve) => setTimeout(resolve, 50)); // let the cache's batch commit
  const results = measure(
    [
      {
        name: 'meshcache disk hit (read + promote)',
        run: (ops) => {
          let found = 0;
          for (let i = 0; i < ops; i++) if (cache.get(keys[(i * 7919) % N] as string) !== undefined) found++;
          return found;
        },
      },
      {
        name: 'raw lmdb get',
        run: (ops) => {
          let found = 0;
          for (let i = 0; i < ops; i++) if (raw.get(keys[(i * 7919) % N] as string) !== undefined) found++;
          return found;
        },
      },
    ],
    200_000,
    ROUNDS,
  );
  const stats = cache.statistics();
  if (stats.diskHits === 0) throw new Error('the disk-hit bench did not hit the disk');
  await manager.shutdown();
  await env.close();
  const base = results[1]?.opsPerSec ?? Number.NaN;
  return results.map((r) => [
    r.subject,
    formatOps(r.opsPerSec),
    `${r.nsPerOp.toFixed(0)} ns`,
    `${(base / r.opsPerSec).toFixed(2)}x`,
  ]);
}

async function persistentPuts(): Promise<string[][]> {
  const rows: string[][] = [];
  const times: Array<[string, number]> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const manager = new CacheManager({ diskStorePath: tempDir() });
    const cache = manager.addCache<string>('bench', {
      maxElementsInMemory: 10_000,
      overflowToDisk: true,
      diskPersistent: true,
    });
    let start = process.hrtime.bigint();
    for (const key of keys) cache.put(key, VALUE);
    await manager.shutdown(); // everything committed and flushed
    times.push(['meshcache put (persistent, until flushed)', Number(process.hrtime.bigint() - start)]);

    const env = open({ path: tempDir() });
    const raw = env.openDB<string, string>({ name: 'bench' });
    start = process.hrtime.bigint();
    let last: Promise<boolean> | undefined;
    for (const key of keys) last = raw.put(key, VALUE);
    await last;
    await raw.flushed;
    times.push(['raw lmdb put (async, until flushed)', Number(process.hrtime.bigint() - start)]);
    await env.close();
  }
  const median = (name: string) => {
    const sorted = times
      .filter(([n]) => n === name)
      .map(([, t]) => t)
      .sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  const base = median('raw lmdb put (async, until flushed)');
  for (const name of ['meshcache put (persistent, until flushed)', 'raw lmdb put (async, until flushed)']) {
    const ns = median(name);
    rows.push([name, formatOps((N / ns) * 1e9), `${(ns / N).toFixed(0)} ns`, `${(ns / base).toFixed(2)}x`]);
  }
  return rows;
}

async function restart(): Promise<string[][]> {
  const dir = tempDir();
  const config = { maxElementsInMemory: 10_000, overflowToDisk: true, diskPersistent: true } as const;
  const fill = new CacheManager({ diskStorePath: dir });
  const cache = fill.addCache<string>('bench', config);
  for (let i = 0; i < RESTART_ENTRIES; i++) {
    cache.put(`key:${i}`, VALUE);
    if (i % 50_000 === 49_999) await new Promise((resolve) => setImmediate(resolve));
  }
  await fill.shutdown();

  let start = process.hrtime.bigint();
  const manager = new CacheManager({ diskStorePath: dir });
  const reopened = manager.addCache<string>('bench', config);
  const first = reopened.get('key:12345');
  const meshMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (first !== VALUE || reopened.size !== RESTART_ENTRIES) throw new Error('restart lost entries');
  await manager.shutdown();

  start = process.hrtime.bigint();
  const env = open({ path: dir, maxDbs: 256 });
  const raw = env.openDB({ name: 'cache:bench' });
  raw.get('key:12345');
  const rawMs = Number(process.hrtime.bigint() - start) / 1e6;
  await env.close();
  return [
    [`meshcache: addCache + first get, ${RESTART_ENTRIES.toLocaleString()} entries`, `${meshMs.toFixed(0)} ms`],
    ['raw lmdb: open + first get, same file', `${rawMs.toFixed(0)} ms`],
  ];
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${N.toLocaleString()} keys, 200-byte values, median of ${ROUNDS} rounds\n`);
  console.log(table(['operation', 'ops/s', 'per op', 'cost vs raw lmdb'], await diskHits()));
  console.log('');
  console.log(table(['operation', 'ops/s', 'per op', 'cost vs raw lmdb'], await persistentPuts()));
  console.log('');
  console.log(table(['restart', 'ready after'], await restart()));
  if (keepAlive() === -1) console.log('');
}

try {
  await main();
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
