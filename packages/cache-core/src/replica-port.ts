/**
 * The replica port: the one door through which replication works on a cache, kept off `Cache`
 * so that `Cache` stays the API an Ehcache user knows (memberlist's Delegate and groupcache's
 * Getter are the same idea: the library's side of a seam, as an interface of its own).
 *
 * Replication obtains a cache's port with `replicaPortOf(cache)` from `@meshcache/core/internal`
 * (no stability promise); nothing else needs it. Through it replication
 * - hears every local change with what a peer needs to replay it (value, version, creation time,
 *   lifespan): one call per change, no event object, no second read of the entry;
 * - applies peers' changes, each refused ('stale') unless its version is newer than everything
 *   the cache knows of the key (its entry, its tombstone, the last removeAll), and fired as the
 *   usual events with origin 'remote', which replicators never send back out;
 * - reads the cache quietly for repair (live entries, tombstones, the last clear, the newest
 *   version known of a key) and a generation count that moves with every change;
 * - coordinates getOrLoad's loads across the cluster (setLoadCoordinator), and makes the cache
 *   refuse values msgpack cannot carry (requireEncodableValues).
 *
 * Every method is quiet: none counts as an access or moves statistics, but for the applied
 * changes, which count as the writes and removals they are.
 */

import type { DeferredValue } from './deferred-value.js';
import type { EntrySnapshot } from './entry.js';
import type { EntryCursor } from './entry-cursor.js';
import type { CacheEventType } from './events.js';
import type { LoadCoordinator } from './loads.js';
import type { FoldedDigest } from './replica-digest.js';
import type { Tombstone } from './tombstones.js';
import type { Version } from './version.js';

/** A change made on a peer, handed to applyRemote by the replicator. */
export type RemoteChange<V> =
  | {
      readonly type: 'put';
      readonly key: string;
      readonly value: V;
      readonly version: Version;
      /** The origin's creation time: TTL counts from here on every node. */
      readonly createdAt: number;
      readonly timeToLiveSeconds: number;
      readonly timeToIdleSeconds: number;
    }
  | {
      readonly type: 'remove';
      readonly key: string;
      readonly version: Version;
      /**
       * Taught by a repair (a peer's key list or entries), not heard live: its tombstone ages from
       * its version's time, as on the nodes that heard it live (tombstones.ts). @default false
       */
      readonly taught?: boolean;
    }
  /** Remove the key only if this cache still holds exactly that version (a newer put survives). */
  | { readonly type: 'expire'; readonly key: string; readonly version: Version }
  | { readonly type: 'removeAll'; readonly version: Version };

/** applied: the cache changed. stale: the cache already knew something newer; nothing changed. */
export type ApplyOutcome = 'applied' | 'stale';

/**
 * A change made on this node (origin 'local'), as replication needs it. For put and update:
 * the value now held and its creation time and lifespan (seconds, 0 = never); for the others
 * the value that left (or undefined) and zeros, but for an expiry the sweep found after the
 * entry's TTL ran out: its creation time and TTL (every node's sweep, at the same moments on
 * every node's clock, removes it then: sweeper.ts). `key` is undefined for removeAll; `version` is
 * undefined when the cache has no version clock. `slot` is the memory slot the key is held in
 * (for a remove, expiry or eviction: was held in), or -1 where none (a disk tier's key, a
 * removeAll): a listener may keep something per slot, found again by the key's next change
 * without hashing the key. Slots are reused once a key leaves: what is kept for one must be
 * checked against the key. An 'evict' with no value and no version is a key that moved from
 * memory to the disk tier: still held, its slot let go.
 */
export type LocalChangeListener<V> = (
  type: CacheEventType,
  key: string | undefined,
  value: V | undefined,
  version: Version | undefined,
  createdAt: number,
  timeToLiveSeconds: number,
  timeToIdleSeconds: number,
  slot: number,
) => void;

