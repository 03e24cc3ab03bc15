import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open as lmdbOpen } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_DISK_KEY_BYTES } from '../src/disk/disk-store.js';
import { type CacheConfig, type CacheEvent, CacheManager, type Logger, ValueNotEncodableError } from '../src/index.js';
import { ManualClock } from '../src/testing.js';
import { stopChildren, waitFor, writeThenKill } from './processes.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const managers: CacheManager[] = [];

/** What the managers logged as errors or warnings: a disk test that passes logs none. */
const logged: string[] = [];
const recorder: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => logged.push(`warn ${msg} ${JSON.stringify(obj)}`),
  error: (obj, msg) => logged.push(`error ${msg} ${JSON.stringify(obj)}`),
};

/** A manager on a manual clock over `dir`, and a recorder of the named cache's events. */
function open(dir: string, config: CacheConfig, clock = new ManualClock()) {
  const manager = new CacheManager({ diskStorePath: dir, clock: clock.now, logger: recorder });
  managers.push(manager);
  const cache = manager.addCache<unknown>('c', config);
  const events: string[] = [];
  for (const type of ['put', 'update', 'remove', 'expire', 'evict', 'removeAll'] as const) {
    cache.on(type, (event: CacheEvent) => events.push(event.key === undefined ? type : `${type}:${event.key}`));
  }
  return { manager, cache, events, clock };
}

/**
 * Writes 40,000 values of 4 KiB (160 MB) to a persistent store of `config`, then runs `body` in a
 * child process with a heap of 64 MB, over a cache 'c' of the same config reopened there
 * (`managerOptions` is spliced into the CacheManager's options). Resolves what the child printed,
 * once it exited cleanly.
 */
async function inSmallHeap(config: CacheConfig, managerOptions: string, body: string): Promise<string> {
  const dir = tempDir();
  const first = open(dir, config);
  const value = 'v'.repeat(4096);
  for (let i = 0; i < 40_000; i++) first.cache.put(`k${i}`, `${i}:${value}`);
  await first.manager.shutdown();
  const source = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const script = `import(${JSON.stringify(source)}).then(async ({ CacheManager }) => {
      const manager = new CacheManager({ diskStorePath: ${JSON.stringify(dir)}${managerOptions} });
      const cache = manager.addCache('c', ${JSON.stringify(config)});
      ${body}
      await manager.shutdown();
    })`;
  const child = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect({ status: child.status, signal: child.signal, stderr: child.stderr.slice(-300) }).toEqual({
    status: 0,
    signal: null,
    stderr: '',
  });
  return child.stdout.trim();
}

afterEach(async () => {
  const seen = logged.splice(0);
  await stopChildren();
  for (const manager of managers.splice(0)) await manager.shutdown();
  removeTempDirs();
  expect(seen).toEqual([]);
});

