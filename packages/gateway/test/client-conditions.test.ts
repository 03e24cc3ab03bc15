/**
 * A client's Range and preconditions on a miss go to the origin as sent (a video's seek, a resumed
 * download, a browser's If-None-Match), and what they alone make it answer is passed on and never
 * stored: a 206 or 304, and a 412 or 416 to a request that carries them. Stored, one client's
 * If-Match or unsatisfiable Range made the 412 or 416 every client's answer until it expired (a
 * cache-poisoned denial of service found by a review); taken out, they made every Range request
 * fetch and buffer the whole body, and a download the cache may not store could not be resumed
 * (found by a second review). A real origin on 127.0.0.1 that honours If-Match,
 * If-Unmodified-Since, If-None-Match and Range.
 */
import { CacheManager } from '@meshcache/core';
import { ManualClock } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type ResponseCacheValue, responseCache } from '../src/index.js';
import { httpOrigin, type SeenRequest } from './http-origin.js';

const NOW = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');
const CONDITIONS = ['range', 'if-range', 'if-match', 'if-unmodified-since', 'if-none-match', 'if-modified-since'];

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
});

async function setup() {
  const clock = new ManualClock(NOW);
  const manager = new CacheManager({ clock: clock.now });
  managers.push(manager);
  const cache = manager.addCache<ResponseCacheValue>('Response Cache', { maxElementsInMemory: 1000 });
  const responses = responseCache({ cache, clock: clock.now, origin: 'https://files.example' });
  // An origin with one Cache-Control for every answer of the route (a middleware sets it), as is common.
  const origin = await httpOrigin((request, _call, response) => {
    const headers = {
      'cache-control': 'public, max-age=300',
      etag: '"v1"',
      'last-modified': 'Sat, 21 Nov 2026 10:00:00 GMT',
    };
    if (request.headers['if-match'] !== undefined && request.headers['if-match'] !== '"v1"') {
      response.writeHead(412, headers).end('precondition failed');
    } else if (request.headers['if-unmodified-since'] === 'Fri, 20 Nov 2026 10:00:00 GMT') {
      response.writeHead(412, headers).end('precondition failed');
    } else if (request.headers['if-none-match'] === '"v1"') {
      response.writeHead(304, headers).end();
    } else if (request.headers.range === 'bytes=999999-') {
      response.writeHead(416, { ...headers, 'content-range': 'bytes */8' }).end();
    } else if (request.headers.range === 'bytes=0-3') {
      response.writeHead(206, { ...headers, 'content-range': 'bytes 0-3/8' }).end('whol');
    } else {
      response.writeHead(200, headers).end('whole v1');
    }
  });
  const send = (method: string, url: string, headers: Record<string, string> = {}, body?: string) =>
    responses.handle({ method, url, headers, ...(body === undefined ? {} : { body }) }, origin.fetch);
  return { responses, origin, send, cache, clock };
}

const conditionsSeen = (seen: SeenRequest | undefined) =>
  CONDITIONS.filter((name) => seen?.headers[name] !== undefined);

describe("on a miss, the client's Range and preconditions reach the origin, and their answers are not stored", () => {
  it.each([
    ['If-Match', { 'if-match': '"nope"' }, 412, 'precondition failed'],
    ['If-Unmodified-Since', { 'if-unmodified-since': 'Fri, 20 Nov 2026 10:00:00 GMT' }, 412, 'precondition failed'],
    ['an unsatisfiable Range', { range: 'bytes=999999-' }, 416, ''],
    ['a Range', { range: 'bytes=0-3' }, 206, 'whol'],
    ['a Range with If-Range', { range: 'bytes=0-3', 'if-range': '"v1"' }, 206, 'whol'],
    ['an If-None-Match that matches', { 'if-none-match': '"v1"' }, 304, ''],
  ] as const)(
    '%s: the origin’s answer is passed on and not stored; the next plain client gets the whole',
    async (_name, conditions, status, body) => {
      const { origin, send, cache } = await setup();
      const first = await send('GET', '/file', conditions);
      expect([first.status, first.cache, first.body]).toEqual([status, 'MISS', body]);
      expect(conditionsSeen(origin.seen[0])).toEqual(Object.keys(conditions));
      expect(cache.size).toBe(0);
      const victim = await send('GET', '/file');
      expect([victim.status, victim.cache, victim.body]).toEqual([200, 'MISS', 'whole v1']);
      expect(await send('GET', '/file')).toMatchObject({ status: 200, cache: 'HIT', body: 'whole v1' });
    },
  );

  it('a 206 keeps its Content-Range: the origin sent only the part asked for', async () => {
    const { send } = await setup();
    const part = await send('GET', '/file', { range: 'bytes=0-3' });
    expect(part.headers['content-range']).toBe('bytes 0-3/8');
    expect(part.body).toBe('whol');
  });

  it('an If-None-Match that does not match gets the whole 200, which is stored for everyone', async () => {
    const { origin, send } = await setup();
    const first = await send('GET', '/file', { 'if-none-match': '"old"' });
    expect([first.status, first.cache, first.body]).toEqual([200, 'MISS', 'whole v1']);
    expect(await send('GET', '/file')).toMatchObject({ status: 200, cache: 'HIT', body: 'whole v1' });
    expect(origin.seen).toHaveLength(1);
  });

  it('a HEAD miss forwards them too', async () => {
    const { origin, send } = await setup();
    expect((await send('HEAD', '/file', { range: 'bytes=999999-' })).status).toBe(416);
    expect(conditionsSeen(origin.seen[0])).toEqual(['range']);
  });

  it('revalidating an entry, the cache’s own conditions replace the client’s: the whole response is served', async () => {
    const { origin, send, clock } = await setup();
    await send('GET', '/file');
    clock.advanceSeconds(400); // stale: revalidated with If-None-Match "v1", which the origin answers 304
    const ranged = await send('GET', '/file', { range: 'bytes=0-3' });
    expect([ranged.status, ranged.cache, ranged.body]).toEqual([200, 'REVALIDATED', 'whole v1']);
    expect(conditionsSeen(origin.seen[1])).toEqual(['if-none-match', 'if-modified-since']);
  });

  it('a method the cache does not store keeps its preconditions: a PUT with If-Match is the origin’s to judge', async () => {
    const { origin, send } = await setup();
    const put = await send('PUT', '/file', { 'if-match': '"nope"' }, 'new');
    expect([put.status, put.cache]).toEqual([412, 'BYPASS']);
    expect(origin.seen[0]?.headers['if-match']).toBe('"nope"');
  });

  it('store() refuses a 412 or 416 to a request that carried preconditions or a Range (a caller of the steps that forgot to strip them)', async () => {
    const { responses } = await setup();
    const headers = { 'cache-control': 'public, max-age=300' };
    const decide = (status: number, request: Record<string, string>) =>
      responses.store(
        { method: 'GET', url: '/file', headers: request },
        { status, headers, body: '' },
        { requestTime: NOW },
      ).cacheable;
    expect(decide(412, { 'if-match': '"nope"' })).toBe(false);
    expect(decide(416, { range: 'bytes=999999-' })).toBe(false);
    expect(decide(200, { range: 'bytes=0-3' })).toBe(true); // the origin ignored the Range: the whole
    expect(responses.lookup({ method: 'GET', url: '/file' })).toMatchObject({ state: 'hit' });
  });
});
