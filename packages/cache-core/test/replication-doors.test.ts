import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager, compareVersions, type Version } from '../src/index.js';
import { type RemoteChange, replicaPortOf } from '../src/internal.js';
import { fnv1a } from '../src/replica-digest.js';
import { setup } from './helpers.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const v = (time: number, counter = 0, node = 'a'): Version => ({ time, counter, node });
/** A version `ms` after the manual clock's start: a peer's removal is judged against the retention by its time. */
const at = (ms: number): Version => v(1_700_000_000_000 + ms);

function putChange(key: string, value: unknown, version: Version, createdAt = version.time): RemoteChange<unknown> {
  return { type: 'put', key, value, version, createdAt, timeToLiveSeconds: 0, timeToIdleSeconds: 0 };
}

/** A cache of 10 s entries whose read expiries linger in its digest, each write a newer version; `empty`: its digest at the start. */
function lingering() {
  let counter = 0;
  const kit = setup({ versionClock: () => at(counter++) });
  const cache = kit.addCache('c', { timeToLiveSeconds: 10 });
  const port = replicaPortOf(cache);
  port.lingerReadExpiries();
  return { ...kit, cache, port, empty: port.digest(16) };
}

describe('compareVersions', () => {
  it('orders by time, then counter, then node, with undefined oldest', () => {
    expect(compareVersions(v(1), v(2))).toBeLessThan(0);
    expect(compareVersions(v(2, 0), v(2, 1))).toBeLessThan(0);
    expect(compareVersions(v(2, 1, 'b'), v(2, 1, 'a'))).toBeGreaterThan(0);
    expect(compareVersions(v(2, 1, 'a'), v(2, 1, 'a'))).toBe(0);
    expect(compareVersions(undefined, v(0))).toBeLessThan(0);
    expect(compareVersions(undefined, undefined)).toBe(0);
  });
});

describe('local writes are stamped by the version clock', () => {
  it('carries the version on the entry and on the event', () => {
    let counter = 0;
    const { addCache, events } = setup({ versionClock: () => v(100, counter++, 'me') });
    const cache = addCache('c');
    cache.put('k', 'v');
    expect(cache.peekEntry('k')?.version).toEqual(v(100, 0, 'me'));
    expect(events[0]?.version).toEqual(v(100, 0, 'me'));
    cache.remove('k');
    expect(replicaPortOf(cache).tombstones()).toEqual([{ key: 'k', version: v(100, 1, 'me') }]);
  });
});

describe('a local write is stamped newer than the version it replaces', () => {
  afterEach(removeTempDirs);

  /**
   * A clock that stamps `time` (which the test sets back, as a stepped wall clock) unless given a
   * version to pass: then that version's next counter, as the replication's HLC does.
   */
  const stepped = () => {
    const clock = { time: 5_000, afters: [] as Version[] };
    const versionClock = (after?: Version): Version => {
      if (after === undefined) return v(clock.time, 0, 'me');
      clock.afters.push(after);
      return v(after.time, after.counter + 1, 'me');
    };
    return { clock, versionClock };
  };

  it("a persistent disk's entry, kept across a restart after which the clock stands earlier: the put and the remove pass it (found by the outside attack)", async () => {
    const dir = tempDir();
    const config = { diskPersistent: true, overflowToDisk: true, maxElementsInMemory: 1 };
    const before = new CacheManager({ diskStorePath: dir, versionClock: () => v(9_000, 3, 'me') });
    const first = before.addCache('c', config);
    for (const key of ['a', 'b', 'c']) first.put(key, 'before');
    await before.shutdown();
    const { clock, versionClock } = stepped();
    const after = new CacheManager({ diskStorePath: dir, versionClock });
    const cache = after.addCache('c', config);
    cache.put('a', 'after'); // on disk only: its record's version
    expect(cache.peekEntry('a')?.version).toEqual(v(9_000, 4, 'me'));
    cache.remove('b');
    expect(replicaPortOf(cache).tombstones()).toEqual([{ key: 'b', version: v(9_000, 4, 'me') }]);
    // Stamped older, each lost to what it replaced on every peer (and a repair undid it here).
    expect(clock.afters).toEqual([v(9_000, 3, 'me'), v(9_000, 3, 'me')]);
    await after.shutdown();
  });

  it('removeAll too: its clear version passes every version held, else a peer kept what the clear removed here, and its repair brought it back', async () => {
    const dir = tempDir();
    const config = { diskPersistent: true, overflowToDisk: true, maxElementsInMemory: 1 };
    const before = new CacheManager({ diskStorePath: dir, versionClock: () => v(9_000, 3, 'me') });
    const first = before.addCache('c', config);
    for (const key of ['a', 'b']) first.put(key, 'before');
    await before.shutdown();
    const { versionClock } = stepped();
    const after = new CacheManager({ diskStorePath: dir, versionClock });
    const cache = after.addCache('c', config);
    cache.removeAll();
    const port = replicaPortOf(cache);
    expect(compareVersions(port.clearVersion, v(9_000, 3, 'me'))).toBeGreaterThan(0);
    // A peer whose copy of 'a' the clear did not pass kept it, and offers it back in a repair.
    expect(port.applyPut('a', 'before', v(9_000, 3, 'me'), 9_000, 0, 0)).toBe('stale');
    expect(cache.has('a')).toBe(false);
    await after.shutdown();
  });

  it('in memory too, and a newer clock is asked nothing', () => {
    const { clock, versionClock } = stepped();
    const { addCache } = setup({ versionClock });
    const cache = addCache('c');
    cache.put('k', 'one');
    clock.time = 4_000; // stepped back
    cache.put('k', 'two');
    expect(cache.peekEntry('k')?.version).toEqual(v(5_000, 1, 'me'));
    clock.time = 6_000;
    cache.put('k', 'three');
    cache.put('other', 'x');
    expect(cache.peekEntry('k')?.version).toEqual(v(6_000, 0, 'me'));
    expect(clock.afters).toEqual([v(5_000, 0, 'me')]);
  });
});