describe('overflow to disk', () => {
  it('moves memory evictions to disk without an evict event, and counts both tiers', () => {
    const { cache, events } = open(tempDir(), { maxElementsInMemory: 2, overflowToDisk: true });
    for (const key of ['a', 'b', 'c', 'd']) cache.put(key, `value of ${key}`);
    expect(events).toEqual(['put:a', 'put:b', 'put:c', 'put:d']);
    expect(cache.size).toBe(4);
    expect(cache.keys().sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(cache.statistics()).toMatchObject({ memorySize: 2, diskSize: 4, evictions: 0 });
  });

  it('answers a memory miss from disk synchronously, counts a disk hit and promotes the entry', () => {
    const { cache } = open(tempDir(), { maxElementsInMemory: 2, overflowToDisk: true });
    for (const key of ['a', 'b', 'c']) cache.put(key, { key, body: Buffer.from(key) });
    expect(cache.get('a')).toEqual({ key: 'a', body: Buffer.from('a') }); // a was evicted to disk
    expect(cache.statistics()).toMatchObject({ hits: 1, diskHits: 1, memoryHits: 0, misses: 0 });
    expect(cache.get('a')).toEqual({ key: 'a', body: Buffer.from('a') }); // now in memory
    expect(cache.statistics()).toMatchObject({ hits: 2, diskHits: 1, memoryHits: 1 });
  });

  it('counts a read of an expired entry found on disk as an expired miss', () => {
    const { cache, clock } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true, timeToLiveSeconds: 10 });
    cache.put('a', 1);
    cache.put('b', 2); // a goes to disk
    clock.advance(10_001);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('never')).toBeUndefined();
    expect(cache.statistics()).toMatchObject({ misses: 2, expiredMisses: 1, diskHits: 0 });
  });

  it('update, remove and removeAll reach the disk tier', () => {
    const { cache, events } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true });
    cache.put('a', 1);
    cache.put('b', 2); // a goes to disk
    cache.put('a', 10); // an update of a key held on disk
    expect(events.at(-1)).toBe('update:a');
    expect(cache.get('a')).toBe(10);
    expect(cache.remove('b')).toBe(true);
    expect(cache.has('b')).toBe(false);
    expect(cache.size).toBe(1);
    cache.removeAll();
    expect(cache.size).toBe(0);
    expect(cache.get('a')).toBeUndefined();
  });

  it('refuses a value that cannot go to disk, naming the cache, and stores nothing', () => {
    const { cache } = open(tempDir(), { overflowToDisk: true });
    expect(() => cache.put('k', { render: () => 'html' })).toThrow(ValueNotEncodableError);
    expect(() => cache.put('k', { render: () => 'html' })).toThrow(
      /cache "c".*value.render is a function; this cache has a disk tier/,
    );
    expect(cache.has('k')).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('refuses a Map, Set or Date with a field of its own, which came back from disk without it, and keeps the value held (helper-120)', () => {
    const { cache } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true });
    const headers = new Map([['content-type', 'text/plain']]);
    cache.put('h', headers);
    const withField = [
      Object.assign(new Map(headers), { etag: '"v2"' }),
      Object.assign(new Set(['a']), { source: 'db' }),
      Object.assign(new Date(0), { zone: 'UTC' }),
    ];
    for (const value of withField) {
      expect(() => cache.put('h', value)).toThrow(ValueNotEncodableError);
      expect(() => cache.put('h', value)).toThrow(
        /cache "c": cannot store key "h": value is an? \w+ with a field besides/,
      );
    }
    cache.put('other', 1); // 'h' moves to disk and is read back from there
    expect(cache.get('h')).toEqual(headers);
  });

  it('refuses a value nested deeper than a disk tier carries, naming the bound, where it threw a bare RangeError (found by the outside attack)', () => {
    const { cache } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true });
    const nested = (levels: number): unknown => {
      let value: unknown = 'x';
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    cache.put('deep', nested(512));
    cache.put('other', 1); // 'deep' moves to disk and is read back from there
    expect(cache.get('deep')).toEqual(nested(512));
    // 1,500 levels failed inside msgpackr ("Maximum call stack size exceeded"), 5,000 in the
    // check itself, as a RangeError with no code that named neither the key nor the bound.
    for (const levels of [513, 1500, 5000]) {
      expect(() => cache.put('k', nested(levels))).toThrow(ValueNotEncodableError);
      expect(() => cache.put('k', nested(levels))).toThrow(
        /cache "c": cannot store key "k": value(\[0\])+ nests containers more than 512 levels deep; this cache has a disk tier, so a value may nest at most 512 levels of containers/,
      );
    }
    expect(cache.has('k')).toBe(false);
  });
  it('refuses a key longer than lmdb takes (E_INVALID_ARGUMENT, before anything is stored), reads one as a miss, and persists every write after it', async () => {
    const dir = tempDir();
    const config = { maxElementsInMemory: 2, overflowToDisk: true, diskPersistent: true };
    const first = open(dir, config);
    const longest = 'k'.repeat(MAX_DISK_KEY_BYTES);
    first.cache.put(longest, 'fits');
    // 1,978 bytes is lmdb's bound for a key, but a key that starts with a control character takes one more
    for (const key of [
      'k'.repeat(MAX_DISK_KEY_BYTES + 1),
      `\u0001${'k'.repeat(MAX_DISK_KEY_BYTES)}`,
      'é'.repeat(989),
    ]) {
      expect(() => first.cache.put(key, 'too long')).toThrow(
        expect.objectContaining({
          code: 'E_INVALID_ARGUMENT',
          message: expect.stringMatching(
            new RegExp(
              `^cache "c": a key of a cache with a disk tier takes at most ${MAX_DISK_KEY_BYTES} bytes in UTF-8`,
            ),
          ),
        }),
      );
      expect(first.cache.has(key)).toBe(false);
    }
    // getOrLoad refuses it before loading; reads and removals of any length answer as for a key not held
    expect(() => first.cache.getOrLoad('x'.repeat(5000), () => 'loaded')).toThrow(/takes at most 1977 bytes/);
    for (const key of ['x'.repeat(5000), 'y'.repeat(100_000)]) {
      expect(first.cache.get(key)).toBeUndefined();
      expect(first.cache.has(key)).toBe(false);
      expect(first.cache.remove(key)).toBe(false);
    }
    for (const key of ['a', 'b', 'c', 'd']) first.cache.put(key, key); // two of them spill to disk
    expect(first.cache.statistics()).toMatchObject({ diskState: 'ok' });
    await first.manager.shutdown();

    const second = open(dir, config);
    expect(second.cache.keys().sort()).toEqual(['a', 'b', 'c', 'd', longest]);
    expect(second.cache.get(longest)).toBe('fits');
  });

  it('without overflowToDisk, a persistent cache mirrors memory: an eviction leaves the disk too', () => {
    const { cache, events } = open(tempDir(), { maxElementsInMemory: 2, diskPersistent: true });
    for (const key of ['a', 'b', 'c']) cache.put(key, key);
    expect(events).toContain('evict:a');
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
  });
});

