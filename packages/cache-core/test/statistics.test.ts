import { describe, expect, it } from 'vitest';
import { replicaPortOf } from '../src/internal.js';
import { setup } from './helpers.js';

describe('statistics', () => {
  it('counts hits, misses, puts, updates, removals, evictions and expirations', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { maxElementsInMemory: 2, timeToLiveSeconds: 10 });
    cache.put('a', 1);
    cache.put('a', 2);
    cache.put('b', 3);
    cache.get('a');
    cache.get('a');
    cache.get('nope');
    cache.put('c', 4); // evicts b (least recently used)
    cache.remove('c');
    cache.remove('c');
    clock.advance(10_001);
    cache.get('a');
    expect(cache.statistics()).toEqual({
      hits: 2,
      misses: 2,
      expiredMisses: 1,
      memoryHits: 2,
      diskHits: 0,
      puts: 3,
      updates: 1,
      removals: 1,
      evictions: 1,
      expirations: 1,
      memorySize: 0,
      memoryBytes: 0, // sized only under maxBytesLocalHeap
      staleValues: 0, // none kept for stale-if-error
      staleBytes: 0,
      diskSize: 0,
      diskState: 'none',
      diskPendingWrites: 0,
      diskPendingBytes: 0,
      diskWritesDropped: 0,
      memoryOnly: 0,
      hitRatio: 0.5,
      loads: 0,
      loadFailures: 0,
      tombstones: 0, // unversioned removals leave none
      tombstonesDropped: 0,
    });
  });

  it('tells a miss on an expired entry from a miss on a key never held (Ehcache: expired, notFound)', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToIdleSeconds: 5 });
    cache.put('idle', 1);
    cache.put('ttl', 2, { timeToLiveSeconds: 1 });
    cache.get('absent');
    clock.advance(1_001);
    cache.get('ttl'); // expired by its TTL
    cache.get('ttl'); // gone now: not found
    clock.advance(5_000);
    cache.get('idle'); // expired by idling
    expect(cache.statistics()).toMatchObject({ misses: 4, expiredMisses: 2, hits: 0, expirations: 2 });
    cache.clearStatistics();
    expect(cache.statistics()).toMatchObject({ misses: 0, expiredMisses: 0 });
  });

  it('has(), keys(), peekEntry() and snapshot() are quiet', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    cache.put('a', 1);
    cache.has('a');
    cache.has('b');
    cache.keys();
    cache.peekEntry('a');
    [...replicaPortOf(cache).entries()];
    expect(cache.statistics()).toMatchObject({ hits: 0, misses: 0, hitRatio: 0 });
  });

  it('clearStatistics resets the counters but not the sizes', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    cache.put('a', 1);
    cache.get('a');
    cache.clearStatistics();
    expect(cache.statistics()).toMatchObject({ hits: 0, puts: 0, memorySize: 1 });
  });
});
