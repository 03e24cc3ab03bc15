/**
 * A cache's disk tier: its DiskStore, the conversion between memory entries and disk records,
 * and the bound on how many records the disk may hold.
 *
 * Model. When a cache has a disk tier, the disk holds every entry of the cache and memory holds
 * the hot subset (as Ehcache 2.6+ does): every write goes to both, a memory miss reads the disk,
 * and an entry evicted from memory is still on disk. So `size` is the disk's count.
 *
 * The bound (maxElementsOnDisk > 0): when a write of a new key takes the disk past it, the tier
 * names victims to leave the cache entirely: the record written to disk longest ago that is not
 * held in memory (memory holds what is being used); if the oldest 64 are all in memory, the
 * oldest of all. The write order is kept in memory, rebuilt at start from the records' creation
 * times, and only for bounded caches.
 *
 * A failing disk. The store may drop records it cannot commit (disk-store.ts). A dropped record
 * whose key memory holds stays in the cache, in memory only: the tier remembers such keys (so
 * `size` and `keys()` still count them, and a later eviction from memory tries the disk again).
 * A dropped record that memory does not hold has left the cache: it is returned with the victims
 * of the bound, and the cache fires `evict` for it. So the cache holds exactly disk + memory-only.
 */
import type { Lifespan } from '../config.js';
import { LinkedList } from '../policy/linked-list.js';
import type { DiskRecord, DiskStore, DroppedRecord } from './disk-store.js';

interface OrderNode {
  readonly key: string;
  prev: OrderNode | undefined;
  next: OrderNode | undefined;
}

const VICTIM_SEARCH_DEPTH = 64;

