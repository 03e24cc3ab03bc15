/**
 * Fastify picks a route by its constraints as well as its URL: the version (`Accept-Version`) and
 * any strategy of the app's own. The route that answers is part of the key. Found by helper-128's
 * review: two versions of `/p` shared one entry, so once v1 was cached, every `Accept-Version: 2`
 * client got v1's body (over real HTTP), and none of the handlers sends a Vary naming the header.
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { httpGet, listen, setup } from './harness.js';

/** A strategy of the app's own: the route for a tenant header, as an API gateway routes plans. */
const planStrategy = {
  name: 'plan',
  storage: () => {
    const handlers = new Map<string, unknown>();
    return {
      get: (value: string) => (handlers.get(value) ?? null) as never,
      set: (value: string, store: unknown) => {
        handlers.set(value, store);
      },
    };
  },
  deriveConstraint: (request: { headers: Record<string, string | string[] | undefined> }) =>
    request.headers['x-plan'] === 'gold' ? 'gold' : 'basic',
  validate: (value: unknown) => {
    if (typeof value !== 'string') throw new Error('a plan is a string');
  },
  mustMatchWhenDerived: false,
};

const routes = (app: FastifyInstance, called: (name: string) => number) => {
  for (const version of ['1.0.0', '2.0.0']) {
    app.get('/p', { constraints: { version } }, async (_request, reply) => {
      called(`p ${version}`);
      reply.header('cache-control', 'public, max-age=600');
      return `version ${version}`;
    });
  }
  for (const plan of ['basic', 'gold']) {
    app.get('/quota', { constraints: { plan } }, async (_request, reply) => {
      called(`quota ${plan}`);
      reply.header('cache-control', 'public, max-age=600');
      return `${plan} quota`;
    });
  }
  app.post('/p', { constraints: { version: '2.0.0' } }, async () => 'updated');
};

describe('the route Fastify picked by its constraints is part of the key', () => {
  it('Accept-Version: each version its own entry; versions one route answers share it', async () => {
    const { app, count } = await setup(routes, {}, undefined, { constraints: { plan: planStrategy } });
    const port = await listen(app);
    const answer = async (version: string) => {
      const got = await httpGet(port, '/p', { 'accept-version': version });
      return [got.headers['x-cache'], got.body];
    };
    expect(await answer('1.x')).toEqual(['MISS', 'version 1.0.0']);
    expect(await answer('2.x')).toEqual(['MISS', 'version 2.0.0']);
    expect(await answer('1.0.0')).toEqual(['HIT', 'version 1.0.0']);
    expect(await answer('2.0.0')).toEqual(['HIT', 'version 2.0.0']);
    expect([count('p 1.0.0'), count('p 2.0.0')]).toEqual([1, 1]);
    // An unsafe request to a route with the same constraints removes that route's entry.
    const post = await fetch(`http://127.0.0.1:${port}/p`, { method: 'POST', headers: { 'accept-version': '2.x' } });
    expect(await post.text()).toBe('updated');
    expect(await answer('2.x')).toEqual(['MISS', 'version 2.0.0']);
    expect(await answer('1.x')).toEqual(['HIT', 'version 1.0.0']);
    // HEAD is answered from its version's GET entry.
    const head = await fetch(`http://127.0.0.1:${port}/p`, { method: 'HEAD', headers: { 'accept-version': '1.x' } });
    expect([head.headers.get('x-cache'), head.headers.get('content-length')]).toEqual(['HIT', '13']);
  });

  it('a constraint strategy of the app’s own: each route its entry', async () => {
    const { app, count } = await setup(routes, {}, undefined, { constraints: { plan: planStrategy } });
    const port = await listen(app);
    const bodies = [];
    for (const plan of ['basic', 'gold', 'gold', 'basic']) {
      const got = await httpGet(port, '/quota', { 'x-plan': plan });
      bodies.push([got.headers['x-cache'], got.body]);
    }
    expect(bodies).toEqual([
      ['MISS', 'basic quota'],
      ['MISS', 'gold quota'],
      ['HIT', 'gold quota'],
      ['HIT', 'basic quota'],
    ]);
    expect([count('quota basic'), count('quota gold')]).toEqual([1, 1]);
  });
});
