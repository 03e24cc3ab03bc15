/**
 * meshcacheFastify's rules, one Fastify app in process (app.inject) over an in-memory cache on a
 * ManualClock. Across instances and processes, over real HTTP: test/fastify.test.ts.
 */
import { get as httpGet } from 'node:http';
import { type ClientHttp2Session, connect } from 'node:http2';
import { Readable } from 'node:stream';
import type { Cache } from '@meshcache/core';
import { ManualClock, until } from '@meshcache/core/testing';
import { type CachedToken, TokenCache, tokenCache } from '@meshcache/gateway';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import meshcacheFastify, { type ResponseCacheValue } from '../src/index.js';
import { httpGet as httpRequest, listen, NOW, newApp, newManager, setup } from './harness.js';

const cached = (seconds = 60) => `public, max-age=${seconds}`;

/** The header names of every response a cache holds. */
const storedHeaderNames = (cache: Cache<ResponseCacheValue>): string[] =>
  [...cache.keys()].flatMap((key) => {
    const value = cache.peekEntry(key)?.value;
    return value?.kind === 'response' ? Object.keys(value.headers) : [];
  });

describe('hits are answered before the handler runs, as the handler first answered', () => {
  it('an object (serialised as JSON), a string and a Buffer', async () => {
    const { get, clock, count } = await setup((app, called) => {
      app.get('/json', (_request, reply) => {
        reply.header('cache-control', cached());
        return { n: called('json'), items: ['a', 'b'] };
      });
      app.get('/text', (_request, reply) => {
        reply.header('cache-control', cached());
        return `text ${called('text')}`;
      });
      app.get('/bytes', (_request, reply) => {
        reply.header('cache-control', cached());
        reply.send(Buffer.from([0, 1, 2, 255, called('bytes')]));
      });
    });
    for (const [url, type] of [
      ['/json', 'application/json; charset=utf-8'],
      ['/text', 'text/plain; charset=utf-8'],
      ['/bytes', 'application/octet-stream'],
    ] as const) {
      const miss = await get(url);
      clock.advanceSeconds(5);
      const hit = await get(url);
      expect([miss.statusCode, miss.headers['x-cache'], miss.headers['content-type']]).toEqual([200, 'MISS', type]);
      expect([hit.statusCode, hit.headers['x-cache'], hit.headers['content-type'], hit.headers['age']]).toEqual([
        200,
        'HIT',
        type,
        '5',
      ]);
      expect(hit.rawPayload.equals(miss.rawPayload)).toBe(true);
      expect(hit.headers['content-length']).toBe(String(miss.rawPayload.length));
      expect(count(url.slice(1))).toBe(1);
    }
    expect((await get('/json')).json()).toEqual({ n: 1, items: ['a', 'b'] });
  });

  it('a stream is passed on and never stored', async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/stream', (_request, reply) => {
        called('stream');
        reply
          .header('cache-control', cached())
          .type('text/plain')
          .send(Readable.from(['a', 'b', 'c']));
      });
    });
    const answers = [await get('/stream'), await get('/stream')];
    expect(answers.map((a) => [a.statusCode, a.headers['x-cache'], a.body])).toEqual([
      [200, 'MISS', 'abc'],
      [200, 'MISS', 'abc'],
    ]);
    expect(count('stream')).toBe(2);
  });

  it('Age counts from when the response arrived, plus the age it came with', async () => {
    const { get, clock } = await setup((app) => {
      app.get('/aged', (_request, reply) => {
        reply.header('cache-control', 'max-age=60').header('age', '10');
        return 'aged';
      });
    });
    expect((await get('/aged')).headers['age']).toBe('10');
    clock.advanceSeconds(20);
    expect((await get('/aged')).headers['age']).toBe('30');
    clock.advanceSeconds(31);
    expect((await get('/aged')).headers['x-cache']).toBe('MISS'); // 61 s old: past its max-age
  });

  it("the Response Cache's own timeToLiveSeconds bounds a longer max-age (over real HTTP)", async () => {
    const clock = new ManualClock(NOW);
    const manager = newManager(clock.now);
    const cache = manager.addCache<ResponseCacheValue>('Response Cache', { timeToLiveSeconds: 30 });
    const app = newApp();
    await app.register(meshcacheFastify, { cache, clock: clock.now });
    let runs = 0;
    app.get('/long', (_request, reply) => {
      reply.header('cache-control', 'public, max-age=600');
      return `run ${++runs}`;
    });
    const port = await listen(app);
    expect((await httpRequest(port, '/long')).body).toBe('run 1');
    clock.advanceSeconds(29);
    const hit = await httpRequest(port, '/long');
    expect([hit.headers['x-cache'], hit.headers['age'], hit.body]).toEqual(['HIT', '29', 'run 1']);
    clock.advanceSeconds(2);
    const after = await httpRequest(port, '/long');
    expect([after.headers['x-cache'], after.body]).toEqual(['MISS', 'run 2']);
  });
});