describe('local changes, as replication hears them', () => {
  it("name the memory slot the key is held in: the same for a key's changes while it stays, -1 where none", () => {
    let counter = 0;
    const { clock, addCache } = setup({ versionClock: () => v(100, counter++, 'me') });
    const cache = addCache('c', { maxElementsInMemory: 2, timeToLiveSeconds: 10 });
    const heard: Array<[string, string | undefined, number]> = [];
    replicaPortOf(cache).onLocalChange((type, key, _value, _version, _createdAt, _ttl, _tti, slot) => {
      heard.push([type, key, slot]);
    });
    cache.put('a', 1);
    cache.put('b', 2);
    cache.put('a', 3);
    cache.remove('b');
    cache.put('c', 4); // takes the slot 'b' left
    clock.advance(11_000);
    cache.get('a'); // found expired
    cache.removeAll();
    const slotOf = (at: number) => heard[at]?.[2] as number;
    expect(heard.map(([type, key]) => `${type}:${key}`)).toEqual([
      'put:a',
      'put:b',
      'update:a',
      'remove:b',
      'put:c',
      'expire:a',
      'removeAll:undefined',
    ]);
    expect(slotOf(0)).toBeGreaterThanOrEqual(0);
    expect(slotOf(1)).toBeGreaterThanOrEqual(0);
    expect(slotOf(1)).not.toBe(slotOf(0));
    expect([slotOf(2), slotOf(5)]).toEqual([slotOf(0), slotOf(0)]);
    expect([slotOf(3), slotOf(4)]).toEqual([slotOf(1), slotOf(1)]);
    expect(slotOf(6)).toBe(-1);
  });
});

describe('local changes, as replication hears them: keys leaving their slots', () => {
  afterEach(removeTempDirs);

  it.each([
    ['evicted', undefined],
    ['moved to the disk tier', 'disk'],
  ])("a key %s: an 'evict' of the slot it was held in", async (_how, disk) => {
    const manager = new CacheManager(disk === undefined ? {} : { diskStorePath: tempDir() });
    const cache = manager.addCache('c', {
      maxElementsInMemory: 1,
      ...(disk === undefined ? {} : { overflowToDisk: true }),
    });
    const heard: Array<[string, string | undefined, number, unknown]> = [];
    replicaPortOf(cache).onLocalChange((type, key, _value, version, _createdAt, _ttl, _tti, slot) => {
      heard.push([type, key, slot, version]);
    });
    const evicted: string[] = [];
    cache.on('evict', (event) => evicted.push(event.key as string));
    cache.put('a', 1);
    cache.put('b', 2);
    const slotOfA = heard[0]?.[2] as number;
    expect(slotOfA).toBeGreaterThanOrEqual(0);
    expect(heard.map(([type, key, slot]) => [type, key, slot])).toEqual([
      ['put', 'a', slotOfA],
      ['evict', 'a', slotOfA],
      ['put', 'b', heard[2]?.[2]],
    ]);
    expect(heard[2]?.[2]).toBeGreaterThanOrEqual(0);
    // Moved to disk, the key is still held, and no evict event fired.
    expect(evicted).toEqual(disk === undefined ? ['a'] : []);
    expect(cache.has('a')).toBe(disk !== undefined);
    await manager.shutdown();
  });
});

