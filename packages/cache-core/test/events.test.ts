import { afterEach, describe, expect, it } from 'vitest';
import { type Cache, type CacheConfig, type CacheEvent, CacheManager, type Logger } from '../src/index.js';
import { replicaPortOf } from '../src/internal.js';
import { ManualClock } from '../src/testing.js';
import { setup } from './helpers.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

afterEach(removeTempDirs);

describe('events', () => {
  it('put for a new key, update for a held one, with the value, the cache name and origin local', () => {
    const { addCache, events } = setup();
    const cache = addCache('Response Cache');
    cache.put('k', 'v1');
    cache.put('k', 'v2');
    expect(events).toEqual([
      { type: 'put', cache: 'Response Cache', key: 'k', value: 'v1', origin: 'local', version: undefined },
      { type: 'update', cache: 'Response Cache', key: 'k', value: 'v2', origin: 'local', version: undefined },
    ]);
  });

  it('remove carries the removed value, and fires even for an absent key (peers may hold it)', () => {
    const { addCache, events, drain } = setup();
    const cache = addCache('c');
    cache.put('k', 'v');
    drain();
    expect(cache.remove('k')).toBe(true);
    expect(cache.remove('k')).toBe(false);
    expect(events.map((e) => [e.type, e.key, e.value])).toEqual([
      ['remove', 'k', 'v'],
      ['remove', 'k', undefined],
    ]);
    expect(cache.statistics().removals).toBe(1);
  });

  it('removeAll fires once, with no per-entry events', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c');
    cache.put('a', 1);
    cache.put('b', 2);
    drain();
    cache.removeAll();
    expect(drain()).toEqual(['removeAll']);
    expect(cache.size).toBe(0);
  });

  it('fires in the order the changes happened', () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { maxElementsInMemory: 1, timeToLiveSeconds: 5 });
    cache.put('a', 1);
    cache.put('a', 2);
    cache.put('b', 3);
    cache.remove('b');
    cache.put('c', 4);
    clock.advance(5001);
    cache.get('c');
    cache.removeAll();
    expect(drain()).toEqual(['put:a', 'update:a', 'evict:a', 'put:b', 'remove:b', 'put:c', 'expire:c', 'removeAll']);
  });

  describe('an expire listener that writes or removes the key whose write fired it (refresh on expiry)', () => {
    const refreshing = (config: CacheConfig, dir?: string) => {
      const clock = new ManualClock();
      const manager = new CacheManager({ clock: clock.now, ...(dir === undefined ? {} : { diskStorePath: dir }) });
      const cache = manager.addCache<string>('c', { timeToLiveSeconds: 10, ...config });
      const seen: string[] = [];
      for (const type of ['put', 'update', 'remove', 'expire', 'evict'] as const) {
        cache.on(type, (event) => seen.push(`${type}:${String(event.value)}`));
      }
      return { clock, manager, cache, seen };
    };
    /** 'a' and 'b' put, then expired; a listener refreshes each when the other expires; then a caller puts 'a'. */
    const putThroughChain = (cache: Cache<string>, clock: ManualClock) => {
      cache.put('a', 'old-a');
      cache.put('b', 'old-b');
      clock.advance(11_000);
      cache.on('expire', (event) => {
        if (event.key === 'a') cache.put('b', 'refreshed-b');
        if (event.key === 'b') cache.put('a', 'refreshed-a');
      });
      cache.put('a', 'caller');
    };
    /** 'k' put, then expired; `onExpire` listens; then a caller puts 'k' again. */
    const putOverExpired = (onExpire: (cache: Cache<string>) => void, config: CacheConfig, dir?: string) => {
      const refresh = refreshing(config, dir);
      refresh.cache.put('k', 'old');
      refresh.clock.advance(11_000);
      refresh.cache.on('expire', () => onExpire(refresh.cache));
      refresh.cache.put('k', 'caller');
      return refresh;
    };

    it.each([
      ['in memory', {}],
      ['in memory, byte-bounded', { maxBytesLocalHeap: 100_000 }],
    ])('%s: the listener’s write stands, and the write that fired it ends there', (_name, config) => {
      const { cache, seen } = putOverExpired((c) => c.put('k', 'refreshed'), config);
      // The listener's put came after the caller's began: the newer write, as its version says
      // where versions are kept. Before, the caller's value was written over it and announced as
      // a put of a new key.
      expect(cache.get('k')).toBe('refreshed');
      expect(seen).toEqual(['put:old', 'expire:old', 'put:refreshed']);
      expect(cache.statistics()).toMatchObject({ memorySize: 1, puts: 2, expirations: 1 });
    });

    it('with a disk tier: both tiers hold the listener’s value, announced as a put (the key was absent when it ran)', () => {
      const disk = { maxElementsInMemory: 2, overflowToDisk: true };
      const { cache, seen } = putOverExpired((c) => c.put('k', 'refreshed'), disk, tempDir());
      expect(cache.get('k')).toBe('refreshed');
      // Before, the caller's record was on disk when the listener ran, and its put was an update of it.
      expect(seen).toEqual(['put:old', 'expire:old', 'put:refreshed']);
      // Out of memory to disk, and back: the disk held the caller's value before.
      cache.put('x', '1');
      cache.put('y', '2');
      expect(cache.get('k')).toBe('refreshed');
    });

    it('a listener that removes the key: it stays removed, in memory and on disk', () => {
      const disk = { maxElementsInMemory: 2, overflowToDisk: true };
      const { cache, seen } = putOverExpired((c) => c.remove('k'), disk, tempDir());
      expect(cache.get('k')).toBeUndefined();
      expect(cache.has('k')).toBe(false);
      expect(seen).toEqual(['put:old', 'expire:old', 'remove:undefined']);
    });

    it.each([
      ['in memory', {}],
      ['with a disk tier', { maxElementsInMemory: 2, overflowToDisk: true }],
    ])(
      '%s: a chain of listeners (a expires, its listener writes b, b expires, its listener writes a) leaves the last write standing',
      (name, config) => {
        const { clock, cache, seen } = refreshing(config, name === 'in memory' ? undefined : tempDir());
        putThroughChain(cache, clock);
        expect(cache.get('a')).toBe('refreshed-a');
        expect(cache.get('b')).toBe('refreshed-b');
        expect(seen.filter((event) => event.endsWith('caller'))).toEqual([]);
        // Both tiers agree: push them out of memory and read them back.
        cache.put('x', '1');
        cache.put('y', '2');
        expect(cache.get('a')).toBe('refreshed-a');
      },
    );

    it('with versions: this node and a peer fed its changes end with the same value (the peer took the newer and refused the caller’s as stale)', () => {
      const clock = new ManualClock();
      let counter = 0;
      const here = new CacheManager({
        clock: clock.now,
        versionClock: () => ({ time: 1000, counter: ++counter, node: 'A' }),
      });
      const peer = new CacheManager({ clock: clock.now });
      const cache = here.addCache<string>('c', { timeToLiveSeconds: 10 });
      const replica = peer.addCache<string>('c', { timeToLiveSeconds: 10 });
      const port = replicaPortOf(replica);
      replicaPortOf(cache).onLocalChange((type, key, value, version, createdAt, ttl, tti) => {
        if ((type === 'put' || type === 'update') && key !== undefined && version !== undefined) {
          port.applyRemote({
            type: 'put',
            key,
            value: value as string,
            version,
            createdAt,
            timeToLiveSeconds: ttl,
            timeToIdleSeconds: tti,
          });
        }
      });
      putThroughChain(cache, clock);
      expect([cache.get('a'), replica.get('a')]).toEqual(['refreshed-a', 'refreshed-a']);
      expect([cache.get('b'), replica.get('b')]).toEqual(['refreshed-b', 'refreshed-b']);
    });

    it('a listener down the chain that clears the cache: the write that fired it ends, both tiers empty', () => {
      const { clock, cache } = refreshing({ maxElementsInMemory: 2, overflowToDisk: true }, tempDir());
      cache.put('a', 'old-a');
      cache.put('b', 'old-b');
      clock.advance(11_000);
      cache.on('expire', (event) => {
        if (event.key === 'a') cache.put('b', 'refreshed-b');
        if (event.key === 'b') cache.removeAll();
      });
      cache.put('a', 'caller');
      expect([cache.get('a'), cache.has('a'), cache.size, [...cache.keys()]]).toEqual([undefined, false, 0, []]);
    });

    it('a listener writing another key leaves the write that fired it alone', () => {
      const { clock, cache, seen } = refreshing({});
      cache.put('k', 'old');
      clock.advance(11_000);
      cache.on('expire', (event) => {
        if (event.key === 'k') cache.put('other', 'x');
      });
      cache.put('k', 'caller');
      expect(cache.get('k')).toBe('caller');
      expect(seen).toEqual(['put:old', 'expire:old', 'put:x', 'put:caller']);
    });
  });

  describe('an evict listener that writes or removes the key whose write made room (its put came after the listener’s change)', () => {
    it('a listener that removes the key: it stays removed, and no put is announced after the remove', () => {
      const { addCache, drain } = setup();
      const cache = addCache<string>('c', { maxElementsInMemory: 1 });
      cache.put('a', 'A');
      cache.on('evict', () => cache.remove('b'));
      drain();
      cache.put('b', 'B');
      expect(drain()).toEqual(['evict:a', 'remove:b']);
      expect([cache.get('b'), cache.size]).toEqual([undefined, 0]);
      expect(cache.statistics()).toMatchObject({ puts: 1, removals: 1, evictions: 1 });
    });

    it('a listener that writes the key: its value stands, announced once', () => {
      const { addCache, events } = setup();
      const cache = addCache<string>('c', { maxElementsInMemory: 1 });
      cache.put('a', 'A');
      cache.on('evict', () => cache.put('b', 'from the listener'));
      events.length = 0;
      cache.put('b', 'caller');
      expect(events.map((e) => `${e.type}:${e.key}:${String(e.value)}`)).toEqual([
        'evict:a:A',
        'update:b:from the listener',
      ]);
      expect(cache.get('b')).toBe('from the listener');
    });

    it('a listener whose own write evicts the key being written: the key is gone, and no put follows its evict', () => {
      const { addCache, drain } = setup();
      const cache = addCache<string>('c', { maxElementsInMemory: 1 });
      cache.put('a', 'A');
      cache.on('evict', (event) => {
        if (event.key === 'a') cache.put('y', 'Y'); // makes room by evicting b
      });
      drain();
      cache.put('b', 'B');
      // b's evict is reported once the listener returns (victims are reported by the outermost write).
      expect(drain()).toEqual(['evict:a', 'put:y', 'evict:b']);
      expect([cache.has('b'), cache.get('y'), cache.size]).toEqual([false, 'Y', 1]);
    });
  });

  describe('a listener that writes a key the same write evicted, before that eviction was reported', () => {
    /** A value whose entry under `key` weighs exactly `bytes` (sizes.ts: 100 + key + value + 5). */
    const weighing = (key: string, bytes: number) => 'x'.repeat(bytes - 105 - key.length);
    /** a (110 bytes) and c (300) held; big (800) evicts both; the first evict listener of a or d writes c again (106). */
    const rewriteVictim = (cache: Cache<string>, clock?: ManualClock) => {
      cache.put('a', weighing('a', 110));
      cache.put('c', weighing('c', 300));
      clock?.advance(1);
      cache.get('c');
      let once = true;
      cache.on('evict', (event) => {
        if (once && (event.key === 'a' || event.key === 'd')) {
          once = false;
          cache.put('c', '');
        }
      });
      cache.put('big', weighing('big', 800));
    };

    /** A cache of 1,000 bytes in memory that overflows to a disk of 3 entries, with a TTI, on a manual clock. */
    const overflowing = () => {
      const clock = new ManualClock();
      const manager = new CacheManager({ diskStorePath: tempDir(), clock: clock.now });
      const cache = manager.addCache<string>('c', {
        maxBytesLocalHeap: 1000,
        overflowToDisk: true,
        maxElementsOnDisk: 3,
        timeToIdleSeconds: 60,
      });
      return { clock, manager, cache };
    };

    it('in memory: the victim’s evict comes first, then the listener’s put, and the key stays held', () => {
      const { addCache, drain } = setup();
      const cache = addCache<string>('c', { maxBytesLocalHeap: 1000 });
      rewriteVictim(cache);
      // Before, evict:c came after put:c, while c was held.
      expect(drain().slice(2)).toEqual(['evict:a', 'evict:c', 'put:c', 'put:big']);
      expect([cache.get('c'), cache.size]).toEqual(['', 2]);
      expect(cache.statistics()).toMatchObject({ evictions: 2, memoryBytes: 906 });
    });

    it('with a disk tier that mirrors memory: the listener’s record stays on disk, and a restart finds it', async () => {
      const dir = tempDir();
      const config: CacheConfig = { maxBytesLocalHeap: 1000, diskPersistent: true };
      const manager = new CacheManager({ diskStorePath: dir });
      const cache = manager.addCache<string>('c', config);
      rewriteVictim(cache);
      // Before, the late report removed the listener's record: size 1 while memory held c.
      expect([cache.size, cache.keys().sort()]).toEqual([2, ['big', 'c']]);
      await manager.shutdown();
      const again = new CacheManager({ diskStorePath: dir });
      expect(again.addCache<string>('c', config).get('c')).toBe('');
      await again.shutdown();
    });

    it('with a disk tier that mirrors memory, a listener that reads the key: it is gone, in memory and on disk', async () => {
      const manager = new CacheManager({ diskStorePath: tempDir() });
      const cache = manager.addCache<string>('c', { maxBytesLocalHeap: 1000, diskPersistent: true });
      const read: Array<string | undefined> = [];
      cache.put('a', weighing('a', 110));
      cache.put('c', weighing('c', 300));
      cache.on('evict', (event) => {
        if (event.key === 'a') read.push(cache.get('c'));
      });
      cache.put('big', weighing('big', 800));
      // Before, the read found c's record still on disk and took it back into memory; the late
      // report then removed the record and announced an evict of a key memory held.
      expect(read).toEqual([undefined]);
      expect([cache.get('c'), cache.size, cache.statistics().memorySize]).toEqual([undefined, 1, 1]);
      await manager.shutdown();
    });

    it('with overflow to disk, a listener that clears the cache: nothing outlives the clear', async () => {
      const { clock, manager, cache } = overflowing();
      cache.put('d', weighing('d', 110));
      cache.put('a', weighing('a', 110));
      cache.put('c', weighing('c', 300));
      clock.advance(1);
      cache.get('c'); // read: its record is written again as it leaves memory
      cache.on('evict', () => cache.removeAll());
      cache.put('big', weighing('big', 800)); // the disk's bound evicts d, whose listener clears
      // Before, c's record was written to disk after the clear: c outlived it.
      expect([cache.size, cache.keys(), cache.get('c')]).toEqual([0, [], undefined]);
      await manager.shutdown();
    });

    it('with overflow to disk: the victim’s older record does not overwrite the listener’s on disk', async () => {
      const { clock, manager, cache } = overflowing();
      cache.put('d', weighing('d', 110)); // the disk bound's victim, whose evict listener writes c
      rewriteVictim(cache, clock); // c was read: its record is written again as it leaves memory
      expect(cache.get('c')).toBe('');
      cache.put('big2', weighing('big2', 950)); // c leaves memory for the disk
      // Before, the disk held c's older value, written over the listener's by the late report.
      expect(cache.get('c')).toBe('');
      await manager.shutdown();
    });
  });

  it('off() stops delivery; a listener may remove itself while being called', () => {
    const { manager } = setup();
    const cache = manager.addCache('c');
    const seen: string[] = [];
    const once = (event: CacheEvent) => {
      seen.push(`once:${event.key}`);
      cache.off('put', once);
    };
    const always = (event: CacheEvent) => seen.push(`always:${event.key}`);
    cache.on('put', once).on('put', always);
    cache.put('a', 1);
    cache.put('b', 2);
    cache.off('put', always);
    cache.put('c', 3);
    expect(seen).toEqual(['once:a', 'always:a', 'always:b']);
  });

  it('a listener that throws is logged and does not stop the cache or the other listeners', () => {
    const logged: string[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error: (_obj, msg) => logged.push(msg ?? ''),
    };
    const manager = new CacheManager({ logger });
    const cache = manager.addCache('c');
    const seen: string[] = [];
    cache.on('put', () => {
      throw new Error('listener bug');
    });
    cache.on('put', (event) => seen.push(event.key as string));
    expect(() => cache.put('k', 'v')).not.toThrow();
    expect(cache.get('k')).toBe('v');
    expect(seen).toEqual(['k']);
    expect(logged).toEqual(['cache event listener threw; the cache carries on']);
  });

  it('rejects an unknown event name', () => {
    const { manager } = setup();
    const cache = manager.addCache('c');
    expect(() => cache.on('deleted' as never, () => {})).toThrow(/unknown cache event "deleted"/);
    // off() too: 'expired' for 'expire' stopped nothing, and the listener went on hearing expiries.
    expect(() => cache.off('expired' as never, () => {})).toThrow(
      'unknown cache event "expired"; events are put, update, remove, expire, evict, removeAll',
    );
  });

  it('rejects an unknown origin and a listener that is not a function, naming them (from JavaScript, a typo)', () => {
    const logged: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn() {}, error: (_obj, msg) => logged.push(msg ?? '') };
    const cache = new CacheManager({ logger }).addCache('c');
    expect(() => cache.on('put', () => {}, { origin: 'remotes' as never })).toThrow(/unknown event origin "remotes"/);
    expect(() => cache.on('put', 'log' as never)).toThrow(/a listener of "put" events must be a function, not string/);
    cache.put('k', 1);
    expect(logged).toEqual([]); // the calls refused registered nothing that a put would call
  });

  it('listens to one origin when asked: local changes, or those applied from peers', () => {
    const { manager } = setup();
    const cache = manager.addCache<string>('c');
    const local: string[] = [];
    const remote: string[] = [];
    const both: string[] = [];
    const onLocal = (event: CacheEvent<string>) => local.push(`${event.type}:${event.key}`);
    cache.on('put', onLocal, { origin: 'local' });
    cache.on('put', (event) => remote.push(`${event.type}:${event.key}`), { origin: 'remote' });
    cache.on('put', (event) => both.push(`${event.origin}:${event.key}`));
    cache.put('mine', 'v');
    replicaPortOf(cache).applyRemote({
      type: 'put',
      key: 'theirs',
      value: 'v',
      version: { time: 1, counter: 0, node: 'gw-2' },
      createdAt: 1,
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    });
    expect(local).toEqual(['put:mine']);
    expect(remote).toEqual(['put:theirs']);
    expect(both).toEqual(['local:mine', 'remote:theirs']);
    cache.off('put', onLocal);
    cache.put('again', 'v');
    expect(local).toEqual(['put:mine']);
  });
});
