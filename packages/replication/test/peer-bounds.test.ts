/**
 * What an authenticated peer cannot make a node do: each bound of docs/security.md ("After
 * authentication"), exercised directly against the part that enforces it.
 */
import { type Cache, CacheManager, type Scheduler, type Version } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualClock, VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { REMOVE_ALLS_PER_SECOND } from '../src/cache-replicator.js';
import { MAX_COUNTER } from '../src/hlc.js';
import { resolveReplicationConfig } from '../src/index.js';
import {
  CacheReplicator,
  type EntriesMessage,
  HybridLogicalClock,
  type LeaseMessage,
  MessageType,
  type RepairMessage,
  WireCodec,
} from '../src/internals.js';
import { LoadLeases } from '../src/load-leases.js';
import { overtakenRemoveAlls, PeerLink, UnsentBudget } from '../src/peer-link.js';
import { CacheRepair, READ_PAUSE_FACTOR, type RepairPeer, STALE_WANTED_MILLIS } from '../src/repair/cache-repair.js';
import { bucketOf } from '../src/repair/digest.js';
import type { SessionMessage } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { type Connection, delegatingConnection } from '../src/transport/transport.js';
import { FakePort } from './fake-port.js';
import { sessionOf } from './sessions.js';

const managers: CacheManager[] = [];
const replicators: CacheReplicator[] = [];
afterEach(async () => {
  for (const replicator of replicators.splice(0)) replicator.close();
  for (const manager of managers.splice(0)) await manager.shutdown();
});

function recordingLogger() {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { debug() {}, info() {}, error() {}, warn: (_o: object, m?: string) => warnings.push(m ?? '') },
  };
}

function cacheWith(entries: number, clock = new ManualClock()): Cache<unknown> {
  const hlc = new HybridLogicalClock({ node: 'gw-2', clock: clock.now });
  const manager = new CacheManager({ clock: clock.now, versionClock: () => hlc.now() });
  managers.push(manager);
  const cache = manager.addCache('c', {});
  for (let i = 0; i < entries; i++) cache.put(`k${i}`, `v${i}`);
  return cache;
}

/** A repair of `cache` talking to a peer that records what it is sent. */
function repairOf(
  cache: Cache<unknown>,
  options: {
    maxWanted?: number;
    maxWantedBytes?: number;
    onRepaired?: (node: string) => void;
    askDigest?: (node: string) => void;
    clock?: () => number;
    chunkBytes?: number;
  } = {},
) {
  const { warnings, logger } = recordingLogger();
  const sent: SessionMessage[] = [];
  const peer: RepairPeer = {
    node: 'gw-1',
    sendsRounds: true,
    send: (message) => sent.push(message),
    drained: async () => {},
  };
  const repair = new CacheRepair(replicaPortOf(cache), {
    chunkBytes: 1 << 20,
    apply: () => {},
    onRepaired: () => {},
    logger,
    ...options,
  });
  return { repair, peer, sent, warnings };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};
const v = (time: number): Version => ({ time, counter: 0, node: 'gw-1' });

/** A peer's Digest of one bucket that matches nothing this node holds (`fill` tells two apart). */
const oneBucketDigest = (fill = 1) => ({
  type: MessageType.Digest,
  cache: 'c',
  bucketCount: 1,
  digest: new Uint8Array(8).fill(fill),
  clearVersion: undefined,
});

/** Offers the peer a digest and answers its RepairRequest for the keys of bucket 0; returns the bucket count. */
async function keysOfBucketZeroSent(repair: CacheRepair, peer: RepairPeer, sent: SessionMessage[]): Promise<number> {
  repair.offer(peer);
  await turns();
  const { bucketCount } = sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
  repair.receive(peer, { type: MessageType.RepairRequest, cache: 'c', bucketCount, keyBuckets: [0], fullBuckets: [] });
  await turns();
  sent.length = 0;
  return bucketCount;
}

/** A scheduler whose waits run on the next turn, on a clock only they (and the test) move; `waits` lists them. */
function waitsPassAtOnce() {
  const clock = { now: 0 };
  const waits: number[] = [];
  const scheduler = {
    now: () => clock.now,
    setTimeout(task: () => void, millis: number) {
      waits.push(millis);
      clock.now += millis;
      setImmediate(task);
      return () => {};
    },
    setInterval: () => () => {},
    nextTurn: () => new Promise<void>((resolve) => setImmediate(resolve)),
    random: Math.random,
  };
  return { clock, waits, scheduler };
}

/** A RepairRequest for the keys of all `bucketCount` buckets (of a digest with that count). */
const requestForKeysOfAll = (bucketCount: number) =>
  ({
    type: MessageType.RepairRequest,
    cache: 'c',
    bucketCount,
    keyBuckets: Array.from({ length: bucketCount }, (_, i) => i),
    fullBuckets: [],
  }) as const;

/**
 * A repair of 100 entries whose peer's socket stays backed up until release(): a listing to it
 * (chunks of 64 bytes) goes on until then. request(n) asks for the keys of all n buckets.
 */
function slowListing() {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const { repair, peer, sent, warnings } = repairOf(cacheWith(100), { chunkBytes: 64 });
  const slow: RepairPeer = { ...peer, drained: () => held };
  const request = requestForKeysOfAll;
  const digests = () => sent.filter((m) => m.type === MessageType.Digest) as { bucketCount: number }[];
  return { repair, slow, sent, warnings, release: () => release(), request, digests };
}

