/**
 * What anti-entropy costs a cluster that keeps changing, over many minutes and hundreds of rounds:
 * a round finds its peers' digests in step unless something really differs, and then lists the
 * keys of the buckets that differ, not those of nearly every bucket, round after round.
 *
 * Real ClusterNodes over the simulator's network, on virtual time, started 40 s apart (so their
 * expiry sweeps do not run together). The messages are counted as the codec encodes them.
 */
import type { Cache } from '@meshcache/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ReplicationConfig } from '../src/index.js';
import { WireCodec } from '../src/protocol/codec.js';
import { type Message, MessageType } from '../src/protocol/messages.js';
import { type VirtualCluster, virtualCluster } from './virtual-cluster.js';

const NAMES = ['gw-1', 'gw-2', 'gw-3'];

let cluster: VirtualCluster | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await cluster?.stop();
  cluster = undefined;
});

/**
 * Counts, from now on, the messages of cache `cache` the nodes send, by type: repair messages, and
 * the changes of live batches (a Batch's changes read as it is encoded, as a session does).
 */
function countRepairMessages(cache: string): Map<number, number> {
  const counts = new Map<number, number>();
  const count = (type: number) => counts.set(type, (counts.get(type) ?? 0) + 1);
  const encode = WireCodec.prototype.encode;
  vi.spyOn(WireCodec.prototype, 'encode').mockImplementation(function (this: WireCodec, message: Message) {
    if ('cache' in message && message.cache === cache) count(message.type);
    if (message.type === MessageType.Batch)
      for (const change of message.changes) if (change.cache === cache) count(change.type);
    if (message.type === MessageType.Entries && message.changes.some((change) => change.cache === cache))
      count(message.type);
    return encode.call(this, message);
  });
  return counts;
}

/**
 * Three nodes, started 40 s apart, with the cache `ttl` of 10 s entries (or `tti`, idle for 10 s)
 * and the default sweep (120 s).
 */
function ttlCluster(
  replication: ReplicationConfig = {},
  skewMillis?: readonly number[],
  lifespan: 'timeToLiveSeconds' | 'timeToIdleSeconds' = 'timeToLiveSeconds',
): Promise<VirtualCluster> {
  return virtualCluster({
    names: NAMES,
    startGapMillis: 40_000,
    ...(skewMillis === undefined ? {} : { skewMillis }),
    caches: {
      [lifespan === 'timeToLiveSeconds' ? 'ttl' : 'tti']: {
        maxElementsInMemory: 0,
        [lifespan]: 10,
        replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: 2000, ...replication },
      },
    },
  });
}

/**
 * For 300 s, each second, one node in turn writes `k<second>` to `cacheName` (and `also` does
 * more): every round has changes to send a digest for. Answers the messages of that cache sent in
 * the last 180 s, when every node has swept at least once.
 */
async function writeEverySecond(
  on: VirtualCluster,
  cacheName: string,
  also?: (cache: Cache<unknown>, second: number) => void,
): Promise<Map<number, number>> {
  const caches = on.caches(cacheName);
  let counts = new Map<number, number>();
  for (let second = 0; second < 300; second++) {
    if (second === 120) counts = countRepairMessages(cacheName);
    const cache = caches[second % caches.length] as Cache<unknown>;
    cache.put(`k${second}`, second);
    also?.(cache, second);
    await on.scheduler.advance(1000);
  }
  return counts;
}

