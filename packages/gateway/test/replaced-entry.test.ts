/**
 * When the origin's answer to a revalidation (or a forced one: a client's no-cache) is not stored,
 * the entry it was for goes when the origin's answer, judged without the request, says it is gone
 * or may not be kept, or is a newer version the cache cannot hold. A refusal owed to the request
 * alone (its no-store, its Cookie or Authorization) or a failure (5xx, 429) leaves it: one
 * client's reload or login removed a fresh entry on every instance, and its stale-if-error with
 * it (found by a review). Left as it was, the entry keeps no "done" marker from a background
 * revalidation: kept, one no-store or Cookie request froze it for its whole stale-while-revalidate
 * window, and a version over maxBodyBytes left the superseded one served (found by a second
 * review). A real origin on 127.0.0.1, a manual clock.
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

async function setup(script: Script, options: { readonly maxBodyBytes?: number } = {}) {
  const clock = new ManualClock(NOW);
  const manager = new CacheManager({ clock: clock.now });
  managers.push(manager);
  const cache = manager.addCache<ResponseCacheValue>('Response Cache', { maxElementsInMemory: 1000 });
  const responses = responseCache({ cache, clock: clock.now, origin: 'https://api.example', ...options });
  const origin = await httpOrigin(script);
  const get = (url: string, headers: Record<string, string> = {}) =>
    responses.handle({ method: 'GET', url, headers }, origin.fetch);
  return { clock, cache, responses, origin, get };
}

/** The origin answers `down` with 503 while `state.down` is set, else with `headers` and the call number. */
function failing(headers: Record<string, string>, state: { down: boolean }): Script {
  return (_request, call, response) => {
    if (state.down) response.writeHead(503, { 'content-type': 'text/plain' }).end('down');
    else response.writeHead(200, headers).end(`v${call}`);
  };
}

describe('a refusal owed to the request leaves the entry', () => {
  it('a hard reload (no-cache) while the origin answers 503 gets the 503; every other client keeps the fresh entry, and stale-if-error after it', async () => {
    const state = { down: false };
    const { get, clock } = await setup(failing({ 'cache-control': 'max-age=600, stale-if-error=3600' }, state));
    expect((await get('/home')).cache).toBe('MISS');
    state.down = true;
    const reload = await get('/home', { 'cache-control': 'no-cache', pragma: 'no-cache' });
    expect([reload.status, reload.cache]).toEqual([503, 'MISS']); // it demanded validation: no stale answer
    const other = await get('/home');
    expect([other.status, other.cache, other.body]).toEqual([200, 'HIT', 'v1']);
    clock.advanceSeconds(700); // stale now; the origin is still down
    const later = await get('/home');
    expect([later.status, later.cache, later.body]).toEqual([200, 'STALE-IF-ERROR', 'v1']);
  });

  it('a request that says no-cache, no-store is answered by the origin and removes nothing', async () => {
    const { get, cache, origin } = await setup((_r, call, response) =>
      response.writeHead(200, { 'cache-control': 'max-age=600' }).end(`v${call}`),
    );
    await get('/x');
    const own = await get('/x', { 'cache-control': 'no-cache, no-store' });
    expect([own.cache, own.body]).toEqual(['MISS', 'v2']);
    expect(cache.size).toBe(1);
    expect(await get('/x')).toMatchObject({ cache: 'HIT', body: 'v1' });
    expect(origin.seen).toHaveLength(2);
  });

  it("a logged-in user's reload (Cookie, max-age=0) does not remove the entry anonymous clients share", async () => {
    const { get, clock } = await setup((request, call, response) =>
      request.headers.cookie === undefined
        ? response.writeHead(200, { 'cache-control': 'max-age=600' }).end(`anonymous v${call}`)
        : response.writeHead(200, { 'cache-control': 'private, no-store' }).end(`for ${request.headers.cookie}`),
    );
    await get('/y');
    clock.advanceSeconds(1); // older than the max-age=0 the user's reload asks for
    const user = await get('/y', { cookie: 'sid=1', 'cache-control': 'max-age=0' });
    expect([user.cache, user.body]).toEqual(['MISS', 'for sid=1']);
    expect(await get('/y')).toMatchObject({ cache: 'HIT', body: 'anonymous v1' });
  });

  it('a 429 (a failure, not an answer about the resource) does not remove the stale entry', async () => {
    const { get, clock, origin } = await setup((_r, call, response) =>
      call === 1
        ? response.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=600' }).end('kept')
        : response.writeHead(429, { 'retry-after': '5' }).end('slow down'),
    );
    await get('/z');
    clock.advanceSeconds(20);
    expect((await get('/z')).status).toBe(429);
    origin.script = (_r, _c, response) => response.writeHead(503).end();
    expect(await get('/z')).toMatchObject({ status: 200, cache: 'STALE-IF-ERROR', body: 'kept' });
  });

  it('a 304 to a request that says no-store answers the stored body with Age, and the entry stays as it was', async () => {
    const { get, clock, cache, responses } = await setup((request, call, response) =>
      request.headers['if-none-match'] === '"a"'
        ? response.writeHead(304, { 'cache-control': 'max-age=60', etag: '"a"' }).end()
        : response.writeHead(200, { 'cache-control': 'max-age=60', etag: '"a"' }).end(`v${call}`),
    );
    await get('/doc');
    clock.advanceSeconds(5);
    const answer = await get('/doc', { 'cache-control': 'no-cache, no-store' });
    expect([answer.cache, answer.body, answer.headers['age']]).toEqual(['REVALIDATED', 'v1', '0']);
    expect(cache.size).toBe(1);
    const hit = await get('/doc');
    expect([hit.cache, hit.headers['age']]).toEqual(['HIT', '5']); // not refreshed: the request said no-store
    expect(responses.statistics().served.REVALIDATED).toBe(1);
  });

  it('a background revalidation refused because of the request (its Cookie) keeps the stale entry', async () => {
    const { get, clock, responses } = await setup((request, call, response) =>
      response
        .writeHead(200, {
          'cache-control': 'max-age=10, stale-while-revalidate=60',
          'x-cookie': String(request.headers.cookie),
        })
        .end(`v${call}`),
    );
    await get('/feed');
    clock.advanceSeconds(15);
    expect((await get('/feed', { cookie: 'sid=1' })).cache).toBe('STALE');
    await responses.whenIdle(); // the answer to a request with a Cookie, not marked public: not stored
    expect(await get('/feed')).toMatchObject({ cache: 'STALE', body: 'v1' });
  });
});

