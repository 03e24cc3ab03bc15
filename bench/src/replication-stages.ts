/**
 * Where a replicated change's time goes: each stage of the path from a put on one node to the
 * versioned write on another, measured alone in this process (no sockets, no second process),
 * in microseconds per change, next to the stages of the bare pipeline that bench:replication
 * compares against. The throughput rows of bench:replication say how fast the whole runs; this
 * table says which stage to work on, and which costs the bare pipeline never pays (a local
 * versioned write on the sender, the replication queue, encryption, the guard, the version
 * checks on the receiver).
 *
 * Each stage runs over the same 200,000 changes (keys `key:N` made as they are put, as a caller makes them, and one 200-byte string value) in
 * batches of 1,000, as the queue flushes them; the sides run one after the other, each with only
 * its own cache alive, and the caches keep what they are given, so the garbage collector pays for
 * what survives as it does in service (it is charged to whichever stage allocates when a
 * collection starts: the decode rows carry most of the receiver's). Median of BENCH_ROUNDS rounds.
 *
 * Run: node --expose-gc bench/dist/replication-stages.js (after `npx tsc -p bench`), or as part of
 * npx --yes pnpm@10.34.8 run bench:replication (BENCH_ONLY=stages).
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { resolveReplicationConfig } from '@meshcache/replication';
import {
  CacheReplicator,
  type ChangeMessage,
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

/** A replicated cache that flushes only when told (the benches call flush()), with no repairs. */
export function replicatedCache(node: string) {
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
 * A replicated cache with one peer that keeps what it is sent (the benches encode and seal it as a
 * session would); `sent()` hands over what was sent since it was last called.
 */
export function replicatedSender() {
  const replicated = replicatedCache('sender');
  let outbox: Message[] = [];
  replicated.replicator.addPeer({
    node: 'receiver',
    send: (message) => outbox.push(message),
    bufferedAmount: () => 0,
    acknowledged: async () => true,
  });
  const sent = (): Message[] => {
    const batches = outbox;
    outbox = [];
    return batches;
  };
  return { ...replicated, sent };
}

/** Puts `key:from` to `key:to - 1` of one 200-byte value, versioned at `now`: the changes the replication benches carry. */
export function putChanges(from: number, to: number, now: number): ChangeMessage[] {
  const changes: ChangeMessage[] = [];
  for (let j = from; j < to; j++) {
    changes.push({
      type: MessageType.Put,
      cache: 'bench',
      key: `key:${j}`,
      value: VALUE,
      version: { time: now, counter: j, node: 'sender' },
      createdAt: now,
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    });
  }
  return changes;
}

const settle = () => (globalThis as { gc?: () => void }).gc?.();

/** A versioned put alone, into a cache nothing replicates: what the sender would pay anyway. */
async function localPuts(stages: Stages): Promise<void> {
  const clock = new HybridLogicalClock({ node: 'alone' });
  const manager = new CacheManager({ versionClock: () => clock.now() });
  const cache = manager.addCache<string>('bench', { maxElementsInMemory: 0 });
  settle();
  for (let from = 0; from < CHANGES; from += BATCH) {
    stages.time(LOCAL_PUT, () => {
      for (let i = from; i < from + BATCH && i < CHANGES; i++) cache.put(`key:${i}`, VALUE);
    });
  }
  await manager.shutdown();
}

/** The sender's stages, a batch at a time as the queue flushes; returns the sealed frames. */
async function sender(stages: Stages): Promise<Buffer[]> {
  const { manager, cache, replicator, sent } = replicatedSender();
  const encoder = new WireCodec();
  const sealing = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
  const frames: Buffer[] = [];
  settle();
  for (let from = 0; from < CHANGES; from += BATCH) {
    stages.time(REPLICATED_PUT, () => {
      for (let i = from; i < from + BATCH && i < CHANGES; i++) cache.put(`key:${i}`, VALUE);
    });
    stages.time(FLUSH, () => replicator.flush());
    for (const batch of sent()) {
      const frame = stages.time(ENCODE, () => encoder.encode(batch));
      frames.push(stages.time(SEAL, () => sealing.seal(frame)));
    }
  }
  replicator.close();
  await manager.shutdown();
  return frames;
}

/** The receiver's stages, frame by frame: each is opened, decoded and applied, then dropped. */
async function receiver(stages: Stages, frames: readonly Buffer[]): Promise<void> {
  const { manager, cache, replicator } = replicatedCache('receiver');
  const opening = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
  const guard = new MsgpackGuard();
  const unpackr = new Unpackr({ moreTypes: true, useRecords: true, mapsAsObjects: false, sequential: true });
  const decoder = new WireCodec();
  settle();
  for (const sealed of frames) {
    const opened = stages.time(OPEN, () => opening.open(sealed));
    stages.time(GUARD, () => guard.check(opened));
    stages.time(UNPACK, () => unpackr.unpack(opened));
    const message = stages.time(DECODE, () => decoder.decode(opened));
    if (message.type !== MessageType.Batch) throw new Error(`expected a batch, got message type ${message.type}`);
    stages.time(APPLY, () => {
      // As a peer link applies a batch: in runs, each run's keys read ahead first.
      const changes = message.changes;
      for (let i = 0; i < changes.length; ) i = replicator.applyRun(changes, i, 'sender');
    });
  }
  if (cache.size !== CHANGES) throw new Error(`the receiver holds ${cache.size} of ${CHANGES}`);
  replicator.close();
  await manager.shutdown();
}

/** The bare pipeline: [key, value] pairs packed, unpacked and set into an lru-cache. */
function bare(stages: Stages): void {
  const packr = new Packr({ useRecords: true, sequential: true });
  const unpackr = new Unpackr({ useRecords: true, sequential: true, copyBuffers: true });
  const frames: Buffer[] = [];
  settle();
  for (let from = 0; from < CHANGES; from += BATCH) {
    frames.push(
      stages.time(BARE_ENCODE, () => {
        const batch: Array<[string, string]> = [];
        for (let i = from; i < from + BATCH && i < CHANGES; i++) batch.push([`key:${i}`, VALUE]);
        return Buffer.from(packr.pack(batch));
      }),
    );
  }
  const lru = new LRUCache<string, string>({ max: CHANGES + 1 });
  settle();
  for (const frame of frames) {
    stages.time(BARE_DECODE, () => {
      for (const [key, value] of unpackr.unpack(frame) as Array<[string, string]>) lru.set(key, value);
    });
  }
  if (lru.size !== CHANGES) throw new Error(`the bare receiver holds ${lru.size} of ${CHANGES}`);
}

/**
 * One round: each side in turn, with only its own cache alive, as in two processes; the
 * changes go a batch at a time (a batch is encoded, sealed, opened, decoded and applied, then
 * dropped), each stage timed on its own. Returns µs per change by stage.
 */
async function round(): Promise<Map<string, number>> {
  const stages = new Stages();
  await localPuts(stages);
  const frames = await sender(stages);
  await receiver(stages, frames);
  bare(stages);
  const perChange = new Map<string, number>();
  for (const [stage, ms] of stages.ms) perChange.set(stage, (ms / CHANGES) * 1000);
  return perChange;
}

const LOCAL_PUT = 'put, versioned, not replicated (for comparison)';
const REPLICATED_PUT = 'put, replicated: digest kept, change queued';
const FLUSH = 'flush: queue drained into batches, each frame written from the log';
const ENCODE = 'encode (WireCodec: the frame the flush wrote, answered)';
const SEAL = 'seal (AES-256-GCM)';
const OPEN = 'open (AES-256-GCM)';
const DECODE = 'decode (WireCodec: these frames take ChangeReader, one pass)';
// The full path's steps, timed on the same frames, their results dropped (in the decode above,
// what is kept also costs the collector): what a frame of other values costs.
const GUARD = "  for comparison: the full path's guard walk";
const UNPACK = "  for comparison: the full path's msgpackr";
const APPLY = 'apply: HLC, version checks, versioned write, digest';
const BARE_ENCODE = 'bare pipeline: msgpack encode of [key, value] pairs';
const BARE_DECODE = 'bare pipeline: msgpack decode, lru-cache set';
const SENDER = [REPLICATED_PUT, FLUSH, ENCODE, SEAL];
const RECEIVER = [OPEN, DECODE, APPLY];
const ORDER = [LOCAL_PUT, ...SENDER, OPEN, DECODE, GUARD, UNPACK, APPLY, BARE_ENCODE, BARE_DECODE];

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
