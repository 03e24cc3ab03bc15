/**
 * The receiving side of bench/src/replication.ts, in its own process. It prints `url URL` once
 * it listens (except in `bootstrap` mode), then its result lines; all but `node` and `bare` then
 * exit, those two serve rounds until the bench stops them. Modes:
 *
 *   node N [W]      a ClusterNode; after W warm-up entries (`warm` once it holds them: untimed),
 *                   `done MS CPU` when its cache holds N more (ms since the first of them, polled
 *                   every millisecond; CPU µs meanwhile), then `read MS`: the ms taken to read every
 *                   entry once (values a peer sent are decoded by their first read). Then it waits
 *                   for the sender's removeAll, says `cleared` once its cache is empty, and serves
 *                   the next round the same way (N entries, no warm-up) until it is stopped
 *   bare N [W]      a bare ws server decoding msgpack batches of [key, value] into an lru-cache;
 *                   W warm-up entries first, as `node`; a frame of the string `clear` empties the
 *                   lru-cache (`cleared`), and the next round follows, as `node`
 *   bytes-ws B      a bare ws server counting bytes; `done MS` at B bytes
 *   bytes-tcp B     a TCP server counting bytes; `done MS` at B bytes
 *   lag N W         a ClusterNode; after W warm-up puts and N more, `lag P50 P99 MAX` of the N (ms
 *                   from the sender's put, the value's sentAt against this process's clock: same host)
 *   bootstrap URL N a ClusterNode that joins URL; `bootstrap MS COUNT READ STALL P99 USER SYSTEM`:
 *                   start() to ready(), the ms taken then to read every entry once, the longest and
 *                   the 99th percentile delay of its event loop meanwhile (ms), and the CPU µs it
 *                   spent from start() to ready(), in user space and in the kernel
 */
import { createServer } from 'node:net';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { ClusterNode } from '@meshcache/replication';
import { LRUCache } from 'lru-cache';
import { Unpackr } from 'msgpackr';
import { WebSocketServer } from 'ws';

const [mode, first, second] = process.argv.slice(2);
// Stopped by the bench (the modes that serve rounds): an exit of its own, so a CPU profile
// (BENCH_PROFILE) is written.
process.once('SIGTERM', () => process.exit(0));
const now = () => performance.timeOrigin + performance.now();
let started = 0;
/** BENCH_GC=1: each kind of collection counted and timed, said on stderr at the end (stdout carries the results). */
const collections = new Map<string, { count: number; ms: number }>();
if (process.env['BENCH_GC'] === '1') {
  const kinds: Record<number, string> = {
    1: 'minor (scavenge)',
    2: 'major (mark-compact)',
    4: 'incremental',
    8: 'weak callbacks',
  };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind =
        kinds[((entry as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind ?? 0] ?? 'other';
      const seen = collections.get(kind) ?? { count: 0, ms: 0 };
      seen.count++;
      seen.ms += entry.duration;
      collections.set(kind, seen);
    }
  }).observe({ entryTypes: ['gc'] });
}
/** Says what the collector did (BENCH_GC), on stderr, and starts counting again. */
const sayCollections = () => {
  for (const [kind, { count, ms }] of collections) console.error(`gc ${mode}: ${kind} x${count}, ${ms.toFixed(0)} ms`);
  collections.clear();
};
const finish = (line: string) => {
  sayCollections();
  console.log(line);
  process.exit(0);
};
/** CPU time of this process (every thread: the collector's helpers too) when the first item arrived. */
let startedCpu: NodeJS.CpuUsage | undefined;
/** Items (entries, bytes) that only warm the JIT up: `warm` is said once they are in, and timing starts after them. */
let warmUpItems = 0;
let warmed = false;
/** In the modes that serve rounds: this round's lines are said, and the next starts once the store is empty. */
let between = false;
/**
 * `done <ms from the first item after the warm-up to the last> <CPU µs this process spent
 * meanwhile> <of which in the kernel>` once `amount` reaches `target` items after the warm-up;
 * then, with `read`, a line `read <ms>`: what `read` took, after the timing ended. With `rounds`,
 * the process then waits for `amount` to drop to 0 (its store emptied by the sender), says
 * `cleared`, and times the next `target` items, with no warm-up; without, it exits.
 */
const progress = (amount: number, target: number, read?: () => void, rounds = false) => {
  if (between) {
    if (amount > 0) return;
    between = false;
    started = 0;
    warmUpItems = 0;
    console.log('cleared');
    return;
  }
  if (!warmed && amount >= warmUpItems && warmUpItems > 0) {
    warmed = true;
    console.log('warm');
  }
  if (started === 0 && amount > warmUpItems) {
    started = performance.now();
    startedCpu = process.cpuUsage();
  }
  if (amount >= target + warmUpItems) {
    const cpu = process.cpuUsage(startedCpu);
    const line = `done ${(performance.now() - started).toFixed(1)} ${cpu.user + cpu.system} ${cpu.system}`;
    if (!rounds) return finish(line);
    // Said first: the sender's timing ends at this line, not after the read.
    console.log(line);
    if (read !== undefined) console.log(`read ${timed(read).toFixed(1)}`);
    sayCollections();
    between = true;
  }
};
/** ms `run` takes. */
const timed = (run: () => void): number => {
  const start = performance.now();
  run();
  return performance.now() - start;
};
/** Reads every entry of `cache` once (a peer's values are decoded by their first read). */
const readAll = (cache: { keys(): string[]; get(key: string): unknown } | undefined) => () => {
  for (const key of cache?.keys() ?? []) cache?.get(key);
};
const debugLogger = {
  debug() {},
  info: (obj: object, msg?: string) => console.error(new Date().toISOString(), 'info', msg, JSON.stringify(obj)),
  warn: (obj: object, msg?: string) => console.error(new Date().toISOString(), 'warn', msg, JSON.stringify(obj)),
  error: (obj: object, msg?: string) => console.error(new Date().toISOString(), 'error', msg, JSON.stringify(obj)),
};
const cacheConfig = (size: number) => ({
  bench: { maxElementsInMemory: size, replication: { asynchronousReplicationIntervalMillis: 10 } },
});

