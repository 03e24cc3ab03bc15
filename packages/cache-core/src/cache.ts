/**
 * The cache engine: one named cache, its memory store, expiry, events and statistics.
 *
 * Model. Each entry records when it was created and last read on this node, its own TTL and TTI
 * (the cache's, unless the put named others) and, when replication is on, the version of the
 * write that made it. The memory store is the eviction policy (LRU, LFU or FIFO), exact rather
 * than sampled.
 *
 * Guarantees.
 * - get() is synchronous and allocates nothing on a hit: a store lookup, two comparisons against
 *   precomputed deadlines, a timestamp write and a counter increment.
 * - An expired entry is never returned. Expiry is found lazily (by get, put, has, keys, ...)
 *   and by a periodic sweep (diskExpiryThreadIntervalSeconds), which fires `expire` and frees
 *   the memory with no read needed. Ehcache does not sweep its heap; meshcache does, because a
 *   gateway's response cache otherwise holds dead bodies until something evicts them.
 * - Every entry that leaves for lack of room fires exactly one `evict`; one that is chosen as the
 *   victim but had already expired fires `expire` instead.
 * - Events fire synchronously after the change they describe, in order. Listeners may call back
 *   into the cache: evictions are collected during the store write and reported after it.
 * - getOrLoad runs one loader per key at a time. A failed load is never cached. A load that a
 *   write, remove or removeAll overtook still answers its callers but is not stored, so a
 *   revocation that happens mid-load is not undone by the load finishing.
 * - A remote change (applyRemote) is applied only when its version is newer than everything this
 *   cache knows about the key: the held entry, the key's tombstone, and the last removeAll.
 * - Tombstones are bounded in age (tombstoneRetentionSeconds) and in count (maxTombstones): past
 *   the count the oldest is forgotten first, in O(1) (an intrusive list in removal order, not a
 *   Map's first key: V8 keeps deleted Map slots until a rehash, and scanning past them under
 *   churn goes quadratic). A forgotten tombstone, by age or by count, no longer refuses an older
 *   write of its key from a peer that was away; statistics count the ones forgotten by count.
 *
 * Not guaranteed. size counts entries held, which can include expired ones not yet found (as in
 * Ehcache). Statistics are plain counters, not a consistent snapshot across fields.
 */

import type { Clock } from './clock.js';
import type { EntryOptions, Lifespan, ResolvedCacheConfig } from './config.js';
import { hasLoadSubscribers, type LoadTrace, loadChannel } from './diagnostics.js';
import type { DiskCloseReport, DiskRecord } from './disk/disk-store.js';
import { type DiskTier, entryOf, isRecordExpired, recordOf } from './disk/disk-tier.js';
import { findEncodingProblem } from './encodable.js';
import { type Entry, type EntrySnapshot, expiresAt, isExpired, makeEntry, rewriteEntry, snapshotOf } from './entry.js';
import { MeshcacheError, ValueNotEncodableError } from './errors.js';
import { type CacheEventListener, type CacheEventType, EventHub, type EventOrigin } from './events.js';
import { cacheLifespan, entryLifespan } from './expiry.js';
import type { Logger } from './logger.js';
import { createMemoryStore, type EvictionPolicy } from './policy/index.js';
import { LinkedList, type ListNode } from './policy/linked-list.js';
import type { Cancel, Scheduler } from './scheduler.js';
import type { CacheStatistics } from './statistics.js';
import { compareVersions, isNewer, type Version } from './version.js';

/** What a cache needs from its manager. */
export interface CacheContext {
  readonly clock: Clock;
  /** Timers: the expiry sweep, and the turns a disk sweep yields between slices. */
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** Stamps local writes when replication is on; absent, local entries are unversioned. */
  readonly versionClock: (() => Version) | undefined;
  readonly tombstoneRetentionMillis: number;
  /** Most tombstones kept; past it the oldest is forgotten first. */
  readonly maxTombstones: number;
  /** The cache's disk tier, when it has one (overflowToDisk or diskPersistent). */
  readonly disk?: DiskTier<unknown> | undefined;
}

export interface GetOrLoadOptions<V = unknown> extends EntryOptions {
  /**
   * When the loader fails and this cache still holds the key's value that expired no more than
   * this many seconds ago, answer with that stale value instead of the error (RFC 5861's
   * stale-if-error). The stale value is not stored again. 0 = off. @default 0
   */
  staleIfErrorSeconds?: number;
  /**
   * The loaded value's own lifespan, from the value itself (a token's expires_in, a response's
   * max-age): its options replace the ones above for this entry. Return {} to keep them.
   */
  lifespanOf?: (value: V) => EntryOptions;
}

