/**
 * Replication, measured between two processes on this machine, next to the limits the issue
 * names, in one run:
 *
 * 1. Throughput: replicated puts per second from node A (this process) to node B (a child),
 *    200-byte values, asynchronous mode, 10 ms interval, timed from the first put until B holds
 *    every entry; next to the bare pipeline (the same pairs msgpack-encoded in batches of 1,000,
 *    sent over a bare ws connection, decoded and stored into an lru-cache on the other side) and
 *    the bare transport (the bytes meshcache's codec makes of the same changes, over ws and over
 *    a plain TCP socket, only counted on the other side). Median of BENCH_ROUNDS rounds,
 *    interleaved. Beside each pipeline, the CPU time each process spent a change (all its
 *    threads, the collector's helpers too): on this machine's two cores, the sum of both sides
 *    bounds the rate as much as the busier side does.
 * 2. Lag: p50/p99/max from put on A to put event on B at a steady 10,000 puts/s, interval 10 ms;
 *    BENCH_LAG_RUNS runs (default 5) each with frames encrypted and not, and encrypted with both
 *    processes started with a small young generation (TUNED_GC), taking turns.
 * 3. Bootstrap: a new node joining a node that holds 1,000,000 entries, start() to ready(), next
 *    to the raw transfer of the same bytes over ws.
 * 4. Stages: where a change's time goes, stage by stage, in one process (replication-stages.ts);
 *    and what each side allocates a change (replication-alloc.ts).
 * 5. Lookups: what reading a run of a peer's keys ahead saves a receiver (replication-lookups.ts).
 *    Digest: what a replicated cache's repair digest costs its writes and a listing's steps (replication-digest.ts).
 * 6. Rounds: what anti-entropy costs two full bounded caches that hold different keys, with
 *    links of protocol 4 and of this release (replication-rounds.ts).
 *
 * Run: npx --yes pnpm@10.34.8 run bench:replication  (BENCH_ENTRIES, BENCH_ROUNDS, BENCH_BOOTSTRAP_ENTRIES, BENCH_BOOTSTRAP_ROUNDS,
 * BENCH_LAG_RUNS, BENCH_LONE_CHANGES, BENCH_ONLY=throughput|lag|lone|bootstrap|stages|alloc|lookups|digest|rounds|fanout)
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type ClusterConfig, ClusterNode } from '@meshcache/replication';
import { CacheReplicator, MessageType, WireCodec } from '@meshcache/replication/internals';
import { Packr } from 'msgpackr';
import { WebSocket } from 'ws';
import { formatOps, table } from './harness.js';
import { knob, readOnlyPart, readWhole } from './knobs.js';
import { replicationAlloc } from './replication-alloc.js';
import { replicationDigest } from './replication-digest.js';
import { replicationFanout } from './replication-fanout.js';
import { replicationLookups } from './replication-lookups.js';
import { replicationRounds } from './replication-rounds.js';
import { putChanges, replicationStages } from './replication-stages.js';

const ENTRIES = knob((env) => readWhole(env, 'BENCH_ENTRIES', 200_000));
const ROUNDS = knob((env) => readWhole(env, 'BENCH_ROUNDS', 3));
/**
 * Throughput: entries each pipeline carries before the timed ones, untimed, on the same link
 * (BENCH_WARM_UP; 0 times a cold start). A gateway replicates for days: what it pays is the
 * steady state of warm code on both sides, not the JIT's first compilations of a fresh process.
 */
const WARM_UP = knob((env) => readWhole(env, 'BENCH_WARM_UP', 50_000, 0));
/** BENCH_FRESH_PIPELINES=1: a new sender node and receiver each throughput round (see Pipeline). */
const FRESH_PIPELINES = process.env['BENCH_FRESH_PIPELINES'] === '1';
const BOOTSTRAP_ENTRIES = knob((env) => readWhole(env, 'BENCH_BOOTSTRAP_ENTRIES', 1_000_000));
const BOOTSTRAP_ROUNDS = knob((env) => readWhole(env, 'BENCH_BOOTSTRAP_ROUNDS', 3));
/** BENCH_ONLY: one part of the bench; lag-once is the tuned lag row's child (see tunedLagRun). */
const ONLY = knob((env) =>
  readOnlyPart(env, 'BENCH_ONLY', [
    'throughput',
    'lag',
    'lone',
    'bootstrap',
    'stages',
    'alloc',
    'lookups',
    'digest',
    'rounds',
    'fanout',
    'lag-once',
  ]),
);
/**
 * V8 flags for a child node, and what this process was started with: the tuned lag row runs its
 * sender in a child process of its own with these flags (a process's heap is sized at its start).
 */
