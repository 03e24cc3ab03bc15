import { describe, expect, it } from 'vitest';
import { CacheManager, type Logger, silentLogger, type Version } from '../src/index.js';
import { type RemoteChange, replicaPortOf } from '../src/internal.js';
import { MAX_TOMBSTONE_BYTES, Tombstones } from '../src/tombstones.js';
import { setup } from './helpers.js';

/** The manual clock's start: a peer's removal is judged against the retention by its version's time. */
const T0 = 1_700_000_000_000;
const v = (time: number, counter = 0, node = 'peer'): Version => ({ time: T0 + time, counter, node });

function putChange(key: string, value: unknown, version: Version): RemoteChange<unknown> {
  return { type: 'put', key, value, version, createdAt: version.time, timeToLiveSeconds: 0, timeToIdleSeconds: 0 };
}

/** A cache whose local writes are stamped by a counter (a stand-in for the replicator's clock). */
function versioned(options: { maxTombstones?: number; tombstoneRetentionSeconds?: number; logger?: Logger } = {}) {
  let counter = 0;
  const made = setup({ ...options, versionClock: () => v(1000, counter++, 'me') });
  return { ...made, cache: made.addCache('c') };
}

const keysOf = (tombstones: ReadonlyArray<{ key: string }>) => tombstones.map((t) => t.key);