describe('only what a shared cache may keep', () => {
  it('never stores no-store or private responses', async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/nostore', (_request, reply) => {
        called('nostore');
        reply.header('cache-control', 'no-store');
        return 'x';
      });
      app.get('/private', (_request, reply) => {
        called('private');
        reply.header('cache-control', 'private, max-age=60');
        return 'x';
      });
    });
    for (const url of ['/nostore', '/private']) {
      const answers = [await get(url), await get(url), await get(url, { 'cache-control': 'only-if-cached' })];
      expect(answers.map((a) => [a.statusCode, a.headers['x-cache']])).toEqual([
        [200, 'MISS'],
        [200, 'MISS'],
        [504, 'MISS'],
      ]);
    }
    expect([count('nostore'), count('private')]).toEqual([2, 2]);
  });

  it('a request with Authorization is stored only when the response says public (or s-maxage, must-revalidate)', async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/mine', (request, reply) => {
        called('mine');
        reply.header('cache-control', 'max-age=60');
        return { for: request.headers.authorization ?? 'nobody' };
      });
      app.get('/shared', (_request, reply) => {
        called('shared');
        reply.header('cache-control', 'public, max-age=60');
        return 'for everyone';
      });
    });
    const alice = { authorization: 'Bearer alice' };
    expect((await get('/mine', alice)).headers['x-cache']).toBe('MISS');
    expect((await get('/mine', alice)).headers['x-cache']).toBe('MISS');
    const anonymous = await get('/mine');
    expect([anonymous.headers['x-cache'], anonymous.json()]).toEqual(['MISS', { for: 'nobody' }]);
    expect(count('mine')).toBe(3);
    expect((await get('/shared', alice)).headers['x-cache']).toBe('MISS');
    expect((await get('/shared', { authorization: 'Bearer bob' })).headers['x-cache']).toBe('HIT');
    expect(count('shared')).toBe(1);
  });

  it("Set-Cookie: not stored by default; with perUserHeaders 'strip', stored without it", async () => {
    const routes = (app: Parameters<Parameters<typeof setup>[0]>[0], called: (name: string) => number) => {
      app.get('/welcome', (_request, reply) => {
        const n = called('welcome');
        reply.header('cache-control', cached()).header('set-cookie', `session=s${n}`);
        return 'welcome';
      });
    };
    const refuse = await setup(routes);
    const first = await refuse.get('/welcome');
    const second = await refuse.get('/welcome');
    expect([first.headers['set-cookie'], second.headers['set-cookie'], second.headers['x-cache']]).toEqual([
      'session=s1',
      'session=s2',
      'MISS',
    ]);
    const strip = await setup(routes, { perUserHeaders: 'strip' });
    expect((await strip.get('/welcome')).headers['set-cookie']).toBe('session=s1'); // the client that caused it
    const hit = await strip.get('/welcome');
    expect([hit.headers['x-cache'], hit.headers['set-cookie']]).toEqual(['HIT', undefined]);
  });

  it("the response's Vary: two Accept-Language values never share an entry", async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/greeting', (request, reply) => {
        called('greeting');
        reply.header('cache-control', cached()).header('vary', 'Accept-Language');
        return { language: request.headers['accept-language'] ?? null };
      });
    });
    const ask = async (language?: string) => {
      const answer = await get('/greeting', language === undefined ? {} : { 'accept-language': language });
      return [answer.headers['x-cache'], answer.json().language];
    };
    expect([await ask('fr'), await ask('de'), await ask('fr'), await ask('de'), await ask()]).toEqual([
      ['MISS', 'fr'],
      ['MISS', 'de'],
      ['HIT', 'fr'],
      ['HIT', 'de'],
      ['MISS', null],
    ]);
    expect(count('greeting')).toBe(3);
  });

  it('keys on the host asked for, unless origin names one for all', async () => {
    const routes = (app: Parameters<Parameters<typeof setup>[0]>[0]) => {
      app.get('/home', (request, reply) => {
        reply.header('cache-control', cached());
        return `home of ${request.headers.host}`;
      });
    };
    const perHost = await setup(routes);
    expect((await perHost.get('/home', { host: 'a.example' })).body).toBe('home of a.example');
    const b = await perHost.get('/home', { host: 'b.example' });
    expect([b.headers['x-cache'], b.body]).toEqual(['MISS', 'home of b.example']);
    const shared = await setup(routes, { origin: 'https://api.example' });
    await shared.get('/home', { host: 'a.example' });
    expect((await shared.get('/home', { host: 'b.example' })).headers['x-cache']).toBe('HIT');
  });
  it('a request it cannot key (a Host that is no host name) goes to the handler, uncached', async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/home', (_request, reply) => {
        called('home');
        reply.header('cache-control', cached());
        return 'home';
      });
    });
    const answers = [await get('/home', { host: 'not a host' }), await get('/home', { host: 'not a host' })];
    expect(answers.map((a) => [a.statusCode, a.body, a.headers['x-cache']])).toEqual([
      [200, 'home', undefined],
      [200, 'home', undefined],
    ]);
    expect(count('home')).toBe(2);
  });
});

