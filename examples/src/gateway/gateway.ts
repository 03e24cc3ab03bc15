/**
 * The example gateway: one instance of an API gateway that forwards requests to a backend with a
 * service token from an auth server, caching both the tokens and the responses in meshcache,
 * replicated across instances.
 *
 * Configured by one JSON argument: { name, port, peerPort, peers, authUrl, backendUrl, secret,
 * mode: 'meshcache' | 'local' | 'none', singleFlight }. `meshcache` replicates both caches
 * (tokens and background revalidations with cluster-wide single flight when singleFlight is
 * true); `local` keeps per-instance caches; `none` caches nothing (the comparisons of
 * bench/src/gateway.ts).
 *
 * Routes: any other request is forwarded through the response cache (x-tenant picks the tenant
 * and is always part of the key; the client's other headers but Authorization go on to the
 * backend; answers carry x-cache: HIT, STALE, STALE-IF-ERROR, REVALIDATED, MISS or BYPASS);
 * DELETE /_tokens/TENANT revokes that tenant's token and DELETE /_tags/TAG purges the responses
 * tagged TAG (both on every instance); GET /_stats. Prints `gateway NAME listening on
 * http://127.0.0.1:PORT` once ready.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { CacheManager, MeshcacheError } from '@meshcache/core';
import {
  type CachedToken,
  type KeyedRequest,
  type ResponseCacheValue,
  responseCache,
  TokenError,
  tokenCache,
  type UpstreamResponse,
} from '@meshcache/gateway';
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

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const replication = (extra: object) =>
  options.mode === 'meshcache' ? { replication: { asynchronousReplicationIntervalMillis: 10, ...extra } } : {};
const caches = {
  'service tokens': {
    maxElementsInMemory: 1000,
    timeToLiveSeconds: 3600,
    ...replication({ clusterSingleFlight: options.singleFlight }),
  },
  'Response Cache': {
    maxElementsInMemory: 10_000,
    timeToLiveSeconds: 300,
    ...replication({ clusterSingleFlight: options.singleFlight }),
  },
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
const responseStore = manager.getCache<ResponseCacheValue>('Response Cache');
if (tokenStore === undefined || responseStore === undefined) throw new Error('caches missing');

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
const responses = responseCache({
  cache: responseStore,
  // The gateway picks the token by x-tenant, so the backend cannot name it in its Vary: list it here.
  vary: ['x-tenant'],
  // Every instance forwards to one backend: key on it, not on the Host each client used
  // (127.0.0.1:PORT differs per instance, and the entries must be shared).
  origin: new URL(options.backendUrl).origin,
  logger,
});

/** Client headers that do not go on to the backend: hop by hop, or the gateway's own to set. */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'authorization']);

/** One request to the backend with the tenant's token: raw bytes and headers, as they came. */
async function callBackend(request: KeyedRequest, tenant: string): Promise<UpstreamResponse> {
  const token = options.mode === 'none' ? await fetchTokenUncached(tenant) : await tokens.get(dimensionsOf(tenant));
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (value !== undefined && !NOT_FORWARDED.has(name.toLowerCase())) {
      headers[name] = typeof value === 'number' ? String(value) : (value as string | string[]);
    }
  }
  headers['authorization'] = `Bearer ${token}`;
  headers['x-tenant'] = tenant;
  // The backend's origin and the path as written (a path: serve() refuses anything else):
  // resolved as a reference, `//evil.example/x` would name another host.
  const target = new URL(`${new URL(options.backendUrl).origin}${request.url}`);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(target, { method: request.method, headers }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () =>
        resolve({ status: incoming.statusCode ?? 502, headers: incoming.headers, body: Buffer.concat(chunks) }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : Buffer.concat(chunks);
}

async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = request.url ?? '/';
  const tenant = String(request.headers['x-tenant'] ?? 'public');
  if (request.method === 'DELETE' && url.startsWith('/_tokens/')) {
    const revoked = tokens.revoke(dimensionsOf(decodeURIComponent(url.slice('/_tokens/'.length))));
    response.writeHead(204, { 'x-revoked': String(revoked) }).end();
    return;
  }
  if (request.method === 'DELETE' && url.startsWith('/_tags/')) {
    const removed = responses.purgeTag(decodeURIComponent(url.slice('/_tags/'.length)));
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ removed }));
    return;
  }
  if (url === '/_stats') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        tokens: tokens.statistics(),
        responses: responses.statistics(),
        cache: responseStore?.statistics(),
      }),
    );
    return;
  }
  // Only origin-form targets (a path): an absolute-form one (`GET http://backend/orders/7`) would
  // be keyed as its path and forwarded as something else.
  if (!url.startsWith('/') || url.startsWith('//')) {
    response
      .writeHead(400, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: 'the request target must be a path' }));
    return;
  }
  const body = await readBody(request);
  const keyed: KeyedRequest = {
    method: request.method ?? 'GET',
    url,
    headers: request.headers,
    ...(body === undefined ? {} : { body }),
  };
  try {
    const answer =
      options.mode === 'none'
        ? await uncached(keyed, tenant)
        : await responses.handle(keyed, (upstream) => callBackend(upstream, tenant));
    response.writeHead(answer.status, { ...answer.headers, 'x-cache': answer.cache }).end(answer.body);
  } catch (error) {
    // A request the cache cannot key (a bad Host, say) is the client's fault; anything else is upstream's.
    const status = error instanceof MeshcacheError && error.code === 'E_INVALID_ARGUMENT' ? 400 : 502;
    response
      .writeHead(status, { 'content-type': 'application/json', 'x-cache': 'MISS' })
      .end(JSON.stringify({ error: (error as Error).message }));
  }
}

/** Mode none: straight to the backend, hop-by-hop headers dropped. */
async function uncached(request: KeyedRequest, tenant: string) {
  const upstream = await callBackend(request, tenant);
  const {
    connection: _c,
    'keep-alive': _k,
    'transfer-encoding': _t,
    ...headers
  } = upstream.headers as Record<string, string | string[] | undefined>;
  return { status: upstream.status, headers, body: upstream.body ?? '', cache: 'BYPASS' };
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
