/**
 * One instance of a Fastify API that caches its responses with @meshcache/fastify in a "Response
 * Cache" replicated through a meshcache ClusterNode: what one instance stored, the others answer.
 *
 * Configured by one JSON argument: { name, peers, secret }. Listens on 127.0.0.1 (HTTP and peer
 * listener on free ports) and prints `fastify NAME listening on http://127.0.0.1:PORT peer
 * ws://127.0.0.1:PORT` once it has caught up with the peers it was given. SIGTERM or SIGINT stops
 * it cleanly.
 *
 * Routes (every answer carries servedBy and servedAt, so a test can tell which instance's handler
 * made it, and when):
 *   GET /orders/:id      public, max-age=300, tagged order-ID and orders (Surrogate-Key)
 *   GET /greeting        Vary: Accept-Language, public, max-age=300
 *   GET /avatar/:id      a Buffer (image/png), public, max-age=300
 *   GET /nostore         Cache-Control: no-store
 *   GET /private         Cache-Control: private, max-age=300
 *   DELETE /_tags/:tag   purges the tag on every instance: { removed }
 *   GET /_calls          how many times each handler ran here; GET /_peers: this node's links
 */

import meshcacheFastify, { type ResponseCacheValue } from '@meshcache/fastify';
import { ClusterNode } from '@meshcache/replication';
import Fastify from 'fastify';

interface Options {
  readonly name: string;
  readonly peers: string[];
  readonly secret: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const CACHE = 'Response Cache';
const node = await ClusterNode.start({
  name: options.name,
  cluster: 'fastify-example',
  secret: options.secret,
  peerListener: { hostname: '127.0.0.1', port: 0 },
  peerDiscovery: { mode: 'manual', peers: options.peers },
  caches: {
    [CACHE]: {
      maxElementsInMemory: 10_000,
      timeToLiveSeconds: 86_400,
      replication: { asynchronousReplicationIntervalMillis: 10, clusterSingleFlight: true },
    },
  },
});
await node.ready();
const cache = node.manager.getCache<ResponseCacheValue>(CACHE);
if (cache === undefined) throw new Error(`no cache "${CACHE}"`);

const app = Fastify();
await app.register(meshcacheFastify, {
  cache,
  // Each instance listens on its own port: key every request on the API's one name, so that the
  // instances share entries (behind a load balancer they would see one Host anyway).
  origin: 'http://api.example',
});

const calls: Record<string, number> = {};
const served = (route: string) => {
  calls[route] = (calls[route] ?? 0) + 1;
  return { servedBy: options.name, servedAt: Date.now(), call: calls[route] };
};
const internal = { config: { meshcache: false } };

app.get('/orders/:id', async (request, reply) => {
  const { id } = request.params as { id: string };
  reply.header('cache-control', 'public, max-age=300').header('surrogate-key', `order-${id} orders`);
  return { id, ...served('orders') };
});
app.get('/greeting', async (request, reply) => {
  reply.header('cache-control', 'public, max-age=300').header('vary', 'Accept-Language');
  return { language: request.headers['accept-language'] ?? null, ...served('greeting') };
});
app.get('/avatar/:id', async (request, reply) => {
  const { id } = request.params as { id: string };
  const { call } = served('avatar');
  reply.header('cache-control', 'public, max-age=300').type('image/png');
  return Buffer.from([0x89, 0x50, 0x4e, 0x47, Number(id) & 0xff, call & 0xff, 0x00, 0xff]);
});
app.get('/nostore', async (_request, reply) => {
  reply.header('cache-control', 'no-store');
  return served('nostore');
});
app.get('/private', async (_request, reply) => {
  reply.header('cache-control', 'private, max-age=300');
  return served('private');
});
app.delete('/_tags/:tag', internal, async (request) => ({
  removed: app.responseCache.purgeTag((request.params as { tag: string }).tag),
}));
app.get('/_calls', internal, async () => calls);
app.get('/_peers', internal, async () => node.peers().map((peer) => ({ id: peer.id, state: peer.state })));

const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`fastify ${options.name} listening on ${address} peer ${node.url}`);

let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= app
    .close()
    .then(() => node.stop())
    .then(() => process.exit(0));
  return stopping;
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
