import type { Cache } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { until } from '@meshcache/core/testing';
import { describe, expect, it, vi } from 'vitest';
import type { ReplicationConfig } from '../src/index.js';
import { MessageType } from '../src/internals.js';
import { bucketCountFor, bucketOf, computeDigest, differingBuckets, type KeyVersion } from '../src/repair/digest.js';
import { clock, link, makeNode, settleBoth, type TestNode } from './replicator-harness.js';

const v = (time: number, node = 'gw-1') => ({ time, counter: 0, node });

/** Everything a cache holds, as key -> value, for comparing two nodes. */
function contents(cache: Cache<unknown>): Map<string, unknown> {
  return new Map([...replicaPortOf(cache).entries()].map((entry) => [entry.key, entry.value]));
}

describe('digests', () => {
  it('are the same for the same (key, version) pairs in any order, and differ where a pair differs', () => {
    const items: KeyVersion[] = Array.from({ length: 500 }, (_, i) => ({
      key: `k${i}`,
      version: v(1000 + i),
      removed: i % 7 === 0,
    }));
    const count = bucketCountFor(items.length);
    const forward = computeDigest(items, count).digest;
    const backward = computeDigest([...items].reverse(), count).digest;
    expect(Buffer.from(backward).equals(Buffer.from(forward))).toBe(true);

    const changed = items.map((item) => (item.key === 'k42' ? { ...item, version: v(9999) } : item));
    expect(differingBuckets(computeDigest(changed, count).digest, forward)).toEqual([bucketOf('k42', count)]);
    const removed = items.map((item) => (item.key === 'k43' ? { ...item, removed: !item.removed } : item));
    expect(differingBuckets(computeDigest(removed, count).digest, forward)).toEqual([bucketOf('k43', count)]);
  });

  it('use about 32 keys per bucket, a power of two up to 65,536', () => {
    expect(bucketCountFor(0)).toBe(1);
    expect(bucketCountFor(32)).toBe(1);
    expect(bucketCountFor(33)).toBe(2);
    expect(bucketCountFor(100_000)).toBe(4096);
    expect(bucketCountFor(10_000_000)).toBe(65_536);
  });
});

