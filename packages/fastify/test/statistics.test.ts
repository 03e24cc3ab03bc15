/**
 * `app.responseCache.statistics()` counts every MISS the plugin answers once in `stored` or
 * `notStored`. Found by a review: store() counts what it is given, but the plugin gave it nothing
 * for an error reply it keeps out, a response a later hook changed, a HEAD, an only-if-cached 504,
 * a hijacked reply or one whose client left mid-stream, and counted them nowhere, so stored +
 * notStored fell short of served.MISS. Over real HTTP on 127.0.0.1.
 */
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { until } from '@meshcache/core/testing';
import type { ResponseCacheStatistics } from '@meshcache/gateway';
import { describe, expect, it } from 'vitest';
import { leaveMidBody, listen, setup } from './harness.js';

/** A request over real HTTP; answers the status and the x-cache marker once the body has ended. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; cache: string | undefined }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (incoming) => {
      incoming.resume();
      incoming.on('error', reject);
      incoming.on('end', () =>
        resolve({ status: incoming.statusCode ?? 0, cache: incoming.headers['x-cache'] as string | undefined }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

const counts = (s: ResponseCacheStatistics) => ({
  miss: s.served.MISS,
  stored: s.stored,
  notStored: s.notStored,
  staleIfError: s.served['STALE-IF-ERROR'],
});

describe('statistics: every MISS in stored or notStored', () => {
  it('each kind of answer moves exactly the counters it should, and stored + notStored is MISS (over real HTTP)', async () => {
    const streams: Readable[] = [];
    let sieCalls = 0;
    const { app, clock, manager } = await setup((app) => {
      // An onRoute plugin registered after meshcacheFastify: its onSend runs after the plugin's.
      app.addHook('onRoute', (route) => {
        if (route.url !== '/late') return;
        const own = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
        route.onSend = [
          ...own,
          (_request, reply, payload, done) => {
            reply.header('x-late', 'changed after the copy');
            done(null, payload);
          },
        ];
      });
      const fresh = 'public, max-age=60';
      app.get('/fresh', (_request, reply) => {
        reply.header('cache-control', fresh);
        return 'fresh';
      });
      app.get('/private', (_request, reply) => {
        reply.header('cache-control', 'private, max-age=60');
        return 'mine';
      });
      app.get('/late', (_request, reply) => {
        reply.header('cache-control', fresh);
        return 'late';
      });
      app.get('/throws', async (_request, reply) => {
        reply.header('cache-control', fresh);
        throw new Error('the backend went away');
      });
      app.get('/head', (_request, reply) => {
        reply.header('cache-control', fresh);
        return 'head';
      });
      app.get('/nothing-yet', (_request, reply) => {
        reply.header('cache-control', fresh);
        return 'never asked';
      });
      app.get('/hijack', (_request, reply) => {
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'text/plain', 'cache-control': fresh });
        reply.raw.end('raw');
      });
      app.get('/stream', (_request, reply) => {
        reply
          .header('cache-control', fresh)
          .type('text/plain')
          .send(Readable.from(['a', 'b']));
      });
      app.get('/forever', (_request, reply) => {
        const body = new Readable({
          read() {
            this.push('x'.repeat(1024));
          },
        });
        streams.push(body);
        reply.header('cache-control', fresh).type('text/plain').send(body);
      });
      app.get('/sie', (_request, reply) => {
        sieCalls++;
        if (sieCalls > 1) return reply.code(503).send('down');
        reply.header('cache-control', 'public, max-age=1, stale-if-error=600');
        return 'kept for errors';
      });
      app.get('/closing', async (_request, reply) => {
        await manager.shutdown();
        reply.header('cache-control', fresh);
        return 'the cache closed meanwhile';
      });
    });
    const port = await listen(app);
    const expected = { miss: 0, stored: 0, notStored: 0, staleIfError: 0 };
    /** Waits until the answer is settled (after it went out, in onResponse), then compares exactly. */
    const settled = async (what: string, change: Partial<typeof expected>) => {
      for (const [name, by] of Object.entries(change)) expected[name as keyof typeof expected] += by;
      await until(() => {
        const now = counts(app.responseCache.statistics());
        return now.stored + now.notStored >= expected.stored + expected.notStored && now.miss >= expected.miss;
      }, `${what} to be counted`);
      expect(counts(app.responseCache.statistics()), what).toEqual(expected);
    };

    expect(await send(port, 'GET', '/fresh')).toEqual({ status: 200, cache: 'MISS' });
    await settled('a storable answer', { miss: 1, stored: 1 });
    expect(await send(port, 'GET', '/fresh')).toEqual({ status: 200, cache: 'HIT' });
    await settled('a hit', {});
    expect(await send(port, 'GET', '/private')).toEqual({ status: 200, cache: 'MISS' });
    await settled('an answer cachePolicy refuses', { miss: 1, notStored: 1 });
    expect(await send(port, 'GET', '/late')).toEqual({ status: 200, cache: 'MISS' });
    await settled('an answer a later hook changed', { miss: 1, notStored: 1 });
    expect(await send(port, 'GET', '/throws')).toEqual({ status: 500, cache: 'MISS' });
    await settled('an error reply', { miss: 1, notStored: 1 });
    expect(await send(port, 'HEAD', '/head')).toEqual({ status: 200, cache: 'MISS' });
    await settled('a HEAD', { miss: 1, notStored: 1 });
    expect(await send(port, 'GET', '/nothing-yet', { 'cache-control': 'only-if-cached' })).toEqual({
      status: 504,
      cache: 'MISS',
    });
    await settled('an only-if-cached 504', { miss: 1, notStored: 1 });
    // Written to reply.raw: the marker the plugin set on the reply never goes out.
    expect(await send(port, 'GET', '/hijack')).toEqual({ status: 200, cache: undefined });
    await settled('a hijacked reply', { miss: 1, notStored: 1 });
    expect(await send(port, 'GET', '/stream')).toEqual({ status: 200, cache: 'MISS' });
    await settled('a stream', { miss: 1, notStored: 1 });
    await leaveMidBody(port, '/forever');
    await until(() => streams[0]?.destroyed, 'the server to see the client go');
    await settled('a stream whose client left', { miss: 1, notStored: 1 });
    expect(await send(port, 'GET', '/sie')).toEqual({ status: 200, cache: 'MISS' });
    await settled('an answer kept for stale-if-error', { miss: 1, stored: 1 });
    clock.advance(5_000);
    expect(await send(port, 'GET', '/sie')).toEqual({ status: 200, cache: 'STALE-IF-ERROR' });
    await settled('a stale-if-error answer, which is no MISS', { staleIfError: 1 });
    expect(await send(port, 'GET', '/closing')).toEqual({ status: 200, cache: 'MISS' });
    await settled('an answer the closed cache could not take', { miss: 1, notStored: 1 });

    const last = app.responseCache.statistics();
    expect(last.stored + last.notStored).toBe(last.served.MISS);
  });
});