describe('repair: a peer gets answers only to what this node asked', () => {
  it('ignores a RepairRequest that answers no digest of this node (and logs it once)', async () => {
    const { repair, peer, sent, warnings } = repairOf(cacheWith(100));
    const request = {
      type: MessageType.RepairRequest,
      cache: 'c',
      bucketCount: 4,
      keyBuckets: [0, 1],
      fullBuckets: [2, 3],
    } as const;
    repair.receive(peer, request);
    repair.receive(peer, request);
    await turns();
    expect(sent).toEqual([]);
    expect(warnings).toEqual(['a repair message this node did not ask for; ignored (logged once per link)']);
  });

  it('serves one RepairRequest per digest it sent, with that digest’s bucket count', async () => {
    const { repair, peer, sent } = repairOf(cacheWith(100));
    repair.offer(peer);
    await turns();
    const digest = sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
    repair.receive(peer, {
      type: MessageType.RepairRequest,
      cache: 'c',
      bucketCount: digest.bucketCount * 2,
      keyBuckets: [0],
      fullBuckets: [],
    });
    await turns();
    expect(sent.filter((m) => m.type === MessageType.Keys)).toEqual([]);
    const answer = {
      type: MessageType.RepairRequest,
      cache: 'c',
      bucketCount: digest.bucketCount,
      keyBuckets: [0],
      fullBuckets: [],
    } as const;
    repair.receive(peer, answer);
    repair.receive(peer, answer); // a second time: nothing more
    await turns();
    expect(sent.filter((m) => m.type === MessageType.Keys && m.last)).toHaveLength(1);
  });

  it('ignores Pulls that answer no Keys of this node, and answers each pulled key once', async () => {
    const { repair, peer, sent } = repairOf(cacheWith(10));
    repair.receive(peer, { type: MessageType.Pull, cache: 'c', keys: ['k1'], last: true });
    await turns();
    expect(sent).toEqual([]);
    await keysOfBucketZeroSent(repair, peer, sent);
    const keys = [...Array(10_000).fill('k1'), 'k2', 'k2', 'nothing'];
    repair.receive(peer, { type: MessageType.Pull, cache: 'c', keys, last: true });
    await turns(20); // answered in slices of 2,000 keys, a turn between
    const entries = sent.flatMap((m) => (m.type === MessageType.Entries ? m.changes : []));
    expect(entries.map((change) => (change as { key: string }).key)).toEqual(['k1', 'k2']);
    expect(sent.at(-1)).toEqual({ type: MessageType.BootstrapDone, cache: 'c' });
    repair.receive(peer, { type: MessageType.Pull, cache: 'c', keys: ['k3'], last: true }); // after the last
    await turns();
    expect(sent.filter((m) => m.type === MessageType.Entries)).toHaveLength(1);
  });

  it('queues no more Pulls than one repair may ask for, and answers none of them once the link is gone (1.5 GB queued, then 9 million keys answered in one go; found by an attack)', async () => {
    const cache = cacheWith(0);
    for (let i = 0; i < 400; i++) cache.put(`k${i}`, 'v'.repeat(100_000)); // 40 MB: answers fill chunks
    const { warnings, logger } = recordingLogger();
    const sent: SessionMessage[] = [];
    // A peer that reads nothing: every full chunk of an answer waits for a socket that never drains.
    let drain: () => void = () => {};
    const peer: RepairPeer = {
      node: 'gw-1',
      sendsRounds: true,
      send: (message) => sent.push(message),
      drained: () =>
        new Promise<void>((resolve) => {
          drain = resolve;
        }),
    };
    const repair = new CacheRepair(replicaPortOf(cache), {
      chunkBytes: 1 << 20,
      apply: () => {},
      onRepaired: () => {},
      logger,
    });
    const bucketCount = await keysOfBucketZeroSent(repair, peer, sent);
    const listed = Array.from({ length: 400 }, (_, i) => `k${i}`).filter((key) => bucketOf(key, bucketCount) === 0);
    const pull = (keys: string[], last = false) =>
      repair.receive(peer, { type: MessageType.Pull, cache: 'c', keys, last });
    const half = Math.floor(listed.length / 2);
    pull(listed.slice(0, half)); // answered until its first full chunk waits for the socket
    pull(listed.slice(half), true);
    await turns();
    // Behind them, Pulls of 90,000 keys each: past the keys one repair may want (1,000,000), ignored.
    const many = Array.from({ length: 90_000 }, () => listed[0] as string);
    for (let i = 0; i < 20; i++) pull(many);
    expect(warnings).toContain('a repair message this node did not ask for; ignored (logged once per link)');
    // The link goes down: what is queued is not answered, not even once the socket drains.
    repair.forget('gw-1');
    drain();
    await turns(30);
    const answered = sent.flatMap((m) => (m.type === MessageType.Entries ? m.changes : []));
    expect(answered.some((change) => listed.slice(half).includes((change as { key: string }).key))).toBe(false);
    expect(sent.filter((m) => m.type === MessageType.BootstrapDone)).toEqual([]);
  });

  it('answers Pulls only for keys of the buckets its Keys listed, each once in the repair, however often pulled (2 GB for 14 MB before; found by an attack)', async () => {
    const { repair, peer, sent, warnings } = repairOf(cacheWith(1000));
    const bucketCount = await keysOfBucketZeroSent(repair, peer, sent);
    expect(bucketCount).toBeGreaterThan(1);
    const every = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    for (let i = 0; i < 5; i++) repair.receive(peer, { type: MessageType.Pull, cache: 'c', keys: every, last: false });
    repair.receive(peer, { type: MessageType.Pull, cache: 'c', keys: every, last: true });
    await turns(20);
    const answered = sent
      .flatMap((m) => (m.type === MessageType.Entries ? m.changes : []))
      .map((c) => (c as { key: string }).key);
    const listed = every.filter((key) => bucketOf(key, bucketCount) === 0);
    expect(answered.sort()).toEqual(listed.sort());
    expect(sent.at(-1)).toEqual({ type: MessageType.BootstrapDone, cache: 'c' });
    expect(warnings).toContain('a repair message this node did not ask for; ignored (logged once per link)');
  });

  it('collects at most maxWanted keys to pull in one repair, and says so', async () => {
    const { repair, peer, sent, warnings } = repairOf(cacheWith(1), { maxWanted: 10 });
    repair.receive(peer, oneBucketDigest());
    await turns();
    expect(sent.map((m) => m.type)).toEqual([MessageType.RepairRequest]);
    const items = Array.from({ length: 500 }, (_, i) => ({ key: `new${i}`, version: v(2e12), removed: false }));
    for (let chunk = 0; chunk < 5; chunk++) {
      repair.receive(peer, {
        type: MessageType.Keys,
        cache: 'c',
        items: items.slice(chunk * 100, chunk * 100 + 100),
        last: chunk === 4,
      });
    }
    const pulls = sent.filter((m) => m.type === MessageType.Pull);
    expect(pulls.flatMap((m) => m.keys)).toHaveLength(10);
    expect(warnings).toContain('repair wants more keys than it collects at once; the rest waits for the next repair');
  });

  it('collects at most maxWantedBytes of keys to pull in one repair, and says so (a count alone let megabyte keys pile up)', async () => {
    const { repair, peer, sent, warnings } = repairOf(cacheWith(1), { maxWantedBytes: 100_000 });
    repair.receive(peer, oneBucketDigest());
    await turns();
    const long = (i: number) => `${String(i).padStart(3, '0')}:${'k'.repeat(996)}`; // 1,000 characters: 2,000 bytes
    const items = Array.from({ length: 200 }, (_, i) => ({ key: long(i), version: v(2e12), removed: false }));
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: items.slice(0, 100), last: false });
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: items.slice(100), last: true });
    const pulled = sent.filter((m) => m.type === MessageType.Pull).flatMap((m) => m.keys);
    expect(pulled).toEqual(items.slice(0, 50).map((item) => item.key));
    expect(warnings.filter((w) => w.startsWith('repair wants more keys'))).toHaveLength(1);
  });

  it('sends Keys and Pulls of about 1 MiB at most, however long the keys (10,000 keys of 2,000 characters made a frame too large to send, and the repair went on without them)', async () => {
    // Serving: Keys of every bucket of a cache of 1,500 keys of 2,000 characters (3 MB).
    const cache = cacheWith(0);
    const long = (i: number) => `${i}:${'k'.repeat(1998)}`;
    for (let i = 0; i < 1500; i++) cache.put(long(i), 'v');
    const server = repairOf(cache);
    server.repair.offer(server.peer);
    await turns();
    const { bucketCount } = server.sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
    const everyBucket = Array.from({ length: bucketCount }, (_, i) => i);
    server.sent.length = 0;
    server.repair.receive(server.peer, {
      type: MessageType.RepairRequest,
      cache: 'c',
      bucketCount,
      keyBuckets: everyBucket,
      fullBuckets: [],
    });
    await turns(20);
    const codec = new WireCodec();
    const keys = server.sent.filter((m) => m.type === MessageType.Keys);
    expect(keys.flatMap((m) => m.items)).toHaveLength(1500);
    expect(keys.at(-1)?.last).toBe(true);
    for (const frame of keys) expect(codec.encode(frame).length).toBeLessThanOrEqual(1 << 20);
    expect(keys.length).toBeGreaterThanOrEqual(4);

    // Pulling: the same keys, newer on the peer, pulled from an empty-handed node.
    const { repair, peer, sent } = repairOf(cacheWith(1));
    repair.receive(peer, oneBucketDigest());
    await turns();
    const items = Array.from({ length: 1500 }, (_, i) => ({ key: long(i), version: v(2e12), removed: false }));
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items, last: true });
    const pulls = sent.filter((m) => m.type === MessageType.Pull);
    expect(pulls.flatMap((m) => m.keys)).toHaveLength(1500);
    expect(pulls.map((m) => m.last)).toEqual(pulls.map((_, i) => i === pulls.length - 1));
    for (const frame of pulls) expect(codec.encode(frame).length).toBeLessThanOrEqual(1 << 20);
  });

  it('reads an unchanged cache once for every digest asked of it (links that come and go cost nothing more)', async () => {
    const cache = cacheWith(3000);
    const { repair, peer, sent, warnings } = repairOf(cache);
    for (let i = 0; i < 3; i++) {
      repair.offer(peer);
      await turns(10);
    }
    const digests = sent.filter((m) => m.type === MessageType.Digest) as Array<{ digest: Uint8Array }>;
    expect(digests).toHaveLength(3);
    expect(digests[1]?.digest).toBe(digests[0]?.digest); // the same bytes, not built again
    expect(digests[2]?.digest).toBe(digests[0]?.digest);
    cache.put('k0', 'changed'); // moves the port's generation
    repair.offer(peer);
    await turns(10);
    const after = sent.filter((m) => m.type === MessageType.Digest).at(-1) as { digest: Uint8Array };
    expect(after.digest).not.toBe(digests[0]?.digest);
    expect(Buffer.from(after.digest).equals(Buffer.from(digests[0]?.digest as Uint8Array))).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('reads a cache with a disk tier for digests one read at a time, each waiting three times the last one’s length (a Digest a second and a put a second kept a core reading; found by an attack)', async () => {
    // A clock that only the reads and the waits move: each read of the whole cache takes 100 ms.
    const { clock, waits, scheduler } = waitsPassAtOnce();
    let reading = 0;
    let mostAtOnce = 0;
    let reads = 0;
    const port = new FakePort('c');
    for (let i = 0; i < 10; i++) port.localPut(`k${i}`, 'v', v(1000 + i), 1000);
    const liveEntries = port.liveEntries.bind(port);
    let readTakes = 100;
    port.liveEntries = () => {
      reading++;
      reads++;
      mostAtOnce = Math.max(mostAtOnce, reading);
      clock.now += readTakes;
      const entries = liveEntries();
      const next = entries.next.bind(entries);
      // A read ends when its cursor has stepped past the last entry.
      entries.next = () => {
        if (next()) return true;
        reading--;
        return false;
      };
      return entries;
    };
    const repair = new CacheRepair(port, {
      chunkBytes: 1 << 20,
      apply: () => {},
      onRepaired: () => {},
      logger: recordingLogger().logger,
      scheduler,
    });
    const peers = ['gw-1', 'gw-3', 'gw-4'].map((node) => ({
      node,
      sendsRounds: true,
      send: () => {},
      drained: async () => {},
    }));
    // Three peers' Digests, with the cache changing between them: each needs a read of its own.
    for (const [i, peer] of peers.entries()) {
      port.localPut(`changed${i}`, 'v', v(5000 + i), 1000);
      repair.receive(peer, oneBucketDigest());
    }
    await turns(30);
    expect(reads).toBe(1); // the three came before any read ended: one read, for the cache as it is now
    port.localPut('again', 'v', v(6000), 1000);
    for (const peer of peers) {
      repair.receive(peer, oneBucketDigest(2));
    }
    await turns(30);
    expect(reads).toBe(2);
    expect(mostAtOnce).toBe(1);
    expect(waits).toEqual([READ_PAUSE_FACTOR * 100]); // the second read waited 300 ms after the first
    // The wall clock steps an hour forward during a read: the pause after it is 30 s at most, not three hours.
    const changedAndAsked = async (fill: number) => {
      port.localPut(`again${fill}`, 'v', v(6000 + fill), 1000);
      repair.receive(peers[0] as RepairPeer, { ...oneBucketDigest(fill) });
      await turns(30);
    };
    readTakes = 3_600_000;
    await changedAndAsked(3);
    readTakes = 100;
    await changedAndAsked(4);
    expect(waits.at(-1)).toBe(30_000);
    // And stepped back an hour after a read: the pause is no longer than it was.
    await changedAndAsked(5);
    clock.now -= 3_600_000;
    await changedAndAsked(6);
    expect(waits.slice(-2)).toEqual([300, 300]);
    expect(reads).toBe(6);
  });

  it('handles one digest per peer at a time: those that pile up meanwhile collapse into the newest', async () => {
    const { repair, peer, sent } = repairOf(cacheWith(5000));
    const digest = {
      type: MessageType.Digest,
      cache: 'c',
      bucketCount: 256,
      digest: new Uint8Array(256 * 8).fill(3),
      clearVersion: undefined,
    } as const;
    for (let i = 0; i < 50; i++) repair.receive(peer, digest);
    await turns(50);
    expect(sent.filter((m) => m.type === MessageType.RepairRequest).length).toBeLessThanOrEqual(2);
  });

  it('a digest for a peer while a listing to it goes on waits for that listing to end, then goes once (a request answering it was left unserved, or overlapped the next listing)', async () => {
    // Keys name no request: the peer's repair from the second digest took the end of the first
    // listing for its own, and ended on a listing read before the digest it answered.
    const { repair, slow, sent, warnings, release, request, digests } = slowListing();
    repair.offer(slow);
    await turns();
    repair.receive(slow, request((digests()[0] as { bucketCount: number }).bucketCount));
    await turns();
    repair.offer(slow); // a second digest while the first listing waits on the socket
    repair.offer(slow);
    await turns();
    expect(digests()).toHaveLength(1);
    release();
    await turns(20);
    const lastKeys = sent.findIndex((m) => m.type === MessageType.Keys && m.last);
    expect(lastKeys).toBeGreaterThan(-1);
    expect(sent.slice(lastKeys + 1).map((m) => m.type)).toEqual([MessageType.Digest]);
    // That digest is answered like any other, and no other follows it.
    const fresh = digests()[1] as { bucketCount: number };
    sent.length = 0;
    repair.receive(slow, request(fresh.bucketCount));
    await turns(20);
    expect(sent.filter((m) => m.type === MessageType.Keys && m.last)).toHaveLength(1);
    expect(digests()).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('stops answering a Pull when the link goes down: no more Entries, and no BootstrapDone (on a backplane, the restarted member under the same name took it as its bootstrap)', async () => {
    let release = () => {};
    let backedUp = false;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { repair, peer, sent } = repairOf(cacheWith(100), { chunkBytes: 64 });
    const slow: RepairPeer = { ...peer, drained: () => (backedUp ? held : Promise.resolve()) };
    repair.offer(slow);
    await turns();
    const { bucketCount } = sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
    repair.receive(slow, requestForKeysOfAll(bucketCount));
    await turns(20);
    expect(sent.some((m) => m.type === MessageType.Keys && m.last)).toBe(true);
    backedUp = true; // the socket backs up while the Pull is answered
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    repair.receive(slow, { type: MessageType.Pull, cache: 'c', keys, last: true });
    await turns();
    const before = sent.length;
    expect(sent.filter((m) => m.type === MessageType.Entries).length).toBeGreaterThan(0);
    repair.forget(slow.node);
    release();
    await turns(20);
    expect(sent.slice(before).map((m) => m.type)).toEqual([]);
  });

  it('stops a listing when the link goes down: nothing more of it is sent (a joiner gone halfway had the rest read, written and sealed for no one)', async () => {
    const { repair, slow, sent, release, request, digests } = slowListing();
    repair.offer(slow);
    await turns();
    repair.receive(slow, request((digests()[0] as { bucketCount: number }).bucketCount));
    await turns();
    const before = sent.length;
    expect(sent.some((m) => m.type === MessageType.Keys)).toBe(true);
    repair.forget(slow.node);
    release();
    await turns(20);
    expect(sent.length).toBe(before);
  });

  it('an empty peer’s digest that comes while a listing to it goes on starts no second listing beside it: the digest being built goes after, and the link going down stops the listing', async () => {
    // A listing under way (a RepairRequest served), then a round's digest being built and the
    // peer's digest saying it now holds nothing (cleared while it was listed to).
    const listedThenEmptied = async () => {
      const listing = slowListing();
      listing.repair.offer(listing.slow);
      await turns();
      listing.repair.receive(
        listing.slow,
        listing.request((listing.digests()[0] as { bucketCount: number }).bucketCount),
      );
      await turns();
      listing.repair.offer(listing.slow);
      listing.repair.receive(listing.slow, { ...oneBucketDigest(), digest: new Uint8Array(8) });
      await turns();
      return listing;
    };
    const both = await listedThenEmptied();
    expect(both.sent.some((m) => m.type === MessageType.Entries)).toBe(false); // no push beside the listing
    both.release();
    await turns(40);
    const types = both.sent.map((m) => m.type);
    const lastKeys = both.sent.findIndex((m) => m.type === MessageType.Keys && m.last);
    expect(lastKeys).toBeGreaterThan(-1);
    // One listing at a time: no digest before its end, the digest that was due right after it.
    expect(types.slice(1, lastKeys)).not.toContain(MessageType.Digest);
    expect(types.slice(lastKeys + 1)).toContain(MessageType.Digest);

    const gone = await listedThenEmptied();
    const before = gone.sent.length;
    gone.repair.forget(gone.slow.node);
    gone.release();
    await turns(40);
    expect(gone.sent.slice(before).map((m) => m.type)).toEqual([]);
  });

  it('a push to an empty peer is a listing too: a digest due meanwhile waits for its end, and the link going down stops it', async () => {
    const empty = { ...oneBucketDigest(), digest: new Uint8Array(8) };
    const pushed = slowListing();
    pushed.repair.offer(pushed.slow); // the link-up's digest, being built
    pushed.repair.receive(pushed.slow, empty); // the peer holds nothing: everything is pushed
    await turns();
    expect(pushed.sent.some((m) => m.type === MessageType.Entries)).toBe(true);
    pushed.repair.offer(pushed.slow); // a round's digest, due while the push waits on the socket
    await turns();
    expect(pushed.digests()).toEqual([]);
    pushed.release();
    await turns(20);
    const done = pushed.sent.findIndex((m) => m.type === MessageType.BootstrapDone);
    expect(done).toBeGreaterThan(-1);
    expect(pushed.sent.slice(done + 1).map((m) => m.type)).toEqual([MessageType.Digest]);

    const gone = slowListing();
    gone.repair.offer(gone.slow);
    gone.repair.receive(gone.slow, empty);
    await turns();
    const before = gone.sent.length;
    gone.repair.forget(gone.slow.node);
    gone.release();
    await turns(20);
    expect(gone.sent.length).toBe(before);
  });

  /**
   * A cache of 5,000 entries read as a disk tier's (no kept digest, read in slices) by a repair on
   * `scheduler`, whose peer's socket backs up near the end of a listing until release(); `log`
   * says each read of the cache ('read', then what onRead does) and each message sent.
   */
  function diskTierListing(scheduler: Scheduler, onRead: () => void) {
    const log: string[] = [];
    let bucketCount = 0;
    const port = new FakePort('c');
    for (let i = 0; i < 5_000; i++) port.localPut(`k${i}`, 'v', v(1000 + i), 1000);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let keysSent = 0;
    const peer: RepairPeer = {
      node: 'gw-1',
      sendsRounds: true,
      send: (message) => {
        if (message.type === MessageType.Keys) keysSent++;
        if (message.type === MessageType.Digest) bucketCount = message.bucketCount;
        log.push(message.type === MessageType.Keys && message.last ? 'last keys' : `type ${message.type}`);
      },
      drained: () => (keysSent > 2_000 ? held : Promise.resolve()),
    };
    const liveEntries = port.liveEntries.bind(port);
    port.liveEntries = () => {
      log.push('read');
      onRead();
      return liveEntries();
    };
    const repair = new CacheRepair(port, {
      chunkBytes: 64,
      apply: () => {},
      onRepaired: () => {},
      logger: recordingLogger().logger,
      scheduler,
    });
    /** A digest offered and its keys asked for: the listing waits near its end; the cache changes after it. */
    const listing = async () => {
      repair.offer(peer);
      await turns(20);
      expect(bucketCount).toBeGreaterThan(0);
      repair.receive(peer, requestForKeysOfAll(bucketCount));
      await turns(20);
      expect(log).not.toContain('last keys');
      port.localPut('k0', 'newer', v(9_000), 1000); // so the next digest is read, not reused
    };
    /** A change made on the next turn, while a read goes on in slices (so its digest is not kept). */
    const changeDuringRead = () => setImmediate(() => port.localPut('k1', 'during', v(9_500), 1000));
    return { log, repair, peer, listing, release: () => release(), changeDuringRead };
  }

  it('sends a peer no digest of a disk tier read partly before a listing to it ended: it is read again (the peer takes a digest after a listing for newer than it, and asks for none more)', async () => {
    let releaseOnRead = false;
    const disk = diskTierListing(waitsPassAtOnce().scheduler, () => {
      if (!releaseOnRead) return;
      // The listing goes on, and ends, while this read goes on in slices, and the cache changes
      // meanwhile: the digest read is of neither the cache before nor after.
      releaseOnRead = false;
      disk.release();
      disk.changeDuringRead();
    });
    await disk.listing();
    releaseOnRead = true;
    disk.repair.offer(disk.peer);
    await turns(60);
    const lastKeys = disk.log.indexOf('last keys');
    expect(lastKeys).toBeGreaterThan(-1);
    expect(disk.log.slice(lastKeys + 1)).toEqual(['read', `type ${MessageType.Digest}`]);
  });

  it('a digest of a disk tier read wholly after a listing to its peer ended goes at once: a listing that ended while it waited for the read pause does not earn it another read and pause', async () => {
    // Each read of the cache takes a second on this clock, so the read pause after a digest's is
    // three; the pause's timers fire when the test says.
    let now = 0;
    let changeOnRead = false;
    const timers: Array<() => void> = [];
    const scheduler = {
      now: () => now,
      setTimeout(task: () => void, millis: number) {
        timers.push(() => {
          now += millis;
          task();
        });
        return () => {};
      },
      setInterval: () => () => {},
      nextTurn: () => new Promise<void>((resolve) => setImmediate(resolve)),
      random: Math.random,
    };
    const disk = diskTierListing(scheduler, () => {
      now += 1000;
      if (!changeOnRead) return;
      changeOnRead = false;
      disk.changeDuringRead();
    });
    await disk.listing();
    disk.repair.offer(disk.peer); // waits for the read pause
    await turns(20);
    expect(timers.length).toBe(1);
    disk.release(); // the listing ends while the digest waits for the pause
    await turns(20);
    const lastKeys = disk.log.indexOf('last keys');
    expect(lastKeys).toBeGreaterThan(-1);
    changeOnRead = true;
    timers.shift()?.(); // the pause is over: the digest is read, wholly after the listing's end
    await turns(40);
    expect(disk.log.slice(lastKeys + 1)).toEqual(['read', `type ${MessageType.Digest}`]);
    expect(timers).toEqual([]);
  });

  it('a request that comes while a listing to its peer goes on (two digests reached the peer before its first request) earns one fresh digest after it, not a warning', async () => {
    // The first request took the latest digest's place; the second was "a repair message this
    // node did not ask for", and the peer's repair from the second digest waited for a round.
    const { repair, slow, sent, warnings, release, request, digests } = slowListing();
    repair.offer(slow); // a link-up's digest
    await turns();
    repair.offer(slow); // and a round's, before the peer's first request came
    await turns();
    const [first, second] = digests() as [{ bucketCount: number }, { bucketCount: number }];
    repair.receive(slow, request(first.bucketCount));
    await turns();
    repair.receive(slow, request(second.bucketCount));
    repair.receive(slow, request(second.bucketCount)); // and again: still one digest
    await turns();
    expect(digests()).toHaveLength(2);
    release();
    await turns(20);
    const lastKeys = sent.findIndex((m) => m.type === MessageType.Keys && m.last);
    expect(sent.slice(lastKeys + 1).map((m) => m.type)).toEqual([MessageType.Digest]);
    expect(warnings).toEqual([]);
  });

  /** A cache of `size` entries, full (bounded at `size`), its keys `prefix0`, `prefix1`, ...: versioned by a node named after the prefix. */
  const fullCache = (prefix: string, size: number) => {
    const clock = new ManualClock();
    const hlc = new HybridLogicalClock({ node: `gw-${prefix}`, clock: clock.now });
    const manager = new CacheManager({ clock: clock.now, versionClock: () => hlc.now() });
    managers.push(manager);
    const cache = manager.addCache('c', { maxElementsInMemory: size });
    for (let i = 0; i < size; i++) cache.put(`${prefix}${i}`, i);
    return cache;
  };

  it('two full caches that differ for good, asking each other for digests (a backplane), stop once each listing is over (they sent each other digests and listings for ever)', async () => {
    // Each listing ended with two digests in flight to the node repairing: the fresh one after a
    // request refused while listing, and the one its ask (askDigest, nothing pulled) brought. The
    // second came while the first one's keys were listed, was refused, and earned the next fresh
    // digest and ask: one listing after another, as long as the two caches differ.
    const full = (prefix: string) => fullCache(prefix, 10_000);
    type Item = SessionMessage | 'ask';
    const toServer: Item[] = [];
    const toRepairing: Item[] = [];
    const digests: SessionMessage[] = [];
    const server = new CacheRepair(replicaPortOf(full('s')), {
      chunkBytes: 1 << 20,
      apply: () => {},
      onRepaired: () => {},
      logger: recordingLogger().logger,
    });
    const repairing = new CacheRepair(replicaPortOf(full('r')), {
      chunkBytes: 1 << 20,
      apply: () => {},
      onRepaired: () => {},
      logger: recordingLogger().logger,
      askDigest: () => toServer.push('ask'), // a backplane's offer, to the member's inbox
    });
    const linkTo = (node: string, inbox: Item[], onSend = (_m: SessionMessage) => {}): RepairPeer => ({
      node,
      sendsRounds: false,
      send: (message) => {
        onSend(message);
        inbox.push(message);
      },
      drained: async () => {},
    });
    const repairingAtServer = linkTo('gw-r', toRepairing, (m) => m.type === MessageType.Digest && digests.push(m));
    const serverAtRepairing = linkTo('gw-s', toServer);
    // Bootstrapped (from an empty peer), so the full cache takes no keys it lacks.
    repairing.receive(serverAtRepairing, { ...oneBucketDigest(), digest: new Uint8Array(8) });
    // Each turn, every message waiting in an inbox is read, as a backplane reads its inbox.
    const deliver = () => {
      for (const m of toServer.splice(0)) {
        if (m === 'ask') server.offer(repairingAtServer);
        else server.receive(repairingAtServer, m as Exclude<RepairMessage, EntriesMessage>);
      }
      for (const m of toRepairing.splice(0))
        repairing.receive(serverAtRepairing, m as Exclude<RepairMessage, EntriesMessage>);
    };
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await turns(1);
        deliver();
      }
    };
    // Both repair from each other at once: a digest, and a second one while the first listing goes.
    server.offer(repairingAtServer);
    await run(3);
    server.offer(repairingAtServer);
    await run(300);
    expect(digests.length).toBeLessThanOrEqual(5);
  });

  it('two full caches that differ for good, repairing from each other over a link (AskDigest), stop once each listing is over (they kept each other at it)', async () => {
    // A mesh link: each node repairs from the other, and an AskDigest is answered as a
    // CacheReplicator answers it (askedForDigest, then offer). Messages go one a turn each way,
    // as frames do. Answered every time, an ask met the digest its asker was owed once the
    // listing was over (offerAfterServing): the two reached the asker one after the other, the
    // second while the first one's keys were listed, so it asked again, for as long as the two
    // caches differed, with no anti-entropy round at all.
    const full = (prefix: string) => fullCache(prefix, 1000);
    type Item = SessionMessage | 'ask';
    const toA: Item[] = [];
    const toB: Item[] = [];
    let digests = 0;
    const repairOfFull = (prefix: string, out: Item[]) =>
      new CacheRepair(replicaPortOf(full(prefix)), {
        chunkBytes: 512, // a listing of many Keys, each waiting for the socket
        apply: () => {},
        onRepaired: () => {},
        logger: recordingLogger().logger,
        askDigest: () => out.push('ask'), // AskDigest on the link
      });
    const a = repairOfFull('a', toB);
    const b = repairOfFull('b', toA);
    const linkTo = (node: string, inbox: Item[]): RepairPeer => ({
      node,
      sendsRounds: true,
      send: (message) => {
        if (message.type === MessageType.Digest) digests++;
        inbox.push(message);
      },
      drained: () => turns(1),
    });
    const bAtA = linkTo('gw-b', toB);
    const aAtB = linkTo('gw-a', toA);
    const empty = { ...oneBucketDigest(), digest: new Uint8Array(8) };
    a.receive(bAtA, empty); // both bootstrapped: full, they take no keys they lack
    b.receive(aAtB, empty);
    await turns(3);
    toA.length = 0;
    toB.length = 0;
    const deliver = (inbox: Item[], to: CacheRepair, from: RepairPeer) => {
      const m = inbox.shift();
      if (m === undefined) return;
      if (m !== 'ask') to.receive(from, m as Exclude<RepairMessage, EntriesMessage>);
      else if (to.askedForDigest(from)) to.offer(from);
    };
    // A link-up's digests both ways, and a second one from b right after (a round's, an overflow's).
    a.offer(bAtA);
    b.offer(aAtB);
    await turns(1);
    b.offer(aAtB);
    for (let i = 0; i < 3000; i++) {
      await turns(1);
      deliver(toB, b, aAtB);
      deliver(toA, a, bAtA);
    }
    expect(digests).toBeLessThanOrEqual(6); // 55 and counting, before
  });

  it('a digest that arrives while the Keys of a repair come keeps the keys listed so far: the last Keys pulls them', async () => {
    // The peer serves one RepairRequest at a time and ignores the second, so the Keys that end
    // the first listing end both. Started afresh at the second digest, the repair dropped `lost`
    // and counted itself done (onRepaired) with nothing pulled.
    let repaired = 0;
    const asked: string[] = [];
    const { repair, peer, sent } = repairOf(cacheWith(100), {
      onRepaired: () => repaired++,
      askDigest: (node) => asked.push(node),
    });
    repair.receive(peer, oneBucketDigest(1));
    await turns();
    const lost = { key: 'lost', version: v(5), removed: false };
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: [lost], last: false });
    repair.receive(peer, oneBucketDigest(2));
    await turns();
    expect(sent.filter((m) => m.type === MessageType.RepairRequest)).toHaveLength(2);
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: [], last: true });
    await turns();
    expect(sent.filter((m) => m.type === MessageType.Pull)).toEqual([
      { type: MessageType.Pull, cache: 'c', keys: ['lost'], last: true },
    ]);
    expect(repaired).toBe(0); // not before the pulled entries came (BootstrapDone)
    // The one listing may have been read before the peer learned what its second digest showed:
    // once the pulled entries came, the peer is asked for its digest again.
    expect(asked).toEqual([]);
    repair.receive(peer, { type: MessageType.BootstrapDone, cache: 'c' });
    expect([repaired, asked]).toEqual([1, ['gw-1']]);
  });

  it('does not ask the peer for its digest when one came from it after the listing, before the pulled entries', async () => {
    const asked: string[] = [];
    const { repair, peer, sent } = repairOf(cacheWith(100), { askDigest: (node) => asked.push(node) });
    repair.receive(peer, oneBucketDigest(1));
    await turns();
    repair.receive(peer, {
      type: MessageType.Keys,
      cache: 'c',
      items: [{ key: 'lost', version: v(5), removed: false }],
      last: false,
    });
    repair.receive(peer, oneBucketDigest(2));
    await turns();
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: [], last: true });
    await turns();
    expect(sent.filter((m) => m.type === MessageType.Pull)).toHaveLength(1);
    repair.receive(peer, oneBucketDigest(3)); // read by the peer after that listing ended
    await turns();
    repair.receive(peer, { type: MessageType.BootstrapDone, cache: 'c' });
    expect(asked).toEqual([]);
  });

  it('asks the peer for its digest again only after a repair that took in a second digest, at once when nothing is pulled', async () => {
    const asked: string[] = [];
    const { repair, peer } = repairOf(cacheWith(100), { askDigest: (node) => asked.push(node) });
    // One digest, one listing: nothing to ask.
    repair.receive(peer, oneBucketDigest(1));
    await turns();
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: [], last: true });
    await turns();
    expect(asked).toEqual([]);
    // A second digest while the listing comes, and nothing to pull: asked at its end.
    repair.receive(peer, oneBucketDigest(2));
    await turns();
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: [], last: false });
    repair.receive(peer, oneBucketDigest(3));
    await turns();
    expect(asked).toEqual([]);
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: [], last: true });
    await turns();
    expect(asked).toEqual(['gw-1']);
  });

  it('a repair whose Keys stopped coming long ago is not carried into the next: its bound met does not stop the new one', async () => {
    // Its listing lost (inbox entries gone with a Redis that restarted empty), the first repair met
    // its bound of one key; carried on, the next repair collected nothing and pulled only `k-old`.
    const clock = new ManualClock();
    const { repair, peer, sent } = repairOf(cacheWith(100), { maxWanted: 1, clock: clock.now });
    const keys = (...names: string[]) => names.map((key) => ({ key, version: v(5), removed: false }));
    repair.receive(peer, oneBucketDigest(1));
    await turns();
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: keys('k-old', 'k-old-2'), last: false });
    clock.advance(STALE_WANTED_MILLIS);
    repair.receive(peer, oneBucketDigest(2));
    await turns();
    repair.receive(peer, { type: MessageType.Keys, cache: 'c', items: keys('k-new'), last: true });
    await turns();
    expect(sent.filter((m) => m.type === MessageType.Pull)).toEqual([
      { type: MessageType.Pull, cache: 'c', keys: ['k-new'], last: true },
    ]);
  });

  it("a repair whose Keys stopped coming long ago, and the next one, say they are over naming the older Digest (Repaired): the Keys that end the next may be the older listing's", async () => {
    // The peer ignores the second RepairRequest while it lists for the first (offerTo), so the last
    // Keys to come may answer the first Digest, compared in only the buckets that one showed apart.
    // Named after the second, a Digest sent after an overflow, the peer's settle() counted this
    // node as holding what the overflow dropped when nothing had compared it.
    const clock = new ManualClock();
    const { repair, peer, sent } = repairOf(cacheWith(100), { clock: clock.now });
    const said: number[] = [];
    const telling: RepairPeer = { ...peer, repaired: (digest) => said.push(digest) };
    repair.receive(telling, oneBucketDigest(1));
    await turns();
    clock.advance(STALE_WANTED_MILLIS);
    repair.receive(telling, oneBucketDigest(2));
    await turns();
    expect(sent.filter((m) => m.type === MessageType.RepairRequest)).toHaveLength(2);
    repair.receive(telling, { type: MessageType.Keys, cache: 'c', items: [], last: true });
    await turns();
    expect(said).toEqual([1]);
  });
});

