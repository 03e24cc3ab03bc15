/**
 * The engine under a Cache: its memory store, disk tier, tombstones, events and statistics, and
 * the paths that change them, shared by the user's API (cache.ts) and replication's (the replica
 * port, which the engine implements: replica-port.ts).
 *
 * Model. Each entry records when it was created and last read on this node, its own TTL and TTI
 * (the cache's, unless the put named others) and, when replication is on, the version of the
 * write that made it, in the slot arrays of the memory store (memory/memory-store.ts), ordered by
 * the eviction policy (LRU, LFU, FIFO or TINYLFU), exact rather than sampled.
 *
 * Guarantees.
 * - get() is synchronous and allocates nothing on a hit: a key lookup, the policy's move, two
 *   comparisons against deadlines, a timestamp write and a counter increment.
 * - An expired entry is never returned. Expiry is found lazily (by get, put, has, keys, ...)
 *   and by the periodic sweep (sweeper.ts).
 * - Every entry that leaves for lack of room fires exactly one `evict`; one that is chosen as the
 *   victim but had already expired fires `expire` instead.
 * - Events fire synchronously after the change they describe, in order. Listeners may call back
 *   into the cache: evictions are collected during the store write and reported after it. A
 *   write that finds its key expired fires `expire` first; should a listener of it write or
 *   remove that key, the listener's change is the newer (its version is later) and stands in both
 *   tiers, and the write that fired it ends there, without an event: it wrote over the listener's
 *   value in memory and not on disk, so the tiers disagreed (and peers held the listener's). So
 *   too for the listeners of the entries the write evicted, which run before its own event.
 * - A remote change is applied only when its version is newer than everything this cache knows
 *   about the key: the held entry, the key's tombstone (tombstones.ts), and the last removeAll.
 *
 * Not guaranteed. size counts entries held, which can include expired ones not yet found (as in
 * Ehcache). Statistics are plain counters, not a consistent snapshot across fields.
 */

import type { Clock } from './clock.js';
import type { EntryOptions, Lifespan, ResolvedCacheConfig } from './config.js';
import { DeferredValue } from './deferred-value.js';
import { type DiskCloseReport, type DiskRecord, fitsOnDisk, keyTooLongForDisk } from './disk/disk-store.js';
import { type DiskTier, isRecordExpired, recordExpiresAt } from './disk/disk-tier.js';
import { findEncodingProblem, isWellFormed } from './encodable.js';
import type { EntrySnapshot } from './entry.js';
import { type EntryCursor, heldKeys, SnapshotCursor, StoreCursor } from './entry-cursor.js';
import { MeshcacheError, ValueNotEncodableError } from './errors.js';
import { type CacheEventListener, type CacheEventType, EventHub, type EventOrigin } from './events.js';
import { cacheLifespan, entryLifespan } from './expiry.js';
import { type LoadCoordinator, type LoadHost, Loads } from './loads.js';
import type { Logger } from './logger.js';
import { MemoryStore } from './memory/memory-store.js';
import { entryBytes } from './memory/sizes.js';
import { BucketDigest, type FoldedDigest } from './replica-digest.js';
import type { ApplyOutcome, LocalChangeListener, RemoteChange, ReplicaPort } from './replica-port.js';
import type { Scheduler } from './scheduler.js';
import type { CacheStatistics } from './statistics.js';
import { Sweeper, type SweepHost } from './sweeper.js';
import { type Tombstone, Tombstones } from './tombstones.js';
import { CLOCKS_APART_MILLIS, compareVersions, isNewer, type Version } from './version.js';

/** What a cache needs from its manager. */
export interface CacheContext {
  readonly clock: Clock;
  /** Timers: the expiry sweep, and the turns a disk sweep yields between slices. */
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /**
   * Stamps local writes when replication is on; absent, local entries are unversioned. Given
   * `after`, a version newer than it too (CacheManagerOptions.versionClock).
   */
  readonly versionClock: ((after?: Version) => Version) | undefined;
  readonly tombstoneRetentionMillis: number;
  /** Most tombstones kept; past it the oldest is forgotten first. */
  readonly maxTombstones: number;
  /** The cache's disk tier, when it has one (overflowToDisk or diskPersistent). */
  readonly disk?: DiskTier<unknown> | undefined;
}

const NOTHING_LEFT: Array<[string, DiskRecord<never>]> = [];
/** What #slotIfNewer answers for a version no newer than what the cache knows of the key (slots are >= -1). */
const STALE = -2;
const NO_LISTENERS: never[] = [];

/**
 * The most a value of a disk-backed cache may take encoded: lmdb stores values up to about 2 GiB,
 * and a value whose shared sub-objects multiply in msgpack (encodable.ts) must be refused before
 * it is encoded, not after the process ran out of memory encoding it.
 */
const MAX_DISK_VALUE_BYTES = 1024 * 1024 * 1024;
/**
 * The most containers deep a value of a disk-backed cache may nest. msgpackr encodes and decodes
 * by recursion, and so does the check of a value: unbounded, a value 1,500 arrays deep failed
 * inside msgpackr and one 3,000 deep inside the check, as a bare RangeError ("Maximum call stack
 * size exceeded") naming neither the key nor why. 512 levels encode and decode with the stack
 * mostly taken already (a put and a get 6,000 calls deep); JSON-shaped data nests far less.
 */
const MAX_DISK_VALUE_DEPTH = 512;

export class CacheEngine<V> implements ReplicaPort<V>, LoadHost<V>, SweepHost<V> {
  readonly name: string;
  readonly config: ResolvedCacheConfig;
  readonly defaults: Lifespan;
  readonly disk: DiskTier<V> | undefined;
  readonly loads: Loads<V>;

  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #versionClock: ((after?: Version) => Version) | undefined;
  readonly #events: EventHub<V>;
  readonly #store: MemoryStore<V>;
  /**
   * Victims the store handed over during a write, handled once the write is complete: one
   * position in each list per victim (lists, not an object per victim: under steady eviction a
   * put then allocates nothing for its victim).
   */
  readonly #evictedKeys: string[] = [];
  readonly #evictedValues: Array<V | undefined> = [];
  readonly #evictedVersions: Array<Version | undefined> = [];
  readonly #evictedExpired: boolean[] = [];
  /** The memory slot each victim was held in (local listeners hear it: replication/replication-queue.ts). */
  readonly #evictedSlots: number[] = [];
  /** For a victim held in memory only (a failing disk dropped its record): the record, to write now. */
  readonly #evictedRecords: Array<DiskRecord<V> | undefined> = [];
  /** Whether the victim was reported already, ahead of a write or removal of its key (#reportWaiting). */
  readonly #evictedReported: boolean[] = [];
  /**
   * Victims waiting in the lists. The lists are overwritten, never truncated: setting an array's
   * length to 0 gives its storage back, and the next push would allocate it again.
   */
  #evictedCount = 0;
  /** The time of the write in progress: whether a victim had expired is judged at it. */
  #writeNow = 0;
  /**
   * The keys whose expire listeners run now (#watching), innermost last, and whether a write or
   * removal of each happened meanwhile, at whatever depth (a listener's write that fires another
   * expire, whose listener writes the first key).
   */
  readonly #watchedKeys: string[] = [];
  readonly #touchedKeys: boolean[] = [];
  /**
   * How many of #watchedKeys are watched now. The lists are overwritten, never cut: cut to 0 an
   * array gives its storage back, and every put into a full cache would allocate it again.
   */
  #watchDepth = 0;
  readonly #tombstones: Tombstones;
  /** The repair digest of the entries and tombstones, once replication asked for it (digest()). */
  #digest: BucketDigest | undefined;
  readonly #sweeper: Sweeper<V>;
  #clearVersion: Version | undefined;
  #encodableReason: string | undefined;
  /** The most bytes a value may take encoded and the deepest it may nest, and who asked (replication: one change, one frame). */
  #maxEncodedBytes = Number.POSITIVE_INFINITY;
  #maxEncodedDepth = Number.POSITIVE_INFINITY;
  #sizeReason = '';
  #depthReason = '';
  #closed = false;
  /**
   * Whether the disk may hold versions the version clock never saw: what a persistent disk kept
   * from an earlier run. The first local removeAll reads them and has the clock pass the newest
   * (#newerThanAllHeld); every version written since came from the clock, or from a peer's change
   * it received.
   */
  #diskUnseen = false;
  #reportingEvictions = false;
  /** Whether an entry evicted from memory stays on disk (overflowToDisk) or leaves the cache. */
  readonly #overflow: boolean;
  #localListeners: LocalChangeListener<V>[] = NO_LISTENERS;
  #remoteValueListeners: Array<(key: string) => void> = NO_LISTENERS;
  #generation = 0;