/** The shorter of two lifespans in seconds, 0 being never. */
function shorter(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

/** Ehcache's rule on a record: strictly past createdAt + TTL or lastAccessedAt + TTI. */
export function isRecordExpired(record: DiskRecord, now: number): boolean {
  return now > recordExpiresAt(record);
}

/** When a disk record expires (epoch ms; Infinity when it never does): alive at that very time. */
export function recordExpiresAt(record: DiskRecord): number {
  return Math.min(
    record.timeToLiveSeconds > 0 ? record.createdAt + record.timeToLiveSeconds * 1000 : Number.POSITIVE_INFINITY,
    record.timeToIdleSeconds > 0 ? record.lastAccessedAt + record.timeToIdleSeconds * 1000 : Number.POSITIVE_INFINITY,
  );
}

export class DiskTier<V> {
  readonly store: DiskStore<V>;
  readonly #maxElements: number;
  readonly #nodes = new Map<string, OrderNode>();
  readonly #order = new LinkedList<OrderNode>();
  /** Keys held in memory whose disk record was dropped by a failing disk. */
  readonly #memoryOnly = new Set<string>();
  /** Records dropped by a failing disk since the statistics were cleared. */
  dropped = 0;
  /** Records removed at open because the store held more than maxElementsOnDisk (a bound lowered since). */
  trimmedAtOpen = 0;

  /** The cache's lifespan now: a record written with the cache's lifespan is read with this one. */
  readonly #defaults: Lifespan;

  constructor(store: DiskStore<V>, maxElementsOnDisk: number, defaults: Lifespan) {
    this.store = store;
    this.#maxElements = maxElementsOnDisk;
    this.#defaults = defaults;
    if (maxElementsOnDisk > 0) {
      // Record by record, keeping only each key and its creation time: a list of the whole
      // records first held every value of the store in memory at once (439 MB for a store of
      // 200 MB, and a heap too small for that ended the process).
      const byAge: Array<[string, number]> = [];
      for (const [key, record] of store.entries()) byAge.push([key, record.createdAt]);
      byAge.sort((a, b) => a[1] - b[1]);
      for (const [key] of byAge) this.#touch(key);
      // A bound lowered across a restart: the oldest go now, before anything reads the cache,
      // not all at once inside the first put (146,336 evict events in one put, 750 ms).
      while (this.store.size > maxElementsOnDisk && this.#order.head !== undefined) {
        this.remove(this.#order.head.key);
        this.trimmedAtOpen++;
      }
    }
  }

  /** Records on disk (or waiting in the spool). */
  get size(): number {
    return this.store.size;
  }

  /** Keys the cache holds in memory only, because the disk dropped their records. */
  get memoryOnlySize(): number {
    return this.#memoryOnly.size;
  }

  isMemoryOnly(key: string): boolean {
    return this.#memoryOnly.size > 0 && this.#memoryOnly.has(key);
  }

  memoryOnlyKeys(): IterableIterator<string> {
    return this.#memoryOnly.values();
  }

  read(key: string): DiskRecord<V> | undefined {
    // A read of a key that is not a string misses, as in a cache without a disk tier (the store
    // would throw Node's own TypeError from measuring it).
    if (typeof key !== 'string') return undefined;
    const record = this.store.get(key);
    return record === undefined ? undefined : this.#current(record);
  }

  /**
   * A record that had the cache's lifespan when written, with the cache's lifespan now where that
   * is shorter (a TTL lowered across a restart applies to what was persisted). Never longer: the
   * cache's lifespan is told apart from an entry's own by value, so an entry given its own TTL that
   * happened to equal the cache's (a token of exactly an hour in a cache of an hour) would
   * otherwise outlive what it was given when the cache's TTL is raised.
   */
  #current(record: DiskRecord<V>): DiskRecord<V> {
    if (record.usesDefaults !== true) return record;
    const timeToLiveSeconds = shorter(record.timeToLiveSeconds, this.#defaults.timeToLiveSeconds);
    const timeToIdleSeconds = shorter(record.timeToIdleSeconds, this.#defaults.timeToIdleSeconds);
    if (record.timeToLiveSeconds === timeToLiveSeconds && record.timeToIdleSeconds === timeToIdleSeconds) return record;
    return { ...record, timeToLiveSeconds, timeToIdleSeconds };
  }

  /** Marks a record whose lifespan is the cache's (by value, as the memory store tells them apart). */
  #marked(record: DiskRecord<V>): DiskRecord<V> {
    const uses =
      record.timeToLiveSeconds === this.#defaults.timeToLiveSeconds &&
      record.timeToIdleSeconds === this.#defaults.timeToIdleSeconds;
    return uses === (record.usesDefaults === true) ? record : { ...record, usesDefaults: uses };
  }

  has(key: string): boolean {
    return typeof key === 'string' && this.store.has(key);
  }

  /**
   * Writes a record; returns the keys that must leave the cache because the disk is full (their
   * records are already removed from disk), with their last records for the events: victims of
   * maxElementsOnDisk, and records a failing disk dropped that memory does not hold. `key`
   * itself is taken to be in memory (the cache writes it there) unless `keyInMemory` is false.
   */
  write(
    key: string,
    record: DiskRecord<V>,
    held: boolean,
    inMemory: (key: string) => boolean,
    keyInMemory = true,
  ): Array<[string, DiskRecord<V>]> {
    const dropped = this.store.put(key, this.#marked(record), held && !this.isMemoryOnly(key));
    if (this.#memoryOnly.size > 0) this.#memoryOnly.delete(key);
    const victims: Array<[string, DiskRecord<V>]> =
      dropped.length === 0 ? [] : this.#dropped(dropped, (k) => (k === key ? keyInMemory : inMemory(k)));
    if (this.#maxElements === 0 || dropped.some(([k]) => k === key)) return victims;
    this.#touch(key);
    while (this.store.size > this.#maxElements) {
      const victim = this.#chooseVictim(key, inMemory);
      if (victim === undefined) break;
      const last = this.store.get(victim);
      this.remove(victim);
      if (last !== undefined) victims.push([victim, last]);
    }
    return victims;
  }

  /** Sorts dropped records into memory-only keys and victims (which leave the cache). */
  #dropped(dropped: readonly DroppedRecord<V>[], inMemory: (key: string) => boolean): Array<[string, DiskRecord<V>]> {
    const victims: Array<[string, DiskRecord<V>]> = [];
    for (const [key, record] of dropped) {
      this.dropped++;
      this.#forgetOrder(key);
      if (inMemory(key)) this.#memoryOnly.add(key);
      else victims.push([key, record]);
    }
    return victims;
  }

  remove(key: string): boolean {
    const memoryOnly = this.#memoryOnly.size > 0 && this.#memoryOnly.delete(key);
    this.#forgetOrder(key);
    return this.store.remove(key) || memoryOnly;
  }

  #forgetOrder(key: string): void {
    const node = this.#nodes.get(key);
    if (node !== undefined) {
      this.#order.remove(node);
      this.#nodes.delete(key);
    }
  }

  clear(): void {
    this.store.clear();
    this.#memoryOnly.clear();
    this.#nodes.clear();
    this.#order.clear();
  }

  *records(): IterableIterator<[string, DiskRecord<V>]> {
    for (const [key, record] of this.store.entries()) yield [key, this.#current(record)];
  }

  scan(after: string | undefined, limit: number): Array<[string, DiskRecord<V>]> {
    return this.store.scan(after, limit).map(([key, record]) => [key, this.#current(record)]);
  }

  keys(): IterableIterator<string> {
    return this.store.keys();
  }

  #touch(key: string): void {
    const held = this.#nodes.get(key);
    if (held !== undefined) this.#order.remove(held);
    const node: OrderNode = held ?? { key, prev: undefined, next: undefined };
    this.#order.push(node);
    this.#nodes.set(key, node);
  }

  #chooseVictim(writing: string, inMemory: (key: string) => boolean): string | undefined {
    let fallback: string | undefined;
    let node = this.#order.head;
    for (let depth = 0; node !== undefined && depth < VICTIM_SEARCH_DEPTH; depth++, node = node.next) {
      if (node.key === writing) continue;
      fallback ??= node.key;
      if (!inMemory(node.key)) return node.key;
    }
    return fallback;
  }
}
