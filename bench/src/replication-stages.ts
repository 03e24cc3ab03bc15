/**
 * Where a replicated change's time goes: each stage of the path from a put on one node to the
 * versioned write on another, measured alone in this process (no sockets, no second process),
 * in microseconds per change, next to the stages of the bare pipeline that bench:replication
 * compares against. The throughput rows of bench:replication say how fast the whole runs; this
 * table says which stage to work on, and which costs the bare pipeline never pays (a local
 * versioned write on the sender, the replication queue, encryption, the guard, the version
 * checks on the receiver).
 *
 * Each stage runs over the same 200,000 changes (keys `key:N`, one 200-byte string value) in
 * batches of 1,000, as the queue flushes them; the stores keep what they are given, so the
 * garbage collector pays for the survivors as it does in service. Median of BENCH_ROUNDS rounds.
 *
 * Run: node --expose-gc bench/dist/replication-stages.js (after `npx tsc -p bench`), or as part of
 * npx --yes pnpm@10.34.8 run bench:replication (BENCH_ONLY=stages).
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { resolveReplicationConfig } from '@meshcache/replication';
import {
  CacheReplicator,
  CipherState,
  FrameProtection,
  HybridLogicalClock,
  type Message,
  MessageType,
  MsgpackGuard,
  WireCodec,
} from '@meshcache/replication/internals';
import { LRUCache } from 'lru-cache';
import { Packr, Unpackr } from 'msgpackr';
import { table } from './harness.js';

const CHANGES = Number(process.env['BENCH_ENTRIES'] ?? 200_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const BATCH = 1000;
const VALUE = 'x'.repeat(200);
const KEY = Buffer.alloc(32, 7);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** Time spent in each stage (ms), added up batch by batch. */
class Stages {
  readonly ms = new Map<string, number>();

  time<T>(stage: string, run: () => T): T {
    const start = performance.now();
    const result = run();
    this.ms.set(stage, (this.ms.get(stage) ?? 0) + performance.now() - start);
    return result;
  }
}

function replicatedCache(node: string) {
  const hlc = new HybridLogicalClock({ node });
  const manager = new CacheManager({ versionClock: () => hlc.now() });
  const cache = manager.addCache<string>('bench', { maxElementsInMemory: 0 });
  const replicator = new CacheReplicator(
    replicaPortOf(cache),
    resolveReplicationConfig('bench', { asynchronousReplicationIntervalMillis: 3_600_000, repairIntervalMillis: 0 }),
    { hlc, logger: silent },
  );
  return { hlc, manager, cache, replicator };
}

/**
 * One round: the changes go through every stage a batch at a time, as they do in service (a
 * batch is encoded, sealed, sent, opened, decoded and applied, then dropped), each stage timed
 * on its own; returns µs per change by stage.
 */