  memoryHits = 0;
  diskHits = 0;
  misses = 0;
  /** Of the misses, those that found the key held but expired (Ehcache's cacheMissExpired). */
  expiredMisses = 0;
  #puts = 0;
  #updates = 0;
  #removals = 0;
  #evictions = 0;
  #expirations = 0;

  constructor(name: string, config: ResolvedCacheConfig, context: CacheContext) {
    this.name = name;
    this.config = config;
    this.#clock = context.clock;
    this.#logger = context.logger;
    this.#versionClock = context.versionClock;
    this.#tombstones = new Tombstones(name, context.tombstoneRetentionMillis, context.maxTombstones, context.logger);
    this.defaults = cacheLifespan(config);
    this.#events = new EventHub<V>(name, context.logger);
    this.disk = context.disk as DiskTier<V> | undefined;
    this.#diskUnseen = this.disk !== undefined && config.diskPersistent && this.disk.size > 0;
    this.#store = new MemoryStore<V>({
      policy: config.memoryStoreEvictionPolicy,
      maxEntries: config.maxElementsInMemory,
      maxBytes: config.maxBytesLocalHeap,
      defaults: this.defaults,
      onEvict: this.#onEvict,
    });
    this.#overflow = config.overflowToDisk;
    this.loads = new Loads<V>(this);
    if (this.disk !== undefined)
      this.requireEncodableValues('has a disk tier', MAX_DISK_VALUE_BYTES, MAX_DISK_VALUE_DEPTH);
    if (this.disk !== undefined && config.diskPersistent && !config.overflowToDisk) this.#restoreMemory(this.disk);
    this.#sweeper = new Sweeper<V>(
      this,
      context.scheduler,
      context.logger,
      config.diskExpiryThreadIntervalSeconds * 1000,
    );
  }

  get cacheName(): string {
    return this.name;
  }

  /**
   * A persistent disk tier without overflowToDisk mirrors memory: what it holds at open is what
   * memory held at the last shutdown (or crash), and memory holds it again, in its order of use
   * (of insertion for FIFO). Left on disk only, those entries were outside memory's bound: no
   * eviction reached them, and every restart added a memory's worth (3, 6, 9 entries in a cache
   * of 3). Past maxElementsInMemory (lowered since), the least recently used leave the disk first,
   * said once; past maxBytesLocalHeap, the memory store evicts as on any write, also said once and,
   * as those, not counted as evictions (no one could listen yet: it counted them, and said nothing).
   */
  #restoreMemory(disk: DiskTier<V>): void {
    if (disk.size === 0) return;
    const fifo = this.config.memoryStoreEvictionPolicy === 'FIFO';
    // Keys and times first, record by record: not every value of the store at once.
    const order: Array<[string, number]> = [];
    for (const [key, record] of disk.records()) order.push([key, fifo ? record.createdAt : record.lastAccessedAt]);
    order.sort((a, b) => a[1] - b[1]);
    const max = this.config.maxElementsInMemory;
    const excess = max > 0 ? Math.max(0, order.length - max) : 0;
    for (let i = 0; i < excess; i++) disk.remove((order[i] as [string, number])[0]);
    if (excess > 0) {
      this.#logger.info(
        { cache: this.name, removed: excess, maxElementsInMemory: max },
        'the persistent disk tier held more than maxElementsInMemory (lowered since it was written; without overflowToDisk the disk mirrors memory): the least recently used records were removed',
      );
    }
    this.#writeNow = this.#clock();
    const evictions = this.#evictions;
    let tooLarge = 0;
    for (let i = excess; i < order.length; i++) {
      const key = (order[i] as [string, number])[0];
      const record = disk.read(key);
      if (record === undefined) continue;
      const bytes = this.#bytes(key, record.value);
      if (!this.#store.fits(bytes)) {
        disk.remove(key); // larger than the whole byte bound: memory never holds it, so neither does the mirror
        tooLarge++;
        continue;
      }
      this.#store.write(
        key,
        record.value,
        record.createdAt,
        record.lastAccessedAt,
        record.timeToLiveSeconds,
        record.timeToIdleSeconds,
        record.version,
        bytes,
      );
      if (this.#evictedCount > 0) this.#reportEvictions();
    }
    const trimmed = this.#evictions - evictions + tooLarge;
    if (trimmed > 0) {
      this.#evictions = evictions;
      this.#logger.info(
        { cache: this.name, removed: trimmed, maxBytesLocalHeap: this.config.maxBytesLocalHeap },
        'the persistent disk tier held more than maxBytesLocalHeap takes (lowered since it was written; without overflowToDisk the disk mirrors memory): the least recently used records were removed',
      );
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  now(): number {
    return this.#clock();
  }

  // What stale-if-error's kept values share the memory bounds with (LoadHost; loads.ts).
  get memorySize(): number {
    return this.#store.size;
  }

  get memoryBytes(): number {
    return this.#store.bytes;
  }

  get maxMemoryEntries(): number {
    return this.config.maxElementsInMemory;
  }

  get maxMemoryBytes(): number {
    return this.config.maxBytesLocalHeap;
  }

  weigh(key: string, value: V): number {
    return this.#bytes(key, value);
  }

  // ---------------------------------------------------------------- reads

  /** An access: returns the live value, updates recency, frequency and idle time, counts a hit or a miss. */
  get(key: string): V | undefined {
    // A listener reads a key that the write under way evicted: its eviction is reported first, or
    // the read found its disk record still there, took it back into memory, and the late report
    // then removed the record (an evict of a key held, and memory and disk disagreeing).
    if (this.#evictedCount > 0) this.#reportWaiting(true, key);
    const store = this.#store;
    const slot = store.read(key, this.#clock());
    if (slot >= 0) {
      this.memoryHits++;
      return store.value(slot);
    }
    if (slot !== -1) {
      this.#expireHeld(key, -2 - slot);
      this.expiredMisses++;
    } else if (this.disk !== undefined) {
      return this.#readDisk(key, this.disk);
    }
    this.misses++;
    return undefined;
  }

  /**
   * getOrLoad's first look (LoadHost): get()'s memory hit and nothing else, so a hit allocates
   * nothing here either. Anything else answers undefined and is left as it was, not counted, not
   * expired, no disk read (nor while a write's victims wait to be reported): getOrLoad copies what
   * stale-if-error may answer with, then reads with get().
   */
  memoryHit(key: string): V | undefined {
    if (this.#evictedCount > 0) return undefined;
    const store = this.#store;
    const slot = store.read(key, this.#clock());
    if (slot < 0) return undefined;
    this.memoryHits++;
    return store.value(slot);
  }

  /** A memory miss on a cache with a disk tier: a synchronous disk read, promoted to memory on a hit. */
  #readDisk(key: string, disk: DiskTier<V>): V | undefined {
    const record = disk.read(key);
    if (record !== undefined) {
      const now = this.#clock();
      if (!isRecordExpired(record, now)) {
        this.diskHits++;
        const bytes = this.#bytes(key, record.value);
        // Promoted to memory, but for a value larger than the whole byte bound: it stays on disk.
        if (this.#store.fits(bytes)) {
          // Stale values kept for stale-if-error give way to it first (loads.ts).
          if (this.loads.staleSize > 0) this.loads.makeRoom(1, bytes, undefined);
          this.#writeNow = now;
          this.#store.write(
            key,
            record.value,
            record.createdAt,
            now,
            record.timeToLiveSeconds,
            record.timeToIdleSeconds,
            record.version,
            bytes,
          );
          if (this.#evictedCount > 0) this.#reportEvictions();
        } else if (record.timeToIdleSeconds > 0) {
          // Held on disk only, the read is an access all the same: its idle clock moves on disk.
          // Untouched, an entry read every few seconds expired its TTI after its write.
          const left = disk.write(key, { ...record, lastAccessedAt: now }, true, this.#inMemory, false);
          if (left.length > 0) this.#evictFromDisk(left);
        }
        return record.value;
      }
      this.#expired(key, record.value, record.version, 'local');
      this.expiredMisses++;
    }
    this.misses++;
    return undefined;
  }

  has(key: string): boolean {
    return this.#isLive(key, this.#clock());
  }

  keys(): string[] {
    const now = this.#clock();
    const keys: string[] = [];
    const store = this.#store;
    if (this.disk === undefined) {
      for (let slot = 0; slot < store.top; slot++) {
        if (store.holds(slot) && !store.isExpired(slot, now)) keys.push(store.key(slot));
      }
      return keys;
    }
    // The disk holds every entry (but those a failing disk dropped, held in memory only);
    // memory holds fresher idle times for the hot ones.
    for (const key of heldKeys(this.disk)) if (this.#isLive(key, now)) keys.push(key);
    return keys;
  }

  /** Whether a live entry of the key is held, in memory or on disk; quiet. */
  #isLive(key: string, now: number): boolean {
    const slot = this.#store.slotOf(key);
    if (slot >= 0) return !this.#store.isExpired(slot, now);
    const record = this.disk?.read(key);
    return record !== undefined && !isRecordExpired(record, now);
  }

  get size(): number {
    return this.disk === undefined ? this.#store.size : this.disk.size + this.disk.memoryOnlySize;
  }

  /**
   * How many more keys this cache takes before a write must evict one (Infinity when nothing
   * bounds it). With overflowToDisk the disk holds every entry and maxElementsOnDisk bounds the
   * cache; otherwise memory's bounds do (a persistent cache without overflow mirrors memory).
   */
  get room(): number {
    if (this.disk === undefined || !this.#overflow) return this.#store.room;
    const max = this.config.maxElementsOnDisk;
    return max > 0 ? Math.max(0, max - this.size) : Number.POSITIVE_INFINITY;
  }

  /** ReplicaPort.reserve: the memory store makes room (a disk tier needs none made). */
  reserve(entries: number): void {
    this.#store.reserve(entries);
  }

  /** ReplicaPort.prefetch: the memory store's key index reads ahead (a disk tier's reads are its own). */
  prefetch(keys: readonly string[], count = keys.length): void {
    this.#store.prefetch(keys, count);
  }

  peekEntry(key: string): EntrySnapshot<V> | undefined {
    return this.#snapshotOf(key, this.#clock());
  }

  /** The version of the live entry of `key`, without reading its value (a deferred one stays so). */
  #heldVersion(key: string, now: number): Version | undefined {
    const store = this.#store;
    const slot = store.slotOf(key);
    if (slot >= 0) return store.isExpired(slot, now) ? undefined : store.version(slot);
    const record = this.disk?.read(key);
    return record === undefined || isRecordExpired(record, now) ? undefined : record.version;
  }

  /** A live entry's snapshot, from memory or else from disk; quiet. */
  #snapshotOf(key: string, now: number): EntrySnapshot<V> | undefined {
    const store = this.#store;
    const slot = store.slotOf(key);
    if (slot >= 0) return store.isExpired(slot, now) ? undefined : store.snapshot(slot);
    const record = this.disk?.read(key);
    if (record === undefined || isRecordExpired(record, now)) return undefined;
    return {
      key,
      value: record.value,
      createdAt: record.createdAt,
      lastAccessedAt: record.lastAccessedAt,
      timeToLiveSeconds: record.timeToLiveSeconds,
      timeToIdleSeconds: record.timeToIdleSeconds,
      expiresAt: recordExpiresAt(record),
      version: record.version,
    };
  }

  /**
   * The value held, in memory or on disk, expired or not, and when it expires: what stale-if-error
   * may answer with. (Memory alone left a disk-persistent token cache, whose memory is empty after
   * a restart, without stale-if-error.)
   */
  held(
    key: string,
  ): { readonly value: V; readonly expiresAt: number; readonly version: Version | undefined } | undefined {
    const store = this.#store;
    const slot = store.slotOf(key);
    if (slot >= 0) return { value: store.value(slot), expiresAt: store.expiresAt(slot), version: store.version(slot) };
    const record = this.disk?.read(key);
    return record === undefined
      ? undefined
      : { value: record.value, expiresAt: recordExpiresAt(record), version: record.version };
  }

  // ---------------------------------------------------------------- writes

  put(key: string, value: V, options: EntryOptions | undefined): void {
    this.checkKey(key);
    this.checkValue(key, value);
    const lifespan = entryLifespan(this.name, this.defaults, options);
    const now = this.#clock();
    this.#write(
      key,
      value,
      now,
      lifespan.timeToLiveSeconds,
      lifespan.timeToIdleSeconds,
      this.#versionClock?.(),
      'local',
      now,
    );
  }

  /** A loaded value (getOrLoad), stored as a local write. */
  store(key: string, value: V, lifespan: Lifespan, now: number): void {
    const { timeToLiveSeconds, timeToIdleSeconds } = lifespan;
    this.#write(key, value, now, timeToLiveSeconds, timeToIdleSeconds, this.#versionClock?.(), 'local', now);
  }

  remove(key: string): boolean {
    this.#checkKeyType(key);
    // A key with a lone surrogate is never held here: no event, and nothing sent (UTF-8 would
    // make it another key on the peers). A key too long for the disk is removed as usual: a peer
    // without a disk tier may hold it.
    if (!this.#travelsAsIs(key)) return false;
    return this.#removeKey(key, this.#versionClock?.(), 'local', this.#clock());
  }

  removeAll(): void {
    this.#clearAll(this.#versionClock?.(), 'local');
  }

  // ---------------------------------------------------------------- expiry

  evictExpiredElements(): number {
    if (this.#closed) return 0;
    const now = this.#clock();
    let count = this.sweepMemory(now);
    // Record by record: expireOnDisk keeps only the expired keys while it reads. A list of every
    // record held the whole store in memory at once, and a store larger than the heap ended the process.
    if (this.disk !== undefined && !this.#closed) count += this.expireOnDisk(this.disk.records(), now);
    return count;
  }

  /** Expires every expired entry in memory (and its disk copy) and forgets old tombstones. */
  sweepMemory(now: number): number {
    const store = this.#store;
    const expired: string[] = [];
    for (let slot = 0; slot < store.top; slot++) {
      if (store.holds(slot) && store.isExpired(slot, now)) expired.push(store.key(slot));
    }
    // Expiry events run listeners, which may write: each key is checked again when its turn comes.
    // A listener may also close the cache (a shutdown): the sweep ends there. Going on, it met the
    // closed disk tier, and the sweep threw E_CACHE_CLOSED at whoever ran it.
    let swept = 0;
    for (const key of expired) {
      if (this.#closed) return swept;
      swept++;
      const slot = store.slotOf(key);
      if (slot >= 0 && store.isExpired(slot, now)) this.#expireHeld(key, slot, now);
    }
    // What reads expired since the last sweep leaves the digest now, as the peers' sweeps (at the
    // same moment by their clocks) remove their copies: lingerReadExpiries().
    if ((this.#digest?.forgetLingering() ?? 0) > 0) this.#generation++;
    this.#forgetAgedTombstones(now);
    // Stale values past their window take memory and count against its bounds: they go too.
    this.loads.sweepStale(now);
    return swept;
  }

  /**
   * Expires the records of `slice` that are expired and not in memory (memory has its own sweep).
   * `slice` is read once, before anything expires, and only the expired keys are kept meanwhile:
   * it may be the whole disk tier, read lazily.
   */
  expireOnDisk(slice: Iterable<[string, DiskRecord<V>]>, now: number): number {
    const expired: string[] = [];
    for (const [key, record] of slice) if (!this.#store.has(key) && isRecordExpired(record, now)) expired.push(key);
    // Expiry events run listeners, which may write: each key is read again when its turn comes
    // (a listener's fresh write of a key further on was removed from the disk, with an expire of
    // the old value, while memory kept it).
    let count = 0;
    for (const key of expired) {
      if (this.#closed) break; // closed by a listener, as in sweepMemory
      const record = this.#store.has(key) ? undefined : this.disk?.read(key);
      if (record === undefined || !isRecordExpired(record, now)) continue;
      this.#expired(key, record.value, record.version, 'local');
      count++;
    }
    return count;
  }

  // ---------------------------------------------------------------- events and statistics

  on(type: CacheEventType, listener: CacheEventListener<V>, origin: EventOrigin | undefined): void {
    this.#events.on(type, listener, origin);
  }

  off(type: CacheEventType, listener: CacheEventListener<V>): void {
    this.#events.off(type, listener);
  }

  statistics(): CacheStatistics {
    const hits = this.memoryHits + this.diskHits;
    const reads = hits + this.misses;
    const disk = this.disk;
    return {
      hits,
      misses: this.misses,
      expiredMisses: this.expiredMisses,
      memoryHits: this.memoryHits,
      diskHits: this.diskHits,
      puts: this.#puts,
      updates: this.#updates,
      removals: this.#removals,
      evictions: this.#evictions,
      expirations: this.#expirations,
      memorySize: this.#store.size,
      memoryBytes: this.#store.bytes,
      staleValues: this.loads.staleSize,
      staleBytes: this.loads.staleBytes,
      diskSize: disk?.size ?? 0,
      diskState: disk?.store.state ?? 'none',
      diskPendingWrites: disk?.store.pendingWrites ?? 0,
      diskPendingBytes: disk?.store.pendingBytes ?? 0,
      diskWritesDropped: disk?.dropped ?? 0,
      memoryOnly: disk?.memoryOnlySize ?? 0,
      hitRatio: reads === 0 ? 0 : hits / reads,
      loads: this.loads.count,
      loadFailures: this.loads.failures,
      tombstones: this.#tombstones.size,
      tombstonesDropped: this.#tombstones.dropped,
    };
  }

  clearStatistics(): void {
    this.memoryHits = 0;
    this.diskHits = 0;
    this.misses = 0;
    this.expiredMisses = 0;
    this.#puts = 0;
    this.#updates = 0;
    this.#removals = 0;
    this.#evictions = 0;
    this.#expirations = 0;
    this.loads.count = 0;
    this.loads.failures = 0;
    this.#tombstones.dropped = 0;
    if (this.disk !== undefined) this.disk.dropped = 0;
  }

  // ---------------------------------------------------------------- the replica port

  get tombstoneCount(): number {
    return this.#tombstones.size;
  }

  get clearVersion(): Version | undefined {
    return this.#clearVersion;
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * A read that finds an entry expired removes it from the cache at once, and its `expire` fires
   * then, but its version stays in the digest until the next sweep. For a replicator that does not
   * send expiries: its peers still hold their copies, which their sweeps remove at the same moment
   * as this node's (sweeper.ts), so the digests agree all along. Taken out at the read, the entry
   * made this node's digest differ from every peer's until then, and nearly every anti-entropy
   * round of a TTL cache that was read listed keys to pull nothing (524 RepairRequests for 538
   * Digests in three minutes, repair-steady-state.test.ts). A write or a tombstone of the key takes
   * it out at once (BucketDigest.linger), as it replaces the peers' copies too.
   */
  lingerReadExpiries(): void {
    this.#lingerReadExpiries = true;
  }

  #lingerReadExpiries = false;

  applyRemote(change: RemoteChange<V>): ApplyOutcome {
    if (this.#closed) this.#throwClosed();
    switch (change.type) {
      case 'put':
        return this.applyPut(
          change.key,
          change.value,
          change.version,
          change.createdAt,
          change.timeToLiveSeconds,
          change.timeToIdleSeconds,
        );
      case 'remove': {
        const { key, version } = change;
        const slot = this.#slotIfNewer(key, version);
        if (slot === STALE) return 'stale';
        const now = this.#clock();
        // A removal older than the retention is one its own node's tombstone has already
        // forgotten (or is about to): it still takes out an older value held here, but leaves no
        // tombstone, and is nothing to apply where the key is not held. Else nodes whose sweeps
        // forget a tombstone at different moments taught it back to each other by repair, each
        // time for a whole retention more, and a removal's tombstone never died on a busy cluster.
        const recent = this.#tombstones.isRecent(version, now);
        if (!recent && this.#heldNowhere(key, slot)) {
          // The peers' unswept copies older than it go (no tombstone), and what lingers of them here too.
          if (this.#digest?.endLingering(key, version) === true) this.#generation++;
          // Nothing here to remove, but a stale value older than it that stale-if-error keeps (loads.ts).
          this.loads.endStale(key, version);
          return 'stale';
        }
        this.#removeKey(key, version, 'remote', now, recent, change.taught === true);
        return 'applied';
      }
      case 'expire': {
        // Only the very version that expired on the peer: a newer write of the key survives.
        const { key, version } = change;
        const store = this.#store;
        const slot = store.slotOf(key);
        let value: V;
        if (slot >= 0) {
          if (store.compareVersion(slot, version) !== 0) return 'stale';
          value = this.#eventValue(slot, 'expire', 'remote');
          store.delete(key);
        } else {
          const record = this.disk?.read(key);
          if (record?.version === undefined || compareVersions(record.version, version) !== 0) return 'stale';
          value = record.value;
        }
        this.loads.overtake(key);
        this.#expired(key, value, version, 'remote');
        return 'applied';
      }
      case 'removeAll':
        if (this.#clearVersion !== undefined && !isNewer(change.version, this.#clearVersion)) return 'stale';
        this.#clearAll(change.version, 'remote');
        return 'applied';
    }
  }

  applyPut(
    key: string,
    value: V | DeferredValue<V>,
    version: Version,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
  ): ApplyOutcome {
    if (this.#closed) this.#throwClosed();
    // A peer without a disk tier for this cache takes longer keys: the replicator counts this as refused.
    if (this.disk !== undefined && !fitsOnDisk(key)) throw keyTooLongForDisk(this.name, key);
    const slot = this.#slotIfNewer(key, version);
    const now = this.#clock();
    // The write is the entry's last access anywhere this node knows of: its idle time counts from
    // it (createdAt, by its writer's clock), as its TTL does, not from its arrival here. So every
    // node that heard a write no one read idles it out at the same moment by its own clock, and
    // every node's sweep (at the same moments by each clock: sweeper.ts) removes the same entries.
    // Counted from arrival, by the clock of each node it reached, clocks 3 s apart swept different
    // entries, and a node that kept one held it in its digest until its next sweep, two minutes
    // on: without replicateExpiries, nearly every anti-entropy round listed keys, to pull nothing.
    // Past its idle time by more than clocks may differ, a peer that still holds it has read it
    // since: it is taken as read now, as it always was (a joiner takes what its peers still use).
    let accessedAt = now;
    let lapsed = false;
    if (timeToIdleSeconds > 0) {
      const idleEnds = createdAt + timeToIdleSeconds * 1000;
      if (now <= idleEnds + CLOCKS_APART_MILLIS) {
        accessedAt = createdAt;
        lapsed = now > idleEnds;
      }
    }
    // A value whose TTL has run out by this node's clock (or idle time, counted from its write),
    // of a key held nowhere here, is nothing to hold. Clocks apart by some skew expire an entry
    // that much apart: a node whose sweep had removed it pulled it back from a peer that still
    // held it live, held it expired until its next sweep (two minutes on, by default), and
    // differed from its peers in its bucket all that while, so every anti-entropy round listed
    // that bucket's keys.
    if (
      slot === STALE ||
      ((lapsed || (timeToLiveSeconds > 0 && now > createdAt + timeToLiveSeconds * 1000)) &&
        this.#heldNowhere(key, slot))
    ) {
      if (value instanceof DeferredValue) value.release();
      // Newer than anything held here, yet nothing to hold: it still ends a stale value older
      // than it that stale-if-error keeps (loads.ts).
      if (slot !== STALE) this.loads.endStale(key, version);
      return 'stale';
    }
    const held = value instanceof DeferredValue && this.#decodesNow(key, value) ? value.resolve() : value;
    this.#write(
      key,
      held as V,
      createdAt,
      timeToLiveSeconds,
      timeToIdleSeconds,
      version,
      'remote',
      now,
      slot,
      accessedAt,
    );
    return 'applied';
  }

  knownVersion(key: string): Version | undefined {
    const held = this.#heldVersion(key, this.#clock());
    const tombstone = this.#tombstones.get(key);
    if (held === undefined) return tombstone;
    return tombstone !== undefined && isNewer(tombstone, held) ? tombstone : held;
  }

  *entries(): IterableIterator<EntrySnapshot<V>> {
    const entries = this.liveEntries();
    while (entries.next()) yield entries.snapshot();
  }

  liveEntries(): EntryCursor<V> {
    if (this.disk === undefined) return new StoreCursor(this.#store, this.#clock);
    return new SnapshotCursor(heldKeys(this.disk), (key) => this.#snapshotOf(key, this.#clock()));
  }

  tombstones(): Tombstone[] {
    // Aged out now, not at this node's next sweep: see digest().
    this.#forgetAgedTombstones(this.#clock());
    return this.#tombstones.list();
  }

  digest(bucketCount: number): FoldedDigest | undefined {
    if (this.disk !== undefined) return undefined;
    // Tombstones past the retention go before a repair compares this node with a peer: left to
    // the sweeps, which run at each node's own moments, a tombstone was gone on one node and held
    // on the others for up to a sweep interval, and every round meanwhile listed its bucket's keys
    // (at two removals a second, 30,000 to 50,000 keys in five minutes where it is now hundreds).
    this.#forgetAgedTombstones(this.#clock());
    if (this.#digest === undefined) {
      this.#digest = new BucketDigest();
      this.#store.trackDigest(this.#digest);
      this.#tombstones.trackDigest(this.#digest);
    }
    return this.#digest.fold(bucketCount);
  }

  onLocalChange(listener: LocalChangeListener<V>): () => void {
    this.#localListeners = [...this.#localListeners, listener];
    return () => {
      this.#localListeners = this.#localListeners.filter((l) => l !== listener);
    };
  }

  onRemoteValue(listener: (key: string) => void): () => void {
    this.#remoteValueListeners = [...this.#remoteValueListeners, listener];
    return () => {
      this.#remoteValueListeners = this.#remoteValueListeners.filter((l) => l !== listener);
    };
  }

  setLoadCoordinator(coordinator: LoadCoordinator<V> | undefined): void {
    this.loads.coordinator = coordinator;
  }

  requireEncodableValues(reason: string, maxBytes?: number, maxDepth?: number): void {
    this.#encodableReason ??= reason;
    if (maxBytes !== undefined && maxBytes < this.#maxEncodedBytes) {
      this.#maxEncodedBytes = maxBytes;
      this.#sizeReason = reason;
    }
    if (maxDepth !== undefined && maxDepth < this.#maxEncodedDepth) {
      this.#maxEncodedDepth = maxDepth;
      this.#depthReason = reason;
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Stops the sweep, writes the idle times of the entries in memory to a persistent disk tier (so
   * TTI survives a restart), flushes and closes the disk tier, and releases the entries.
   */
  async close(): Promise<DiskCloseReport | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    this.#sweeper.stop();
    const disk = this.disk;
    try {
      if (disk === undefined) return undefined;
      let lost = 0;
      if (this.config.diskPersistent) {
        // Memory holds a subset of the disk (and the keys a failing disk dropped): write back
        // every one. What a failing disk drops now is not persisted, and is counted as such.
        const store = this.#store;
        for (let slot = 0; slot < store.top; slot++) {
          if (store.holds(slot)) lost += disk.write(store.key(slot), store.record(slot), true, this.#inMemory).length;
        }
      }
      const report = await disk.store.close();
      return lost === 0 ? report : { ...report, notPersisted: report.notPersisted + lost };
    } finally {
      this.#store.clear();
      this.#tombstones.forgetAll();
    }
  }

  // ---------------------------------------------------------------- checks

  /**
   * A key this cache can store: a string; where keys go to peers or disk as UTF-8, one that UTF-8
   * carries unchanged; and one its disk tier (if any) can hold.
   */
  checkKey(key: unknown): asserts key is string {
    this.#checkKeyType(key);
    if (!this.#travelsAsIs(key)) {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `cache "${this.name}": key ${JSON.stringify(key.slice(0, 40))} has a lone surrogate (half of a UTF-16 character), which UTF-8 cannot carry unchanged; this cache ${this.#encodableReason}`,
      );
    }
    if (this.disk !== undefined && !fitsOnDisk(key)) throw keyTooLongForDisk(this.name, key);
  }

  #checkKeyType(key: unknown): asserts key is string {
    if (typeof key !== 'string') {
      throw new MeshcacheError('E_INVALID_ARGUMENT', `cache "${this.name}": keys are strings, got ${typeof key}`);
    }
  }

  /** Whether `key` reaches peers and disk as itself: always, unless it goes as UTF-8 with a lone surrogate. */
  #travelsAsIs(key: string): boolean {
    return this.#encodableReason === undefined || isWellFormed(key);
  }

  checkValue(key: string, value: unknown): void {
    if (value === undefined) {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `cache "${this.name}": cannot store undefined under key "${key}" (remove the key instead)`,
      );
    }
    if (this.#encodableReason === undefined) return;
    // The key travels with the value: what it could take (three bytes a unit) comes off the bound.
    const problem = findEncodingProblem(value, this.#maxEncodedBytes, this.#maxEncodedDepth, 3 * key.length);
    if (problem?.tooLarge) {
      throw new ValueNotEncodableError(this.name, key, problem.path, problem.problem, this.#sizeReason, {
        bytes: this.#maxEncodedBytes,
      });
    }
    if (problem?.tooDeep) {
      throw new ValueNotEncodableError(this.name, key, problem.path, problem.problem, this.#depthReason, {
        depth: this.#maxEncodedDepth,
      });
    }
    if (problem !== undefined) {
      throw new ValueNotEncodableError(this.name, key, problem.path, problem.problem, this.#encodableReason);
    }
  }

  warn(details: object, message: string): void {
    this.#logger.warn(details, message);
  }

  closedError(): MeshcacheError {
    return new MeshcacheError(
      'E_CACHE_CLOSED',
      `cache "${this.name}" is closed (its CacheManager was shut down or the cache removed)`,
    );
  }

  #throwClosed(): never {
    throw this.closedError();
  }

  // ---------------------------------------------------------------- internals

  /**
   * Fires a change: replication's listeners first, then the user's events. In that order a change
   * that a user's listener makes in answer (a remove on put, say) reaches replication after the
   * change that caused it, as it happened.
   */
  #emit(
    type: CacheEventType,
    origin: EventOrigin,
    key: string | undefined,
    value: V | undefined,
    version: Version | undefined,
    createdAt = 0,
    timeToLiveSeconds = 0,
    timeToIdleSeconds = 0,
    slot = -1,
  ): void {
    this.#generation++;
    if (origin === 'local') {
      this.#tellLocal(type, key, value, version, createdAt, timeToLiveSeconds, timeToIdleSeconds, slot);
    } else if (key !== undefined && (type === 'put' || type === 'update')) {
      const listeners = this.#remoteValueListeners;
      for (let i = 0; i < listeners.length; i++) (listeners[i] as (key: string) => void)(key);
    }
    this.#events.emit(type, origin, key, value, version);
  }

  #write(
    key: string,
    value: V,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
    version: Version | undefined,
    origin: EventOrigin,
    now: number,
    slot = this.#store.slotOf(key),
    /** When the entry was last read or written, for its idle time: a peer's write's own time (applyPut). */
    accessedAt = now,
  ): void {
    // First: the estimate reads the value (a getter that throws), and nothing may have changed
    // when it fails; it failed after an expired entry's expire had fired and the entry had left.
    const bytes = this.#bytes(key, value);
    // A listener of an earlier victim of a write under way writes a key that write also evicted:
    // that victim is reported first (its listeners may write or remove the key: theirs stands).
    // Untouched by the report: this write touches the key next, for every write of it under way.
    if (this.#evictedCount > 0 && this.#watching(key, () => this.#reportWaiting(false, key))) return;
    this.#touch(key);
    const store = this.#store;
    // With a disk tier, a key not in memory may still be held on disk.
    let onDisk = slot < 0 && this.disk !== undefined ? this.disk.read(key) : undefined;
    if (origin === 'local' && version !== undefined) version = this.#newerThanHeld(version, slot, onDisk);
    const heldLive = slot >= 0 ? !store.isExpired(slot, now) : onDisk !== undefined && !isRecordExpired(onDisk, now);
    if (!heldLive && (slot >= 0 || onDisk !== undefined)) {
      // The entry this write replaces has expired: it leaves both tiers and fires expire before
      // anything of this write is stored, so that its listeners find the key absent. Should one
      // of them write or remove the key, that change is the later one (the guarantee above) and
      // this write ends here.
      let expiredValue: V;
      let expiredVersion: Version | undefined;
      if (slot >= 0) {
        expiredValue = this.#eventValue(slot, 'expire', origin);
        expiredVersion = store.version(slot);
        store.delete(key);
      } else {
        expiredValue = (onDisk as DiskRecord<V>).value;
        expiredVersion = (onDisk as DiskRecord<V>).version;
      }
      if (this.#watching(key, () => this.#expired(key, expiredValue, expiredVersion, origin))) return;
      slot = -1;
      onDisk = undefined;
    }
    // The disk before memory: if the record cannot be written, nothing more has changed.
    const leftDisk =
      this.disk?.write(
        key,
        { value, createdAt, lastAccessedAt: accessedAt, timeToLiveSeconds, timeToIdleSeconds, version },
        slot >= 0 || onDisk !== undefined, // memory holds a subset of the disk
        this.#inMemory,
      ) ?? NOTHING_LEFT;
    // A write over a live entry rewrites its slot: recency, FIFO position and LFU count as for a new entry.
    this.#writeNow = now;
    // A value larger than the whole byte bound never enters memory: entering, it would evict
    // entries under the count bound for nothing.
    const fits = store.fits(bytes);
    // The slot looked up above is still the key's: an expired entry's listeners that touched the key ended this write.
    let held = -1;
    // Stale values kept for stale-if-error give way to it first, this key's own (it ends it) first of all (loads.ts).
    if (fits && this.loads.staleSize > 0)
      this.loads.makeRoom(slot < 0 ? 1 : 0, slot < 0 ? bytes : bytes - store.bytesOf(slot), key);
    if (fits)
      held = store.write(key, value, createdAt, accessedAt, timeToLiveSeconds, timeToIdleSeconds, version, bytes, slot);
    else if (heldLive && slot >= 0) store.delete(key); // the value it replaces
    if (this.#tombstones.size > 0) this.#tombstones.forget(key);
    // Stored, the write would have ended what lingers of the key in the digest (BucketDigest.linger);
    // too large for memory it stores nothing, yet it replaces the peers' copies all the same.
    if (!fits) this.#digest?.endLingering(key);
    this.loads.overtake(key);
    // The victims' evict (or expire) listeners run before this write's own event, and may write
    // or remove this very key: their change is the later one and stands, and this write ends
    // without an event, as for an expired entry's listeners above. Announced after theirs, its
    // put reached listeners and peers after the listener's remove, and they kept a key this
    // cache no longer held.
    // Every put into a full cache comes here: watched without a closure (#watching's), which
    // would be one more object for the collector a put.
    if (leftDisk.length > 0 || this.#evictedCount > 0) {
      const depth = this.#watch(key);
      let touched = false;
      try {
        if (leftDisk.length > 0) this.#evictFromDisk(leftDisk);
        if (this.#evictedCount > 0) this.#reportEvictions();
      } finally {
        touched = this.#watched(depth);
      }
      if (touched) return;
    }
    if (heldLive) {
      this.#updates++;
      this.#emit('update', origin, key, value, version, createdAt, timeToLiveSeconds, timeToIdleSeconds, held);
    } else {
      this.#puts++;
      this.#emit('put', origin, key, value, version, createdAt, timeToLiveSeconds, timeToIdleSeconds, held);
    }
    if (!fits) this.#tooLargeForMemory(key, value, version);
  }

  /**
   * A value larger than maxBytesLocalHeap by itself: the write happened (its event fired), but
   * memory cannot hold it. With overflowToDisk it stays on disk only, as any entry evicted from
   * memory does; without, it leaves the cache at once, for lack of room: `evict`.
   */
  #tooLargeForMemory(key: string, value: V, version: Version | undefined): void {
    if (this.#store.slotOf(key) >= 0) return; // a listener wrote the key again meanwhile
    const disk = this.disk;
    // On disk only, as any entry evicted from memory is; unless the disk could not keep it (a
    // degraded disk drops writes): then it leaves, as without a disk.
    if (disk !== undefined && this.#overflow && disk.read(key) !== undefined) return;
    disk?.remove(key);
    this.#evictions++;
    this.#emit('evict', 'local', key, value, version);
  }

  /**
   * Runs `emit` (the listeners of an event of `key`) and says whether any of them wrote or removed
   * `key` meanwhile, directly or through writes of their own that fired more listeners.
   */
  #watching(key: string, emit: () => void): boolean {
    const depth = this.#watch(key);
    let touched = false;
    try {
      emit();
    } finally {
      touched = this.#watched(depth);
    }
    return touched;
  }

  /** Starts watching `key` for writes and removals (#touch); answers the depth to end it at. */
  #watch(key: string): number {
    const depth = this.#watchDepth++;
    this.#watchedKeys[depth] = key;
    this.#touchedKeys[depth] = false;
    return depth;
  }

  /**
   * Ends the watch #watch(key) began at `depth`, and those begun inside it; answers whether the
   * key was written or removed meanwhile. Called also when a listener threw (in a finally).
   */
  #watched(depth: number): boolean {
    const touched = this.#touchedKeys[depth] === true;
    // The keys are the cache's, not these lists' to keep alive.
    for (let i = depth; i < this.#watchDepth; i++) this.#watchedKeys[i] = '';
    this.#watchDepth = depth;
    return touched;
  }

  /** Notes a write or removal of `key` (undefined: of every key) for each #watching of it under way. */
  #touch(key: string | undefined): void {
    const watched = this.#watchedKeys;
    for (let i = 0; i < this.#watchDepth; i++) if (key === undefined || watched[i] === key) this.#touchedKeys[i] = true;
  }

  /** The entry's estimated size, when the store has a byte bound (maxBytesLocalHeap); else 0. */
  #bytes(key: string, value: V): number {
    return this.#store.byteBounded ? entryBytes(key, value) : 0;
  }

  #removeKey(
    key: string,
    version: Version | undefined,
    origin: EventOrigin,
    now: number,
    tombstone = true,
    taught = false,
  ): boolean {
    if (this.#evictedCount > 0) this.#reportWaiting(false, key);
    this.#touch(key);
    const store = this.#store;
    const slot = store.slotOf(key);
    let live = false;
    let removed: V | undefined;
    if (slot >= 0) {
      if (origin === 'local' && version !== undefined) version = this.#newerThanHeld(version, slot, undefined);
      live = !store.isExpired(slot, now);
      if (live) removed = this.#eventValue(slot, 'remove', origin);
      store.delete(key);
    } else if (this.disk !== undefined) {
      const record = this.disk.read(key);
      if (origin === 'local' && version !== undefined) version = this.#newerThanHeld(version, slot, record);
      live = record !== undefined && !isRecordExpired(record, now);
      if (live) removed = record?.value;
    }
    this.disk?.remove(key);
    if (version !== undefined && tombstone) this.#tombstones.remember(key, version, now, origin === 'remote', taught);
    this.loads.overtake(key);
    if (live) this.#removals++;
    this.#emit('remove', origin, key, removed, version, 0, 0, 0, slot);
    return live;
  }

  /**
   * `version`, stamped for a local write or removal of the entry in `slot` (or `onDisk`), unless
   * the entry's own version is not older: then one newer than both. The version clock is moved on
   * by every version it receives from peers, so this happens only for a version it never saw: one
   * a persistent disk kept across a restart after which the wall clock stood earlier (stepped back,
   * or a host whose clock was ahead). Stamped older, the write lost to what it replaced on every
   * peer, and a repair brought the replaced value back here too.
   */
  #newerThanHeld(version: Version, slot: number, onDisk: DiskRecord<V> | undefined): Version {
    // In memory, compared in the store's columns: the held version is made only when it is needed.
    if (slot >= 0)
      return this.#store.compareVersion(slot, version) >= 0
        ? this.#stampAfter(this.#store.version(slot) as Version)
        : version;
    const held = onDisk?.version;
    return held !== undefined && !isNewer(version, held) ? this.#stampAfter(held) : version;
  }

  /** A version from the version clock newer than `held` (called only where a version was stamped, so the clock is set). */
  #stampAfter(held: Version): Version {
    return (this.#versionClock as (after?: Version) => Version)(held);
  }

  /**
   * `version`, stamped for a local removeAll, unless an entry held is not older: then one newer
   * than every entry held, as #newerThanHeld for one key. Stamped older, the clear passed nothing
   * a persistent disk kept across a restart on the peers (a remote clear removes only what is
   * older), and their repairs brought those entries back here. A scan of memory, and of a
   * persistent disk's records once (#diskUnseen): only there can a version be one the clock never saw.
   */
  #newerThanAllHeld(version: Version): Version {
    let newest = version;
    let held = false;
    const store = this.#store;
    for (let slot = 0; slot < store.top; slot++) {
      if (store.holds(slot) && store.compareVersion(slot, newest) >= 0) {
        newest = store.version(slot) as Version;
        held = true;
      }
    }
    if (this.disk !== undefined && this.#diskUnseen) {
      this.#diskUnseen = false;
      for (const [, record] of this.disk.records()) {
        if (record.version !== undefined && !isNewer(newest, record.version)) {
          newest = record.version;
          held = true;
        }
      }
    }
    return held ? this.#stampAfter(newest) : version;
  }

  #clearAll(version: Version | undefined, origin: EventOrigin): void {
    // Victims still waiting (a listener of one clears the cache) left before the clear: reported
    // after it, a victim moved to disk was written back and outlived the clear.
    this.#reportWaiting(false);
    this.#touch(undefined);
    if (version === undefined || origin === 'local') {
      if (version !== undefined) version = this.#newerThanAllHeld(version);
      this.#store.clear();
      this.disk?.clear();
      this.#tombstones.forgetAll();
    } else {
      // A remote clear removes only what is older than it: a write made elsewhere after the
      // clear (a newer version) survives, as it does on the node that made it.
      const olderThanClear = (held: Version | undefined) => held === undefined || !isNewer(held, version);
      const store = this.#store;
      const cleared: string[] = [];
      for (let slot = 0; slot < store.top; slot++) {
        if (store.holds(slot) && store.compareVersion(slot, version) <= 0) cleared.push(store.key(slot));
      }
      for (const key of cleared) {
        store.delete(key);
        if (this.disk?.isMemoryOnly(key)) this.disk.remove(key);
      }
      if (this.disk !== undefined) {
        // The keys first, record by record, then the removals: not a list of every record (the
        // whole store in memory at once, as evictExpiredElements held it).
        const older: string[] = [];
        for (const [key, record] of this.disk.records()) if (olderThanClear(record.version)) older.push(key);
        for (const key of older) this.disk.remove(key);
      }
      this.#tombstones.forgetNotNewerThan(version);
      // The peers' unswept copies of what lingers here go with the clear too (the clearer's
      // own digest forgot its lingering items): kept, they made this digest differ until the sweep.
      this.#digest?.forgetLingering(version);
    }
    if (version !== undefined) this.#clearVersion = version;
    this.loads.overtakeAll();
    this.#emit('removeAll', origin, undefined, undefined, version);
  }

  /** Forgets the tombstones past the retention; the digest changed if any went, so the generation moves. */
  #forgetAgedTombstones(now: number): void {
    if (this.#tombstones.prune(now) > 0) this.#generation++;
  }

  /** Whether the key is held in neither tier (`slot`: its memory slot, or -1, as #slotIfNewer answers it). */
  #heldNowhere(key: string, slot: number): boolean {
    return slot < 0 && this.disk?.has(key) !== true;
  }

  /**
   * The key's memory slot (or -1) when `version` is newer than all this cache knows of the key,
   * else STALE: the lookup a remote put must make anyway, handed on so the write makes no second.
   */
  #slotIfNewer(key: string, version: Version): number {
    const slot = this.#store.slotOf(key);
    if (slot >= 0) {
      if (this.#store.compareVersion(slot, version) >= 0) return STALE;
    } else if (this.disk !== undefined) {
      const record = this.disk.read(key);
      if (record !== undefined && !isNewer(version, record.version)) return STALE;
    }
    const tombstone = this.#tombstones.get(key);
    if (tombstone !== undefined && !isNewer(version, tombstone)) return STALE;
    return this.#clearVersion === undefined || isNewer(version, this.#clearVersion) ? slot : STALE;
  }

  /**
   * Whether a peer's value is decoded as it is written rather than held as it came: where
   * something reads it at once (a disk tier writes it; a listener of a peer's puts is handed it:
   * write() hands a held one to no one else; a listener of local puts only never hears it), and
   * where its bytes would not fit the byte bound while its characters might (text that is not
   * ASCII weighs less decoded).
   */
  #decodesNow(key: string, value: DeferredValue<V>): boolean {
    if (this.disk !== undefined || this.#events.has('put', 'remote') || this.#events.has('update', 'remote'))
      return true;
    return this.#store.byteBounded && !this.#store.fits(entryBytes(key, value));
  }

  /**
   * A held value as the `type` event of its leaving needs it: a value a peer sent and nothing read
   * yet is left undecoded (undefined) where no listener of `type` (of `origin`, where the event's
   * is known here) would hear it; replication's own listeners never read a value that leaves.
   */
  #eventValue(slot: number, type: CacheEventType, origin?: EventOrigin): V {
    const store = this.#store;
    return (this.#events.has(type, origin) ? store.value(slot) : store.valueIfDecoded(slot)) as V;
  }

  /**
   * Expires the entry in `slot`. `sweptAt`: the sweep found it, at that time; if its TTL had run
   * out by then, the local listeners hear its createdAt and TTL with the expiry (replica-port.ts).
   */
  #expireHeld(key: string, slot: number, sweptAt?: number): void {
    const store = this.#store;
    const value = this.#eventValue(slot, 'expire');
    const version = store.version(slot);
    const createdAt = store.createdAt(slot);
    const ttl = store.timeToLiveSeconds(slot);
    const lived = sweptAt !== undefined && ttl > 0 && sweptAt > createdAt + ttl * 1000;
    store.delete(key, sweptAt === undefined && this.#lingerReadExpiries);
    this.#expired(key, value, version, 'local', slot, lived ? createdAt : 0, lived ? ttl : 0);
  }

  /**
   * An entry found expired and already out of memory (`slot`: the memory slot it was held in, or
   * -1): its disk record goes, and `expire` fires.
   */
  #expired(
    key: string,
    value: V,
    version: Version | undefined,
    origin: EventOrigin,
    slot = -1,
    createdAt = 0,
    timeToLiveSeconds = 0,
  ): void {
    this.disk?.remove(key);
    this.#expirations++;
    this.#emit('expire', origin, key, value, version, createdAt, timeToLiveSeconds, 0, slot);
  }

  /**
   * A key moved from memory to the disk tier, still held: no event fires, but local listeners hear
   * an 'evict' of its slot, with no value or version (the slot is let go: replica-port.ts).
   */
  #leftMemory(key: string, slot: number): void {
    this.#tellLocal('evict', key, undefined, undefined, 0, 0, 0, slot);
  }

  /** The local-change listeners (replication) hear a change made here (replica-port.ts). */
  readonly #tellLocal: LocalChangeListener<V> = (type, key, value, version, createdAt, ttl, tti, slot) => {
    const listeners = this.#localListeners;
    for (let i = 0; i < listeners.length; i++) {
      (listeners[i] as LocalChangeListener<V>)(type, key, value, version, createdAt, ttl, tti, slot);
    }
  };

  /** A victim of the store's bounds, while its slot still holds it: what the report needs is copied out. */
  readonly #onEvict = (slot: number, key: string): void => {
    const store = this.#store;
    const expired = store.isExpired(slot, this.#writeNow);
    const i = this.#evictedCount++;
    this.#evictedKeys[i] = key;
    // An expired victim is reported as an expiry, any other as an eviction.
    this.#evictedValues[i] = this.#eventValue(slot, expired ? 'expire' : 'evict');
    this.#evictedVersions[i] = store.isVersioned(slot) ? store.version(slot) : undefined;
    this.#evictedExpired[i] = expired;
    this.#evictedSlots[i] = slot;
    const disk = this.disk;
    // Written to disk as it leaves memory: a record the disk dropped, and an entry with a time to
    // idle that was read since its record was written (its idle clock moved in memory only; the
    // record's would expire it early).
    this.#evictedRecords[i] =
      !expired &&
      disk !== undefined &&
      this.#overflow &&
      (disk.isMemoryOnly(key) ||
        (store.timeToIdleSeconds(slot) > 0 && store.lastAccessedAt(slot) > store.createdAt(slot)))
        ? store.record(slot)
        : undefined;
  };

  #reportEvictions(): void {
    // A listener may write, and that write may evict more: those victims are appended to the same
    // lists and picked up by this loop, never reported twice by a nested call.
    if (this.#reportingEvictions) return;
    this.#reportingEvictions = true;
    const keys = this.#evictedKeys;
    try {
      this.#reportWaiting(true);
    } finally {
      // What the victims held is let go: the lists must not keep it alive.
      for (let i = 0; i < this.#evictedCount; i++) {
        keys[i] = '';
        this.#evictedValues[i] = undefined;
        this.#evictedVersions[i] = undefined;
        this.#evictedRecords[i] = undefined;
        this.#evictedReported[i] = false;
      }
      this.#evictedCount = 0;
      this.#reportingEvictions = false;
      // Cleared only when it holds something: a Set's clear() makes a new table, 120 bytes an
      // evicting put for the collector when it ran on every report.
      if (this.#leftCache.size > 0) this.#leftCache.clear();
    }
  }

  /**
   * Reports the victims in the lists not reported yet, or only those of `key`. Of `key`: ahead of
   * a write, read or removal of the key by a listener of an earlier victim, so that its evict comes
   * before that change's event, and its disk record leaves (or, moved to disk, is written) before
   * the change's record is written, not after. Reported later, its evict followed the listener's
   * put of the key, which stayed held, and its removal or stale record undid the listener's record
   * on disk. A victim reported here is skipped by the report of the write that evicted it. The
   * lists may grow meanwhile (a listener's write evicts more): those are reported too.
   */
  #reportWaiting(touch: boolean, key?: string): void {
    for (let i = 0; i < this.#evictedCount; i++) {
      if (this.#evictedReported[i] === true || (key !== undefined && this.#evictedKeys[i] !== key)) continue;
      this.#evictedReported[i] = true;
      this.#reportVictim(i, touch);
    }
  }

  /**
   * Reports the victim at `i` in the lists: an expiry, a move to disk, or an eviction; one that
   * left the cache counts as a change of its key for the writes of it under way (`touch`).
   */
  #reportVictim(i: number, touch = true): void {
    const key = this.#evictedKeys[i] as string;
    const value = this.#evictedValues[i] as V;
    const version = this.#evictedVersions[i];
    // The disk's own bound took it out of the whole cache in this same write (and said so):
    // reported again it fired a second evict, or, written back to disk, it stayed held.
    if (this.#leftCache.has(key)) return;
    const slot = this.#evictedSlots[i] as number;
    // Left the cache (unless it only moved to disk): a write of the key under way, whose
    // victims were reported here by a write of a listener, must not announce it afterwards.
    if (touch && (this.#evictedExpired[i] === true || this.disk === undefined || !this.#overflow)) this.#touch(key);
    if (this.#evictedExpired[i] === true) {
      this.#expired(key, value, version, 'local', slot);
    } else if (this.disk !== undefined && this.#overflow) {
      this.#leftMemory(key, slot);
      // Moved, not gone: the disk holds every entry, and the next read promotes it again;
      // but for one a failing disk dropped, which goes to disk now or leaves the cache.
      const record = this.#evictedRecords[i];
      if (record !== undefined) {
        const left = this.disk.write(key, record, !this.disk.isMemoryOnly(key), this.#inMemory, false);
        if (left.length > 0) this.#evictFromDisk(left);
      }
    } else {
      this.disk?.remove(key);
      this.#evictions++;
      this.#emit('evict', 'local', key, value, version, 0, 0, 0, slot);
    }
  }

  /** Entries the full disk tier pushed out: they leave the cache entirely. */
  #evictFromDisk(left: Array<[string, DiskRecord<V>]>): void {
    const now = this.#clock();
    for (const [key, record] of left) {
      if (this.#evictedCount > 0) this.#leftCache.add(key); // for #reportEvictions, which clears it
      this.#touch(key);
      this.#store.delete(key);
      // As for memory's victims: one that had expired already is an expiry, not an eviction.
      if (isRecordExpired(record, now)) {
        this.#expirations++;
        this.#emit('expire', 'local', key, record.value, record.version);
        continue;
      }
      this.#evictions++;
      this.#emit('evict', 'local', key, record.value, record.version);
    }
  }

  readonly #inMemory = (key: string): boolean => this.#store.has(key);
  /** Keys the disk's bound evicted from the whole cache while memory victims wait to be reported. */
  readonly #leftCache = new Set<string>();
}
