/**
 * Replicated puts per second from node A (this process) to node B (a child process), 200-byte
 * values, asynchronous mode with a 10 ms interval, next to the bare pipeline: the same number of
 * [key, value] pairs msgpack-encoded in batches of 1000, sent over a bare ws connection, decoded
 * and stored into an lru-cache on the other side. Both are timed from the first put until the
 * receiver holds every entry.
 *
 * Run: npx pnpm@10 run bench:replication   (BENCH_ENTRIES to change the 200,000)
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ClusterNode } from '@meshcache/replication';
import { Packr } from 'msgpackr';
import { WebSocket } from 'ws';
import { formatOps, table } from './harness.js';

const ENTRIES = Number(process.env['BENCH_ENTRIES'] ?? 200_000);
const PEER = fileURLToPath(new URL('./replication-peer.js', import.meta.url));
const VALUE = 'x'.repeat(200);

/** Starts the receiver; resolves with its URL and a promise of its `done MS` line. */
async function receiver(mode: 'node' | 'bare'): Promise<{ url: string; done: Promise<number> }> {
  const child = spawn(process.execPath, [PEER, mode, String(ENTRIES)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  let resolveDone: (ms: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
    lines.on('line', (line) => {
      if (line.startsWith('url ')) resolve(line.slice(4));
      if (line.startsWith('done ')) resolveDone(Number(line.slice(5)));
    });
  });
  return { url, done };
}

async function replicated(): Promise<number> {
  const { url, done } = await receiver('node');
  const node = await ClusterNode.start({
    name: 'sender',
    cluster: 'bench',
    secret: 'bench',
    peerDiscovery: { mode: 'manual', peers: [url] },
    caches: {
      bench: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } },
    },
  });
  await node.ready();
  const cache = node.manager.getCache<string>('bench');
  const start = performance.now();
  for (let i = 0; i < ENTRIES; i++) {
    cache?.put(`key:${i}`, VALUE);
    if (i % 10_000 === 9_999) await new Promise((resolve) => setImmediate(resolve));
  }
  const receiverMs = await done;
  const total = performance.now() - start;
  await node.stop();
  return Math.max(total, receiverMs);
}

async function bare(): Promise<number> {
  const { url, done } = await receiver('bare');
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve) => socket.once('open', resolve));
  const packr = new Packr({ useRecords: true, sequential: true });
  const start = performance.now();
  for (let i = 0; i < ENTRIES; i += 1000) {
    const batch: Array<[string, string]> = [];
    for (let j = i; j < Math.min(i + 1000, ENTRIES); j++) batch.push([`key:${j}`, VALUE]);
    socket.send(packr.pack(batch));
    if (i % 10_000 === 9_000) await new Promise((resolve) => setImmediate(resolve));
  }
  const receiverMs = await done;
  const total = performance.now() - start;
  socket.close();
  return Math.max(total, receiverMs);
}

const bareMs = await bare();
const meshMs = await replicated();
console.log(
  `node ${process.version}, ${ENTRIES.toLocaleString()} entries of 200 bytes, A in this process, B in a child\n`,
);
console.log(
  table(
    ['pipeline', 'entries/s', 'vs bare pipeline'],
    [
      [
        'meshcache replication (async, 10 ms)',
        formatOps((ENTRIES / meshMs) * 1000),
        `${(bareMs / meshMs).toFixed(2)}x`,
      ],
      ['bare pipeline (msgpack batches over ws into lru-cache)', formatOps((ENTRIES / bareMs) * 1000), '1.00x'],
    ],
  ),
);