describe('maxTombstones', () => {
  it('is validated like the other manager options, with a ConfigError naming the field', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null]) {
      expect(() => new CacheManager({ maxTombstones: bad as number })).toThrow(
        expect.objectContaining({
          code: 'E_CONFIG',
          field: 'maxTombstones',
          message: expect.stringContaining('option "maxTombstones" must be a whole number >= 1'),
        }),
      );
    }
    expect(() => new CacheManager({ maxTombstones: 1 })).not.toThrow();
  });

  it('keeps 100,000 tombstones per cache by default', () => {
    const { cache } = versioned();
    for (let i = 0; i <= 100_000; i++) cache.remove(`k${i}`);
    expect(cache.statistics()).toMatchObject({ tombstones: 100_000, tombstonesDropped: 1 });
    expect(replicaPortOf(cache).tombstones()[0]?.key).toBe('k1');
  });

  it('forgets the oldest tombstone first past the bound, and counts it', () => {
    const { cache } = versioned({ maxTombstones: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.remove(key);
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['c', 'd', 'e']);
    expect(cache.statistics()).toMatchObject({ tombstones: 3, tombstonesDropped: 2 });
  });

  it('past the bound, as past the retention, an older write from a peer can bring a forgotten key back', () => {
    const { cache } = versioned({ maxTombstones: 2 });
    replicaPortOf(cache).applyRemote(putChange('a', 'old', v(10)));
    replicaPortOf(cache).applyRemote(putChange('b', 'old', v(10)));
    for (const key of ['a', 'b', 'c']) replicaPortOf(cache).applyRemote({ type: 'remove', key, version: v(20) });
    // b's tombstone still refuses the older write; a's was forgotten, so the write comes back.
    expect(replicaPortOf(cache).applyRemote(putChange('b', 'late', v(15)))).toBe('stale');
    expect(replicaPortOf(cache).applyRemote(putChange('a', 'late', v(15)))).toBe('applied');
    expect(cache.get('a')).toBe('late');
    expect(cache.has('b')).toBe(false);
  });

  it('removing a key again refreshes its tombstone: its age starts again and it is forgotten last', () => {
    const { clock, cache } = versioned({ maxTombstones: 3, tombstoneRetentionSeconds: 60 });
    cache.remove('a');
    clock.advance(10_000);
    cache.remove('b');
    clock.advance(10_000);
    cache.remove('c');
    clock.advance(20_000); // 40 s after a's first removal
    cache.remove('a');
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['b', 'c', 'a']);
    cache.remove('d'); // past the bound: b is the oldest now, not a
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['c', 'a', 'd']);

    clock.advance(25_000); // 65 s: a's first removal would have aged out at 60 s
    cache.evictExpiredElements();
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['c', 'a', 'd']);
    clock.advance(16_000); // 81 s: c, removed at 20 s, ages out
    cache.evictExpiredElements();
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['a', 'd']);
    clock.advance(19_001); // 60 s and a millisecond after a's second removal (and d's)
    cache.evictExpiredElements();
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
    expect(cache.statistics().tombstonesDropped).toBe(1); // aging out is not dropping
  });

  it('a write of a removed key forgets its tombstone, which frees a place without dropping one', () => {
    const { cache } = versioned({ maxTombstones: 2 });
    cache.remove('a');
    cache.remove('b');
    cache.put('a', 1);
    cache.remove('c');
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['b', 'c']);
    expect(cache.statistics()).toMatchObject({ tombstones: 2, tombstonesDropped: 0 });
  });

  it('a remote removeAll forgets the older tombstones and keeps the order of the rest', () => {
    const { cache } = versioned({ maxTombstones: 3 });
    replicaPortOf(cache).applyRemote({ type: 'remove', key: 'a', version: v(5) });
    replicaPortOf(cache).applyRemote({ type: 'remove', key: 'b', version: v(30) });
    replicaPortOf(cache).applyRemote({ type: 'remove', key: 'c', version: v(10) });
    replicaPortOf(cache).applyRemote({ type: 'remove', key: 'd', version: v(40) });
    expect(replicaPortOf(cache).applyRemote({ type: 'removeAll', version: v(20) })).toBe('applied');
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['b', 'd']);
    for (const key of ['e', 'f']) replicaPortOf(cache).applyRemote({ type: 'remove', key, version: v(50) });
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['d', 'e', 'f']);
    cache.removeAll(); // a local clear forgets every tombstone
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
  });

  it('keeps age order when the wall clock steps back, so the age sweep still finds every old tombstone', () => {
    // ManualClock only moves forward; a wall clock can be stepped back (NTP), so a plain function.
    let now = 1_700_000_000_000;
    let counter = 0;
    const manager = new CacheManager({
      clock: () => now,
      versionClock: () => v(1000, counter++, 'me'),
      tombstoneRetentionSeconds: 60,
    });
    const cache = manager.addCache('c');
    cache.remove('a');
    now -= 50_000; // stepped back
    cache.remove('b'); // aged from a's removal time, not from the earlier reading
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['a', 'b']);
    now += 50_000 + 60_001; // past the retention of both
    cache.evictExpiredElements();
    expect(replicaPortOf(cache).tombstones()).toEqual([]);
  });

  it('stays exact under churn: many removals and re-removals, the bound held, the oldest dropped', () => {
    const { cache } = versioned({ maxTombstones: 1000 });
    let removals = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 1000; i++) {
        cache.remove(`k${round * 500 + i}`); // half of each round removes keys of the last round again
        removals++;
      }
      expect(cache.statistics().tombstones).toBe(1000);
    }
    const held = keysOf(replicaPortOf(cache).tombstones());
    // The last round's keys, in removal order, and nothing else.
    expect(held).toEqual(Array.from({ length: 1000 }, (_, i) => `k${49 * 500 + i}`));
    // Every distinct key removed, less those held, was dropped once.
    expect(cache.statistics().tombstonesDropped).toBe(49 * 500 + 1000 - 1000);
    expect(removals).toBe(50_000);
  });

  it('logs once that tombstones are being dropped, naming the cache and the bound', () => {
    const warnings: Array<{ obj: object; msg?: string }> = [];
    const logger: Logger = { ...silentLogger, warn: (obj, msg) => warnings.push({ obj, msg }) };
    const { cache } = versioned({ maxTombstones: 1, logger });
    for (const key of ['a', 'b', 'c', 'd']) cache.remove(key);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.obj).toMatchObject({ cache: 'c', maxTombstones: 1 });
    expect(warnings[0]?.msg).toMatch(/older write of such a key from a peer that was away can bring it back/);
  });

  it('holds at most MAX_TOMBSTONE_BYTES of tombstones, forgetting the oldest past it and logging keys cut short (a peer made 100,000 tombstones of a megabyte each; found by an attack)', () => {
    const warnings: Array<{ obj: object; msg?: string }> = [];
    const logger: Logger = { ...silentLogger, warn: (obj, msg) => warnings.push({ obj, msg }) };
    const { cache } = versioned({ logger });
    const big = (i: number) => `${i}:${'k'.repeat(1 << 20)}`; // a megabyte-long key (2 MB of UTF-16)
    const port = replicaPortOf(cache);
    for (let i = 0; i < 200; i++) port.applyRemote({ type: 'remove', key: big(i), version: v(20 + i) });
    const held = port.tombstones();
    // 128 MiB of 2 MiB tombstones: 63 of them (and their objects), the newest ones.
    expect(held.length).toBe(63);
    expect(held[0]?.key).toBe(big(137));
    expect(held.at(-1)?.key).toBe(big(199));
    expect(cache.statistics()).toMatchObject({ tombstones: 63, tombstonesDropped: 137 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.obj).toMatchObject({ cache: 'c', maxTombstoneBytes: MAX_TOMBSTONE_BYTES });
    expect(JSON.stringify(warnings[0]?.obj).length).toBeLessThan(1000); // the first drop's keys, cut short
    expect((warnings[0]?.obj as { key?: string } | undefined)?.key).toMatch(/^63:k{125}\.\.\. \(1048579 characters\)$/);
    // Ordinary keys are held by count long before bytes: 100,000 URLs of 200 characters fit.
    expect(MAX_TOMBSTONE_BYTES).toBeGreaterThan(100_000 * (2 * 210 + 160));
    // A tombstone taken out (a write of its key) frees its bytes: the next removal drops none.
    expect(port.applyRemote(putChange(big(199), 'back', v(1000)))).toBe('applied');
    port.applyRemote({ type: 'remove', key: big(500), version: v(2000) });
    expect(cache.statistics()).toMatchObject({ tombstones: 63, tombstonesDropped: 137 });
  });

  it('clearStatistics resets the dropped count, not the tombstones held', () => {
    const { cache } = versioned({ maxTombstones: 1 });
    cache.remove('a');
    cache.remove('b');
    cache.clearStatistics();
    expect(cache.statistics()).toMatchObject({ tombstones: 1, tombstonesDropped: 0 });
  });
});