describe('which routes', () => {
  it("a route's config.meshcache: false is never cached, and carries no cache header", async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/live', { config: { meshcache: false } }, (_request, reply) => {
        called('live');
        reply.header('cache-control', cached());
        return 'live';
      });
    });
    const answers = [await get('/live'), await get('/live')];
    expect(answers.map((a) => a.headers['x-cache'])).toEqual([undefined, undefined]);
    expect(count('live')).toBe(2);
  });

  it('routePrefix: only routes under it, and routes that opt in with config.meshcache: true', async () => {
    const { get } = await setup(
      (app) => {
        const handler = (_request: unknown, reply: { header(n: string, v: string): void }) => {
          reply.header('cache-control', cached());
          return 'x';
        };
        app.get('/api/orders', handler);
        app.get('/api', handler);
        app.get('/apis', handler);
        app.get('/api-admin', handler);
        app.get('/health', handler);
        app.get('/catalogue', { config: { meshcache: true } }, handler);
      },
      { routePrefix: ['/api'] },
    );
    const second = async (url: string) => {
      await get(url);
      return (await get(url)).headers['x-cache'];
    };
    const urls = ['/api/orders', '/api', '/apis', '/api-admin', '/health', '/catalogue'];
    const answers: unknown[] = [];
    for (const url of urls) answers.push(await second(url));
    // Under '/api' a path segment at a time: not /apis, nor /api-admin.
    expect(answers).toEqual(['HIT', 'HIT', undefined, undefined, undefined, 'HIT']);
  });

  it('registered inside a plugin: that plugin’s routes only (Fastify encapsulation); no route, no cache', async () => {
    const app = newApp();
    const cache = newManager().addCache<ResponseCacheValue>('Response Cache');
    await app.register(
      async (v1) => {
        await v1.register(meshcacheFastify, { cache });
        v1.get('/orders', (_request, reply) => {
          reply.header('cache-control', cached());
          return 'orders';
        });
      },
      { prefix: '/v1' },
    );
    app.get('/root', (_request, reply) => {
      reply.header('cache-control', cached());
      return 'root';
    });
    const twice = async (url: string) => {
      await app.inject(url);
      const answer = await app.inject(url);
      return [answer.statusCode, answer.headers['x-cache']];
    };
    expect([await twice('/v1/orders'), await twice('/root'), await twice('/v1/nothing')]).toEqual([
      [200, 'HIT'],
      [200, undefined],
      [404, undefined],
    ]);
  });

  it('routes registered before the plugin are not its concern', async () => {
    const app = newApp();
    app.get('/early', (_request, reply) => {
      reply.header('cache-control', cached());
      return 'early';
    });
    await app.register(meshcacheFastify, { cache: newManager().addCache<ResponseCacheValue>('Response Cache') });
    await app.inject('/early');
    expect((await app.inject('/early')).headers['x-cache']).toBeUndefined();
  });

  it('cacheHeader names the marker, or false sends none', async () => {
    const routes = (app: Parameters<Parameters<typeof setup>[0]>[0]) => {
      app.get('/x', (_request, reply) => {
        reply.header('cache-control', cached());
        return 'x';
      });
    };
    const named = await setup(routes, { cacheHeader: 'X-Meshcache' });
    await named.get('/x');
    expect((await named.get('/x')).headers['x-meshcache']).toBe('HIT');
    const none = await setup(routes, { cacheHeader: false });
    await none.get('/x');
    const hit = await none.get('/x');
    expect([hit.headers['x-cache'], hit.headers['age']]).toEqual([undefined, '0']);
  });
});

