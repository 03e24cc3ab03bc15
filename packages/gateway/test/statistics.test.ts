/**
 * `statistics().served` counts the answers `handle()` gives, by the cache status each carries,
 * and every MISS once in `stored` or `notStored`, as the Fastify plugin counts them. A real origin
 * (node:http on 127.0.0.1), a manual clock.
 */
import { CacheManager } from '@meshcache/core';
import { ManualClock } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type ResponseCacheValue, responseCache } from '../src/index.js';
import { httpOrigin, type Script } from './http-origin.js';

const NOW = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
});

async function setup(script: Script) {
  const clock = new ManualClock(NOW);
  const manager = new CacheManager({ clock: clock.now });
  managers.push(manager);
  const cache = manager.addCache<ResponseCacheValue>('Response Cache', { maxElementsInMemory: 1000 });
  const responses = responseCache({ cache, clock: clock.now, origin: 'https://api.example' });
  const origin = await httpOrigin(script);
  const get = (url: string, headers: Record<string, string> = {}) =>
    responses.handle({ method: 'GET', url, headers }, origin.fetch);
  return { clock, responses, origin, get };
}

describe('statistics: served counts the answers clients got', () => {
  it('an only-if-cached 504 is a MISS, counted in served.MISS and notStored (as the Fastify plugin counts it); found by a review: handle() counted it nowhere', async () => {
    const { get, responses, origin } = await setup((_request, _call, response) =>
      response.writeHead(200, { 'cache-control': 'max-age=60' }).end('body'),
    );
    const answer = await get('/nothing-yet', { 'cache-control': 'only-if-cached' });
    expect([answer.status, answer.cache]).toEqual([504, 'MISS']);
    expect(origin.seen).toHaveLength(0);
    const counted = responses.statistics();
    expect([counted.served.MISS, counted.stored, counted.notStored]).toEqual([1, 0, 1]);
    expect(counted.stored + counted.notStored).toBe(counted.served.MISS);
  });
});

describe('statistics: a background revalidation is no answer', () => {
  it('a 304 to a background revalidation counts in stored and backgroundRevalidations, not in served.REVALIDATED: the client had its STALE answer (found by a review: served counted two answers for one request)', async () => {
    const { get, clock, responses, origin } = await setup((request, _call, response) => {
      const headers = { 'cache-control': 'max-age=10, stale-while-revalidate=30', etag: '"v1"' };
      if (request.headers['if-none-match'] === '"v1"') response.writeHead(304, headers).end();
      else response.writeHead(200, headers).end('v1');
    });
    expect((await get('/feed')).cache).toBe('MISS');
    clock.advanceSeconds(15);
    const stale = await get('/feed');
    expect([stale.cache, stale.body]).toEqual(['STALE', 'v1']);
    await responses.whenIdle();
    expect(origin.seen.map((seen) => seen.headers['if-none-match'])).toEqual([undefined, '"v1"']);
    expect((await get('/feed')).cache).toBe('HIT'); // the 304 refreshed the entry
    const counted = responses.statistics();
    expect(counted.served).toEqual({ HIT: 1, STALE: 1, 'STALE-IF-ERROR': 0, REVALIDATED: 0, MISS: 1, BYPASS: 0 });
    expect(counted).toMatchObject({ stored: 2, notStored: 0, backgroundRevalidations: 1, backgroundFailures: 0 });
  });

  it('a 304 to a foreground revalidation is the answer the client gets: served.REVALIDATED', async () => {
    const { get, clock, responses } = await setup((request, _call, response) => {
      const headers = { 'cache-control': 'max-age=10', etag: '"v1"' };
      if (request.headers['if-none-match'] === '"v1"') response.writeHead(304, headers).end();
      else response.writeHead(200, headers).end('v1');
    });
    await get('/doc');
    clock.advanceSeconds(15);
    const revalidated = await get('/doc');
    expect([revalidated.status, revalidated.cache, revalidated.body]).toEqual([200, 'REVALIDATED', 'v1']);
    expect(responses.statistics().served).toMatchObject({ MISS: 1, REVALIDATED: 1 });
  });
});
