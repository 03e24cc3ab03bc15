/**
 * When asynchronous batches leave (cache-replicator.ts, #armFlush): a change made when no batch
 * left in the last interval goes at once; changes made steadily leave on a fixed beat, an
 * interval apart, coalesced; an idle cache arms no timer. On virtual time, with a peer that notes
 * when it is sent each batch.
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveReplicationConfig } from '../src/index.js';
import { CacheReplicator, HybridLogicalClock, MessageType } from '../src/internals.js';
import { ReplicationQueue } from '../src/replication-queue.js';

const INTERVAL = 1000;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

const managers: CacheManager[] = [];
const replicators: CacheReplicator[] = [];
afterEach(async () => {
  for (const replicator of replicators.splice(0)) replicator.close();
  for (const manager of managers.splice(0)) await manager.shutdown();
});

/** A replicated cache on virtual time, and the batches its one peer was sent: [virtual ms since start, keys]. */
function replicated(replication: { replicateAsynchronously?: boolean } = {}) {
  const scheduler = new VirtualScheduler();
  const start = scheduler.now();
  const hlc = new HybridLogicalClock({ node: 'gw-1', clock: scheduler.now });
  const manager = new CacheManager({ clock: scheduler.now, versionClock: () => hlc.now() });
  managers.push(manager);
  const cache = manager.addCache('c', {});
  const settings = resolveReplicationConfig('c', {
    asynchronousReplicationIntervalMillis: INTERVAL,
    repairIntervalMillis: 0, // no anti-entropy timer: the scheduler's timers are the batch's alone
    ...replication,
  });
  const replicator = new CacheReplicator(replicaPortOf(cache), settings, { hlc, logger: quiet, scheduler });
  replicators.push(replicator);
  const batches: Array<[number, string[]]> = [];
  replicator.addPeer({
    node: 'gw-2',
    send: (message) => {
      if (message.type !== MessageType.Batch) return;
      batches.push([scheduler.now() - start, message.changes.map((change) => ('key' in change ? change.key : '*'))]);
    },
    bufferedAmount: () => 0,
    acknowledged: async () => true,
  });
  return { scheduler, replicator, cache, batches, at: (ms: number) => scheduler.runUntil(start + ms) };
}

describe('when asynchronous batches leave', () => {
  it('a change made after a quiet interval goes at once, with whatever the same turn queued', async () => {
    const { cache, batches, at } = replicated();
    await at(5000);
    cache.put('revoked', 'x');
    cache.remove('revoked');
    cache.put('other', 'y');
    await at(5000);
    expect(batches).toEqual([[5000, ['revoked', 'other']]]);
  });

  it('changes made within an interval of a batch wait for the beat, coalesced by key', async () => {
    const { cache, batches, at } = replicated();
    cache.put('a', 1);
    await at(0);
    await at(10);
    cache.put('b', 1);
    await at(400);
    cache.put('b', 2);
    cache.put('c', 1);
    await at(999);
    expect(batches).toEqual([[0, ['a']]]);
    await at(1000);
    expect(batches).toEqual([
      [0, ['a']],
      [1000, ['b', 'c']],
    ]);
  });

  it('changes made steadily leave on a fixed beat, an interval apart, which a flush asked for does not move', async () => {
    const { replicator, cache, batches, at } = replicated();
    for (let ms = 0; ms < 5000; ms += 100) {
      await at(ms);
      cache.put(`k${ms}`, ms);
    }
    await at(5000);
    expect(batches.map(([ms]) => ms)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(batches.flatMap(([, keys]) => keys)).toHaveLength(50);
    await at(5500);
    cache.put('x', 1);
    await at(6000);
    expect(batches.at(-1)).toEqual([6000, ['x']]);
    await at(6200);
    cache.put('y', 1);
    replicator.flush(); // as settle() and a lease do: now, and the beat goes on
    expect(batches.at(-1)).toEqual([6200, ['y']]);
    cache.put('z', 1);
    await at(6999);
    expect(batches.at(-1)).toEqual([6200, ['y']]);
    await at(7000);
    expect(batches.at(-1)).toEqual([7000, ['z']]);
  });

  it('the beat stops at a tick with nothing to send: an idle cache keeps no timer', async () => {
    const { scheduler, cache, batches, at } = replicated();
    await at(100);
    expect(scheduler.pending).toBe(0);
    cache.put('a', 1);
    await at(100);
    expect(batches).toEqual([[100, ['a']]]);
    expect(scheduler.pending).toBe(1); // the beat, due at 1100
    await at(1100);
    expect(scheduler.pending).toBe(0);
    await at(5000);
    expect(batches).toEqual([[100, ['a']]]);
    cache.put('b', 1);
    await at(5000);
    expect(batches).toEqual([
      [100, ['a']],
      [5000, ['b']],
    ]);
  });

  it("gives back the queue's room as the beat stops (found by the outside review)", async () => {
    const trims = vi.spyOn(ReplicationQueue.prototype, 'trim');
    try {
      const { cache, batches, at } = replicated();
      for (let i = 0; i < 5000; i++) cache.put(`k${i}`, i);
      await at(0);
      expect(batches.flatMap(([, keys]) => keys)).toHaveLength(5000);
      expect(trims).not.toHaveBeenCalled();
      await at(1000); // the beat's first tick finds nothing: it stops, and trims
      expect(trims).toHaveBeenCalledTimes(1);
    } finally {
      trims.mockRestore();
    }
  });

  it('synchronous mode arms no batch timer: each change goes as it is made', async () => {
    const { scheduler, cache, batches, at } = replicated({ replicateAsynchronously: false });
    cache.put('a', 1);
    expect(batches).toEqual([[0, ['a']]]);
    await at(10);
    expect(scheduler.pending).toBe(0);
  });
});
