/**
 * What the live page shows, as one JSON object: this node, its peers as it sees them, its Redis
 * backplane if it has one, its caches. Served as /status and, every second, on /events. Names,
 * URLs and counts only: never a key, a value or a secret (the backplane's URL has its password
 * hidden).
 *
 * The backplane is not a peer: `node.peers()` lists it first on a backplane node (as `meshcache
 * peers --json` does), and /status counted it among the peers, so a node with two members and a
 * backplane showed three peers. Here `peers` holds the members alone, and `backplane` the
 * backplane's own figures, with its state and why it is down.
 */
import type { BackplaneInfo, ClusterNode, PeerInfo } from '@meshcache/replication';

export interface NodeStatus {
  readonly node: string;
  readonly cluster: string;
  readonly url: string;
  readonly ready: boolean;
  /** Epoch ms: when the process started serving, and when this status was taken. */
  readonly startedAt: number;
  readonly now: number;
  /** The nodes this one links with, or (on a backplane) the members it sees through Redis. */
  readonly peers: readonly PeerStatus[];
  /** The Redis backplane (docs/backplane.md): its state, why it is down, its figures; null on the mesh. */
  readonly backplane: BackplaneInfo | null;
  readonly caches: readonly CacheStatus[];
}

export type PeerStatus = Pick<
  PeerInfo,
  | 'id'
  | 'url'
  | 'state'
  | 'foundBy'
  | 'caches'
  | 'lastSeen'
  | 'lagMillis'
  | 'queuedChanges'
  | 'queuedBytes'
  | 'changesSent'
  | 'changesReceived'
  | 'repairs'
>;

export interface CacheStatus {
  readonly name: string;
  readonly replicated: boolean;
  readonly size: number;
  readonly memorySize: number;
  readonly diskSize: number;
  readonly hits: number;
  readonly misses: number;
  readonly hitRatio: number;
  readonly puts: number;
  readonly evictions: number;
  readonly expirations: number;
  readonly tombstones: number;
}

export function nodeStatus(node: ClusterNode, ready: boolean, startedAt: number): NodeStatus {
  const caches: CacheStatus[] = [];
  for (const name of node.manager.cacheNames()) {
    const cache = node.manager.getCache(name);
    if (cache === undefined) continue;
    const s = cache.statistics();
    caches.push({
      name,
      replicated: node.replicationStatistics(name) !== undefined,
      size: cache.size,
      memorySize: s.memorySize,
      diskSize: s.diskSize,
      hits: s.hits,
      misses: s.misses,
      hitRatio: s.hitRatio,
      puts: s.puts + s.updates,
      evictions: s.evictions,
      expirations: s.expirations,
      tombstones: s.tombstones,
    });
  }
  const backplane = node.backplane();
  // The backplane's own entry is the one that carries its figures (a member may be named 'backplane').
  const peers = node
    .peers()
    .filter((p) => p.backplane === undefined)
    .map((p) => ({
      id: p.id,
      url: p.url,
      state: p.state,
      foundBy: p.foundBy,
      caches: p.caches,
      lastSeen: p.lastSeen,
      lagMillis: p.lagMillis,
      queuedChanges: p.queuedChanges,
      queuedBytes: p.queuedBytes,
      changesSent: p.changesSent,
      changesReceived: p.changesReceived,
      repairs: p.repairs,
    }));
  return {
    node: node.id,
    cluster: node.cluster,
    url: node.url,
    ready,
    startedAt,
    now: Date.now(),
    peers,
    backplane,
    caches,
  };
}
