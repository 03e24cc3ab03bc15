/**
 * What a sender spends a change as its peers grow in number: a put into a replicated cache, the
 * flush, and for each peer what its session does with the batch (encode, then seal with that
 * peer's keys), in one process with no sockets, 100,000 changes of 200 bytes a batch of 1,000.
 *
 * A full mesh of N nodes sends every batch to N - 1 peers. Each peer's frames are sealed with its
 * own keys, so sealing is paid per peer; the encoding need not be (a batch of plain values is
 * the same bytes for every peer), and this table shows whether it is. Median of BENCH_ROUNDS
 * rounds; microseconds a change.
 *
 * Run: node --expose-gc bench/dist/replication-fanout.js (after `npx tsc -p bench`), or as part of
 * npx --yes pnpm@10.34.8 run bench:replication (BENCH_ONLY=fanout).
 */
import { CipherState, FrameProtection, WireCodec } from '@meshcache/replication/internals';
import { table } from './harness.js';
import { replicatedCache } from './replication-stages.js';

const CHANGES = Number(process.env['BENCH_ENTRIES'] ?? 100_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const PEERS = [1, 3, 8];
const BATCH = 1000;
const VALUE = 'x'.repeat(200);
const KEY = Buffer.alloc(32, 7);
const settle = () => (globalThis as { gc?: () => void }).gc?.();

/** µs a change, sending to `peers` peers, each with a codec and frame protection of its own (as a session has). */
async function round(peers: number): Promise<number> {
  const { manager, cache, replicator } = replicatedCache('sender');
  let sealed = 0;
  for (let peer = 0; peer < peers; peer++) {
    const codec = new WireCodec();
    const protection = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
    replicator.addPeer({
      node: `peer-${peer}`,
      send: (message) => {
        sealed += protection.seal(codec.encode(message)).length;
      },
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
  }
  settle();
  const start = performance.now();
  for (let from = 0; from < CHANGES; from += BATCH) {
    for (let i = from; i < from + BATCH && i < CHANGES; i++) cache.put(`key:${i}`, VALUE);
    replicator.flush();
  }
  const ms = performance.now() - start;
  if (sealed === 0) throw new Error('nothing was sent');
  replicator.close();
  await manager.shutdown();
  return (ms / CHANGES) * 1000;
}

export async function replicationFanout(): Promise<void> {
  const runs = new Map<number, number[]>(PEERS.map((peers) => [peers, []]));
  // In turns, so that a drift of the machine's speed touches every column alike.
  for (let r = 0; r < ROUNDS; r++) for (const peers of PEERS) runs.get(peers)?.push(await round(peers));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const one = median(runs.get(1) ?? []);
  console.log(
    `\nA sender's cost a change by its number of peers: put, flush, and each peer's encode and seal; ${CHANGES.toLocaleString()} changes of 200 bytes, a batch of ${BATCH}; median of ${ROUNDS} rounds\n`,
  );
  console.log(
    table(
      ['peers', 'per change', 'vs one peer', 'each peer after the first'],
      PEERS.map((peers) => {
        const us = median(runs.get(peers) ?? []);
        return [
          String(peers),
          `${us.toFixed(2)} µs`,
          `${(us / one).toFixed(2)}x`,
          peers === 1 ? '' : `${((us - one) / (peers - 1)).toFixed(2)} µs`,
        ];
      }),
    ),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await replicationFanout();
