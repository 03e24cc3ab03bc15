/**
 * Prometheus metrics of a ClusterNode, registered on a prom-client Registry the caller owns:
 * `@meshcache/replication/metrics`, the same figures `meshcache serve` shows on /metrics.
 *
 * Names. Where Micrometer has a cache metric, its name and labels (what a dashboard built for
 * Micrometer's Ehcache 2 binder already queries): cache_gets_total{cache,result="hit"|"miss"},
 * cache_misses_total{cache,reason="expired"|"notFound"}, cache_puts_total, cache_removals_total,
 * cache_evictions_total, cache_size. Everything else is meshcache_*: per cache the tiers,
 * expirations, tombstones, loads (answered here or by a peer) and replication counters; per
 * peer link its state, lag, queue, changes, repairs and messages of unknown types. docs/observability.md lists them all.
 *
 * Cardinality. Labels are cache names, peer names (or a peer's URL before it has answered), a
 * link state, and fixed words; never a key, never a value, nothing that grows with the keys. A
 * peer that is no longer listed, or a cache removed, leaves the output at the next scrape.
 *
 * Cost. Nothing is counted on the cache's paths for this: every figure is read at scrape time
 * from the counters the cache and the replicators keep anyway, from one snapshot per scrape
 * (the first metric collected takes it; it is dropped on the next turn of the event loop).
 *
 * prom-client is an optional peer dependency: only this entry point needs it.
 */
import type { CacheStatistics } from '@meshcache/core';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BackplaneInfo, BackplaneState } from './backplane/redis-backplane.js';
import type { ClusterNode, PeerInfo, PeerState } from './cluster-node.js';

export interface MeshcacheMetrics {
  /** Removes every metric this call registered from the registry. */
  unregister(): void;
}

interface CacheFigures {
  readonly name: string;
  readonly size: number;
  /** The cache's maxBytesLocalHeap; 0 = no byte bound. */
  readonly maxBytes: number;
  readonly statistics: CacheStatistics;
  readonly replication: ReturnType<ClusterNode['replicationStatistics']>;
}

interface Snapshot {
  readonly caches: readonly CacheFigures[];
  readonly peers: readonly PeerInfo[];
  /** Null for a node of the mesh. */
  readonly backplane: BackplaneInfo | null;
}

// Every state, each peer: a series that appears only while its state holds leaves gaps, and `== 0` finds nothing.
const PEER_STATES: readonly PeerState[] = ['connecting', 'connected', 'suspect', 'skewed', 'down', 'refused'];
const BACKPLANE_STATES: readonly BackplaneState[] = ['connecting', 'connected', 'down'];

/** Reads every figure of `node` once: caches with their statistics, and the peers. */
export function snapshotOf(node: ClusterNode): Snapshot {
  const caches: CacheFigures[] = [];
  for (const name of node.manager.cacheNames()) {
    const cache = node.manager.getCache(name);
    if (cache === undefined) continue;
    caches.push({
      name,
      size: cache.size,
      maxBytes: cache.config.maxBytesLocalHeap,
      statistics: cache.statistics(),
      replication: node.replicationStatistics(name),
    });
  }
  return { caches, peers: node.peers(), backplane: node.backplane() };
}

type Labels<L extends string> = Partial<Record<L, string | number>>;
type Sample<L extends string> = readonly [Labels<L>, number];

/**
 * Registers meshcache's metrics of `node` on `registry` (one node per registry: the names are
 * fixed, and a second registration on the same registry throws prom-client's "already
 * registered" error). Scrape with `await registry.metrics()`.
 */
