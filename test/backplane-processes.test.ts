/**
 * The Redis Streams backplane across real processes: ClusterNodes in their own processes
 * (fixtures/cluster-process.ts) replicate through a real redis-server, and are killed with
 * SIGKILL, as a crash or an OOM kill would.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisServer } from '../packages/replication/test/redis-server.js';
import { CACHE, converged, type Running, startNode, until, valueOn } from './cluster-harness.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.close();
});

const caches = (replication: Record<string, unknown> = {}) => ({
  'Response Cache': {
    replication: { asynchronousReplicationIntervalMillis: 20, repairIntervalMillis: 1000, ...replication },
  },
});
const onBackplane = (cluster: string, replication?: Record<string, unknown>) => ({
  cluster,
  secret: 'a cluster secret of at least 32 bytes',
  caches: caches(replication),
  backplane: { type: 'redis', url: redis.url, heartbeatMillis: 200 },
});

it('a node killed with SIGKILL and started again catches up with what it missed', async () => {
  const options = onBackplane('crash');
  const a = await startNode('a', [], options);
  const b = await startNode('b', [], options);
  let c: Running = await startNode('c', [], options);
  await a.ask(`fill ${CACHE} 2000 before-`);
  await converged([a, b, c], 'all three hold the first 2000');
  c.child.kill('SIGKILL');
  await c.exited;
  await a.ask(`fill ${CACHE} 1000 while-down-`);
  await b.ask(`remove ${CACHE} before-7`);
  await b.ask(`put ${CACHE} before-8 "changed"`);
  c = await startNode('c', [], options);
  await converged([a, b, c], 'c caught up', CACHE, 30_000);
  expect(await c.ask(`count ${CACHE}`)).toEqual({ count: 2999 });
  expect(await valueOn(c, 'before-7')).toEqual({ found: false });
  expect(await valueOn(c, 'before-8')).toEqual({ found: true, value: 'changed' });
  const [line] = (await c.ask('peers')) as Array<{ id: string; backplane?: { repairs: number } }>;
  expect(line?.id).toBe('backplane');
  expect(line?.backplane?.repairs).toBeGreaterThan(0);
}, 60_000);

it('single flight: the holder of the lease is killed mid-load; one other node loads, the rest get its value', async () => {
  const options = onBackplane('flight', { clusterSingleFlight: true, singleFlightLeaseMillis: 4000 });
  const nodes = [
    await startNode('a', [], options),
    await startNode('b', [], options),
    await startNode('c', [], options),
  ];
  // Every node misses the key at once; every loader takes 3 s (less than the 4 s lease), so the holder is still loading when killed.
  for (const node of nodes) await node.ask(`load ${CACHE} token 3000 "from-${node.name}"`);
  let holder: Running | undefined;
  await until(async () => {
    for (const node of nodes) {
      const stats = (await node.ask(`stats ${CACHE}`)) as { replication: { singleFlight: { loadedHere: number } } };
      if (stats.replication.singleFlight.loadedHere === 1) holder = node;
    }
    return holder !== undefined;
  }, 'one node holding the lease and loading');
  const survivors = nodes.filter((node) => node !== holder);
  holder?.child.kill('SIGKILL');
  await holder?.exited;
  const outcomes = (await Promise.all(survivors.map((node) => node.ask(`loaded ${CACHE} token`)))) as Array<{
    value: string;
    loaderCalls: number;
  }>;
  // The lease ran out (PX): exactly one survivor claimed it and called the origin; the other waited for its value.
  expect(outcomes.reduce((sum, outcome) => sum + outcome.loaderCalls, 0)).toBe(1);
  expect(outcomes[0]?.value).toBe(outcomes[1]?.value);
  expect(outcomes[0]?.value).not.toBe(`from-${holder?.name}`);
}, 60_000);
