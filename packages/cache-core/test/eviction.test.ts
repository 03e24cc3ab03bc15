import { describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

describe.each(['LRU', 'LFU', 'FIFO', 'TINYLFU'] as const)('%s cache eviction', (policy) => {
  it('fires evict exactly once for every entry that leaves for lack of room', () => {
    const { addCache, events } = setup();
    const cache = addCache('c', { maxElementsInMemory: 10, memoryStoreEvictionPolicy: policy });
    for (let i = 0; i < 100; i++) {
      cache.put(`k${i}`, i);
      if (i % 3 === 0) cache.get(`k${Math.floor(i / 2)}`);
    }
    const evicted = events.filter((e) => e.type === 'evict').map((e) => e.key);
    expect(evicted).toHaveLength(90);
    expect(new Set(evicted).size).toBe(90);
    expect(cache.size).toBe(10);
    expect(cache.statistics().evictions).toBe(90);
    for (const key of evicted) expect(cache.has(key as string)).toBe(false);
  });

  it('reports an evicted victim that had already expired as expire, not evict', () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 2, memoryStoreEvictionPolicy: policy });
    cache.put('short', 1, { timeToLiveSeconds: 1 });
    cache.put('long', 2);
    cache.get('long'); // short is now the victim of every policy: least recent, least read, oldest
    clock.advance(1001);
    drain();
    cache.put('new', 3);
    expect(drain()).toEqual(['expire:short', 'put:new']);
    expect(cache.statistics()).toMatchObject({ evictions: 0, expirations: 1 });
  });

  it('lets a listener write back into the cache while an eviction is reported', () => {
    const { addCache } = setup();
    const cache = addCache('c', { maxElementsInMemory: 2, memoryStoreEvictionPolicy: policy });
    const seen: string[] = [];
    cache.on('evict', (event) => {
      seen.push(event.key as string);
      if (seen.length === 1) cache.put('from-listener', 0); // which key went first is the policy's choice
    });
    cache.put('a', 1);
    cache.put('b', 2);
    cache.put('c', 3);
    expect(seen).toHaveLength(2); // the listener's put made room too
    expect(cache.size).toBe(2);
    expect(cache.has('from-listener')).toBe(true);
  });
});

describe('cache-level eviction order', () => {
  it('LRU: a get counts as use', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 3 });
    cache.put('a', 1);
    cache.put('b', 2);
    cache.put('c', 3);
    cache.get('a');
    drain();
    cache.put('d', 4);
    expect(drain()).toEqual(['evict:b', 'put:d']);
  });

  it('LRU: has() is not a use', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 2 });
    cache.put('a', 1);
    cache.put('b', 2);
    cache.has('a');
    drain();
    cache.put('c', 3);
    expect(drain()).toEqual(['evict:a', 'put:c']);
  });

  it('FIFO: reads do not matter', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 2, memoryStoreEvictionPolicy: 'FIFO' });
    cache.put('a', 1);
    cache.put('b', 2);
    cache.get('a');
    drain();
    cache.put('c', 3);
    expect(drain()).toEqual(['evict:a', 'put:c']);
  });

  it('LFU: the least read goes, ties to the least recently used', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 3, memoryStoreEvictionPolicy: 'lfu' });
    cache.put('a', 1);
    cache.put('b', 2);
    cache.put('c', 3);
    cache.get('a');
    cache.get('c');
    cache.get('b');
    cache.get('a');
    drain();
    cache.put('d', 4); // b and c read once; c was used before b
    expect(drain()).toEqual(['evict:c', 'put:d']);
  });

  it('TINYLFU: a popular entry outlives a scan of new keys that would flush LRU', () => {
    const { addCache, drain } = setup();
    const lru = addCache('lru', { maxElementsInMemory: 10 });
    const tiny = addCache('tiny', { maxElementsInMemory: 10, memoryStoreEvictionPolicy: 'tinylfu' });
    for (const cache of [lru, tiny]) {
      cache.put('popular', 1);
      for (let i = 0; i < 4; i++) cache.put(`filler-${i}`, i);
      for (let i = 0; i < 5; i++) cache.get('popular');
      for (let i = 0; i < 100; i++) cache.put(`scan-${i}`, i);
    }
    expect(lru.has('popular')).toBe(false);
    expect(tiny.has('popular')).toBe(true);
    expect(tiny.config.memoryStoreEvictionPolicy).toBe('TINYLFU');
    expect(drain().filter((e) => e === 'evict:popular')).toEqual(['evict:popular']); // LRU's only
  });

  it('maxElementsInMemory 0 never evicts', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 0 });
    for (let i = 0; i < 20_000; i++) cache.put(`k${i}`, i);
    expect(cache.size).toBe(20_000);
    expect(drain().filter((e) => e.startsWith('evict'))).toEqual([]);
  });

  it('defaults to 10000 entries in memory', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    for (let i = 0; i < 10_005; i++) cache.put(`k${i}`, i);
    expect(cache.size).toBe(10_000);
    expect(cache.statistics().evictions).toBe(5);
  });
});
