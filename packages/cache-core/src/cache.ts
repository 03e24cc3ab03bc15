/**
 * A named cache, as an Ehcache user knows it: get, put, remove, removeAll, getOrLoad, events and
 * statistics. This class is the user's API and nothing else; the engine under it (engine.ts) holds
 * the memory store, the disk tier, tombstones and counters, and replication reaches the engine
 * through the replica port (replica-port.ts, from `@meshcache/core/internal`), never through here.
 *
 * Model. Each entry records when it was created and last read on this node, its own TTL and TTI
 * (the cache's, unless the put named others) and, when replication is on, the version of the
 * write that made it. The memory store is the eviction policy (LRU, LFU, FIFO or TINYLFU), exact
 * rather than sampled.
 *
 * Guarantees.
 * - get() is synchronous and allocates nothing on a hit.
 * - An expired entry is never returned. Expiry is found lazily (by get, put, has, keys, ...)
 *   and by a periodic sweep (diskExpiryThreadIntervalSeconds), which fires `expire` and frees
 *   the memory with no read needed (sweeper.ts).
 * - Every entry that leaves for lack of room fires exactly one `evict`; one that is chosen as the
 *   victim but had already expired fires `expire` instead.
 * - Events fire synchronously after the change they describe, in order. Listeners may call back
 *   into the cache.
 * - getOrLoad runs one loader per key at a time. A failed load is never cached. A load that a
 *   write, remove or removeAll overtook still answers its callers but is not stored (loads.ts).
 *
 * Not guaranteed. size counts entries held, which can include expired ones not yet found (as in
 * Ehcache). Statistics are plain counters, not a consistent snapshot across fields.
 */

import type { EntryOptions, ResolvedCacheConfig } from './config.js';
import type { DiskCloseReport } from './disk/disk-store.js';
import { type CacheContext, CacheEngine } from './engine.js';
import type { EntrySnapshot } from './entry.js';
import type { CacheEventListener, CacheEventType, EventOrigin } from './events.js';
import type { GetOrLoadOptions } from './loads.js';
import type { CacheStatistics } from './statistics.js';

/** The engine under each cache, for replicaPortOf (internal.ts); set once, below. */
let engineOf: <V>(cache: Cache<V>) => CacheEngine<V>;

export class Cache<V = unknown> {
  readonly name: string;
  readonly config: ResolvedCacheConfig;
  readonly #engine: CacheEngine<V>;

  static {
    engineOf = (cache) => cache.#engine;
  }

  /** @internal Caches are made by CacheManager.addCache. */
  constructor(name: string, config: ResolvedCacheConfig, context: CacheContext) {
    this.name = name;
    this.config = config;
    this.#engine = new CacheEngine<V>(name, config, context);
  }

  // ---------------------------------------------------------------- reads

  /** An access: returns the live value, updates recency, frequency and idle time, counts a hit or a miss. */
  get(key: string): V | undefined {
    const engine = this.#engine;
    if (engine.closed) throw engine.closedError();
    return engine.get(key);
  }

  /** Whether a live entry is held. Not an access: changes no order, idle time or statistics. */
  has(key: string): boolean {
    if (this.#engine.closed) throw this.#engine.closedError();
    return this.#engine.has(key);
  }

  /** Keys of live entries. Quiet. */
  keys(): string[] {
    if (this.#engine.closed) throw this.#engine.closedError();
    return this.#engine.keys();
  }

  /** Entries held (memory + disk), including expired ones not yet found, as in Ehcache. */
  get size(): number {
    return this.#engine.size;
  }

  /**
   * A live entry's value and metadata, read quietly: no access, no statistics, no events (Ehcache's
   * getQuiet, Caffeine's getIfPresentQuietly). Undefined for a key not held or expired.
   */
  peekEntry(key: string): EntrySnapshot<V> | undefined {
    if (this.#engine.closed) throw this.#engine.closedError();
    return this.#engine.peekEntry(key);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Stores a value. The entry is created anew (new createdAt); options replace the cache's
   * expiry settings for this entry. Fires `put` for a new key, `update` for a held one.
   */
  put(key: string, value: V, options?: EntryOptions): void {
    if (this.#engine.closed) throw this.#engine.closedError();
    this.#engine.put(key, value, options);
  }

  /** Removes a key. Fires `remove` even when the key was absent (peers may hold it). */
  remove(key: string): boolean {
    if (this.#engine.closed) throw this.#engine.closedError();
    return this.#engine.remove(key);
  }

  /** Empties the cache. Fires one `removeAll`, no per-entry events. */
  removeAll(): void {
    if (this.#engine.closed) throw this.#engine.closedError();
    this.#engine.removeAll();
  }

  /**
   * The value for a key, loading it on a miss. One loader call per key at a time: concurrent
   * callers share it. A rejected load is not cached and reaches every waiting caller. A loader
   * that resolves to undefined caches nothing and answers undefined.
   */
  getOrLoad(key: string, loader: (key: string) => Promise<V> | V, options?: GetOrLoadOptions<V>): Promise<V> {
    if (this.#engine.closed) return Promise.reject(this.#engine.closedError());
    return this.#engine.loads.getOrLoad(key, loader, options);
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Removes every expired entry now, firing `expire` for each, and forgets tombstones older than
   * the retention. The periodic sweep does this; so can tests and operators. Returns how many
   * entries expired.
   */
  evictExpiredElements(): number {
    if (this.#engine.closed) throw this.#engine.closedError();
    return this.#engine.evictExpiredElements();
  }

  // ---------------------------------------------------------------- events and statistics

  /**
   * Listens to `type` events. With `{ origin: 'local' }` only changes made on this node, with
   * 'remote' only those applied from peers; both by default.
   */
  on(type: CacheEventType, listener: CacheEventListener<V>, options?: { readonly origin?: EventOrigin }): this {
    this.#engine.on(type, listener, options?.origin);
    return this;
  }

  off(type: CacheEventType, listener: CacheEventListener<V>): this {
    this.#engine.off(type, listener);
    return this;
  }

  statistics(): CacheStatistics {
    return this.#engine.statistics();
  }

  clearStatistics(): void {
    this.#engine.clearStatistics();
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * @internal Called by CacheManager. Stops the sweep, writes the idle times of the entries in
   * memory to a persistent disk tier (so TTI survives a restart), flushes and closes the disk
   * tier, and releases the entries.
   */
  close(): Promise<DiskCloseReport | undefined> {
    return this.#engine.close();
  }

  get closed(): boolean {
    return this.#engine.closed;
  }
}

/** @internal The engine under a cache (internal.ts hands it out as the cache's replica port). */
export function cacheEngineOf<V>(cache: Cache<V>): CacheEngine<V> {
  return engineOf(cache);
}