/**
 * Coordinates a cache's loads beyond this process (replication's cluster-wide single flight).
 * getOrLoad calls it when it must load a key: it either runs `loadHere` (this node's loader) or
 * waits for the key's value to arrive from a peer, and says which.
 */
export interface LoadCoordinator<V> {
  coordinate(key: string, loadHere: () => Promise<V>): Promise<{ readonly value: V; readonly fromPeer: boolean }>;
}

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
  | { readonly type: 'remove'; readonly key: string; readonly version: Version }
  /** Remove the key only if this cache still holds exactly that version (a newer put survives). */
  | { readonly type: 'expire'; readonly key: string; readonly version: Version }
  | { readonly type: 'removeAll'; readonly version: Version };

/** applied: the cache changed. stale: the cache already knew something newer; nothing changed. */
export type ApplyOutcome = 'applied' | 'stale';

export interface Tombstone {
  readonly key: string;
  readonly version: Version;
}

const MAX_SPARE_ENTRIES = 64;
/** Disk records the periodic sweep reads per event-loop turn. */
const DISK_SWEEP_SLICE = 1000;
const NOTHING_LEFT: Array<[string, DiskRecord<never>]> = [];

interface InFlightLoad<V> {
  readonly promise: Promise<V>;
  /** Set when a write or removal of the key overtook the load: its result is then not stored. */
  overtaken: boolean;
}

/** A removed key's tombstone, linked into the list of tombstones in removal order. */
interface TombstoneNode extends ListNode<TombstoneNode> {
  readonly key: string;
  version: Version;
  removedAt: number;
}

export class Cache<V = unknown> {
  readonly name: string;
  readonly config: ResolvedCacheConfig;

  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #versionClock: (() => Version) | undefined;
  readonly #tombstoneRetentionMillis: number;
  readonly #maxTombstones: number;
  readonly #lifespan: Lifespan;
  readonly #events: EventHub<V>;
  readonly #store: EvictionPolicy<Entry<V>>;
  /** Victims reported by the store during a write; handled once the write is complete. */
  readonly #evicted: Array<string | Entry<V>> = [];
  /** Records of evicted entries, kept for reuse (see #reportEvictions). */
  readonly #spare: Entry<V>[] = [];
  readonly #loads = new Map<string, InFlightLoad<V>>();
  #loadCoordinator: LoadCoordinator<V> | undefined;
  readonly #tombstones = new Map<string, TombstoneNode>();
  /** The same tombstones, oldest removal first: the age sweep and the count bound take from the head. */
  readonly #tombstoneOrder = new LinkedList<TombstoneNode>();
  #warnedTombstoneBound = false;
  #clearVersion: Version | undefined;
  #encodableReason: string | undefined;
  #sweepTimer: Cancel | undefined;
  readonly #scheduler: Scheduler;
  #closed = false;
  #reportingEvictions = false;
  #sweepingDisk = false;
  readonly #disk: DiskTier<V> | undefined;
  /** Whether an entry evicted from memory stays on disk (overflowToDisk) or leaves the cache. */
  readonly #overflow: boolean;

  #memoryHits = 0;
  #diskHits = 0;
  #misses = 0;
  /** Of the misses, those that found the key held but expired (Ehcache's cacheMissExpired). */
  #expiredMisses = 0;
  #puts = 0;
  #updates = 0;
  #removals = 0;
  #evictions = 0;
  #expirations = 0;
  #loadCount = 0;
  #loadFailures = 0;
  #tombstonesDropped = 0;

