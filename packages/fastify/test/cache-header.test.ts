/**
 * `cacheHeader` names the field that says HIT, MISS, STALE... on every answer. Found by a review:
 * it took any header name, a standard one too. The marker is left out of every stored entry and
 * set on every answer, so the field it named was dropped from every entry and read `HIT` on every
 * hit: with `vary` an entry lost its Vary (one Accept-Language's answer was every client's), with
 * `cache-control` its freshness (and hits said `Cache-Control: HIT`), with `etag` its validator;
 * `transfer-encoding` broke the response. Such names are refused at registration.
 */
import { describe, expect, it } from 'vitest';
import meshcacheFastify, { type ResponseCacheValue } from '../src/index.js';
import { httpGet, listen, newApp, newManager, setup } from './harness.js';

const reserved = [
  'cache-control',
  'Cache-Control',
  'expires',
  'pragma',
  'age',
  'date',
  'vary',
  'etag',
  'last-modified',
  'content-type',
  'content-length',
  'content-encoding',
  'content-range',
  'set-cookie',
  'set-cookie2',
  'authentication-info',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'Transfer-Encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authentication-info',
  'cache-status',
  'x-meshcache-hook-fields',
  'x-meshcache-revalidation',
  'x-meshcache-host-as-sent',
];

describe('cacheHeader', () => {
  it.each(reserved)(
    '%s is refused at registration, naming the option and why: the server does not start',
    async (name) => {
      const cache = newManager().addCache<ResponseCacheValue>('Response Cache');
      const app = newApp();
      app.register(meshcacheFastify, { cache, cacheHeader: name });
      app.get('/p', () => 'p');
      await expect(app.listen({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
        message: expect.stringMatching(
          new RegExp(
            `^meshcacheFastify: options\\.cacheHeader must not be "${name}": .+; the marker .+ Name a field of your own`,
          ),
        ),
      });
    },
  );

  it.each([
    [{ cacheHeader: 'Surrogate-Key' }, /must not be "Surrogate-Key": it is the tagHeader/],
    [{ cacheHeader: 'X-Tags', tagHeader: 'x-tags' }, /must not be "X-Tags": it is the tagHeader/],
    [{ cacheHeader: '' }, /options\.cacheHeader must be a header name \(an RFC 9110 token\) or false, got ""/],
    [{ cacheHeader: 'x-cache:' }, /options\.cacheHeader must be a header name \(an RFC 9110 token\) or false/],
    [{ cacheHeader: 'x cache' }, /options\.cacheHeader must be a header name \(an RFC 9110 token\) or false/],
  ])('%j is refused at registration', async (options, message) => {
    const cache = newManager().addCache<ResponseCacheValue>('Response Cache');
    const app = newApp();
    app.register(meshcacheFastify, { cache, ...options });
    await expect(app.listen({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      // A RegExp given as a property to toMatchObject matches any string: it must be an asymmetric matcher.
      message: expect.stringMatching(message),
    });
  });

  it('a name of its own marks every answer and leaves the standard fields to the route (over real HTTP)', async () => {
    let calls = 0;
    const { app } = await setup(
      (app) => {
        app.get('/p', (_request, reply) => {
          calls++;
          reply.header('cache-control', 'public, max-age=60').header('etag', '"v1"').type('text/plain');
          return 'p';
        });
      },
      // Not a standard field, though it starts like one of the plugin's own.
      { cacheHeader: 'X-Meshcache-Status' },
    );
    const port = await listen(app);
    const miss = await httpGet(port, '/p');
    const hit = await httpGet(port, '/p');
    expect(calls).toBe(1);
    for (const [answer, marker] of [
      [miss, 'MISS'],
      [hit, 'HIT'],
    ] as const) {
      expect([
        answer.status,
        answer.body,
        answer.headers['x-meshcache-status'],
        answer.headers['cache-control'],
        answer.headers.etag,
        answer.headers['content-type'],
      ]).toEqual([200, 'p', marker, 'public, max-age=60', '"v1"', 'text/plain']);
    }
    expect(hit.headers.age).toMatch(/^\d+$/);
  });
});