function wsServer(onFrame: (frame: Buffer) => void): void {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
  server.on('connection', (socket) => socket.on('message', (data) => onFrame(data as Buffer)));
  server.on('listening', () => {
    const address = server.address();
    if (typeof address === 'object' && address !== null) console.log(`url ws://127.0.0.1:${address.port}`);
  });
}

/**
 * BENCH_PLAIN_FRAMES=1: frames unencrypted after the handshake (the "without encryption" rows);
 * BENCH_DECODE_ON_ARRIVAL=1: a peer's values decoded as they arrive (the "decoded on arrival" rows).
 */
const frames = {
  ...(process.env['BENCH_PLAIN_FRAMES'] === '1' ? { protectFrames: false } : {}),
  ...(process.env['BENCH_DECODE_ON_ARRIVAL'] === '1' ? { deferValues: false } : {}),
};

switch (mode) {
  case 'node': {
    warmUpItems = Number(second ?? 0);
    const count = Number(first);
    const node = await ClusterNode.start(
      { name: 'receiver', cluster: 'bench', secret: 'bench', caches: cacheConfig(0) },
      frames,
    );
    const cache = node.manager.getCache('bench');
    // Counted by polling, not by a listener: an event listener would make every applied change
    // allocate an event, a cost a gateway that does not listen never pays.
    setInterval(() => progress(cache?.size ?? 0, count, readAll(cache), true), 1);
    console.log(`url ${node.url}`);
    break;
  }
  case 'bare': {
    warmUpItems = Number(second ?? 0);
    const count = Number(first);
    const cache = new LRUCache<string, object | string>({ max: count + warmUpItems + 1 });
    const unpackr = new Unpackr({ useRecords: true, sequential: true, copyBuffers: true });
    wsServer((frame) => {
      const pairs = unpackr.unpack(frame) as Array<[string, object | string]> | 'clear';
      if (pairs === 'clear') cache.clear();
      else for (const [key, value] of pairs) cache.set(key, value);
      progress(cache.size, count, undefined, true);
    });
    break;
  }
  case 'bytes-ws': {
    const bytes = Number(first);
    let received = 0;
    wsServer((frame) => {
      received += frame.length;
      progress(received, bytes);
    });
    break;
  }
  case 'bytes-tcp': {
    const bytes = Number(first);
    let received = 0;
    const server = createServer((socket) =>
      socket.on('data', (chunk) => {
        received += chunk.length;
        progress(received, bytes);
      }),
    );
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address === 'object' && address !== null) console.log(`url tcp://127.0.0.1:${address.port}`);
    });
    break;
  }
  case 'lag': {
    const count = Number(first);
    const warmUp = Number(second ?? 0); // the first puts only warm the JIT up: not counted
    const node = await ClusterNode.start(
      { name: 'receiver', cluster: 'bench', secret: 'bench', caches: cacheConfig(0) },
      frames,
    );
    const lags: number[] = [];
    node.manager.getCache<{ sentAt: number }>('bench')?.on('put', (event) => {
      if (event.value !== undefined) lags.push(now() - event.value.sentAt);
      if (lags.length >= count + warmUp) {
        lags.splice(0, warmUp);
        lags.sort((a, b) => a - b);
        const at = (q: number) => (lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0).toFixed(2);
        finish(`lag ${at(0.5)} ${at(0.99)} ${at(1 - 1e-9)}`);
      }
    });
    console.log(`url ${node.url}`);
    break;
  }
  case 'bootstrap': {
    const count = Number(second);
    // How long the joiner's event loop went without a turn meanwhile: what a gateway's requests
    // would wait for during the bootstrap.
    const stalls = monitorEventLoopDelay({ resolution: 1 });
    stalls.enable();
    const start = performance.now();
    const cpu = process.cpuUsage();
    const node = await ClusterNode.start(
      {
        name: 'joiner',
        cluster: 'bench',
        secret: 'bench',
        peerListener: { socketTimeoutMillis: 5000 },
        peerDiscovery: { mode: 'manual', peers: [first ?? ''] },
        caches: cacheConfig(count + 1),
      },
      process.env['BENCH_DEBUG'] ? { logger: debugLogger, ...frames } : frames,
    );
    if (process.env['BENCH_DEBUG']) {
      const cache = node.manager.getCache('bench');
      setInterval(() => console.error(new Date().toISOString(), 'held', cache?.size), 500).unref();
    }
    await node.ready();
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    stalls.disable();
    const stalled = `${(stalls.max / 1e6).toFixed(1)} ${(stalls.percentile(99) / 1e6).toFixed(1)}`;
    // A turn for the gc observer's entries (BENCH_GC), which arrive after the ready() they timed.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const cache = node.manager.getCache('bench');
    const held = cache?.size ?? 0;
    finish(
      `bootstrap ${ms.toFixed(0)} ${held} ${timed(readAll(cache)).toFixed(0)} ${stalled} ${used.user} ${used.system}`,
    );
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