describe('HEAD, unsafe methods, purge by tag', () => {
  it('HEAD is answered from the GET entry, and never stores one itself', async () => {
    const { app, count } = await setup((app, called) => {
      app.get('/doc', (_request, reply) => {
        called('doc');
        reply.header('cache-control', cached());
        return 'the document';
      });
    });
    const head = () => app.inject({ method: 'HEAD', url: '/doc' });
    const cold = await head();
    expect([cold.headers['x-cache'], cold.body]).toEqual(['MISS', '']);
    expect((await app.inject('/doc')).headers['x-cache']).toBe('MISS'); // the HEAD stored nothing
    const hit = await head();
    expect([hit.headers['x-cache'], hit.headers['content-length'], hit.body]).toEqual(['HIT', '12', '']);
    expect(count('doc')).toBe(2);
  });

  it('a successful POST, PUT, PATCH or DELETE removes the GET entry of its URL; a failed one does not', async () => {
    const { app, get } = await setup((app) => {
      app.get('/orders/:id', (_request, reply) => {
        reply.header('cache-control', cached());
        return 'order';
      });
      app.post('/orders/:id', (request, reply) => {
        reply.code((request.body as { ok?: boolean } | undefined)?.ok === false ? 409 : 201);
        return '';
      });
    });
    await get('/orders/1');
    expect((await get('/orders/1')).headers['x-cache']).toBe('HIT');
    await app.inject({ method: 'POST', url: '/orders/1', payload: { ok: false } });
    expect((await get('/orders/1')).headers['x-cache']).toBe('HIT');
    await app.inject({ method: 'POST', url: '/orders/1', payload: { ok: true } });
    expect((await get('/orders/1')).headers['x-cache']).toBe('MISS');
  });

  it('purgeTag removes every response the handler tagged; the tag header never reaches the client', async () => {
    const { app, get } = await setup((app) => {
      app.get('/orders/:id', (request, reply) => {
        const { id } = request.params as { id: string };
        reply.header('cache-control', cached()).header('surrogate-key', `order-${id} orders`);
        return { id };
      });
    });
    const first = await get('/orders/1');
    await get('/orders/2');
    expect(first.headers['surrogate-key']).toBeUndefined();
    expect((await get('/orders/1')).headers['surrogate-key']).toBeUndefined();
    expect(app.responseCache.purgeTag('order-1')).toBe(1);
    expect([(await get('/orders/1')).headers['x-cache'], (await get('/orders/2')).headers['x-cache']]).toEqual([
      'MISS',
      'HIT',
    ]);
    app.responseCache.purgeTag('orders');
    expect((await get('/orders/2')).headers['x-cache']).toBe('MISS');
  });
});

describe('stale entries', () => {
  it('stale-while-revalidate: answered at once, revalidated in the background through the route (a 304 keeps the body)', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const { app, get, clock, count } = await setup((app, called) => {
      app.get('/feed', (request, reply) => {
        const n = called('feed');
        seen.push({ ...request.headers });
        reply.header('cache-control', 'max-age=1, stale-while-revalidate=60').header('etag', '"f1"');
        if (request.headers['if-none-match'] === '"f1"') return reply.code(304).send();
        return `feed ${n}`;
      });
    });
    expect((await get('/feed')).body).toBe('feed 1');
    clock.advanceSeconds(3);
    const stale = await get('/feed');
    expect([stale.headers['x-cache'], stale.headers['age'], stale.body]).toEqual(['STALE', '3', 'feed 1']);
    await app.responseCache.whenIdle();
    expect(count('feed')).toBe(2);
    expect(seen[1]?.['if-none-match']).toBe('"f1"');
    expect(Object.keys(seen[1] ?? {})).not.toContain('x-meshcache-revalidation');
    // A client that sends the header itself gets no such treatment: a hit like any other.
    const forged = await get('/feed', { 'x-meshcache-revalidation': 'guess' });
    expect(forged.headers['x-cache']).toBe('HIT');
    const refreshed = await get('/feed');
    expect([refreshed.headers['x-cache'], refreshed.headers['age'], refreshed.body]).toEqual(['HIT', '0', 'feed 1']);
    expect(app.responseCache.statistics()).toMatchObject({ backgroundRevalidations: 1, backgroundFailures: 0 });
    expect(count('feed')).toBe(2);
  });

  it('stale-if-error: a failing handler gets the stale entry answered instead, within the window only', async () => {
    let failing = false;
    const { get, clock } = await setup((app) => {
      app.get('/flaky', (_request, reply) => {
        if (failing) throw new Error('backend down');
        reply.header('cache-control', 'max-age=1, stale-if-error=60');
        return 'good';
      });
      app.get('/fragile', (_request, reply) => {
        if (failing) throw new Error('backend down');
        reply.header('cache-control', 'max-age=1');
        return 'good';
      });
    });
    await get('/flaky');
    await get('/fragile');
    failing = true;
    clock.advanceSeconds(2);
    const rescued = await get('/flaky');
    expect([rescued.statusCode, rescued.headers['x-cache'], rescued.headers['content-type'], rescued.body]).toEqual([
      200,
      'STALE-IF-ERROR',
      'text/plain; charset=utf-8',
      'good',
    ]);
    expect((await get('/fragile')).statusCode).toBe(500);
    clock.advanceSeconds(60);
    expect((await get('/flaky')).statusCode).toBe(500);
  });

  it('only-if-cached: the stored response or 504, never the handler', async () => {
    const { get, count } = await setup((app, called) => {
      app.get('/orders/9', (_request, reply) => {
        called('orders');
        reply.header('cache-control', cached());
        return 'nine';
      });
    });
    const onlyCached = { 'cache-control': 'only-if-cached' };
    expect((await get('/orders/9', onlyCached)).statusCode).toBe(504);
    expect(count('orders')).toBe(0);
    await get('/orders/9');
    const held = await get('/orders/9', onlyCached);
    expect([held.statusCode, held.headers['x-cache'], held.body]).toEqual([200, 'HIT', 'nine']);
  });
});