describe('peer links', () => {
  /** A link of gw-1 to gw-2 over `connection`, carrying cache 'c' through a real replicator. */
  async function linkOver(connection: Connection, logger = recordingLogger().logger, unsentBudget?: UnsentBudget) {
    const session = await sessionOf(connection, 'dialler', { node: 'gw-1' });
    const hlc = new HybridLogicalClock({ node: 'gw-1' });
    const cache = cacheWith(10);
    const replicator = new CacheReplicator(replicaPortOf(cache), resolveReplicationConfig('c', {}), { hlc, logger });
    replicators.push(replicator);
    const link = new PeerLink({
      session,
      node: 'gw-2',
      url: '',
      dialledByUs: true,
      caches: ['c'],
      replicators: new Map([['c', replicator]]),
      hlc,
      logger,
      ackTimeoutMillis: 1000,
      protocol: 3,
      ...(unsentBudget === undefined ? {} : { unsentBudget }),
    });
    return { session, link };
  }

  async function establishedPair(network = new MemoryNetwork()) {
    let server: Promise<Awaited<ReturnType<typeof sessionOf>>> | undefined;
    await network.listen('b', (c) => (server = sessionOf(c, 'listener', { node: 'gw-2' })));
    const client = await network.dial('b');
    return { client, server: () => server };
  }

  it('logs a peer’s unknown cache names once each, and stops after 64 names', async () => {
    const { warnings, logger } = recordingLogger();
    const { client, server } = await establishedPair();
    const { session, link } = await linkOver(client, logger);
    await session.established;
    link.attach();
    const other = await (server() as Promise<Awaited<ReturnType<typeof sessionOf>>>);
    await other.established;
    const changes = Array.from(
      { length: 500 },
      (_, i) => ({ type: MessageType.Remove, cache: `invented-${i % 250}`, key: 'k', version: v(1) }) as const,
    );
    other.send({ type: MessageType.Batch, changes });
    await turns();
    expect(warnings).toHaveLength(65);
    expect(warnings.at(-1)).toMatch(/more than 64 caches .* no longer logged on this link/);
  });

  it('closes a link that does not read rather than answer its Syncs past the bound (a Sync flood grew a node by 25 MB a second; found by an attack)', async () => {
    const { client, server } = await establishedPair();
    let backedUp = false;
    const connection = delegatingConnection(client, { bufferedAmount: () => (backedUp ? 300 * 1024 * 1024 : 0) });
    const closed = new Promise<number>((resolve) => client.onClose((code) => resolve(code)));
    const { warnings, logger } = recordingLogger();
    const { session, link } = await linkOver(connection, logger);
    await session.established;
    link.attach();
    const other = await (server() as Promise<Awaited<ReturnType<typeof sessionOf>>>);
    await other.established;
    await turns(); // what attach() sent went out
    const acks: number[] = [];
    other.onMessage((message) => {
      if (message.type === MessageType.Ack) acks.push(message.id);
    });
    backedUp = true; // from here on, nothing this link sends is read
    other.send({ type: MessageType.Sync, id: 1 });
    expect(await closed).toBe(4008);
    await turns();
    expect(acks).toEqual([]); // not answered past the bound
    expect(warnings).toContain('peer does not read what it is sent; closing the link (it repairs when it comes back)');
  });

  it.each([
    [100, [60, 50]],
    // Links each below the 16 MiB the budget was first looked at from (800 such links held 6 GB; found by an attack).
    [4, [3, 2]],
  ])(
    'closes the link holding the most when every link together holds more than their shared budget of %i MiB (a peer with many names had no bound; found by an attack)',
    async (budgetMiB, heldMiB) => {
      const budget = new UnsentBudget(budgetMiB * 1024 * 1024);
      const held = heldMiB.map((mib) => mib * 1024 * 1024);
      const { warnings, logger } = recordingLogger();
      const links = [];
      for (const bytes of held) {
        const { client } = await establishedPair();
        let backedUp = false;
        const connection = delegatingConnection(client, { bufferedAmount: () => (backedUp ? bytes : 0) });
        const closed = new Promise<number>((resolve) => client.onClose((code) => resolve(code)));
        const { session, link } = await linkOver(connection, logger, budget);
        await session.established;
        link.attach();
        await turns();
        links.push({ link, closed, backUp: () => (backedUp = true) });
      }
      for (const { backUp } of links) backUp();
      // The lighter link sends: together they hold more than the budget, and the heavier one goes.
      void links[1]?.link.acknowledged();
      expect(await links[0]?.closed).toBe(4008);
      expect(links[1]?.link.session.connection.open).toBe(true);
      // A link closing is not picked again, nor said again, however often the others send
      // (a node dropping 289 links wrote 6,876 warnings; found by an attack).
      for (let i = 0; i < 10; i++) void links[1]?.link.acknowledged();
      await turns();
      expect(warnings.filter((w) => w.startsWith('peer does not read what it is sent'))).toHaveLength(1);
    },
  );

  it('still drops with 4008 a link already closing for another reason while it holds its bytes, when the shared budget is passed (found by a review)', async () => {
    const budget = new UnsentBudget(100 * 1024 * 1024);
    // Link a: closed with 4002 as ws keeps such a socket, not open, its 150 MiB held through its close timeout.
    const a = await establishedPair();
    let closing = false;
    const closes: number[] = [];
    const base = delegatingConnection(a.client, { bufferedAmount: () => (closing ? 150 * 1024 * 1024 : 0) });
    const closingConnection: Connection = Object.create(base, {
      open: { get: () => !closing && a.client.open },
      close: {
        value: (code: number, reason?: string) => {
          closes.push(code);
          base.close(code, reason);
        },
      },
    });
    const first = await linkOver(closingConnection, recordingLogger().logger, budget);
    await first.session.established;
    first.link.attach();
    // Link b: holds 10 MiB, and sends.
    const b = await establishedPair();
    let backedUp = false;
    const second = await linkOver(
      delegatingConnection(b.client, { bufferedAmount: () => (backedUp ? 10 * 1024 * 1024 : 0) }),
      recordingLogger().logger,
      budget,
    );
    await second.session.established;
    second.link.attach();
    await turns();
    closing = true;
    backedUp = true;
    void second.link.acknowledged();
    await turns();
    expect(closes).toContain(4008);
  });

  it('closes a link whose connection holds more unsent bytes than its bound (4008), instead of queueing more', async () => {
    const { client } = await establishedPair();
    const backedUp = delegatingConnection(client, { bufferedAmount: () => 300 * 1024 * 1024 });
    const closed = new Promise<number>((resolve) => client.onClose((code) => resolve(code)));
    const { warnings, logger } = recordingLogger();
    const { session, link } = await linkOver(backedUp, logger);
    await session.established;
    link.attach(); // the replicator offers its digest through the link: the first send
    for (let i = 0; i < 20; i++) void link.acknowledged(); // sends while it closes
    expect(await closed).toBe(4008);
    // Said once: every send while the link closed said it again (6,876 warnings for 289 links; found by an attack).
    expect(warnings.filter((w) => w.startsWith('peer does not read what it is sent'))).toEqual([
      'peer does not read what it is sent; closing the link (it repairs when it comes back)',
    ]);
  });
});

