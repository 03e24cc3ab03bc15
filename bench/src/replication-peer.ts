/**
 * The receiving side of bench/src/replication.ts, in its own process. `node` mode: a ClusterNode
 * that prints its URL, then prints `done MS` when its cache holds N entries (ms since the first
 * arrived). `bare` mode: a bare ws server that decodes msgpack batches of [key, value] pairs into
 * an lru-cache, and prints the same.
 */
import { ClusterNode } from '@meshcache/replication';
import { LRUCache } from 'lru-cache';
import { Unpackr } from 'msgpackr';
import { WebSocketServer } from 'ws';

const [mode, countText] = process.argv.slice(2);
const count = Number(countText);
let first = 0;
const report = (size: number) => {
  if (first === 0 && size > 0) first = performance.now();
  if (size >= count) {
    console.log(`done ${(performance.now() - first).toFixed(1)}`);
    process.exit(0);
  }
};

if (mode === 'node') {
  const node = await ClusterNode.start({
    name: 'receiver',
    cluster: 'bench',
    secret: 'bench',
    caches: { bench: { maxElementsInMemory: 0, replication: {} } },
  });
  const cache = node.manager.getCache('bench');
  cache?.on('put', () => report(cache.size));
  console.log(`url ${node.url}`);
} else {
  const cache = new LRUCache<string, object | string>({ max: count + 1 });
  const unpackr = new Unpackr({ useRecords: true, sequential: true, copyBuffers: true });
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      const pairs = unpackr.unpack(data as Buffer) as Array<[string, object | string]>;
      for (const [key, value] of pairs) cache.set(key, value);
      report(cache.size);
    });
  });
  server.on('listening', () => {
    const address = server.address();
    if (typeof address === 'object' && address !== null) console.log(`url ws://127.0.0.1:${address.port}`);
  });
}