describe('a removal taught late', () => {
  /** A cache of retention 300 s whose clock reads T0 + `at` ms; peers' removals by their versions' times. */
  function late(options: { maxTombstones?: number } = {}) {
    const { clock, addCache } = setup({ tombstoneRetentionSeconds: 300, ...options });
    const cache = addCache('c');
    const port = replicaPortOf(cache);
    const remove = (key: string, time: number) => port.applyRemote({ type: 'remove', key, version: v(time) });
    return { clock, cache, port, remove };
  }

  it('ages from its removal (its version) when it arrives more than the drift bound after it, and from its arrival otherwise', () => {
    const { clock, cache, port, remove } = late();
    clock.advance(400_000); // the clock reads T0 + 400 s
    remove('taught', 200_000); // made 200 s ago: by repair, after a restart or a partition
    remove('live', 370_000); // made 30 s ago: may have come live, from a clock 30 s ahead
    expect(keysOf(port.tombstones())).toEqual(['taught', 'live']);
    clock.advance(100_001); // 300 s and a little since 'taught' was made
    cache.evictExpiredElements();
    expect(keysOf(port.tombstones())).toEqual(['live']);
    clock.advance(199_998); // 300 s since 'live' arrived, not yet past
    cache.evictExpiredElements();
    expect(keysOf(port.tombstones())).toEqual(['live']);
    clock.advance(2);
    cache.evictExpiredElements();
    expect(port.tombstones()).toEqual([]);
  });

  it('ages from its removal whatever its age when a repair taught it, unless made later than now by this clock', () => {
    const { clock, cache, port } = late();
    clock.advance(400_000);
    const taught = (key: string, time: number) =>
      port.applyRemote({ type: 'remove', key, version: v(time), taught: true });
    taught('recent', 370_000); // made 30 s ago, brought by a repair: not heard live
    taught('ahead', 402_000); // a peer's clock 2 s ahead: ages from now, as if heard live
    clock.advance(270_001); // 300 s and a little since 'recent' was made
    cache.evictExpiredElements();
    expect(keysOf(port.tombstones())).toEqual(['ahead']);
    clock.advance(30_000); // 300 s since it arrived
    cache.evictExpiredElements();
    expect(port.tombstones()).toEqual([]);
  });

  it('is listed in age order among the others, forgotten by a clear that covers it, and moves to the others when removed again', () => {
    const { clock, port, remove } = late();
    clock.advance(400_000);
    remove('live-1', 399_000);
    remove('late-b', 250_000);
    remove('late-a', 150_000);
    remove('live-2', 399_500);
    remove('late-c', 300_000);
    // Late ones by their removal; the others by arrival (T0 + 400 s), after every late one.
    expect(keysOf(port.tombstones())).toEqual(['late-a', 'late-b', 'late-c', 'live-1', 'live-2']);
    remove('late-a', 399_900); // removed again, live: it ages from now
    expect(keysOf(port.tombstones())).toEqual(['late-b', 'late-c', 'live-1', 'live-2', 'late-a']);
    expect(port.applyRemote({ type: 'removeAll', version: v(260_000) })).toBe('applied');
    expect(keysOf(port.tombstones())).toEqual(['late-c', 'live-1', 'live-2', 'late-a']);
  });

  it('counts in the bound, which forgets the oldest first, late or not', () => {
    const { clock, cache, port, remove } = late({ maxTombstones: 3 });
    clock.advance(400_000);
    remove('live', 399_000);
    remove('late-new', 300_000);
    remove('late-old', 200_000);
    remove('late-mid', 250_000); // the fourth: the oldest, late-old, goes
    expect(keysOf(port.tombstones())).toEqual(['late-mid', 'late-new', 'live']);
    expect(cache.statistics()).toMatchObject({ tombstones: 3, tombstonesDropped: 1 });
  });

  it('is never a removal made here, whatever its version says (only a peer teaches late)', () => {
    const { clock, cache } = versioned({ tombstoneRetentionSeconds: 300 });
    clock.advance(400_000); // local writes are stamped T0 + 1 s: 399 s old by this clock
    cache.remove('mine');
    clock.advance(299_999);
    cache.evictExpiredElements();
    expect(keysOf(replicaPortOf(cache).tombstones())).toEqual(['mine']);
  });
});

