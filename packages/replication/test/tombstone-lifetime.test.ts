/**
 * A removal's tombstone dies on every node once the retention has passed, on a cluster whose
 * caches keep changing (so every anti-entropy round sends a digest) and whose nodes forget aged
 * tombstones at different moments: their sweeps run at the multiples of the interval on each
 * node's clock (sweeper.ts), and these clocks are 25 s apart, within the drift bound.
 *
 * Before: the node whose sweep ran first forgot the tombstone, and the next round from a peer
 * that still held it taught it back, for a whole retention more; the peers then did the same to
 * it, and the tombstone never died. Two rules end it, and each test fails with neither: a node
 * forgets aged tombstones before a repair reads them (without it, the second test fails alone),
 * and a removal older than the retention leaves no tombstone (replication-doors.test.ts in
 * cache-core holds that one). Three real ClusterNodes over the simulator's network, on virtual
 * time (virtual-cluster.ts).
 */
import type { Cache } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import type { VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type KeysMessage, MessageType } from '../src/protocol/messages.js';
import { CacheRepair } from '../src/repair/cache-repair.js';
import { type VirtualCluster, virtualCluster } from './virtual-cluster.js';

const NAMES = ['gw-1', 'gw-2', 'gw-3'];
const RETENTION_SECONDS = 60;
/** The caches' default sweep (diskExpiryThreadIntervalSeconds), which also forgets old tombstones. */
const SWEEP_SECONDS = 120;

/** The one cache of these clusters: unbounded, batches every 50 ms, a round every 2 s. */
const KV = {
  kv: {
    maxElementsInMemory: 0,
    replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: 2000 },
  },
};

let running: VirtualCluster | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** Three nodes started 40 s apart, their clocks 25 s apart, each with the cache kv. */
async function cluster(
  retentionSeconds = RETENTION_SECONDS,
): Promise<{ scheduler: VirtualScheduler; caches: Cache<unknown>[] }> {
  running = await virtualCluster({
    names: NAMES,
    tombstoneRetentionSeconds: retentionSeconds,
    startGapMillis: 40_000,
    // Sweeps run at the multiples of their interval on each node's clock (sweeper.ts): clocks
    // apart by these skews (within the 60 s drift bound) sweep up to 50 s apart.
    skewMillis: [0, 25_000, -25_000],
    caches: KV,
  });
  return { scheduler: running.scheduler, caches: running.caches('kv') };
}

/** Counts the Keys items this process's repairs are sent (CacheRepair.receive, wrapped to count and pass on) until stop(). */
function countKeysListed(): { readonly listed: number; stop(): void } {
  let listed = 0;
  const receive = CacheRepair.prototype.receive;
  CacheRepair.prototype.receive = function (this: CacheRepair, ...args: Parameters<CacheRepair['receive']>) {
    const [, message] = args;
    if (message.type === MessageType.Keys) listed += (message as KeysMessage).items.length;
    receive.apply(this, args);
  };
  return {
    get listed() {
      return listed;
    },
    stop: () => {
      CacheRepair.prototype.receive = receive;
    },
  };
}

/** One second of churn on `cache`: five puts and two removals of keys drawn from 5,000 by `pick`. */
function churn(cache: Cache<unknown>, second: number, pick: () => string): void {
  for (let i = 0; i < 5; i++) cache.put(pick(), second);
  for (let i = 0; i < 2; i++) cache.remove(pick());
}

/** Keys of 5,000, in a fixed order drawn from `seed`. */
function keyPicker(seed: number): () => string {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return `k${Math.floor((state / 2_147_483_648) * 5000)}`;
  };
}

const holding = (caches: Cache<unknown>[], key: string): string[] =>
  NAMES.filter((_, i) => replicaPortOf(caches[i] as Cache<unknown>).knownVersion(key) !== undefined);

