/**
 * CacheReplicator, CacheRepair and LoadLeases on their own, each against a fake replica port
 * (fake-port.ts): what they ask of a cache and what they do with its answers, with no
 * CacheManager behind them.
 */
import type { Version } from '@meshcache/core';
import { ManualClock, VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type ReplicationConfig, resolveReplicationConfig } from '../src/index.js';
import { CacheReplicator, type ChangeMessage, HybridLogicalClock, MessageType } from '../src/internals.js';
import { LoadLeases } from '../src/load-leases.js';
import { CacheRepair, type CacheRepairOptions, type RepairPeer } from '../src/repair/cache-repair.js';
import { computeDigest, type KeyVersion } from '../src/repair/digest.js';
import type { SessionMessage } from '../src/session.js';
import { FakePort } from './fake-port.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const clock = new ManualClock();
const v = (time: number, counter = 0, node = 'gw-2'): Version => ({ time, counter, node });
const replicators: CacheReplicator[] = [];
afterEach(() => {
  for (const replicator of replicators.splice(0)) replicator.close();
});

function replicatorOn(port: FakePort, replication: ReplicationConfig = {}) {
  const hlc = new HybridLogicalClock({ node: 'gw-1', clock: clock.now, maxDriftMillis: 60_000 });
  const settings = resolveReplicationConfig('c', { asynchronousReplicationIntervalMillis: 3_600_000, ...replication });
  const replicator = new CacheReplicator(port, settings, { hlc, logger: quiet });
  replicators.push(replicator);
  const sent: SessionMessage[] = [];
  replicator.addPeer({
    node: 'gw-2',
    // A batch's changes are read as it is sent (a queue's batch reads them from the log, which moves on).
    send: (message) =>
      sent.push(message.type === MessageType.Batch ? { type: message.type, changes: [...message.changes] } : message),
    bufferedAmount: () => 0,
    acknowledged: async () => true,
  });
  return { replicator, sent };
}

const put = (key: string, value: unknown, version: Version): ChangeMessage => ({
  type: MessageType.Put,
  cache: 'c',
  key,
  value,
  version,
  createdAt: version.time,
  timeToLiveSeconds: 0,
  timeToIdleSeconds: 0,
});

