/**
 * One node of bench/src/scale.ts, in its own process: a ClusterNode with one replicated cache
 * (async, 10 ms), listening on 127.0.0.1 port 0 and dialling the peers given (argv: name, then
 * the peers' URLs as JSON). It prints `url URL` once it listens, then answers each line on stdin
 * with one line of JSON:
 *
 *   fill PREFIX FROM N  N puts of 200 bytes, keys PREFIX FROM..    -> {}
 *   count               entries held                                -> { count }
 *   figures             CPU seconds, RSS, links dropped and made    -> { cpu, rss, left, connected, connectedPeers }
 *   exit                stop and exit
 */
import { createInterface } from 'node:readline';
import { ClusterNode } from '@meshcache/replication';

const [name, peersJson] = process.argv.slice(2);
const VALUE = 'x'.repeat(200);
let left = 0;
let connected = 0;
const logger = {
  debug() {},
  info(_obj: object, msg?: string) {
    if (msg === 'peer left') left++;
    if (msg === 'peer connected') connected++;
  },
  warn() {},
  error() {},
};

const node = await ClusterNode.start(
  {
    name: name ?? 'node',
    cluster: 'scale',
    secret: 'the scale benchmark secret, 32 bytes and more',
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 5000 },
    peerDiscovery: { mode: 'manual', peers: JSON.parse(peersJson ?? '[]') as string[] },
    caches: { bench: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } } },
  },
  { logger },
);
console.log(`url ${node.url}`);

createInterface({ input: process.stdin }).on('line', (line) => {
  void (async () => {
    const [command, ...args] = line.split(' ');
    const cache = node.manager.getCache<string>('bench');
    switch (command) {
      case 'fill': {
        const [prefix, from, count] = [args[0] ?? 'k', Number(args[1]), Number(args[2])];
        for (let i = from; i < from + count; i++) {
          cache?.put(`${prefix}${i}`, VALUE);
          if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
        }
        console.log('{}');
        return;
      }
      case 'count':
        console.log(JSON.stringify({ count: cache?.size ?? 0 }));
        return;
      case 'figures': {
        const usage = process.cpuUsage();
        console.log(
          JSON.stringify({
            cpu: (usage.user + usage.system) / 1e6,
            rss: process.memoryUsage.rss(),
            left,
            connected,
            connectedPeers: node.peers().filter((peer) => peer.state === 'connected').length ?? 0,
          }),
        );
        return;
      }
      case 'exit':
        await node.stop();
        process.exit(0);
    }
  })();
});