describe('overflow to disk with TINYLFU', () => {
  it('moves whatever TINYLFU evicts to disk, with no evict event, and answers it from there', () => {
    const { cache, events } = open(tempDir(), {
      maxElementsInMemory: 10,
      overflowToDisk: true,
      memoryStoreEvictionPolicy: 'TINYLFU',
    });
    for (let i = 0; i < 50; i++) cache.put(`k${i}`, { i });
    expect(events.filter((e) => e.startsWith('evict'))).toEqual([]);
    expect(cache.statistics()).toMatchObject({ memorySize: 10, diskSize: 50, evictions: 0 });
    for (let i = 0; i < 50; i++) expect(cache.get(`k${i}`)).toEqual({ i });
    expect(cache.statistics()).toMatchObject({ hits: 50, misses: 0, memorySize: 10 });
    expect(cache.statistics().diskHits).toBeGreaterThanOrEqual(40);
  });

  it('without overflowToDisk, what TINYLFU evicts leaves the cache and fires evict', () => {
    const { cache, events } = open(tempDir(), {
      maxElementsInMemory: 10,
      diskPersistent: true,
      memoryStoreEvictionPolicy: 'TINYLFU',
    });
    for (let i = 0; i < 50; i++) cache.put(`k${i}`, i);
    const evicted = events.filter((e) => e.startsWith('evict'));
    expect(evicted).toHaveLength(40);
    expect(cache.size).toBe(10);
    for (const event of evicted) expect(cache.get(event.slice('evict:'.length))).toBeUndefined();
  });
});

describe('maxElementsOnDisk', () => {
  it('bounds the disk tier; what leaves it fires evict, oldest write not in memory first', () => {
    const { cache, events } = open(tempDir(), { maxElementsInMemory: 2, overflowToDisk: true, maxElementsOnDisk: 4 });
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) cache.put(key, key);
    expect(events.filter((e) => e.startsWith('evict'))).toEqual(['evict:a', 'evict:b']);
    expect(cache.size).toBe(4);
    expect(cache.keys().sort()).toEqual(['c', 'd', 'e', 'f']);
    expect(cache.statistics().evictions).toBe(2);
  });

  it("a victim of the disk's bound that had expired already fires expire, counted as an expiry (found by the outside review)", () => {
    const clock = new ManualClock();
    const { cache, events } = open(
      tempDir(),
      { maxElementsInMemory: 1, overflowToDisk: true, maxElementsOnDisk: 2 },
      clock,
    );
    cache.put('a', 'a', { timeToLiveSeconds: 1 });
    cache.put('b', 'b');
    clock.advance(1001);
    cache.put('c', 'c');
    expect(events.filter((e) => /^(evict|expire)/.test(e))).toEqual(['expire:a']);
    expect(cache.statistics()).toMatchObject({ evictions: 0, expirations: 1 });
  });

  it('stale-if-error answers with an expired value held on disk, as with one in memory (found by the outside review)', async () => {
    const clock = new ManualClock();
    const { cache } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true, timeToLiveSeconds: 60 }, clock);
    cache.put('t1', 'token-1');
    cache.put('t2', 'token-2'); // t1 moves to disk
    clock.advance(61_000);
    const down = () => Promise.reject(new Error('auth server down'));
    expect(await cache.getOrLoad('t1', down, { staleIfErrorSeconds: 300 })).toBe('token-1');
    expect(await cache.getOrLoad('t2', down, { staleIfErrorSeconds: 300 })).toBe('token-2');
    expect(logged.splice(0).filter((line) => line.includes('stale-if-error'))).toHaveLength(2);
    clock.advance(300_000); // t1 expired more than 300 s ago now: the failure is the answer
    await expect(cache.getOrLoad('t1', down, { staleIfErrorSeconds: 300 })).rejects.toThrow('auth server down');
  });

  it('a bound lowered across a restart removes the oldest records at open, said once, not inside the first put', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const config = { maxElementsInMemory: 2, overflowToDisk: true, diskPersistent: true };
    const first = open(dir, { ...config, maxElementsOnDisk: 100 }, clock);
    for (let i = 0; i < 10; i++) {
      first.cache.put(`k${i}`, i);
      clock.advance(1);
    }
    await first.manager.shutdown();
    const infos: string[] = [];
    const manager = new CacheManager({
      diskStorePath: dir,
      clock: clock.now,
      logger: { ...recorder, info: (_obj, msg) => infos.push(String(msg)) },
    });
    managers.push(manager);
    const cache = manager.addCache('c', { ...config, maxElementsOnDisk: 4 });
    expect(cache.size).toBe(4);
    expect(cache.keys().sort()).toEqual(['k6', 'k7', 'k8', 'k9']);
    expect(infos.filter((msg) => msg.startsWith('the disk tier held more than maxElementsOnDisk'))).toHaveLength(1);
    const evicted: string[] = [];
    cache.on('evict', (event) => evicted.push(String(event.key)));
    cache.put('new', 'x');
    expect(evicted).toEqual(['k6']); // one, as for any put into a full tier
  });

  it('reopens a store larger than the heap: the write order is rebuilt from creation times, not from every value held at once', async () => {
    const config = { maxElementsInMemory: 10, overflowToDisk: true, diskPersistent: true, maxElementsOnDisk: 100_000 };
    // Holding every value while opening (what the tier did) ran out of memory.
    const out = await inSmallHeap(
      config,
      '',
      `cache.put('newest', 'x');
      console.log(cache.size, cache.get('k0')?.slice(0, 2));`,
    );
    expect(out).toBe('40001 0:');
  }, 90_000);
});

