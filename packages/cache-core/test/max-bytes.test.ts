/**
 * maxBytesLocalHeap: a byte bound on what a cache's entries take in memory, Ehcache's name and
 * syntax, each entry sized by an estimate (src/memory/sizes.ts), victims chosen by the policy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveCacheConfig } from '../src/config.js';
import type { DiskRecord, DroppedRecord } from '../src/disk/disk-store.js';
import { DiskTier } from '../src/disk/disk-tier.js';
import { MemoryDiskStore } from '../src/disk/memory-disk-store.js';
import { CacheEngine } from '../src/engine.js';
import { cacheLifespan } from '../src/expiry.js';
import { type CacheConfig, CacheManager, ConfigError } from '../src/index.js';
import { ENTRY_OVERHEAD, entryBytes } from '../src/memory/sizes.js';
import { ManualClock, VirtualScheduler } from '../src/testing.js';
import { setup, weighing } from './helpers.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
  removeTempDirs();
});

describe('TINYLFU under a byte bound alone', () => {
  it('holds the bound while entry sizes change phase to phase (the window went negative and the lists broke)', () => {
    const bound = 2 * 1024 * 1024;
    const manager = new CacheManager();
    const cache = manager.addCache<string>('t', { maxBytesLocalHeap: bound, memoryStoreEvictionPolicy: 'TINYLFU' });
    let seed = 12345;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const held: number[] = [];
    for (const [phase, size] of [2000, 50, 20, 2000, 10, 500].entries()) {
      for (let i = 0; i < 300_000; i++) {
        const key =
          phase % 2 === 0 ? `p${phase}:${Math.floor(i / 3) % 40_000}` : `z${Math.floor(random() ** 3 * 200_000)}`;
        if (cache.get(key) === undefined) cache.put(key, 'x'.repeat(size));
      }
      held.push(cache.statistics().memoryBytes);
    }
    expect(held.filter((bytes) => bytes > bound)).toEqual([]);
    void manager.shutdown();
  });
});

describe('maxBytesLocalHeap: configuration', () => {
  it('takes a number of bytes, or Ehcache’s strings with a unit in powers of 1024', () => {
    const manager = new CacheManager();
    const bytes = (value: number | string) =>
      manager.addCache(`c${String(value)}`, { maxBytesLocalHeap: value }).config.maxBytesLocalHeap;
    expect(bytes(1_000_000)).toBe(1_000_000);
    expect(bytes('256m')).toBe(256 * 1024 * 1024);
    expect(bytes('256M')).toBe(256 * 1024 * 1024);
    expect(bytes('2g')).toBe(2 * 1024 ** 3);
    expect(bytes('512k')).toBe(512 * 1024);
    expect(bytes('100')).toBe(100);
    expect(bytes('100b')).toBe(100);
    expect(bytes(0)).toBe(0);
  });

  it.each([
    [-1, /must not be negative/],
    [1.5, /whole number of bytes.*got 1.5/],
    ['256 megabytes', /"512k", "256m" or "2g".*got "256 megabytes"/],
    ['1.5g', /got "1.5g"/],
    ['-5m', /got "-5m"/],
    [true, /got true/],
  ])('refuses %s, naming the cache and the field', (value, problem) => {
    expect(() => new CacheManager().addCache('Response Cache', { maxBytesLocalHeap: value as number })).toThrow(
      ConfigError,
    );
    expect(() => new CacheManager().addCache('Response Cache', { maxBytesLocalHeap: value as number })).toThrow(
      /cache "Response Cache": field "maxBytesLocalHeap" /,
    );
    expect(() => new CacheManager().addCache('Response Cache', { maxBytesLocalHeap: value as number })).toThrow(
      problem,
    );
  });

  it('alone, leaves the count unbounded (Ehcache sizes by one or the other); with maxElementsInMemory, both hold', () => {
    const manager = new CacheManager();
    expect(manager.addCache('bytes', { maxBytesLocalHeap: '1m' }).config.maxElementsInMemory).toBe(0);
    expect(
      manager.addCache('both', { maxBytesLocalHeap: '1m', maxElementsInMemory: 5 }).config.maxElementsInMemory,
    ).toBe(5);
    const both = manager.addCache<string>('both-used', { maxBytesLocalHeap: '1m', maxElementsInMemory: 5 });
    for (let i = 0; i < 10; i++) both.put(`k${i}`, 'small');
    expect(both.size).toBe(5);
  });
});

describe('maxBytesLocalHeap: eviction by size', () => {
  it('evicts the policy’s victims until the estimated bytes fit, and counts them in statistics', () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c', { maxBytesLocalHeap: 1000 });
    for (const key of ['a', 'b', 'c']) cache.put(key, weighing(key, 300));
    expect(cache.statistics().memoryBytes).toBe(900);
    cache.get('a'); // LRU: b is now the least recently used
    drain();
    cache.put('d', weighing('d', 300)); // 1200 > 1000: one must go
    expect(drain()).toEqual(['evict:b', 'put:d']);
    expect(cache.statistics()).toMatchObject({ memoryBytes: 900, memorySize: 3, evictions: 1 });
    cache.put('big', weighing('big', 700)); // needs two to leave
    expect(drain()).toEqual(['evict:c', 'evict:a', 'put:big']);
    expect(cache.statistics().memoryBytes).toBe(1000);
  });

  it('a value whose getter throws fails the put with nothing changed: no expire of the entry it replaces (the outside attack)', () => {
    const { addCache, drain, clock } = setup();
    const cache = addCache<unknown>('c', { maxBytesLocalHeap: 10_000, timeToLiveSeconds: 10 });
    cache.put('k', 'old');
    clock.advance(11_000); // 'k' expired, not yet swept
    drain();
    const hostile = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter says no');
      },
    });
    expect(() => cache.put('k', hostile)).toThrow('getter says no');
    // The expired entry did not leave, nor fire expire, for a put that failed.
    expect(drain()).toEqual([]);
    expect(cache.statistics()).toMatchObject({ memorySize: 1, expirations: 0 });
    expect(cache.get('k')).toBeUndefined(); // it is expired: a read finds it so, and only now it expires
    expect(drain()).toEqual(['expire:k']);
  });

  it('an update that grows an entry evicts others, never the entry itself', () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c', { maxBytesLocalHeap: 1000 });
    for (const key of ['a', 'b', 'c']) cache.put(key, weighing(key, 300));
    drain();
    cache.put('a', weighing('a', 600)); // a is the most recent write; b and c are older
    expect(drain()).toEqual(['evict:b', 'update:a']);
    expect(cache.statistics().memoryBytes).toBe(900);
    expect(cache.get('a')).toBe(weighing('a', 600));
  });

  it('a value larger than the whole bound is written and leaves at once, evicting nothing else', () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c', { maxBytesLocalHeap: 1000 });
    cache.put('small', weighing('small', 200));
    drain();
    cache.put('huge', weighing('huge', 1001));
    expect(drain()).toEqual(['put:huge', 'evict:huge']);
    expect(cache.has('huge')).toBe(false);
    expect(cache.get('small')).toBe(weighing('small', 200));
    expect(cache.statistics()).toMatchObject({ memoryBytes: 200, memorySize: 1, evictions: 1 });
  });

  it('a value too large for the bound never enters memory, so the count bound evicts nothing for it', () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c', { maxElementsInMemory: 2, maxBytesLocalHeap: 1000 });
    cache.put('a', 'A');
    cache.put('b', 'B');
    drain();
    let heldDuringPut: boolean | undefined;
    cache.on('put', () => {
      heldDuringPut = cache.has('huge');
    });
    cache.put('huge', weighing('huge', 5000));
    expect(drain()).toEqual(['put:huge', 'evict:huge']);
    expect(heldDuringPut).toBe(false);
    expect(cache.keys().sort()).toEqual(['a', 'b']);
  });

  it('an entry updated to a value too large for the bound leaves, with the value it had', () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c', { maxBytesLocalHeap: 1000 });
    cache.put('k', weighing('k', 300));
    cache.put('other', weighing('other', 300));
    drain();
    cache.put('k', weighing('k', 5000));
    expect(drain()).toEqual(['update:k', 'evict:k']);
    expect(cache.has('k')).toBe(false);
    expect(cache.statistics()).toMatchObject({ memorySize: 1, memoryBytes: 300 });
  });

  it('sizes a value that refers to itself once per object (a walk per path never ends)', () => {
    const { addCache } = setup();
    const cache = addCache<unknown>('c', { maxBytesLocalHeap: '64m' });
    const loop: Record<string, unknown> = {};
    loop['x'] = loop;
    loop['y'] = loop;
    type Tree = { parent: Tree | null; left: Tree | null; right: Tree | null };
    const tree = (depth: number, parent: Tree | null = null): Tree => {
      const node: Tree = { parent, left: null, right: null };
      if (depth > 0) {
        node.left = tree(depth - 1, node);
        node.right = tree(depth - 1, node);
      }
      return node;
    };
    cache.put('loop', loop);
    cache.put('tree', tree(12)); // 8,191 nodes, each reachable by a path per level through its parents
    expect(entryBytes('loop', loop)).toBe(ENTRY_OVERHEAD + 4 + 32 + 2 * (2 + 5)); // an object 32, met again 5
    expect(cache.statistics().memorySize).toBe(2);
  });

  it('sizes a huge array from a sample of its elements (it walked every one: 10^8 holes took seconds in one put); uniform ones come out exact', () => {
    const bytesOf = (value: unknown) => entryBytes('k', value) - ENTRY_OVERHEAD - 1;
    expect(bytesOf(new Array(100_000_000))).toBe(32 + 9 * 100_000_000);
    expect(bytesOf(Array.from({ length: 200_000 }, () => 'abc'))).toBe(32 + 8 * 200_000);
    expect(bytesOf(Array.from({ length: 1000 }, () => 'abc'))).toBe(32 + 8 * 1000);
  });

  it('sizes containers as V8 keeps them, not as they encode: a value of many empty Maps holds the bound (a 512 MB bound let such values run the heap out; found by an attack)', () => {
    const bytesOf = (value: unknown) => entryBytes('k', value) - ENTRY_OVERHEAD - 1;
    expect(bytesOf([])).toBe(32);
    expect(bytesOf({})).toBe(32);
    expect(bytesOf(new Map())).toBe(160);
    expect(bytesOf(new Set())).toBe(160);
    const maps = Array.from({ length: 10_000 }, () => new Map());
    expect(bytesOf(maps)).toBe(32 + 160 * 10_000); // about what the heap holds (190 bytes a Map), not 5 a Map
    const { addCache } = setup();
    const cache = addCache<unknown>('c', { maxBytesLocalHeap: '4m' });
    for (let i = 0; i < 10; i++)
      cache.put(
        `k${i}`,
        Array.from({ length: 10_000 }, () => new Map()),
      );
    expect(cache.statistics().memoryBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(cache.size).toBe(2); // 1.6 MB each by the estimate
  });

  it('sizes binary values by their bytes: ArrayBuffers, DataViews and every typed array', () => {
    const bytesOf = (value: unknown) => entryBytes('k', value) - ENTRY_OVERHEAD - 1;
    expect(bytesOf(new ArrayBuffer(4096))).toBe(4096 + 5);
    expect(bytesOf(new DataView(new ArrayBuffer(4096), 96))).toBe(4000 + 5);
    expect(bytesOf(new Float64Array(1000))).toBe(8000 + 5);
    expect(bytesOf(Buffer.alloc(10))).toBe(10 + 5);
    expect(bytesOf(new Blob([new Uint8Array(1 << 20)]))).toBe((1 << 20) + 5); // it counted 5
    const { addCache, drain } = setup();
    const cache = addCache<ArrayBuffer>('c', { maxBytesLocalHeap: '1m' });
    cache.put('big', new ArrayBuffer(2 * 1024 * 1024));
    expect(drain()).toEqual(['put:big', 'evict:big']);
  });

  it('with overflowToDisk, a value too large for memory is held on disk only', () => {
    const manager = new CacheManager({ diskStorePath: tempDir() });
    managers.push(manager);
    const cache = manager.addCache<string>('c', { maxBytesLocalHeap: 1000, overflowToDisk: true });
    const events: string[] = [];
    cache.on('evict', (event) => events.push(`evict:${event.key}`));
    cache.put('huge', weighing('huge', 5000));
    expect(cache.statistics()).toMatchObject({ memorySize: 0, memoryBytes: 0, diskSize: 1 });
    expect(cache.get('huge')).toBe(weighing('huge', 5000)); // from disk, and not promoted
    expect(cache.statistics()).toMatchObject({ memorySize: 0, diskHits: 1 });
    expect(events).toEqual([]);
  });

  it('with overflowToDisk and a TTI, a read of a value held on disk only moves its idle clock, as a read from memory does', async () => {
    const clock = new ManualClock();
    const dir = tempDir();
    const config: CacheConfig = {
      maxBytesLocalHeap: 1000,
      overflowToDisk: true,
      timeToIdleSeconds: 10,
      diskPersistent: true,
    };
    const manager = new CacheManager({ diskStorePath: dir, clock: clock.now });
    const cache = manager.addCache<string>('c', config);
    cache.put('huge', weighing('huge', 5000));
    clock.advance(8_000);
    expect(cache.get('huge')).toBe(weighing('huge', 5000));
    clock.advance(8_000); // 16 s after the put, 8 after the read: alive
    // Before, the read left the record's idle clock at the put, and the entry expired here.
    expect(cache.get('huge')).toBe(weighing('huge', 5000));
    expect(cache.peekEntry('huge')?.lastAccessedAt).toBe(clock.now());
    expect(cache.statistics()).toMatchObject({ expirations: 0, diskHits: 2, memorySize: 0 });
    clock.advance(10_001);
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.statistics()).toMatchObject({ expirations: 1 });
    await manager.shutdown();
  });

  it('with overflowToDisk on a disk that drops the write, a value too large for memory leaves with evict', () => {
    // A degraded disk tier drops what it cannot keep, and promises that every key is then either
    // readable from memory or gone with an evict event: a value memory cannot hold is the second.
    class DroppingStore extends MemoryDiskStore<string> {
      dropping = false;
      override put(key: string, record: DiskRecord<string>): readonly DroppedRecord<string>[] {
        if (!this.dropping) return super.put(key, record);
        this.remove(key);
        return [[key, record]];
      }
    }
    const store = new DroppingStore();
    const clock = new ManualClock();
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const config = resolveCacheConfig('c', { overflowToDisk: true, maxBytesLocalHeap: 1000 });
    const engine = new CacheEngine<string>('c', config, {
      clock: () => clock.now(),
      scheduler: new VirtualScheduler({ start: clock.now() }),
      logger: quiet,
      versionClock: undefined,
      tombstoneRetentionMillis: 1000,
      maxTombstones: 100,
      disk: new DiskTier(store, 0, cacheLifespan(config)),
    });
    const events: string[] = [];
    for (const type of ['put', 'evict'] as const)
      engine.on(type, (event) => events.push(`${type}:${event.key}`), undefined);
    store.dropping = true;
    engine.put('huge', weighing('huge', 5000), undefined);
    expect(events).toEqual(['put:huge', 'evict:huge']);
    expect(engine.size).toBe(0);
    expect(engine.statistics()).toMatchObject({ memorySize: 0, memoryOnly: 0 });
  });

  it.each(['LRU', 'LFU', 'FIFO', 'TINYLFU'] as const)(
    '%s stays within the bound under churn, by bytes alone',
    (policy) => {
      const { addCache } = setup();
      const config: CacheConfig = { maxBytesLocalHeap: 50_000, memoryStoreEvictionPolicy: policy };
      const cache = addCache<string>('c', config);
      let seed = 11;
      const random = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let i = 0; i < 20_000; i++) {
        const key = `k${Math.floor(random() ** 2 * 2000)}`;
        if (cache.get(key) === undefined) cache.put(key, 'v'.repeat(Math.floor(random() * 900)));
        expect(cache.statistics().memoryBytes).toBeLessThanOrEqual(50_000);
      }
      const held = cache.keys();
      const sum = held.reduce((total, key) => total + entryBytes(key, cache.peekEntry(key)?.value), 0);
      expect(cache.statistics().memoryBytes).toBe(sum);
      expect(held.length).toBeGreaterThan(50);
    },
  );

  it('sizes entries a peer sent as it sizes local ones', async () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c', { maxBytesLocalHeap: 1000 });
    const { replicaPortOf } = await import('../src/internal.js');
    const port = replicaPortOf(cache);
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) {
      port.applyPut(key, weighing(key, 300), { time: 100 + i, counter: 0, node: 'gw-2' }, 100, 0, 0);
    }
    expect(drain()).toEqual(['put:a', 'put:b', 'put:c', 'evict:a', 'put:d']);
    expect(cache.statistics().memoryBytes).toBe(900);
  });

  it('a cache without a byte bound does not size its entries', () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    cache.put('a', 'x'.repeat(1000));
    expect(cache.statistics().memoryBytes).toBe(0);
  });
});