export interface ReplicaPort<V = unknown> {
  /** The cache's name. */
  readonly cacheName: string;
  /** Entries held, memory and disk, expired ones not yet found included (Cache.size). */
  readonly size: number;
  /**
   * How many more keys the cache takes before a write must evict one (Infinity when unbounded):
   * repair pulls no more keys the cache does not hold than that, so that it never evicts what
   * this node keeps to hold what a peer keeps.
   */
  readonly room: number;
  /**
   * About `entries` more keys are coming (a bootstrap): room for them is made now, in one step,
   * rather than by doubling on the way. A hint: the cache's bounds hold as ever, and more or
   * fewer may come.
   */
  reserve(entries: number): void;
  /**
   * Changes to these keys (the first `count` of them, at most 1,024; by default all, so a caller
   * may reuse one array for runs of any length) are about to be applied, in this order: the cache
   * reads where each is held before the first is applied, so that the misses to memory overlap. A
   * hint: what the changes do is not changed by it, and lookups in any other order cost what they
   * would have, plus the read-ahead's own pass. The cache holds the keys until they are looked up,
   * until a lookup goes another way, or until the next prefetch: `prefetch([])` ends a run whose
   * last keys were not looked up (a change refused before its lookup), so that they are let go.
   */
  prefetch(keys: readonly string[], count?: number): void;
  /** Tombstones held now. */
  readonly tombstoneCount: number;
  /** The version of the last removeAll this cache applied, if versions are in use. */
  readonly clearVersion: Version | undefined;
  /**
   * A count that moves with every change of the cache, local or applied from a peer (writes,
   * removals, expiries, evictions, clears): a digest built at one count describes the cache for
   * as long as the count stays.
   */
  readonly generation: number;

  /**
   * Applies a peer's put, refused ('stale') unless its version is newer than what this cache
   * knows of the key. TTL counts from the origin's createdAt; idle time starts now, on this node.
   * A deferred value (deferred-value.ts) is held as it came where it can be, else resolved now.
   */
  applyPut(
    key: string,
    value: V | DeferredValue<V>,
    version: Version,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
  ): ApplyOutcome;
  /** Applies any change a peer made (a put as applyPut). */
  applyRemote(change: RemoteChange<V>): ApplyOutcome;
  /** A live entry's value and metadata, read quietly (Cache.peekEntry). */
  peekEntry(key: string): EntrySnapshot<V> | undefined;
  /**
   * The newest version this cache knows of a key: its live entry's or its tombstone's, whichever
   * is newer (repair compares it with a peer's).
   */
  knownVersion(key: string): Version | undefined;
  /**
   * Every live entry, read quietly, for bootstrap and repair. Safe against writes made while it
   * runs (a repair reads in slices between event-loop turns): an entry removed meanwhile is
   * skipped, one written meanwhile is read as it is when reached or not at all.
   */
  entries(): IterableIterator<EntrySnapshot<V>>;
  /**
   * Every live entry, as entries() reads them, through a cursor that makes no object per entry
   * (entry-cursor.ts): a repair lists most keys by version alone and writes the rest straight
   * into its frames, and reading a value a peer sent decodes it (deferred-value.ts).
   */
  liveEntries(): EntryCursor<V>;
  /** Keys removed recently and the versions of their removal, oldest removal first. */
  tombstones(): Tombstone[];
  /**
   * The repair digest of the cache at `bucketCount` buckets (a power of two up to 65,536), kept
   * up to date on every write (replica-digest.ts), so no read of the cache builds it; undefined
   * for a cache with a disk tier, whose digest is read from what it holds. The first call starts
   * the keeping: make it when the cache is attached to replication, while it is small.
   */
  digest(bucketCount: number): FoldedDigest | undefined;
  /**
   * From now on, an entry a read finds expired stays in the digest until the next sweep, when the
   * peers' sweeps remove their copies (a replicator that does not send expiries asks for it). Its
   * `expire` still fires at the read, and the cache no longer holds it.
   */
  lingerReadExpiries(): void;
  /** Hears every local change; returns what stops it. */
  onLocalChange(listener: LocalChangeListener<V>): () => void;
  /** Hears the key of every value applied from a peer (put or update, origin 'remote'); returns what stops it. */
  onRemoteValue(listener: (key: string) => void): () => void;
  /**
   * Lets getOrLoad coordinate its loads with other nodes (cluster-wide single flight); undefined
   * turns it off. Loads already running are not affected.
   */
  setLoadCoordinator(coordinator: LoadCoordinator<V> | undefined): void;
  /**
   * From now on, refuse values that msgpack cannot carry unchanged (replicated caches; disk tiers
   * imply it), with `maxBytes` values whose encoding (with the key's) would take more (replication:
   * a change must fit in one frame), and with `maxDepth` values nested deeper. `reason` goes into
   * the error message.
   */
  requireEncodableValues(reason: string, maxBytes?: number, maxDepth?: number): void;
}
