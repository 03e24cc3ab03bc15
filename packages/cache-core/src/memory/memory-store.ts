/**
 * The memory store: a cache's entries in slots, numbered from 0, with each entry's key, value and
 * metadata in arrays indexed by its slot, and the eviction policy's order over the same slots.
 *
 * Why slots. An object per entry (value, two times, two lifespans, two precomputed deadlines, a
 * version object) cost 213 bytes an entry beside lru-cache's 93 (issue 20); V8 boxes every
 * timestamp in such an object in a heap number of its own. Here an entry is
 * - its key in an index (key to slot: key-index.ts, an open-addressing table of (hash, slot) that
 *   costs a miss about one cache line where a Map walks a chain) and in an array (slot to key, to
 *   name a victim and to compare candidates), and its value in an array: what any cache pays;
 * - createdAt and lastAccessedAt side by side in one Float64Array (one cache line for both);
 * - its lifespan as a number into a table of the distinct lifespans held (interned.ts): most
 *   entries have their cache's, number 0;
 * - with versions (replication): time in a Float64Array, counter and node (a number into a table
 *   of node names) in a Uint32Array, allocated at the first versioned write;
 * - with a byte bound (maxBytesLocalHeap): its estimated size in a Float64Array;
 * - a value a peer sent may be held deferred (deferred-value.ts): its set of values in the value's
 *   place and its index in a Uint32Array, allocated at the first; the first read decodes it and
 *   keeps the result in its place, so no deferred value leaves here;
 * - the policy's links, in typed arrays of its own (policy/slot-links.ts).
 * Arrays grow by doubling up to the capacity (plus one slot: an insertion holds its slot before
 * the policy names the victim), so an empty cache with a large maxElementsInMemory costs little;
 * a bootstrap that knows about how many entries are coming reserves their room in one step.
 *
 * Guarantees. A hit (read) allocates nothing. Expiry is exact, as before: a deadline is
 * `createdAt + seconds * 1000`, computed the same way it was precomputed. A victim is handed to
 * onEvict while its slot still holds it, then released; a slot is reused only after that. Slots
 * of held keys never move, so iterating slots by number while writes happen (a repair reading in
 * slices) sees every key held throughout exactly once. A key removed and written again meanwhile
 * may land in a slot already passed (not seen: that write reaches peers as a live change, and
 * the next repair's digest) or in one still ahead (seen again, its newer write second).
 *
 * Not guaranteed: any order of iteration (slots are reused as they free up).
 */
import type { EvictionPolicyName, Lifespan } from '../config.js';
import { DeferredValue, DeferredValues } from '../deferred-value.js';
import type { DiskRecord } from '../disk/disk-store.js';
import type { EntrySnapshot } from '../entry.js';
import { createPolicy, type EvictionPolicy } from '../policy/index.js';
import { type BucketDigest, fnv1a } from '../replica-digest.js';
import { compareVersions, type Version } from '../version.js';
import { Lifespans, Names } from './interned.js';
import { KeyIndex } from './key-index.js';
import { entryBytes } from './sizes.js';

export interface MemoryStoreOptions {
  readonly policy: EvictionPolicyName;
  /** Most entries held; 0 = no count bound. */
  readonly maxEntries: number;
  /** Most estimated bytes held; 0 = no byte bound. */
  readonly maxBytes: number;
  /** The cache's lifespan: the one most entries have. */
  readonly defaults: Lifespan;
  /**
   * A victim of either bound, handed over while its slot still holds it (read what you need of
   * it now: the slot is released when this returns). It is already out of the key index.
   */
  readonly onEvict: (slot: number, key: string) => void;
}

const NONE = -1;
const FIRST_SLOTS = 16;