describe('the clock and single flight refuse what a peer should not decide', () => {
  it('applies only the last of a batch’s removeAlls of a cache that overtakes the others (100,000 in one frame took 73 s; found by an attack)', () => {
    const ra = (cache: string, time: number, counter = 0) =>
      ({ type: MessageType.RemoveAll, cache, version: { time, counter, node: 'gw-1' } }) as const;
    const put = {
      type: MessageType.Put,
      cache: 'c',
      key: 'k',
      value: 'v',
      version: v(5),
      createdAt: 5,
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    } as const;
    expect(overtakenRemoveAlls([ra('c', 1), put])).toBeUndefined();
    expect(overtakenRemoveAlls([ra('c', 1), put, ra('c', 2)])).toEqual(new Set([0]));
    // An older one after a newer one overtakes nothing; other caches are their own.
    expect(overtakenRemoveAlls([ra('c', 3), ra('c', 2), ra('d', 1), ra('d', 1)])).toEqual(new Set([2]));
    const storm = Array.from({ length: 100_000 }, (_, i) => ra('c', 1, i));
    const overtaken = overtakenRemoveAlls(storm);
    expect(overtaken?.size).toBe(99_999);
    expect(overtaken?.has(99_999)).toBe(false);
  });

  it('keeps the counter below 2^32: past it, time moves on a millisecond', () => {
    const hlc = new HybridLogicalClock({ node: 'a', clock: new ManualClock(1000).now });
    hlc.receive({ time: 1000, counter: MAX_COUNTER - 1, node: 'b' });
    expect(hlc.now()).toEqual({ time: 1000, counter: MAX_COUNTER, node: 'a' });
    expect(hlc.now()).toEqual({ time: 1001, counter: 0, node: 'a' });
    expect(() => hlc.receive({ time: 1000, counter: 2 ** 53, node: 'b' })).toThrow(/not a version/);
    expect(() => hlc.receive({ time: 1000.5, counter: 0, node: 'b' })).toThrow(/not a version/);
  });

  it('holds a peer’s claim no longer than its own lease, and ignores a claim whose version is far from its clock', async () => {
    const clock = new ManualClock();
    const hlc = new HybridLogicalClock({ node: 'gw-2', clock: clock.now, maxDriftMillis: 60_000 });
    const manager = new CacheManager({ clock: clock.now, versionClock: () => hlc.now() });
    managers.push(manager);
    const cache = manager.addCache('tokens', {});
    const { warnings, logger } = recordingLogger();
    const leases = new LoadLeases({
      port: replicaPortOf(cache),
      hlc,
      logger,
      leaseMillis: 5000,
      claimMillis: 100,
      broadcast: () => 1,
      flush: () => {},
      confirm: async () => {},
    });
    const claim = (time: number, key: string): LeaseMessage => ({
      type: MessageType.Lease,
      cache: 'tokens',
      key,
      version: { time, counter: 0, node: 'gw-1' },
      leaseMillis: 3_600_000,
      state: 'claim',
    });
    leases.receive(claim(0, 'ancient'), 'gw-1'); // (0, 0) would win every contest
    leases.receive(claim(clock.now() + 120_000, 'future'), 'gw-1');
    leases.receive(claim(clock.now(), 'now'), 'gw-1');
    expect(leases.counters.claimedKeys).toBe(1);
    expect(warnings).toEqual([
      'single flight: a claim whose version is too far from this clock; ignored (logged once)',
    ]);
    clock.advance(5001); // the claim asked for an hour; this node's lease is 5 s
    const loads: string[] = [];
    const loadHere = async () => {
      loads.push('here');
      return 'loaded';
    };
    expect(await leases.coordinate('now', loadHere)).toEqual({
      value: 'loaded',
      fromPeer: false,
    });
    expect(loads).toEqual(['here']);
  });
});