describe('applyRemote', () => {
  it('applies a newer put with origin remote, keeping the origin createdAt for TTL', () => {
    const { clock, addCache, events } = setup();
    const cache = addCache('c');
    const createdAt = clock.now() - 4000;
    const outcome = replicaPortOf(cache).applyRemote({
      type: 'put',
      key: 'k',
      value: 'from-peer',
      version: v(createdAt),
      createdAt,
      timeToLiveSeconds: 5,
      timeToIdleSeconds: 0,
    });
    expect(outcome).toBe('applied');
    expect(events.map((e) => [e.type, e.origin])).toEqual([['put', 'remote']]);
    expect(cache.get('k')).toBe('from-peer');
    clock.advance(1001); // 5 s after the origin created it
    expect(cache.get('k')).toBeUndefined();
  });

  it('refuses a put that is not newer than the held entry, and changes nothing', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote(putChange('k', 'new', v(200)));
    drain();
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'old', v(100)))).toBe('stale');
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'same', v(200)))).toBe('stale');
    expect(cache.get('k')).toBe('new');
    expect(drain()).toEqual([]);
  });

  it('concurrent writes converge: whichever order they arrive in, the higher version wins', () => {
    const a = setup().addCache('c');
    const b = setup().addCache('c');
    const fromX = putChange('k', 'x', v(500, 0, 'x'));
    const fromY = putChange('k', 'y', v(500, 0, 'y'));
    replicaPortOf(a).applyRemote(fromX);
    replicaPortOf(a).applyRemote(fromY);
    replicaPortOf(b).applyRemote(fromY);
    replicaPortOf(b).applyRemote(fromX);
    expect(a.get('k')).toBe('y');
    expect(b.get('k')).toBe('y');
  });

  it('a remote put is newer than an unversioned local entry', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    cache.put('k', 'local');
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'remote', v(1)))).toBe('applied');
    expect(cache.get('k')).toBe('remote');
  });

  it('a remove leaves a tombstone that refuses a late, older put', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote(putChange('k', 'v', at(100)));
    drain();
    expect(replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(300) })).toBe('applied');
    expect(drain()).toEqual(['remove:k']);
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'late', at(200)))).toBe('stale');
    expect(cache.has('k')).toBe(false);
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'newer', at(400)))).toBe('applied');
    expect(cache.get('k')).toBe('newer');
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
  });

  it('a remove of a key this node never held still records its tombstone', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    expect(replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(300) })).toBe('applied');
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'late', at(200)))).toBe('stale');
  });

  it('an older remove is refused', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote(putChange('k', 'v', at(300)));
    expect(replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(200) })).toBe('stale');
    expect(cache.get('k')).toBe('v');
  });

  it('tombstones are forgotten after the retention, by the sweep', () => {
    const { clock, addCache } = setup({ tombstoneRetentionSeconds: 60 });
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(300) });
    clock.advance(60_001);
    cache.evictExpiredElements();
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
  });

  it('an entry a read finds expired leaves the digest at the next sweep, once lingerReadExpiries() (its expire fires at the read)', () => {
    const { clock, addCache, drain, cache, port, empty } = lingering();
    cache.put('k', 'v');
    cache.put('j', 'w');
    const held = port.digest(16);
    clock.advance(10_001);
    drain();
    expect(cache.get('k')).toBeUndefined();
    expect(drain()).toEqual(['expire:k']);
    expect(port.digest(16)).toEqual(held); // as a peer's that holds its copy until its sweep
    const generation = port.generation;
    cache.evictExpiredElements(); // the sweep: 'j' goes, and 'k' leaves the digest
    expect(port.generation).toBeGreaterThan(generation);
    expect(port.digest(16)).toEqual(empty);
    // A write of the key ends its lingering at once (it replaces the peers' copies too): the
    // digest holds the new version alone, as a node's that only heard the write.
    cache.put('k', 'v2');
    clock.advance(10_001);
    expect(cache.get('k')).toBeUndefined();
    cache.put('k', 'v3');
    const other = replicaPortOf(addCache('other'));
    other.digest(16);
    other.applyPut('k', 'v3', cache.peekEntry('k')?.version as Version, clock.now(), 0, 0);
    expect(port.digest(16)).toEqual(other.digest(16));
  });

  it("a peer's removeAll takes out what lingers and is no newer than it, as it takes out the peers' copies", () => {
    const { clock, cache, port, empty } = lingering();
    cache.put('k', 'v');
    cache.put('j', 'w');
    clock.advance(10_001);
    expect(cache.get('k')).toBeUndefined(); // lingers
    // The peer that cleared holds nothing (its own clear forgot what lingered there); the peers
    // that hear the clear drop their unswept copies of 'k' and 'j'.
    expect(port.applyRemote({ type: 'removeAll', version: at(10_500) })).toBe('applied');
    expect(port.digest(16)).toEqual(empty);
  });

  it("a write too large for memory ends what lingers of its key, as it ends the peers' copies", () => {
    let counter = 0;
    const { clock, addCache } = setup({ versionClock: () => at(counter++) });
    const cache = addCache('c', { timeToLiveSeconds: 10, maxBytesLocalHeap: '1k' });
    const port = replicaPortOf(cache);
    port.lingerReadExpiries();
    const empty = port.digest(16);
    cache.put('k', 'v');
    clock.advance(10_001);
    expect(cache.get('k')).toBeUndefined(); // lingers
    // Peers holding the expired copy drop it for this write, which none of them holds (evicted).
    cache.put('k', 'x'.repeat(4096));
    expect(cache.peekEntry('k')).toBeUndefined();
    expect(port.digest(16)).toEqual(empty);
  });

  it('tombstones past the retention are forgotten before a repair reads them (digest, list), not only by the sweep', () => {
    // Sweeps run at each node's own moments; repairs compare nodes at one moment. Forgotten only
    // by the sweep, the same tombstone was held on one node and gone on another for up to a sweep
    // interval, and every anti-entropy round meanwhile listed its bucket's keys.
    const { clock, addCache } = setup({ tombstoneRetentionSeconds: 60 });
    const cache = addCache('c');
    const port = replicaPortOf(cache);
    const empty = port.digest(1);
    port.applyRemote({ type: 'remove', key: 'k', version: at(300) });
    expect(port.digest(1)).not.toEqual(empty);
    clock.advance(60_301);
    expect(port.digest(1)).toEqual(empty);
    port.applyRemote({ type: 'remove', key: 'j', version: at(60_301) });
    clock.advance(60_001);
    expect(port.tombstones()).toEqual([]);
    expect(cache.statistics().tombstones).toBe(0);
  });

  it('a removal from a peer older than the retention takes out an older value held, and leaves no tombstone', () => {
    const { clock, addCache, drain } = setup({ tombstoneRetentionSeconds: 60 });
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote(putChange('k', 'old', at(100)));
    clock.advance(120_000);
    drain();
    // Made 120 s ago: its own node has forgotten its tombstone by now.
    expect(replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(300) })).toBe('applied');
    expect(drain()).toEqual(['remove:k']);
    expect(cache.has('k')).toBe(false);
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
  });

  it('a removal from a peer older than the retention, of a key not held, is stale: nothing changes, nothing fires', () => {
    // Nodes forget a tombstone at their own sweeps: one whose sweep came first was taught it back
    // by the next repair from a peer that still held it, for a whole retention more, and the peers
    // did the same to it in turn (packages/replication/test/tombstone-lifetime.test.ts).
    const { clock, addCache, drain } = setup({ tombstoneRetentionSeconds: 60 });
    const cache = addCache('c');
    clock.advance(60_301);
    expect(replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(300) })).toBe('stale');
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
    expect(drain()).toEqual([]);
    // Within the retention, the same removal leaves its tombstone.
    expect(replicaPortOf(cache).applyRemote({ type: 'remove', key: 'k', version: at(1000) })).toBe('applied');
    expect(replicaPortOf(cache).tombstones()).toEqual([{ key: 'k', version: at(1000) }]);
  });

  it('a removal from a peer older than the retention ends what lingers of its key at an older version, as the peers drop their copies', () => {
    const { clock, addCache } = setup({ tombstoneRetentionSeconds: 60 });
    const cache = addCache('c', { timeToLiveSeconds: 100 });
    const port = replicaPortOf(cache);
    port.lingerReadExpiries();
    const empty = port.digest(16);
    port.applyPut('k', 'v', at(100), at(100).time, 100, 0);
    port.applyPut('j', 'w', at(200), at(200).time, 100, 0);
    clock.advance(100_201);
    expect(cache.get('k')).toBeUndefined(); // lingers at at(100)
    expect(cache.get('j')).toBeUndefined(); // lingers at at(200)
    const lingering = port.digest(16);
    // Older than 'j' (its peers keep their copies of it), newer than 'k' (they drop theirs).
    const generation = port.generation;
    expect(port.applyRemote({ type: 'remove', key: 'j', version: at(150) })).toBe('stale');
    expect(port.digest(16)).toEqual(lingering);
    expect(port.applyRemote({ type: 'remove', key: 'k', version: at(150) })).toBe('stale');
    expect(port.generation).toBeGreaterThan(generation);
    port.applyRemote({ type: 'remove', key: 'j', version: at(250) });
    expect(port.digest(16)).toEqual(empty);
    expect(port.tombstones()).toEqual([]);
  });

  it('an expire removes the entry only if it still holds that exact version', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote(putChange('k', 'v2', v(200)));
    drain();
    expect(replicaPortOf(cache).applyRemote({ type: 'expire', key: 'k', version: v(100) })).toBe('stale');
    expect(cache.get('k')).toBe('v2');
    expect(replicaPortOf(cache).applyRemote({ type: 'expire', key: 'k', version: v(200) })).toBe('applied');
    expect(drain()).toEqual(['expire:k']);
    expect(cache.has('k')).toBe(false);
    expect(cache.statistics().expirations).toBe(1);
  });

  it('a removeAll clears what is older and keeps a newer write; older puts are then refused', () => {
    const { addCache, drain } = setup();
    const cache = addCache('c');
    replicaPortOf(cache).applyRemote(putChange('old', 1, v(100)));
    replicaPortOf(cache).applyRemote(putChange('new', 2, v(300)));
    drain();
    expect(replicaPortOf(cache).applyRemote({ type: 'removeAll', version: v(200) })).toBe('applied');
    expect(drain()).toEqual(['removeAll']);
    expect(cache.keys()).toEqual(['new']);
    expect(replicaPortOf(cache).clearVersion).toEqual(v(200));
    expect(replicaPortOf(cache).applyRemote(putChange('late', 3, v(150)))).toBe('stale');
    expect(replicaPortOf(cache).applyRemote({ type: 'removeAll', version: v(150) })).toBe('stale');
  });

  it('a local removeAll records its version as the clear version', () => {
    const { addCache } = setup({ versionClock: () => v(1000, 0, 'me') });
    const cache = addCache('c');
    cache.put('k', 1);
    cache.removeAll();
    expect(replicaPortOf(cache).clearVersion).toEqual(v(1000, 0, 'me'));
    expect(replicaPortOf(cache).applyRemote(putChange('k', 'late', v(999)))).toBe('stale');
  });
});