describe('repair by digests', () => {
  it('brings two diverged nodes to the same state, each pulling only what it lacks', async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', {});
    // Shared history: 1,000 entries both hold at the same versions.
    for (let i = 0; i < 1000; i++) {
      a.cache.put(`k${i}`, `v${i}`);
      const entry = a.cache.peekEntry(`k${i}`);
      if (entry?.version !== undefined) {
        b.hlc.receive(entry.version); // as b's replicator would: b's later writes are newer
        replicaPortOf(b.cache).applyRemote({ type: 'put', ...entry, version: entry.version });
      }
    }
    // Apart: a updates 30 and adds 20; b removes 10 others, updates 5 more, and adds 7.
    for (let i = 0; i < 30; i++) a.cache.put(`k${i}`, `a${i}`);
    for (let i = 0; i < 20; i++) a.cache.put(`new-a${i}`, 'a');
    for (let i = 500; i < 510; i++) b.cache.remove(`k${i}`);
    for (let i = 600; i < 605; i++) b.cache.put(`k${i}`, `b${i}`);
    for (let i = 0; i < 7; i++) b.cache.put(`new-b${i}`, 'b');

    await link(a, b);
    await settleBoth(a, b);

    expect(contents(a.cache)).toEqual(contents(b.cache));
    expect(a.cache.get('k0')).toBe('a0');
    expect(a.cache.has('k505')).toBe(false);
    expect(a.cache.get('k600')).toBe('b600');
    expect(b.cache.get('new-a3')).toBe('a');
    expect(a.cache.size).toBe(1000 + 20 - 10 + 7);
    // Only what differed crossed as entries: 50 to b, 5 + 7 to a (removals travel as keys).
    expect(b.repairChanges.filter((c) => c.type === MessageType.Put)).toHaveLength(50);
    expect(a.repairChanges.filter((c) => c.type === MessageType.Put)).toHaveLength(12);
    expect(a.replicator.counters.repairs).toBeGreaterThanOrEqual(1);
  });

  it('fills a new, empty node with whole entries, without listing keys first, once', async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', {});
    for (let i = 0; i < 5000; i++) a.cache.put(`k${i}`, { status: 200, body: `body ${i}` });
    a.cache.remove('k1');

    await link(a, b);
    await settleBoth(a, b);

    expect(contents(b.cache)).toEqual(contents(a.cache));
    expect(b.cache.size).toBe(4999);
    expect(a.messages).not.toContain(MessageType.Pull); // b pulled nothing key by key
    expect(b.messages).not.toContain(MessageType.RepairRequest); // a saw b was empty: nothing to ask
    // Everything came as entries, once: 4,999 puts and the removal of k1 (a tombstone).
    expect(b.repairChanges).toHaveLength(5000);
  });

  it('makes room at once for the whole buckets a node asks for (a joiner holding a few keys)', async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', {});
    for (let i = 0; i < 5000; i++) a.cache.put(`k${i}`, `v${i}`);
    for (let i = 0; i < 3; i++) b.cache.put(`b${i}`, 'b'); // not empty: b asks, a does not push
    const reserve = vi.spyOn(replicaPortOf(b.cache), 'reserve');

    await link(a, b);
    await settleBoth(a, b);

    expect(b.messages).toContain(MessageType.RepairRequest);
    expect(b.cache.size).toBe(5003);
    // 256 buckets of a's digest, all but those of b's 3 keys asked for whole: room for up to 32
    // keys a bucket (its sender chose 16 to 32), no fewer than came.
    expect(reserve).toHaveBeenCalledTimes(1);
    const [reserved] = reserve.mock.calls[0] as [number];
    expect(reserved).toBeGreaterThanOrEqual(253 * 32);
    expect(reserved).toBeLessThanOrEqual(256 * 32);
  });

  it('carries the last removeAll, so entries older than it go and newer ones stay', async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', {});
    b.cache.put('old on b', 1);
    a.cache.put('old on a', 1);
    a.cache.removeAll();
    a.cache.put('after the clear', 2);
    // Written after a's clear, causally: b's clock has seen the clear (same-millisecond writes on
    // two nodes are otherwise ordered by counter and node name, not by the wall clock).
    const clear = replicaPortOf(a.cache).clearVersion;
    if (clear !== undefined) b.hlc.receive(clear);
    b.cache.put('newer on b', 3);

    await link(a, b);
    await settleBoth(a, b);

    expect([...contents(b.cache).keys()].sort()).toEqual(['after the clear', 'newer on b']);
    expect(contents(a.cache)).toEqual(contents(b.cache));
  });

  it('lets a live change that crosses the repair win over the older value the repair carries', async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', { replicateAsynchronously: false });
    for (let i = 0; i < 100; i++) a.cache.put(`k${i}`, 'old');
    await link(a, b);
    clock.advance(1); // b writes a millisecond later: its version is newer than a's
    b.cache.put('k5', 'live on b'); // sent at once, while the repair runs
    await settleBoth(a, b);
    expect(a.cache.get('k5')).toBe('live on b');
    expect(b.cache.get('k5')).toBe('live on b');
  });

  it('is a no-op between nodes in step: equal digests, nothing else crosses', async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', {});
    await link(a, b);
    for (let i = 0; i < 300; i++) a.cache.put(`k${i}`, i);
    await settleBoth(a, b);
    a.messages.length = 0;
    b.messages.length = 0;
    a.replicator.requestRepair('gw-2');
    b.replicator.requestRepair('gw-1');
    await settleBoth(a, b);
    const repairTypes = [MessageType.RepairRequest, MessageType.Keys, MessageType.Pull, MessageType.Entries];
    expect([...a.messages, ...b.messages].filter((type) => repairTypes.includes(type as never))).toEqual([]);
  });
});

