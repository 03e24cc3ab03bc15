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
