/**
 * Headers that hooks running before the plugin set on every request (a rate limiter's counters, a
 * request id) are that request's, hit or miss. Found by helper-128's review: a hit replayed the
 * values of the request that missed, so every client of a cached route was told the first one's
 * remaining quota and request id, over real HTTP.
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { httpGet, listen, setup } from './harness.js';

/** A rate limiter and a request id, as @fastify/rate-limit and an id hook set them: in onRequest, for every request. */
const perRequestHooks = (app: FastifyInstance) => {
  const used = new Map<string, number>();
  let requests = 0;
  app.addHook('onRequest', (request, reply, done) => {
    const client = String(request.headers['x-client'] ?? 'anonymous');
    used.set(client, (used.get(client) ?? 0) + 1);
    requests++;
    reply.header('x-ratelimit-remaining', String(100 - (used.get(client) ?? 0)));
    reply.header('x-request-id', `request-${requests}`);
    // A default the handler may override: then the handler's is the response's.
    reply.header('cache-control', 'no-store');
    done();
  });
};

const routes = (app: FastifyInstance, called: (name: string) => number) => {
  app.get('/p', (_request, reply) => {
    called('p');
    reply.header('cache-control', 'public, max-age=60').header('x-version', '7');
    return 'page';
  });
  app.get('/fails', (_request, reply) => {
    const n = called('fails');
    reply.header('cache-control', 'public, max-age=1, stale-if-error=600');
    if (n > 1) return reply.code(503).send('down');
    return 'fine';
  });
};

describe('headers the hooks before the plugin set are each request’s own', () => {
  it('a hit carries its own rate-limit count and request id, and the stored headers of the route', async () => {
    const { app, count } = await setup(routes, {}, perRequestHooks);
    const port = await listen(app);
    const seen = [];
    for (const client of ['alice', 'alice', 'alice', 'bob']) {
      const answer = await httpGet(port, '/p', { 'x-client': client });
      seen.push([
        answer.headers['x-cache'],
        answer.headers['x-ratelimit-remaining'],
        answer.headers['x-request-id'],
        answer.headers['cache-control'],
        answer.headers['x-version'],
        answer.body,
      ]);
    }
    expect(seen).toEqual([
      ['MISS', '99', 'request-1', 'public, max-age=60', '7', 'page'],
      ['HIT', '98', 'request-2', 'public, max-age=60', '7', 'page'],
      ['HIT', '97', 'request-3', 'public, max-age=60', '7', 'page'],
      ['HIT', '99', 'request-4', 'public, max-age=60', '7', 'page'],
    ]);
    expect(count('p')).toBe(1);
    // The list of them is the plugin's own: never sent.
    expect(Object.keys((await httpGet(port, '/p')).headers).some((name) => name.startsWith('x-meshcache'))).toBe(false);
  });

  it('a stale-if-error answer carries them too', async () => {
    const { app, clock } = await setup(routes, {}, perRequestHooks);
    const port = await listen(app);
    expect((await httpGet(port, '/fails', { 'x-client': 'alice' })).headers['x-ratelimit-remaining']).toBe('99');
    clock.advanceSeconds(5);
    const stale = await httpGet(port, '/fails', { 'x-client': 'bob' });
    expect([
      stale.status,
      stale.headers['x-cache'],
      stale.headers['x-ratelimit-remaining'],
      stale.headers['x-request-id'],
      stale.headers['cache-control'],
      stale.body,
    ]).toEqual([200, 'STALE-IF-ERROR', '99', 'request-2', 'public, max-age=1, stale-if-error=600', 'fine']);
  });

  it('a background revalidation stores the route’s answer, not the counts of its own request', async () => {
    const { app, clock, get } = await setup(
      (app, called) => {
        app.get('/s', (_request, reply) => {
          reply.header('cache-control', 'public, max-age=1, stale-while-revalidate=60');
          return `version ${called('s')}`;
        });
      },
      {},
      perRequestHooks,
    );
    await get('/s', { 'x-client': 'alice' });
    clock.advanceSeconds(2);
    expect((await get('/s', { 'x-client': 'alice' })).headers['x-cache']).toBe('STALE');
    await app.responseCache.whenIdle();
    const hit = await get('/s', { 'x-client': 'carol' });
    expect([
      hit.headers['x-cache'],
      hit.body,
      hit.headers['x-ratelimit-remaining'],
      hit.headers['x-request-id'],
    ]).toEqual(['HIT', 'version 2', '99', 'request-4']);
  });
});