describe('quiet reads for replication', () => {
  it('peekEntry returns value and metadata without touching idle time or statistics', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToIdleSeconds: 10, timeToLiveSeconds: 60 });
    const start = clock.now();
    cache.put('k', 'v');
    clock.advance(5000);
    expect(cache.peekEntry('k')).toEqual({
      key: 'k',
      value: 'v',
      createdAt: start,
      lastAccessedAt: start,
      timeToLiveSeconds: 60,
      timeToIdleSeconds: 10,
      expiresAt: start + 10_000,
      version: undefined,
    });
    expect(cache.peekEntry('missing')).toBeUndefined();
    expect(cache.statistics().hits).toBe(0);
  });

  it('entries() reads live entries and tolerates writes during the iteration', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c');
    cache.put('a', 1);
    cache.put('b', 2, { timeToLiveSeconds: 1 });
    cache.put('c', 3);
    clock.advance(1001);
    const seen: string[] = [];
    for (const entry of replicaPortOf(cache).entries()) {
      seen.push(`${entry.key}=${String(entry.value)}`);
      // whichever live entry came first, the other one is removed before it is reached
      cache.remove(entry.key === 'a' ? 'c' : 'a');
      cache.put('d', 4);
    }
    // Of the entries held throughout, none is missed; one removed before it was reached is not
    // read; one written meanwhile (d) may be read or not.
    const held = seen.filter((entry) => entry !== 'd=4');
    expect(held).toHaveLength(1);
    expect(['a=1', 'c=3']).toContain(held[0]);
  });

  it('entries() reads every entry held throughout exactly once, whatever is written meanwhile', () => {
    const { addCache } = setup();
    const cache = addCache('c', { maxElementsInMemory: 0 });
    for (let i = 0; i < 100; i++) cache.put(`keep${i}`, i);
    for (let i = 0; i < 100; i++) cache.put(`churn${i}`, i);
    const seen: string[] = [];
    let n = 0;
    for (const entry of replicaPortOf(cache).entries()) {
      seen.push(entry.key);
      // Removes and writes reuse slots (and grow the store) while the iteration goes on.
      if (n < 100) {
        cache.remove(`churn${n}`);
        cache.put(`new${n}`, n);
        cache.put(`new${n + 1000}`, n);
      }
      n++;
    }
    const kept = seen.filter((key) => key.startsWith('keep'));
    expect(kept.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `keep${i}`).sort());
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('liveEntries: a cursor over the live entries, for bootstrap and repair', () => {
  afterEach(removeTempDirs);

  /** What the cursor reads at each step, as peekEntry would read the same entry. */
  function walked(port: ReturnType<typeof replicaPortOf>) {
    const seen = [];
    const entries = port.liveEntries();
    while (entries.next()) {
      const version = entries.version();
      seen.push({
        key: entries.key,
        value: entries.value(),
        createdAt: entries.createdAt,
        timeToLiveSeconds: entries.timeToLiveSeconds,
        timeToIdleSeconds: entries.timeToIdleSeconds,
        version,
        parts: entries.versioned ? { time: entries.time, counter: entries.counter, node: entries.node } : undefined,
      });
    }
    return seen.sort((a, b) => a.key.localeCompare(b.key));
  }

  it.each([
    ['in memory', false],
    ['with a disk tier (a key on disk only, one in memory too)', true],
  ])('reads each live entry once, as peekEntry reads it, and skips the expired: %s', (_, onDisk) => {
    let counter = 0;
    const kit = onDisk
      ? setup({ diskStorePath: tempDir(), versionClock: () => v(5_000, counter++, 'me') })
      : setup({ versionClock: () => v(5_000, counter++, 'me') });
    const cache = kit.addCache('c', onDisk ? { overflowToDisk: true, maxElementsInMemory: 1 } : {});
    cache.put('a', 'one', { timeToLiveSeconds: 60 });
    cache.put('b', { n: 2 }, { timeToIdleSeconds: 30 });
    cache.put('gone', 'soon', { timeToLiveSeconds: 1 });
    const port = replicaPortOf(cache);
    port.applyRemote(putChange('p', 'peer', v(7_000, 2, 'peer'), 1_234));
    kit.clock.advance(1001);
    const seen = walked(port);
    expect(seen.map((entry) => entry.key)).toEqual(['a', 'b', 'p']);
    for (const entry of seen) {
      const peeked = cache.peekEntry(entry.key);
      expect(entry).toEqual({
        key: entry.key,
        value: peeked?.value,
        createdAt: peeked?.createdAt,
        timeToLiveSeconds: peeked?.timeToLiveSeconds,
        timeToIdleSeconds: peeked?.timeToIdleSeconds,
        version: peeked?.version,
        parts: peeked?.version,
      });
    }
    expect(seen.find((entry) => entry.key === 'p')?.version).toEqual(v(7_000, 2, 'peer'));
    expect(cache.statistics().hits).toBe(0);
  });

  it("gives each key's digest hash, kept by a replicated memory store from the first digest on, through freed slots taken again", () => {
    let counter = 0;
    const { addCache } = setup({ versionClock: () => v(5_000, counter++, 'me') });
    const cache = addCache('c', { maxElementsInMemory: 50 });
    const port = replicaPortOf(cache);
    const hashes = () => {
      const seen = new Map<string, number>();
      const entries = port.liveEntries();
      while (entries.next()) seen.set(entries.key, entries.keyHash);
      return seen;
    };
    const expected = (keys: Iterable<string>) => new Map([...keys].map((key) => [key, fnv1a(key)]));
    for (let i = 0; i < 40; i++) cache.put(`https://api.example/v1/items/${i}`, i);
    expect(hashes()).toEqual(expected(cache.keys())); // no digest kept yet: hashed as read
    port.digest(1); // kept from here on (CacheRepair starts it so)
    for (let i = 0; i < 40; i += 2) cache.remove(`https://api.example/v1/items/${i}`);
    for (let i = 0; i < 60; i++) cache.put(`/other/${i}`, i); // into the freed slots, then evicting
    expect(hashes()).toEqual(expected(cache.keys()));
    expect(cache.size).toBe(50);
  });

  it('says an entry written before the cache was replicated has no version', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    cache.put('k', 'v');
    const entries = replicaPortOf(cache).liveEntries();
    expect(entries.next()).toBe(true);
    expect(entries.versioned).toBe(false);
    expect(entries.version()).toBeUndefined();
    expect(entries.next()).toBe(false);
    expect(entries.next()).toBe(false);
  });

  it.each([
    ['in memory', false],
    ['with a disk tier', true],
  ])('steps to every entry held throughout exactly once, whatever is written between steps: %s', (_, onDisk) => {
    const { addCache } = onDisk ? setup({ diskStorePath: tempDir() }) : setup();
    const cache = addCache(
      'c',
      onDisk ? { overflowToDisk: true, maxElementsInMemory: 10 } : { maxElementsInMemory: 0 },
    );
    for (let i = 0; i < 100; i++) cache.put(`keep${i}`, i);
    for (let i = 0; i < 100; i++) cache.put(`churn${i}`, i);
    const seen: string[] = [];
    const entries = replicaPortOf(cache).liveEntries();
    for (let n = 0; entries.next(); n++) {
      seen.push(entries.key);
      if (n < 100) {
        cache.remove(`churn${n}`);
        cache.put(`new${n}`, n);
        cache.put(`new${n + 1000}`, n);
      }
    }
    const kept = seen.filter((key) => key.startsWith('keep'));
    expect(kept.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `keep${i}`).sort());
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('room', () => {
  it('is how many keys fit before a write evicts: by count, or by bytes from the average entry; Infinity unbounded', () => {
    const { addCache } = setup();
    const unbounded = addCache('unbounded', { maxElementsInMemory: 0 });
    unbounded.put('k', 'v');
    expect(replicaPortOf(unbounded).room).toBe(Number.POSITIVE_INFINITY);
    const counted = addCache('counted', { maxElementsInMemory: 5 });
    for (const key of ['a', 'b']) counted.put(key, key);
    expect(replicaPortOf(counted).room).toBe(3);
    for (const key of ['c', 'd', 'e', 'f']) counted.put(key, key);
    expect(replicaPortOf(counted).room).toBe(0);
    const sized = addCache('sized', { maxElementsInMemory: 0, maxBytesLocalHeap: 100_000 });
    expect(replicaPortOf(sized).room).toBe(Number.POSITIVE_INFINITY); // nothing to estimate from yet
    for (let i = 0; i < 10; i++) sized.put(`k${i}`, 'x'.repeat(1000));
    const room = replicaPortOf(sized).room;
    const perEntry = sized.statistics().memoryBytes / 10;
    expect(room).toBe(Math.floor((100_000 - 10 * perEntry) / perEntry));
    expect(room).toBeGreaterThan(50);
    expect(room).toBeLessThan(90);
  });
});

describe("a peer's put idles from its write", () => {
  it('counts its idle time from its createdAt, refuses one idle by less than clocks may differ, and takes one idle by more as read now', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToIdleSeconds: 10 });
    const port = replicaPortOf(cache);
    const now = clock.now();
    // Written 4 s ago, read by no one since: idle 6 s more here, as on every node that heard it.
    expect(port.applyPut('fresh', 'v', v(now - 4000), now - 4000, 0, 10)).toBe('applied');
    // Idle 5 s past its 10 s by its write: a clock behind this one may still hold it; not held.
    expect(port.applyPut('lapsed', 'v', v(now - 15_000), now - 15_000, 0, 10)).toBe('stale');
    // Written 100 s ago and still held by the peer: read there since, so taken as read now.
    expect(port.applyPut('kept', 'v', v(now - 100_000), now - 100_000, 0, 10)).toBe('applied');
    clock.advance(6001);
    expect(cache.has('fresh')).toBe(false);
    expect(cache.has('kept')).toBe(true);
    clock.advance(4000);
    expect(cache.has('kept')).toBe(false);
  });
});
