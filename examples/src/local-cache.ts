/**
 * One gateway instance's local caches, as an Ehcache user would set them up: a token cache whose
 * entries live for the token's lifetime, and a "Response Cache" bounded in memory with LRU
 * eviction. It shows getOrLoad calling a slow auth server once for many concurrent requests, a
 * failure that is not cached, expiry, eviction, events and statistics.
 *
 * Run: npm run demo
 */
import { type CacheEvent, CacheManager } from '@meshcache/core';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let authCalls = 0;
let authDown = false;
/** A stand-in for an OAuth token endpoint that takes 300 ms to answer. */
async function fetchServiceToken(key: string): Promise<string> {
  authCalls++;
  await sleep(300);
  if (authDown) throw new Error('auth server answered 503');
  return `token-for-${key}-${authCalls}`;
}

const manager = new CacheManager();
const tokens = manager.addCache<string>('tokens', { timeToLiveSeconds: 2, maxElementsInMemory: 1000 });
const responses = manager.addCache<{ status: number; body: string }>('Response Cache', {
  maxElementsInMemory: 3,
  timeToLiveSeconds: 300,
  memoryStoreEvictionPolicy: 'LRU',
});

const log = (event: CacheEvent) =>
  console.log(`  event ${event.type.padEnd(7)} ${event.cache} ${event.key ?? ''} (${event.origin})`);
for (const type of ['put', 'update', 'remove', 'expire', 'evict', 'removeAll'] as const) {
  tokens.on(type, log);
  responses.on(type, log);
}

console.log('1. Fifty concurrent requests need the same service token; the auth server is called once:');
const started = Date.now();
const answers = await Promise.all(
  Array.from({ length: 50 }, () => tokens.getOrLoad('prod/orders/read', fetchServiceToken)),
);
console.log(
  `  ${answers.length} answers, ${new Set(answers).size} distinct token, ${authCalls} auth call, ${Date.now() - started} ms`,
);

console.log('\n2. A cached token costs a Map lookup:');
const t0 = process.hrtime.bigint();
for (let i = 0; i < 100_000; i++) tokens.get('prod/orders/read');
console.log(`  100,000 reads in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);

console.log('\n3. The token expires after its 2 s TTL (found by the next read):');
await sleep(2100);
console.log(`  get -> ${String(tokens.get('prod/orders/read'))}`);

console.log('\n4. The auth server fails; the failure reaches the caller and is not cached:');
authDown = true;
await tokens
  .getOrLoad('prod/orders/read', fetchServiceToken)
  .catch((error: Error) => console.log(`  error: ${error.message}`));
authDown = false;
console.log(
  `  cached after the failure? ${tokens.has('prod/orders/read')}; next call retries -> ${await tokens.getOrLoad('prod/orders/read', fetchServiceToken)}`,
);

console.log('\n5. The "Response Cache" holds 3 responses; the least recently used leaves first:');
for (const path of ['/a', '/b', '/c']) responses.put(`GET ${path}`, { status: 200, body: `body of ${path}` });
responses.get('GET /a');
responses.put('GET /d', { status: 200, body: 'body of /d' });
console.log(`  keys now: ${responses.keys().join(', ')}`);

console.log('\n6. Statistics:');
for (const cache of [tokens, responses]) {
  const s = cache.statistics();
  console.log(
    `  ${cache.name.padEnd(15)} hits ${s.hits}, misses ${s.misses}, hit ratio ${s.hitRatio.toFixed(3)}, puts ${s.puts}, evictions ${s.evictions}, expirations ${s.expirations}, loads ${s.loads} (${s.loadFailures} failed)`,
  );
}

await manager.shutdown();
console.log('\nThe multi-node demo (`meshcache demo`) arrives with the replication and CLI packages.');