export function registerMeshcacheMetrics(node: ClusterNode, registry: Registry): MeshcacheMetrics {
  let current: Snapshot | undefined;
  const snapshot = (): Snapshot => {
    if (current === undefined) {
      current = snapshotOf(node);
      setImmediate(() => {
        current = undefined;
      });
    }
    return current;
  };
  let ready = false;
  void node.ready().then(
    () => {
      ready = true;
    },
    () => {},
  );
  const names: string[] = [];

  const counter = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    samples: (s: Snapshot) => Iterable<Sample<L>>,
  ) => {
    names.push(name);
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of samples(snapshot())) this.inc(labels, value);
      },
    });
  };
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    samples: (s: Snapshot) => Iterable<Sample<L>>,
  ) => {
    names.push(name);
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        let none = true;
        for (const [labels, value] of samples(snapshot())) {
          this.set(labels, value);
          none = false;
        }
        // reset() puts a 0 back into a gauge without labels: one whose figure is unknown yet (the
        // backplane's lag before its first probe) read as a healthy 0 instead of absent.
        if (none && labelNames.length === 0) this.remove({} as Labels<L>);
      },
    });
  };
  const perCache = <L extends string>(figure: (cache: CacheFigures) => Array<Sample<L>>) =>
    function* (s: Snapshot): Iterable<Sample<L | 'cache'>> {
      for (const cache of s.caches) {
        for (const [labels, value] of figure(cache)) {
          yield [{ cache: cache.name, ...labels } as Labels<L | 'cache'>, value];
        }
      }
    };
  const perReplicatedCache = (figure: (replication: NonNullable<CacheFigures['replication']>) => number) =>
    function* (s: Snapshot): Iterable<Sample<'cache'>> {
      for (const cache of s.caches) {
        if (cache.replication !== undefined) yield [{ cache: cache.name }, figure(cache.replication)];
      }
    };
  // One node reached through two configured URLs is two entries of peers() sharing one link and
  // its figures: counted once, or the sum doubled what the link carried.
  const perPeer = (figure: (peer: PeerInfo) => number | null) =>
    function* (s: Snapshot): Iterable<Sample<'peer'>> {
      const seen = new Set<string>();
      for (const peer of s.peers) {
        if (seen.has(peer.id)) continue;
        seen.add(peer.id);
        const value = figure(peer);
        if (value !== null) yield [{ peer: peer.id }, value];
      }
    };

  // Micrometer's cache metrics.
  counter(
    'cache_gets_total',
    'Cache reads (get and the read of getOrLoad), by result',
    ['cache', 'result'],
    perCache(({ statistics }) => [
      [{ result: 'hit' }, statistics.hits],
      [{ result: 'miss' }, statistics.misses],
    ]),
  );
  counter(
    'cache_misses_total',
    'Cache misses, by reason: the entry had expired, or no entry was held',
    ['cache', 'reason'],
    perCache(({ statistics }) => [
      [{ reason: 'expired' }, statistics.expiredMisses],
      [{ reason: 'notFound' }, statistics.misses - statistics.expiredMisses],
    ]),
  );
  counter(
    'cache_puts_total',
    'Writes to the cache, new keys and updates, local and from peers',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.puts + statistics.updates]]),
  );
  counter(
    'cache_removals_total',
    'remove() calls that removed a live entry',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.removals]]),
  );
  counter(
    'cache_evictions_total',
    'Entries that left the cache for lack of room',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.evictions]]),
  );
  gauge(
    'cache_size',
    'Entries held, memory and disk (expired ones not yet found included)',
    ['cache'],
    perCache(({ size }) => [[{}, size]]),
  );

  // meshcache's own, per cache.
  gauge(
    'meshcache_cache_entries',
    'Entries held, by tier: memory, and the disk tier (every entry of a cache with one)',
    ['cache', 'tier'],
    perCache(({ statistics }) => [
      [{ tier: 'memory' }, statistics.memorySize],
      [{ tier: 'disk' }, statistics.diskSize],
    ]),
  );
  gauge(
    'meshcache_cache_memory_bytes',
    'Estimated bytes of the entries held in memory (held), of the stale values getOrLoad keeps for stale-if-error (stale), and the bound both stay within (maxBytesLocalHeap); absent without a byte bound',
    ['cache', 'kind'],
    perCache(({ statistics, maxBytes }) =>
      maxBytes === 0
        ? []
        : [
            [{ kind: 'held' }, statistics.memoryBytes],
            [{ kind: 'stale' }, statistics.staleBytes],
            [{ kind: 'bound' }, maxBytes],
          ],
    ),
  );
  gauge(
    'meshcache_cache_stale_values',
    'Stale values getOrLoad keeps for stale-if-error (staleIfErrorSeconds): not entries, but in memory, within maxElementsInMemory and maxBytesLocalHeap with them',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.staleValues]]),
  );
  gauge(
    'meshcache_cache_disk_degraded',
    'The disk tier refused writes (a full or failing disk): 1 while it retries, 0 when ok; absent without a disk tier',
    ['cache'],
    perCache(({ statistics }) =>
      statistics.diskState === 'none' ? [] : [[{}, statistics.diskState === 'degraded' ? 1 : 0]],
    ),
  );
  gauge(
    'meshcache_cache_disk_pending_writes',
    'Disk-tier writes waiting in the spool (while degraded, those the disk has not taken yet); absent without a disk tier',
    ['cache'],
    perCache(({ statistics }) => (statistics.diskState === 'none' ? [] : [[{}, statistics.diskPendingWrites]])),
  );
  counter(
    'meshcache_cache_disk_writes_dropped_total',
    'Spooled disk writes dropped because the spool was full while the disk refused writes; absent without a disk tier',
    ['cache'],
    perCache(({ statistics }) => (statistics.diskState === 'none' ? [] : [[{}, statistics.diskWritesDropped]])),
  );
  counter(
    'meshcache_cache_expirations_total',
    'Entries that expired (found on access or by the sweep)',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.expirations]]),
  );
  gauge(
    'meshcache_cache_tombstones',
    'Removed keys remembered so that an older write from a peer cannot bring them back',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.tombstones]]),
  );
  counter(
    'meshcache_cache_tombstones_dropped_total',
    'Tombstones forgotten early because the cache held maxTombstones, or 128 MiB of them',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.tombstonesDropped]]),
  );
  counter(
    'meshcache_cache_loads_total',
    'getOrLoad loads, by who answered: this node’s loader (local) or a peer’s value (cluster-wide single flight)',
    ['cache', 'answered'],
    perCache(({ statistics, replication }) => {
      const singleFlight = replication?.singleFlight ?? null;
      return singleFlight === null
        ? [
            [{ answered: 'local' }, statistics.loads],
            [{ answered: 'peer' }, 0],
          ]
        : [
            [{ answered: 'local' }, singleFlight.loadedHere],
            [{ answered: 'peer' }, singleFlight.waitedForPeers],
          ];
    }),
  );
  counter(
    'meshcache_cache_load_failures_total',
    'getOrLoad loads whose loader failed',
    ['cache'],
    perCache(({ statistics }) => [[{}, statistics.loadFailures]]),
  );
  counter(
    'meshcache_cache_changes_sent_total',
    'Live changes of a replicated cache sent to peers (one per peer)',
    ['cache'],
    perReplicatedCache((r) => r.sent),
  );
  counter(
    'meshcache_cache_changes_applied_total',
    'Changes from peers applied to a replicated cache (live, bootstrap and repair; stale ones refused are not counted)',
    ['cache'],
    perReplicatedCache((r) => r.applied),
  );
  counter(
    'meshcache_cache_repairs_total',
    'Repairs of a replicated cache from a peer that finished (bootstrap included)',
    ['cache'],
    perReplicatedCache((r) => r.repairs),
  );
  counter(
    'meshcache_cache_repair_rounds_skipped_total',
    'Anti-entropy rounds of a replicated cache not sent to a peer that asked to skip them (a full cache whose repairs from here took nothing)',
    ['cache'],
    perReplicatedCache((r) => r.roundsSkipped),
  );
  counter(
    'meshcache_cache_sync_acknowledgements_total',
    'Synchronous replication: peers that acknowledged in time, and peers that timed out',
    ['cache', 'outcome'],
    function* (s) {
      for (const cache of s.caches) {
        if (cache.replication === undefined) continue;
        yield [{ cache: cache.name, outcome: 'acknowledged' }, cache.replication.acknowledged];
        yield [{ cache: cache.name, outcome: 'timedOut' }, cache.replication.timedOut];
      }
    },
  );

  // Per peer link.
  gauge(
    'meshcache_peer_state',
    'The link to a peer: 1 for its current state, 0 for the others',
    ['peer', 'state'],
    function* (s) {
      for (const peer of s.peers) {
        // A state added after this list was written (PeerState is open to additions) still shows.
        for (const state of new Set([...PEER_STATES, peer.state])) {
          yield [{ peer: peer.id, state }, peer.state === state ? 1 : 0];
        }
      }
    },
  );
  gauge(
    'meshcache_peer_info',
    'A peer: its URL and how it was found (always 1)',
    ['peer', 'url', 'found_by'],
    function* (s) {
      for (const peer of s.peers) yield [{ peer: peer.id, url: peer.url, found_by: peer.foundBy }, 1];
    },
  );
  gauge(
    'meshcache_peer_lag_seconds',
    'Replication lag of the last live batch from the peer (this clock minus the change’s version time); absent before the first, and a minute after the last (an idle link is not behind)',
    ['peer'],
    perPeer((peer) => (peer.lagMillis === null ? null : peer.lagMillis / 1000)),
  );
  gauge(
    'meshcache_peer_queued_changes',
    'Changes waiting to be sent to the peer, over every cache',
    ['peer'],
    perPeer((peer) => peer.queuedChanges),
  );
  gauge(
    'meshcache_peer_queued_bytes',
    'Estimated bytes of the changes waiting to be sent to the peer',
    ['peer'],
    perPeer((peer) => peer.queuedBytes),
  );
  counter(
    'meshcache_peer_changes_sent_total',
    'Live changes sent to the peer over its current link',
    ['peer'],
    perPeer((peer) => peer.changesSent),
  );
  counter(
    'meshcache_peer_changes_received_total',
    'Live changes received from the peer over its current link',
    ['peer'],
    perPeer((peer) => peer.changesReceived),
  );
  counter(
    'meshcache_peer_repairs_total',
    'Repairs of a cache from the peer that finished over its current link',
    ['peer'],
    perPeer((peer) => peer.repairs),
  );
  counter(
    'meshcache_peer_unknown_messages_total',
    'Messages of types this node does not know (a newer release’s) received from the peer over its current link, skipped',
    ['peer'],
    perPeer((peer) => peer.unknownMessages),
  );
  gauge(
    'meshcache_peer_last_seen_timestamp_seconds',
    'When the last frame from the peer arrived (Unix time); absent before the first',
    ['peer'],
    perPeer((peer) => (peer.lastSeen === null ? null : peer.lastSeen / 1000)),
  );

  // The Redis backplane (docs/backplane.md), when the node replicates through one: absent
  // otherwise. Registered only then: prom-client shows a metric without labels as 0 when it has
  // no sample, so a mesh node showed a backplane with 0 members.
  const ofBackplane =
    <L extends string>(figure: (backplane: BackplaneInfo) => Array<Sample<L>>) =>
    (s: Snapshot): Iterable<Sample<L>> =>
      s.backplane === null ? [] : figure(s.backplane);
  if (node.backplane() !== null) {
    gauge(
      'meshcache_backplane_state',
      'The link to Redis, by state (1 for the current one)',
      ['state'],
      ofBackplane((backplane) =>
        BACKPLANE_STATES.map((state): Sample<'state'> => [{ state }, backplane.state === state ? 1 : 0]),
      ),
    );
    gauge(
      'meshcache_backplane_members',
      'Live members seen through Redis, this node not counted',
      [],
      ofBackplane((backplane) => [[{}, backplane.members]]),
    );
    gauge(
      'meshcache_backplane_lag_entries',
      'Entries of the changes stream this node has not read yet; absent before the first probe',
      [],
      ofBackplane((backplane) => (backplane.lag === null ? [] : [[{}, backplane.lag]])),
    );
    gauge(
      'meshcache_backplane_lag_seconds',
      'This clock minus the newest version of the last batch read from Redis; absent before the first, and a minute after the last',
      [],
      ofBackplane((backplane) => (backplane.lagMillis === null ? [] : [[{}, backplane.lagMillis / 1000]])),
    );
    gauge(
      'meshcache_backplane_pending_bytes',
      'Bytes waiting to be written to Redis',
      [],
      ofBackplane((backplane) => [[{}, backplane.pendingBytes]]),
    );
    counter(
      'meshcache_backplane_entries_total',
      'Entries of the changes stream this node wrote and read, since start',
      ['direction'],
      ofBackplane((backplane) => [
        [{ direction: 'written' }, backplane.entriesWritten],
        [{ direction: 'read' }, backplane.entriesRead],
      ]),
    );
    counter(
      'meshcache_backplane_entries_refused_total',
      'Entries refused: not sealed with the cluster secret, replayed, older than the replay window, or not understood',
      ['reason'],
      // One sample a reason the backplane counts: a reason added there shows here too.
      ofBackplane((backplane) => Object.entries(backplane.refused).map(([reason, count]) => [{ reason }, count])),
    );
    gauge(
      'meshcache_backplane_repair_owed',
      '1 while a repair is due (a start, a gap) that no member could give yet: the next member seen live gives it',
      [],
      ofBackplane((backplane) => [[{}, backplane.repairOwed ? 1 : 0]]),
    );
    counter(
      'meshcache_backplane_gaps_total',
      'Gaps found in the changes stream (each repaired by digest), fresh starts not counted',
      [],
      ofBackplane((backplane) => [[{}, backplane.gaps]]),
    );
    counter(
      'meshcache_backplane_repairs_total',
      'Repairs of a cache from a member that finished',
      [],
      ofBackplane((backplane) => [[{}, backplane.repairs]]),
    );
  }

  // The node.
  gauge('meshcache_node_ready', '1 once ready() resolved: caught up with the peers reachable at start', [], () => [
    [{}, ready ? 1 : 0],
  ]);
  gauge('meshcache_node_info', 'This node: its name and cluster (always 1)', ['node', 'cluster'], () => [
    [{ node: node.id, cluster: node.cluster }, 1],
  ]);

  return {
    unregister() {
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
