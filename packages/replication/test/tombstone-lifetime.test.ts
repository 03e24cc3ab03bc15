/**
 * A removal's tombstone dies on every node once the retention has passed, on a cluster whose
 * caches keep changing (so every anti-entropy round sends a digest) and whose nodes started at
 * different moments (so their sweeps, which forget old tombstones, do not run together).
 *
 * Before: the node whose sweep ran first forgot the tombstone, and the next round from a peer
 * that still held it taught it back, for a whole retention more; the peers then did the same to
 * it, and the tombstone never died. Three real ClusterNodes over the simulator's network, on
 * virtual time.
 */
import type { Cache } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClusterConfig, ClusterNode } from '../src/index.js';
import { type KeysMessage, MessageType } from '../src/protocol/messages.js';
import { CacheRepair } from '../src/repair/cache-repair.js';
import { derivePsk } from '../src/security/keyring.js';
import { NodeScheduler } from './simulation/node-scheduler.js';
import { SimNetwork } from './simulation/sim-network.js';

const SECRET = 'the secret of the tombstone test cluster, 32 bytes and more';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const NAMES = ['gw-1', 'gw-2', 'gw-3'];
const RETENTION_SECONDS = 10;
/** The caches' default sweep (diskExpiryThreadIntervalSeconds), which also forgets old tombstones. */
const SWEEP_SECONDS = 120;

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

async function cluster(
  retentionSeconds = RETENTION_SECONDS,
): Promise<{ scheduler: VirtualScheduler; caches: Cache<unknown>[] }> {
  await derivePsk(SECRET); // scrypt runs on a thread: before virtual time starts
  const scheduler = new VirtualScheduler({ seed: 1, start: 1_700_000_000_000 });
  const network = new SimNetwork(scheduler, () => scheduler.random());
  /** Moves virtual time on in small steps until `promise` settles (bounded). */
  const settled = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    const mark = () => {
      done = true;
    };
    promise.then(mark, mark);
    for (let i = 0; i < 2000 && !done; i++) await scheduler.advance(10);
    return promise;
  };
  const caches: Cache<unknown>[] = [];
  for (const name of NAMES) {
    const config: ClusterConfig = {
      name,
      cluster: 'tombstones',
      secret: SECRET,
      tombstoneRetentionSeconds: retentionSeconds,
      peerListener: { hostname: name, port: 7000, socketTimeoutMillis: 1000 },
      peerDiscovery: { mode: 'manual', peers: NAMES.filter((o) => o !== name).map((o) => `ws://${o}:7000`) },
      caches: {
        kv: {
          maxElementsInMemory: 0,
          replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: 2000 },
        },
      },
    };
    const node = await settled(
      ClusterNode.start(config, {
        transport: network.view(name),
        scheduler: new NodeScheduler(scheduler),
        logger: quiet,
      }),
    );
    running.push(() => settled(node.stop()).catch(() => {}));
    caches.push(node.manager.getCache('kv') as Cache<unknown>);
    // The next node starts 40 s later: its sweeps run 40 s after this one's.
    await scheduler.advance(40_000);
  }
  return { scheduler, caches };
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
    const seconds = RETENTION_SECONDS + SWEEP_SECONDS + 10 + 300;
    const heldAt: Array<[number, string[]]> = [];
    for (let second = 0; second < seconds; second++) {
      caches[second % caches.length]?.put(`k${second % 50}`, second);
      await scheduler.advance(1000);
      heldAt.push([second, holding(caches, 'gone')]);
    }
    // Forgotten everywhere once every node's sweep ran past the retention...
    const forgottenBy = RETENTION_SECONDS + SWEEP_SECONDS + 10;
    const late = heldAt.filter(([second, held]) => second >= forgottenBy && held.length > 0);
    expect(late.slice(0, 3)).toEqual([]);
    // ...and the removal still holds: the key did not come back anywhere.
    for (const cache of caches) expect(cache.has('gone')).toBe(false);
  }, 60_000);

  it('under steady writes and removals, nodes forget the same tombstones at once, and anti-entropy rounds list next to nothing', async () => {
    // Keys items this cluster's repairs were sent (CacheRepair.receive, wrapped to count and pass on).
    let listed = 0;
    const receive = CacheRepair.prototype.receive;
    CacheRepair.prototype.receive = function (this: CacheRepair, ...args: Parameters<CacheRepair['receive']>) {
      const [, message] = args;
      if (message.type === MessageType.Keys) listed += (message as KeysMessage).items.length;
      receive.apply(this, args);
    };
    try {
      const retention = 60;
      const { scheduler, caches } = await cluster(retention);
      let seed = 7;
      const pick = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return `k${Math.floor((seed / 2_147_483_648) * 5000)}`;
      };
      const held: number[][] = [];
      let listedLate = 0;
      for (let second = 0; second < 900; second++) {
        // Five puts and two removals a second, from each node in turn, over 5,000 keys.
        const cache = caches[second % caches.length] as Cache<unknown>;
        for (let i = 0; i < 5; i++) cache.put(pick(), second);
        for (let i = 0; i < 2; i++) cache.remove(pick());
        await scheduler.advance(1000);
        if (second === 300) listedLate = listed;
        if (second % 30 === 0) held.push(caches.map((c) => c.statistics().tombstones));
      }
      listedLate = listed - listedLate;
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
      CacheRepair.prototype.receive = receive;
    }
  }, 120_000);
});
