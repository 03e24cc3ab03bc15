/**
 * A fake backend for the example gateway. Every request must carry `Authorization: Bearer ...`
 * (401 otherwise). Routes, each showing one thing a shared cache must get right:
 * - GET /orders/:id: JSON for the tenant in x-tenant, `Cache-Control: max-age=60`, tagged
 *   `Surrogate-Key: orders order-:id`; /orders/nostore says no-store, /orders/private private.
 * - GET /greeting: a greeting in the request's Accept-Language, `Vary: Accept-Language`.
 * - GET /profile: the profile of the user in the `session` cookie, `Vary: Cookie`.
 * - GET /me: the same, but without Vary (a backend that forgot it): only the gateway's rule for
 *   requests with a cookie keeps it out of the cache.
 * - GET /welcome: public and max-age=60, but it sets a session cookie: never cached.
 * - GET /catalogue/:id: `ETag: "v1"`, `max-age=1`; answers 304 to `If-None-Match: "v1"`.
 * - GET /feed/:id: the same with `stale-while-revalidate=60`, and its 304 takes 300 ms (a slow
 *   origin, so that revalidations from several instances would overlap).
 * GET /calls says how many requests reached it (and how many were conditional) and which tokens
 * it saw. Prints `backend listening on http://127.0.0.1:PORT`.
 */
import { createServer, type ServerResponse } from 'node:http';

let calls = 0;
let conditional = 0;
const tokens = new Set<string>();

function json(response: ServerResponse, headers: Record<string, string>, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://backend');
  if (url.pathname === '/calls') {
    json(response, {}, { calls, conditional, tokens: [...tokens] });
    return;
  }
  const authorization = request.headers.authorization;
  if (authorization === undefined || !authorization.startsWith('Bearer ')) {
    response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"no token"}');
    return;
  }
  calls++;
  tokens.add(authorization.slice('Bearer '.length));
  const servedAt = Date.now();
  const user = /(?:^|;\s*)session=([^;]*)/.exec(request.headers.cookie ?? '')?.[1] ?? null;
  const [, first, id = ''] = url.pathname.split('/');
  switch (first) {
    case 'greeting': {
      const language = request.headers['accept-language'] ?? 'en';
      const text = language.startsWith('fr') ? 'bonjour' : language.startsWith('de') ? 'hallo' : 'hello';
      json(response, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, { text, language, servedAt });
      return;
    }
    case 'profile':
      json(response, { 'cache-control': 'max-age=60', vary: 'Cookie' }, { user, servedAt });
      return;
    case 'me':
      json(response, { 'cache-control': 'max-age=60' }, { user, servedAt });
      return;
    case 'welcome':
      json(
        response,
        { 'cache-control': 'public, max-age=60', 'set-cookie': `session=visitor-${calls}; HttpOnly` },
        { welcome: `visitor-${calls}`, servedAt },
      );
      return;
    case 'catalogue':
      if (request.headers['if-none-match'] === '"v1"') {
        conditional++;
        response.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=1' }).end();
        return;
      }
      json(response, { etag: '"v1"', 'cache-control': 'max-age=1' }, { id, servedAt });
      return;
    case 'feed':
      if (request.headers['if-none-match'] === '"f1"') {
        conditional++;
        setTimeout(() => {
          response.writeHead(304, { etag: '"f1"', 'cache-control': 'max-age=1, stale-while-revalidate=60' }).end();
        }, 300);
        return;
      }
      json(response, { etag: '"f1"', 'cache-control': 'max-age=1, stale-while-revalidate=60' }, { id, servedAt });
      return;
    default: {
      const cacheControl = id === 'nostore' ? 'no-store' : id === 'private' ? 'private, max-age=60' : 'max-age=60';
      json(
        response,
        { 'cache-control': cacheControl, 'surrogate-key': `orders order-${id}` },
        { id, tenant: request.headers['x-tenant'] ?? null, servedAt },
      );
    }
  }
});
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null)
    console.log(`backend listening on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