describe('what a miss leaves stored', () => {
  it('a handler that throws after setting Cache-Control: its error reply is never stored', async () => {
    let calls = 0;
    const { get, clock } = await setup((app) => {
      app.get('/orders/1', (_request, reply) => {
        calls++;
        reply.header('cache-control', cached()); // set first, as a handler does before awaiting its backends
        if (calls === 1 || calls === 3) throw new Error('backend briefly unavailable');
        return `order, answer ${calls}`;
      });
      app.get('/sent', (_request, reply) => {
        reply.header('cache-control', cached());
        reply.send(new Error('sent, not thrown'));
      });
    });
    const failed = await get('/orders/1');
    expect([failed.statusCode, failed.headers['x-cache']]).toEqual([500, 'MISS']);
    const next = await get('/orders/1');
    expect([next.statusCode, next.headers['x-cache'], next.body]).toEqual([200, 'MISS', 'order, answer 2']);
    expect((await get('/orders/1')).headers['x-cache']).toBe('HIT');
    // Expired (no stale-if-error): the handler throws again; the old entry is neither replaced by the error nor served.
    clock.advanceSeconds(61);
    expect((await get('/orders/1')).statusCode).toBe(500);
    const after = await get('/orders/1');
    expect([after.statusCode, after.headers['x-cache'], after.body]).toEqual([200, 'MISS', 'order, answer 4']);
    // An error handed to reply.send is the same failure.
    expect((await get('/sent')).statusCode).toBe(500);
    expect([(await get('/sent')).statusCode, (await get('/sent')).headers['x-cache']]).toEqual([500, 'MISS']);
  });

  it('an error answered on purpose is stored as cachePolicy says: a 4xx made of an error, or freshness an error handler gave', async () => {
    class NotFound extends Error {
      readonly statusCode = 404;
    }
    const { get, count } = await setup((app, called) => {
      app.setErrorHandler((error: Error, _request, reply) => {
        if (error.message === 'mapped') {
          reply.code(503).header('cache-control', 'max-age=5').send('busy, try later');
        } else reply.send(error);
      });
      app.get('/gone', (_request, reply) => {
        called('gone');
        reply.header('cache-control', cached());
        throw new NotFound('no such order'); // as @fastify/sensible's reply.notFound() answers
      });
      app.get('/busy', (_request, reply) => {
        called('busy');
        reply.header('cache-control', cached());
        throw new Error('mapped');
      });
      app.get('/down', (_request, reply) => {
        called('down');
        reply.header('cache-control', cached());
        throw new Error('backend down'); // the error handler passes it on as it is: a 500
      });
    });
    for (const [url, status] of [
      ['/gone', 404],
      ['/busy', 503],
    ] as const) {
      expect((await get(url)).statusCode).toBe(status);
      const again = await get(url);
      expect([again.statusCode, again.headers['x-cache']]).toEqual([status, 'HIT']);
      expect(count(url.slice(1))).toBe(1);
    }
    await get('/down');
    expect([(await get('/down')).headers['x-cache'], count('down')]).toEqual(['MISS', 2]);
  });

  it('a hit carries no x-cache of the miss: none with cacheHeader false, and what the hit is otherwise', async () => {
    const route = (app: FastifyInstance) => {
      app.get('/quiet', (_request, reply) => {
        reply.header('cache-control', cached());
        return 'quiet';
      });
    };
    const silent = await setup(route, { cacheHeader: false });
    await silent.get('/quiet');
    const hit = await silent.get('/quiet');
    expect([hit.body, hit.headers['age'], hit.headers['x-cache']]).toEqual(['quiet', '0', undefined]);
    expect(storedHeaderNames(silent.cache)).toContain('cache-control');
    expect(storedHeaderNames(silent.cache)).not.toContain('x-cache');
    const marked = await setup(route, { cacheHeader: 'X-Edge' });
    await marked.get('/quiet');
    expect(storedHeaderNames(marked.cache)).toContain('cache-control');
    expect(storedHeaderNames(marked.cache)).not.toContain('x-edge');
    expect((await marked.get('/quiet')).headers['x-edge']).toBe('HIT');
  });

  it('a response with no body and no Content-Type (a redirect) is answered without one on a hit', async () => {
    const { get } = await setup((app) => {
      app.get('/old', (_request, reply) => {
        reply.header('cache-control', cached()).redirect('/new', 301);
      });
    });
    const miss = await get('/old');
    const hit = await get('/old');
    expect([miss.statusCode, miss.headers['content-type'], miss.headers['location']]).toEqual([301, undefined, '/new']);
    expect([
      hit.statusCode,
      hit.headers['x-cache'],
      hit.headers['content-type'],
      hit.headers['location'],
      hit.body,
    ]).toEqual([301, 'HIT', undefined, '/new', '']);
  });
});