export class MemoryStore<V> {
  readonly policy: EvictionPolicy;
  readonly lifespans: Lifespans;
  readonly #index = new KeyIndex();
  readonly #onEvict: (slot: number, key: string) => void;
  readonly #maxBytes: number;
  /** Slots the arrays have room for, and the most they may ever have. */
  #slots: number;
  readonly #maxSlots: number;
  /** Slots handed out so far: every held slot is below it. */
  #top = 0;
  readonly #free: number[] = [];
  #keys: Array<string | undefined>;
  /** A value, or the set of a peer's value not decoded yet (its index in #deferredAt; resolved by the first read). */
  #values: Array<V | DeferredValues<V> | undefined>;
  #deferredAt: Uint32Array | undefined;
  /** createdAt at 2 * slot, lastAccessedAt at 2 * slot + 1. */
  #times: Float64Array;
  #life: Uint32Array;
  #versionTime: Float64Array | undefined;
  /** counter at 2 * slot, node (a number into #nodes, 0 = unversioned) at 2 * slot + 1. */
  #versionRest: Uint32Array | undefined;
  readonly #nodes = new Names();
  #sizes: Float64Array | undefined;
  /** The cache's own lifespan (number 0 in the table) in milliseconds, Infinity = never. */
  readonly #ttlMillis: number;
  readonly #ttiMillis: number;
  /** Estimated bytes of the entries held (with a byte bound; 0 without). */
  bytes = 0;
  /** The repair digest of the versioned entries, kept on every version written or released (replica-digest.ts). */
  #digest: BucketDigest | undefined;
  /**
   * Each held key's hash for the digest (fnv1a), kept while there is one: taken once, when the key
   * comes. A gateway's keys are URLs, and hashing one of 80 characters took 300 ns, twice a
   * rewrite (its old version out of the digest, the new one in), once an eviction or removal, and
   * once an entry a repair's listing stepped past (repair/digest.ts's bucketOf): more than the
   * rest of the write. 4 bytes a slot, in a replicated cache only.
   */
  #keyHashes: Uint32Array | undefined;

