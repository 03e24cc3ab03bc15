/**
 * A fake auth server for the example gateway: POST /token answers a service token after a delay
 * (AUTH_DELAY_MS, default 800: what a real one costs), GET /calls says how many tokens it issued,
 * and POST /fail?count=N makes the next N token requests fail with 503. Tokens live
 * AUTH_EXPIRES_IN seconds (3600); the first one AUTH_FIRST_EXPIRES_IN when set (a short-lived
 * first token shows refresh ahead).
 * Prints `auth listening on http://127.0.0.1:PORT`.
 */
import { createServer } from 'node:http';

const delay = Number(process.env['AUTH_DELAY_MS'] ?? 800);
const expiresIn = Number(process.env['AUTH_EXPIRES_IN'] ?? 3600);
const firstExpiresIn = Number(process.env['AUTH_FIRST_EXPIRES_IN'] ?? expiresIn);
let calls = 0;
let failNext = 0;

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://auth');
  const json = (status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (request.method === 'GET' && url.pathname === '/calls') return json(200, { calls });
  if (request.method === 'POST' && url.pathname === '/fail') {
    failNext = Number(url.searchParams.get('count') ?? 1);
    return json(200, { failNext });
  }
  if (request.method === 'POST' && url.pathname === '/token') {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      calls++;
      const n = calls;
      setTimeout(() => {
        if (failNext > 0) {
          failNext--;
          return json(503, { error: 'temporarily_unavailable' });
        }
        const { tenant = 'unknown' } = JSON.parse(body || '{}') as { tenant?: string };
        json(200, {
          access_token: `tok-${n}-${tenant}`,
          token_type: 'Bearer',
          expires_in: n === 1 ? firstExpiresIn : expiresIn,
        });
      }, delay);
    });
    return;
  }
  json(404, { error: 'not found' });
});
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null)
    console.log(`auth listening on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
