/**
 * On a miss the handler sees the client's Range and preconditions (a video's seek, a resumed
 * download, a browser's If-None-Match), and what they alone make it answer is sent and never
 * stored: a 206 or 304, and a 412 or 416 to a request that carries them. Stored, a handler that
 * honours If-Match and Range (as a static file server does) with one Cache-Control on every answer
 * made one client's 412 or 416 every client's answer (found by a review); taken out, every Range
 * request ran the whole handler and got the whole body (found by a second review). Real HTTP on
 * 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { httpGet, listen, setup } from './harness.js';

const CONDITIONS = ['range', 'if-range', 'if-match', 'if-unmodified-since', 'if-none-match', 'if-modified-since'];

/** A static-file-like route: one Cache-Control on every answer, and it honours the client's conditions. */
async function fileServer() {
  const seen: string[][] = [];
  const setUp = await setup((app, called) => {
    app.get('/file', (request, reply) => {
      called('file');
      seen.push(CONDITIONS.filter((name) => request.headers[name] !== undefined));
      reply.header('cache-control', 'public, max-age=300').header('etag', '"v1"');
      const h = request.headers;
      if (h['if-match'] !== undefined && h['if-match'] !== '"v1"') return reply.code(412).send('precondition failed');
      if (h['if-unmodified-since'] !== undefined) return reply.code(412).send('precondition failed');
      if (h['if-none-match'] === '"v1"') return reply.code(304).send();
      if (h.range === 'bytes=0-3') return reply.code(206).header('content-range', 'bytes 0-3/8').send('whol');
      if (h.range !== undefined) return reply.code(416).header('content-range', 'bytes */8').send('');
      return 'whole v1';
    });
  });
  return { ...setUp, seen, port: await listen(setUp.app) };
}

describe("on a miss, the handler sees the client's Range and preconditions, and their answers are not stored", () => {
  it.each([
    ['If-Match', { 'if-match': '"nope"' }, 412, 'precondition failed'],
    ['If-Unmodified-Since', { 'if-unmodified-since': 'Fri, 20 Nov 2026 10:00:00 GMT' }, 412, 'precondition failed'],
    ['an unsatisfiable Range', { range: 'bytes=999999-' }, 416, ''],
    ['a Range', { range: 'bytes=0-3' }, 206, 'whol'],
    ['an If-None-Match that matches', { 'if-none-match': '"v1"' }, 304, ''],
  ] as const)(
    '%s: the handler’s answer is sent and not stored; the next plain client gets the whole',
    async (_name, conditions, status, body) => {
      const { port, seen, cache, count } = await fileServer();
      const first = await httpGet(port, '/file', conditions);
      expect([first.status, first.headers['x-cache'], first.body]).toEqual([status, 'MISS', body]);
      expect(seen).toEqual([Object.keys(conditions)]);
      expect(cache.size).toBe(0);
      const victim = await httpGet(port, '/file');
      expect([victim.status, victim.headers['x-cache'], victim.body]).toEqual([200, 'MISS', 'whole v1']);
      expect(await httpGet(port, '/file')).toMatchObject({
        status: 200,
        body: 'whole v1',
        headers: { 'x-cache': 'HIT' },
      });
      expect(count('file')).toBe(2);
    },
  );

  it('an If-None-Match that does not match gets the whole 200, which is stored for everyone', async () => {
    const { port, count } = await fileServer();
    const first = await httpGet(port, '/file', { 'if-none-match': '"old"' });
    expect([first.status, first.headers['x-cache'], first.body]).toEqual([200, 'MISS', 'whole v1']);
    expect(await httpGet(port, '/file')).toMatchObject({
      status: 200,
      body: 'whole v1',
      headers: { 'x-cache': 'HIT' },
    });
    expect(count('file')).toBe(1);
  });

  it('a Range request for an expired entry gets the handler’s 206, and the entry stays', async () => {
    const { port, clock, cache } = await fileServer();
    await httpGet(port, '/file');
    clock.advanceSeconds(400);
    const part = await httpGet(port, '/file', { range: 'bytes=0-3' });
    expect([part.status, part.body, part.headers['content-range']]).toEqual([206, 'whol', 'bytes 0-3/8']);
    expect(cache.size).toBe(1);
  });

  it('a route the plugin does not cache keeps them', async () => {
    const { app } = await setup((app) => {
      app.get('/live', { config: { meshcache: false } }, (request) => String(request.headers['if-match']));
      app.put('/file', (request) => String(request.headers['if-match']));
    });
    const port = await listen(app);
    expect((await httpGet(port, '/live', { 'if-match': '"a"' })).body).toBe('"a"');
    expect((await app.inject({ method: 'PUT', url: '/file', headers: { 'if-match': '"b"' } })).body).toBe('"b"');
  });
});