async function round(): Promise<Map<string, number>> {
  const stages = new Stages();
  const keys = Array.from({ length: CHANGES }, (_, i) => `key:${i}`);
  const alone = new HybridLogicalClock({ node: 'alone' });
  const local = new CacheManager({ versionClock: () => alone.now() });
  const localCache = local.addCache<string>('bench', { maxElementsInMemory: 0 });
  const sender = replicatedCache('sender');
  const receiver = replicatedCache('receiver');
  let outbox: Message[] = [];
  sender.replicator.addPeer({
    node: 'receiver',
    send: (message) => outbox.push(message),
    bufferedAmount: () => 0,
    acknowledged: async () => true,
  });
  const encoder = new WireCodec();
  const sealing = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
  const opening = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
  const guard = new MsgpackGuard();
  const unpackr = new Unpackr({ moreTypes: true, useRecords: true, mapsAsObjects: false, sequential: true });
  const decoder = new WireCodec();
  const packr = new Packr({ useRecords: true, sequential: true });
  const bareUnpackr = new Unpackr({ useRecords: true, sequential: true, copyBuffers: true });
  const lru = new LRUCache<string, string>({ max: CHANGES + 1 });
  (globalThis as { gc?: () => void }).gc?.();

  for (let from = 0; from < CHANGES; from += BATCH) {
    const to = Math.min(from + BATCH, CHANGES);
    stages.time(LOCAL_PUT, () => {
      for (let i = from; i < to; i++) localCache.put(keys[i] as string, VALUE);
    });
    stages.time(REPLICATED_PUT, () => {
      for (let i = from; i < to; i++) sender.cache.put(keys[i] as string, VALUE);
    });
    stages.time(FLUSH, () => sender.replicator.flush());
    const batches = outbox;
    outbox = [];
    for (const batch of batches) {
      const frame = stages.time(ENCODE, () => encoder.encode(batch));
      const sealed = stages.time(SEAL, () => sealing.seal(frame));
      const opened = stages.time(OPEN, () => opening.open(sealed));
      stages.time(GUARD, () => guard.check(opened));
      stages.time(UNPACK, () => unpackr.unpack(opened));
      const message = stages.time(DECODE, () => decoder.decode(opened));
      if (message.type !== MessageType.Batch) throw new Error(`expected a batch, got message type ${message.type}`);
      stages.time(APPLY, () => {
        for (const change of message.changes) receiver.replicator.apply(change, 'sender');
      });
    }
    const pairs = stages.time(BARE_ENCODE, () => {
      const batch: Array<[string, string]> = [];
      for (let i = from; i < to; i++) batch.push([keys[i] as string, VALUE]);
      return packr.pack(batch);
    });
    stages.time(BARE_DECODE, () => {
      for (const [key, value] of bareUnpackr.unpack(pairs) as Array<[string, string]>) lru.set(key, value);
    });
  }
  if (receiver.cache.size !== CHANGES) throw new Error(`receiver holds ${receiver.cache.size} of ${CHANGES}`);
  if (lru.size !== CHANGES) throw new Error(`the bare receiver holds ${lru.size} of ${CHANGES}`);
  sender.replicator.close();
  receiver.replicator.close();
  await Promise.all([local, sender.manager, receiver.manager].map((manager) => manager.shutdown()));
  const perChange = new Map<string, number>();
  for (const [stage, ms] of stages.ms) perChange.set(stage, (ms / CHANGES) * 1000);
  // decode() guards and unpacks too: what is left is checking the fields and building the changes
  perChange.set(CHECK, (perChange.get(DECODE) ?? 0) - (perChange.get(GUARD) ?? 0) - (perChange.get(UNPACK) ?? 0));
  perChange.delete(DECODE);
  return perChange;
}

const LOCAL_PUT = 'put, versioned, not replicated (for comparison)';
const REPLICATED_PUT = 'put, replicated: digest kept, change queued';
const FLUSH = 'flush: queue drained into batches';
const ENCODE = 'encode (WireCodec)';
const SEAL = 'seal (AES-256-GCM)';
const OPEN = 'open (AES-256-GCM)';
const GUARD = 'guard: msgpack walk';
const UNPACK = 'msgpack decode (msgpackr)';
const DECODE = 'decode';
const CHECK = 'check every field, build the changes';
const APPLY = 'apply: HLC, version checks, versioned write, digest';
const BARE_ENCODE = 'bare pipeline: msgpack encode of [key, value] pairs';
const BARE_DECODE = 'bare pipeline: msgpack decode, lru-cache set';
const SENDER = [REPLICATED_PUT, FLUSH, ENCODE, SEAL];
const RECEIVER = [OPEN, GUARD, UNPACK, CHECK, APPLY];
const ORDER = [LOCAL_PUT, ...SENDER, ...RECEIVER, BARE_ENCODE, BARE_DECODE];

export async function replicationStages(): Promise<void> {
  const rounds: Array<Map<string, number>> = [];
  for (let i = 0; i < ROUNDS + 1; i++) rounds.push(await round());
  rounds.shift(); // the first round warms the JIT up
  const median = (stage: string) => {
    const values = rounds.map((r) => r.get(stage) ?? Number.NaN).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)] ?? Number.NaN;
  };
  const us = (value: number) => `${value.toFixed(3)} µs`;
  const sum = (stages: string[]) => stages.reduce((total, stage) => total + median(stage), 0);
  console.log(
    `\nWhere a change's time goes: each stage timed alone, in one process, ${CHANGES.toLocaleString()} changes of 200 bytes a batch of ${BATCH} at a time; median of ${ROUNDS} rounds\n`,
  );
  console.log(
    table(
      ['stage', 'per change'],
      [
        ...ORDER.map((stage) => [stage, us(median(stage))]),
        ['meshcache sender in all (replicated put to seal)', us(sum(SENDER))],
        ['meshcache receiver in all (open to apply)', us(sum(RECEIVER))],
        ['bare pipeline sender / receiver', `${us(median(BARE_ENCODE))} / ${us(median(BARE_DECODE))}`],
      ],
    ),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await replicationStages();
