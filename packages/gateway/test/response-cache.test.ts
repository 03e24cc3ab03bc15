/**
 * The ResponseCache engine on one instance, with a ManualClock shared by the cache manager and
 * the engine, and an in-process origin (a function that answers by a script and records every
 * request it got). Across instances, with real processes and real HTTP: test/gateway.test.ts.
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualClock, until } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type KeyedRequest,
  type ResponseCacheOptions,
  type ResponseCacheValue,
  responseCache,
  responseCacheKey,
  type StoredResponse,
  type UpstreamResponse,
} from '../src/index.js';

const NOW = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');

type Answer = (request: KeyedRequest, call: number) => UpstreamResponse | Promise<UpstreamResponse>;

/** The origin: answers with `answer`, counts calls, keeps the requests it saw. */
class Origin {
  readonly seen: KeyedRequest[] = [];
  constructor(public answer: Answer) {}
  readonly fetch = async (request: KeyedRequest): Promise<UpstreamResponse> => {
    this.seen.push(request);
    return this.answer(request, this.seen.length);
  };
  get calls(): number {
    return this.seen.length;
  }
}

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
});

function setup(answer: Answer, options: Partial<ResponseCacheOptions> = {}) {
  const clock = new ManualClock(NOW);
  const manager = new CacheManager({ clock: clock.now });
  managers.push(manager);
  const cache = manager.addCache<ResponseCacheValue>('Response Cache', { maxElementsInMemory: 1000 });
  const responses = responseCache({ cache, clock: clock.now, ...options });
  const origin = new Origin(answer);
  const get = (url: string, headers: Record<string, string> = {}) =>
    responses.handle({ method: 'GET', url: `https://api.example${url}`, headers }, origin.fetch);
  return { clock, cache, responses, origin, get };
}

const ok = (headers: Record<string, string>, body = 'body'): UpstreamResponse => ({ status: 200, headers, body });

