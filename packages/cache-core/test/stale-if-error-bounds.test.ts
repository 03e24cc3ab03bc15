/**
 * stale-if-error's kept values (getOrLoad's staleIfErrorSeconds) share the cache's memory bounds
 * with its entries: maxBytesLocalHeap and maxElementsInMemory hold for both together, the stale
 * values giving way first (the one kept first first), and statistics say what they hold. Kept
 * outside the bounds, an outage kept every expired response of a byte-bounded response cache,
 * past the bound, with nothing in statistics to say so.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CacheConfig, CacheManager } from '../src/index.js';
import { ManualClock } from '../src/testing.js';
import { deferred, setup, weighing } from './helpers.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
  removeTempDirs();
});

const down = () => Promise.reject(new Error('origin down'));
const stale = { staleIfErrorSeconds: 600 };

/** A cache of `config` on a manual clock whose entries a..c (300 bytes each, TTL 10 s) expired and answered an outage. */
async function outage(config: CacheConfig) {
  const kit = setup();
  const cache = kit.addCache<string>('Response Cache', {
    timeToLiveSeconds: 10,
    diskExpiryThreadIntervalSeconds: 3600,
    ...config,
  });
  for (const key of ['a', 'b', 'c']) cache.put(key, weighing(key, 300));
  kit.clock.advance(10_001);
  for (const key of ['a', 'b', 'c']) expect(await cache.getOrLoad(key, down, stale)).toBe(weighing(key, 300));
  kit.drain();
  return { ...kit, cache };
}