describe('statistics: served counts the answers clients got', () => {
  it('a 304 from the route to a background revalidation counts in stored and backgroundRevalidations, not in served.REVALIDATED (over real HTTP)', async () => {
    const { app, clock } = await setup((app) => {
      app.get('/feed', (request, reply) => {
        reply.header('cache-control', 'public, max-age=10, stale-while-revalidate=30').header('etag', '"v1"');
        if (request.headers['if-none-match'] === '"v1"') return reply.code(304).send();
        return 'v1';
      });
    });
    const port = await listen(app);
    expect(await send(port, 'GET', '/feed')).toEqual({ status: 200, cache: 'MISS' });
    await until(() => app.responseCache.statistics().stored === 1, 'the MISS to be stored');
    clock.advance(15_000);
    expect(await send(port, 'GET', '/feed')).toEqual({ status: 200, cache: 'STALE' });
    await app.responseCache.whenIdle();
    expect(await send(port, 'GET', '/feed')).toEqual({ status: 200, cache: 'HIT' }); // the 304 refreshed it
    const counted = app.responseCache.statistics();
    expect(counted.served).toEqual({ HIT: 1, STALE: 1, 'STALE-IF-ERROR': 0, REVALIDATED: 0, MISS: 1, BYPASS: 0 });
    expect(counted).toMatchObject({ stored: 2, notStored: 0, backgroundRevalidations: 1, backgroundFailures: 0 });
  });
});

describe('a payload a later hook rewrote', () => {
  it('is not stored when only its bytes changed (not its status or headers): counted notStored, warned once per route (over real HTTP)', async () => {
    const warnings: Array<{ fields: object; message: string | undefined }> = [];
    const logger = {
      debug: () => {},
      info: () => {},
      error: () => {},
      warn: (fields: object, message?: string) => warnings.push({ fields, message }),
    };
    const handled: Record<string, number> = {};
    const { app } = await setup(
      (app) => {
        // An onRoute plugin registered after meshcacheFastify: its onSend runs after the plugin's,
        // and rewrites the payload alone (Fastify sets Content-Length after every onSend hook).
        app.addHook('onRoute', (route) => {
          const own = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
          route.onSend = [
            ...own,
            (request, _reply, payload, done) => {
              const text = typeof payload === 'string' ? payload : String(payload);
              if (request.url === '/longer') return done(null, `${text} and a footer`);
              if (request.url === '/same-length') return done(null, text.replace('nonce-1111', 'nonce-2222'));
              if (request.url === '/copied') return done(null, Buffer.from(text)); // the same bytes, another object
              done(null, payload);
            },
          ];
        });
        for (const path of ['/longer', '/same-length', '/copied', '/untouched']) {
          app.get(path, (_request, reply) => {
            handled[path] = (handled[path] ?? 0) + 1;
            reply.header('cache-control', 'public, max-age=60').type('text/plain');
            return 'page with nonce-1111';
          });
        }
      },
      { logger },
    );
    const port = await listen(app);
    const twice = async (path: string) => {
      const first = await send(port, 'GET', path);
      await until(() => {
        const s = app.responseCache.statistics();
        return s.stored + s.notStored === s.served.MISS;
      }, `${path} to be settled`);
      return [first.cache, (await send(port, 'GET', path)).cache];
    };
    expect(await twice('/longer')).toEqual(['MISS', 'MISS']);
    expect(await twice('/same-length')).toEqual(['MISS', 'MISS']);
    expect(await twice('/copied')).toEqual(['MISS', 'HIT']);
    expect(await twice('/untouched')).toEqual(['MISS', 'HIT']);
    expect(handled).toEqual({ '/longer': 2, '/same-length': 2, '/copied': 1, '/untouched': 1 });
    await until(() => {
      const s = app.responseCache.statistics();
      return s.stored + s.notStored === s.served.MISS;
    }, 'every MISS to be settled');
    const counted = app.responseCache.statistics();
    expect([counted.served.MISS, counted.served.HIT, counted.stored, counted.notStored]).toEqual([6, 2, 2, 4]);
    const routes = warnings
      .filter((warning) => warning.message?.includes('changed the response') === true)
      .map((warning) => (warning.fields as { route?: string }).route);
    expect(routes).toEqual(['/longer', '/same-length']);
  });
});