describe('the count bound with late tombstones in the wheel', () => {
  it('finds the oldest without reading every second of the wheel (under a day of retention, up to 86,400 of them, on every removal of a full cache)', () => {
    const now = T0 + 100_000_000;
    const tombstones = new Tombstones('c', 86_400_000, 2_000, silentLogger);
    // Taught late, after a restart: 1,000 removals of the last day, 80 s apart, each in a second of its own.
    for (let i = 0; i < 1_000; i++) {
      tombstones.remember(`late${i}`, { time: now - 61_000 - i * 80_000, counter: 0, node: 'peer' }, now, true);
    }
    for (let i = 0; i < 1_000; i++) tombstones.remember(`live${i}`, { time: now, counter: i, node: 'peer' }, now);
    // Every Map iterator step taken meanwhile (the wheel is a Map of seconds).
    const iteratorPrototype = Object.getPrototypeOf(new Map().values()) as { next: () => unknown };
    const next = iteratorPrototype.next;
    let steps = 0;
    iteratorPrototype.next = function (this: unknown) {
      steps++;
      return next.call(this);
    };
    try {
      // Full: each removal made here forgets the oldest, a late one.
      for (let i = 0; i < 1_000; i++) tombstones.remember(`mine${i}`, { time: now, counter: i, node: 'me' }, now);
    } finally {
      iteratorPrototype.next = next;
    }
    expect(tombstones.size).toBe(2_000);
    expect(tombstones.dropped).toBe(1_000);
    expect(keysOf(tombstones.list()).filter((key) => key.startsWith('late'))).toEqual([]);
    expect(steps).toBe(0);
  });
});

describe('a removal stamped before 1970', () => {
  it('is a late one like any other: forgetting it leaves the others listed (its second, -1, is no mark of the list in arrival order)', () => {
    // A version's time is any safe integer; a retention of decades keeps such a removal.
    const { clock, addCache } = setup({ tombstoneRetentionSeconds: 1e10 });
    const port = replicaPortOf(addCache('c'));
    clock.advance(10_000);
    expect(port.applyRemote({ type: 'remove', key: 'x', version: v(10_000) })).toBe('applied');
    expect(port.applyRemote({ type: 'remove', key: 'a', version: { time: -500, counter: 0, node: 'peer' } })).toBe(
      'applied',
    );
    expect(keysOf(port.tombstones())).toEqual(['a', 'x']);
    expect(port.applyRemote(putChange('a', 1, v(10_000, 1)))).toBe('applied');
    expect(keysOf(port.tombstones())).toEqual(['x']);
  });
});
