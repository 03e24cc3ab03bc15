/**
 * One Fastify app with meshcacheFastify over an in-memory meshcache cache, both on one ManualClock,
 * driven with app.inject (Fastify's own in-process requests). Each route counts the times its
 * handler ran, so a test can tell a hit (the handler did not run) from a miss.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { type Cache, CacheManager } from '@meshcache/core';
import { ManualClock } from '@meshcache/core/testing';
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify';
import { afterEach } from 'vitest';
import meshcacheFastify, { type MeshcacheFastifyOptions, type ResponseCacheValue } from '../src/index.js';

export const NOW = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export interface Setup {
  readonly app: FastifyInstance;
  readonly clock: ManualClock;
  readonly manager: CacheManager;
  readonly cache: Cache<ResponseCacheValue>;
  /** How many times each handler ran, by name. */
  readonly calls: Record<string, number>;
  count(name: string): number;
  get(url: string, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
}

/** A fresh manager (on `clock`, when given), shut down after the test. */
export function newManager(clock?: () => number): CacheManager {
  const manager = new CacheManager(clock === undefined ? {} : { clock });
  cleanups.push(() => manager.shutdown());
  return manager;
}

/** A fresh Fastify app, closed after the test. */
export function newApp(): FastifyInstance {
  const app = Fastify();
  cleanups.push(() => app.close());
  return app;
}

/**
 * `routes` is called with the app after the plugin is registered (and the counter); `before` with
 * the app before it (hooks and plugins meant to run first); `server` are Fastify's own options
 * (trustProxy).
 */
export async function setup(
  routes: (app: FastifyInstance, count: (name: string) => number) => void | Promise<void>,
  options: Partial<MeshcacheFastifyOptions> = {},
  before?: (app: FastifyInstance) => void | Promise<void>,
  server: FastifyServerOptions = {},
): Promise<Setup> {
  const clock = new ManualClock(NOW);
  const manager = new CacheManager({ clock: clock.now });
  const cache = manager.addCache<ResponseCacheValue>('Response Cache', { maxElementsInMemory: 1000 });
  const app = Fastify(server);
  cleanups.push(() => manager.shutdown());
  cleanups.push(() => app.close());
  const calls: Record<string, number> = {};
  const count = (name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
    return calls[name];
  };
  await before?.(app);
  await app.register(meshcacheFastify, { cache, clock: clock.now, ...options });
  await routes(app, count);
  await app.ready();
  return {
    app,
    clock,
    manager,
    cache,
    calls,
    count: (name) => calls[name] ?? 0,
    get: (url, headers = {}) => app.inject({ method: 'GET', url, headers }),
  };
}

/** What a real HTTP request got back. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Starts the app on 127.0.0.1 and a free port (closed after the test, as setup's app is); answers its port. */
export async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

/**
 * A GET over real HTTP to the app at `port`, with any headers (Host and X-Forwarded-* included);
 * `localAddress` picks the loopback address the request comes from.
 */
export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  localAddress = '127.0.0.1',
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, path, headers, localAddress }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () =>
        resolve({
          status: incoming.statusCode ?? 0,
          headers: incoming.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** A GET whose client goes away once the first bytes of the body arrive. */
export function leaveMidBody(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, path }, (incoming) => {
      incoming.once('data', () => {
        outgoing.destroy();
        resolve();
      });
    });
    outgoing.on('error', (error) => (outgoing.destroyed ? resolve() : reject(error)));
    outgoing.end();
  });
}
