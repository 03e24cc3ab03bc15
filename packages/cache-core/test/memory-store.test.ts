/**
 * The memory store on its own: slots, the interned lifespans and node names, versions kept in
 * typed arrays, and growth (packages/cache-core/src/memory/memory-store.ts).
 */
import { describe, expect, it } from 'vitest';
import { compareVersions, type Version } from '../src/index.js';
import { TABLE_FROM } from '../src/memory/key-index.js';
import { MemoryStore, type MemoryStoreOptions } from '../src/memory/memory-store.js';

const v = (time: number, counter = 0, node = 'gw-1'): Version => ({ time, counter, node });

function store(options: Partial<MemoryStoreOptions> = {}) {
  const evicted: string[] = [];
  const memory = new MemoryStore<string>({
    policy: 'LRU',
    maxEntries: 0,
    maxBytes: 0,
    defaults: { timeToLiveSeconds: 60, timeToIdleSeconds: 0 },
    onEvict: (_slot, key) => evicted.push(key),
    ...options,
  });
  const put = (key: string, createdAt = 1000, ttl = 60, tti = 0, version?: Version, bytes = 0) =>
    memory.write(key, `value of ${key}`, createdAt, createdAt, ttl, tti, version, bytes);
  return { memory, evicted, put };
}

describe('the memory store', () => {
  it('expires exactly at the deadlines a precomputed createdAt + seconds * 1000 would give', () => {
    const { memory, put } = store();
    // Fractional seconds: the deadline is the same floating-point sum it always was.
    const slot = put('k', 1_700_000_000_123, 0.3, 0.7);
    const ttlDeadline = 1_700_000_000_123 + 0.3 * 1000;
    expect(memory.isExpired(slot, ttlDeadline)).toBe(false); // strict, as in Ehcache
    expect(memory.isExpired(slot, ttlDeadline + 0.001)).toBe(true);
    expect(memory.timeToLiveSeconds(slot)).toBe(0.3);
    expect(memory.timeToIdleSeconds(slot)).toBe(0.7);
    expect(memory.expiresAt(slot)).toBe(ttlDeadline);
    // A read moves the idle clock, and only a live entry is touched: -2 - slot names an expired one.
    const idle = put('idle', 1000, 0, 1);
    expect(memory.read('idle', 1900)).toBe(idle);
    expect(memory.lastAccessedAt(idle)).toBe(1900);
    expect(memory.read('idle', 2901)).toBe(-2 - idle);
    expect(memory.lastAccessedAt(idle)).toBe(1900);
    expect(memory.read('absent', 1900)).toBe(-1);
    // The cache's own lifespan (60 s TTL here) is read from fields, not the table: the same rule.
    const own = put('own', 1000);
    expect(memory.read('own', 1000 + 60_000)).toBe(own);
    expect(memory.read('own', 1000 + 60_000 + 0.001)).toBe(-2 - own);
  });

  it('keeps one lifespan per distinct (TTL, TTI) held, and forgets it with the last entry', () => {
    const { memory, put } = store();
    put('a'); // the cache's own lifespan: number 0, never counted
    put('b', 1000, 5, 0);
    put('c', 1000, 5, 0);
    put('d', 1000, 0, 30);
    expect(memory.lifespans.size).toBe(2);
    memory.delete('b');
    expect(memory.lifespans.size).toBe(2);
    memory.delete('c');
    expect(memory.lifespans.size).toBe(1);
    put('d', 1000, 60, 0); // rewritten with the cache's lifespan
    expect(memory.lifespans.size).toBe(0);
    expect(memory.timeToLiveSeconds(memory.slotOf('a'))).toBe(60);
  });

  it('keeps versions in typed arrays, exactly, and compares them as compareVersions does', () => {
    const { memory, put } = store();
    const unversioned = put('plain');
    const slot = put('k', 1000, 60, 0, v(1_700_000_000_000, 2 ** 32 - 1, 'gw-2'));
    expect(memory.version(unversioned)).toBeUndefined();
    expect(memory.version(slot)).toEqual(v(1_700_000_000_000, 2 ** 32 - 1, 'gw-2'));
    const others = [
      undefined,
      v(1_699_999_999_999, 5, 'gw-9'),
      v(1_700_000_000_000, 2 ** 32 - 1, 'gw-1'),
      v(1_700_000_000_000, 2 ** 32 - 1, 'gw-2'),
      v(1_700_000_000_000, 2 ** 32 - 1, 'gw-3'),
      v(1_700_000_000_001, 0, 'gw-0'),
    ];
    for (const other of others) {
      expect(Math.sign(memory.compareVersion(slot, other))).toBe(
        Math.sign(compareVersions(memory.version(slot), other)),
      );
      expect(Math.sign(memory.compareVersion(unversioned, other))).toBe(Math.sign(compareVersions(undefined, other)));
    }
    put('k', 1000, 60, 0, undefined); // an unversioned write over a versioned entry
    expect(memory.version(slot)).toBeUndefined();
  });

  it('reuses the slots of removed and evicted keys, and grows by doubling up to the capacity plus one', () => {
    const { memory, evicted, put } = store({ maxEntries: 100 });
    for (let i = 0; i < 100; i++) put(`k${i}`);
    expect(memory.top).toBe(100);
    for (let i = 100; i < 150; i++) put(`k${i}`);
    expect(evicted).toEqual(Array.from({ length: 50 }, (_, i) => `k${i}`));
    expect(memory.top).toBe(101); // one slot more than the capacity: an insertion holds its slot first
    expect(memory.size).toBe(100);
    memory.delete('k120');
    put('again');
    expect(memory.top).toBe(101);
    expect([...memory.keys()].sort()).toEqual(
      [...Array.from({ length: 100 }, (_, i) => `k${i + 50}`).filter((key) => key !== 'k120'), 'again'].sort(),
    );
  });

  it('makes room for a reserve in one step, for every policy, within its bounds, and stays exact', () => {
    for (const policy of ['LRU', 'LFU', 'FIFO', 'TINYLFU'] as const) {
      const { memory, put } = store({ policy });
      expect(memory.capacity).toBe(16);
      memory.reserve(3000);
      expect(memory.capacity).toBe(3000);
      for (let i = 0; i < 3000; i++) put(`k${i}`, 1000, 60, 0, v(1000 + i, i));
      expect(memory.capacity).toBe(3000); // no doubling on the way
      for (let i = 0; i < 3000; i++) {
        const slot = memory.slotOf(`k${i}`);
        expect(memory.key(slot)).toBe(`k${i}`);
        expect(memory.version(slot)).toEqual(v(1000 + i, i));
      }
      put('one more');
      expect(memory.capacity).toBe(6000); // past it, doubling as ever
      memory.reserve(10); // never smaller
      expect(memory.capacity).toBe(6000);
    }
    // Capped by maxElementsInMemory (plus the slot an insertion holds before its victim leaves).
    const bounded = store({ maxEntries: 100 });
    bounded.memory.reserve(1_000_000);
    expect(bounded.memory.capacity).toBe(101);
    for (let i = 0; i < 150; i++) bounded.put(`k${i}`);
    expect(bounded.evicted).toHaveLength(50);
    // A byte bound: how many entries its bytes hold is not known, so no room is made ahead.
    const byBytes = store({ maxBytes: 10_000 });
    byBytes.memory.reserve(1_000_000);
    expect(byBytes.memory.capacity).toBe(16);
  });

  it('numbers slots from 0 again once empty, so that walks up to top walk what is held (a peer made each removeAll walk a million slots; found by an attack)', () => {
    for (const policy of ['LRU', 'LFU', 'FIFO', 'TINYLFU'] as const) {
      const { memory, put } = store({ policy, maxEntries: 0 });
      for (let i = 0; i < 1000; i++) put(`k${i}`);
      expect(memory.top).toBe(1000);
      for (let i = 0; i < 999; i++) memory.delete(`k${i}`);
      expect(memory.top).toBe(1000); // not empty: held slots never move
      memory.delete('k999');
      expect(memory.top).toBe(0);
      for (let i = 0; i < 3; i++) put(`again${i}`);
      expect(memory.top).toBe(3);
      expect([...memory.keys()].sort()).toEqual(['again0', 'again1', 'again2']);
      for (let i = 0; i < 3; i++) expect(memory.slotOf(`again${i}`)).toBe(i);
    }
  });

  it('hands a victim over while its slot still holds it', () => {
    const seen: string[] = [];
    const memory: MemoryStore<string> = new MemoryStore<string>({
      policy: 'FIFO',
      maxEntries: 1,
      maxBytes: 0,
      defaults: { timeToLiveSeconds: 0, timeToIdleSeconds: 0 },
      onEvict: (slot, key) => {
        seen.push(`${key}=${memory.value(slot)}@${memory.createdAt(slot)}`);
        expect(memory.has(key)).toBe(false); // already out of the index
      },
    });
    memory.write('a', 'first', 5, 5, 0, 0, v(5), 0);
    memory.write('b', 'second', 6, 6, 0, 0, v(6), 0);
    expect(seen).toEqual(['a=first@5']);
    expect(memory.value(memory.slotOf('b'))).toBe('second');
  });

  it('finds its keys exactly past the size where the key index leaves its Map for its table', () => {
    // 30,000 keys more than a bound of TABLE_FROM + 5,000: evictions, removals and rewrites go
    // through the table; every key held is found at its slot, no other key at all.
    const bound = TABLE_FROM + 5_000;
    const total = bound + 30_000;
    const { memory, evicted, put } = store({ maxEntries: bound });
    for (let i = 0; i < total; i++) put(`https://example.test/items/${i}`);
    for (let i = total - 1000; i < total - 500; i++)
      expect(memory.delete(`https://example.test/items/${i}`)).toBe(true);
    for (let i = total - 100; i < total; i++) put(`https://example.test/items/${i}`, 2000); // rewrites
    expect(evicted).toHaveLength(30_000);
    expect(memory.size).toBe(bound - 500);
    const gone = new Set(evicted);
    for (let i = 0; i < total; i++) {
      const key = `https://example.test/items/${i}`;
      const slot = memory.slotOf(key);
      if (gone.has(key) || (i >= total - 1000 && i < total - 500)) expect(slot).toBe(-1);
      else expect(memory.key(slot)).toBe(key);
    }
  });
});
