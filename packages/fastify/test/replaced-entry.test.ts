/**
 * When a route's answer to an expired (or forcibly revalidated) entry is not stored, the entry goes
 * only when the route's own answer forbids keeping it: a client's no-cache during a 503, or its
 * no-store, removed a fresh entry (on every instance) and its stale-if-error (found by a review).
 * Real HTTP on 127.0.0.1, a manual clock.
 */

import { Readable } from 'node:stream';
import { until } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { httpGet, leaveMidBody, listen, setup } from './harness.js';

describe('an answer that is not stored, and the entry it replaces', () => {
  it("a client's no-cache while the route answers 503 leaves the fresh entry, and its stale-if-error", async () => {
    let down = false;
    const { app, clock } = await setup((app) => {
      app.get('/home', async (_request, reply) => {
        if (down) return reply.code(503).send('down');
        reply.header('cache-control', 'public, max-age=600, stale-if-error=3600');
        return 'good';
      });
    });
    const port = await listen(app);
    expect((await httpGet(port, '/home')).headers['x-cache']).toBe('MISS');
    down = true;
    const reload = await httpGet(port, '/home', { 'cache-control': 'no-cache' });
    expect([reload.status, reload.headers['x-cache']]).toEqual([503, 'MISS']);
    const other = await httpGet(port, '/home');
    expect([other.status, other.headers['x-cache'], other.body]).toEqual([200, 'HIT', 'good']);
    clock.advanceSeconds(700);
    const later = await httpGet(port, '/home');
    expect([later.status, later.headers['x-cache'], later.body]).toEqual([200, 'STALE-IF-ERROR', 'good']);
  });

  /**
   * GET /feed, cached as 'old' (max-age=60, stale-if-error=3600) and now expired; then answered
   * with what `body()` makes (`toStream`), or a 503 (`goDown`).
   */
  async function expiredFeed(body: () => Readable) {
    let answer: 'string' | 'stream' | 'down' = 'string';
    const { app, clock, cache } = await setup((app) => {
      app.get('/feed', async (_request, reply) => {
        if (answer === 'down') return reply.code(503).send('down');
        reply.header('cache-control', 'public, max-age=60, stale-if-error=3600');
        return answer === 'string' ? 'old' : reply.type('text/plain').send(body());
      });
    });
    const port = await listen(app);
    expect((await httpGet(port, '/feed')).headers['x-cache']).toBe('MISS');
    clock.advanceSeconds(120);
    return {
      app,
      cache,
      port,
      toStream: () => {
        answer = 'stream';
      },
      goDown: () => {
        answer = 'down';
      },
    };
  }

  it('a stream answered for an expired entry replaces it: the old version no longer answers as stale-if-error', async () => {
    const { cache, port, toStream, goDown } = await expiredFeed(() => Readable.from(['new']));
    toStream();
    const streamed = await httpGet(port, '/feed');
    expect([streamed.status, streamed.headers['x-cache'], streamed.body]).toEqual([200, 'MISS', 'new']);
    expect(cache.size).toBe(0);
    goDown();
    const failed = await httpGet(port, '/feed');
    expect([failed.status, failed.headers['x-cache'], failed.body]).toEqual([503, 'MISS', 'down']);
  });

  it('a stream answered for an expired entry replaces it also when its client leaves mid-stream (found by a review: store() never ran, and the old version stayed)', async () => {
    const streams: Readable[] = [];
    const { app, cache, port, toStream, goDown } = await expiredFeed(() => {
      const body = new Readable({
        read() {
          this.push('x'.repeat(1024));
        },
      });
      streams.push(body);
      return body;
    });
    toStream();
    await leaveMidBody(port, '/feed');
    await until(() => streams[0]?.destroyed, 'the server to see the client go');
    await until(() => app.responseCache.statistics().notStored === 1, 'the stream to be settled');
    expect(cache.size).toBe(0);
    goDown();
    const failed = await httpGet(port, '/feed');
    expect([failed.status, failed.headers['x-cache'], failed.body]).toEqual([503, 'MISS', 'down']);
  });

  it('a stream answered for an expired entry that fails mid-way leaves the entry: a failure removes nothing, and stale-if-error answers next', async () => {
    // A proxied upstream that sends its headers and some bytes, then breaks.
    const { app, cache, port, toStream, goDown } = await expiredFeed(
      () =>
        new Readable({
          read() {
            this.push('partial');
            setImmediate(() => this.destroy(new Error('the upstream connection broke')));
          },
        }),
    );
    toStream();
    await httpGet(port, '/feed').catch(() => undefined); // the response is cut short
    await until(() => app.responseCache.statistics().notStored === 1, 'the broken stream to be settled');
    expect(cache.size).toBe(1);
    goDown();
    const stale = await httpGet(port, '/feed');
    expect([stale.status, stale.headers['x-cache'], stale.body]).toEqual([200, 'STALE-IF-ERROR', 'old']);
  });

  it('a failing stream answered with the stale entry instead is destroyed, not left open (a proxied 503 body, a file)', async () => {
    const failing: Readable[] = [];
    let down = false;
    const { app, clock } = await setup((app) => {
      app.get('/feed', async (_request, reply) => {
        reply.header('cache-control', 'public, max-age=60, stale-if-error=3600');
        if (!down) return 'old';
        // A body that would hold its source (an upstream connection, a file descriptor) until read or destroyed.
        const body = new Readable({ read() {} });
        failing.push(body);
        return reply.code(503).type('text/plain').send(body);
      });
    });
    const port = await listen(app);
    expect((await httpGet(port, '/feed')).body).toBe('old');
    clock.advanceSeconds(120);
    down = true;
    for (let i = 0; i < 2; i++) {
      const stale = await httpGet(port, '/feed');
      expect([stale.status, stale.headers['x-cache'], stale.body]).toEqual([200, 'STALE-IF-ERROR', 'old']);
    }
    expect(failing.map((body) => body.destroyed)).toEqual([true, true]);
  });

  it("a client's no-cache, no-store runs the route and removes nothing", async () => {
    const { app, cache, count } = await setup((app, called) => {
      app.get('/x', async (_request, reply) => {
        reply.header('cache-control', 'public, max-age=600');
        return `answer ${called('x')}`;
      });
    });
    const port = await listen(app);
    await httpGet(port, '/x');
    expect((await httpGet(port, '/x', { 'cache-control': 'no-cache, no-store' })).body).toBe('answer 2');
    expect(cache.size).toBe(1);
    expect(await httpGet(port, '/x')).toMatchObject({ body: 'answer 1', headers: { 'x-cache': 'HIT' } });
    expect(count('x')).toBe(2);
  });

  it('a route that now answers no-store removes the entry it replaces', async () => {
    let secret = false;
    const { app, cache } = await setup((app) => {
      app.get('/a', async (_request, reply) => {
        reply.header('cache-control', secret ? 'no-store' : 'public, max-age=600, stale-if-error=3600');
        return secret ? 'secret' : 'public';
      });
    });
    const port = await listen(app);
    await httpGet(port, '/a');
    secret = true;
    expect((await httpGet(port, '/a', { 'cache-control': 'no-cache' })).body).toBe('secret');
    expect(cache.size).toBe(0);
  });

  it("a Cookie request's background revalidation, not storable for it, leaves no marker: the next stale answer revalidates", async () => {
    const { app, clock, count } = await setup((app, called) => {
      app.get('/s', async (_request, reply) => {
        reply.header('cache-control', 'max-age=10, stale-while-revalidate=600');
        return `v${called('s')}`;
      });
    });
    const port = await listen(app);
    await httpGet(port, '/s');
    clock.advanceSeconds(20);
    expect(await httpGet(port, '/s', { cookie: 'a=1' })).toMatchObject({ body: 'v1', headers: { 'x-cache': 'STALE' } });
    await app.responseCache.whenIdle(); // v2, answered to a Cookie and not public: not stored
    clock.advanceSeconds(100);
    expect(await httpGet(port, '/s')).toMatchObject({ body: 'v1', headers: { 'x-cache': 'STALE' } });
    await app.responseCache.whenIdle();
    expect(await httpGet(port, '/s')).toMatchObject({ body: 'v3', headers: { 'x-cache': 'HIT' } });
    expect(count('s')).toBe(3);
  });

  it("a no-store request's background revalidation runs the route without its Cache-Control, and stores the new version", async () => {
    const seen: unknown[] = [];
    const { app, clock } = await setup((app, called) => {
      app.get('/n', async (request, reply) => {
        seen.push(request.headers['cache-control']);
        reply.header('cache-control', 'max-age=10, stale-while-revalidate=600');
        return `v${called('n')}`;
      });
    });
    const port = await listen(app);
    await httpGet(port, '/n');
    clock.advanceSeconds(20);
    expect(await httpGet(port, '/n', { 'cache-control': 'no-store' })).toMatchObject({
      headers: { 'x-cache': 'STALE' },
    });
    await app.responseCache.whenIdle();
    expect(seen).toEqual([undefined, undefined]);
    expect(await httpGet(port, '/n')).toMatchObject({ body: 'v2', headers: { 'x-cache': 'HIT' } });
  });
});