describe('anti-entropy on a cluster that keeps changing', () => {
  it('finds the digests in step once removals age past the retention, though each node forgets them at its own sweep', async () => {
    cluster = await virtualCluster({
      names: NAMES,
      tombstoneRetentionSeconds: 20,
      startGapMillis: 40_000,
      caches: {
        // The default sweep (diskExpiryThreadIntervalSeconds 120): it also forgets old tombstones.
        kv: {
          maxElementsInMemory: 0,
          replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: 2000 },
        },
      },
    });
    // Each node also removes the key written ten seconds before: every removal ages past the retention.
    const counts = await writeEverySecond(cluster, 'kv', (cache, second) => {
      if (second >= 10) cache.remove(`k${second - 10}`);
    });
    const digests = counts.get(MessageType.Digest) ?? 0;
    const requests = counts.get(MessageType.RepairRequest) ?? 0;
    // Three minutes of rounds: about 90 a node, each sending its digest to both peers.
    expect(digests).toBeGreaterThan(300);
    // A digest differs from the peer's only while a change is on its way (a few milliseconds of
    // each second). Before: a removal past the retention was still held by every node that had not
    // swept since, so nearly every round found buckets that differ, and listed their keys.
    expect(requests / digests).toBeLessThan(0.1);
    for (const cache of cluster.caches('kv')) expect(cache.size).toBe(10);
  }, 30_000);

  it('finds the digests of a TTL cache without replicateExpiries in step, though each node sweeps at its own moment', async () => {
    cluster = await ttlCluster({ replicateExpiries: false });
    // Every entry expires on every node at the same moment (TTL counts from the write).
    const counts = await writeEverySecond(cluster, 'ttl');
    const digests = counts.get(MessageType.Digest) ?? 0;
    const requests = counts.get(MessageType.RepairRequest) ?? 0;
    expect(digests).toBeGreaterThan(300);
    // Before: an expired entry stays in a node's digest until its own sweep, and the nodes swept
    // at different moments, so nearly every round found buckets that differ, and listed their keys.
    expect(requests / digests).toBeLessThan(0.1);
  }, 30_000);

  it('finds the digests of a TTL cache without replicateExpiries in step when reads find entries expired', async () => {
    cluster = await ttlCluster({ replicateExpiries: false });
    const caches = cluster.caches('ttl');
    // Each second another node reads the entry written 12 s before: past its TTL, not swept yet.
    const counts = await writeEverySecond(cluster, 'ttl', (_cache, second) => {
      if (second >= 12) caches[(second + 1) % caches.length]?.get(`k${second - 12}`);
    });
    const digests = counts.get(MessageType.Digest) ?? 0;
    const requests = counts.get(MessageType.RepairRequest) ?? 0;
    expect(digests).toBeGreaterThan(300);
    // Before: the read took the entry out of its node's digest at once, and its peers held theirs
    // until the sweep, so nearly every round found buckets that differ (524 RepairRequests for
    // 538 Digests; 2 now). The entry stays in the digest until the sweep (lingerReadExpiries).
    expect(requests / digests).toBeLessThan(0.1);
  }, 30_000);

  it('sends no expiry of a TTL entry the sweep finds, which every node sweeps at the same moment', async () => {
    cluster = await ttlCluster(); // replicateExpiries on (the default)
    const counts = await writeEverySecond(cluster, 'ttl');
    const digests = counts.get(MessageType.Digest) ?? 0;
    expect(counts.get(MessageType.Put)).toBeGreaterThan(300); // each put, to both peers
    // Before: every node's sweep sent an Expire of every entry it removed to every peer (they
    // swept at the same moment too, and nothing was left to expire there).
    expect(counts.get(MessageType.Expire) ?? 0).toBe(0);
    expect((counts.get(MessageType.RepairRequest) ?? 0) / digests).toBeLessThan(0.1);
    expect(new Set(cluster.caches('ttl').map((cache) => cache.size)).size).toBe(1); // the same entries, swept alike
  }, 30_000);

  it('holds no entry that expired by its own clock, pulled from a peer whose clock is behind', async () => {
    cluster = await ttlCluster({}, [0, 1500, -900]);
    const counts = await writeEverySecond(cluster, 'ttl');
    // An entry expires by each node's clock, so 2.4 s apart on gw-2 and gw-3. Before: gw-2, its
    // sweep past, pulled from gw-3 the entries still live there, held them expired until its next
    // sweep two minutes on, and differed from its peers in their buckets all that time (143 Pulls
    // and 366 RepairRequests for 540 Digests). Now such a pull still happens in the seconds
    // between two nodes' sweeps (gw-2 cannot tell from a key's version that it expired), and
    // what it brings is not held.
    expect(counts.get(MessageType.Pull) ?? 0).toBeLessThan(20);
    expect((counts.get(MessageType.RepairRequest) ?? 0) / (counts.get(MessageType.Digest) ?? 0)).toBeLessThan(0.1);
  }, 30_000);

  it('finds the digests of a TTI cache without replicateExpiries in step when clocks are apart and no node reads', async () => {
    cluster = await ttlCluster({ replicateExpiries: false }, [0, 1500, -1500], 'timeToIdleSeconds');
    const counts = await writeEverySecond(cluster, 'tti');
    const digests = counts.get(MessageType.Digest) ?? 0;
    const requests = counts.get(MessageType.RepairRequest) ?? 0;
    expect(digests).toBeGreaterThan(300);
    // An entry nobody read idles out at the same moment by each node's clock, counted from its
    // write, so every node's sweep removes the same ones. Before: a peer's put started its idle
    // time on arrival, by the clock of the node it reached, so clocks 3 s apart swept different
    // entries, and the node that kept one held it in its digest until its next sweep, two minutes
    // on: every round found buckets that differ (540 RepairRequests for 540 Digests, 15 after).
    expect(requests / digests).toBeLessThan(0.1);
    expect(new Set(cluster.caches('tti').map((cache) => cache.size)).size).toBe(1);
  }, 30_000);
});
