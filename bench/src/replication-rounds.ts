/**
 * What anti-entropy costs two full bounded caches (repair/cache-repair.ts, "Rounds skipped"):
 * two nodes in one process, linked over real WebSockets on 127.0.0.1, each with a cache bounded
 * at BENCH_ROUNDS_KEYS entries (LRU) and full of URL-like keys, each having evicted by its own
 * reads (so they hold different keys, as bounded caches of a fleet do). Then, for
 * BENCH_ROUNDS_SECONDS, one node updates 100 keys both hold every second (each update
 * replicated live, so nothing is missed) while both run anti-entropy every second.
 *
 * Once with both nodes held to protocol 4 (every round sent and handled: the keys listed each way,
 * nothing pulled) and once at this release's newest (a repair that took nothing asks the peer to
 * skip its next rounds);
 * the bytes both nodes wrote to their sockets meanwhile (frames as ws was handed them), the
 * process's CPU, the repairs finished and the rounds skipped.
 *
 * Run: node --expose-gc bench/dist/replication.js with BENCH_ONLY=rounds (after `npx tsc -p bench`),
 * or as part of npx --yes pnpm@10.34.8 run bench:replication.
 */
import { type ClusterConfig, ClusterNode } from '@meshcache/replication';
import { WebSocket } from 'ws';
import { table } from './harness.js';

const KEYS = Number(process.env['BENCH_ROUNDS_KEYS'] ?? 50_000);
const SECONDS = Number(process.env['BENCH_ROUNDS_SECONDS'] ?? 30);
const VALUE = 'v'.repeat(200);
const key = (i: number) => `/api/v1/catalog/items/${i}?locale=en-GB`;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes handed to ws to send, by every socket of this process, since the bench loaded. */
let written = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function counted(this: WebSocket, data: unknown, ...rest: unknown[]) {
  if (data instanceof Uint8Array) written += data.byteLength;
  return (send as (...args: unknown[]) => void).call(this, data, ...rest);
} as typeof WebSocket.prototype.send;

interface Outcome {
  readonly bytes: number;
  readonly cpuMillis: number;
  readonly handled: number;
  readonly skipped: number;
}

async function run(protocols: { min: number; max: number } | undefined): Promise<Outcome> {
  const caches: ClusterConfig['caches'] = {
    responses: {
      maxElementsInMemory: KEYS,
      memoryStoreEvictionPolicy: 'LRU',
      replication: { asynchronousReplicationIntervalMillis: 10, repairIntervalMillis: 1000 },
    },
  };
  const start = (name: string, peers: string[]) =>
    ClusterNode.start(
      { name, cluster: 'bench', secret: 'bench', peerDiscovery: { mode: 'manual', peers }, caches },
      protocols === undefined ? {} : { protocols },
    );
  const a = await start('a', []);
  const b = await start('b', [a.url]);
  try {
    await Promise.all([a.ready(), b.ready()]);
    const ca = a.manager.getCache<string>('responses');
    const cb = b.manager.getCache<string>('responses');
    if (ca === undefined || cb === undefined) throw new Error('the bench cache is missing');
    for (let i = 0; i < KEYS; i++) {
      ca.put(key(i), VALUE);
      if (i % 5000 === 4999) await pause(20);
    }
    while (cb.size < KEYS) await pause(20);
    // Each reads half, then a writes a fifth more: a evicts from the half b read, b from a's.
    for (let i = 0; i < KEYS / 2; i++) ca.get(key(i));
    for (let i = KEYS / 2; i < KEYS; i++) cb.get(key(i));
    for (let i = KEYS; i < KEYS * 1.2; i++) ca.put(key(i), VALUE);
    await pause(3000); // the last puts arrive, and the rounds that find them settle
    const counted = (field: 'repairs' | 'roundsSkipped') =>
      [a, b].reduce((sum, node) => sum + (node.replicationStatistics('responses')?.[field] ?? 0), 0);
    const before = {
      bytes: written,
      cpu: process.cpuUsage(),
      repairs: counted('repairs'),
      roundsSkipped: counted('roundsSkipped'),
    };
    for (let second = 0; second < SECONDS; second++) {
      // Keys both hold (a evicted the first fifth of b's half, b the first fifth of a's).
      for (let j = 0; j < 100; j++) ca.put(key(KEYS * 0.8 + ((second * 100 + j) % (KEYS * 0.2))), `${VALUE}${second}`);
      await pause(1000);
    }
    const cpu = process.cpuUsage(before.cpu);
    const grown = (field: 'repairs' | 'roundsSkipped') => counted(field) - before[field];
    const handled = grown('repairs');
    const skipped = grown('roundsSkipped');
    return { bytes: written - before.bytes, cpuMillis: (cpu.user + cpu.system) / 1000, handled, skipped };
  } finally {
    await b.stop();
    await a.stop();
  }
}

export async function replicationRounds(): Promise<void> {
  const old = await run({ min: 2, max: 4 });
  const now = await run(undefined);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const row = (name: string, { bytes, cpuMillis, handled, skipped }: Outcome) => [
    name,
    mb(bytes),
    mb(bytes / SECONDS),
    `${cpuMillis.toFixed(0)} ms`,
    String(handled),
    String(skipped),
  ];
  console.log(
    `\nAnti-entropy between two full bounded caches of ${KEYS.toLocaleString()} keys that hold different keys: ${SECONDS} s, rounds every second, 100 updates a second replicated live\n`,
  );
  console.log(
    table(
      ['links', 'bytes written (both nodes)', 'a second', 'CPU (the process)', 'repairs finished', 'rounds skipped'],
      [row('protocol 4: every round handled', old), row('protocol 5: rounds that took nothing skipped', now)],
    ),
  );
}
