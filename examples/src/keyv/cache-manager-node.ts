/**
 * One application instance that caches through cache-manager 7, with a replicated meshcache cache
 * as its in-process tier: a `del` (or a `set`, or a `clear`) on one instance reaches the others.
 *
 *   node cache-manager-node.js NAME [PEER_URL...]     (MESHCACHE_SECRET: the cluster secret)
 *
 * It listens for peers on 127.0.0.1 (a free port), prints `listening on ws://...` once it has
 * caught up with the peers it was given, then answers one JSON line per command line on stdin:
 *
 *   {"op":"set","key":"k","value":{...},"ttl":60000}   {"op":"get","key":"k"}   {"op":"ttl","key":"k"}
 *   {"op":"del","key":"k"}   {"op":"mdel","keys":["a","b"]}   {"op":"clear"}   {"op":"peers"}
 *
 * SIGTERM or SIGINT (or the end of stdin) leaves the cluster cleanly. test/cache-manager.test.ts
 * runs three of them.
 */
import { createInterface } from 'node:readline';
import { ClusterNode } from '@meshcache/replication';
import { createCache } from 'cache-manager';
import { meshcacheCacheOptions } from './cache-options.js';

const [name, ...peers] = process.argv.slice(2);
if (name === undefined) {
  console.error('usage: cache-manager-node NAME [PEER_URL...]');
  process.exit(2);
}

const CACHE = 'app cache';
const node = await ClusterNode.start({
  name,
  cluster: 'cache-manager-example',
  peerListener: { hostname: '127.0.0.1', port: 0 },
  peerDiscovery: { mode: 'manual', peers },
  caches: {
    [CACHE]: {
      maxElementsInMemory: 10_000,
      timeToLiveSeconds: 300,
      replication: { asynchronousReplicationIntervalMillis: Number(process.env['REPLICATION_INTERVAL_MS'] ?? 100) },
    },
  },
});
await node.ready();
const cache = node.manager.getCache(CACHE);
if (cache === undefined) throw new Error(`no cache "${CACHE}"`);
const cacheManager = createCache(meshcacheCacheOptions(cache));
console.log(`listening on ${node.url}`);

interface Command {
  op: string;
  key?: string;
  keys?: string[];
  value?: unknown;
  ttl?: number;
}

async function answer(command: Command): Promise<unknown> {
  const key = command.key ?? '';
  switch (command.op) {
    case 'set':
      await cacheManager.set(key, command.value, command.ttl);
      return { ok: true };
    case 'get': {
      const value = await cacheManager.get(key);
      return value === undefined ? { found: false } : { found: true, value };
    }
    case 'ttl':
      return { expires: (await cacheManager.ttl(key)) ?? null };
    case 'del':
      return { deleted: await cacheManager.del(key) };
    case 'mdel':
      return { deleted: await cacheManager.mdel(command.keys ?? []) };
    case 'clear':
      return { cleared: await cacheManager.clear() };
    case 'peers':
      return node.peers().map((peer) => ({ id: peer.id, state: peer.state }));
    default:
      throw new Error(`unknown op ${JSON.stringify(command.op)}`);
  }
}

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= node.stop().then(() => process.exit(0));
  return stopping;
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
const lines = createInterface({ input: process.stdin });
// One command at a time, so answers come back in the order of the questions.
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue
    .then(() => answer(JSON.parse(line) as Command))
    .then(
      (result) => console.log(JSON.stringify(result)),
      (error: Error) => console.log(JSON.stringify({ error: error.message })),
    );
});
lines.on('close', stop);