/** A round of anti-entropy both ways, as every repairIntervalMillis (each node then repairs from the other). */
async function repairRound(a: TestNode, b: TestNode): Promise<void> {
  a.replicator.requestRepair(b.name);
  b.replicator.requestRepair(a.name);
  await settleBoth(a, b);
}

const keysOf = (node: TestNode) => node.cache.keys().sort();

describe('what a repair takes', () => {
  it('a full bounded cache does not pull back what it evicted, nor evict what it uses for what its peer holds', async () => {
    const lru = { maxElementsInMemory: 5, memoryStoreEvictionPolicy: 'LRU' } as const;
    const a = makeNode('gw-1', {}, undefined, lru);
    const b = makeNode('gw-2', {}, undefined, lru);
    await link(a, b);
    for (let i = 0; i < 5; i++) a.cache.put(`k${i}`, i);
    await settleBoth(a, b);
    for (let i = 0; i < 4; i++) a.cache.get(`k${i}`); // a's least recently used: k4
    b.cache.get('k4'); // b's: k0
    a.cache.put('k5', 5);
    await settleBoth(a, b);
    expect(keysOf(a)).toEqual(['k0', 'k1', 'k2', 'k3', 'k5']);
    expect(keysOf(b)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    const pulledBefore = [a.repairChanges.length, b.repairChanges.length];
    for (let round = 0; round < 3; round++) await repairRound(a, b);
    // Before: a pulled k4 back (evicting its hot k0), then k0 (evicting k1), round after round.
    expect(keysOf(a)).toEqual(['k0', 'k1', 'k2', 'k3', 'k5']);
    expect(keysOf(b)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect([a.repairChanges.length, b.repairChanges.length]).toEqual(pulledBefore);
    expect(a.cache.statistics().evictions + b.cache.statistics().evictions).toBe(2);
  });

  it('a bounded cache with room takes keys it does not hold up to its room, and always newer versions of its own', async () => {
    // a sends nothing live (so only repair carries its changes); b holds at most 10.
    const a = makeNode('gw-1', { replicatePuts: false, replicateUpdates: false }, undefined, {
      maxElementsInMemory: 0,
    });
    const b = makeNode('gw-2', {}, undefined, { maxElementsInMemory: 10 });
    await link(a, b);
    await settleBoth(a, b); // both empty: b's bootstrap, with nothing to take
    a.cache.put('k0', 'old');
    const old = a.cache.peekEntry('k0');
    if (old?.version === undefined) throw new Error('a versioned entry');
    b.hlc.receive(old.version);
    replicaPortOf(b.cache).applyRemote({ type: 'put', ...old, version: old.version });
    a.cache.put('k0', 'newer');
    for (let i = 0; i < 20; i++) a.cache.put(`new${i}`, i);
    b.cache.put('own', 1);
    await settleBoth(a, b);
    expect(b.cache.get('k0')).toBe('old'); // nothing live from a
    await repairRound(a, b);
    expect(b.cache.get('k0')).toBe('newer');
    expect(b.cache.size).toBe(10); // k0, own, and 8 of the 20 new keys: its room
    expect(b.cache.statistics().evictions).toBe(0);
    expect(a.cache.get('own')).toBe(1);
  });

  it('after its bootstrap, replicatePuts off keeps new keys from repair; updates and removals are always taken (no node stays stale)', async () => {
    const off = { replicatePuts: false, replicateUpdates: false, replicateRemovals: false };
    const a = makeNode('gw-1', off, undefined, { maxElementsInMemory: 0 });
    a.cache.put('held', 'before');
    a.cache.put('doomed', 'here');
    const b = makeNode('gw-2', off, undefined, { maxElementsInMemory: 0 });
    await link(a, b);
    await settleBoth(a, b); // b's bootstrap: it takes everything, whatever its options (as Ehcache's)
    expect(keysOf(b)).toEqual(['doomed', 'held']);
    a.cache.put('new', 'not for b');
    a.cache.put('held', 'after');
    a.cache.remove('doomed');
    for (let round = 0; round < 3; round++) await repairRound(a, b);
    expect(keysOf(b)).toEqual(['held']);
    expect(b.cache.get('held')).toBe('after');
    b.cache.put('from-b', 1);
    await repairRound(a, b);
    expect(a.cache.has('from-b')).toBe(false);
  });

  it('after its bootstrap, invalidate mode (replicatePutsViaCopy false) keeps new keys from repair too: a peer told to drop a key is never sent its value later', async () => {
    const invalidate = { replicatePutsViaCopy: false, replicateUpdatesViaCopy: false };
    const a = makeNode('gw-1', invalidate, undefined, { maxElementsInMemory: 0 });
    const b = makeNode('gw-2', invalidate, undefined, { maxElementsInMemory: 0 });
    await link(a, b);
    await settleBoth(a, b); // b's bootstrap, with nothing to take
    a.cache.put('token', 'held by a only');
    b.cache.put('stale', 'b before');
    await settleBoth(a, b);
    a.cache.put('stale', 'a after'); // an update: b drops its copy
    await settleBoth(a, b);
    expect(keysOf(b)).toEqual([]); // each dropped, leaving a tombstone at a's version
    // The tombstones age out (tombstoneRetentionSeconds, 300 by default); a repair then sees two
    // keys b does not hold, as it would after a link that was down while a wrote them.
    clock.advance(301_000);
    a.cache.put('later', 'also a only');
    for (let round = 0; round < 3; round++) await repairRound(a, b);
    expect(keysOf(b)).toEqual([]);
    expect(b.repairChanges.filter((c) => c.type === MessageType.Put)).toEqual([]);
    expect(a.cache.get('token')).toBe('held by a only');
  });

  it('a node whose queue overflowed is brought up to date by the repair that replaces it, whatever its replicate* options', async () => {
    const a = makeNode('gw-1', {}, 2000, { maxElementsInMemory: 0 });
    const b = makeNode('gw-2', { replicateUpdates: false }, 2000, { maxElementsInMemory: 0 });
    await link(a, b);
    a.cache.put('k0', 'v0');
    await settleBoth(a, b);
    for (let i = 1; i <= 200; i++) a.cache.put('k0', `v${i}-${'x'.repeat(50)}`);
    await settleBoth(a, b);
    expect(b.cache.get('k0')).toBe(a.cache.get('k0'));
  });
});

describe('anti-entropy rounds to full bounded caches', () => {
  const lru = { maxElementsInMemory: 20, memoryStoreEvictionPolicy: 'LRU' } as const;

  /**
   * Two full caches of 20 linked at `protocol`, holding different keys, as bounded caches come to:
   * each evicted by its own reads. a holds k0-k9 and k15-k24, b holds k5-k24.
   */
  async function fullApart(protocol = 5, replication: ReplicationConfig = {}) {
    const a = makeNode('gw-1', replication, undefined, lru);
    const b = makeNode('gw-2', {}, undefined, lru);
    await link(a, b, undefined, protocol);
    for (let i = 0; i < 20; i++) a.cache.put(`k${i}`, i);
    await settleBoth(a, b);
    for (let i = 0; i < 10; i++) a.cache.get(`k${i}`);
    for (let i = 10; i < 20; i++) b.cache.get(`k${i}`);
    for (let i = 20; i < 25; i++) a.cache.put(`k${i}`, i);
    await settleBoth(a, b);
    expect(a.cache.has('k10') || b.cache.has('k0')).toBe(false);
    a.messages.length = 0;
    b.messages.length = 0;
    return { a, b };
  }

  /** A change on a, then one anti-entropy round of a's: a Digest to b, unless b asked a to skip it. */
  async function round(a: TestNode, b: TestNode, value: unknown): Promise<void> {
    a.cache.put('k24', value);
    await settleBoth(a, b);
    a.replicator.antiEntropyRound();
    await settleBoth(a, b);
  }

  const count = (messages: number[], type: number) => messages.filter((t) => t === type).length;

  /**
   * A third node's write of `key` (held by a) that reached a and none of a's peers, applied as a
   * peer's; then time passes, so the write is older than anything still in flight.
   */
  function missedBy(a: TestNode, key: string, value: unknown): void {
    const held = a.cache.peekEntry(key);
    if (held === undefined) throw new Error(`a holds ${key}`);
    clock.advance(1); // newer than every write so far
    const version = { time: clock.now(), counter: 0, node: 'gw-3' };
    a.hlc.receive(version);
    expect(replicaPortOf(a.cache).applyRemote({ type: 'put', ...held, value, version })).toBe('applied');
    clock.advance(200_000);
  }

  it('a full cache whose repairs from a peer take nothing has it skip 1, then 3, then 7 rounds; every eighth still comes', async () => {
    const { a, b } = await fullApart();
    const sent: number[] = [];
    for (let i = 1; i <= 24; i++) {
      const digests = count(b.messages, MessageType.Digest);
      await round(a, b, i);
      if (count(b.messages, MessageType.Digest) > digests) sent.push(i);
    }
    expect(sent).toEqual([1, 3, 7, 15, 23]);
    expect(a.skipsAsked).toEqual([1, 3, 7, 7, 7]);
    expect(count(a.messages, MessageType.RepairRequest)).toBe(5);
    expect(a.replicator.counters.roundsSkipped).toBe(19);
    // Each round sent listed a's keys and b pulled none of them: the keys still differ.
    expect(count(a.messages, MessageType.Pull)).toBe(0);
    expect(keysOf(b)).not.toEqual(keysOf(a));
  });

  it('a change a full cache missed is repaired within eight rounds, even from a peer that writes nothing more', async () => {
    const { a, b } = await fullApart();
    for (let i = 1; i <= 7; i++) await round(a, b, i); // sent 1, 3 and 7: b asked a to skip 7
    // A third node's write reached a, not b, and the writer crashed: what anti-entropy is for.
    missedBy(a, 'k15', 'missed');
    for (let i = 8; i <= 14; i++) {
      a.replicator.antiEntropyRound(); // a writes nothing more
      await settleBoth(a, b);
    }
    expect(b.cache.peekEntry('k15')?.value).toBe(15);
    expect(a.replicator.counters.roundsSkipped).toBe(4 + 7);
    a.replicator.antiEntropyRound();
    await settleBoth(a, b);
    expect(b.cache.peekEntry('k15')?.value).toBe('missed');
    expect(a.skipsAsked).toEqual([1, 3, 7, 0]); // the repair found something: skip no more
    await round(a, b, 16); // so the next round went, and b, finding nothing, asks a to skip one again
    expect(a.skipsAsked).toEqual([1, 3, 7, 0, 1]);
    expect(a.replicator.counters.roundsSkipped).toBe(11);
  });

  it('a repair that pulls only what may still be in flight took nothing: the peer is still asked to skip', async () => {
    const { a, b } = await fullApart();
    await round(a, b, 1); // b asks a to skip one round
    await round(a, b, 2); // skipped
    // a writes k15 and sends its next round before the write's live batch: b sees a newer k15 listed
    a.cache.put('k15', 'fresh');
    const asked = count(a.messages, MessageType.RepairRequest);
    a.replicator.antiEntropyRound();
    await until(() => count(a.messages, MessageType.Pull) > 0, 'b to pull the newer k15');
    expect(count(a.messages, MessageType.RepairRequest)).toBe(asked + 1);
    await settleBoth(a, b);
    expect(b.cache.peekEntry('k15')?.value).toBe('fresh');
    // The write was younger than the in-flight window: b asked a to skip three rounds all the same.
    expect(a.skipsAsked).toEqual([1, 3]);
    for (let i = 4; i <= 6; i++) await round(a, b, i);
    expect(a.replicator.counters.roundsSkipped).toBe(1 + 3);
  });

  it('a node that sends some changes only by repair skips none of its rounds, whatever a full peer asks', async () => {
    const { a, b } = await fullApart(5, { replicateUpdates: false });
    for (let i = 1; i <= 4; i++) await round(a, b, i);
    expect(count(b.messages, MessageType.Digest)).toBe(4);
    expect(a.skipsAsked).toEqual([1, 3, 7, 7]); // asked, and not heeded
    expect(a.replicator.counters.roundsSkipped).toBe(0);
  });

  it('skips only rounds: a Digest for another reason still goes; a cache that has room again tells the peer to skip no more', async () => {
    const { a, b } = await fullApart();
    await round(a, b, 1); // took nothing: b asks a to skip one round
    a.replicator.requestRepair('gw-2'); // as on an overflow or a departure
    await settleBoth(a, b);
    expect(count(a.messages, MessageType.RepairRequest)).toBe(2); // handled, and took nothing: skip three
    expect(a.skipsAsked).toEqual([1, 3]);
    b.cache.remove('k5');
    await settleBoth(a, b);
    for (let i = 2; i <= 4; i++) await round(a, b, i);
    expect(a.replicator.counters.roundsSkipped).toBe(3);
    await round(a, b, 5); // b had room: it took one of a's keys, and told a to skip no more
    expect(b.cache.size).toBe(20);
    expect(a.skipsAsked).toEqual([1, 3, 0]);
    await round(a, b, 6); // full again, and nothing taken: skip one
    expect(count(a.messages, MessageType.RepairRequest)).toBe(4);
    expect(a.skipsAsked).toEqual([1, 3, 0, 1]);
    expect(a.replicator.counters.roundsSkipped).toBe(3);
  });

  it('a repair that takes something, from a Digest between rounds, tells the peer to skip none of those left', async () => {
    const { a, b } = await fullApart();
    for (let i = 1; i <= 3; i++) await round(a, b, i); // sent 1 and 3: b asked a to skip three
    expect(a.skipsAsked).toEqual([1, 3]);
    // A third node's write reached a, not b; then a departure's Digest goes to b and b takes it.
    missedBy(a, 'k15', 'missed');
    a.replicator.requestRepairIfChanged('gw-2');
    await settleBoth(a, b);
    expect(b.cache.peekEntry('k15')?.value).toBe('missed');
    expect(a.skipsAsked).toEqual([1, 3, 0]);
    const digests = count(b.messages, MessageType.Digest);
    await round(a, b, 4); // not skipped
    expect(count(b.messages, MessageType.Digest)).toBe(digests + 1);
    expect(a.replicator.counters.roundsSkipped).toBe(1);
  });

  it('a peer that asks to skip more rounds than seven still gets every eighth', async () => {
    const { a, b } = await fullApart();
    a.replicator.receiveRepair({ type: MessageType.SkipRounds, cache: 'Response Cache', rounds: 200 }, 'gw-2');
    for (let i = 1; i <= 8; i++) await round(a, b, i);
    expect(a.replicator.counters.roundsSkipped).toBe(7);
    expect(count(b.messages, MessageType.Digest)).toBe(1);
  });

  it('a peer of protocol 4 is asked nothing, and every round goes to it as before', async () => {
    const { a, b } = await fullApart(4);
    for (let i = 1; i <= 4; i++) await round(a, b, i);
    expect(count(b.messages, MessageType.Digest)).toBe(4);
    expect(a.skipsAsked).toEqual([]);
    expect(count(a.messages, MessageType.RepairRequest)).toBe(4);
    expect(a.replicator.counters.roundsSkipped).toBe(0);
  });
});
