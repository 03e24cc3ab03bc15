/**
 * The example gateway end to end: three gateway instances, the fake auth server and the fake
 * backend, each its own process on 127.0.0.1 (examples/src/gateway/launch.ts), every process
 * stopped by pid after each test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type LaunchedCluster, launchGatewayCluster } from '../examples/src/gateway/launch.js';

let cluster: LaunchedCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function getJson(url: string): Promise<{ calls: number; tokens?: string[] }> {
  return (await (await fetch(url)).json()) as { calls: number; tokens?: string[] };
}

async function request(gateway: { url: string }, path: string, tenant = 'acme') {
  const response = await fetch(`${gateway.url}${path}`, { headers: { 'x-tenant': tenant } });
  return { status: response.status, cache: response.headers.get('x-cache'), body: await response.text() };
}

/** Requests spread round-robin over the instances, all at once (a cold start after a deploy). */
async function spread(c: LaunchedCluster, count: number, path = (i: number) => `/orders/${i}`) {
  return Promise.all(
    Array.from({ length: count }, (_, i) => request(c.gateways[i % c.gateways.length] as { url: string }, path(i))),
  );
}

describe('the example gateway, three instances with meshcache', () => {
  it('single flight on: requests spread over the instances cause exactly one auth call per token', async () => {
    cluster = await launchGatewayCluster({ authDelayMillis: 300 });
    const results = await spread(cluster, 30);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await getJson(`${cluster.authUrl}/calls`)).toEqual({ calls: 1 });
  });

  it('single flight off: at most one auth call per instance', async () => {
    cluster = await launchGatewayCluster({ authDelayMillis: 300, singleFlight: false });
    await spread(cluster, 30);
    const { calls } = await getJson(`${cluster.authUrl}/calls`);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('an auth failure is not cached: the request fails with 502, and the next one retries and succeeds', async () => {
    cluster = await launchGatewayCluster({ authDelayMillis: 50 });
    await fetch(`${cluster.authUrl}/fail?count=1`, { method: 'POST' });
    const [gw1, gw2] = cluster.gateways;
    const failed = await request(gw1 as { url: string }, '/orders/1');
    expect(failed.status).toBe(502);
    expect(failed.body).toMatch(/auth server answered 503/);
    expect((await request(gw2 as { url: string }, '/orders/1')).status).toBe(200);
    expect((await request(gw1 as { url: string }, '/orders/2')).status).toBe(200);
    expect((await getJson(`${cluster.authUrl}/calls`)).calls).toBe(2); // the failure, then one good token
  });

  it('a token revoked on one instance is refetched by all, once', async () => {
    cluster = await launchGatewayCluster({ authDelayMillis: 50 });
    await spread(cluster, 6, (i) => `/orders/nostore?i=${i}`); // every instance holds acme's token
    expect((await getJson(`${cluster.authUrl}/calls`)).calls).toBe(1);
    const [gw1] = cluster.gateways;
    expect((await fetch(`${gw1?.url}/_tokens/acme`, { method: 'DELETE' })).status).toBe(204);
    const before = (await getJson(`${cluster.backendUrl}/calls`)).tokens ?? [];
    // the revocation replicates within a tick; then every instance's next request needs a new token
    const deadline = Date.now() + 5000;
    let seen: string[] = before;
    while (Date.now() < deadline) {
      await spread(cluster, 3, (i) => `/orders/nostore?after=${i}-${Date.now()}`);
      seen = (await getJson(`${cluster.backendUrl}/calls`)).tokens ?? [];
      if (seen.length > before.length) break;
    }
    expect(seen).toEqual(['tok-1-acme', 'tok-2-acme']);
    for (let i = 0; i < 3; i++) await spread(cluster, 3, (j) => `/orders/nostore?last=${i}-${j}`);
    expect((await getJson(`${cluster.authUrl}/calls`)).calls).toBe(2);
  });

  it('refreshes a token ahead of its expiry once for the cluster: no request waits when it leaves', async () => {
    // The first token lives 66 s: kept 6 s (the gateway's margin is 60 s), refreshed from 3 s on.
    cluster = await launchGatewayCluster({ authDelayMillis: 50, authFirstExpiresIn: 66 });
    const firstAt = Date.now();
    expect((await spread(cluster, 6, (i) => `/orders/nostore?warm=${i}`)).every((r) => r.status === 200)).toBe(true);
    expect((await getJson(`${cluster.authUrl}/calls`)).calls).toBe(1);
    const misses = async () => {
      let sum = 0;
      for (const gateway of cluster?.gateways ?? []) {
        sum += ((await (await fetch(`${gateway.url}/_stats`)).json()) as { tokens: { misses: number } }).tokens.misses;
      }
      return sum;
    };
    const missesBefore = await misses();
    // Requests on every instance until the second token is in use and the first one's entry is
    // gone (6 s after it was fetched): bounded in count and time.
    const statuses: number[] = [];
    const deadline = Date.now() + 20_000;
    let seen: string[] = [];
    for (let round = 0; round < 400 && Date.now() < deadline; round++) {
      statuses.push(...(await spread(cluster, 3, (i) => `/orders/nostore?round=${round}-${i}`)).map((r) => r.status));
      seen = (await getJson(`${cluster.backendUrl}/calls`)).tokens ?? [];
      if (seen.includes('tok-2-acme') && Date.now() > firstAt + 7000) break;
      await new Promise((resolve) => setTimeout(resolve, 50)); // pacing of the request loop, not synchronisation
    }
    expect(seen).toEqual(['tok-1-acme', 'tok-2-acme']);
    expect((await getJson(`${cluster.authUrl}/calls`)).calls).toBe(2); // one refresh for three instances
    expect(await misses()).toBe(missesBefore); // every request found a token: none waited for one
    expect(statuses.every((status) => status === 200)).toBe(true);
  });

  it('caches responses per key across instances and honours Cache-Control', async () => {
    cluster = await launchGatewayCluster({ authDelayMillis: 10 });
    const [gw1, gw2, gw3] = [0, 1, 2].map((i) => cluster?.gateways[i] as { url: string }) as [
      { url: string },
      { url: string },
      { url: string },
    ];
    expect((await request(gw1, '/orders/42')).cache).toBe('MISS');
    const deadline = Date.now() + 5000;
    let onOther = await request(gw2, '/orders/42');
    while (onOther.cache !== 'HIT' && Date.now() < deadline) onOther = await request(gw2, '/orders/42');
    expect(onOther.cache).toBe('HIT'); // replicated: another instance answers without the backend
    expect((await request(gw3, '/orders/42', 'globex')).cache).toBe('MISS'); // another tenant, another key
    const backendBefore = (await getJson(`${cluster.backendUrl}/calls`)).calls;
    for (const path of ['/orders/nostore', '/orders/private']) {
      expect((await request(gw1, path)).cache).toBe('MISS');
      expect((await request(gw1, path)).cache).toBe('MISS');
    }
    expect((await getJson(`${cluster.backendUrl}/calls`)).calls).toBe(backendBefore + 4);
  });
});
