/**
 * @meshcache/fastify end to end: three Fastify instances (examples/src/fastify/server.ts), each
 * its own process on 127.0.0.1 with a ClusterNode replicating its "Response Cache" to the others,
 * driven over real HTTP. One launch for the file; each test uses its own paths. Waiting for
 * replication asks with `Cache-Control: only-if-cached`, which an instance answers from what it
 * holds or with 504 without running a handler, so polling never stores anything and the handlers'
 * call counts stay exact. Every process is stopped by pid after the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedFastifyCluster, launchFastifyCluster } from '../examples/src/fastify/launch.js';
import { until } from './node-processes.js';

type Instance = { readonly name: string; readonly url: string };

let cluster: LaunchedFastifyCluster | undefined;
const launch = new AbortController();

async function ask(instance: Instance, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const response = await fetch(`${instance.url}${path}`, { method, headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  let body: Record<string, unknown> = {};
  if ((response.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(bytes.toString('utf8'));
  return { status: response.status, cache: response.headers.get('x-cache'), headers: response.headers, body, bytes };
}

/** What `instance` holds for `path`: asks with only-if-cached until it answers 200, bounded. */
async function held(instance: Instance, path: string, headers: Record<string, string> = {}) {
  let answer = await ask(instance, path, { ...headers, 'cache-control': 'only-if-cached' });
  await until(async () => {
    answer = await ask(instance, path, { ...headers, 'cache-control': 'only-if-cached' });
    return answer.status === 200;
  }, `${path} to arrive at ${instance.name}`);
  return answer;
}

async function calls(instance: Instance): Promise<Record<string, number>> {
  return (await ask(instance, '/_calls')).body as Record<string, number>;
}

async function totalCalls(route: string): Promise<number> {
  let sum = 0;
  for (const instance of instances()) sum += (await calls(instance))[route] ?? 0;
  return sum;
}

const instances = () => [0, 1, 2].map((i) => cluster?.instances[i] as Instance) as [Instance, Instance, Instance];

/**
 * Three processes that each compile their TypeScript with tsx and start a ClusterNode: on a loaded
 * two-core machine that alone can take most of the default 20 s, so the launch and each test get 60 s.
 * A bound on the harness, not an assertion: nothing here measures how long anything took.
 */
const PROCESS_TEST = { timeout: 60_000 };

describe('three Fastify instances with @meshcache/fastify, replicating', PROCESS_TEST, () => {
  beforeAll(async () => {
    cluster = await launchFastifyCluster({ signal: launch.signal });
    for (const instance of instances()) {
      await until(async () => {
        const peers = (await (await fetch(`${instance.url}/_peers`)).json()) as Array<{ state: string }>;
        return peers.length === 2 && peers.every((peer) => peer.state === 'connected');
      }, `${instance.name} to be linked to both others`);
    }
  }, 60_000);
  afterAll(async () => {
    launch.abort();
    await cluster?.stop();
  });

  it('a response cached on one instance is a hit on the others: the same answer, with its Age', async () => {
    const [a, b, c] = instances();
    const first = await ask(a, '/orders/1');
    expect([first.status, first.cache, first.body['servedBy']]).toEqual([200, 'MISS', 'api-1']);
    expect(first.headers.get('surrogate-key')).toBeNull();
    for (const other of [b, c]) {
      const there = await held(other, '/orders/1');
      expect([there.cache, there.body]).toEqual(['HIT', first.body]);
      expect(Number(there.headers.get('age'))).toBeGreaterThanOrEqual(0);
      const plain = await ask(other, '/orders/1'); // an ordinary request: a hit, the handler not run
      expect([plain.cache, plain.body['servedAt']]).toEqual(['HIT', first.body['servedAt']]);
    }
    expect(await totalCalls('orders')).toBe(1);
  });

  it('a Buffer reply replicates byte for byte', async () => {
    const [a, b, c] = instances();
    const first = await ask(a, '/avatar/7');
    expect([first.cache, first.headers.get('content-type')]).toEqual(['MISS', 'image/png']);
    for (const other of [b, c]) {
      const there = await held(other, '/avatar/7');
      expect([there.cache, there.headers.get('content-type')]).toEqual(['HIT', 'image/png']);
      expect(there.bytes.equals(first.bytes)).toBe(true);
    }
    expect(await totalCalls('avatar')).toBe(1);
  });

  it('no-store and private are never cached, on any instance', async () => {
    const [a, b, c] = instances();
    for (const path of ['/nostore', '/private']) {
      const route = path.slice(1);
      const before = await totalCalls(route);
      const answers = [await ask(a, path), await ask(a, path), await ask(b, path)];
      expect(answers.map((answer) => [answer.status, answer.cache])).toEqual([
        [200, 'MISS'],
        [200, 'MISS'],
        [200, 'MISS'],
      ]);
      // Had a stored copy replicated, it would be here by the time a later entry is: store one and wait for it.
      await ask(a, `/orders/${route}-marker`);
      for (const other of [b, c]) {
        await held(other, `/orders/${route}-marker`);
        expect((await ask(other, path, { 'cache-control': 'only-if-cached' })).status).toBe(504);
      }
      expect((await ask(a, path, { 'cache-control': 'only-if-cached' })).status).toBe(504);
      expect(await totalCalls(route)).toBe(before + 3);
    }
  });

  it('a purge by tag on one instance reaches all', async () => {
    const [a, b, c] = instances();
    const tagged = await ask(a, '/orders/100');
    await ask(a, '/orders/101');
    for (const other of [b, c]) {
      await held(other, '/orders/100');
      await held(other, '/orders/101');
    }
    const purge = await ask(b, '/_tags/order-100', {}, 'DELETE');
    expect(purge.body).toEqual({ removed: 1 });
    for (const instance of [a, b, c]) {
      await until(
        async () => (await ask(instance, '/orders/100', { 'cache-control': 'only-if-cached' })).status === 504,
        `the purge to reach ${instance.name}`,
      );
      expect((await ask(instance, '/orders/101', { 'cache-control': 'only-if-cached' })).cache).toBe('HIT');
    }
    const refetched = await ask(c, '/orders/100');
    expect(refetched.cache).toBe('MISS');
    expect(refetched.body['servedAt']).not.toBe(tagged.body['servedAt']);
  });

  it('Vary: two Accept-Language values never share an entry, anywhere; each is one entry for the cluster', async () => {
    const [a, b, c] = instances();
    const before = await totalCalls('greeting');
    const fr = await ask(a, '/greeting', { 'accept-language': 'fr' });
    expect([fr.cache, fr.body['language']]).toEqual(['MISS', 'fr']);
    const frThere = await held(b, '/greeting', { 'accept-language': 'fr' });
    expect([frThere.cache, frThere.body]).toEqual(['HIT', fr.body]);
    for (const instance of [a, b, c]) {
      const de = await ask(instance, '/greeting', { 'accept-language': 'de', 'cache-control': 'only-if-cached' });
      expect(de.status).toBe(504); // the fr answer is never given to a de request
    }
    const de = await ask(c, '/greeting', { 'accept-language': 'de' });
    expect([de.cache, de.body['language']]).toEqual(['MISS', 'de']);
    for (const instance of [a, b]) {
      const deThere = await held(instance, '/greeting', { 'accept-language': 'de' });
      expect([deThere.cache, deThere.body]).toEqual(['HIT', de.body]);
    }
    const frAgain = await ask(c, '/greeting', { 'accept-language': 'fr' });
    expect([frAgain.cache, frAgain.body]).toEqual(['HIT', fr.body]);
    expect(await totalCalls('greeting')).toBe(before + 2);
  });
});