  /** @internal Caches are made by CacheManager.addCache. */
  constructor(name: string, config: ResolvedCacheConfig, context: CacheContext) {
    this.name = name;
    this.config = config;
    this.#clock = context.clock;
    this.#scheduler = context.scheduler;
    this.#logger = context.logger;
    this.#versionClock = context.versionClock;
    this.#tombstoneRetentionMillis = context.tombstoneRetentionMillis;
    this.#maxTombstones = context.maxTombstones;
    this.#lifespan = cacheLifespan(config);
    this.#events = new EventHub<V>(name, context.logger);
    this.#store = createMemoryStore<Entry<V>>(
      config.memoryStoreEvictionPolicy,
      config.maxElementsInMemory,
      (key, entry) => {
        this.#evicted.push(key, entry);
      },
    );
    this.#disk = context.disk as DiskTier<V> | undefined;
    this.#overflow = config.overflowToDisk;
    if (this.#disk !== undefined) this.requireEncodableValues('has a disk tier');
    this.#sweepTimer = this.#scheduler.setInterval(
      () => this.#sweepSafely(),
      config.diskExpiryThreadIntervalSeconds * 1000,
    );
  }

  // ---------------------------------------------------------------- reads

  /** An access: returns the live value, updates recency, frequency and idle time, counts a hit or a miss. */
  get(key: string): V | undefined {
    if (this.#closed) this.#throwClosed();
    const entry = this.#store.get(key);
    if (entry !== undefined) {
      const now = this.#clock();
      if (now <= entry.ttlDeadline && now <= entry.lastAccessedAt + entry.ttiMillis) {
        entry.lastAccessedAt = now;
        this.#memoryHits++;
        return entry.value;
      }
      this.#expireHeld(key, entry);
      this.#expiredMisses++;
    } else if (this.#disk !== undefined) {
      return this.#readDisk(key, this.#disk);
    }
    this.#misses++;
    return undefined;
  }

  /** A memory miss on a cache with a disk tier: a synchronous disk read, promoted to memory on a hit. */
  #readDisk(key: string, disk: DiskTier<V>): V | undefined {
    const record = disk.read(key);
    if (record !== undefined) {
      const now = this.#clock();
      if (!isRecordExpired(record, now)) {
        this.#diskHits++;
        this.#store.set(key, entryOf(record, now));
        if (this.#evicted.length > 0) this.#reportEvictions(now);
        return record.value;
      }
      this.#expired(key, record.value, record.version, 'local');
      this.#expiredMisses++;
    }
    this.#misses++;
    return undefined;
  }

  /** Whether a live entry is held. Not an access: changes no order, idle time or statistics. */
  has(key: string): boolean {
    if (this.#closed) this.#throwClosed();
    const entry = this.#quietEntry(key);
    return entry !== undefined && !isExpired(entry, this.#clock());
  }

  /** Keys of live entries. Quiet. */
  keys(): string[] {
    if (this.#closed) this.#throwClosed();
    const now = this.#clock();
    const keys: string[] = [];
    if (this.#disk === undefined) {
      for (const [key, entry] of this.#store.entries()) if (!isExpired(entry, now)) keys.push(key);
      return keys;
    }
    // The disk holds every entry (but those a failing disk dropped, held in memory only);
    // memory holds fresher idle times for the hot ones.
    for (const key of this.#heldKeys(this.#disk)) {
      const entry = this.#quietEntry(key);
      if (entry !== undefined && !isExpired(entry, now)) keys.push(key);
    }
    return keys;
  }

  /** Entries held (memory + disk), including expired ones not yet found, as in Ehcache. */
  get size(): number {
    return this.#disk === undefined ? this.#store.size : this.#disk.size + this.#disk.memoryOnlySize;
  }

  /** Every key a cache with a disk tier holds: the disk's, and those held in memory only. */
  #heldKeys(disk: DiskTier<V>): string[] {
    const keys = [...disk.keys()];
    if (disk.memoryOnlySize > 0) keys.push(...disk.memoryOnlyKeys());
    return keys;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Stores a value. The entry is created anew (new createdAt); options replace the cache's
   * expiry settings for this entry. Fires `put` for a new key, `update` for a held one.
   */
  put(key: string, value: V, options?: EntryOptions): void {
    if (this.#closed) this.#throwClosed();
    this.#checkKey(key);
    this.#checkValue(key, value);
    const lifespan = entryLifespan(this.name, this.#lifespan, options);
    const now = this.#clock();
    this.#write(key, value, now, lifespan, this.#versionClock?.(), 'local', now);
  }

  /** Removes a key. Fires `remove` even when the key was absent (peers may hold it). */
  remove(key: string): boolean {
    if (this.#closed) this.#throwClosed();
    this.#checkKey(key);
    const now = this.#clock();
    return this.#removeKey(key, this.#versionClock?.(), 'local', now);
  }

  /** Empties the cache. Fires one `removeAll`, no per-entry events. */
  removeAll(): void {
    if (this.#closed) this.#throwClosed();
    this.#clearAll(this.#versionClock?.(), 'local');
  }

  /**
   * The value for a key, loading it on a miss. One loader call per key at a time: concurrent
   * callers share it. A rejected load is not cached and reaches every waiting caller. A loader
   * that resolves to undefined caches nothing and answers undefined.
   */
  getOrLoad(key: string, loader: (key: string) => Promise<V> | V, options?: GetOrLoadOptions<V>): Promise<V> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const staleWindow = options?.staleIfErrorSeconds ?? 0;
    const held = staleWindow > 0 ? this.#store.peek(key) : undefined;
    // Copied out, not kept as the record: records are recycled once they leave the store.
    const stale = held === undefined ? undefined : { value: held.value, until: expiresAt(held) + staleWindow * 1000 };
    const value = this.get(key);
    if (value !== undefined) return Promise.resolve(value);
    const inFlight = this.#loads.get(key);
    if (inFlight !== undefined) return inFlight.promise;
    this.#checkKey(key);
    const lifespan = entryLifespan(this.name, this.#lifespan, options);
    const load: InFlightLoad<V> = { promise: undefined as unknown as Promise<V>, overtaken: false };
    this.#loadCount++;
    const coordinator = this.#loadCoordinator;
    // Built only when someone listens on `meshcache:load` (diagnostics.ts).
    const trace: LoadTrace | undefined = hasLoadSubscribers()
      ? { cache: this.name, key, answeredBy: undefined, stale: false }
      : undefined;
    const run = async (): Promise<V> => {
      try {
        let loaded: V;
        if (coordinator === undefined) {
          loaded = await loader(key);
        } else {
          const outcome = await coordinator.coordinate(key, async () => loader(key));
          // A value that arrived from a peer is held already (and newer than anything we'd stamp).
          if (outcome.fromPeer) {
            if (trace !== undefined) trace.answeredBy = 'peer';
            return outcome.value;
          }
          loaded = outcome.value;
        }
        if (trace !== undefined) trace.answeredBy = 'local';
        if (loaded !== undefined && !load.overtaken && !this.#closed) {
          this.#checkValue(key, loaded);
          const now = this.#clock();
          const own = options?.lifespanOf?.(loaded);
          const entryLife =
            own === undefined ? lifespan : entryLifespan(this.name, this.#lifespan, { ...options, ...own });
          this.#write(key, loaded, now, entryLife, this.#versionClock?.(), 'local', now);
        }
        return loaded;
      } catch (error) {
        this.#loadFailures++;
        const now = this.#clock();
        if (stale !== undefined && now <= stale.until) {
          if (trace !== undefined) {
            trace.answeredBy = 'local';
            trace.stale = true;
          }
          this.#logger.warn(
            { cache: this.name, key, err: error },
            'loader failed; answering with the stale value (stale-if-error)',
          );
          return stale.value;
        }
        throw error;
      } finally {
        if (this.#loads.get(key) === load) this.#loads.delete(key);
      }
    };
    const promise = trace === undefined ? run() : loadChannel.tracePromise(run, trace);
    (load as { promise: Promise<V> }).promise = promise;
    this.#loads.set(key, load);
    return promise;
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Removes every expired entry now, firing `expire` for each, and forgets tombstones older than
   * the retention. The periodic sweep calls this; so can tests and operators. Returns how many
   * entries expired.
   */
  evictExpiredElements(): number {
    if (this.#closed) return 0;
    const now = this.#clock();
    let count = this.#sweepMemory(now);
    if (this.#disk !== undefined) count += this.#expireOnDisk([...this.#disk.records()], now);
    return count;
  }

  /** Expires every expired entry in memory (and its disk copy) and forgets old tombstones. */
  #sweepMemory(now: number): number {
    const expired: Array<[string, Entry<V>]> = [];
    for (const pair of this.#store.entries()) if (isExpired(pair[1], now)) expired.push(pair);
    for (const [key, entry] of expired) {
      if (this.#store.peek(key) === entry) this.#expireHeld(key, entry);
    }
    this.#pruneTombstones(now);
    return expired.length;
  }

  // ---------------------------------------------------------------- events and statistics

  /**
   * Listens to `type` events. With `{ origin: 'local' }` only changes made on this node, with
   * 'remote' only those applied from peers; both by default.
   */
  on(type: CacheEventType, listener: CacheEventListener<V>, options?: { readonly origin?: EventOrigin }): this {
    this.#events.on(type, listener, options?.origin);
    return this;
  }

  off(type: CacheEventType, listener: CacheEventListener<V>): this {
    this.#events.off(type, listener);
    return this;
  }

  statistics(): CacheStatistics {
    const hits = this.#memoryHits + this.#diskHits;
    const reads = hits + this.#misses;
    return {
      hits,
      misses: this.#misses,
      expiredMisses: this.#expiredMisses,
      memoryHits: this.#memoryHits,
      diskHits: this.#diskHits,
      puts: this.#puts,
      updates: this.#updates,
      removals: this.#removals,
      evictions: this.#evictions,
      expirations: this.#expirations,
      memorySize: this.#store.size,
      diskSize: this.#disk?.size ?? 0,
      diskState: this.#disk?.store.state ?? 'none',
      diskPendingWrites: this.#disk?.store.pendingWrites ?? 0,
      diskPendingBytes: this.#disk?.store.pendingBytes ?? 0,
      diskWritesDropped: this.#disk?.dropped ?? 0,
      memoryOnly: this.#disk?.memoryOnlySize ?? 0,
      hitRatio: reads === 0 ? 0 : hits / reads,
      loads: this.#loadCount,
      loadFailures: this.#loadFailures,
      tombstones: this.#tombstones.size,
      tombstonesDropped: this.#tombstonesDropped,
    };
  }

  clearStatistics(): void {
    this.#memoryHits = 0;
    this.#diskHits = 0;
    this.#misses = 0;
    this.#expiredMisses = 0;
    this.#puts = 0;
    this.#updates = 0;
    this.#removals = 0;
    this.#evictions = 0;
    this.#expirations = 0;
    this.#loadCount = 0;
    this.#loadFailures = 0;
    this.#tombstonesDropped = 0;
    if (this.#disk !== undefined) this.#disk.dropped = 0;
  }

  // ---------------------------------------------------------------- side doors for replication

  /**
   * Applies a change made on a peer. It fires the usual events with origin 'remote' (which
   * replicators do not send back out) and is refused ('stale') unless its version is newer than
   * what this cache knows of the key. TTL counts from the origin's createdAt; idle time starts
   * now, on this node.
   */
  applyRemote(change: RemoteChange<V>): ApplyOutcome {
    if (this.#closed) this.#throwClosed();
    const now = this.#clock();
    switch (change.type) {
      case 'put':
        return this.applyRemotePut(
          change.key,
          change.value,
          change.version,
          change.createdAt,
          change.timeToLiveSeconds,
          change.timeToIdleSeconds,
        );
      case 'remove':
        if (!this.#isNewerThanKnown(change.key, change.version)) return 'stale';
        this.#removeKey(change.key, change.version, 'remote', now);
        return 'applied';
      case 'expire': {
        const entry = this.#quietEntry(change.key);
        if (entry === undefined || entry.version === undefined) return 'stale';
        if (compareVersions(entry.version, change.version) !== 0) return 'stale';
        this.#store.delete(change.key);
        this.#overtakeLoad(change.key);
        this.#expired(change.key, entry.value, entry.version, 'remote');
        return 'applied';
      }
      case 'removeAll':
        if (this.#clearVersion !== undefined && !isNewer(change.version, this.#clearVersion)) return 'stale';
        this.#clearAll(change.version, 'remote');
        return 'applied';
    }
  }

  /**
   * Lets getOrLoad coordinate its loads with other nodes (replication's cluster-wide single
   * flight); undefined turns it off. Loads already running are not affected.
   */
  setLoadCoordinator(coordinator: LoadCoordinator<V> | undefined): void {
    this.#loadCoordinator = coordinator;
  }

  /**
   * applyRemote for a put, with the fields as arguments: the replicator's hot path, which then
   * builds no change object per applied entry.
   */
  applyRemotePut(
    key: string,
    value: V,
    version: Version,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
  ): ApplyOutcome {
    if (this.#closed) this.#throwClosed();
    if (!this.#isNewerThanKnown(key, version)) return 'stale';
    const now = this.#clock();
    this.#write(key, value, createdAt, { timeToLiveSeconds, timeToIdleSeconds }, version, 'remote', now);
    return 'applied';
  }

  /** An entry's value and metadata, read quietly: no access, no statistics, no events. Live entries only. */
  peekEntry(key: string): EntrySnapshot<V> | undefined {
    const entry = this.#quietEntry(key);
    if (entry === undefined || isExpired(entry, this.#clock())) return undefined;
    return snapshotOf(key, entry);
  }

  /**
   * Every live entry, read quietly, for bootstrap and repair. The key list is taken when the
   * iteration starts; entries removed meanwhile are skipped, and each entry is read as it is when
   * reached, so the iteration is safe against concurrent writes.
   */
  *snapshot(): IterableIterator<EntrySnapshot<V>> {
    const keys = this.#disk === undefined ? [...this.#store.keys()] : this.#heldKeys(this.#disk);
    for (const key of keys) {
      const entry = this.#quietEntry(key);
      if (entry !== undefined && !isExpired(entry, this.#clock())) yield snapshotOf(key, entry);
    }
  }

  /**
   * The newest version this cache knows of a key: its live entry's or its tombstone's, whichever
   * is newer (repair compares it with a peer's). Read quietly.
   */
  knownVersion(key: string): Version | undefined {
    const entry = this.#quietEntry(key);
    const held = entry === undefined || isExpired(entry, this.#clock()) ? undefined : entry.version;
    const tombstone = this.#tombstones.get(key)?.version;
    if (held === undefined) return tombstone;
    return tombstone !== undefined && isNewer(tombstone, held) ? tombstone : held;
  }

  /**
   * Keys removed recently and the versions of their removal, so a late, older put cannot bring
   * them back. Oldest removal first.
   */
  tombstones(): Tombstone[] {
    const found: Tombstone[] = [];
    for (let node = this.#tombstoneOrder.head; node !== undefined; node = node.next) {
      found.push({ key: node.key, version: node.version });
    }
    return found;
  }

  /** The version of the last removeAll this cache applied, if versions are in use. */
  get clearVersion(): Version | undefined {
    return this.#clearVersion;
  }

  /**
   * From now on, refuse values that msgpack cannot carry unchanged (replication calls this for
   * replicated caches; disk tiers imply it). `reason` goes into the error message.
   */
  requireEncodableValues(reason: string): void {
    this.#encodableReason ??= reason;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * @internal Called by CacheManager. Stops the sweep, writes the idle times of the entries in
   * memory to a persistent disk tier (so TTI survives a restart), flushes and closes the disk
   * tier, and releases the entries.
   */
  async close(): Promise<DiskCloseReport | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    this.#sweepTimer?.();
    this.#sweepTimer = undefined;
    const disk = this.#disk;
    try {
      if (disk === undefined) return undefined;
      let lost = 0;
      if (this.config.diskPersistent) {
        // Memory holds a subset of the disk (and the keys a failing disk dropped): write back
        // every one. What a failing disk drops now is not persisted, and is counted as such.
        for (const [key, entry] of this.#store.entries()) {
          lost += disk.write(key, recordOf(entry), true, this.#inMemory).length;
        }
      }
      const report = await disk.store.close();
      return lost === 0 ? report : { ...report, notPersisted: report.notPersisted + lost };
    } finally {
      this.#store.clear();
      this.#forgetAllTombstones();
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------- internals

  #write(
    key: string,
    value: V,
    createdAt: number,
    lifespan: Lifespan,
    version: Version | undefined,
    origin: EventOrigin,
    now: number,
  ): void {
    const held = this.#store.peek(key);
    // With a disk tier, a key not in memory may still be held on disk.
    const onDisk = held === undefined && this.#disk !== undefined ? this.#disk.read(key) : undefined;
    const heldLive = held !== undefined ? !isExpired(held, now) : onDisk !== undefined && !isRecordExpired(onDisk, now);
    const { timeToLiveSeconds, timeToIdleSeconds } = lifespan;
    // The disk first: if the record cannot be written, nothing has changed.
    const leftDisk =
      this.#disk?.write(
        key,
        { value, createdAt, lastAccessedAt: now, timeToLiveSeconds, timeToIdleSeconds, version },
        held !== undefined || onDisk !== undefined, // memory holds a subset of the disk
        this.#inMemory,
      ) ?? NOTHING_LEFT;
    if (held !== undefined && heldLive) {
      rewriteEntry(held, value, createdAt, now, timeToLiveSeconds, timeToIdleSeconds, version);
      this.#store.set(key, held); // a write: recency, FIFO position and LFU count as for a new entry
    } else {
      const expired = held ?? (heldLive ? undefined : onDisk);
      if (held !== undefined) this.#store.delete(key);
      if (expired !== undefined) {
        this.#expirations++;
        this.#events.emit('expire', origin, key, expired.value, expired.version);
      }
      const spare = this.#spare.pop();
      if (spare === undefined) {
        this.#store.set(key, makeEntry(value, createdAt, now, timeToLiveSeconds, timeToIdleSeconds, version));
      } else {
        rewriteEntry(spare, value, createdAt, now, timeToLiveSeconds, timeToIdleSeconds, version);
        this.#store.set(key, spare);
      }
    }
    if (leftDisk.length > 0) this.#evictFromDisk(leftDisk);
    if (this.#tombstones.size > 0) this.#forgetTombstone(key);
    this.#overtakeLoad(key);
    if (this.#evicted.length > 0) this.#reportEvictions(now);
    if (heldLive) {
      this.#updates++;
      this.#events.emit('update', origin, key, value, version);
    } else {
      this.#puts++;
      this.#events.emit('put', origin, key, value, version);
    }
  }

  #removeKey(key: string, version: Version | undefined, origin: EventOrigin, now: number): boolean {
    const held = this.#quietEntry(key);
    this.#store.delete(key);
    this.#disk?.remove(key);
    if (version !== undefined) this.#rememberRemoval(key, version, now);
    this.#overtakeLoad(key);
    const live = held !== undefined && !isExpired(held, now);
    if (live) this.#removals++;
    this.#events.emit('remove', origin, key, live ? held.value : undefined, version);
    return live;
  }

  #clearAll(version: Version | undefined, origin: EventOrigin): void {
    if (version === undefined || origin === 'local') {
      this.#store.clear();
      this.#disk?.clear();
      this.#forgetAllTombstones();
    } else {
      // A remote clear removes only what is older than it: a write made elsewhere after the
      // clear (a newer version) survives, as it does on the node that made it.
      const olderThanClear = (held: Version | undefined) => held === undefined || !isNewer(held, version);
      for (const [key, entry] of [...this.#store.entries()]) {
        if (!olderThanClear(entry.version)) continue;
        this.#store.delete(key);
        if (this.#disk?.isMemoryOnly(key)) this.#disk.remove(key);
      }
      if (this.#disk !== undefined) {
        for (const [key, record] of [...this.#disk.records()]) {
          if (olderThanClear(record.version)) this.#disk.remove(key);
        }
      }
      for (let node = this.#tombstoneOrder.head; node !== undefined; ) {
        const next = node.next;
        if (!isNewer(node.version, version)) this.#forgetTombstone(node.key);
        node = next;
      }
    }
    if (version !== undefined) this.#clearVersion = version;
    for (const load of this.#loads.values()) load.overtaken = true;
    this.#events.emit('removeAll', origin, undefined, undefined, version);
  }

  /** True when `version` is newer than the key's entry, its tombstone and the last clear. */
  #isNewerThanKnown(key: string, version: Version): boolean {
    const held = this.#quietEntry(key);
    if (held !== undefined && !isNewer(version, held.version)) return false;
    const tombstone = this.#tombstones.get(key);
    if (tombstone !== undefined && !isNewer(version, tombstone.version)) return false;
    return this.#clearVersion === undefined || isNewer(version, this.#clearVersion);
  }

  #expireHeld(key: string, entry: Entry<V>): void {
    this.#store.delete(key);
    this.#expired(key, entry.value, entry.version, 'local');
  }

  /** An entry found expired and already out of memory: its disk record goes, and `expire` fires. */
  #expired(key: string, value: V, version: Version | undefined, origin: EventOrigin): void {
    this.#disk?.remove(key);
    this.#expirations++;
    this.#events.emit('expire', origin, key, value, version);
  }

  #reportEvictions(now: number): void {
    // A listener may write, and that write may evict more: those victims are appended to the same
    // list and picked up by this loop, never reported twice by a nested call.
    if (this.#reportingEvictions) return;
    this.#reportingEvictions = true;
    const evicted = this.#evicted;
    try {
      for (let i = 0; i < evicted.length; i += 2) {
        const key = evicted[i] as string;
        const entry = evicted[i + 1] as Entry<V>;
        if (isExpired(entry, now)) {
          this.#expired(key, entry.value, entry.version, 'local');
        } else if (this.#disk !== undefined && this.#overflow) {
          // Moved, not gone: the disk holds every entry, and the next read promotes it again;
          // but for one a failing disk dropped, which goes to disk now or leaves the cache.
          if (this.#disk.isMemoryOnly(key)) {
            const left = this.#disk.write(key, recordOf(entry), false, this.#inMemory, false);
            if (left.length > 0) this.#evictFromDisk(left);
          }
        } else {
          this.#disk?.remove(key);
          this.#evictions++;
          this.#events.emit('evict', 'local', key, entry.value, entry.version);
        }
      }
    } finally {
      // The victims' records are reused by the next writes: under steady eviction a put then
      // allocates no record at all. Nothing outside the store keeps a record (events carry values).
      for (let i = 1; i < evicted.length && this.#spare.length < MAX_SPARE_ENTRIES; i += 2) {
        const entry = evicted[i] as Entry<V>;
        entry.value = undefined as V;
        this.#spare.push(entry);
      }
      evicted.length = 0;
      this.#reportingEvictions = false;
    }
  }

  /** Entries the full disk tier pushed out: they leave the cache entirely. */
  #evictFromDisk(left: Array<[string, DiskRecord<V>]>): void {
    for (const [key, record] of left) {
      this.#store.delete(key);
      this.#evictions++;
      this.#events.emit('evict', 'local', key, record.value, record.version);
    }
  }

  /** The key's entry, from memory or else from disk, read quietly (no promotion, no statistics). */
  #quietEntry(key: string): Entry<V> | undefined {
    const entry = this.#store.peek(key);
    if (entry !== undefined || this.#disk === undefined) return entry;
    const record = this.#disk.read(key);
    return record === undefined ? undefined : entryOf(record, record.lastAccessedAt);
  }

  readonly #inMemory = (key: string): boolean => this.#store.has(key);

  #overtakeLoad(key: string): void {
    if (this.#loads.size === 0) return;
    const load = this.#loads.get(key);
    if (load !== undefined) load.overtaken = true;
  }

  /**
   * Records (or refreshes) the key's tombstone at the young end of the list; past maxTombstones
   * the oldest is forgotten. O(1): one Map write, a few links, at most one tombstone dropped.
   */
  #rememberRemoval(key: string, version: Version, now: number): void {
    const order = this.#tombstoneOrder;
    // Never older than the youngest: the list stays in age order, so the age sweep can stop at
    // the first young tombstone, even when the wall clock steps back (such tombstones are then
    // kept that much longer).
    const youngest = order.tail?.removedAt ?? now;
    const removedAt = Math.max(now, youngest);
    let node = this.#tombstones.get(key);
    if (node === undefined) {
      node = { key, version, removedAt, prev: undefined, next: undefined };
      this.#tombstones.set(key, node);
    } else {
      // Removed again: its age starts again, so it moves to the young end.
      order.remove(node);
      node.version = version;
      node.removedAt = removedAt;
    }
    order.push(node);
    if (this.#tombstones.size > this.#maxTombstones) this.#dropOldestTombstone(key);
  }

  #dropOldestTombstone(removing: string): void {
    const oldest = this.#tombstoneOrder.head;
    if (oldest === undefined) return;
    this.#forgetTombstone(oldest.key);
    this.#tombstonesDropped++;
    if (!this.#warnedTombstoneBound) {
      this.#warnedTombstoneBound = true;
      this.#logger.warn(
        { cache: this.name, maxTombstones: this.#maxTombstones, key: removing, forgotten: oldest.key },
        'more keys removed within tombstoneRetentionSeconds than maxTombstones: the oldest tombstones are forgotten, and an older write of such a key from a peer that was away can bring it back (logged once; statistics().tombstonesDropped counts them)',
      );
    }
  }

  #forgetTombstone(key: string): void {
    const node = this.#tombstones.get(key);
    if (node === undefined) return;
    this.#tombstones.delete(key);
    this.#tombstoneOrder.remove(node);
  }

  #forgetAllTombstones(): void {
    this.#tombstones.clear();
    this.#tombstoneOrder.clear();
  }

  /** Forgets tombstones older than the retention: from the old end, stopping at the first young one. */
  #pruneTombstones(now: number): void {
    const horizon = now - this.#tombstoneRetentionMillis;
    for (let node = this.#tombstoneOrder.head; node !== undefined && node.removedAt < horizon; ) {
      const next = node.next;
      this.#forgetTombstone(node.key);
      node = next;
    }
  }

  /**
   * The periodic sweep. Memory is swept at once; the disk tier in slices of DISK_SWEEP_SLICE
   * records, one slice per event-loop turn, so a large disk tier never stalls the process.
   */
  #sweepSafely(): void {
    try {
      const expired = this.#sweepMemory(this.#clock());
      if (expired > 0) this.#logger.debug({ cache: this.name, expired }, 'expiry sweep (memory)');
      if (this.#disk !== undefined && !this.#sweepingDisk) {
        this.#sweepingDisk = true;
        this.#sweepDiskSlice(this.#disk, undefined, 0);
      }
    } catch (error) {
      this.#logger.error({ cache: this.name, err: error }, 'expiry sweep failed; it will run again');
    }
  }

  #sweepDiskSlice(disk: DiskTier<V>, after: string | undefined, expiredSoFar: number): void {
    let expired = expiredSoFar;
    try {
      if (this.#closed) {
        this.#sweepingDisk = false;
        return;
      }
      const slice = disk.scan(after, DISK_SWEEP_SLICE);
      expired += this.#expireOnDisk(slice, this.#clock());
      const last = slice.at(-1);
      if (slice.length === DISK_SWEEP_SLICE && last !== undefined) {
        void this.#scheduler.nextTurn().then(() => this.#sweepDiskSlice(disk, last[0], expired));
        return;
      }
      this.#sweepingDisk = false;
      if (expired > 0) this.#logger.debug({ cache: this.name, expired }, 'expiry sweep (disk)');
    } catch (error) {
      this.#sweepingDisk = false;
      this.#logger.error({ cache: this.name, err: error }, 'disk expiry sweep failed; it will run again');
    }
  }

  /** Expires the records of `slice` that are expired and not in memory (memory has its own sweep). */
  #expireOnDisk(slice: Iterable<[string, DiskRecord<V>]>, now: number): number {
    const expired: Array<[string, DiskRecord<V>]> = [];
    for (const pair of slice) if (!this.#store.has(pair[0]) && isRecordExpired(pair[1], now)) expired.push(pair);
    for (const [key, record] of expired) this.#expired(key, record.value, record.version, 'local');
    return expired.length;
  }

  #checkKey(key: unknown): asserts key is string {
    if (typeof key !== 'string') {
      throw new MeshcacheError('E_INVALID_ARGUMENT', `cache "${this.name}": keys are strings, got ${typeof key}`);
    }
  }

  #checkValue(key: string, value: unknown): void {
    if (value === undefined) {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `cache "${this.name}": cannot store undefined under key "${key}" (remove the key instead)`,
      );
    }
    if (this.#encodableReason === undefined) return;
    const problem = findEncodingProblem(value);
    if (problem !== undefined) {
      throw new ValueNotEncodableError(this.name, key, problem.path, problem.problem, this.#encodableReason);
    }
  }

  #closedError(): MeshcacheError {
    return new MeshcacheError(
      'E_CACHE_CLOSED',
      `cache "${this.name}" is closed (its CacheManager was shut down or the cache removed)`,
    );
  }

  #throwClosed(): never {
    throw this.#closedError();
  }
}