describe('an answer the origin forbids keeping removes the entry', () => {
  it('a 200 with no-store to a forced revalidation removes the fresh entry: it never answers again', async () => {
    const { get, cache, origin } = await setup((_r, call, response) =>
      response.writeHead(200, { 'cache-control': 'max-age=600, stale-if-error=3600' }).end(`v${call}`),
    );
    await get('/a');
    origin.script = (_r, _c, response) => response.writeHead(200, { 'cache-control': 'no-store' }).end('secret');
    expect(await get('/a', { 'cache-control': 'no-cache' })).toMatchObject({ cache: 'MISS', body: 'secret' });
    expect(cache.size).toBe(0);
  });

  it('a 200 with private from a background revalidation removes the stale entry', async () => {
    const { get, clock, cache, responses, origin } = await setup((_r, call, response) =>
      response.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60' }).end(`v${call}`),
    );
    await get('/b');
    origin.script = (_r, _c, response) => response.writeHead(200, { 'cache-control': 'private' }).end('mine');
    clock.advanceSeconds(15);
    expect((await get('/b')).cache).toBe('STALE');
    await responses.whenIdle();
    expect(cache.peekEntry(responses.key({ method: 'GET', url: '/b' }))).toBeUndefined();
    expect(await get('/b')).toMatchObject({ cache: 'MISS', body: 'mine' });
  });
});