describe('expiry on disk', () => {
  it('an entry read in memory carries its idle clock to disk when it overflows (TTI from the last read)', () => {
    const { cache, events, clock } = open(tempDir(), {
      maxElementsInMemory: 1,
      overflowToDisk: true,
      timeToIdleSeconds: 10,
    });
    cache.put('a', 'A');
    clock.advance(8_000);
    expect(cache.get('a')).toBe('A'); // idle from here: lives until 18 s
    cache.put('b', 'B'); // a overflows to disk
    clock.advance(4_000); // 4 s idle
    expect(cache.get('a')).toBe('A');
    clock.advance(10_001); // more than 10 s idle since that read
    expect(cache.get('a')).toBeUndefined();
    expect(events).toEqual(['put:a', 'put:b', 'expire:a']);
  });

  it('the sweep removes expired entries from disk, firing expire, with no read', () => {
    const { cache, events, clock } = open(tempDir(), {
      maxElementsInMemory: 1,
      overflowToDisk: true,
      timeToLiveSeconds: 10,
    });
    for (const key of ['a', 'b', 'c']) cache.put(key, key);
    clock.advance(10_001);
    events.length = 0;
    expect(cache.evictExpiredElements()).toBe(3);
    expect(events.sort()).toEqual(['expire:a', 'expire:b', 'expire:c']);
    expect(cache.statistics()).toMatchObject({ diskSize: 0, memorySize: 0, expirations: 3, misses: 0 });
  });

  it('evictExpiredElements() on a store larger than the heap reads it record by record, not every value at once (found by the outside attack)', async () => {
    const config = { maxElementsInMemory: 10, overflowToDisk: true, diskPersistent: true, timeToLiveSeconds: 3600 };
    // A clock two hours on: every record has expired. The sweep held every record of the store in
    // one array before expiring any, and ran out of memory.
    const out = await inSmallHeap(
      config,
      ', clock: () => Date.now() + 7_200_000',
      'console.log(cache.evictExpiredElements(), cache.size);',
    );
    expect(out).toBe('40000 0');
  }, 90_000);

  it('the periodic sweep works through a large disk tier in slices, with no read', async () => {
    const { cache, events, clock } = open(tempDir(), {
      maxElementsInMemory: 10,
      overflowToDisk: true,
      timeToLiveSeconds: 10,
      diskExpiryThreadIntervalSeconds: 0.05,
    });
    for (let i = 0; i < 2500; i++) cache.put(`k${i}`, i);
    clock.advance(10_001);
    events.length = 0;
    await waitFor(() => (events.length >= 2500 ? true : undefined), 'the sweep to expire 2500 entries');
    expect(new Set(events).size).toBe(2500);
    expect(cache.statistics()).toMatchObject({ diskSize: 0, memorySize: 0, expirations: 2500, misses: 0 });
  });

  /**
   * 100 entries past their TTL, 10 of them in memory, and an expire listener that shuts the
   * manager down at the `at`th expiry (the 3rd is in memory, the 30th on disk): what
   * ends the sweep (or evictExpiredElements) with the cache closed under it.
   */
  function shutDownAtExpiry(at: number, config: CacheConfig = {}) {
    const { manager, cache, clock } = open(tempDir(), {
      maxElementsInMemory: 10,
      overflowToDisk: true,
      timeToLiveSeconds: 10,
      ...config,
    });
    const state = { expired: 0, shutdown: undefined as Promise<unknown> | undefined };
    cache.on('expire', () => {
      if (++state.expired === at) state.shutdown = manager.shutdown();
    });
    for (let i = 0; i < 100; i++) cache.put(`k${i}`, i);
    clock.advance(10_001);
    return { cache, state };
  }

  it('an expire listener that shuts the manager down in the middle of the periodic sweep ends it, with no error logged (it said the sweep failed and would run again) (helper-120)', async () => {
    for (const at of [3, 30]) {
      const { state } = shutDownAtExpiry(at, { diskExpiryThreadIntervalSeconds: 0.05 });
      await waitFor(() => state.shutdown, `the sweep to expire ${at} entries`);
      await state.shutdown;
      expect(logged.splice(0)).toEqual([]);
      expect(state.expired).toBe(at);
    }
  });

  it('evictExpiredElements() whose expire listener shuts the manager down ends there and answers how many expired; it threw E_CACHE_CLOSED, blaming the closed disk store (helper-120)', async () => {
    for (const at of [3, 30]) {
      const { cache, state } = shutDownAtExpiry(at);
      expect(cache.evictExpiredElements()).toBe(at);
      expect(state.expired).toBe(at);
      await state.shutdown;
    }
  });

  it('the disk sweep reads each expired key again at its turn: a fresh write an expire listener made is kept', () => {
    const dir = tempDir();
    const { cache, clock } = open(dir, { maxElementsInMemory: 1, overflowToDisk: true, timeToLiveSeconds: 10 });
    for (const key of ['a', 'b', 'pad']) cache.put(key, `${key}1`); // a and b on disk only
    const seen: string[] = [];
    cache.on('expire', (event) => {
      seen.push(`expire:${event.key}=${String(event.value)}`);
      if (event.key === 'a') cache.put('b', 'b2-fresh');
    });
    clock.advance(10_001);
    cache.evictExpiredElements();
    // b expires once at most (before a's listener wrote it again, if its turn came first), never after.
    expect(seen.filter((line) => line.startsWith('expire:b')).length).toBeLessThanOrEqual(1);
    cache.put('pad2', 'p2'); // b leaves memory, for the disk
    expect(cache.get('b')).toBe('b2-fresh');
    expect([...cache.keys()].sort()).toEqual(['b', 'pad2']);
  });

  it('an entry both bounds pick leaves once: one evict, counted once, not written back to disk', () => {
    // Without overflow (a persistent mirror of memory): it fired evict twice.
    const mirror = open(tempDir(), { diskPersistent: true, maxElementsInMemory: 2, maxElementsOnDisk: 2 });
    for (const key of ['a', 'b', 'c']) mirror.cache.put(key, key);
    expect(mirror.events).toEqual(['put:a', 'put:b', 'evict:a', 'put:c']);
    expect(mirror.cache.statistics().evictions).toBe(1);
    // With overflow, and a time to idle read since written: it was written back to disk, still held.
    const overflow = open(tempDir(), {
      overflowToDisk: true,
      maxElementsInMemory: 2,
      maxElementsOnDisk: 2,
      timeToIdleSeconds: 60,
      memoryStoreEvictionPolicy: 'FIFO',
    });
    overflow.cache.put('a', 'A');
    overflow.clock.advance(10);
    overflow.cache.get('a'); // its idle clock moved in memory only
    overflow.cache.put('b', 'B');
    overflow.cache.put('c', 'C'); // both bounds pick a
    expect(overflow.events).toEqual(['put:a', 'put:b', 'evict:a', 'put:c']);
    expect(overflow.cache.get('a')).toBeUndefined();
    expect([...overflow.cache.keys()].sort()).toEqual(['b', 'c']);
    expect(overflow.cache.size).toBe(2);
  });

  it('a read of a key that is not a string misses, as without a disk tier (it threw Node’s own TypeError)', () => {
    const { cache } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true });
    cache.put('k', 1);
    for (const key of [123, Symbol('k'), null] as unknown as string[]) {
      expect(cache.get(key)).toBeUndefined();
      expect(cache.has(key)).toBe(false);
      expect(cache.peekEntry(key)).toBeUndefined();
    }
  });

  it('a read of an expired entry on disk misses and frees it', () => {
    const { cache, events, clock } = open(tempDir(), { maxElementsInMemory: 1, overflowToDisk: true });
    cache.put('a', 1, { timeToLiveSeconds: 1 });
    cache.put('b', 2);
    clock.advance(1001);
    expect(cache.get('a')).toBeUndefined();
    expect(events.at(-1)).toBe('expire:a');
    expect(cache.size).toBe(1);
  });
});