describe('the response as it went out', () => {
  it('a hook that changes the headers after the plugin copied the response (a late Set-Cookie): nothing is stored', async () => {
    const { get, count } = await setup((app, called) => {
      // An onRoute plugin registered after meshcacheFastify: its onSend runs after the plugin's.
      app.addHook('onRoute', (route) => {
        const own = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
        route.onSend = [
          ...own,
          (_request, reply, payload, done) => {
            reply.header('set-cookie', 'session=late');
            done(null, payload);
          },
        ];
      });
      app.get('/page', (_request, reply) => {
        called('page');
        reply.header('cache-control', cached());
        return 'page';
      });
    });
    const answers = [await get('/page'), await get('/page')];
    expect(answers.map((a) => [a.headers['x-cache'], a.headers['set-cookie']])).toEqual([
      ['MISS', 'session=late'],
      ['MISS', 'session=late'],
    ]);
    expect(count('page')).toBe(2);
  });

  it('what hooks before it add (an instance onSend hook) is part of the stored response', async () => {
    const { get } = await setup(
      (app) => {
        app.get('/page', (_request, reply) => {
          reply.header('cache-control', cached());
          return 'page';
        });
      },
      {},
      (app) => {
        app.addHook('onSend', (_request, reply, payload, done) => {
          if (reply.getHeader('x-stamp') === undefined) reply.header('x-stamp', 'stamped');
          done(null, payload);
        });
      },
    );
    await get('/page');
    const hit = await get('/page');
    expect([hit.headers['x-cache'], hit.headers['x-stamp']]).toEqual(['HIT', 'stamped']);
  });

  it('over HTTP/2 (Fastify http2: true): stored, then answered as a hit (its :status pseudo-header is no change)', async () => {
    const server = { http2: true } as unknown as FastifyServerOptions;
    const { app, count } = await setup(
      (app, called) => {
        app.get('/page', (_request, reply) => {
          called('page');
          reply.header('cache-control', cached());
          return 'page';
        });
      },
      {},
      undefined,
      server,
    );
    const port = await listen(app);
    const client = connect(`http://127.0.0.1:${port}`);
    try {
      const answers = [await http2Get(client, '/page'), await http2Get(client, '/page')];
      expect(answers).toEqual([
        { status: 200, cache: 'MISS', body: 'page' },
        { status: 200, cache: 'HIT', body: 'page' },
      ]);
      expect(count('page')).toBe(1);
    } finally {
      client.close();
    }
  });

  it('counts what it answered in responseCache.statistics()', async () => {
    const { app, get } = await setup((app) => {
      app.get('/x', (_request, reply) => {
        reply.header('cache-control', cached());
        return 'x';
      });
    });
    await get('/x');
    await get('/x');
    await get('/x');
    expect(app.responseCache.statistics()).toMatchObject({ served: { HIT: 2, MISS: 1 }, stored: 1, notStored: 0 });
  });

  it('counts a MISS whose client went away before its stream ended (over real HTTP)', async () => {
    // Counted in onResponse, which Fastify runs only once a response finished, such a MISS was
    // never counted: statistics() said nothing of the requests that held a stream open (helper-128).
    const streams: Readable[] = [];
    const { app } = await setup((app) => {
      app.get('/forever', (_request, reply) => {
        const body = new Readable({
          read() {
            this.push('x'.repeat(1024));
          },
        });
        streams.push(body);
        reply.header('cache-control', cached()).type('text/plain').send(body);
      });
    });
    const port = await listen(app);
    await new Promise<void>((resolve, reject) => {
      const outgoing = httpGet({ host: '127.0.0.1', port, path: '/forever' }, (incoming) => {
        incoming.once('data', () => {
          outgoing.destroy();
          resolve();
        });
      });
      outgoing.on('error', (error) => (outgoing.destroyed ? resolve() : reject(error)));
    });
    await until(() => streams[0]?.destroyed, 'the server to see the client go');
    expect(app.responseCache.statistics()).toMatchObject({ served: { MISS: 1 }, stored: 0 });
  });

  it('counts a request it lets through as BYPASS, as handle() does (it counted none: helper-123 found BYPASS always 0)', async () => {
    const { app, get } = await setup((app) => {
      app.get('/x', (_request, reply) => {
        reply.header('cache-control', cached());
        return 'x';
      });
      app.post('/x', () => 'posted');
      app.delete('/x', () => 'deleted');
    });
    await get('/x');
    expect((await app.inject({ method: 'POST', url: '/x' })).body).toBe('posted');
    expect((await app.inject({ method: 'DELETE', url: '/x' })).body).toBe('deleted');
    expect(app.responseCache.statistics()).toMatchObject({ served: { MISS: 1, BYPASS: 2 } });
  });

  it('counts a GET it cannot key (a Host that is no host name) as BYPASS: it answered it uncounted', async () => {
    const { app, get } = await setup((app) => {
      app.get('/x', (_request, reply) => {
        reply.header('cache-control', cached());
        return 'x';
      });
    });
    for (const host of ['localhost:80/x#', 'evil.example@localhost:80']) {
      const answer = await get('/x', { host });
      expect([answer.statusCode, answer.headers['x-cache']]).toEqual([200, undefined]);
    }
    expect(app.responseCache.statistics()).toMatchObject({ served: { HIT: 0, MISS: 0, BYPASS: 2 }, stored: 0 });
  });
});