describe('a background revalidation that changed nothing leaves no "done" marker', () => {
  const swr = { 'cache-control': 'max-age=10, stale-while-revalidate=600' };

  it('one request that says no-store does not freeze the entry: the cache revalidates without it, and the new version is served', async () => {
    const { get, clock, responses, origin } = await setup((_r, call, response) =>
      response.writeHead(200, swr).end(`v${call}`),
    );
    await get('/h');
    clock.advanceSeconds(20);
    expect(await get('/h', { 'cache-control': 'no-store' })).toMatchObject({ cache: 'STALE', body: 'v1' });
    await responses.whenIdle();
    expect(origin.seen[1]?.headers['cache-control']).toBeUndefined(); // asked on the shared cache's behalf
    clock.advanceSeconds(5);
    expect(await get('/h')).toMatchObject({ cache: 'HIT', body: 'v2' });
  });

  it("a Cookie request's revalidation, not storable for it, is tried again by the next stale answer", async () => {
    const { get, clock, responses, origin } = await setup((_r, call, response) =>
      response.writeHead(200, swr).end(`v${call}`),
    );
    await get('/f');
    clock.advanceSeconds(20);
    expect(await get('/f', { cookie: 'sid=1' })).toMatchObject({ cache: 'STALE', body: 'v1' });
    await responses.whenIdle(); // v2 answered to a Cookie, not marked public: not stored, the entry as it was
    expect(responses.statistics().backgroundFailures).toBe(1);
    clock.advanceSeconds(100); // within the window: an anonymous stale answer revalidates again
    expect(await get('/f')).toMatchObject({ cache: 'STALE', body: 'v1' });
    await responses.whenIdle();
    expect(await get('/f')).toMatchObject({ cache: 'HIT', body: 'v3' });
    expect(origin.seen).toHaveLength(3);
  });

  it('an entry stored from a request with Authorization (public) is revalidated with its credentials', async () => {
    const { get, clock, responses, origin } = await setup((request, call, response) =>
      request.headers.authorization === undefined
        ? response.writeHead(401).end('who are you?')
        : response
            .writeHead(200, { 'cache-control': 'public, max-age=10, stale-while-revalidate=600' })
            .end(`v${call}`),
    );
    await get('/api', { authorization: 'Bearer a' });
    clock.advanceSeconds(20);
    expect(await get('/api', { authorization: 'Bearer a' })).toMatchObject({ cache: 'STALE', body: 'v1' });
    await responses.whenIdle();
    expect(origin.seen[1]?.headers.authorization).toBe('Bearer a');
    expect(await get('/api', { authorization: 'Bearer a' })).toMatchObject({ cache: 'HIT', body: 'v2' });
  });
});

describe('an answer that supersedes the entry removes it, even when the cache cannot hold it', () => {
  it('a new version over maxBodyBytes from a background revalidation removes the stale entry', async () => {
    const { get, clock, cache, responses, origin } = await setup(
      (_r, call, response) =>
        response.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=600' }).end(`v${call}`),
      { maxBodyBytes: 100 },
    );
    await get('/d');
    origin.script = (_r, call, response) =>
      response
        .writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=600' })
        .end(`${'N'.repeat(200)}${call}`);
    clock.advanceSeconds(20);
    expect(await get('/d')).toMatchObject({ cache: 'STALE', body: 'v1' });
    await responses.whenIdle();
    expect(cache.peekEntry(responses.key({ method: 'GET', url: '/d' }))).toBeUndefined();
    const next = await get('/d');
    expect([next.cache, next.body]).toEqual(['MISS', `${'N'.repeat(200)}3`]);
  });

  it('a new version over maxBodyBytes to an expired entry removes it: stale-if-error never answers with the old one', async () => {
    const { get, clock, origin } = await setup(
      (_r, call, response) =>
        response.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=3600' }).end(`v${call}`),
      { maxBodyBytes: 100 },
    );
    await get('/e');
    clock.advanceSeconds(20);
    origin.script = (_r, _c, response) =>
      response.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=3600' }).end('N'.repeat(200));
    expect(await get('/e')).toMatchObject({ status: 200, cache: 'MISS', body: 'N'.repeat(200) });
    origin.script = (_r, _c, response) => response.writeHead(503).end('down');
    expect(await get('/e')).toMatchObject({ status: 503, cache: 'MISS' });
  });

  it("a 404 with no-store to a Cookie request's revalidation removes the entry: the resource is gone for everyone", async () => {
    const { get, clock, responses, origin } = await setup((_r, call, response) =>
      response
        .writeHead(200, { 'cache-control': 'public, max-age=10, stale-while-revalidate=600, stale-if-error=86400' })
        .end(`v${call}`),
    );
    await get('/g', { cookie: 'sid=1' });
    origin.script = (_r, _c, response) => response.writeHead(404, { 'cache-control': 'no-store' }).end('gone');
    clock.advanceSeconds(20);
    expect(await get('/g', { cookie: 'sid=1' })).toMatchObject({ cache: 'STALE', body: 'v1' });
    await responses.whenIdle();
    expect(await get('/g')).toMatchObject({ status: 404, cache: 'MISS', body: 'gone' });
  });
});
