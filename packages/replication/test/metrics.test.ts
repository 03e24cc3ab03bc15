import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { registerMeshcacheMetrics } from '../src/metrics.js';
import { nodeCache, startNode, until } from './nodes.js';
import { type Family, parsePrometheusText, samplesOf, sampleValue } from './prometheus-text.js';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const replication = { asynchronousReplicationIntervalMillis: 10 };
const caches = {
  'Response Cache': { maxElementsInMemory: 3, replication },
  spill: { maxElementsInMemory: 1, overflowToDisk: true },
  local: {},
  sized: { maxBytesLocalHeap: '1k' },
};

async function scrape(registry: Registry): Promise<{ text: string; families: Map<string, Family> }> {
  const text = await registry.metrics();
  return { text, families: parsePrometheusText(text) };
}

describe('registerMeshcacheMetrics: the Prometheus figures of a node, against real traffic', () => {
  it('counts gets by result, misses by reason, puts, removals, evictions, sizes, tiers, loads and tombstones', async () => {
    const b = await startNode('gw-2', [], { caches, diskStorePath: join(dir, 'gw-2') });
    const a = await startNode('gw-1', [b.url], { caches, diskStorePath: join(dir, 'gw-1') });
    await a.ready();
    const registry = new Registry();
    registerMeshcacheMetrics(a, registry);
    const responses = nodeCache(a, 'Response Cache');
    const onB = nodeCache(b, 'Response Cache');

    for (const key of ['GET /a', 'GET /b', 'GET /c', 'GET /d', 'GET /e']) responses.put(key, { body: `secret-${key}` });
    responses.put('GET /e', { body: 'secret-updated' }); // an update
    expect(responses.get('GET /e')).toEqual({ body: 'secret-updated' });
    expect(responses.get('GET /d')).toBeDefined();
    expect(responses.get('GET /a')).toBeUndefined(); // evicted: a miss, not found
    responses.put('GET /short', { body: 'secret-short' }, { timeToLiveSeconds: 1 });
    const sized = nodeCache(a, 'sized');
    sized.put('old', 'x'.repeat(100), { timeToLiveSeconds: 1 }); // to answer an outage, stale
    await until(() => onB.has('GET /e') && onB.has('GET /short'), 'the puts to reach gw-2');
    expect(responses.remove('GET /e')).toBe(true);
    await until(() => !responses.has('GET /short'), 'GET /short to expire', 5000);
    expect(responses.get('GET /short')).toBeUndefined(); // a miss on an expired entry
    const spill = nodeCache(a, 'spill');
    for (const key of ['x', 'y', 'z']) spill.put(key, 'on disk');
    expect(await nodeCache(a, 'local').getOrLoad('k', () => 'loaded')).toBe('loaded');
    await until(() => !sized.has('old'), 'old to expire', 5000);
    const down = () => Promise.reject(new Error('origin down'));
    expect(await sized.getOrLoad('old', down, { staleIfErrorSeconds: 60 })).toBe('x'.repeat(100));
    sized.put('r', 'x'.repeat(100));
    await until(() => !onB.has('GET /e') && !onB.has('GET /short'), 'the removal and expiry to reach gw-2');
    await a.settle();

    const { text, families } = await scrape(registry);
    const stats = responses.statistics();
    const cache = { cache: 'Response Cache' };
    expect(sampleValue(families, 'cache_gets_total', { ...cache, result: 'hit' })).toBe(2);
    expect(sampleValue(families, 'cache_gets_total', { ...cache, result: 'miss' })).toBe(2);
    expect(sampleValue(families, 'cache_misses_total', { ...cache, reason: 'expired' })).toBe(1);
    expect(sampleValue(families, 'cache_misses_total', { ...cache, reason: 'notFound' })).toBe(1);
    expect(sampleValue(families, 'cache_puts_total', cache)).toBe(7); // six keys written, one of them twice
    expect(sampleValue(families, 'cache_removals_total', cache)).toBe(1);
    expect(sampleValue(families, 'cache_evictions_total', cache)).toBe(stats.evictions);
    expect(stats.evictions).toBeGreaterThanOrEqual(2); // six keys through three places
    expect(sampleValue(families, 'cache_size', cache)).toBe(responses.size);
    expect(sampleValue(families, 'meshcache_cache_expirations_total', cache)).toBe(1);
    expect(sampleValue(families, 'meshcache_cache_tombstones', cache)).toBe(1); // the removal of GET /e
    expect(sampleValue(families, 'meshcache_cache_entries', { cache: 'spill', tier: 'memory' })).toBe(1);
    expect(sampleValue(families, 'meshcache_cache_entries', { cache: 'spill', tier: 'disk' })).toBe(3);
    expect(sampleValue(families, 'cache_size', { cache: 'spill' })).toBe(3);
    expect(sampleValue(families, 'meshcache_cache_disk_degraded', { cache: 'spill' })).toBe(0);
    expect(() => sampleValue(families, 'meshcache_cache_disk_degraded', cache)).toThrow(/0 samples/); // no disk tier
    expect(sampleValue(families, 'meshcache_cache_disk_writes_dropped_total', { cache: 'spill' })).toBe(0);
    const { memoryBytes, staleBytes } = sized.statistics();
    expect(memoryBytes).toBeGreaterThan(100);
    expect(staleBytes).toBeGreaterThan(100);
    expect(sampleValue(families, 'meshcache_cache_memory_bytes', { cache: 'sized', kind: 'held' })).toBe(memoryBytes);
    expect(sampleValue(families, 'meshcache_cache_memory_bytes', { cache: 'sized', kind: 'stale' })).toBe(staleBytes);
    expect(sampleValue(families, 'meshcache_cache_stale_values', { cache: 'sized' })).toBe(1);
    expect(sampleValue(families, 'meshcache_cache_stale_values', { cache: 'local' })).toBe(0);
    expect(sampleValue(families, 'meshcache_cache_memory_bytes', { cache: 'sized', kind: 'bound' })).toBe(1024);
    expect(() => sampleValue(families, 'meshcache_cache_memory_bytes', { cache: 'local', kind: 'held' })).toThrow(
      /0 samples/,
    ); // no byte bound
    expect(sampleValue(families, 'meshcache_cache_loads_total', { cache: 'local', answered: 'local' })).toBe(1);
    expect(sampleValue(families, 'meshcache_cache_loads_total', { cache: 'local', answered: 'peer' })).toBe(0);

    // Replication: what gw-1 sent, gw-2 received and applied; nothing left queued.
    const sent = sampleValue(families, 'meshcache_peer_changes_sent_total', { peer: 'gw-2' });
    expect(sent).toBe(sampleValue(families, 'meshcache_cache_changes_sent_total', cache));
    expect(sent).toBeGreaterThanOrEqual(8); // at least the six keys, the removal and the expiry (updates may coalesce)
    expect(b.peers().find((p) => p.id === 'gw-1')?.changesReceived).toBe(sent);
    expect(sampleValue(families, 'meshcache_peer_queued_changes', { peer: 'gw-2' })).toBe(0);
    expect(sampleValue(families, 'meshcache_peer_queued_bytes', { peer: 'gw-2' })).toBe(0);
    expect(sampleValue(families, 'meshcache_peer_state', { peer: 'gw-2', state: 'connected' })).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_state', { peer: 'gw-2', state: 'down' })).toBe(0);
    // Every state has its series, 0 but the one that holds (suspect and skewed appeared only while they held).
    expect(
      samplesOf(families, 'meshcache_peer_state')
        .map((sample) => sample.labels['state'])
        .sort(),
    ).toEqual(['connected', 'connecting', 'down', 'refused', 'skewed', 'suspect']);
    expect(sampleValue(families, 'meshcache_peer_info', { peer: 'gw-2', url: b.url, found_by: 'manual' })).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_repairs_total', { peer: 'gw-2' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(families, 'meshcache_cache_repairs_total', cache)).toBeGreaterThanOrEqual(1);
    expect(sampleValue(families, 'meshcache_node_ready')).toBe(1);
    expect(sampleValue(families, 'meshcache_node_info', { node: 'gw-1', cluster: 'gateways' })).toBe(1);
    // gw-1 has received no live change from gw-2, so no lag yet; gw-2 has one for gw-1.
    expect(samplesOf(families, 'meshcache_peer_lag_seconds')).toEqual([]);
    const registryOfB = new Registry();
    registerMeshcacheMetrics(b, registryOfB);
    const ofB = (await scrape(registryOfB)).families;
    expect(sampleValue(ofB, 'meshcache_peer_lag_seconds', { peer: 'gw-1' })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(ofB, 'meshcache_peer_changes_received_total', { peer: 'gw-1' })).toBe(sent);
    expect(sampleValue(ofB, 'meshcache_cache_changes_applied_total', cache)).toBeGreaterThanOrEqual(sent);
    expect(sampleValue(ofB, 'meshcache_cache_tombstones', cache)).toBe(1);

    // Types and names as Prometheus wants them; never a key or a value.
    for (const family of families.values()) {
      expect(family.help).not.toBe('');
      if (family.type === 'counter') expect(family.name).toMatch(/_total$/);
    }
    for (const secret of ['GET /', 'secret-', 'on disk', 'loaded', '"k"', '"x"']) expect(text).not.toContain(secret);

    // A peer going down changes its state; its per-link figures go with it.
    await b.stop();
    await until(() => a.peers()[0]?.state !== 'connected', 'gw-1 to see gw-2 go');
    const after = (await scrape(registry)).families;
    expect(sampleValue(after, 'meshcache_peer_state', { peer: 'gw-2', state: 'connected' })).toBe(0);
    expect(
      sampleValue(after, 'meshcache_peer_state', { peer: 'gw-2', state: 'down' }) +
        sampleValue(after, 'meshcache_peer_state', { peer: 'gw-2', state: 'connecting' }),
    ).toBe(1);
    // When it was last heard from stays (it showed "never", and its series left /metrics): found by the outside review.
    const lastSeen = a.peers()[0]?.lastSeen;
    expect(lastSeen).toEqual(expect.any(Number));
    expect(sampleValue(after, 'meshcache_peer_last_seen_timestamp_seconds', { peer: 'gw-2' })).toBe(
      (lastSeen as number) / 1000,
    );
  });

  it('counts a peer reached through two configured URLs once', async () => {
    const b = await startNode('gw-2', [], { caches: { 'Response Cache': { replication } } });
    const port = new URL(b.url).port;
    // The same node twice: peers() lists both URLs, and both show the one link's figures.
    const a = await startNode('gw-1', [`ws://127.0.0.1:${port}`, `ws://localhost:${port}`], {
      caches: { 'Response Cache': { replication } },
    });
    await a.ready();
    const registry = new Registry();
    registerMeshcacheMetrics(a, registry);
    for (let i = 0; i < 3; i++) nodeCache(a, 'Response Cache').put(`k${i}`, i);
    await until(() => nodeCache(b, 'Response Cache').size === 3, 'the puts on gw-2');
    const sent = () =>
      a
        .peers()
        .filter((peer) => peer.id === 'gw-2')
        .map((peer) => peer.changesSent);
    await until(() => sent().some((count) => count === 3), 'the link counts three');
    const { families } = await scrape(registry);
    expect(sampleValue(families, 'meshcache_peer_changes_sent_total', { peer: 'gw-2' })).toBe(3);
  });

  it('reports the node not ready until ready() resolves, and unregisters cleanly', async () => {
    // A peer that accepts the connection and never says a word: ready() waits socketTimeoutMillis for it.
    const silent = createServer((socket) => held.push(socket));
    const held: Socket[] = [];
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const a = await startNode('gw-1', [`ws://127.0.0.1:${port}`], { caches: { 'Response Cache': { replication } } });
      const registry = new Registry();
      const metrics = registerMeshcacheMetrics(a, registry);
      let ready = false;
      const becameReady = a.ready().then(() => {
        ready = true;
      });
      const before = sampleValue((await scrape(registry)).families, 'meshcache_node_ready');
      expect(ready).toBe(false);
      expect(before).toBe(0);
      await becameReady;
      await until(
        async () => sampleValue((await scrape(registry)).families, 'meshcache_node_ready') === 1,
        'meshcache_node_ready to become 1',
      );
      expect(() => registerMeshcacheMetrics(a, registry)).toThrow(/already been registered/);
      metrics.unregister();
      expect((await registry.metrics()).trim()).toBe('');
      registerMeshcacheMetrics(a, registry); // and again, once the first is gone
      const text = await registry.metrics();
      // Not the backplane's nine: a mesh node has none (prom-client showed those without labels as 0).
      expect(parsePrometheusText(text).size).toBe(34);
      expect(text).not.toMatch(/meshcache_backplane_/);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