describe('CacheReplicator on a replica port', () => {
  it('makes the port refuse values msgpack cannot carry, hears its local changes, and lets go when closed', () => {
    const port = new FakePort();
    const { replicator } = replicatorOn(port);
    expect(port.encodableReason).toBe('replicates to peers');
    expect(port.localListeners).toHaveLength(1);
    replicator.close();
    expect(port.localListeners).toHaveLength(0);
  });

  it('sends a local put with the creation time and lifespan the port reported, without reading the entry back', () => {
    const port = new FakePort();
    const { replicator, sent } = replicatorOn(port);
    port.localPut('GET /a', { status: 200 }, v(clock.now(), 0, 'gw-1'), 1234, 60, 30);
    replicator.flush();
    expect(sent).toEqual([
      {
        type: MessageType.Batch,
        changes: [
          {
            type: MessageType.Put,
            cache: 'c',
            key: 'GET /a',
            value: { status: 200 },
            version: v(clock.now(), 0, 'gw-1'),
            createdAt: 1234,
            timeToLiveSeconds: 60,
            timeToIdleSeconds: 30,
          },
        ],
      },
    ]);
    expect(port.calls).toEqual([]);
  });

  it('invalidates instead when puts are not replicated via copy', () => {
    const port = new FakePort();
    const { replicator, sent } = replicatorOn(port, { replicatePutsViaCopy: false });
    port.localPut('k', 'v', v(clock.now(), 0, 'gw-1'), clock.now());
    replicator.flush();
    expect(sent).toEqual([
      {
        type: MessageType.Batch,
        changes: [{ type: MessageType.Remove, cache: 'c', key: 'k', version: v(clock.now(), 0, 'gw-1') }],
      },
    ]);
  });

  it("applies a peer's changes through the port and counts only the ones the port applied", () => {
    const port = new FakePort();
    const { replicator } = replicatorOn(port);
    expect(replicator.apply(put('k', 'new', v(clock.now())), 'gw-2')).toBe('applied');
    expect(replicator.apply(put('k', 'old', v(clock.now() - 1)), 'gw-2')).toBe('stale');
    expect(
      replicator.apply({ type: MessageType.Remove, cache: 'c', key: 'k', version: v(clock.now(), 1) }, 'gw-2'),
    ).toBe('applied');
    expect(port.calls).toEqual(['applyPut k', 'applyPut k', 'applyRemote remove k']);
    expect(replicator.counters.applied).toBe(2);
  });

  it("applies a run of this cache's changes, their keys read ahead first (PREFETCH_RUN at most, runs worth a pass), then let go", () => {
    const port = new FakePort();
    const { replicator } = replicatorOn(port);
    const other = (key: string): ChangeMessage => ({ ...put(key, 'v', v(1)), cache: 'other' });
    const mine = (count: number, from = 0) => Array.from({ length: count }, (_, i) => put(`k${from + i}`, 'v', v(1)));
    const keysOf = (changes: ChangeMessage[]) => changes.map((change) => (change as { key: string }).key);
    const removeAll: ChangeMessage = { type: MessageType.RemoveAll, cache: 'c', version: v(2) };
    const changes = [...mine(20), removeAll, ...mine(5, 20), other('x'), ...mine(3, 30), ...mine(1100, 40)];
    // A run ends at a change of another cache; its removeAll has no key to read ahead, and a
    // change skipped (a removeAll overtaken, say) is neither read ahead nor applied.
    expect(replicator.applyRun(changes, 0, 'gw-2', new Set([3]))).toBe(26);
    expect(port.prefetched).toEqual([keysOf(mine(25)).filter((key) => key !== 'k3')]);
    expect(port.prefetchesEnded).toBe(1);
    expect(port.calls.filter((call) => call.startsWith('applyPut'))).toHaveLength(24);
    expect(port.calls).toContain('applyRemote removeAll');
    // A run of more than PREFETCH_RUN changes is applied PREFETCH_RUN at a time.
    expect(replicator.applyRun(changes, 27, 'gw-2')).toBe(27 + 1024);
    expect(port.prefetched[1]).toEqual(keysOf(changes.slice(27, 27 + 1024)));
    // The last run ends with the batch.
    expect(replicator.applyRun(changes, 27 + 1024, 'gw-2')).toBe(changes.length);
    expect(port.prefetched[2]).toHaveLength(changes.length - 27 - 1024);
    expect(port.prefetchesEnded).toBe(3);
    // A run of fewer than PREFETCH_FROM keys is looked up as it comes: nothing read ahead, nothing to end.
    expect(replicator.applyRun([...mine(15, 2000), other('y')], 0, 'gw-2')).toBe(15);
    expect(port.prefetched).toHaveLength(3);
    expect(port.prefetchesEnded).toBe(3);
    expect(port.calls.filter((call) => call.startsWith('applyPut'))).toHaveLength(24 + 3 + 1100 + 15);
  });

  it('refuses a change stamped past the drift bound before it reaches the port', () => {
    const port = new FakePort();
    const { replicator } = replicatorOn(port);
    expect(replicator.apply(put('k', 'from the future', v(clock.now() + 120_000)), 'gw-2')).toBe('refused');
    expect(port.calls).toEqual([]);
    expect(replicator.counters.refused).toBe(1);
  });

  it('with single flight, coordinates the port’s loads until closed', () => {
    const port = new FakePort();
    const { replicator } = replicatorOn(port, { clusterSingleFlight: true });
    expect(port.coordinator).toBeInstanceOf(LoadLeases);
    expect(port.remoteValueListeners).toHaveLength(1);
    replicator.close();
    expect(port.coordinator).toBeUndefined();
    expect(port.remoteValueListeners).toHaveLength(0);
  });

  it('anti-entropy offers a digest only when the port’s generation moved since the last one', async () => {
    const scheduler = new VirtualScheduler();
    const port = new FakePort();
    const hlc = new HybridLogicalClock({ node: 'gw-1', clock: scheduler.now });
    const settings = resolveReplicationConfig('c', { repairIntervalMillis: 1000 });
    const replicator = new CacheReplicator(port, settings, { hlc, logger: quiet, scheduler });
    replicators.push(replicator);
    const digests: number[] = [];
    replicator.addPeer({
      node: 'gw-2',
      send: (message) => {
        if (message.type === MessageType.Digest) digests.push(port.generation);
      },
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
    port.localPut('k', 1, hlc.now(), scheduler.now());
    await scheduler.advance(1300);
    await scheduler.advance(1300); // unchanged since: nothing more
    port.localPut('k', 2, hlc.now(), scheduler.now());
    await scheduler.advance(1300);
    expect(digests).toEqual([1, 2]);
  });
});

describe('anti-entropy rounds a peer asked to skip', () => {
  /** A replicator on a fake port with rounds every second, and what each peer was sent. */
  async function roundsOn(replication: ReplicationConfig, peers: Array<{ node: string; unsent: number }>) {
    const scheduler = new VirtualScheduler();
    const port = new FakePort();
    const hlc = new HybridLogicalClock({ node: 'gw-1', clock: scheduler.now });
    const settings = resolveReplicationConfig('c', { repairIntervalMillis: 1000, ...replication });
    const replicator = new CacheReplicator(port, settings, { hlc, logger: quiet, scheduler, maxQueueBytes: 1000 });
    replicators.push(replicator);
    const digests = new Map<string, number>();
    for (const { node, unsent } of peers) {
      replicator.addPeer({
        node,
        send: (message) => {
          if (message.type === MessageType.Digest) digests.set(node, (digests.get(node) ?? 0) + 1);
        },
        bufferedAmount: () => unsent,
        acknowledged: async () => true,
      });
      replicator.receiveRepair({ type: MessageType.SkipRounds, cache: 'c', rounds: 7 }, node);
    }
    await scheduler.advance(1);
    digests.clear(); // the digests of their links coming up
    const put = (value: unknown) => port.localPut('k', value, hlc.now(), scheduler.now());
    return { replicator, scheduler, digests, put };
  }

  it('skips them for a peer in step, not for one that missed changes (its connection backed up, synchronous mode)', async () => {
    const { replicator, scheduler, digests, put } = await roundsOn({ replicateAsynchronously: false }, [
      { node: 'gw-2', unsent: 10_000 },
      { node: 'gw-3', unsent: 0 },
    ]);
    put('x'.repeat(100)); // gw-2's connection is past the bound: it is sent nothing, and needs repair
    await scheduler.advance(1300);
    expect(digests.get('gw-2')).toBe(1);
    expect(digests.get('gw-3')).toBeUndefined();
    expect(replicator.counters.roundsSkipped).toBe(1);
  });

  it('the round after the skipped ones goes even if the cache did not change since they were due', async () => {
    const { replicator, scheduler, digests, put } = await roundsOn({}, [{ node: 'gw-2', unsent: 0 }]);
    put(1); // then nothing more
    // Rounds come every 800 to 1,200 ms (jittered): step until the seven have been skipped.
    for (let step = 0; step < 200 && replicator.counters.roundsSkipped < 7; step++) await scheduler.advance(100);
    expect(replicator.counters.roundsSkipped).toBe(7);
    expect(digests.get('gw-2')).toBeUndefined();
    await scheduler.advance(1300);
    expect(digests.get('gw-2')).toBe(1);
    await scheduler.advance(5000); // unchanged since that digest: nothing to send, nothing skipped
    expect(digests.get('gw-2')).toBe(1);
    expect(replicator.counters.roundsSkipped).toBe(7);
  });

  it('a node that sends some changes only by repair (a replicate* option off) skips no round', async () => {
    for (const off of [{ replicatePuts: false }, { replicateUpdates: false }, { replicateRemovals: false }]) {
      const { replicator, scheduler, digests, put } = await roundsOn(off, [{ node: 'gw-2', unsent: 0 }]);
      for (let round = 0; round < 3; round++) {
        put(round);
        await scheduler.advance(1300);
      }
      expect(digests.get('gw-2')).toBe(3);
      expect(replicator.counters.roundsSkipped).toBe(0);
    }
  });
});

describe('CacheRepair on a replica port', () => {
  function repairOn(port: FakePort, options: Partial<CacheRepairOptions> = {}) {
    const sent: SessionMessage[] = [];
    const applied: ChangeMessage[] = [];
    const peer: RepairPeer = {
      node: 'gw-2',
      sendsRounds: true,
      send: (message) => sent.push(message),
      drained: async () => {},
    };
    const repair = new CacheRepair(port, {
      chunkBytes: 1 << 20,
      apply: (change) => applied.push(change),
      onRepaired: () => {},
      logger: quiet,
      ...options,
    });
    return { repair, peer, sent, applied };
  }
  /** A peer's digest of one bucket, which differs from this node's: this node asks for its keys. */
  const sendDifferingDigest = (repair: CacheRepair, peer: RepairPeer) =>
    repair.receive(peer, {
      type: MessageType.Digest,
      cache: 'c',
      bucketCount: 1,
      digest: new Uint8Array(8).fill(7),
      clearVersion: undefined,
    });
  const turns = async (n = 10) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  it('builds its digest from the port’s versions and tombstones, once per generation', async () => {
    const port = new FakePort();
    port.localPut('a', 1, v(10), 10);
    port.localRemove('b', v(11));
    const { repair, peer, sent } = repairOn(port);
    repair.offer(peer);
    await turns();
    repair.offer(peer);
    await turns();
    expect(port.calls.filter((call) => call === 'liveEntries')).toHaveLength(1);
    const { digest: expected } = computeDigest(
      [
        { key: 'a', version: v(10), removed: false },
        { key: 'b', version: v(11), removed: true },
      ],
      1,
    );
    expect(sent.map((m) => (m.type === MessageType.Digest ? [...m.digest] : m.type))).toEqual([
      [...expected],
      [...expected],
    ]);
    port.localPut('c', 3, v(12), 12);
    repair.offer(peer);
    await turns();
    expect(port.calls.filter((call) => call === 'liveEntries')).toHaveLength(2);
  });

  it('asks a peer that sends it rounds to skip them while its full cache takes nothing from it; not a backplane member, nor on a listing another overlapped', async () => {
    const port = new FakePort();
    port.localPut('k', 1, v(10), 10);
    const { repair, peer, sent } = repairOn(port);
    const skips = () => sent.filter((m) => m.type === MessageType.SkipRounds);
    const listed = (to: RepairPeer) =>
      repair.receive(to, { type: MessageType.Keys, cache: 'c', items: [], last: true });
    const repairFrom = async (from: RepairPeer) => {
      sendDifferingDigest(repair, from);
      await turns();
      listed(from);
    };
    await repairFrom(peer); // its bootstrap: it takes anything then, full or not
    port.room = 0;
    await repairFrom(peer);
    await repairFrom(peer);
    expect(skips()).toEqual([
      { type: MessageType.SkipRounds, cache: 'c', rounds: 1 },
      { type: MessageType.SkipRounds, cache: 'c', rounds: 3 },
    ]);
    await repairFrom({ ...peer, node: 'gw-3', sendsRounds: false }); // a backplane member runs no rounds
    expect(skips()).toHaveLength(2);
    sendDifferingDigest(repair, peer);
    await turns();
    sendDifferingDigest(repair, peer); // while the first listing still comes: its end is not judged
    await turns();
    listed(peer);
    expect(skips()).toHaveLength(2);
    await repairFrom(peer);
    expect(skips().at(-1)).toEqual({ type: MessageType.SkipRounds, cache: 'c', rounds: 7 });
  });

  it('a repair that met its bound on keys to pull found something: the peer is not asked to skip', async () => {
    const port = new FakePort();
    port.localPut('a', 1, v(10), 10);
    port.localPut('b', 1, v(10), 10);
    const { repair, peer, sent } = repairOn(port, { maxWanted: 1, clock: () => 1000 });
    const listing = (items: KeyVersion[]) => async () => {
      sendDifferingDigest(repair, peer);
      await turns();
      repair.receive(peer, { type: MessageType.Keys, cache: 'c', items, last: true });
    };
    await listing([])(); // its bootstrap
    port.room = 0;
    // Both newer, and written just now (as if still in flight): only the bound says something was found.
    await listing([
      { key: 'a', version: v(999), removed: false },
      { key: 'b', version: v(999), removed: false },
    ])();
    expect(sent.filter((m) => m.type === MessageType.SkipRounds)).toEqual([]);
    await listing([{ key: 'a', version: v(999), removed: false }])(); // not cut, and in flight: took nothing
    expect(sent.filter((m) => m.type === MessageType.SkipRounds)).toHaveLength(1);
  });

  it('pulls only the keys of which the port knows an older version or nothing, and applies removals', async () => {
    const port = new FakePort();
    port.localPut('same', 1, v(10), 10);
    port.localPut('older here', 1, v(10), 10);
    const { repair, peer, sent, applied } = repairOn(port);
    sendDifferingDigest(repair, peer);
    await turns();
    expect(sent.map((m) => m.type)).toEqual([MessageType.RepairRequest]);
    repair.receive(peer, {
      type: MessageType.Keys,
      cache: 'c',
      items: [
        { key: 'same', version: v(10), removed: false },
        { key: 'older here', version: v(20), removed: false },
        { key: 'new', version: v(5), removed: false },
        { key: 'gone', version: v(30), removed: true },
      ],
      last: true,
    });
    expect(sent.at(-1)).toEqual({ type: MessageType.Pull, cache: 'c', keys: ['older here', 'new'], last: true });
    expect(applied).toEqual([{ type: MessageType.Remove, cache: 'c', key: 'gone', version: v(30) }]);
    // Four keys: too few to read ahead.
    expect(port.prefetched).toEqual([]);
  });

  it("reads ahead the keys of a peer's key list, and of a pull it answers, a run at a time", async () => {
    const port = new FakePort();
    const keys = Array.from({ length: 1500 }, (_, i) => `k${i}`);
    for (const key of keys) port.localPut(key, 1, v(10), 10);
    const { repair, peer, sent } = repairOn(port);
    sendDifferingDigest(repair, peer);
    await turns();
    repair.receive(peer, {
      type: MessageType.Keys,
      cache: 'c',
      items: keys.map((key) => ({ key, version: v(20), removed: false })),
      last: true,
    });
    expect(port.prefetched).toEqual([keys.slice(0, 1024), keys.slice(1024)]);
    expect(sent.at(-1)).toMatchObject({ type: MessageType.Pull, keys });
    // The other side of a repair: this node lists its keys, and the peer pulls them.
    port.prefetched.length = 0;
    const serving = repairOn(port);
    serving.repair.offer(serving.peer); // a digest sent: the peer may ask for keys
    await turns(50);
    const digest = serving.sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
    const buckets = Array.from({ length: digest.bucketCount }, (_, i) => i);
    serving.repair.receive(serving.peer, {
      type: MessageType.RepairRequest,
      cache: 'c',
      bucketCount: digest.bucketCount,
      keyBuckets: buckets,
      fullBuckets: [],
    });
    await turns(50);
    serving.repair.receive(serving.peer, { type: MessageType.Pull, cache: 'c', keys: keys.slice(0, 40), last: true });
    await turns(50);
    expect(serving.sent.map((m) => m.type)).toContain(MessageType.Entries);
    expect(port.prefetched).toEqual([keys.slice(0, 40)]);
  });
});

describe('LoadLeases on a replica port', () => {
  it('a waiter answers with the value as soon as the port holds it, and never loads', async () => {
    const scheduler = new VirtualScheduler();
    const port = new FakePort('tokens');
    const hlc = new HybridLogicalClock({ node: 'gw-2', clock: scheduler.now });
    const leases = new LoadLeases({
      port,
      hlc,
      logger: quiet,
      leaseMillis: 10_000,
      claimMillis: 100,
      broadcast: () => 1,
      flush: () => {},
      confirm: async () => {},
      scheduler,
    });
    leases.receive(
      {
        type: MessageType.Lease,
        cache: 'tokens',
        key: 'k',
        version: v(scheduler.now(), 0, 'gw-1'),
        leaseMillis: 10_000,
        state: 'claim',
      },
      'gw-1',
    );
    let loaded = false;
    const waiting = leases.coordinate('k', async () => {
      loaded = true;
      return 'mine';
    });
    await scheduler.advance(0);
    expect(port.calls).toEqual(['peekEntry k']);
    port.applyPut('k', 'theirs', v(scheduler.now(), 1, 'gw-1'), scheduler.now(), 0, 0);
    leases.valueArrived('k');
    expect(await waiting).toEqual({ value: 'theirs', fromPeer: true });
    expect(loaded).toBe(false);
  });
});
