/**
 * Counters a cache keeps about itself. Counting is a field increment on the hot path; this object
 * is built only when someone asks for it.
 *
 * - hits = memoryHits + diskHits; a read of an expired entry is a miss, counted in misses and in
 *   expiredMisses (Ehcache's cacheMissExpired); misses - expiredMisses found nothing at all
 *   (cacheMissNotFound). Telling them apart costs nothing on a hit: the count is on the expiry path.
 * - puts counts writes of new keys, updates writes over held keys (the two event types).
 * - removals counts remove() calls that removed a live entry; removeAll counts nothing per entry.
 * - has(), keys() and peekEntry() are quiet: they count nothing (so are the replica port's reads).
 * - diskState, diskPendingWrites, diskPendingBytes and memoryOnly are states, like memorySize;
 *   diskWritesDropped is a counter.
 * - staleValues and staleBytes are sizes, like memorySize and memoryBytes.
 * - tombstones is a size, like memorySize; tombstonesDropped counts only the tombstones forgotten
 *   because the cache held maxTombstones (not those that aged out, which is their normal end).
 */
export interface CacheStatistics {
  readonly hits: number;
  readonly misses: number;
  /** Of the misses, reads that found the key held but expired. */
  readonly expiredMisses: number;
  readonly memoryHits: number;
  readonly diskHits: number;
  readonly puts: number;
  readonly updates: number;
  readonly removals: number;
  readonly evictions: number;
  readonly expirations: number;
  /** Entries held in memory now. */
  readonly memorySize: number;
  /**
   * The estimated bytes of the entries held in memory now, with maxBytesLocalHeap (Ehcache's
   * localHeapSizeInBytes); 0 for a cache without a byte bound, which does not size its entries.
   */
  readonly memoryBytes: number;
  /**
   * Stale values getOrLoad keeps now for stale-if-error (staleIfErrorSeconds): expired values that
   * answered a failed load and keep answering the failures of their window. Not entries (get,
   * has, keys and size do not see them), but held in memory, and counted with the entries against
   * maxElementsInMemory and maxBytesLocalHeap: memorySize + staleValues and memoryBytes +
   * staleBytes stay within them.
   */
  readonly staleValues: number;
  /** Their estimated bytes, weighed as the entries they were, with maxBytesLocalHeap; 0 without it. */
  readonly staleBytes: number;
  /** Entries held on disk now (committed, or waiting in the spool: see diskPendingWrites). */
  readonly diskSize: number;
  /**
   * The disk tier's state: 'ok'; 'degraded' while the disk refuses writes (full, say): the cache
   * serves and accepts writes from memory, and retries the disk in the background; 'none' for a
   * cache without a disk tier.
   */
  readonly diskState: 'none' | 'ok' | 'degraded';
  /** Writes (puts and removals) waiting in the spool, not yet on disk: normally 0 between turns. */
  readonly diskPendingWrites: number;
  /** Encoded bytes waiting in the spool; never more than diskSpoolBufferSizeMB (plus one record). */
  readonly diskPendingBytes: number;
  /**
   * Records a degraded disk tier dropped to keep its spool within the bound. Each one either
   * stayed in memory (counted by memoryOnly while it is there) or left the cache with `evict`.
   */
  readonly diskWritesDropped: number;
  /** Entries held in memory only, because a degraded disk dropped their records (they count in size). */
  readonly memoryOnly: number;
  /** hits / (hits + misses), 0 before any read. */
  readonly hitRatio: number;
  /** Loader calls started by getOrLoad, and how many of them failed. */
  readonly loads: number;
  readonly loadFailures: number;
  /** Tombstones held now: removed keys remembered so that an older write from a peer cannot bring them back. */
  readonly tombstones: number;
  /**
   * Tombstones forgotten before their retention ran out because the cache held maxTombstones:
   * for each, an older write of that key from a peer that was away could bring the key back.
   */
  readonly tombstonesDropped: number;
}
