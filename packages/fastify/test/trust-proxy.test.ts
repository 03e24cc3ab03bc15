/**
 * Behind a proxy the app trusts (`trustProxy`), the key is the forwarded scheme and host, as the
 * handler sees them, and a background revalidation is seen by the route as the client's request
 * was. Found by a review: a forwarded host that differed from Host (nginx's default proxy_pass)
 * made every request unkeyable, so nothing was cached; and the revalidation, injected from
 * 127.0.0.1, was not trusted, so the route built an http answer stored under the https key.
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { httpGet, listen, setup } from './harness.js';

const PROXY = '10.9.8.7';
const viaProxy = { host: 'backend-pool', 'x-forwarded-host': 'api.example', 'x-forwarded-proto': 'https' };

/** A route whose answer names the scheme and host it was asked for, as handlers that build links do. */
const listRoute = (app: FastifyInstance, called: (name: string) => number) => {
  app.get('/list', (request, reply) => {
    called('list');
    reply.header('cache-control', 'public, max-age=1, stale-while-revalidate=60');
    return `next: ${request.protocol}://${request.host}/list?page=2`;
  });
};

describe('with trustProxy', () => {
  it('a forwarded host that differs from Host is keyed and cached (over real HTTP, from a trusted 127.0.0.1)', async () => {
    const { app, count, cache } = await setup(
      (app, called) => {
        app.get('/p', (request, reply) => {
          called('p');
          reply.header('cache-control', 'public, max-age=600');
          return `for ${request.protocol}://${request.host}`;
        });
      },
      {},
      undefined,
      { trustProxy: '127.0.0.1' },
    );
    const port = await listen(app);
    const first = await httpGet(port, '/p', viaProxy);
    const second = await httpGet(port, '/p', viaProxy);
    expect([first.headers['x-cache'], second.headers['x-cache'], second.body]).toEqual([
      'MISS',
      'HIT',
      'for https://api.example',
    ]);
    expect([count('p'), cache.size]).toEqual([1, 1]);
    // Another forwarded host, or another scheme, is another entry.
    const other = await httpGet(port, '/p', { ...viaProxy, 'x-forwarded-host': 'www.example' });
    expect([other.headers['x-cache'], other.body]).toEqual(['MISS', 'for https://www.example']);
    const plain = await httpGet(port, '/p', { ...viaProxy, 'x-forwarded-proto': 'http' });
    expect([plain.headers['x-cache'], plain.body]).toEqual(['MISS', 'for http://api.example']);
  });

  it('a background revalidation comes from the address the client request came from: the route sees https', async () => {
    const { app, clock, count } = await setup(listRoute, {}, undefined, { trustProxy: PROXY });
    // Host as forwarded, so that this holds apart from the test above.
    const headers = { ...viaProxy, host: 'api.example' };
    const get = () => app.inject({ method: 'GET', url: '/list', headers, remoteAddress: PROXY });
    expect((await get()).body).toBe('next: https://api.example/list?page=2');
    clock.advanceSeconds(2);
    expect((await get()).headers['x-cache']).toBe('STALE');
    await app.responseCache.whenIdle();
    expect(count('list')).toBe(2);
    const after = await get();
    expect([after.headers['x-cache'], after.body]).toEqual(['HIT', 'next: https://api.example/list?page=2']);
    expect(app.responseCache.statistics()).toMatchObject({ backgroundRevalidations: 1, backgroundFailures: 0 });
  });

  it('an answer the route made for another scheme than the key is not stored, and the failure is counted', async () => {
    const { app, clock } = await setup(
      listRoute,
      {},
      (app) => {
        // Something before the plugin (a hook, a proxy rule) makes the background request look otherwise.
        app.addHook('onRequest', async (request) => {
          if (request.headers['x-meshcache-revalidation'] !== undefined)
            delete request.raw.headers['x-forwarded-proto'];
        });
      },
      { trustProxy: PROXY },
    );
    const get = () => app.inject({ method: 'GET', url: '/list', headers: viaProxy, remoteAddress: PROXY });
    await get();
    clock.advanceSeconds(2);
    await get();
    await app.responseCache.whenIdle();
    expect(app.responseCache.statistics()).toMatchObject({ backgroundRevalidations: 1, backgroundFailures: 1 });
    const after = await get();
    expect([after.headers['x-cache'], after.body]).toEqual(['STALE', 'next: https://api.example/list?page=2']);
  });
});

describe('a server that terminates TLS itself', () => {
  it('the background revalidation is seen as https too', async () => {
    const { app, clock } = await setup(listRoute, {}, (app) => {
      // Stands for a TLS connection (light-my-request's socket never is one): the client's only.
      app.addHook('onRequest', async (request) => {
        if (request.headers['x-test-tls'] === 'yes' && request.headers['x-meshcache-revalidation'] === undefined) {
          (request.raw.socket as { encrypted?: boolean }).encrypted = true;
        }
      });
    });
    const get = () =>
      app.inject({ method: 'GET', url: '/list', headers: { host: 'api.example', 'x-test-tls': 'yes' } });
    expect((await get()).body).toBe('next: https://api.example/list?page=2');
    clock.advanceSeconds(2);
    await get();
    await app.responseCache.whenIdle();
    const after = await get();
    expect([after.headers['x-cache'], after.body]).toEqual(['HIT', 'next: https://api.example/list?page=2']);
    expect(app.responseCache.statistics().backgroundFailures).toBe(0);
  });
});