describe('tombstone lifetime across a cluster', () => {
  it('a removal is forgotten everywhere after the retention and a sweep, and no repair teaches it back', async () => {
    const { scheduler, caches } = await cluster();
    const [first] = caches as [Cache<unknown>];
    first.put('gone', 'a value');
    await scheduler.advance(1000);
    first.remove('gone');
    await scheduler.advance(1000);
    expect(holding(caches, 'gone')).toEqual(NAMES); // every node holds the tombstone

    // Writes keep coming, a second apart, on each node in turn: every round sends digests.
    const seconds = RETENTION_SECONDS + SWEEP_SECONDS + 30 + 300;
    const heldAt: Array<[number, string[]]> = [];
    for (let second = 0; second < seconds; second++) {
      caches[second % caches.length]?.put(`k${second % 50}`, second);
      await scheduler.advance(1000);
      heldAt.push([second, holding(caches, 'gone')]);
    }
    // Forgotten everywhere once every node's sweep ran past the retention...
    const forgottenBy = RETENTION_SECONDS + SWEEP_SECONDS + 30; // and the skew
    const late = heldAt.filter(([second, held]) => second >= forgottenBy && held.length > 0);
    expect(late.slice(0, 3)).toEqual([]);
    // ...and the removal still holds: the key did not come back anywhere.
    for (const cache of caches) expect(cache.has('gone')).toBe(false);
  }, 60_000);

  it('under steady writes and removals, nodes forget the same tombstones at once, and anti-entropy rounds list next to nothing', async () => {
    const keys = countKeysListed();
    try {
      const retention = 60;
      const { scheduler, caches } = await cluster(retention);
      const pick = keyPicker(7);
      const held: number[][] = [];
      let listedLate = 0;
      for (let second = 0; second < 900; second++) {
        churn(caches[second % caches.length] as Cache<unknown>, second, pick); // from each node in turn
        await scheduler.advance(1000);
        if (second === 300) listedLate = keys.listed;
        if (second % 30 === 0) held.push(caches.map((c) => c.statistics().tombstones));
      }
      listedLate = keys.listed - listedLate;
      // About two removals a second for the retention (60 s): 120 tombstones on each node, never
      // more than twice that (before: every node's count grew for good, past 1,200 in 25 minutes).
      const most = Math.max(...held.flat());
      expect(most).toBeLessThanOrEqual(2 * 2 * retention);
      // Over the last ten minutes (300 rounds of each node to each peer, every 2 s), the rounds
      // listed a few hundred keys at most: the ones still in flight as a round began. Before,
      // nodes whose sweeps forgot tombstones at different moments differed in every round, and
      // the rounds listed 30,000 to 50,000 keys in five minutes; forgetting by age without
      // forgetting before each round made it a million.
      expect(listedLate).toBeLessThan(5000);
    } finally {
      keys.stop();
    }
  }, 120_000);

  it('a node that joins late (or restarts empty) ages the tombstones repair teaches it from their removal, so rounds after it joined list next to nothing', async () => {
    const listedPerMinute: number[] = [];
    const keys = countKeysListed();
    try {
      // The default retention (300 s): the joiner is taught tombstones of every age up to it.
      running = await virtualCluster({
        names: NAMES,
        startGapMillis: 0,
        startNow: 2,
        skewMillis: [0, 1500, -1500],
        caches: KV,
      });
      const { scheduler, nodes } = running;
      const pick = keyPicker(11);
      const JOIN_AT = 6 * 60;
      let listedBefore = 0;
      for (let second = 0; second < JOIN_AT + 7 * 60; second++) {
        if (second === JOIN_AT) await running.join();
        churn(nodes[second % nodes.length]?.manager.getCache('kv') as Cache<unknown>, second, pick);
        await scheduler.advance(1000);
        if (second % 60 === 59) {
          listedPerMinute.push(keys.listed - listedBefore);
          listedBefore = keys.listed;
        }
      }
      // From its second minute on (its first is its bootstrap). Before, it kept every tombstone
      // it was taught for a whole retention after it joined while its peers forgot theirs one by
      // one, and the rounds of those six minutes listed 1.5 million keys (170,000 in the first
      // minute, 375,000 in the fourth); nodes started together list a few hundred. Now about
      // 31,000: the tombstones repair taught it age from their removal and differ from its peers'
      // only by the clocks' skew (1.5 s), about 7,500 keys a minute while they go. Aged by the
      // drift bound alone (taught more than 60 s after its removal), those younger than that at
      // the join still aged from it: 103,000, 80,000 of them in the minute they went.
      const afterJoin = listedPerMinute.slice(JOIN_AT / 60 + 1);
      expect(
        afterJoin.reduce((sum, n) => sum + n, 0),
        `keys listed a minute: ${afterJoin.join(', ')}`,
      ).toBeLessThan(60_000);
      const joined = running.caches('kv');
      expect(joined).toHaveLength(3);
      // The joiner holds what its peers hold: the same tombstones, forgotten at the same moments.
      const counts = joined.map((cache) => cache.statistics().tombstones);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThan(20);
    } finally {
      keys.stop();
    }
  }, 120_000);
});
