/**
 * The example gateway end to end: three gateway instances, the fake auth server and the fake
 * backend, each its own process on 127.0.0.1 (examples/src/gateway/launch.ts), every process
 * stopped by pid after each test.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedCluster, launchGatewayCluster } from '../examples/src/gateway/launch.js';

let cluster: LaunchedCluster | undefined;
/** Aborted after each test: stops every process of a launch, also one a timed-out test left half started. */
let launches = new AbortController();
/** The last launch, settled: an aborted launch settles once its processes have exited. */
let launching: Promise<unknown> = Promise.resolve();
afterEach(async () => {
  launches.abort();
  await launching;
  await cluster?.stop();
  cluster = undefined;
  launches = new AbortController();
});
const launch = (options: Parameters<typeof launchGatewayCluster>[0] = {}) => {
  const started = launchGatewayCluster({ ...options, signal: launches.signal });
  launching = started.catch(() => undefined);
  return started;
};

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

/**
 * Each test starts five processes (each compiling its TypeScript with tsx): on a loaded
 * two-core machine that alone can take most of the suite's default 20 s, so these tests get 60 s.
 * A bound on the harness, not an assertion: nothing here measures how long anything took.
 */
const PROCESS_TEST = { timeout: 60_000 };

describe('the example gateway, three instances with meshcache', PROCESS_TEST, () => {
  it('single flight on: requests spread over the instances cause exactly one auth call per token', async () => {
    cluster = await launch({ authDelayMillis: 300 });
    const results = await spread(cluster, 30);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await getJson(`${cluster.authUrl}/calls`)).toEqual({ calls: 1 });
  });

  it('single flight off: at most one auth call per instance', async () => {
    cluster = await launch({ authDelayMillis: 300, singleFlight: false });
    await spread(cluster, 30);
    const { calls } = await getJson(`${cluster.authUrl}/calls`);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('an auth failure is not cached: the request fails with 502, and the next one retries and succeeds', async () => {
    cluster = await launch({ authDelayMillis: 50 });
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
    cluster = await launch({ authDelayMillis: 50 });
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
    cluster = await launch({ authDelayMillis: 50, authFirstExpiresIn: 66 });
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
    cluster = await launch({ authDelayMillis: 10 });
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

/**
 * Response caching across the three instances of one cluster (one launch for the whole block;
 * each test uses its own paths). Polls ask with `Cache-Control: only-if-cached`, which an
 * instance answers from what it holds or with 504, without reaching the backend: so waiting for
 * replication never stores anything, and the backend's call count stays exact.
 */
type Gw = { url: string };

describe(
  'response caching across three instances: per-user answers stay apart, identical requests share',
  PROCESS_TEST,
  () => {
    let shared: LaunchedCluster | undefined;
    const sharedLaunch = new AbortController();
    beforeAll(async () => {
      shared = await launchGatewayCluster({ authDelayMillis: 10, signal: sharedLaunch.signal });
    }, 60_000);
    afterAll(async () => {
      sharedLaunch.abort();
      await shared?.stop();
    });

    const gateways = () => [0, 1, 2].map((i) => shared?.gateways[i] as { url: string }) as [Gw, Gw, Gw];
    const backendCalls = async () =>
      (await getJson(`${shared?.backendUrl}/calls`)) as { calls: number; conditional: number };

    async function ask(gateway: { url: string }, path: string, headers: Record<string, string> = {}) {
      const response = await fetch(`${gateway.url}${path}`, { headers });
      const text = await response.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {}
      return { status: response.status, cache: response.headers.get('x-cache'), headers: response.headers, body };
    }

    /** Asks `gateway` with only-if-cached until it answers 200 (the entry arrived), bounded. */
    async function held(gateway: { url: string }, path: string, headers: Record<string, string> = {}) {
      const deadline = Date.now() + 10_000;
      for (let i = 0; i < 400; i++) {
        const answer = await ask(gateway, path, { ...headers, 'cache-control': 'only-if-cached' });
        if (answer.status === 200 || Date.now() > deadline) return answer;
        await new Promise((resolve) => setTimeout(resolve, 25)); // poll interval
      }
      throw new Error(`${path} never arrived at ${gateway.url}`);
    }

    it.each([
      [
        'Accept-Language (the backend says Vary: Accept-Language)',
        '/greeting',
        { 'accept-language': 'fr' },
        { 'accept-language': 'de' },
        'language',
      ],
      [
        'cookies (the backend says Vary: Cookie)',
        '/profile',
        { cookie: 'session=alice' },
        { cookie: 'session=bob' },
        'user',
      ],
      [
        'tenants (the gateway keys on x-tenant)',
        '/orders/7',
        { 'x-tenant': 'acme' },
        { 'x-tenant': 'globex' },
        'tenant',
      ],
    ])(
      "%s: two users never get each other's answer; each user's is one entry for the cluster",
      async (_name, path, a, b, field) => {
        const [gw1, gw2, gw3] = gateways();
        const before = (await backendCalls()).calls;
        const first = await ask(gw1, path, a);
        expect(first.cache).toBe('MISS');
        const ownValue = (headers: Record<string, string>) =>
          field === 'user' ? (headers['cookie'] ?? '').replace('session=', '') : Object.values(headers)[0];
        expect(first.body[field]).toBe(ownValue(a));
        // The same request on another instance: the same entry (same servedAt), with its Age.
        const elsewhere = await held(gw2, path, a);
        expect([elsewhere.status, elsewhere.cache, elsewhere.body['servedAt']]).toEqual([
          200,
          'HIT',
          first.body['servedAt'],
        ]);
        expect(Number(elsewhere.headers.get('age'))).toBeGreaterThanOrEqual(0);
        // The other user, anywhere: never the first user's answer.
        for (const gateway of [gw1, gw2, gw3]) {
          const other = await ask(gateway, path, { ...b, 'cache-control': 'only-if-cached' });
          expect(other.status).toBe(504);
        }
        const second = await ask(gw3, path, b);
        expect([second.cache, second.body[field]]).toEqual(['MISS', ownValue(b)]);
        for (const gateway of [gw1, gw2]) {
          const again = await held(gateway, path, b);
          expect([again.cache, again.body[field], again.body['servedAt']]).toEqual([
            'HIT',
            ownValue(b),
            second.body['servedAt'],
          ]);
        }
        const firstAgain = await ask(gw3, path, a);
        expect([firstAgain.cache, firstAgain.body[field], firstAgain.body['servedAt']]).toEqual([
          'HIT',
          ownValue(a),
          first.body['servedAt'],
        ]);
        expect((await backendCalls()).calls).toBe(before + 2); // one entry per user, for the whole cluster
      },
    );

    it('never caches a per-user answer: a response that sets a cookie, or a per-cookie answer without Vary', async () => {
      const [gw1, gw2] = gateways();
      const before = (await backendCalls()).calls;
      const welcomes = [await ask(gw1, '/welcome'), await ask(gw1, '/welcome'), await ask(gw2, '/welcome')];
      expect(welcomes.map((w) => w.cache)).toEqual(['MISS', 'MISS', 'MISS']);
      const cookies = welcomes.map((w) => w.headers.get('set-cookie'));
      expect(new Set(cookies).size).toBe(3); // each visitor got their own session, none another's
      expect((await ask(gw1, '/me', { cookie: 'session=alice' })).body['user']).toBe('alice');
      const bob = await ask(gw2, '/me', { cookie: 'session=bob' });
      expect([bob.cache, bob.body['user']]).toEqual(['MISS', 'bob']);
      expect((await ask(gw1, '/me', { cookie: 'session=alice', 'cache-control': 'only-if-cached' })).status).toBe(504);
      expect((await backendCalls()).calls).toBe(before + 5);
    });

    it('purges by tag on one instance, and the purge reaches every instance', async () => {
      const [gw1, gw2, gw3] = gateways();
      const tagged = await ask(gw1, '/orders/100');
      expect(tagged.headers.get('surrogate-key')).toBeNull(); // the tags stay inside
      await ask(gw1, '/orders/101');
      for (const gateway of [gw2, gw3]) {
        expect((await held(gateway, '/orders/100')).cache).toBe('HIT');
        expect((await held(gateway, '/orders/101')).cache).toBe('HIT');
      }
      const purge = await fetch(`${gw2.url}/_tags/order-100`, { method: 'DELETE' });
      expect(((await purge.json()) as { removed: number }).removed).toBe(1);
      for (const gateway of [gw1, gw2, gw3]) {
        const deadline = Date.now() + 10_000;
        let status = 200;
        for (let i = 0; i < 400 && status === 200 && Date.now() < deadline; i++) {
          status = (await ask(gateway, '/orders/100', { 'cache-control': 'only-if-cached' })).status;
          if (status === 200) await new Promise((resolve) => setTimeout(resolve, 25)); // poll interval
        }
        expect(status).toBe(504);
        expect((await ask(gateway, '/orders/101', { 'cache-control': 'only-if-cached' })).cache).toBe('HIT');
      }
      const refetched = await ask(gw3, '/orders/100');
      expect(refetched.cache).toBe('MISS');
      expect(refetched.body['servedAt']).not.toBe(tagged.body['servedAt']);
    });

    it('revalidates a stale entry with If-None-Match; the 304 refreshes it and the stored body is served', async () => {
      const [gw1, gw2] = gateways();
      const before = await backendCalls();
      const first = await ask(gw1, '/catalogue/9'); // ETag "v1", max-age=1
      expect(first.cache).toBe('MISS');
      await held(gw2, '/catalogue/9');
      const deadline = Date.now() + 10_000;
      let answer = await ask(gw2, '/catalogue/9');
      for (let i = 0; i < 400 && answer.cache !== 'REVALIDATED' && Date.now() < deadline; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50)); // poll interval: the entry goes stale after 1 s
        answer = await ask(gw2, '/catalogue/9');
      }
      expect([answer.cache, answer.status, answer.body['servedAt']]).toEqual([
        'REVALIDATED',
        200,
        first.body['servedAt'],
      ]);
      const after = await backendCalls();
      expect(after.conditional).toBe(before.conditional + 1);
      expect(after.calls).toBe(before.calls + 2); // the first fetch and one conditional request
    });

    it('stale-while-revalidate: every instance answers stale at once, and the cluster revalidates once', async () => {
      const [gw1, gw2, gw3] = gateways();
      const first = await ask(gw1, '/feed/1'); // ETag "f1", max-age=1, stale-while-revalidate=60
      expect(first.cache).toBe('MISS');
      await held(gw2, '/feed/1');
      await held(gw3, '/feed/1');
      // only-if-cached answers without starting a revalidation: wait for the entry to go stale.
      const deadline = Date.now() + 10_000;
      let cache = first.cache;
      for (let i = 0; i < 400 && cache !== 'STALE' && Date.now() < deadline; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50)); // poll interval
        cache = (await ask(gw1, '/feed/1', { 'cache-control': 'only-if-cached' })).cache;
      }
      expect(cache).toBe('STALE');
      const before = await backendCalls();
      // Requests on every instance at once; the origin's 304 takes 300 ms, so the revalidations overlap.
      const answers = await Promise.all([gw1, gw2, gw3, gw1, gw2, gw3].map((gateway) => ask(gateway, '/feed/1')));
      expect(answers.map((a) => [a.cache, a.body['servedAt']])).toEqual(
        answers.map(() => ['STALE', first.body['servedAt']]),
      );
      for (const gateway of [gw1, gw2, gw3]) {
        const end = Date.now() + 10_000;
        let refreshed = await ask(gateway, '/feed/1', { 'cache-control': 'only-if-cached' });
        for (let i = 0; i < 400 && refreshed.cache !== 'HIT' && Date.now() < end; i++) {
          await new Promise((resolve) => setTimeout(resolve, 25)); // poll interval
          refreshed = await ask(gateway, '/feed/1', { 'cache-control': 'only-if-cached' });
        }
        expect(refreshed.cache).toBe('HIT');
      }
      const after = await backendCalls();
      expect(after.conditional - before.conditional).toBe(1); // one revalidation for the whole cluster
      expect(after.calls - before.calls).toBe(1);
    });
  },
);
