/**
 * The example gateway: one instance of an API gateway that forwards GET requests to a backend
 * with a service token from an auth server, caching both the tokens and the responses in
 * meshcache, replicated across instances.
 *
 * Configured by one JSON argument: { name, port, peerPort, peers, authUrl, backendUrl, secret,
 * mode: 'meshcache' | 'local' | 'none', singleFlight }. `meshcache` replicates both caches
 * (tokens with cluster-wide single flight when singleFlight is true); `local` keeps per-instance
 * caches; `none` caches nothing (the comparisons of bench/src/gateway.ts).
 *
 * Routes: any GET is forwarded (x-tenant picks the tenant; answers carry x-cache HIT or MISS);
 * DELETE /_tokens/TENANT revokes that tenant's token (on every instance); GET /_stats.
 * Prints `gateway NAME listening on http://127.0.0.1:PORT` once ready.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { CacheManager } from '@meshcache/core';
import { type CachedToken, cachePolicy, responseCacheKey, TokenError, tokenCache } from '@meshcache/gateway';
import { ClusterNode } from '@meshcache/replication';

interface Options {
  name: string;
  port: number;
  peerPort: number;
  peers: string[];
  authUrl: string;
  backendUrl: string;
  secret: string;
  mode: 'meshcache' | 'local' | 'none';
  singleFlight: boolean;
}

interface StoredResponse {
  status: number;
  contentType: string;
  body: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const replication = (extra: object) =>
  options.mode === 'meshcache' ? { replication: { asynchronousReplicationIntervalMillis: 10, ...extra } } : {};
const caches = {
  'service tokens': {
    maxElementsInMemory: 1000,
    timeToLiveSeconds: 3600,
    ...replication({ clusterSingleFlight: options.singleFlight }),
  },
  'Response Cache': { maxElementsInMemory: 10_000, timeToLiveSeconds: 300, ...replication({}) },
};
const log = (line: string) => console.error(`${new Date().toISOString()} ${options.name} ${line}`);
const logger = {
  debug() {},
  info: (_o: object, m?: string) => log(m ?? ''),
  warn: (_o: object, m?: string) => log(m ?? ''),
  error: (_o: object, m?: string) => log(m ?? ''),
};
const node =
  options.mode === 'meshcache'
    ? await ClusterNode.start(
        {
          name: options.name,
          cluster: 'example-gateways',
          secret: options.secret,
          peerListener: { hostname: '127.0.0.1', port: options.peerPort },
          peerDiscovery: { mode: 'manual', peers: options.peers },
          caches,
        },
        { logger },
      )
    : undefined;
const manager = node?.manager ?? new CacheManager();
if (node === undefined) for (const [name, config] of Object.entries(caches)) manager.addCache(name, config);
await node?.ready();

const tokenStore = manager.getCache<CachedToken>('service tokens');
const responses = manager.getCache<StoredResponse>('Response Cache');
if (tokenStore === undefined || responses === undefined) throw new Error('caches missing');

const tokens = tokenCache({
  cache: tokenStore,
  dimensions: ['environment', 'backend', 'scope', 'tenant'],
  safetyMarginSeconds: 60,
  logger,
  fetchToken: async (dimensions) => {
    const answer = await fetch(`${options.authUrl}/token`, { method: 'POST', body: JSON.stringify(dimensions) });
    return { status: answer.status, body: await answer.json().catch(() => null) };
  },
});
const dimensionsOf = (tenant: string) => ({ environment: 'example', backend: 'orders', scope: 'orders:read', tenant });

async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = request.url ?? '/';
  const tenant = String(request.headers['x-tenant'] ?? 'public');
  if (request.method === 'DELETE' && url.startsWith('/_tokens/')) {
    const revoked = tokens.revoke(dimensionsOf(decodeURIComponent(url.slice('/_tokens/'.length))));
    response.writeHead(204, { 'x-revoked': String(revoked) }).end();
    return;
  }
  if (url === '/_stats') {
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ tokens: tokens.statistics(), responses: responses?.statistics() }));
    return;
  }
  const key = responseCacheKey(
    { method: request.method ?? 'GET', url, headers: request.headers },
    // Every instance forwards to one backend: key on it, not on the Host each client used
    // (127.0.0.1:PORT differs per instance, and the entries must be shared).
    { vary: ['x-tenant', 'accept'], origin: new URL(options.backendUrl).origin },
  );
  const cached = options.mode === 'none' ? undefined : responses?.get(key);
  if (cached !== undefined) {
    response.writeHead(cached.status, { 'content-type': cached.contentType, 'x-cache': 'HIT' }).end(cached.body);
    return;
  }
  let token: string;
  try {
    token = options.mode === 'none' ? await fetchTokenUncached(tenant) : await tokens.get(dimensionsOf(tenant));
  } catch (error) {
    response
      .writeHead(502, { 'content-type': 'application/json', 'x-cache': 'MISS' })
      .end(JSON.stringify({ error: (error as Error).message }));
    return;
  }
  const upstream = await fetch(`${options.backendUrl}${url}`, {
    headers: { authorization: `Bearer ${token}`, 'x-tenant': tenant },
  });
  const body = await upstream.text();
  const stored = {
    status: upstream.status,
    contentType: upstream.headers.get('content-type') ?? 'application/octet-stream',
    body,
  };
  const policy = cachePolicy(
    { status: upstream.status, headers: Object.fromEntries(upstream.headers) },
    { requestHeaders: request.headers },
  );
  // Kept while fresh only: this gateway neither revalidates nor serves stale (TTL 0 would mean eternal).
  if (policy.cacheable && policy.freshSeconds > 0 && options.mode !== 'none')
    responses?.put(key, stored, { timeToLiveSeconds: policy.freshSeconds });
  response
    .writeHead(stored.status, {
      'content-type': stored.contentType,
      'x-cache': 'MISS',
      'x-cache-policy': policy.reason,
    })
    .end(body);
}

/** No cache at all: a token per request, as the gateways that taught us this did. */
async function fetchTokenUncached(tenant: string): Promise<string> {
  const answer = await fetch(`${options.authUrl}/token`, {
    method: 'POST',
    body: JSON.stringify(dimensionsOf(tenant)),
  });
  const body = (await answer.json().catch(() => null)) as { access_token?: string } | null;
  if (!answer.ok || typeof body?.access_token !== 'string')
    throw new TokenError(`the auth server answered ${answer.status}`);
  return body.access_token;
}

const server = createServer((request, response) => {
  forward(request, response).catch((error: unknown) => {
    log(`request failed: ${(error as Error).message}`);
    if (!response.headersSent) response.writeHead(500).end();
  });
});
server.listen(options.port, '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null) {
    console.log(
      `gateway ${options.name} listening on http://127.0.0.1:${address.port}${node ? ` peer ${node.url}` : ''}`,
    );
  }
});
const stop = () => server.close(() => void (node?.stop() ?? manager.shutdown()).then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