describe('what this node sends a peer is bounded too', () => {
  /** A replicator of a cache holding `entries`, replicating to a peer that records what it is sent. */
  function replicatorOf(options: { repairChunkBytes?: number; scheduler?: VirtualScheduler }) {
    const clock = options.scheduler?.now;
    const hlc = new HybridLogicalClock({ node: 'gw-2', ...(clock === undefined ? {} : { clock }) });
    const manager = new CacheManager({ versionClock: () => hlc.now(), ...(clock === undefined ? {} : { clock }) });
    managers.push(manager);
    const cache = manager.addCache('c', {});
    const settings = resolveReplicationConfig('c', { asynchronousReplicationIntervalMillis: 3_600_000 });
    const replicator = new CacheReplicator(replicaPortOf(cache), settings, {
      hlc,
      logger: recordingLogger().logger,
      ...options,
    });
    replicators.push(replicator);
    const sent: SessionMessage[] = [];
    replicator.addPeer({
      node: 'gw-1',
      send: (message) => sent.push(message),
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
    return { cache, replicator, sent, manager };
  }

  it('applies at most REMOVE_ALLS_PER_SECOND remote removeAlls a second, then only the newest of those that waited (a removeAll a frame kept a node walking for 80 s; found by an attack)', async () => {
    const scheduler = new VirtualScheduler();
    const { cache, replicator } = replicatorOf({ scheduler });
    const now = scheduler.now();
    cache.put('mine', 'kept'); // newer than every removeAll below
    let walks = 0;
    cache.on('removeAll', () => walks++);
    const removeAll = (counter: number) =>
      replicator.apply(
        { type: MessageType.RemoveAll, cache: 'c', version: { time: now - 1000, counter, node: 'gw-1' } },
        'gw-1',
      );
    for (let i = 0; i < 1000; i++) removeAll(i);
    expect(walks).toBe(REMOVE_ALLS_PER_SECOND);
    // A put older than the newest waiting removeAll still lands meanwhile; the removeAll takes it.
    replicator.apply(
      {
        type: MessageType.Put,
        cache: 'c',
        key: 'old',
        value: 'v',
        version: { time: now - 1000, counter: 500, node: 'gw-1' },
        createdAt: now,
        timeToLiveSeconds: 0,
        timeToIdleSeconds: 0,
      },
      'gw-1',
    );
    await scheduler.advance(1000);
    expect(walks).toBe(REMOVE_ALLS_PER_SECOND + 1);
    expect(replicaPortOf(cache).clearVersion).toEqual({ time: now - 1000, counter: 999, node: 'gw-1' });
    expect(cache.get('old')).toBeUndefined();
    expect(cache.get('mine')).toBe('kept');
    // What the cache already knows (every Digest carries its sender's last removeAll) neither waits
    // nor counts: ten peers' digests held back a real removeAll (found by a review).
    await scheduler.advance(1000);
    for (let i = 0; i < 50; i++) removeAll(999);
    removeAll(1000);
    expect(walks).toBe(REMOVE_ALLS_PER_SECOND + 2);
  });

  it('applies a removeAll that waited as apply() would: a cache closed meanwhile is no crash (found by a review)', async () => {
    const scheduler = new VirtualScheduler();
    const { replicator, manager } = replicatorOf({ scheduler });
    const now = scheduler.now();
    for (let i = 0; i <= REMOVE_ALLS_PER_SECOND; i++) {
      replicator.apply(
        { type: MessageType.RemoveAll, cache: 'c', version: { time: now - 1000, counter: i, node: 'gw-1' } },
        'gw-1',
      );
    }
    await manager.removeCache('c');
    await expect(scheduler.advance(1000)).resolves.toBeUndefined();
  });

  it('sends repair frames of at most 1 MiB, whatever maximumChunkSizeBytes allows', async () => {
    const { cache, replicator, sent } = replicatorOf({ repairChunkBytes: 5_000_000 });
    const value = 'v'.repeat(100_000);
    for (let i = 0; i < 60; i++) cache.put(`k${i}`, value); // 6 MB
    replicator.requestRepair('gw-1');
    await turns();
    const digest = sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
    const everyBucket = Array.from({ length: digest.bucketCount }, (_, i) => i);
    replicator.receiveRepair(
      {
        type: MessageType.RepairRequest,
        cache: 'c',
        bucketCount: digest.bucketCount,
        keyBuckets: [],
        fullBuckets: everyBucket,
      },
      'gw-1',
    );
    await turns(50);
    const entries = sent.filter((m) => m.type === MessageType.Entries);
    expect(entries.flatMap((m) => (m.type === MessageType.Entries ? m.changes : []))).toHaveLength(60);
    const codec = new WireCodec();
    for (const frame of entries) expect(codec.encode(frame).length).toBeLessThanOrEqual(1 << 20);
    expect(entries.length).toBeGreaterThanOrEqual(6);
  });

  it('holds 64 MiB of changes for a peer by default: past it the queue is dropped and the peer gets a Digest', () => {
    const { cache, replicator, sent } = replicatorOf({});
    const value = 'x'.repeat(1 << 20); // one string, estimated anew for each change
    for (let i = 0; i < 62; i++) cache.put(`k${i}`, value);
    expect(replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: false, queued: 62 })]);
    for (let i = 62; i < 66; i++) cache.put(`k${i}`, value);
    expect(replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: true, queued: 0 })]);
    replicator.flush();
    expect(sent.map((m) => m.type)).not.toContain(MessageType.Batch);
  });
});
