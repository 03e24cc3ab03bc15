/**
 * What replication allocates a change, on each side, in bytes: the collector's work grows with
 * it (each scavenge has a fixed cost, and a sender that allocates half as much collects half as
 * often). Counted by V8's sampling heap profiler (one sample every 256 bytes allocated), with the
 * objects the collector has already freed included, by the function that allocated them; in one
 * process, with no sockets:
 *
 * - sender: 200,000 replicated puts of 200-byte values into a cache that already held those keys
 *   once (so no growth is counted), flushed in batches of 1,000, each frame encoded and sealed as
 *   a session does (the benchmark's own key strings are counted too: about 56 bytes a put);
 * - receiver: 300,000 entries in Entries frames of 4,000 (a bootstrap's repair chunks), each
 *   decoded with values deferred as a session does and applied in runs, into a cache with room
 *   made for them.
 *
 * Run: node --expose-gc bench/dist/replication.js with BENCH_ONLY=alloc (after `npx tsc -p bench`).
 */
import { CipherState, FrameProtection, MessageType, WireCodec } from '@meshcache/replication/internals';
import { allocated, table } from './harness.js';
import { putChanges, replicatedCache, replicatedSender } from './replication-stages.js';

const VALUE = 'x'.repeat(200);
const KEY = Buffer.alloc(32, 7);
const settle = () => (globalThis as { gc?: () => void }).gc?.();

async function sender(changes: number) {
  const { manager, cache, replicator, sent } = replicatedSender();
  const codec = new WireCodec();
  const sealing = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
  const puts = () => {
    for (let from = 0; from < changes; from += 1000) {
      for (let i = from; i < from + 1000 && i < changes; i++) cache.put(`key:${i}`, VALUE);
      replicator.flush();
      for (const batch of sent()) sealing.seal(codec.encode(batch));
    }
  };
  puts(); // warms the code up and grows the cache and the queue to their size
  settle();
  const result = await allocated(puts);
  replicator.close();
  await manager.shutdown();
  return result;
}

async function receiver(entries: number) {
  const writer = new WireCodec();
  const now = Date.now();
  const frames: Buffer[] = [];
  for (let i = 0; i < entries; i += 4000) {
    const changes = putChanges(i, Math.min(i + 4000, entries), now);
    frames.push(Buffer.from(writer.encode({ type: MessageType.Entries, changes })));
  }
  let result: { total: number; by: Map<string, number> } | undefined;
  for (const measured of [false, true]) {
    const { manager, replicator } = replicatedCache('joiner');
    replicator.port.reserve(entries);
    const reader = new WireCodec({ deferValues: true });
    const apply = () => {
      for (const frame of frames) {
        const message = reader.decode(frame);
        const values = reader.takeDeferred();
        if (message.type !== MessageType.Entries) throw new Error(`expected entries, got message type ${message.type}`);
        const changes = message.changes;
        for (let i = 0; i < changes.length; ) i = replicator.applyRun(changes, i, 'sender');
        values?.settle();
      }
    };
    settle();
    if (measured) result = await allocated(apply);
    else apply(); // warms the code up
    replicator.close();
    await manager.shutdown();
  }
  return result as { total: number; by: Map<string, number> };
}

export async function replicationAlloc(): Promise<void> {
  const puts = 200_000;
  const entries = 300_000;
  const sent = await sender(puts);
  const received = await receiver(entries);
  const rows: string[][] = [];
  for (const [side, { total, by }, count] of [
    ['sender: a replicated put, flushed, encoded, sealed', sent, puts],
    ['receiver: an entry decoded and applied', received, entries],
  ] as const) {
    rows.push([side, `${(total / count).toFixed(0)} B`, '']);
    const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 4);
    for (const [where, bytes] of top) rows.push(['', `${(bytes / count).toFixed(0)} B`, where]);
  }
  console.log('\nBytes allocated a change, on each side (V8 sampling heap profiler, freed objects included)\n');
  console.log(table(['what', 'allocated a change', 'the most of it, by function'], rows));
}