describe('stale-if-error under maxBytesLocalHeap', () => {
  it('statistics show the stale values kept and their bytes', async () => {
    const { cache } = await outage({ maxBytesLocalHeap: 1000 });
    expect(cache.statistics()).toMatchObject({ memorySize: 0, memoryBytes: 0, staleValues: 3, staleBytes: 900 });
    expect(cache.size).toBe(0); // not entries: only stale-if-error sees them
    cache.remove('a'); // a removal ends a stale value (a revocation is not undone by the next failure)
    expect(cache.statistics()).toMatchObject({ staleValues: 2, staleBytes: 600 });
    cache.removeAll();
    expect(cache.statistics()).toMatchObject({ staleValues: 0, staleBytes: 0 });
  });

  it('stale values and entries together stay within the bound: writes shed the stale values kept first, evicting no entry', async () => {
    const { cache, drain } = await outage({ maxBytesLocalHeap: 1000 });
    const held = () => {
      const s = cache.statistics();
      return [s.memoryBytes, s.staleBytes, s.staleValues];
    };
    cache.put('d', weighing('d', 300)); // 900 stale + 300: a, kept first, goes
    expect(held()).toEqual([300, 600, 2]);
    await expect(cache.getOrLoad('a', down, stale)).rejects.toThrow('origin down');
    expect(await cache.getOrLoad('b', down, stale)).toBe(weighing('b', 300)); // answering again keeps its place
    cache.put('e', weighing('e', 300)); // then b
    expect(held()).toEqual([600, 300, 1]);
    expect(await cache.getOrLoad('c', down, stale)).toBe(weighing('c', 300));
    cache.put('f', weighing('f', 400)); // then c: 600 + 400 fills the bound
    expect(held()).toEqual([1000, 0, 0]);
    for (const key of ['b', 'c']) await expect(cache.getOrLoad(key, down, stale)).rejects.toThrow('origin down');
    expect(drain()).toEqual(['put:d', 'put:e', 'put:f']); // no entry left for a stale value
    expect(cache.statistics().evictions).toBe(0);
  });

  it("a write over a key with a stale value ends that one, not another's", async () => {
    const { cache } = await outage({ maxBytesLocalHeap: 1000 });
    cache.put('c', weighing('c', 300)); // its own stale value ends: 300 + 600 fits
    expect(cache.statistics()).toMatchObject({ memoryBytes: 300, staleValues: 2, staleBytes: 600 });
    expect(await cache.getOrLoad('a', down, stale)).toBe(weighing('a', 300));
  });

  it('a stale value takes only the room the entries leave: kept where it does not fit, it ends', async () => {
    const { clock, addCache } = setup();
    const cache = addCache<string>('c', { maxBytesLocalHeap: 1000, timeToLiveSeconds: 10 });
    cache.put('a', weighing('a', 300));
    clock.advance(10_001);
    const gate = deferred<string>();
    const answer = cache.getOrLoad('a', () => gate.promise, stale); // the expired entry leaves memory
    expect(cache.statistics().memoryBytes).toBe(0);
    for (const key of ['d', 'e', 'f']) cache.put(key, weighing(key, 300), { eternal: true }); // meanwhile: 900
    gate.reject(new Error('origin down'));
    expect(await answer).toBe(weighing('a', 300)); // it answers the failure that found it
    expect(cache.statistics()).toMatchObject({ memoryBytes: 900, staleValues: 0, staleBytes: 0 });
    await expect(cache.getOrLoad('a', down, stale)).rejects.toThrow('origin down');
    expect(cache.statistics().evictions).toBe(0);
  });

  it('a stale value larger than the bound is not kept (one held on disk only, with overflowToDisk)', async () => {
    const clock = new ManualClock();
    const manager = new CacheManager({ diskStorePath: tempDir(), clock: clock.now });
    managers.push(manager);
    const cache = manager.addCache<string>('c', {
      maxBytesLocalHeap: 1000,
      overflowToDisk: true,
      timeToLiveSeconds: 10,
    });
    cache.put('huge', weighing('huge', 5000)); // too large for memory: on disk only
    clock.advance(10_001);
    expect(await cache.getOrLoad('huge', down, stale)).toBe(weighing('huge', 5000));
    expect(cache.statistics()).toMatchObject({ memoryBytes: 0, staleValues: 0, staleBytes: 0 });
    await expect(cache.getOrLoad('huge', down, stale)).rejects.toThrow('origin down');
  });

  it('an entry promoted from disk sheds stale values as a write does', async () => {
    const clock = new ManualClock();
    const manager = new CacheManager({ diskStorePath: tempDir(), clock: clock.now });
    managers.push(manager);
    const cache = manager.addCache<string>('c', { maxBytesLocalHeap: 1000, overflowToDisk: true });
    for (const key of ['cold', 'd', 'e']) cache.put(key, weighing(key, 300));
    cache.put('a', weighing('a', 300), { timeToLiveSeconds: 10 }); // cold, the least recently used, moves to disk
    clock.advance(10_001);
    expect(await cache.getOrLoad('a', down, stale)).toBe(weighing('a', 300));
    expect(cache.statistics()).toMatchObject({ memoryBytes: 600, staleValues: 1, staleBytes: 300 });
    expect(cache.get('cold')).toBe(weighing('cold', 300)); // promoted: 600 + 300 + the stale 300 > 1000
    expect(cache.statistics()).toMatchObject({ memorySize: 3, memoryBytes: 900, staleValues: 0, staleBytes: 0 });
    await expect(cache.getOrLoad('a', down, stale)).rejects.toThrow('origin down');
  });

  it('the expiry sweep forgets the stale values whose window has passed', async () => {
    const { cache, clock } = await outage({ maxBytesLocalHeap: 1000 });
    clock.advance(600_000);
    cache.evictExpiredElements();
    expect(cache.statistics()).toMatchObject({ staleValues: 0, staleBytes: 0 });
  });
});

describe('stale-if-error under maxElementsInMemory', () => {
  it('stale values and entries together stay within the count, the stale ones kept first going first', async () => {
    const { cache, drain } = await outage({ maxElementsInMemory: 3 });
    expect(cache.statistics()).toMatchObject({ memorySize: 0, staleValues: 3, staleBytes: 0 }); // no byte bound: not weighed
    cache.put('d', 'v');
    cache.put('e', 'v');
    expect(cache.statistics()).toMatchObject({ memorySize: 2, staleValues: 1 });
    for (const key of ['a', 'b']) await expect(cache.getOrLoad(key, down, stale)).rejects.toThrow('origin down');
    expect(await cache.getOrLoad('c', down, stale)).toBe(weighing('c', 300));
    expect(drain()).toEqual(['put:d', 'put:e']);
  });
});