const CHILD_FLAGS = (process.env['BENCH_CHILD_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '');
/**
 * The lag row's garbage-collector tuning (docs/replication.md, "Latency and the garbage
 * collector"): a 2 MB young generation, where V8 grows it to 16 MB for a cache that keeps what
 * it is sent. Each scavenge then copies less, so it pauses for less.
 */
const TUNED_GC = ['--max-semi-space-size=2'];
const SELF = fileURLToPath(import.meta.url);
const PEER = fileURLToPath(new URL('./replication-peer.js', import.meta.url));
const VALUE = 'x'.repeat(200);
const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

/** A receiver in a process of its own: its URL (if it prints one), and its lines. */
interface Receiver {
  readonly url: string;
  /** Its next line that starts with `prefix` (lines are kept until asked for); rejects if it exits failing. */
  next(prefix: string): Promise<string>;
  /** Stops the process (by its pid), if it has not exited. */
  stop(): void;
}

/**
 * Starts a receiver; resolves once it says its URL (if it prints one). A node child decodes a
 * peer's values by their first read, unless `decodeOnArrival`.
 */
async function child(args: string[], printsUrl = true, protect = true, decodeOnArrival = false): Promise<Receiver> {
  const profile = process.env['BENCH_PROFILE'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
  const process_ = spawn(process.execPath, [...CHILD_FLAGS, ...profile, PEER, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      BENCH_PLAIN_FRAMES: protect ? '0' : '1',
      BENCH_DECODE_ON_ARRIVAL: decodeOnArrival ? '1' : '0',
    },
  });
  const unread: string[] = [];
  const waiting: Array<{ prefix: string; resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  createInterface({ input: process_.stdout }).on('line', (line) => {
    const at = waiting.findIndex(({ prefix }) => line.startsWith(prefix));
    if (at < 0) unread.push(line);
    else waiting.splice(at, 1)[0]?.resolve(line);
  });
  let failed: Error | undefined;
  process_.once('exit', (code, signal) => {
    if (code === 0 || signal === 'SIGTERM') return;
    failed = new Error(`receiver ${args[0]} exited with ${code ?? signal}`);
    for (const waiter of waiting.splice(0)) waiter.reject(failed);
  });
  const next = (prefix: string) => {
    const at = unread.findIndex((line) => line.startsWith(prefix));
    if (at >= 0) return Promise.resolve(unread.splice(at, 1)[0] as string);
    if (failed !== undefined) return Promise.reject(failed);
    return new Promise<string>((resolve, reject) => waiting.push({ prefix, resolve, reject }));
  };
  const url = printsUrl ? (await next('url ')).slice(4) : '';
  return {
    url,
    next,
    stop: () => {
      if (process_.exitCode === null && process_.signalCode === null) process_.kill();
    },
  };
}
const doneMs = async (receiver: Receiver) => Number((await receiver.next('done ')).split(' ')[1]);

/**
 * A throughput run: its time, the CPU each side spent a change (µs, every thread of the process),
 * and the ms the receiver then took to read every entry once (meshcache's receiver decodes a
 * peer's values by their first read; 0 where the child does not say).
 */
interface Run {
  readonly ms: number;
  readonly senderCpu: number;
  readonly receiverCpu: number;
  /** Of receiverCpu, what the receiver spent in the kernel (making room for what it keeps, above all). */
  readonly receiverSystemCpu: number;
  readonly readMs: number;
}

/**
 * A pipeline that carries round after round over one link, with the same sender and receiver:
 * what a gateway replicating for days pays. Made and dropped each round, the sender's cache cost
 * 0.4-0.5 µs a change more in this process (bench/README.md: the engine's optimised code is
 * thrown away with each cache dropped).
 */
interface Pipeline {
  /** One timed run of ENTRIES, the first preceded by the warm-up; both sides are emptied after each. */
  run(): Promise<Run>;
  close(): Promise<void>;
}

/**
 * The rounds of a pipeline whose receiver is `receiver`: the first sends WARM_UP entries (keys
 * `warm:N`) and waits for the child to hold them, untimed. Then each times sending `entries` more
 * (keys `key:N`) until the child's `done` line, with the CPU of this process (the sender) and of
 * the child; with `reads`, waits for the child's `read` line; and has `clear` empty both sides,
 * waiting for the child's `cleared`, so that a pipeline waiting for its next round holds nothing
 * (the other rows' runs in this process do not pay for its entries in the collector's time).
 */
function rounds(
  receiver: Receiver,
  entries: number,
  send: (prefix: string, count: number) => Promise<void>,
  clear: () => void,
  reads: boolean,
  close: () => Promise<void>,
): Pipeline {
  let first = true;
  return {
    async run() {
      if (first && WARM_UP > 0) {
        await send('warm', WARM_UP);
        await receiver.next('warm');
      }
      first = false;
      // Each run starts from a collected heap: none pays for the garbage of the one before it
      // (the emptied caches of another row, above all).
      settleHeap();
      const start = performance.now();
      const cpu = process.cpuUsage();
      await send('key', entries);
      const [, receiverMs, receiverCpu, receiverSystem] = (await receiver.next('done ')).split(' ');
      const used = process.cpuUsage(cpu);
      const ms = Math.max(performance.now() - start, Number(receiverMs));
      const read = reads ? Number((await receiver.next('read ')).split(' ')[1]) : 0;
      clear();
      await receiver.next('cleared');
      return {
        ms,
        senderCpu: (used.user + used.system) / entries,
        receiverCpu: Number(receiverCpu) / entries,
        receiverSystemCpu: Number(receiverSystem) / entries,
        readMs: read,
      };
    },
    close,
  };
}

async function sender(peers: string[], caches: ClusterConfig['caches'], protect = true): Promise<ClusterNode> {
  const node = await ClusterNode.start(
    {
      name: 'sender',
      cluster: 'bench',
      secret: 'bench',
      peerListener: { socketTimeoutMillis: 5000 },
      peerDiscovery: { mode: 'manual', peers },
      caches,
    },
    protect ? {} : { protectFrames: false },
  );
  await node.ready();
  return node;
}

// ------------------------------------------------------------------ 1. throughput

/** A meshcache row's pipeline: `protect` frames or not; the receiver decodes values on arrival or by their first read. */
async function replicated(protect: boolean, decodeOnArrival = false): Promise<Pipeline> {
  const receiver = await child(['node', String(ENTRIES), String(WARM_UP)], true, protect, decodeOnArrival);
  const node = await sender(
    [receiver.url],
    { bench: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } } },
    protect,
  );
  const cache = node.manager.getCache<string>('bench');
  const puts = async (prefix: string, count: number) => {
    for (let i = 0; i < count; i++) {
      cache?.put(`${prefix}:${i}`, VALUE);
      if (i % 10_000 === 9_999) await yieldNow();
    }
  };
  return rounds(
    receiver,
    ENTRIES,
    puts,
    () => cache?.removeAll(),
    true,
    async () => {
      await node.stop();
      receiver.stop();
    },
  );
}

/**
 * The bare pipeline: `entries` [key, value] pairs msgpack-encoded `perFrame` to a frame, sent over
 * a bare ws connection to a child that decodes them into an lru-cache; ms from the first frame
 * until the child holds them all. The sender yields to I/O after a frame when `pause` says so.
 */
async function barePairs(
  entries: number,
  perFrame: number,
  pause: (frame: number, socket: WebSocket) => boolean,
): Promise<Pipeline> {
  const receiver = await child(['bare', String(entries), String(WARM_UP)]);
  const socket = new WebSocket(receiver.url, { perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise((resolve) => socket.once('open', resolve));
  const packr = new Packr({ useRecords: true, sequential: true });
  const send = async (prefix: string, count: number) => {
    for (let i = 0, frame = 0; i < count; i += perFrame, frame++) {
      const pairs: Array<[string, string]> = [];
      for (let j = i; j < Math.min(i + perFrame, count); j++) pairs.push([`${prefix}:${j}`, VALUE]);
      socket.send(packr.pack(pairs));
      if (pause(frame, socket)) await yieldNow();
    }
  };
  return rounds(
    receiver,
    entries,
    send,
    () => socket.send(packr.pack('clear')),
    false,
    async () => {
      socket.close();
      receiver.stop();
    },
  );
}

/** Batches of 1,000, as meshcache's queue flushes them; a turn of I/O every ten. */
const barePipeline = () => barePairs(ENTRIES, 1000, (frame) => frame % 10 === 9);

/** The frames meshcache's codec makes of the benchmark's changes, in batches of 1,000. */
function meshcacheFrames(): Buffer[] {
  const codec = new WireCodec();
  const frames: Buffer[] = [];
  const now = Date.now();
  for (let i = 0; i < ENTRIES; i += 1000) {
    const changes = putChanges(i, Math.min(i + 1000, ENTRIES), now);
    frames.push(codec.encode({ type: MessageType.Batch, changes }));
  }
  return frames;
}

async function bareTransport(kind: 'ws' | 'tcp', frames: Buffer[]): Promise<number> {
  const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
  const receiver = await child([`bytes-${kind}`, String(bytes)]);
  const start = performance.now();
  if (kind === 'ws') {
    const socket = new WebSocket(receiver.url, { perMessageDeflate: false });
    await new Promise((resolve) => socket.once('open', resolve));
    const begun = performance.now();
    for (const [i, frame] of frames.entries()) {
      socket.send(frame);
      if (i % 10 === 9) await yieldNow();
    }
    const ms = await doneMs(receiver);
    socket.close();
    return Math.max(ms, performance.now() - begun);
  }
  const { port } = new URL(receiver.url.replace('tcp:', 'http:'));
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const [i, frame] of frames.entries()) {
    socket.write(frame);
    if (i % 10 === 9) await yieldNow();
  }
  const ms = await doneMs(receiver);
  socket.destroy();
  return Math.max(ms, performance.now() - start);
}

/** A full collection between runs where the process allows it (node --expose-gc), so no run pays for another's garbage. */
function settleHeap(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** What B's first read of every entry costs, values deferred and decoded on arrival: medians of the runs. */
function firstReads(deferred: number[], onArrival: number[], entries: number): string {
  const [a, b] = [median(deferred), median(onArrival)];
  const each = (ms: number) => `${ms.toFixed(0)} ms (${((ms / entries) * 1000).toFixed(2)} µs an entry)`;
  return `Then every entry read once on the receiver: ${each(a)} where its values were deferred, ${each(b)} where they were decoded on arrival: the first reads pay ${(a - b).toFixed(0)} ms more, the decoding moved from arrival to the first read`;
}

async function throughput(): Promise<void> {
  const frames = meshcacheFrames();
  const runs = { mesh: [] as Run[], plain: [] as Run[], eager: [] as Run[], bare: [] as Run[] };
  const transports = { ws: [] as number[], tcp: [] as number[] };
  // Each pipeline is kept for every round (see Pipeline), unless BENCH_FRESH_PIPELINES=1: then a
  // new one each round, sender node and receiver made and dropped, as the bench had it up to 2026-12-01.
  const made = new Map<string, Pipeline>();
  const runOf = async (row: keyof typeof runs, make: () => Promise<Pipeline>) => {
    const pipeline = made.get(row) ?? (await make());
    runs[row].push(await pipeline.run());
    if (FRESH_PIPELINES) await pipeline.close();
    else made.set(row, pipeline);
  };
  const variants = [
    () => runOf('mesh', () => replicated(true)),
    () => runOf('plain', () => replicated(false)),
    () => runOf('eager', () => replicated(true, true)),
  ];
  for (let round = 0; round < ROUNDS; round++) {
    await runOf('bare', barePipeline);
    // The meshcache rows take turns at going first: the one that follows another run inherits
    // its garbage, which alone moved the difference between two of them by 15 points (each run
    // now starts from a collected heap as well).
    for (let i = 0; i < variants.length; i++) await (variants[(round + i) % variants.length] as () => Promise<void>)();
    transports.ws.push(await bareTransport('ws', frames));
    transports.tcp.push(await bareTransport('tcp', frames));
  }
  for (const pipeline of made.values()) await pipeline.close();
  const [mesh, plain, eager, bare, ws, tcp] = [
    median(runs.mesh.map((run) => run.ms)),
    median(runs.plain.map((run) => run.ms)),
    median(runs.eager.map((run) => run.ms)),
    median(runs.bare.map((run) => run.ms)),
    median(transports.ws),
    median(transports.tcp),
  ];
  const rate = (ms: number) => formatOps((ENTRIES / ms) * 1000);
  // The CPU each side spent a change (every thread of its process), medians of the rounds: on a
  // machine of two cores, what the two sides spend together bounds the rate as much as either.
  const cpu = (of: Run[]) => {
    const [a, b] = [median(of.map((run) => run.senderCpu)), median(of.map((run) => run.receiverCpu))];
    return [`${a.toFixed(2)} µs`, `${b.toFixed(2)} µs`, `${(a + b).toFixed(2)} µs`];
  };
  const mb = frames.reduce((sum, frame) => sum + frame.length, 0) / 1e6;
  console.log(
    `\n${ENTRIES.toLocaleString()} entries of 200 bytes (${mb.toFixed(1)} MB on the wire), A in this process, B in a child; ${FRESH_PIPELINES ? 'a new pipeline (sender node and receiver) each round' : 'each pipeline kept for every round, emptied between them (removeAll)'}; ${WARM_UP > 0 ? `each warmed up by ${WARM_UP.toLocaleString()} entries first, untimed` : 'each from a cold start'}; median of ${ROUNDS} rounds\n`,
  );
  console.log(`encryption costs ${((1 - plain / mesh) * 100).toFixed(1)}% of the unencrypted throughput\n`);
  console.log(
    table(
      ['pipeline', 'entries/s', 'vs bare pipeline', 'CPU a change: A', 'B', 'A + B'],
      [
        [
          'meshcache replication (async, 10 ms), frames encrypted',
          rate(mesh),
          `${(bare / mesh).toFixed(2)}x`,
          ...cpu(runs.mesh),
        ],
        [
          'meshcache replication, frames not encrypted (protectFrames: false)',
          rate(plain),
          `${(bare / plain).toFixed(2)}x`,
          ...cpu(runs.plain),
        ],
        [
          'meshcache replication, encrypted, values decoded on arrival (deferValues: false)',
          rate(eager),
          `${(bare / eager).toFixed(2)}x`,
          ...cpu(runs.eager),
        ],
        ['bare pipeline (msgpack batches over ws into lru-cache)', rate(bare), '1.00x', ...cpu(runs.bare)],
        ['bare transport: the same bytes over ws', rate(ws), `${(bare / ws).toFixed(2)}x`, '', '', ''],
        ['bare transport: the same bytes over TCP', rate(tcp), `${(bare / tcp).toFixed(2)}x`, '', '', ''],
      ],
    ),
  );
  // What the first row leaves for later: B holds a peer's values undecoded until their first read.
  console.log(
    `\n${firstReads(
      runs.mesh.map((run) => run.readMs),
      runs.eager.map((run) => run.readMs),
      ENTRIES + WARM_UP,
    )}`,
  );
}

// ------------------------------------------------------------------ 2. lag

const LAG_RATE = 10_000;
const LAG_SECONDS = 3;
const LAG_RUNS = knob((env) => readWhole(env, 'BENCH_LAG_RUNS', 5));

/** A lag run's p50, p99 and max (ms), and the p99 of the sender's share of it (LagShare). */
type LagSample = [p50: string, p99: string, max: string, senderP99: string];

/**
 * The sender's share of a change's lag: from its put to the end of the flush that wrote its batch
 * to the socket (the interval's wait, the beat's lateness, encoding and sealing). The rest of the
 * lag is the socket, the receiver's decoding and applying, and either side's collection pauses.
 * Read by wrapping the replicator's flush, in this process only (the sender's).
 */
class LagShare {
  readonly #flushedAt: number[] = [];
  readonly #original = CacheReplicator.prototype.flush;

  constructor() {
    const flushedAt = this.#flushedAt;
    const original = this.#original;
    CacheReplicator.prototype.flush = function (this: CacheReplicator) {
      original.call(this);
      flushedAt.push(performance.now());
    };
  }

  /** p99 (ms) over the puts made at `putAt` (performance.now()); restores the replicator. */
  p99(putAt: readonly number[]): string {
    CacheReplicator.prototype.flush = this.#original;
    const waits: number[] = [];
    let next = 0;
    for (const at of putAt) {
      while (next < this.#flushedAt.length && (this.#flushedAt[next] as number) < at) next++;
      if (next < this.#flushedAt.length) waits.push((this.#flushedAt[next] as number) - at);
    }
    waits.sort((a, b) => a - b);
    return (waits[Math.min(waits.length - 1, Math.floor(0.99 * waits.length))] ?? 0).toFixed(2);
  }
}

/** One lag run at a steady LAG_RATE puts/s, frames encrypted or not. */
async function lagRun(protect: boolean): Promise<LagSample> {
  const rate = LAG_RATE;
  const seconds = LAG_SECONDS;
  const warmUp = rate; // one second, not counted
  const total = rate * seconds + warmUp;
  const receiver = await child(['lag', String(rate * seconds), String(warmUp)], true, protect);
  const node = await sender(
    [receiver.url],
    { bench: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } } },
    protect,
  );
  const cache = node.manager.getCache<{ sentAt: number; body: string }>('bench');
  const share = new LagShare();
  const putAt: number[] = [];
  const start = performance.now();
  let sent = 0;
  // Steady: after t ms, t * 10 puts have been made, in small steps (no burst per interval).
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
    for (; sent < due; sent++) {
      const at = performance.now();
      if (sent >= warmUp) putAt.push(at);
      cache?.put(`key:${sent}`, { sentAt: performance.timeOrigin + at, body: VALUE });
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const [, p50, p99, max] = (await receiver.next('lag ')).split(' ');
  const senderP99 = share.p99(putAt);
  await node.stop();
  return [p50 ?? '', p99 ?? '', max ?? '', senderP99];
}

/** One encrypted lag run in a process of its own, both processes started with TUNED_GC. */
async function tunedLagRun(): Promise<LagSample> {
  const run = spawn(process.execPath, [...TUNED_GC, '--expose-gc', SELF], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_ONLY: 'lag-once', BENCH_CHILD_FLAGS: TUNED_GC.join(' ') },
  });
  let output = '';
  run.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => run.once('exit', resolve));
  const line = output.split('\n').find((text) => text.startsWith('lag-once '));
  if (code !== 0 || line === undefined) throw new Error(`tuned lag run exited with ${code}: ${output}`);
  const [, p50, p99, max, senderP99] = line.split(' ');
  return [p50 ?? '', p99 ?? '', max ?? '', senderP99 ?? ''];
}

/**
 * Lone changes: a put every 1.1 to 1.4 s (random), at the default interval of 1,000 ms, each
 * made when no batch left in the last interval (a revocation on a quiet gateway); p50 and max lag
 * over LONE_CHANGES of them, after two not counted. Each goes at once (cache-replicator.ts,
 * #armFlush), where a beat kept running had it wait for its turn: half an interval on average.
 */
const LONE_CHANGES = knob((env) => readWhole(env, 'BENCH_LONE_CHANGES', 10));

async function loneLag(): Promise<void> {
  const warmUp = 2;
  const receiver = await child(['lag', String(LONE_CHANGES), String(warmUp)], true, true);
  const node = await sender([receiver.url], { bench: { maxElementsInMemory: 0, replication: {} } }, true);
  const cache = node.manager.getCache<{ sentAt: number; body: string }>('bench');
  for (let sent = 0; sent < LONE_CHANGES + warmUp; sent++) {
    await new Promise((resolve) => setTimeout(resolve, 1100 + Math.random() * 300));
    cache?.put(`token:${sent}`, { sentAt: performance.timeOrigin + performance.now(), body: VALUE });
  }
  const [, p50, , max] = (await receiver.next('lag ')).split(' ');
  await node.stop();
  console.log(
    `\nLone changes: a put every 1.1-1.4 s, asynchronous at the default interval (1,000 ms), frames encrypted; ${LONE_CHANGES} puts\n`,
  );
  console.log(
    table(
      [
        'lag, put on A to put event on B',
        'p50',
        'max',
        'a beat kept running (Ehcache, and meshcache before 2026-12-02)',
      ],
      [
        [
          'meshcache, a change after a quiet interval',
          `${p50} ms`,
          `${max} ms`,
          'about 500 ms on average, up to 1,000',
        ],
      ],
    ),
  );
}

async function lag(): Promise<void> {
  // Five runs of each, taking turns (issue 20's target is the median of five, none past +5 ms).
  const runs = {
    encrypted: [] as LagSample[],
    plain: [] as LagSample[],
    tuned: [] as LagSample[],
  };
  for (let run = 0; run < LAG_RUNS; run++) {
    const order = [
      ['encrypted', 'plain', 'tuned'],
      ['plain', 'tuned', 'encrypted'],
      ['tuned', 'encrypted', 'plain'],
    ][run % 3] as Array<keyof typeof runs>;
    for (const kind of order) {
      settleHeap();
      runs[kind].push(kind === 'tuned' ? await tunedLagRun() : await lagRun(kind === 'encrypted'));
    }
  }
  console.log(
    `\nReplication lag at a steady ${LAG_RATE.toLocaleString()} puts/s for ${LAG_SECONDS} s (after 1 s of warm-up), async, interval 10 ms; ${LAG_RUNS} runs each\n`,
  );
  const row = (name: string, samples: LagSample[], target: string) => {
    const p99s = samples.map(([, p99]) => Number(p99));
    return [
      name,
      `${median(samples.map(([p50]) => Number(p50))).toFixed(2)} ms`,
      `${median(p99s).toFixed(2)} ms`,
      `${Math.max(...p99s).toFixed(2)} ms`,
      samples.map(([, p99]) => p99).join(', '),
      `${Math.max(...samples.map(([, , max]) => Number(max))).toFixed(2)} ms`,
      `${median(samples.map(([, , , senderP99]) => Number(senderP99))).toFixed(2)} ms`,
      target,
    ];
  };
  console.log(
    table(
      [
        'lag, put on A to put event on B',
        'p50 (median)',
        'p99 (median)',
        'p99 (worst run)',
        'p99 of each run (ms)',
        'max',
        "the sender's share: p99 of put to its batch written (median)",
        'target',
      ],
      [
        row('meshcache, frames encrypted', runs.encrypted, 'p99 median <= 12 ms, every run <= 15 ms'),
        row('meshcache, frames not encrypted', runs.plain, ''),
        row(`meshcache, frames encrypted, both processes ${TUNED_GC.join(' ')}`, runs.tuned, ''),
      ],
    ),
  );
}

// ------------------------------------------------------------------ 3. bootstrap

/**
 * What any JavaScript store pays to take the same entries: [key, value] pairs in frames of about a
 * megabyte (as a repair sends them; 4,000 pairs of 200-byte values), with no encryption, versions
 * or checks; the sender yields while more than 8 MiB wait on its socket.
 */
async function bareBootstrap(): Promise<Run> {
  const pipeline = await barePairs(BOOTSTRAP_ENTRIES, 4000, (_frame, socket) => socket.bufferedAmount > 8 << 20);
  try {
    return await pipeline.run();
  } finally {
    await pipeline.close();
  }
}

/**
 * BENCH_BOOTSTRAP_PLAIN=1: the second meshcache row is a joiner that defers values, as the first,
 * with frames not encrypted (protectFrames: false, both sides), instead of the one decoding on
 * arrival: what encryption costs the bootstrap.
 */
const BOOTSTRAP_PLAIN = process.env['BENCH_BOOTSTRAP_PLAIN'] === '1';

/**
 * One meshcache bootstrap: a sender filled with BOOTSTRAP_ENTRIES, a new node joining it (decoding
 * the values as they arrive, or by their first read; frames encrypted unless `plain`).
 */
async function meshcacheBootstrap(decodeOnArrival = false, plain = false): Promise<MeshBootstrap> {
  const chunkBytes = knob((env) => readWhole(env, 'BENCH_CHUNK_BYTES', 0, 0));
  const node = await sender(
    [],
    {
      bench: {
        maxElementsInMemory: 0,
        replication: { asynchronousReplicationIntervalMillis: 10 },
        ...(chunkBytes > 0 ? { bootstrap: { maximumChunkSizeBytes: chunkBytes } } : {}),
      },
    },
    !plain,
  );
  const cache = node.manager.getCache<string>('bench');
  for (let i = 0; i < BOOTSTRAP_ENTRIES; i++) cache?.put(`key:${i}`, VALUE);
  settleHeap();
  // This process only serves the joiner meanwhile (its reads after ready() cost it nothing).
  const serving = process.cpuUsage();
  const joiner = await child(['bootstrap', node.url, String(BOOTSTRAP_ENTRIES)], false, !plain, decodeOnArrival);
  const [, joinMs, count, readMs, stallMs, stallP99, user, system] = (await joiner.next('bootstrap ')).split(' ');
  const served = process.cpuUsage(serving);
  await node.stop();
  const held = Number(count);
  return {
    ms: Number(joinMs),
    held,
    senderCpu: (served.user + served.system) / BOOTSTRAP_ENTRIES,
    readMs: Number(readMs),
    stallMs: Number(stallMs),
    stallP99: Number(stallP99),
    cpu: (Number(user) + Number(system)) / held,
    systemCpu: Number(system) / held,
  };
}

interface MeshBootstrap {
  readonly ms: number;
  readonly held: number;
  /** ms taken then to read every entry once. */
  readonly readMs: number;
  /** The joiner's event loop meanwhile: its longest delay and the 99th percentile (ms). */
  readonly stallMs: number;
  readonly stallP99: number;
  /** CPU µs the joiner spent an entry from start() to ready(), and of those in the kernel. */
  readonly cpu: number;
  readonly systemCpu: number;
  /** CPU µs the node it joined spent an entry serving it. */
  readonly senderCpu: number;
}

/** The raw transfer of `frames` over a bare ws connection to a child that only counts bytes; ms. */
async function rawTransfer(frames: readonly Buffer[], bytes: number): Promise<number> {
  const receiver = await child(['bytes-ws', String(bytes)]);
  const socket = new WebSocket(receiver.url, { perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise((resolve) => socket.once('open', resolve));
  const start = performance.now();
  for (const frame of frames) socket.send(frame);
  const ms = Math.max(await doneMs(receiver), performance.now() - start);
  socket.close();
  return ms;
}

/**
 * The four rows in BENCH_BOOTSTRAP_ROUNDS interleaved rounds (meshcache, meshcache decoding on
 * arrival, raw transfer, bare pipeline; each row at another place in each round, a full
 * collection before each; the sender's 1M entries are dropped before the next row runs), medians
 * reported: one run of each put the ratio anywhere from 3.8x to 4.9x, mostly through the raw
 * transfer row alone (410-640 ms from run to run), as the throughput rows did before they took
 * medians.
 */
async function bootstrap(): Promise<void> {
  // The raw transfer's bytes: what the entries weigh in meshcache's frames.
  const frames: Buffer[] = [];
  const codec = new WireCodec();
  const now = Date.now();
  for (let i = 0; i < BOOTSTRAP_ENTRIES; i += 20_000) {
    const changes = putChanges(i, Math.min(i + 20_000, BOOTSTRAP_ENTRIES), now);
    frames.push(codec.encode({ type: MessageType.Entries, changes }));
  }
  const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
  const runs = {
    mesh: [] as number[],
    raw: [] as number[],
    bare: [] as number[],
    ratio: [] as number[],
    read: [] as number[],
    eager: [] as number[],
    eagerRead: [] as number[],
    stall: [] as number[],
    stallP99: [] as number[],
    cpu: { mesh: [] as number[], eager: [] as number[], bare: [] as number[] },
    senderCpu: { mesh: [] as number[], eager: [] as number[], bare: [] as number[] },
    systemCpu: { mesh: [] as number[], eager: [] as number[], bare: [] as number[] },
  };
  let held = 0;
  // The four rows take turns at each place in a round. A process that took its memory right after
  // another had let go of hundreds of MB spent a quarter to a half less kernel time on its pages
  // (the pages a guest used lately are cheaper to take again): in a fixed order, the joiner that
  // ran second was the faster of meshcache's two whichever it was (bench/README.md, 2026-12-03).
  const rows: Array<() => Promise<void>> = [
    async () => {
      const mesh = await meshcacheBootstrap();
      runs.mesh.push(mesh.ms);
      runs.read.push(mesh.readMs);
      runs.stall.push(mesh.stallMs);
      runs.stallP99.push(mesh.stallP99);
      runs.cpu.mesh.push(mesh.cpu);
      runs.senderCpu.mesh.push(mesh.senderCpu);
      runs.systemCpu.mesh.push(mesh.systemCpu);
      held = mesh.held;
    },
    async () => {
      const eager = BOOTSTRAP_PLAIN ? await meshcacheBootstrap(false, true) : await meshcacheBootstrap(true);
      runs.eager.push(eager.ms);
      runs.eagerRead.push(eager.readMs);
      runs.cpu.eager.push(eager.cpu);
      runs.senderCpu.eager.push(eager.senderCpu);
      runs.systemCpu.eager.push(eager.systemCpu);
    },
    async () => {
      runs.raw.push(await rawTransfer(frames, bytes));
    },
    async () => {
      const bare = await bareBootstrap();
      runs.bare.push(bare.ms);
      runs.cpu.bare.push(bare.receiverCpu);
      runs.senderCpu.bare.push(bare.senderCpu);
      runs.systemCpu.bare.push(bare.receiverSystemCpu);
    },
  ];
  for (let round = 0; round < BOOTSTRAP_ROUNDS; round++) {
    for (let place = 0; place < rows.length; place++) {
      settleHeap();
      await (rows[(round + place) % rows.length] as () => Promise<void>)();
    }
    runs.ratio.push((runs.mesh[round] as number) / (runs.raw[round] as number));
  }
  // The receiver's CPU an entry, and of it the kernel's share: on a day when making room for what
  // a process keeps costs several times more (page faults), the kernel's share says so, and the
  // user share still compares the code.
  const cpu = (of: 'mesh' | 'eager' | 'bare') => {
    const [all, system] = [median(runs.cpu[of]), median(runs.systemCpu[of])];
    return `${all.toFixed(2)} µs (${(all - system).toFixed(2)} + ${system.toFixed(2)})`;
  };
  // Both sides share the machine's two cores: what the sender spends counts against the time too.
  const senderCpu = (of: 'mesh' | 'eager' | 'bare') => `${median(runs.senderCpu[of]).toFixed(2)} µs`;
  const [meshMs, rawMs, bareMs, eagerMs] = [median(runs.mesh), median(runs.raw), median(runs.bare), median(runs.eager)];
  const range = (values: number[]) => `${Math.min(...values).toFixed(2)}x-${Math.max(...values).toFixed(2)}x`;
  console.log(
    `\nBootstrap of a new node from one holding ${BOOTSTRAP_ENTRIES.toLocaleString()} entries of 200 bytes; median of ${BOOTSTRAP_ROUNDS} interleaved rounds\n`,
  );
  console.log(
    table(
      [
        'what',
        'time',
        'vs raw transfer',
        'each round, vs its raw transfer',
        "the receiver's CPU an entry (user + kernel)",
        "the sender's",
        'target',
      ],
      [
        [
          `meshcache: start() to ready(), ${held.toLocaleString()} entries held`,
          `${meshMs.toFixed(0)} ms`,
          `${(meshMs / rawMs).toFixed(2)}x`,
          range(runs.ratio),
          cpu('mesh'),
          senderCpu('mesh'),
          '<= 4x',
        ],
        [
          BOOTSTRAP_PLAIN
            ? 'meshcache, frames not encrypted (protectFrames: false)'
            : 'meshcache, the joiner decoding values on arrival (deferValues: false)',
          `${eagerMs.toFixed(0)} ms`,
          `${(eagerMs / rawMs).toFixed(2)}x`,
          range(runs.eager.map((ms, i) => ms / (runs.raw[i] as number))),
          cpu('eager'),
          senderCpu('eager'),
          '',
        ],
        [
          'bare pipeline: the same pairs msgpack-encoded over ws, decoded into an lru-cache',
          `${bareMs.toFixed(0)} ms`,
          `${(bareMs / rawMs).toFixed(2)}x`,
          range(runs.bare.map((ms, i) => ms / (runs.raw[i] as number))),
          cpu('bare'),
          senderCpu('bare'),
          '',
        ],
        [
          `raw transfer of the same ${(bytes / 1e6).toFixed(0)} MB over ws`,
          `${rawMs.toFixed(0)} ms`,
          '1.00x',
          '',
          '',
          '',
          '',
        ],
      ],
    ),
  );
  if (!BOOTSTRAP_PLAIN) console.log(`\n${firstReads(runs.read, runs.eagerRead, held)}`);
  console.log(
    `\nThe joiner's event loop meanwhile (what a gateway's requests would wait for): its longest delay ${median(runs.stall).toFixed(1)} ms, its 99th percentile ${median(runs.stallP99).toFixed(1)} ms (medians of the rounds)`,
  );
}

if (ONLY === 'lag-once') {
  // tunedLagRun's child: one encrypted run, its line for the parent, nothing else.
  console.log(`lag-once ${(await lagRun(true)).join(' ')}`);
  process.exit(0);
}
console.log(`node ${process.version}`);
if (ONLY === undefined || ONLY === 'throughput') await throughput();
if (ONLY === undefined || ONLY === 'lag') await lag();
if (ONLY === undefined || ONLY === 'lag' || ONLY === 'lone') await loneLag();
if (ONLY === undefined || ONLY === 'bootstrap') await bootstrap();
if (ONLY === undefined || ONLY === 'stages') await replicationStages();
if (ONLY === undefined || ONLY === 'alloc') await replicationAlloc();
if (ONLY === undefined || ONLY === 'lookups') await replicationLookups();
if (ONLY === undefined || ONLY === 'digest') await replicationDigest();
if (ONLY === undefined || ONLY === 'rounds') await replicationRounds();
if (ONLY === undefined || ONLY === 'fanout') await replicationFanout();