  constructor(options: MemoryStoreOptions) {
    const capacity = options.maxEntries > 0 ? options.maxEntries : Number.POSITIVE_INFINITY;
    this.#maxBytes = options.maxBytes > 0 ? options.maxBytes : Number.POSITIVE_INFINITY;
    this.#maxSlots = capacity + 1;
    this.#slots = Math.min(FIRST_SLOTS, this.#maxSlots);
    this.policy = createPolicy(options.policy, capacity, options.maxBytes > 0, this.#slots);
    this.lifespans = new Lifespans(options.defaults);
    this.#ttlMillis = this.lifespans.ttlMillis[0] as number;
    this.#ttiMillis = this.lifespans.ttiMillis[0] as number;
    this.#onEvict = options.onEvict;
    this.#keys = new Array<string | undefined>(this.#slots).fill(undefined);
    this.#values = new Array<V | DeferredValues<V> | undefined>(this.#slots).fill(undefined);
    this.#times = new Float64Array(2 * this.#slots);
    this.#life = new Uint32Array(this.#slots);
    if (this.#maxBytes !== Number.POSITIVE_INFINITY) this.#sizes = new Float64Array(this.#slots);
  }

  get size(): number {
    return this.#index.size;
  }

  /**
   * How many more keys fit before a write must evict one, by count and, with a byte bound, by the
   * average size of what is held (an estimate: the next entry may be bigger); Infinity when unbounded.
   */
  get room(): number {
    const size = this.#index.size;
    let room = this.#maxSlots - 1 - size;
    if (this.#maxBytes !== Number.POSITIVE_INFINITY) {
      if (this.bytes >= this.#maxBytes) return 0;
      if (size > 0) room = Math.min(room, Math.floor((this.#maxBytes - this.bytes) / (this.bytes / size)));
    }
    return Math.max(0, room);
  }

  /** Whether a byte bound is set (then writes must say how big each entry is). */
  get byteBounded(): boolean {
    return this.#sizes !== undefined;
  }

  // ---------------------------------------------------------------- lookups

  /** The key's slot, quietly (no access), or -1. */
  slotOf(key: string): number {
    return this.#index.get(key, this.#keys);
  }

  /** The index reads ahead for lookups of the first `count` of these keys, in this order (KeyIndex.prefetch). */
  prefetch(keys: readonly string[], count = keys.length): void {
    this.#index.prefetch(keys, this.#keys, count);
  }

  has(key: string): boolean {
    return this.#index.get(key, this.#keys) !== NONE;
  }

  /**
   * A read (get), in one call because it is the hot path: the key's slot when its entry is alive
   * at `now`, with the idle clock moved to `now` and the policy told of the read; -1 when the key
   * is not held; `-2 - slot` when it is held but expired (Ehcache's rule, strict: alive at the
   * deadline itself), untouched and not counted as a read.
   */
  read(key: string, now: number): number {
    const slot = this.#index.get(key, this.#keys);
    if (slot === NONE) return NONE;
    const times = this.#times;
    const at = 2 * slot;
    const life = this.#life[slot] as number;
    // Most entries have the cache's lifespan (number 0): its milliseconds are fields, not table reads.
    let ttl = this.#ttlMillis;
    let tti = this.#ttiMillis;
    if (life !== 0) {
      ttl = this.lifespans.ttlMillis[life] as number;
      tti = this.lifespans.ttiMillis[life] as number;
    }
    if (now > (times[at] as number) + ttl || now > (times[at + 1] as number) + tti) return -2 - slot;
    times[at + 1] = now;
    this.policy.access(slot);
    return slot;
  }

  isExpired(slot: number, now: number): boolean {
    const times = this.#times;
    const life = this.#life[slot] as number;
    return (
      now > (times[2 * slot] as number) + (this.lifespans.ttlMillis[life] as number) ||
      now > (times[2 * slot + 1] as number) + (this.lifespans.ttiMillis[life] as number)
    );
  }

  /** When the entry expires if it is not read again; Infinity for never. */
  expiresAt(slot: number): number {
    const life = this.#life[slot] as number;
    return Math.min(
      (this.#times[2 * slot] as number) + (this.lifespans.ttlMillis[life] as number),
      (this.#times[2 * slot + 1] as number) + (this.lifespans.ttiMillis[life] as number),
    );
  }

  key(slot: number): string {
    return this.#keys[slot] as string;
  }

  value(slot: number): V {
    const value = this.#values[slot];
    if (!(value instanceof DeferredValues)) return value as V;
    const resolved: V = value.resolve((this.#deferredAt as Uint32Array)[slot] as number);
    this.#values[slot] = resolved;
    // Weighed by its bytes until now; a string of fewer characters (not ASCII) weighs less.
    if (this.#sizes !== undefined) this.#weigh(this.#sizes, slot, entryBytes(this.#keys[slot] as string, resolved));
    return resolved;
  }

  /** The slot's value where it is decoded; undefined for one deferred (deferred-value.ts), left so. */
  valueIfDecoded(slot: number): V | undefined {
    const value = this.#values[slot];
    return value instanceof DeferredValues ? undefined : (value as V);
  }

  createdAt(slot: number): number {
    return this.#times[2 * slot] as number;
  }

  lastAccessedAt(slot: number): number {
    return this.#times[2 * slot + 1] as number;
  }

  timeToLiveSeconds(slot: number): number {
    return this.lifespans.ttlSeconds[this.#life[slot] as number] as number;
  }

  timeToIdleSeconds(slot: number): number {
    return this.lifespans.ttiSeconds[this.#life[slot] as number] as number;
  }

  /** The slot's estimated size in bytes (0 without a byte bound). */
  bytesOf(slot: number): number {
    return this.#sizes === undefined ? 0 : (this.#sizes[slot] as number);
  }

  isVersioned(slot: number): boolean {
    return this.#versionRest !== undefined && this.#versionRest[2 * slot + 1] !== 0;
  }

  /** The slot's version, as a new object; undefined for an unversioned entry. */
  version(slot: number): Version | undefined {
    const rest = this.#versionRest;
    if (rest === undefined) return undefined;
    const node = rest[2 * slot + 1] as number;
    if (node === 0) return undefined;
    return {
      time: (this.#versionTime as Float64Array)[slot] as number,
      counter: rest[2 * slot] as number,
      node: this.#nodes.names[node] as string,
    };
  }

  /** The parts of the slot's version, read without making it (of a versioned slot: isVersioned). */
  versionTime(slot: number): number {
    return (this.#versionTime as Float64Array)[slot] as number;
  }

  versionCounter(slot: number): number {
    return (this.#versionRest as Uint32Array)[2 * slot] as number;
  }

  versionNode(slot: number): string {
    return this.#nodes.names[(this.#versionRest as Uint32Array)[2 * slot + 1] as number] as string;
  }

  /** compareVersions(the slot's version, `version`) without building the slot's. */
  compareVersion(slot: number, version: Version | undefined): number {
    const rest = this.#versionRest;
    const node = rest === undefined ? 0 : (rest[2 * slot + 1] as number);
    if (node === 0) return version === undefined ? 0 : -1;
    if (version === undefined) return 1;
    const time = (this.#versionTime as Float64Array)[slot] as number;
    if (time !== version.time) return time < version.time ? -1 : 1;
    const counter = (rest as Uint32Array)[2 * slot] as number;
    if (counter !== version.counter) return counter < version.counter ? -1 : 1;
    const name = this.#nodes.names[node] as string;
    return name === version.node ? 0 : compareVersions({ time, counter, node: name }, version);
  }

  /** A copy of the slot's entry, as a quiet read or a replicator sees it. */
  snapshot(slot: number): EntrySnapshot<V> {
    return {
      key: this.#keys[slot] as string,
      value: this.value(slot),
      createdAt: this.createdAt(slot),
      lastAccessedAt: this.lastAccessedAt(slot),
      timeToLiveSeconds: this.timeToLiveSeconds(slot),
      timeToIdleSeconds: this.timeToIdleSeconds(slot),
      expiresAt: this.expiresAt(slot),
      version: this.version(slot),
    };
  }

  /** The slot's entry as the disk tier stores it. */
  record(slot: number): DiskRecord<V> {
    return {
      value: this.value(slot),
      createdAt: this.createdAt(slot),
      lastAccessedAt: this.lastAccessedAt(slot),
      timeToLiveSeconds: this.timeToLiveSeconds(slot),
      timeToIdleSeconds: this.timeToIdleSeconds(slot),
      version: this.version(slot),
    };
  }

  /** Slots the arrays have room for now (they grow by doubling, or to a reserve). */
  get capacity(): number {
    return this.#slots;
  }

  /** The highest slot number handed out, plus one: every held slot is below it. */
  get top(): number {
    return this.#top;
  }

  /** Whether `slot` (below top) holds an entry now. */
  holds(slot: number): boolean {
    return this.#keys[slot] !== undefined;
  }

  /** Keys held, in slot order; quiet. */
  *keys(): IterableIterator<string> {
    for (let slot = 0; slot < this.#top; slot++) {
      const key = this.#keys[slot];
      if (key !== undefined) yield key;
    }
  }

  /** Keeps `digest` up to date from now on, starting with every versioned entry held. */
  trackDigest(digest: BucketDigest): void {
    this.#digest = digest;
    const hashes = new Uint32Array(this.#slots);
    this.#keyHashes = hashes;
    for (let slot = 0; slot < this.#top; slot++) {
      const key = this.#keys[slot];
      if (key === undefined) continue;
      hashes[slot] = fnv1a(key);
      this.#toDigest(digest, slot, 1);
    }
  }

  /** The digest's hash of the key held in `slot` (fnv1a): kept, where the store keeps a digest. */
  keyHash(slot: number): number {
    return this.#keyHashes === undefined ? fnv1a(this.#keys[slot] as string) : (this.#keyHashes[slot] as number);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Writes a key: a held key's slot is rewritten (a write, for the policy), a new key gets a slot
   * (an insertion, which may evict). Then, with a byte bound, victims leave until the estimated
   * bytes fit again, never the written slot itself (see fits()). Returns the slot. `held` is the
   * key's slot (or -1) when the caller has just looked it up: a write of a new key then costs one
   * index operation, not two.
   */
  write(
    key: string,
    value: V | DeferredValue<V>,
    createdAt: number,
    lastAccessedAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
    version: Version | undefined,
    bytes: number,
    held: number = this.#index.get(key, this.#keys),
  ): number {
    // First, before anything here changes: a deferred value's set may refuse it (an internal error).
    if (value instanceof DeferredValue) value.values.hold(value.index);
    // Acquired before the old ones are released: a rewrite with the same lifespan or node keeps its number.
    const life = this.lifespans.acquire(timeToLiveSeconds, timeToIdleSeconds);
    const node = version === undefined ? 0 : this.#nodes.acquire(version.node);
    let slot = held;
    if (slot !== NONE) {
      this.lifespans.release(this.#life[slot] as number);
      this.#releaseVersion(slot);
      this.#releaseValue(slot);
      this.policy.update(slot);
    } else {
      slot = this.#allocate();
      this.#keys[slot] = key;
      if (this.#keyHashes !== undefined) this.#keyHashes[slot] = fnv1a(key);
      this.#index.add(key, slot, this.#keys);
      const victim = this.policy.insert(slot, key);
      if (victim !== NONE) this.#evict(victim);
    }
    if (value instanceof DeferredValue) this.#holdDeferred(slot, value);
    else this.#values[slot] = value;
    const times = this.#times;
    times[2 * slot] = createdAt;
    times[2 * slot + 1] = lastAccessedAt;
    this.#life[slot] = life;
    if (version !== undefined) this.#setVersion(slot, version, node);
    if (this.#sizes !== undefined) {
      this.#weigh(this.#sizes, slot, bytes);
      if (this.bytes > this.#maxBytes && bytes <= this.#maxBytes) this.#evictForBytes(slot);
    }
    return slot;
  }

  /** Whether an entry of `bytes` can be held at all under the byte bound (a larger one never is). */
  fits(bytes: number): boolean {
    return bytes <= this.#maxBytes;
  }

  /**
   * Removes a key (not an eviction). `lingerInDigest`: its version stays in the digest
   * (BucketDigest.linger), for the engine's read expiries.
   */
  delete(key: string, lingerInDigest = false): boolean {
    const slot = this.#index.delete(key, this.#keys);
    if (slot === NONE) return false;
    this.policy.remove(slot);
    this.#release(slot, lingerInDigest);
    return true;
  }

  clear(): void {
    const digest = this.#digest;
    if (digest !== undefined) {
      // The digest also holds the cache's tombstones: take out the entries one by one.
      for (let slot = 0; slot < this.#top; slot++) this.#toDigest(digest, slot, -1);
      digest.forgetLingering();
    }
    // A set of deferred values may also be held by another cache: it must hear that these went.
    if (this.#deferredAt !== undefined) for (let slot = 0; slot < this.#top; slot++) this.#releaseValue(slot);
    this.#index.clear();
    this.policy.clear();
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#free.length = 0;
    this.#top = 0;
    this.lifespans.clear();
    this.#nodes.clear();
    this.#versionRest?.fill(0);
    this.#sizes?.fill(0);
    this.bytes = 0;
  }

  #evictForBytes(written: number): void {
    while (this.bytes > this.#maxBytes) {
      const victim = this.policy.evict(written);
      if (victim === NONE) return;
      this.#evict(victim);
    }
  }

  #evict(slot: number): void {
    const key = this.#keys[slot] as string;
    this.#index.remove(key, slot);
    this.#onEvict(slot, key);
    this.#release(slot);
  }

  #allocate(): number {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    if (this.#top === this.#slots) this.#grow();
    return this.#top++;
  }

  #release(slot: number, lingerInDigest = false): void {
    this.#releaseVersion(slot, lingerInDigest); // first: the digest needs the key
    this.#keys[slot] = undefined;
    this.#releaseValue(slot);
    this.#values[slot] = undefined;
    this.lifespans.release(this.#life[slot] as number);
    this.#life[slot] = 0;
    if (this.#sizes !== undefined) this.#weigh(this.#sizes, slot, 0);
    if (this.#index.size === 0) {
      // Empty: numbering starts again, so that what walks slots up to `top` (a remote removeAll,
      // a sweep, a digest) walks what is held, not the most ever held. A peer that sent removeAlls
      // to a cache that once held a million keys made each walk a million slots (33 s for a frame).
      this.#free.length = 0;
      this.#top = 0;
      return;
    }
    this.#free.push(slot);
  }

  #setVersion(slot: number, version: Version, node: number): void {
    if (this.#versionRest === undefined) {
      this.#versionTime = new Float64Array(this.#slots);
      this.#versionRest = new Uint32Array(2 * this.#slots);
    }
    (this.#versionTime as Float64Array)[slot] = version.time;
    this.#versionRest[2 * slot] = version.counter;
    this.#versionRest[2 * slot + 1] = node;
    if (this.#digest !== undefined) this.#toDigest(this.#digest, slot, 1);
  }

  /** The slot's entry weighs `bytes` now (with a byte bound): the total follows. */
  #weigh(sizes: Float64Array, slot: number, bytes: number): void {
    this.bytes += bytes - (sizes[slot] as number);
    sizes[slot] = bytes;
  }

  #holdDeferred(slot: number, value: DeferredValue<V>): void {
    this.#deferredAt ??= new Uint32Array(this.#slots);
    this.#deferredAt[slot] = value.index;
    this.#values[slot] = value.values;
  }

  /** A deferred value leaving its slot unread: its bytes may go (a clear drops them all, unreachable). */
  #releaseValue(slot: number): void {
    const value = this.#values[slot];
    if (value instanceof DeferredValues) value.release((this.#deferredAt as Uint32Array)[slot] as number);
  }

  #releaseVersion(slot: number, lingerInDigest = false): void {
    const rest = this.#versionRest;
    if (rest === undefined) return;
    const node = rest[2 * slot + 1] as number;
    if (node === 0) return;
    const digest = this.#digest;
    if (digest !== undefined) {
      if (!lingerInDigest) this.#toDigest(digest, slot, -1);
      else {
        const time = (this.#versionTime as Float64Array)[slot] as number;
        digest.lingerHashed(this.keyHash(slot), time, rest[2 * slot] as number, this.#nodes.names[node] as string);
      }
    }
    this.#nodes.release(node);
    rest[2 * slot + 1] = 0;
  }

  /**
   * Adds (1) or takes out (-1) the slot's version in the digest, if it holds a versioned entry,
   * from the version's fields as the store keeps them: no version object is built, and the node
   * is its interned name, whose hash is cached (a name decoded from a frame is a new string each
   * time, whose hash the digest's table of node hashes would compute again on every write).
   */
  #toDigest(digest: BucketDigest, slot: number, sign: 1 | -1): void {
    const rest = this.#versionRest;
    const key = this.#keys[slot];
    if (rest === undefined || key === undefined) return;
    const node = rest[2 * slot + 1] as number;
    if (node === 0) return;
    digest.applyHashed(
      this.keyHash(slot),
      (this.#versionTime as Float64Array)[slot] as number,
      rest[2 * slot] as number,
      this.#nodes.names[node] as string,
      false,
      sign,
    );
  }

  /**
   * Room for about `entries` more keys (an estimate that may be up to twice what comes), made now:
   * a caller that knows about how many are coming (a bootstrap: CacheRepair estimates it from the
   * buckets it asks for) saves the doublings on the way, each a copy of every array and a move of
   * the key index (a tenth of a joiner's time at a million entries). Capped by
   * maxElementsInMemory; never shrinks. A cache bounded by bytes does not reserve: how many
   * entries its bytes hold is not known before they come.
   */
  reserve(entries: number): void {
    if (this.#maxBytes !== Number.POSITIVE_INFINITY || !(entries > 0)) return;
    const slots = Math.min(this.#maxSlots, this.#top + Math.ceil(entries));
    if (slots > this.#slots) this.#growTo(slots);
    this.#index.reserve(Math.min(this.#maxSlots, this.#index.size + Math.ceil(entries)));
  }

  /** Doubles the room for slots, up to the most there may ever be. */
  #grow(): void {
    this.#growTo(Math.min(this.#maxSlots, 2 * this.#slots));
  }

  #growTo(slots: number): void {
    this.policy.grow(slots);
    this.#keys = widened(this.#keys, slots);
    this.#values = widened(this.#values, slots);
    this.#times = widenedTyped(this.#times, new Float64Array(2 * slots));
    this.#life = widenedTyped(this.#life, new Uint32Array(slots));
    if (this.#versionTime !== undefined) this.#versionTime = widenedTyped(this.#versionTime, new Float64Array(slots));
    if (this.#versionRest !== undefined)
      this.#versionRest = widenedTyped(this.#versionRest, new Uint32Array(2 * slots));
    if (this.#sizes !== undefined) this.#sizes = widenedTyped(this.#sizes, new Float64Array(slots));
    if (this.#deferredAt !== undefined) this.#deferredAt = widenedTyped(this.#deferredAt, new Uint32Array(slots));
    if (this.#keyHashes !== undefined) this.#keyHashes = widenedTyped(this.#keyHashes, new Uint32Array(slots));
    this.#slots = slots;
  }
}

/** A copy of `array` with room for `length` elements, all the same elements kind (no holes). */
function widened<T>(array: Array<T | undefined>, length: number): Array<T | undefined> {
  const wider = new Array<T | undefined>(length).fill(undefined);
  for (let i = 0; i < array.length; i++) wider[i] = array[i];
  return wider;
}

function widenedTyped<A extends Float64Array | Uint32Array>(array: A, wider: A): A {
  wider.set(array);
  return wider;
}
