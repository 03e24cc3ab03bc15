/**
 * A fake backend for the example gateway. GET /orders/:id answers JSON with
 * `Cache-Control: max-age=60`; /orders/nostore says no-store and /orders/private says private.
 * Every request must carry `Authorization: Bearer ...` (401 otherwise). GET /calls says how many
 * requests reached it and which tokens it saw. Prints `backend listening on http://127.0.0.1:PORT`.
 */
import { createServer } from 'node:http';

let calls = 0;
const tokens = new Set<string>();

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://backend');
  if (url.pathname === '/calls') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ calls, tokens: [...tokens] }));
    return;
  }
  const authorization = request.headers.authorization;
  if (authorization === undefined || !authorization.startsWith('Bearer ')) {
    response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"no token"}');
    return;
  }
  calls++;
  tokens.add(authorization.slice('Bearer '.length));
  const id = url.pathname.split('/').pop() ?? '';
  const cacheControl = id === 'nostore' ? 'no-store' : id === 'private' ? 'private, max-age=60' : 'max-age=60';
  response
    .writeHead(200, { 'content-type': 'application/json', 'cache-control': cacheControl })
    .end(JSON.stringify({ id, tenant: request.headers['x-tenant'] ?? null, servedAt: Date.now() }));
});
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null)
    console.log(`backend listening on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