describe('persistence across restarts', () => {
  it('keeps values, creation and access times, lifespans and versions across a clean shutdown', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const first = open(dir, { maxElementsInMemory: 2, overflowToDisk: true, diskPersistent: true }, clock);
    const created = clock.now();
    first.cache.put('ttl', 'lives 60 s', { timeToLiveSeconds: 60 });
    first.cache.put('tti', 'idles 30 s', { timeToIdleSeconds: 30 });
    first.cache.put('plain', { nested: new Map([['k', new Set([1])]]) });
    clock.advance(20_000);
    first.cache.get('tti'); // the idle clock restarts: it is written to disk at shutdown
    await first.manager.shutdown();

    clock.advance(20_000); // 40 s after creation, 20 s after the last read
    const second = open(dir, { maxElementsInMemory: 2, overflowToDisk: true, diskPersistent: true }, clock);
    expect(second.cache.size).toBe(3);
    expect(second.cache.peekEntry('ttl')).toMatchObject({
      value: 'lives 60 s',
      createdAt: created,
      timeToLiveSeconds: 60,
    });
    expect(second.cache.get('tti')).toBe('idles 30 s');
    expect(second.cache.get('plain')).toEqual({ nested: new Map([['k', new Set([1])]]) });
    clock.advance(20_001); // 60 s + 1 ms after creation: TTL counts from the original creation
    expect(second.cache.get('ttl')).toBeUndefined();
  });

  it('without overflowToDisk, memory holds again what the disk kept, so a restart does not add a memory’s worth of entries (found by the outside attack)', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const config = { maxElementsInMemory: 3, diskPersistent: true };
    // Each restart left the last run's entries on disk only, where no eviction reached them:
    // 3, then 6, then 9 entries in a cache of 3.
    for (const run of ['r0', 'r1', 'r2']) {
      const { manager, cache, events } = open(dir, config, clock);
      expect(cache.statistics()).toMatchObject({ memorySize: run === 'r0' ? 0 : 3, diskSize: run === 'r0' ? 0 : 3 });
      for (const i of [0, 1, 2]) {
        cache.put(`${run}k${i}`, i);
        clock.advance(1000);
      }
      expect(cache.size).toBe(3);
      expect(cache.statistics()).toMatchObject({ memorySize: 3, diskSize: 3 });
      if (run !== 'r0') expect(events.filter((e) => e.startsWith('evict:')).length).toBe(3);
      await manager.shutdown();
    }
    // Read back from memory, as before the restart; the order of use is kept: the least recently
    // used leaves first.
    const { manager, cache, events } = open(dir, config, clock);
    expect(cache.get('r2k0')).toBe(0);
    expect(cache.statistics()).toMatchObject({ memoryHits: 1, diskHits: 0 });
    cache.put('new', 'n');
    expect(events).toEqual(['evict:r2k1', 'put:new']);
    await manager.shutdown();
    // A bound lowered across the restart: the least recently used go at open.
    const lowered = open(dir, { maxElementsInMemory: 2, diskPersistent: true }, clock);
    expect(lowered.cache.size).toBe(2);
    expect(lowered.cache.keys().sort()).toEqual(['new', 'r2k0']);
  });

  it('without overflowToDisk, a maxBytesLocalHeap lowered across a restart removes the least recently used at open, said once and not counted as evictions, as a lowered maxElementsInMemory (it said nothing, and counted them) (helper-120)', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const first = open(dir, { maxBytesLocalHeap: '64k', diskPersistent: true }, clock);
    for (let i = 0; i < 20; i++) {
      first.cache.put(`k${i}`, 'x'.repeat(1000));
      clock.advance(1000);
    }
    await first.manager.shutdown();
    const info: string[] = [];
    const manager = new CacheManager({
      diskStorePath: dir,
      clock: clock.now,
      logger: { ...recorder, info: (obj, msg) => info.push(`${msg} ${JSON.stringify(obj)}`) },
    });
    managers.push(manager);
    const cache = manager.addCache('c', { maxBytesLocalHeap: '8k', diskPersistent: true });
    const held = cache.size;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(20);
    const newest = Array.from({ length: held }, (_, i) => `k${20 - held + i}`);
    expect(cache.keys().sort()).toEqual(newest.sort());
    expect(cache.statistics()).toMatchObject({ evictions: 0, memorySize: held, diskSize: held });
    expect(info).toEqual([
      expect.stringMatching(new RegExp(`held more than maxBytesLocalHeap .*"removed":${20 - held},`)),
    ]);
  });

  it('keeps long keys with control characters (a NUL as a separator) across a restart: listed, read and removed as themselves', async () => {
    const dir = tempDir();
    const config = { maxElementsInMemory: 1, overflowToDisk: true, diskPersistent: true };
    const keys = [`GET\u0000https://api.example/orders/42?${'x'.repeat(60)}`, `\u0001${'k'.repeat(80)}`, 'plain'];
    const first = open(dir, config);
    for (const key of keys) first.cache.put(key, key.length);
    await first.manager.shutdown();
    const second = open(dir, config);
    expect([...second.cache.keys()].sort()).toEqual([...keys].sort());
    for (const key of keys) expect(second.cache.get(key)).toBe(key.length);
    expect(second.cache.remove(keys[0] as string)).toBe(true);
    await second.manager.shutdown();
    const third = open(dir, config);
    expect([...third.cache.keys()].sort()).toEqual(keys.slice(1).sort());
  });

  it('re-keys, once, the long keys with control characters an earlier release wrote in the form lmdb does not read back', async () => {
    const dir = tempDir();
    const config = { maxElementsInMemory: 1, overflowToDisk: true, diskPersistent: true };
    const first = open(dir, config);
    first.cache.put('template', 'v');
    await first.manager.shutdown();
    // What an earlier release left: each key in lmdb's plain form (UTF-8; a leading byte 27
    // before a first character below 28), the record copied from one this release wrote.
    const a = `GET\u0000${'x'.repeat(70)}`;
    const b = `${'x'.repeat(70)}\u0004\u0001`; // plain, it reads as x…x\u0001 escaped
    const c = `\u0001${'k'.repeat(80)}`;
    const env = lmdbOpen({ path: dir, maxDbs: 256 });
    const raw = env.openDB<Buffer, Buffer>({ name: 'cache:c', keyEncoding: 'binary', encoding: 'binary' });
    const record = raw.get(Buffer.from('template')) as Buffer;
    for (const key of [Buffer.from(a), Buffer.from(b), Buffer.concat([Buffer.from([27]), Buffer.from(c)])])
      raw.putSync(key, record);
    env.openDB<unknown, string>({ name: 'meta' }).removeSync('keys-escaped:cache:c');
    await env.close();

    const second = open(dir, config);
    expect([...second.cache.keys()].sort()).toEqual([a, b, c, 'template'].sort());
    for (const key of [a, b, c]) expect(second.cache.get(key)).toBe('v');
    expect(second.cache.get(`${'x'.repeat(70)}\u0001`)).toBeUndefined();
    expect(second.cache.size).toBe(4);
    second.cache.put(a, 'again');
    expect(second.cache.size).toBe(4);
    await second.manager.shutdown();
    const third = open(dir, config);
    expect(third.cache.get(a)).toBe('again');
    expect([...third.cache.keys()].sort()).toEqual([a, b, c, 'template'].sort());
  });

  it("an entry with the cache's lifespan takes a lifespan the cache shortened across a restart, never a longer one; one with its own keeps it", async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const disk = { maxElementsInMemory: 10, overflowToDisk: true, diskPersistent: true };
    const first = open(dir, { ...disk, timeToLiveSeconds: 3600 }, clock);
    first.cache.put('default', 'the cache decides');
    // (told apart by value: an entry given exactly the cache's lifespan counts as having the cache's)
    first.cache.put('own', 'lives two hours whatever the cache says', { timeToLiveSeconds: 7200 });
    first.cache.put('own-short', 'lives 2 s', { timeToLiveSeconds: 2 });
    await first.manager.shutdown();

    const shorter = open(dir, { ...disk, timeToLiveSeconds: 1 }, clock);
    expect(shorter.cache.peekEntry('default')).toMatchObject({ timeToLiveSeconds: 1 });
    clock.advance(1500);
    expect(shorter.cache.get('default')).toBeUndefined(); // the new TTL: gone after 1 s
    expect(shorter.cache.get('own')).toBe('lives two hours whatever the cache says');
    expect(shorter.cache.get('own-short')).toBe('lives 2 s');
    shorter.cache.put('default', 'again, with the cache deciding');
    await shorter.manager.shutdown();

    // Longer (or eternal) is not applied: an entry's own TTL that equalled the cache's cannot be
    // told from the cache's, and a token must not outlive what it was given.
    const eternal = open(dir, { ...disk, eternal: true }, clock);
    expect(eternal.cache.peekEntry('default')).toMatchObject({ timeToLiveSeconds: 1 });
    clock.advance(5000);
    expect(eternal.cache.get('default')).toBeUndefined();
    expect(eternal.cache.get('own-short')).toBeUndefined();
    expect(eternal.cache.peekEntry('own')).toMatchObject({ timeToLiveSeconds: 7200 });
  });

  it('does not resurrect entries that expired while the process was down', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const first = open(dir, { overflowToDisk: true, diskPersistent: true, timeToLiveSeconds: 5 }, clock);
    first.cache.put('a', 1);
    await first.manager.shutdown();
    clock.advance(5001);
    const second = open(dir, { overflowToDisk: true, diskPersistent: true, timeToLiveSeconds: 5 }, clock);
    expect(second.cache.get('a')).toBeUndefined();
    expect(second.events).toEqual(['expire:a']);
    expect(second.cache.size).toBe(0);
  });

  it('without diskPersistent, the disk tier starts empty', async () => {
    const dir = tempDir();
    const first = open(dir, { maxElementsInMemory: 1, overflowToDisk: true });
    first.cache.put('a', 1);
    first.cache.put('b', 2);
    await first.manager.shutdown();
    const second = open(dir, { maxElementsInMemory: 1, overflowToDisk: true });
    expect(second.cache.size).toBe(0);
    expect(second.cache.get('a')).toBeUndefined();
  });

  it('loses nothing put more than the spool window before a kill -9', async () => {
    const dir = tempDir();
    const putBeforeWindow = await writeThenKill('cache', dir);
    const manager = new CacheManager({ diskStorePath: dir });
    managers.push(manager);
    const cache = manager.addCache<string>('tokens', {
      maxElementsInMemory: 100,
      overflowToDisk: true,
      diskPersistent: true,
      timeToLiveSeconds: 3600,
    });
    const missing: number[] = [];
    for (let i = 0; i <= putBeforeWindow; i++) if (!cache.has(`k${i}`)) missing.push(i);
    expect(missing).toEqual([]);
    expect(cache.get('k0')).toBe('t'.repeat(200));
  });
});

