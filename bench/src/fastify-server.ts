/**
 * The server side of bench/src/fastify.ts: one Fastify app in its own process on 127.0.0.1, so the
 * load generator does not share its event loop. One JSON argument: { mode, peers? }.
 *
 *   plain                 the route alone
 *   meshcache             @meshcache/fastify over a local cache (10,000 entries, LRU)
 *   meshcache-replicated  the same cache replicated by a ClusterNode to the `peers` given
 *   peer                  a ClusterNode only, the other end of meshcache-replicated
 *   caching-etag          @fastify/caching: the route sets an ETag; a request with a known
 *                         If-None-Match is answered 304 in onRequest
 *   caching-store         @fastify/caching's cache (abstract-cache's memory client) used by the
 *                         handler to keep the object it returns
 *
 * The routes are GET /item/:id, an object of about 1 KB serialised as JSON with `Cache-Control:
 * public, max-age=300`, and GET /slow/:id, the same after waiting BENCH_SLOW_MS (default 5 ms,
 * a backend call's worth). GET /_stats answers the response cache's statistics, GET /_cpu the
 * process's CPU time so far. Prints `listening on URL` (or `peer URL`).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import fastifyCaching from '@fastify/caching';
import { type Cache, CacheManager } from '@meshcache/core';
import meshcacheFastify, { type ResponseCacheValue } from '@meshcache/fastify';
import { ClusterNode } from '@meshcache/replication';
import Fastify from 'fastify';

interface Options {
  readonly mode: 'plain' | 'meshcache' | 'meshcache-replicated' | 'peer' | 'caching-etag' | 'caching-store';
  readonly peers?: string[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const SECRET = 'fastify bench secret on loopback only';
const CACHE = 'Response Cache';
const cacheConfig = { maxElementsInMemory: 10_000, timeToLiveSeconds: 3600 };

const DESCRIPTION = 'x'.repeat(600);
/** How long /slow's handler waits first, ms. */
const SLOW_MS = Number(process.env['BENCH_SLOW_MS'] ?? 5);
const item = (id: string) => ({
  id,
  name: `item ${id}`,
  price: { amount: 1999, currency: 'EUR' },
  tags: Array.from({ length: 20 }, (_, i) => `tag-${i}`),
  description: DESCRIPTION,
});

async function startNode(name: string, peers: string[]) {
  const node = await ClusterNode.start({
    name,
    cluster: 'fastify-bench',
    secret: SECRET,
    peerListener: { hostname: '127.0.0.1', port: 0 },
    peerDiscovery: { mode: 'manual', peers },
    caches: { [CACHE]: { ...cacheConfig, replication: { asynchronousReplicationIntervalMillis: 100 } } },
  });
  await node.ready();
  return node;
}

if (options.mode === 'peer') {
  const node = await startNode('peer', []);
  console.log(`peer ${node.url}`);
  process.once('SIGTERM', () => void node.stop().then(() => process.exit(0)));
} else {
  const app = Fastify();
  let stopCache = async () => {};
  if (options.mode === 'meshcache' || options.mode === 'meshcache-replicated') {
    let cache: Cache<ResponseCacheValue> | undefined;
    if (options.mode === 'meshcache') {
      const manager = new CacheManager();
      cache = manager.addCache<ResponseCacheValue>(CACHE, cacheConfig);
      stopCache = async () => {
        await manager.shutdown();
      };
    } else {
      const node = await startNode('server', options.peers ?? []);
      cache = node.manager.getCache<ResponseCacheValue>(CACHE);
      stopCache = async () => {
        await node.stop();
      };
    }
    if (cache === undefined) throw new Error(`no cache "${CACHE}"`);
    await app.register(meshcacheFastify, { cache });
    app.get('/_stats', { config: { meshcache: false } }, async () => app.responseCache.statistics());
  }
  if (options.mode === 'caching-etag' || options.mode === 'caching-store') await app.register(fastifyCaching);

  // Each route twice: /item (the handler only builds the object) and /slow (it first waits
  // SLOW_MS, standing in for a backend call or a database query).
  for (const [prefix, waitMillis] of [
    ['/item', 0],
    ['/slow', SLOW_MS],
  ] as const) {
    const work = async (id: string) => {
      if (waitMillis > 0) await sleep(waitMillis);
      return item(id);
    };
    if (options.mode === 'caching-etag') {
      app.get(`${prefix}/:id`, async (request, reply) => {
        const { id } = request.params as { id: string };
        const value = await work(id);
        reply.header('cache-control', 'public, max-age=300').etag(`"${prefix}-${id}"`);
        return value;
      });
    } else if (options.mode === 'caching-store') {
      app.get(`${prefix}/:id`, (request, reply) => {
        const { id } = request.params as { id: string };
        reply.header('cache-control', 'public, max-age=300');
        app.cache.get<ReturnType<typeof item>>(`${prefix}:${id}`, (error, cached) => {
          if (error) return reply.send(error);
          if (cached?.item) return reply.send(cached.item);
          void work(id).then((fresh) => app.cache.set(`${prefix}:${id}`, fresh, 300_000, () => reply.send(fresh)));
        });
      });
    } else {
      app.get(`${prefix}/:id`, async (request, reply) => {
        const { id } = request.params as { id: string };
        const value = await work(id);
        reply.header('cache-control', 'public, max-age=300');
        return value;
      });
    }
  }
  // This process's CPU time so far (user + system, µs): the load generator's CPU is not in it.
  app.get('/_cpu', { config: { meshcache: false } }, async () => {
    const { user, system } = process.cpuUsage();
    return { micros: user + system };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  console.log(`listening on ${url}`);
  process.once(
    'SIGTERM',
    () =>
      void app
        .close()
        .then(stopCache)
        .then(() => process.exit(0)),
  );
}
