/**
 * A successful unsafe request removes the GET and HEAD entries of its URL (RFC 9111 section 4.4),
 * also with includeBody: the GET's key has no body, and the PUT's body hash kept its key apart
 * from it, so a PUT with a body never invalidated anything (found by a review). A real origin on
 * 127.0.0.1.
 */
import { CacheManager } from '@meshcache/core';
import { ManualClock } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type ResponseCacheValue, responseCache } from '../src/index.js';
import { httpOrigin } from './http-origin.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
});

describe('invalidation by an unsafe request with a body', () => {
  it.each([
    ['includeBody: true', true],
    ['includeBody: false', false],
  ])(
    '%s: a PUT, PATCH, POST or DELETE with a body removes the GET and HEAD entries of its URL',
    async (_name, includeBody) => {
      const clock = new ManualClock(Date.parse('Sun, 22 Nov 2026 10:00:00 GMT'));
      const manager = new CacheManager({ clock: clock.now });
      managers.push(manager);
      const cache = manager.addCache<ResponseCacheValue>('Response Cache', { maxElementsInMemory: 1000 });
      const responses = responseCache({ cache, clock: clock.now, origin: 'https://api.example', includeBody });
      let version = 1;
      const origin = await httpOrigin((request, _call, response) => {
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          version++;
          response.writeHead(204).end();
        } else {
          response.writeHead(200, { 'cache-control': 'max-age=600' }).end(`v${version}`);
        }
      });
      const send = (method: string, body?: string) =>
        responses.handle(
          { method, url: '/orders/1', headers: {}, ...(body === undefined ? {} : { body }) },
          origin.fetch,
        );
      for (const method of ['PUT', 'PATCH', 'POST', 'DELETE']) {
        await send('GET');
        await send('HEAD');
        expect([(await send('GET')).cache, (await send('HEAD')).cache]).toEqual(['HIT', 'HIT']);
        expect([method, (await send(method, '{"status":"shipped"}')).status]).toEqual([method, 204]);
        expect(origin.seen.at(-1)?.body).toBe('{"status":"shipped"}');
        const after = await send('GET');
        expect([method, after.cache, after.body]).toEqual([method, 'MISS', `v${version}`]);
        expect((await send('HEAD')).cache).toBe('MISS');
      }
    },
  );
});
