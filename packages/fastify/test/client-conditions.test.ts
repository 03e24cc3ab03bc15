/**
 * On a miss the handler sees the request without the client's Range and preconditions: what it
 * answers is stored for everyone. A handler that honours If-Match and Range (as a static file
 * server does) with one Cache-Control on every answer answered one client's 412 or 416, stored as
 * every client's answer (found by a review). Real HTTP on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { httpGet, listen, setup } from './harness.js';

const CONDITIONS = ['range', 'if-range', 'if-match', 'if-unmodified-since', 'if-none-match', 'if-modified-since'];

describe("on a miss, the handler answers without the client's Range and preconditions", () => {
  it.each([
    ['If-Match', { 'if-match': '"nope"' }],
    ['If-Unmodified-Since', { 'if-unmodified-since': 'Fri, 20 Nov 2026 10:00:00 GMT' }],
    ['an unsatisfiable Range', { range: 'bytes=999999-' }],
    ['If-None-Match', { 'if-none-match': '"v1"' }],
  ])('%s: the client gets the whole response, and so does every client after it', async (_name, conditions) => {
    const seen: string[][] = [];
    const { app, count } = await setup((app, called) => {
      app.get('/file', (request, reply) => {
        called('file');
        seen.push(CONDITIONS.filter((name) => request.headers[name] !== undefined));
        reply.header('cache-control', 'public, max-age=300').header('etag', '"v1"');
        const h = request.headers;
        if (h['if-match'] !== undefined && h['if-match'] !== '"v1"') return reply.code(412).send('precondition failed');
        if (h['if-unmodified-since'] !== undefined) return reply.code(412).send('precondition failed');
        if (h['if-none-match'] === '"v1"') return reply.code(304).send();
        if (h.range !== undefined) return reply.code(416).header('content-range', 'bytes */8').send('');
        return 'whole v1';
      });
    });
    const port = await listen(app);
    const first = await httpGet(port, '/file', conditions);
    expect([first.status, first.headers['x-cache'], first.body]).toEqual([200, 'MISS', 'whole v1']);
    expect(seen).toEqual([[]]);
    const victim = await httpGet(port, '/file');
    expect([victim.status, victim.headers['x-cache'], victim.body]).toEqual([200, 'HIT', 'whole v1']);
    expect(count('file')).toBe(1);
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