describe('the tokenCache decorator', () => {
  it('gives handlers (request.tokenCache) and the instance (fastify.tokenCache) one TokenCache', async () => {
    const manager = newManager();
    const fetched: Array<Record<string, string>> = [];
    const app = newApp();
    await app.register(meshcacheFastify, {
      cache: manager.addCache<ResponseCacheValue>('Response Cache'),
      tokens: {
        cache: manager.addCache<CachedToken>('service tokens'),
        dimensions: ['tenant'],
        // The auth server: answers a token per tenant.
        fetchToken: async (dimensions) => {
          fetched.push({ ...dimensions });
          return { status: 200, body: { access_token: `tok-${dimensions['tenant']}`, expires_in: 3600 } };
        },
      },
    });
    app.get('/call', async (request) => ({
      token: await request.tokenCache.get({ tenant: String(request.headers['x-tenant']) }),
    }));
    const call = async (tenant: string) => (await app.inject({ url: '/call', headers: { 'x-tenant': tenant } })).json();
    expect([await call('acme'), await call('acme'), await call('globex')]).toEqual([
      { token: 'tok-acme' },
      { token: 'tok-acme' },
      { token: 'tok-globex' },
    ]);
    expect(fetched).toEqual([{ tenant: 'acme' }, { tenant: 'globex' }]);
    expect(app.tokenCache).toBeInstanceOf(TokenCache);
    expect(app.tokenCache.statistics()).toMatchObject({ hits: 1, misses: 2 });
  });

  it('takes a TokenCache made elsewhere; without one, reading the decorator is a clear error', async () => {
    const manager = newManager();
    const tokens = tokenCache({
      cache: manager.addCache<CachedToken>('service tokens'),
      dimensions: ['tenant'],
      fetchToken: async () => ({ status: 200, body: { access_token: 'tok', expires_in: 3600 } }),
    });
    const app = newApp();
    await app.register(meshcacheFastify, { cache: manager.addCache<ResponseCacheValue>('Responses'), tokens });
    expect(app.tokenCache).toBe(tokens);

    const bare = await setup((app) => {
      app.get('/call', async (request) => ({ token: await request.tokenCache.get({ tenant: 'acme' }) }));
    });
    expect(() => bare.app.tokenCache).toThrow(/no token cache/);
    const answer = await bare.get('/call');
    expect([answer.statusCode, answer.json().message]).toEqual([500, expect.stringMatching(/no token cache/)]);
  });
});

describe('options', () => {
  it.each([
    [{}, /options\.cache must be a meshcache Cache/],
    [{ includeBody: true }, /includeBody is not supported/],
    [{ routePrefix: 'api' }, /options\.routePrefix must be a path/],
    [{ cacheHeader: 'bad header' }, /options\.cacheHeader must be a header name/],
    [{ defaultTtlSeconds: -1 }, /defaultTtlSeconds must be a finite number/],
    // Read by no one, a misspelt option left nothing cached, without a word.
    [
      { defaultTTLSeconds: 60 },
      /^meshcacheFastify: options\.defaultTTLSeconds is not an option; the options are cache, /,
    ],
    [{ bogus: 1 }, /options\.bogus is not an option; the options are .*routePrefix, cacheHeader, tokens$/],
  ])('%j is refused with E_INVALID_ARGUMENT naming the option', async (options, message) => {
    const cache = newManager().addCache<ResponseCacheValue>('Response Cache');
    const given = Object.keys(options).length > 0;
    // A RegExp given as a property to toMatchObject matches any string: an asymmetric matcher does not.
    await expect(
      newApp().register(meshcacheFastify, { ...(given ? { cache } : {}), ...options } as never),
    ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(message) });
  });
});

describe('options Fastify reads itself', () => {
  it('a prefix, logLevel and logSerializers given to register() are taken, and the plugin caches as without them', async () => {
    const cache = newManager().addCache<ResponseCacheValue>('Response Cache');
    const app = newApp();
    let calls = 0;
    await app.register(meshcacheFastify, { cache, prefix: '/v1', logLevel: 'warn', logSerializers: {} } as never);
    app.get('/thing', async (_request, reply) => {
      calls++;
      reply.header('cache-control', 'public, max-age=60');
      return { calls };
    });
    const first = await app.inject({ method: 'GET', url: '/thing' });
    const second = await app.inject({ method: 'GET', url: '/thing' });
    expect([first.headers['x-cache'], second.headers['x-cache'], calls]).toEqual(['MISS', 'HIT', 1]);
    await app.close();
  });
});