describe('the response Vary: secondary keys (RFC 9111 section 4.1)', () => {
  it('keeps one entry per Accept-Language; identical requests share it, others never get it', async () => {
    const { get, origin } = setup((request) =>
      ok(
        { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
        `hello in ${request.headers?.['accept-language'] ?? 'nothing'}`,
      ),
    );
    const en1 = await get('/greeting', { 'accept-language': 'en' });
    const fr1 = await get('/greeting', { 'accept-language': 'fr' });
    const en2 = await get('/greeting', { 'Accept-Language': 'en' });
    const fr2 = await get('/greeting', { 'accept-language': 'fr' });
    const none = await get('/greeting');
    expect([en1, fr1, en2, fr2, none].map((r) => [r.cache, r.body])).toEqual([
      ['MISS', 'hello in en'],
      ['MISS', 'hello in fr'],
      ['HIT', 'hello in en'],
      ['HIT', 'hello in fr'],
      ['MISS', 'hello in nothing'],
    ]);
    expect(origin.calls).toBe(3);
  });

  it("keys on the cookie when the origin varies on it: one user never gets another user's answer", async () => {
    const { get, origin } = setup((request) =>
      ok({ 'cache-control': 'max-age=60', vary: 'Cookie' }, `account of ${request.headers?.['cookie']}`),
    );
    expect((await get('/me', { cookie: 'session=alice' })).body).toBe('account of session=alice');
    const bob = await get('/me', { cookie: 'session=bob' });
    expect([bob.cache, bob.body]).toEqual(['MISS', 'account of session=bob']);
    const alice = await get('/me', { cookie: 'session=alice' });
    expect([alice.cache, alice.body]).toEqual(['HIT', 'account of session=alice']);
    expect(origin.calls).toBe(2);
  });

  it("the caller's vary list is always in the key, with the response's Vary on top", async () => {
    const { get, origin } = setup(
      (request) =>
        ok(
          { 'cache-control': 'max-age=60', vary: 'Accept' },
          `${request.headers?.['x-tenant']} ${request.headers?.['accept']}`,
        ),
      { vary: ['x-tenant'] },
    );
    await get('/orders', { 'x-tenant': 'acme', accept: 'json' });
    const globex = await get('/orders', { 'x-tenant': 'globex', accept: 'json' });
    expect([globex.cache, globex.body]).toEqual(['MISS', 'globex json']);
    expect((await get('/orders', { 'x-tenant': 'acme', accept: 'json' })).body).toBe('acme json');
    expect((await get('/orders', { 'x-tenant': 'acme', accept: 'xml' })).cache).toBe('MISS');
    expect(origin.calls).toBe(3);
  });

  it('serves a stored response only to requests with its own Vary values, whatever the key led to it', async () => {
    const { get, cache, responses } = setup(() => ok({ 'cache-control': 'max-age=60' }, 'for anyone'));
    const request = { method: 'GET', url: 'https://api.example/x', headers: { cookie: 'session=bob' } };
    await get('/x'); // stored at the primary key, varying on nothing
    const stored = cache.peekEntry(responses.key(request))?.value as StoredResponse;
    // as if another writer had put alice's variant where bob's request leads
    cache.put(responses.key(request), { ...stored, vary: { cookie: 'session=alice' }, body: 'alice only' });
    expect(responses.lookup(request)).toEqual({ state: 'miss', reason: 'another variant (Vary)' });
    expect(responses.lookup({ ...request, headers: { cookie: 'session=alice' } })).toMatchObject({ state: 'hit' });
  });

  it('a new Vary list starts a new generation: variants of the old list are never served again', async () => {
    let vary = 'Accept-Language';
    const { get } = setup((request) =>
      ok(
        { 'cache-control': 'max-age=60', vary },
        `${request.headers?.['accept-language']}/${request.headers?.['accept']}`,
      ),
    );
    expect((await get('/page', { 'accept-language': 'en', accept: 'json' })).body).toBe('en/json');
    expect((await get('/page', { 'accept-language': 'en', accept: 'xml' })).cache).toBe('HIT'); // it said: language only
    vary = 'Accept'; // the origin changes its mind
    expect((await get('/page', { 'accept-language': 'de', accept: 'json' })).cache).toBe('MISS');
    const after = await get('/page', { 'accept-language': 'en', accept: 'json' });
    expect([after.cache, after.body]).toEqual(['HIT', 'de/json']); // the newest response: varies on Accept only
    const xml = await get('/page', { 'accept-language': 'en', accept: 'xml' });
    expect([xml.cache, xml.body]).toEqual(['MISS', 'en/xml']); // the en/json variant is gone with its generation
  });
});

describe('per-user headers and credentials', () => {
  it('never stores a response that sets a cookie: each user gets their own, from the origin', async () => {
    const { get, origin, cache } = setup((_request, call) => ({
      status: 200,
      headers: { 'cache-control': 'public, max-age=60', 'set-cookie': `session=s${call}` },
      body: `welcome, visitor ${call}`,
    }));
    const first = await get('/welcome');
    const second = await get('/welcome');
    expect([first.cache, first.headers['set-cookie'], first.body]).toEqual([
      'MISS',
      'session=s1',
      'welcome, visitor 1',
    ]);
    expect([second.cache, second.headers['set-cookie'], second.body]).toEqual([
      'MISS',
      'session=s2',
      'welcome, visitor 2',
    ]);
    expect(origin.calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it("with perUserHeaders 'strip', stores the response without its Set-Cookie", async () => {
    const { get } = setup(
      () => ({ status: 200, headers: { 'cache-control': 'max-age=60', 'set-cookie': 'session=s1' }, body: 'news' }),
      { perUserHeaders: 'strip' },
    );
    expect((await get('/news')).headers['set-cookie']).toBe('session=s1'); // the one it was meant for
    const hit = await get('/news');
    expect([hit.cache, hit.headers['set-cookie']]).toEqual(['HIT', undefined]);
  });

  it('does not store an answer to a request with a cookie unless the origin marks it shareable', async () => {
    const { get, origin } = setup((request) =>
      ok({ 'cache-control': 'max-age=60' }, `for ${request.headers?.['cookie']}`),
    );
    expect((await get('/dashboard', { cookie: 'session=alice' })).body).toBe('for session=alice');
    const bob = await get('/dashboard', { cookie: 'session=bob' });
    expect([bob.cache, bob.body]).toEqual(['MISS', 'for session=bob']);
    expect(origin.calls).toBe(2);
  });
});

describe('Age (RFC 9111 section 4.2.3)', () => {
  it('sends Age on hits, counting the upstream Age and the time held here', async () => {
    const { get, clock } = setup(() => ok({ 'cache-control': 'max-age=60', age: '20' }));
    expect((await get('/a')).headers['age']).toBe('20'); // passed on from upstream
    clock.advanceSeconds(15);
    const hit = await get('/a');
    expect([hit.cache, hit.headers['age']]).toEqual(['HIT', '35']);
  });

  it('takes the upstream Age off freshness: a response 50 s old with max-age=60 is stale 10 s later', async () => {
    const { get, clock, origin } = setup(() => ok({ 'cache-control': 'max-age=60', age: '50' }));
    await get('/a');
    clock.advanceSeconds(9);
    expect((await get('/a')).cache).toBe('HIT');
    clock.advanceSeconds(2);
    expect((await get('/a')).cache).toBe('MISS');
    expect(origin.calls).toBe(2);
  });
});

describe("the cache's own timeToLiveSeconds", () => {
  it('bounds how long anything is kept, as maxStoreSeconds does: a longer max-age or stale window does not outlive it', async () => {
    // Every entry is put with a TTL of its own, which replaces the cache's: a Response Cache
    // configured with timeToLiveSeconds 30 kept a max-age=600 response for 600 s and more
    // (helper-128's review).
    const clock = new ManualClock(NOW);
    const manager = new CacheManager({ clock: clock.now });
    managers.push(manager);
    const cache = manager.addCache<ResponseCacheValue>('Response Cache', { timeToLiveSeconds: 30 });
    const responses = responseCache({ cache, clock: clock.now });
    const origin = new Origin(() =>
      ok({ 'cache-control': 'max-age=600, stale-if-error=3600', 'surrogate-key': 'a', vary: 'accept' }),
    );
    const get = () => responses.handle({ method: 'GET', url: 'https://api.example/a', headers: {} }, origin.fetch);
    await get();
    responses.purgeTag('other');
    clock.advanceSeconds(29);
    expect((await get()).cache).toBe('HIT');
    // Each entry (the response, its Vary marker, the purge marker) lives at most the cache's TTL.
    expect(cache.keys().map((key) => cache.peekEntry(key)?.timeToLiveSeconds)).toEqual([30, 30, 30]);
    clock.advanceSeconds(2);
    expect((await get()).cache).toBe('MISS');
    expect(origin.calls).toBe(2);
  });

  it('an eternal cache, or one without a TTL, leaves maxStoreSeconds the bound', async () => {
    for (const config of [{ eternal: true, timeToLiveSeconds: 30 }, {}]) {
      const clock = new ManualClock(NOW);
      const manager = new CacheManager({ clock: clock.now });
      managers.push(manager);
      const cache = manager.addCache<ResponseCacheValue>('Response Cache', config);
      const responses = responseCache({ cache, clock: clock.now, maxStoreSeconds: 900 });
      await responses.handle({ method: 'GET', url: 'https://api.example/a', headers: {} }, async () =>
        ok({ 'cache-control': 'max-age=600' }),
      );
      expect(cache.keys().map((key) => cache.peekEntry(key)?.timeToLiveSeconds)).toEqual([600]);
    }
  });
});

describe('revalidation (RFC 9111 section 4.3)', () => {
  it('revalidates a stale entry with If-None-Match; a 304 refreshes it and the stored body is served', async () => {
    const { get, clock, origin } = setup((_request, call) =>
      call === 1
        ? ok({ 'cache-control': 'max-age=10', etag: '"v1"', 'content-type': 'text/plain' }, 'the body')
        : { status: 304, headers: { 'cache-control': 'max-age=30', etag: '"v1"' } },
    );
    await get('/doc');
    clock.advanceSeconds(11);
    const revalidated = await get('/doc');
    expect(origin.seen[1]?.headers?.['if-none-match']).toBe('"v1"');
    expect(revalidated).toMatchObject({ cache: 'REVALIDATED', status: 200, body: 'the body' });
    expect(revalidated.headers).toMatchObject({
      'cache-control': 'max-age=30',
      'content-type': 'text/plain',
      age: '0',
    });
    clock.advanceSeconds(29);
    expect((await get('/doc')).cache).toBe('HIT'); // fresh for the 304's 30 s
    expect(origin.calls).toBe(2);
  });

  it('a 304 without a Date is as old as its own arrival, not as the response it refreshes', async () => {
    let date = '';
    const { get, clock } = setup((_request, call) => {
      if (call === 1) date = new Date(clock.now()).toUTCString();
      return call === 1
        ? ok({ 'cache-control': 'max-age=10', etag: '"v1"', date }, 'the body')
        : { status: 304, headers: { 'cache-control': 'max-age=30', etag: '"v1"' } };
    });
    await get('/doc');
    clock.advanceSeconds(11);
    const revalidated = await get('/doc');
    expect(revalidated.headers).toMatchObject({ age: '0', date: new Date(clock.now()).toUTCString() });
    clock.advanceSeconds(5);
    expect((await get('/doc')).headers).toMatchObject({ age: '5' });
  });

  it("uses If-Modified-Since for Last-Modified, and replaces the client's own conditions", async () => {
    const lastModified = 'Sat, 21 Nov 2026 10:00:00 GMT';
    const { get, clock, origin } = setup((_r, call) =>
      call === 1 ? ok({ 'cache-control': 'max-age=1', 'last-modified': lastModified }) : { status: 304, headers: {} },
    );
    await get('/doc');
    clock.advanceSeconds(2);
    expect((await get('/doc', { 'If-None-Match': '"mine"' })).cache).toBe('REVALIDATED');
    expect(origin.seen[1]?.headers).toEqual({ 'if-modified-since': lastModified });
  });

  it("revalidates a Range request for the whole representation: the client's Range never reaches the origin without its If-Range", async () => {
    const { get, clock, origin } = setup((_request, call) =>
      call === 1
        ? ok({ 'cache-control': 'max-age=10', etag: '"v1"' }, 'v1-head-tail')
        : ok({ 'cache-control': 'max-age=10', etag: '"v2"' }, 'v2-head-tail'),
    );
    await get('/file');
    clock.advanceSeconds(11);
    const resumed = await get('/file', { range: 'bytes=5-', 'if-range': '"v1"' });
    expect(origin.seen[1]?.headers).not.toHaveProperty('range');
    expect(origin.seen[1]?.headers?.['if-none-match']).toBe('"v1"');
    expect([resumed.status, resumed.body]).toEqual([200, 'v2-head-tail']); // the whole new version
    expect((await get('/file')).cache).toBe('HIT'); // and it is kept
  });

  it('asks again without conditions when the 304 names another representation', async () => {
    const { get, clock, origin } = setup((_r, call) =>
      call === 1
        ? ok({ 'cache-control': 'max-age=1', etag: '"v1"' }, 'old')
        : call === 2
          ? { status: 304, headers: { etag: '"v2"' } }
          : ok({ 'cache-control': 'max-age=60', etag: '"v2"' }, 'new'),
    );
    await get('/doc');
    clock.advanceSeconds(2);
    const answer = await get('/doc');
    expect([answer.cache, answer.body]).toEqual(['MISS', 'new']);
    expect(origin.seen[2]?.headers?.['if-none-match']).toBeUndefined();
  });

  it('revalidates a fresh entry when the request says no-cache, or its max-age is exceeded', async () => {
    const { get, clock, origin } = setup(() => ok({ 'cache-control': 'max-age=60', etag: '"a"' }));
    await get('/doc');
    origin.answer = () => ({ status: 304, headers: {} });
    expect((await get('/doc', { 'cache-control': 'no-cache' })).cache).toBe('REVALIDATED');
    expect((await get('/doc', { pragma: 'no-cache' })).cache).toBe('REVALIDATED');
    clock.advanceSeconds(5);
    expect((await get('/doc', { 'cache-control': 'max-age=10' })).cache).toBe('HIT');
    expect((await get('/doc', { 'cache-control': 'max-age=2' })).cache).toBe('REVALIDATED');
    expect(origin.calls).toBe(4);
  });

  it('answers only-if-cached from the cache or with 504, never from the origin (RFC 9111 section 5.2.1.7)', async () => {
    const { get, clock, origin } = setup(() => ok({ 'cache-control': 'max-age=10, stale-while-revalidate=10' }));
    const onlyIfCached = { 'cache-control': 'only-if-cached' };
    expect(await get('/doc', onlyIfCached)).toMatchObject({ status: 504, cache: 'MISS' });
    await get('/doc');
    expect(await get('/doc', onlyIfCached)).toMatchObject({ status: 200, cache: 'HIT' });
    clock.advanceSeconds(15);
    expect(await get('/doc', onlyIfCached)).toMatchObject({ status: 200, cache: 'STALE' });
    clock.advanceSeconds(10);
    expect(await get('/doc', onlyIfCached)).toMatchObject({ status: 504 });
    expect(origin.calls).toBe(1);
  });

  it('removes the entry when the fresh answer may no longer be kept', async () => {
    const { get, clock, cache } = setup((_r, call) =>
      call === 1 ? ok({ 'cache-control': 'max-age=1, stale-if-error=600' }) : ok({ 'cache-control': 'no-store' }),
    );
    await get('/doc');
    clock.advanceSeconds(2);
    expect((await get('/doc')).cache).toBe('MISS');
    expect(cache.size).toBe(0); // so no stale-if-error answer can come from it later
  });
});

describe('stale-while-revalidate and stale-if-error (RFC 5861)', () => {
  it('serves stale at once and revalidates in the background, once for many requests', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { get, clock, origin, responses } = setup((_r, call) =>
      call === 1
        ? ok({ 'cache-control': 'max-age=10, stale-while-revalidate=30' }, 'v1')
        : gate.then(() => ok({ 'cache-control': 'max-age=10, stale-while-revalidate=30' }, 'v2')),
    );
    await get('/feed');
    clock.advanceSeconds(15);
    const stale = await Promise.all([get('/feed'), get('/feed'), get('/feed')]);
    expect(stale.map((r) => [r.cache, r.body, r.headers['age']])).toEqual([
      ['STALE', 'v1', '15'],
      ['STALE', 'v1', '15'],
      ['STALE', 'v1', '15'],
    ]);
    release();
    await responses.whenIdle();
    expect(origin.calls).toBe(2);
    const fresh = await get('/feed');
    expect([fresh.cache, fresh.body]).toEqual(['HIT', 'v2']);
    expect(responses.statistics()).toMatchObject({ backgroundRevalidations: 1, backgroundFailures: 0 });
  });

  it('past the window, without validators, the entry is gone: a miss', async () => {
    const { get, clock } = setup(() => ok({ 'cache-control': 'max-age=10, stale-while-revalidate=30' }));
    await get('/feed');
    clock.advanceSeconds(41);
    expect((await get('/feed')).cache).toBe('MISS');
  });

  it('keeps serving stale when the background revalidation fails, and counts the failure', async () => {
    const { get, clock, origin, responses } = setup((_r, call) =>
      call === 1
        ? ok({ 'cache-control': 'max-age=10, stale-while-revalidate=30' }, 'v1')
        : { status: 503, headers: {} },
    );
    await get('/feed');
    clock.advanceSeconds(12);
    expect((await get('/feed')).cache).toBe('STALE');
    await responses.whenIdle();
    expect((await get('/feed')).body).toBe('v1');
    await responses.whenIdle();
    expect(responses.statistics().backgroundFailures).toBe(2);
    expect(origin.calls).toBe(3);
  });

  it('answers stale when the origin fails (an exception, or 500/502/503/504) within stale-if-error', async () => {
    const { get, clock, origin } = setup(() => ok({ 'cache-control': 'max-age=10, stale-if-error=60' }, 'kept'));
    await get('/status');
    clock.advanceSeconds(20);
    origin.answer = () => {
      throw new Error('ECONNREFUSED');
    };
    const thrown = await get('/status');
    expect([thrown.cache, thrown.body, thrown.headers['age']]).toEqual(['STALE-IF-ERROR', 'kept', '20']);
    origin.answer = () => ({ status: 503, headers: {}, body: 'busy' });
    expect((await get('/status')).cache).toBe('STALE-IF-ERROR');
    clock.advanceSeconds(51); // 71 s old: 61 s stale, past the window
    const late = await get('/status');
    expect([late.status, late.cache, late.body]).toEqual([503, 'MISS', 'busy']);
    origin.answer = () => {
      throw new Error('ECONNREFUSED');
    };
    await expect(get('/status')).rejects.toThrow('ECONNREFUSED');
  });

  it('never answers stale for must-revalidate, nor when the request demanded validation', async () => {
    const { get, clock, origin } = setup(() =>
      ok({ 'cache-control': 'max-age=10, must-revalidate, stale-if-error=60, stale-while-revalidate=60' }),
    );
    await get('/ledger');
    clock.advanceSeconds(20);
    origin.answer = () => ({ status: 503, headers: {} });
    expect((await get('/ledger')).status).toBe(503);
    const { get: get2, origin: origin2 } = setup(() => ok({ 'cache-control': 'max-age=60, stale-if-error=60' }));
    await get2('/ledger');
    origin2.answer = () => ({ status: 503, headers: {} });
    expect((await get2('/ledger', { 'cache-control': 'no-cache' })).status).toBe(503);
  });
});

describe('the steps, for a caller whose origin is its own route handler', () => {
  it('staleIfError answers an expired lookup within its window; countServed and revalidateInBackground feed statistics and whenIdle', async () => {
    const { clock, responses } = setup(() => ok({}));
    const request: KeyedRequest = { method: 'GET', url: 'https://api.example/status', headers: {} };
    responses.store(request, ok({ 'cache-control': 'max-age=10, stale-if-error=60' }, 'kept'), {
      requestTime: clock.now(),
    });
    clock.advanceSeconds(20);
    const found = responses.lookup(request);
    if (found.state !== 'expired') throw new Error(`expected an expired entry, got ${found.state}`);
    const stale = responses.staleIfError(found);
    expect([stale?.cache, stale?.body, stale?.headers['age']]).toEqual(['STALE-IF-ERROR', 'kept', '20']);
    expect(responses.staleIfError({ ...found, forced: true })).toBeUndefined();
    clock.advanceSeconds(51);
    expect(responses.lookup(request).state).toBe('miss'); // 61 s stale: kept no longer than it can be used

    responses.countServed('HIT');
    responses.countServed('MISS');
    expect(responses.statistics().served).toMatchObject({ HIT: 1, MISS: 1, 'STALE-IF-ERROR': 0 });

    const swr = { ...request, url: 'https://api.example/feed' };
    responses.store(swr, ok({ 'cache-control': 'max-age=1, stale-while-revalidate=60' }, 'v1'), {
      requestTime: clock.now(),
    });
    clock.advanceSeconds(2);
    const staleFeed = responses.lookup(swr);
    if (staleFeed.state !== 'stale') throw new Error(`expected a stale entry, got ${staleFeed.state}`);
    void responses.revalidateInBackground(swr, staleFeed, async () => ok({ 'cache-control': 'max-age=60' }, 'v2'));
    await responses.whenIdle(); // waits for a revalidation the caller started, too
    expect(responses.lookup(swr)).toMatchObject({ state: 'hit', response: { body: 'v2' } });
  });
});

describe('a target with a fragment', () => {
  it('is not cached: a router may read what follows # as the query, which the key leaves out', async () => {
    const { responses, origin } = setup(() => ok({ 'cache-control': 'max-age=600' }, 'answer'));
    const request = { method: 'GET', url: '/search#&q=evil', headers: { host: 'api.example' } };
    expect(responses.lookup(request)).toMatchObject({ state: 'bypass' });
    expect((await responses.handle(request, origin.fetch)).cache).toBe('BYPASS');
    expect(responses.lookup({ ...request, url: '/search' }).state).toBe('miss');
  });
});

describe('keys', () => {
  it('remembers recent keys without ever mixing two requests up', () => {
    const { responses } = setup(() => ok({}), { vary: ['x-tenant'] });
    const requests: KeyedRequest[] = [
      { method: 'GET', url: '/a', headers: { host: 'one.example' } },
      { method: 'GET', url: '/a', headers: { host: 'two.example' } },
      { method: 'HEAD', url: '/a', headers: { host: 'one.example' } },
      { method: 'GET', url: '/a', headers: { host: 'one.example', 'x-tenant': 'acme' } },
      { method: 'GET', url: '/a', headers: { host: 'one.example', 'X-Tenant': 'globex' } },
      // Parts that would run together without their lengths: "/a" + "b.example" and "/ab" + ".example".
      { method: 'GET', url: '/a', headers: { host: 'b.example' } },
      { method: 'GET', url: '/ab', headers: { host: '.example' } },
      { method: 'GET', url: 'https://one.example/a', headers: {} },
      // Past what it remembers (about 1 KiB of signature): keyed anew each time, the same key.
      { method: 'GET', url: `/${'x'.repeat(4000)}`, headers: { host: 'one.example', 'x-tenant': 'y'.repeat(4000) } },
      { method: 'GET', url: `/${'x'.repeat(4000)}`, headers: { host: 'one.example', 'x-tenant': 'z'.repeat(4000) } },
    ];
    for (let round = 0; round < 2; round++) {
      const keys = requests.map((request) => responses.key(request));
      expect(keys).toEqual(requests.map((request) => responseCacheKey(request, { vary: ['x-tenant'] })));
      expect(new Set(keys).size).toBe(requests.length);
    }
  });
});

describe('purge by tag (surrogate keys)', () => {
  const tagged = (request: KeyedRequest) => {
    const path = new URL(request.url).pathname;
    const tags = path.startsWith('/products/1') ? 'product-1 catalogue' : 'product-2, catalogue';
    return ok({ 'cache-control': 'max-age=600', 'surrogate-key': tags }, path);
  };

  it('removes every response carrying the tag; others stay; the tag header never reaches clients', async () => {
    const { get, responses, origin } = setup(tagged);
    for (const path of ['/products/1', '/products/1/reviews', '/products/2']) {
      expect((await get(path)).headers['surrogate-key']).toBeUndefined();
    }
    expect(responses.purgeTag('product-1')).toBe(2);
    expect((await get('/products/2')).cache).toBe('HIT');
    expect((await get('/products/1')).cache).toBe('MISS');
    expect((await get('/products/1/reviews')).cache).toBe('MISS');
    expect(responses.purgeTag('catalogue')).toBe(3);
    expect(origin.calls).toBe(5);
  });

  /** A response held, purged a second later, then put back as a replicated copy still on its way would be. */
  const purgedThenArrived = async () => {
    const held = setup(tagged);
    await held.get('/products/1');
    const [key] = held.cache.keys().filter((k) => !k.startsWith('purge:'));
    const late = held.cache.peekEntry(key as string)?.value as StoredResponse;
    held.clock.advanceSeconds(1);
    held.responses.purgeTag('product-1');
    held.cache.put(key as string, late, { timeToLiveSeconds: 600 });
    return { ...held, key: key as string };
  };

  it('an entry stored before the purge that arrives after it (from a peer) is a miss too', async () => {
    const { get, clock } = await purgedThenArrived();
    clock.advanceSeconds(1);
    expect((await get('/products/1')).cache).toBe('MISS');
    expect((await get('/products/1')).cache).toBe('HIT'); // stored after the purge: kept
  });

  it('a response the origin made before a purge but that is stored after it is a miss (it was in flight)', async () => {
    const tagged = (body: string) => ok({ 'cache-control': 'max-age=600', 'surrogate-key': 'product-1' }, body);
    let release: (() => void) | undefined;
    const { get, responses, clock } = setup((_request, call) =>
      call === 1
        ? new Promise<UpstreamResponse>((resolve) => {
            release = () => resolve(tagged('price v1'));
          })
        : tagged('price v2'),
    );
    const inFlight = get('/products/1');
    await until(() => release !== undefined, 'the request to reach the origin');
    clock.advanceSeconds(1);
    responses.purgeTag('product-1'); // the price changed while the old one was on its way
    clock.advanceSeconds(1);
    release?.();
    expect((await inFlight).body).toBe('price v1'); // answers its own request
    const next = await get('/products/1');
    expect([next.cache, next.body]).toEqual(['MISS', 'price v2']);
  });

  it('a purged entry leaves the cache when it is found purged (evicting the marker would bring it back)', async () => {
    const { responses, cache, key } = await purgedThenArrived(); // still held, hidden by the marker
    expect(responses.lookup({ method: 'GET', url: 'https://api.example/products/1' })).toMatchObject({
      state: 'miss',
      reason: 'purged by tag',
    });
    expect(cache.peekEntry(key)).toBeUndefined();
  });

  it('stale-if-error does not answer with an entry purged while the origin was asked', async () => {
    const { get, responses, clock } = setup((_request, call) =>
      call === 1
        ? ok({ 'cache-control': 'max-age=10, stale-if-error=3600', 'surrogate-key': 'price' }, 'old price')
        : (() => {
            responses.purgeTag('price');
            return { status: 503, headers: {}, body: 'down' };
          })(),
    );
    await get('/price');
    clock.advanceSeconds(20);
    const answer = await get('/price');
    expect([answer.status, answer.body]).toEqual([503, 'down']);
  });

  it('refuses a tag that is empty or holds a separator', () => {
    const { responses } = setup(tagged);
    for (const bad of ['', ' ', 'a b', 'a,b']) expect(() => responses.purgeTag(bad)).toThrow(/purgeTag: a tag is/);
  });
});

describe('methods and invalidation', () => {
  it('passes other methods through, and a successful unsafe request invalidates the URL (RFC 9111 section 4.4)', async () => {
    const { get, responses, origin } = setup((request) =>
      request.method === 'GET' ? ok({ 'cache-control': 'max-age=60' }, 'order') : { status: 204, headers: {} },
    );
    await get('/orders/1');
    expect((await get('/orders/1')).cache).toBe('HIT');
    const post = await responses.handle(
      { method: 'POST', url: 'https://api.example/orders/1', body: '{}' },
      origin.fetch,
    );
    expect(post.cache).toBe('BYPASS');
    expect((await get('/orders/1')).cache).toBe('MISS');
  });

  it('keeps a body larger than maxBodyBytes out of the cache', async () => {
    const { get, responses } = setup(() => ok({ 'cache-control': 'max-age=60' }, 'x'.repeat(11)), { maxBodyBytes: 10 });
    await get('/big');
    expect((await get('/big')).cache).toBe('MISS');
    expect(responses.statistics()).toMatchObject({ stored: 0, notStored: 2 });
  });

  it("checks each store's own time and response, its options being checked once, at construction", () => {
    const { responses } = setup(() => ok({}));
    const request: KeyedRequest = { method: 'GET', url: 'https://api.example/a', headers: {} };
    expect(() => responses.store(request, ok({ 'cache-control': 'max-age=60' }), { requestTime: Number.NaN })).toThrow(
      /options.requestTime must be a finite number >= 0, got NaN/,
    );
    expect(() => responses.store(request, { status: 200, headers: null } as never, { requestTime: NOW })).toThrow(
      /response.headers must be an object/,
    );
    expect(responses.store(request, ok({ 'cache-control': 'max-age=60' }), { requestTime: NOW })).toMatchObject({
      cacheable: true,
    });
  });

  it('refuses bad options with an error naming the option', () => {
    const clock = new ManualClock(NOW);
    const manager = new CacheManager({ clock: clock.now });
    managers.push(manager);
    const cache = manager.addCache<ResponseCacheValue>('c');
    expect(() => responseCache({ cache, methods: [] })).toThrow(/options.methods must be a non-empty array/);
    expect(() => responseCache({ cache, maxBodyBytes: -1 })).toThrow(/options.maxBodyBytes must be an integer >= 0/);
    expect(() => responseCache({ cache, revalidationWindowSeconds: Number.NaN })).toThrow(
      /responseCache: options.revalidationWindowSeconds/,
    );
    expect(() => responseCache({ cache: {} as never })).toThrow(/options.cache must be a meshcache Cache/);
    // A TTL of 0 means "never expires" in meshcache: entries, Vary and purge markers would stay for good.
    expect(() => responseCache({ cache, maxStoreSeconds: 0 })).toThrow(
      /responseCache: options.maxStoreSeconds must be a number of seconds > 0/,
    );
    // A misspelt option was read by no one: nothing was cached, and nothing said why.
    expect(() => responseCache({ cache, defaultTTLSeconds: 60 } as never)).toThrow(
      /^responseCache: options\.defaultTTLSeconds is not an option; the options are cache, methods, .*, defaultTtlSeconds, /,
    );
  });
});

describe('a response the cache cannot carry', () => {
  it('is served and not stored when the replicated cache refuses its size, and the next request fetches again', async () => {
    const { cache, origin, get } = setup(() => ok({ 'cache-control': 'max-age=60' }, 'b'.repeat(5000)), {
      maxBodyBytes: 1_000_000,
    });
    replicaPortOf(cache).requireEncodableValues('replicates to peers', 4000); // as replication bounds a value
    const first = await get('/large');
    expect(first).toMatchObject({ status: 200, body: 'b'.repeat(5000) });
    expect(cache.size).toBe(0);
    await get('/large');
    expect(origin.calls).toBe(2);
  });
});