describe('disk errors a user can act on', () => {
  it("a cache name or a count of disk caches past lmdb's bounds is a ConfigError naming it, not lmdb's MDB_BAD_VALSIZE or MDB_DBS_FULL", () => {
    const manager = new CacheManager({ diskStorePath: tempDir(), logger: recorder });
    managers.push(manager);
    expect(() => manager.addCache('n'.repeat(1901), { overflowToDisk: true })).toThrow(
      /takes 1901 bytes in UTF-8; a cache with a disk tier takes a name of at most 1900/,
    );
    manager.addCache('m'.repeat(1901)); // memory only: any name
    for (let i = 0; i < 250; i++) manager.addCache(`c${i}`, { diskPersistent: true });
    expect(() => manager.addCache('one more', { overflowToDisk: true })).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringMatching(/one diskStorePath holds at most 250 caches with a disk tier/),
      }),
    );
    manager.getCache('c0')?.put('k', 'still serving');
    expect(manager.getCache('c0')?.get('k')).toBe('still serving');
  });

  it('caches removed and others added in their place: past the bound a ConfigError saying why, never MDB_DBS_FULL; a removed name comes back freely (found by the outside attack)', async () => {
    const manager = new CacheManager({ diskStorePath: tempDir(), logger: recorder });
    managers.push(manager);
    for (let i = 0; i < 249; i++) manager.addCache(`c${i}`, { overflowToDisk: true });
    // lmdb keeps a removed cache's database slot until the store closes: the sixth new name threw MDB_DBS_FULL.
    await manager.removeCache('c0');
    manager.addCache('r0', { overflowToDisk: true });
    await manager.removeCache('r0');
    expect(() => manager.addCache('r1', { overflowToDisk: true })).toThrow(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringMatching(
          /cache "r1": field "overflowToDisk" one diskStorePath holds at most 250 caches with a disk tier, counting the 2 removed since this CacheManager opened it/,
        ),
      }),
    );
    // A name removed before takes its old slot again, as often as it likes.
    for (let round = 0; round < 3; round++) {
      manager.addCache('c0', { overflowToDisk: true }).put('k', round);
      await manager.removeCache('c0');
    }
    manager.addCache('r0', { diskPersistent: true }).put('k', 'still serving');
    expect(manager.getCache('r0')?.get('k')).toBe('still serving');
  });

  it('a cache added again while its removal is still closing its store: an error that says to await removeCache (found by the review)', async () => {
    const manager = new CacheManager({ diskStorePath: tempDir(), logger: recorder });
    managers.push(manager);
    const cache = manager.addCache('c', { diskPersistent: true });
    for (let i = 0; i < 100; i++) cache.put(`k${i}`, 'x'.repeat(1000));
    const removing = manager.removeCache('c');
    expect(() => manager.addCache('c', { diskPersistent: true })).toThrow(
      expect.objectContaining({
        code: 'E_DISK_LOCKED',
        message: expect.stringMatching(
          /is still open in this CacheManager: the cache of that name was removed and its store is still closing; await manager\.removeCache\("c"\) before adding it again$/,
        ),
      }),
    );
    await removing;
    expect(manager.addCache('c', { diskPersistent: true }).size).toBe(100);
  });

  it('a store holding the databases of more caches than lmdb opens at once (removed or renamed over time) is still checked at open', async () => {
    const dir = tempDir();
    // Files 0600, as the store makes them (lmdb's typings leave permissionsMode out).
    const raw = lmdbOpen({ path: dir, maxDbs: 400, permissionsMode: 0o600 } as Parameters<typeof lmdbOpen>[0]);
    for (let i = 0; i < 300; i++) raw.openDB({ name: `cache:old-${i}` }).putSync('k', 1);
    await raw.close();
    // Before, the check opened each with room for 256 and failed (MDB_DBS_FULL): every start warned
    // 'could not check the disk store before opening it; opening it unchecked' (the afterEach fails on a warning).
    const { cache } = open(dir, { diskPersistent: true });
    cache.put('k', 'v');
    expect(cache.get('k')).toBe('v');
  });

  it('a second manager on the same diskStorePath gets E_DISK_LOCKED naming the cache and the path', () => {
    const dir = tempDir();
    open(dir, { overflowToDisk: true });
    const other = new CacheManager({ diskStorePath: dir });
    managers.push(other);
    expect(() => other.addCache('Response Cache', { overflowToDisk: true })).toThrow(
      expect.objectContaining({
        code: 'E_DISK_LOCKED',
        message: expect.stringContaining(`cache "Response Cache" at ${dir} is locked`),
      }),
    );
    expect(other.cacheNames()).toEqual([]);
    expect(other.addCache('memory only').name).toBe('memory only'); // the manager keeps serving
  });

  it('a manager made while another’s shutdown() of the store is still under way is told to await that shutdown, not to give each manager its own diskStorePath (helper-120)', async () => {
    const dir = tempDir();
    const first = open(dir, { maxElementsInMemory: 1, overflowToDisk: true, diskPersistent: true });
    for (let i = 0; i < 100; i++) first.cache.put(`k${i}`, i);
    const closing = first.manager.shutdown();
    const next = new CacheManager({ diskStorePath: dir });
    managers.push(next);
    const config = { maxElementsInMemory: 1, overflowToDisk: true, diskPersistent: true };
    expect(() => next.addCache('c', config)).toThrow(
      expect.objectContaining({
        code: 'E_DISK_LOCKED',
        message: expect.stringContaining('a CacheManager of this process that is shutting down: await its shutdown()'),
      }),
    );
    await closing;
    expect(next.addCache('c', config).size).toBe(100);
  });

  it('an unusable diskStorePath is E_DISK_UNWRITABLE at addCache', () => {
    const manager = new CacheManager({ diskStorePath: '/proc/meshcache-cannot-be-here' });
    managers.push(manager);
    expect(() => manager.addCache('c', { overflowToDisk: true })).toThrow(
      expect.objectContaining({ code: 'E_DISK_UNWRITABLE' }),
    );
  });
});
