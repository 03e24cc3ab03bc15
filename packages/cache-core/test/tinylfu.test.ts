import { describe, expect, it } from 'vitest';
import { CacheManager, LruPolicy, TinyLfuPolicy } from '../src/index.js';
import { type KeyedStore, keyedStore } from './keyed-store.js';
import { describePolicyConformance } from './policy-conformance.js';

describePolicyConformance('TINYLFU', (capacity, slots) => new TinyLfuPolicy(capacity, slots, { seed: 1 }));

function tinyLfu(capacity: number): {
  store: KeyedStore<object> & { readonly policy: TinyLfuPolicy };
  evicted: string[];
} {
  const evicted: string[] = [];
  const policy = new TinyLfuPolicy(capacity, 16, { seed: 1 });
  return {
    store: Object.assign(
      keyedStore<object>(policy, (key) => evicted.push(key)),
      { policy },
    ),
    evicted,
  };
}

/** A deterministic stream of numbers in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('TINYLFU admission', () => {
  it('keeps a frequently read entry over an entry read once when a newcomer needs room', () => {
    const { store, evicted } = tinyLfu(3);
    // Capacity 3: a window of one entry, a main space of two.
    store.set('hot', {});
    store.set('cold', {});
    store.set('x', {}); // hot and cold have left the window for probation
    for (let i = 0; i < 5; i++) store.get('hot');
    store.set('y', {}); // x leaves the window: x (used once) against cold (used once): the tie keeps cold
    expect(evicted).toEqual(['x']);
    store.set('z', {}); // y against cold, equal again; hot, promoted to protected, is never the victim
    expect(evicted).toEqual(['x', 'y']);
    expect(store.has('hot')).toBe(true);
  });

  it('admits a candidate used more often than the victim, and evicts the victim', () => {
    const { store, evicted } = tinyLfu(3);
    store.set('a', {});
    store.set('b', {});
    store.set('c', {}); // a and b in probation, c in the window
    store.get('c');
    store.get('c'); // c: used three times
    store.set('d', {}); // c leaves the window and beats probation's oldest, a (used once)
    expect(evicted).toEqual(['a']);
    expect(store.has('c')).toBe(true);
  });

  it('remembers how often a key was used while it was not held', () => {
    const { store, evicted } = tinyLfu(3);
    store.set('a', {});
    store.set('b', {});
    store.set('p', {});
    store.delete('p'); // p was used once and is gone
    store.set('p', {});
    store.delete('p');
    store.set('p', {}); // p's third use: the sketch has counted all three
    store.set('q', {}); // p leaves the window and beats a (used once), though p was never read while held
    expect(evicted).toEqual(['a']);
    expect(store.has('p')).toBe(true);
  });

  it('lets a scan of one-time keys pass through without evicting the popular set', () => {
    const capacity = 100;
    const tiny = tinyLfu(capacity);
    const lru = keyedStore<object>(new LruPolicy(capacity));
    const popular = Array.from({ length: 30 }, (_, i) => `popular-${i}`);
    for (const store of [tiny.store, lru]) {
      for (const key of popular) store.set(key, {});
      for (let i = 0; i < 50; i++) store.set(`filler-${i}`, {}); // pushes the popular keys out of the window
      for (let round = 0; round < 5; round++) for (const key of popular) store.get(key);
      for (let i = 0; i < 1000; i++) store.set(`scan-${i}`, {});
    }
    expect(popular.filter((key) => lru.has(key))).toEqual([]); // LRU lost all of them
    expect(popular.filter((key) => tiny.store.has(key))).toEqual(popular);
    expect(tiny.evicted.filter((key) => key.startsWith('popular'))).toEqual([]);
  });
});

describe('TINYLFU when the popular keys fit', () => {
  it('keeps them through a scan after a warm-up without evictions (the window grew to the whole cache while they were read)', async () => {
    const manager = new CacheManager();
    const cache = manager.addCache<number>('c', { maxElementsInMemory: 1000, memoryStoreEvictionPolicy: 'TINYLFU' });
    for (let round = 0; round < 20; round++)
      for (let i = 0; i < 500; i++) if (cache.get(`hot${i}`) === undefined) cache.put(`hot${i}`, i);
    for (let i = 0; i < 5000; i++) cache.put(`scan${i}`, i);
    let kept = 0;
    for (let i = 0; i < 500; i++) if (cache.peekEntry(`hot${i}`) !== undefined) kept++;
    // Before the fix 1 of 500 was kept. Not exactly 500: a scan key whose sketch counters all
    // collide with hot keys' ties a hot victim, and a warm candidate that ties is let in once in
    // 128 times at random (the hash-flooding defence, seeded at random): 32 runs of 400 kept 499
    // (so `toBe(500)` failed about one run in twelve).
    expect(kept).toBeGreaterThanOrEqual(495);
    await manager.shutdown();
  });
});

describe('TINYLFU before the store was ever half full', () => {
  it('keeps keys read often while the cache was filling through a scan of one-time keys', async () => {
    // The natural order of things: a fresh cache, a few keys read again and again, then a scan.
    // The sketch only exists once the store is half full, so those reads went uncounted: the hot
    // keys met the scan at a frequency of 0 against the newcomers' 1, and every one was evicted,
    // as under LRU.
    const manager = new CacheManager();
    for (const [capacity, hot] of [
      [100, 10],
      [1000, 100],
    ] as const) {
      const cache = manager.addCache<number>(`c${capacity}`, {
        maxElementsInMemory: capacity,
        memoryStoreEvictionPolicy: 'TINYLFU',
      });
      for (let round = 0; round < 10; round++)
        for (let i = 0; i < hot; i++) if (cache.get(`hot${i}`) === undefined) cache.put(`hot${i}`, i);
      for (let i = 0; i < 5 * capacity; i++) if (cache.get(`scan${i}`) === undefined) cache.put(`scan${i}`, i);
      let kept = 0;
      for (let i = 0; i < hot; i++) if (cache.peekEntry(`hot${i}`) !== undefined) kept++;
      expect(kept, `capacity ${capacity}`).toBe(hot);
    }
    await manager.shutdown();
  });
});

describe('TINYLFU through a long scan', () => {
  it("keeps its popular keys through a scan of ten times its size: its ghosts' false hits do not grow the window", async () => {
    // In a scan every candidate is rejected into the window's ghost, which fills, while nothing
    // leaves the main space, whose ghost stays empty: the false hits of the full one alone grew
    // the window sample after sample, until the main space could not hold the popular keys (38
    // of 100 were kept). The climber now gets the ghosts' hits less their measured false ones.
    const manager = new CacheManager();
    const cache = manager.addCache<number>('c', { maxElementsInMemory: 1000, memoryStoreEvictionPolicy: 'TINYLFU' });
    for (let round = 0; round < 10; round++)
      for (let i = 0; i < 100; i++) if (cache.get(`hot${i}`) === undefined) cache.put(`hot${i}`, i);
    for (let i = 0; i < 10_000; i++) if (cache.get(`scan${i}`) === undefined) cache.put(`scan${i}`, i);
    let kept = 0;
    for (let i = 0; i < 100; i++) if (cache.peekEntry(`hot${i}`) !== undefined) kept++;
    expect(kept).toBe(100);
    await manager.shutdown();
  });
});

describe('TINYLFU through its first scan', () => {
  it('keeps popular keys read while the cache filled: the hits before its first eviction do not grow the window', async () => {
    // The first sample ended early in the scan, its window hits all made while the cache filled
    // (the 41 popular keys sat in the window, nothing had left it): the window grew by 39 slots,
    // taken from probation's oldest, which moved 39 of the popular keys to the window and left
    // one at probation's head. As a victim, that one tied with each of the others leaving the
    // window (equal counts: the candidate goes), and 40 of 41 left the cache (1 of 41 kept; with
    // 39 popular keys, all kept).
    for (const popular of [39, 41, 60]) {
      const manager = new CacheManager();
      const cache = manager.addCache<number>('c', { maxElementsInMemory: 200, memoryStoreEvictionPolicy: 'TINYLFU' });
      for (let round = 0; round < 10; round++)
        for (let i = 0; i < popular; i++) if (cache.get(`hot${i}`) === undefined) cache.put(`hot${i}`, i);
      for (let i = 0; i < 2_000; i++) if (cache.get(`scan${i}`) === undefined) cache.put(`scan${i}`, i);
      let kept = 0;
      for (let i = 0; i < popular; i++) if (cache.peekEntry(`hot${i}`) !== undefined) kept++;
      expect(kept, `${popular} popular keys`).toBe(popular);
      await manager.shutdown();
    }
  });
});

describe('TINYLFU construction', () => {
  it('refuses a capacity that is not a whole number of at least 1, naming it', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) {
      expect(() => new TinyLfuPolicy(capacity)).toThrow(
        `TinyLfuPolicy: capacity must be a whole number >= 1, got ${capacity}`,
      );
    }
  });
});

describe('TINYLFU regions', () => {
  it('starts with a window of half the capacity (at least one entry) and protected at 80% of the rest', () => {
    expect(tinyLfu(1000).store.policy.regions).toMatchObject({ windowMaximum: 500, protectedMaximum: 400 });
    expect(tinyLfu(3).store.policy.regions).toMatchObject({ windowMaximum: 1, protectedMaximum: 1 });
    expect(tinyLfu(1).store.policy.regions).toMatchObject({ windowMaximum: 1, protectedMaximum: 0 });
  });

  it('promotes a read entry from probation to protected, and demotes protected overflow back', () => {
    const { store } = tinyLfu(3); // window 1, protected at most 1
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    expect(store.policy.regions).toMatchObject({ window: 1, probation: 2, protected: 0 });
    store.get('a');
    expect(store.policy.regions).toMatchObject({ window: 1, probation: 1, protected: 1 });
    store.get('b'); // protected is full: a goes back to probation
    expect(store.policy.regions).toMatchObject({ window: 1, probation: 1, protected: 1 });
    store.get('c'); // a read in the window moves nothing between regions
    expect(store.policy.regions).toMatchObject({ window: 1, probation: 1, protected: 1 });
  });

  it('keeps the region sizes consistent through inserts, reads, rewrites, deletes and resizes', () => {
    const capacity = 300;
    const { store, evicted } = tinyLfu(capacity);
    const live = new Set<string>();
    const broken: string[] = [];
    const random = lcg(7);
    for (let i = 0; i < 60_000; i++) {
      // A mix that moves the window both ways: bursts of new keys, then a popular set.
      const key = i % 20_000 < 10_000 ? `burst-${Math.floor(i / 3)}` : `k${Math.floor(random() ** 3 * 1000)}`;
      const op = random();
      if (op < 0.05) {
        store.delete(key);
        live.delete(key);
      } else if (store.get(key) === undefined) {
        store.set(key, {});
        live.add(key);
      } else if (op < 0.1) {
        store.set(key, {});
      }
      while (evicted.length > 0) live.delete(evicted.pop() as string);
      const r = store.policy.regions;
      const consistent =
        r.window + r.probation + r.protected === store.size &&
        r.window <= r.windowMaximum &&
        r.protected <= r.protectedMaximum &&
        r.probation >= 0 &&
        store.size <= capacity;
      if (!consistent) broken.push(`after operation ${i}: ${JSON.stringify(r)}, size ${store.size}`);
    }
    expect(broken).toEqual([]);
    expect(new Set(store.keys())).toEqual(live);
  });
});

describe('TINYLFU adaptive window', () => {
  it('grows the window on a recency-biased workload', () => {
    // Every key is read a few times soon after it first appears, and then never again: only the
    // window can hit, so the window should take nearly the whole cache.
    const capacity = 500;
    const { store } = tinyLfu(capacity);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) {
      const key = `k${Math.floor(i / 4) - (i % 4) * 50}`;
      if (store.get(key) === undefined) store.set(key, {});
      else hits++;
    }
    expect(hits).toBeGreaterThan(0);
    expect(store.policy.regions.windowMaximum).toBeGreaterThan(capacity / 2);
  });

  it('shrinks the window on a frequency-biased workload', () => {
    // A skewed popular set and a stream of one-time keys: room is worth more in the main space.
    const capacity = 1000;
    const { store } = tinyLfu(capacity);
    const random = lcg(3);
    for (let i = 0; i < 200_000; i++) {
      const key = i % 2 === 0 ? `popular-${Math.floor(random() ** 2 * 2000)}` : `once-${i}`;
      if (store.get(key) === undefined) store.set(key, {});
    }
    // It started at half the capacity and may not go below 2% (20 entries).
    expect(store.policy.regions.windowMaximum).toBeLessThan(capacity / 4);
    expect(store.policy.regions.windowMaximum).toBeGreaterThanOrEqual(20);
  });

  it('can grow the window to all but one entry, and then hits as often as LRU', () => {
    const capacity = 200;
    const { store } = tinyLfu(capacity);
    // Keys re-read only while recent: frequency says nothing, recency everything.
    const key = (i: number): string => `warm-${Math.floor(i / 4) - (i % 4) * 20}`;
    const access = (s: { get(k: string): object | undefined; set(k: string, v: object): void }, k: string) => {
      if (s.get(k) !== undefined) return true;
      s.set(k, {});
      return false;
    };
    let i = 0;
    for (; i < 40_000 && store.policy.regions.windowMaximum < capacity - 1; i++) access(store, key(i));
    expect(store.policy.regions.windowMaximum).toBe(capacity - 1);
    // From here an LRU of the same capacity is the benchmark: the window is one, less one entry.
    const lru = keyedStore<object>(new LruPolicy(capacity));
    let lruHits = 0;
    let hits = 0;
    for (const end = i + 20_000; i < end; i++) {
      if (access(lru, key(i))) lruHits++;
      if (access(store, key(i))) hits++;
    }
    expect(lruHits).toBeGreaterThan(10_000);
    expect(hits).toBeGreaterThanOrEqual(0.99 * lruHits);
  });
});