describe('a request cannot store its answer under another URL (poisoning found by an attack)', () => {
  const routes = (app: FastifyInstance, count: (name: string) => number) => {
    app.get<{ Params: { id: string } }>('/products/:id', async (request, reply) => {
      count('product');
      reply.header('cache-control', 'public, max-age=600');
      return `product ${request.params.id}`;
    });
    app.get<{ Params: { '*': string } }>('/search/*', async (request, reply) => {
      count('search');
      reply.header('cache-control', 'public, max-age=600');
      return `<script>results for ${request.params['*']}</script>`;
    });
  };

  it('a Host with a path, a fragment or credentials in it is answered, not cached, and keys nothing', async () => {
    const { get, count } = await setup(routes);
    for (const host of ['localhost:80/products/1#', 'localhost:80#', 'localhost:80?x', 'evil.example@localhost:80']) {
      expect((await get('/search/xss', { host })).statusCode).toBe(200);
    }
    const victim = await get('/products/1', { host: 'localhost:80' });
    expect([victim.headers['x-cache'], victim.body]).toEqual(['MISS', 'product 1']);
    expect(count('search')).toBe(4);
  });

  it('a path with dot-segments is keyed as written, not as the path it resolves to (over a real socket)', async () => {
    const { app, count } = await setup(routes);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    // A real request line: Fastify's inject resolves dot-segments before the router sees them.
    const get = (path: string) =>
      new Promise<{ body: string; cache: string | undefined }>((resolve, reject) => {
        // Options, not a URL string: a URL would resolve the dot-segments here.
        const { hostname, port } = new URL(address);
        const request = httpGet({ hostname, port, path }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          response.on('end', () => resolve({ body, cache: response.headers['x-cache'] as string | undefined }));
        });
        request.on('error', reject);
      });
    const attack = await get('/search/%2e%2e/products/42');
    expect(attack.body).toBe('<script>results for ../products/42</script>');
    expect((await get('/search/%2e%2e/products/42')).cache).toBe('HIT'); // under its own key
    expect(await get('/products/42')).toEqual({ body: 'product 42', cache: 'MISS' });
    expect(count('product')).toBe(1);
    // A fragment in the target: the router reads what follows it as the query, the key would not.
    await get('/search/q#&x=evil');
    expect((await get('/search/q')).cache).toBe('MISS');
  });

  it("a ';' before the query is not cached: under useSemicolonDelimiter the query starts there, where the key's sort does not", async () => {
    // Fastify reads `/q;x=1?a=1&b=2` as x="1?a=1", b="2" and `/q;x=1?b=2&a=1` as x="1?b=2", a="1";
    // the key sorted the parameters after '?', so the second was answered with the first's
    // response (helper-128's attack, over a real socket).
    const { app, count } = await setup(
      (app, called) => {
        app.get('/q', async (request, reply) => {
          called('q');
          reply.header('cache-control', 'public, max-age=600');
          return request.query;
        });
      },
      {},
      undefined,
      // Fastify's types do not list it under routerOptions yet (the top-level option is deprecated).
      { routerOptions: { useSemicolonDelimiter: true } } as FastifyServerOptions,
    );
    const port = await listen(app);
    const first = await httpRequest(port, '/q;x=1?a=1&b=2');
    const second = await httpRequest(port, '/q;x=1?b=2&a=1');
    expect([first.body, second.body]).toEqual(['{"x":"1?a=1","b":"2"}', '{"x":"1?b=2","a":"1"}']);
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual([undefined, undefined]);
    // A ';' with no query after it, or a query with no ';' before it, is cached as before.
    await httpRequest(port, '/q;x=1&y=2');
    await httpRequest(port, '/q?b=2&a=1');
    expect((await httpRequest(port, '/q;x=1&y=2')).headers['x-cache']).toBe('HIT');
    expect((await httpRequest(port, '/q?a=1&b=2')).headers['x-cache']).toBe('HIT');
    expect(count('q')).toBe(4);
    expect(app.responseCache.statistics().served).toMatchObject({ HIT: 2, MISS: 2, BYPASS: 2 });
  });

  it('keys the host as sent: spellings of one host are apart (a host-constrained route is not answered by another)', async () => {
    const { get } = await setup((app) => {
      app.get('/', async (request, reply) => {
        reply.header('cache-control', 'public, max-age=600');
        return `host ${request.host}`;
      });
    });
    expect((await get('/', { host: 'LOCALHOST:80' })).body).toBe('host LOCALHOST:80');
    const plain = await get('/', { host: 'localhost:80' });
    expect([plain.headers['x-cache'], plain.body]).toEqual(['MISS', 'host localhost:80']);
    expect((await get('/', { host: 'localhost:80' })).headers['x-cache']).toBe('HIT');
  });
});

/** A GET over HTTP/2 on `client`: its status, its x-cache and its body. */
function http2Get(
  client: ClientHttp2Session,
  path: string,
): Promise<{ status: unknown; cache: unknown; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ':path': path });
    let status: unknown;
    let cache: unknown;
    let body = '';
    stream.on('response', (headers) => {
      status = headers[':status'];
      cache = headers['x-cache'];
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve({ status, cache, body }));
    stream.on('error', reject);
    stream.end();
  });
}
