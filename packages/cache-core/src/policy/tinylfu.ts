/**
 * W-TinyLFU, the policy of Java's Caffeine (Einziger, Friedman, Manes, "TinyLFU: A Highly
 * Efficient Cache Admission Policy", ACM ToS 2017; the adaptive window from "Adaptive Software
 * Cache Management", Middleware 2018), with the departures listed at the end: a policy that
 * remembers how often keys were used, also after they left, at O(1) a request.
 *
 * Model. The store is split in three LRU-ordered regions:
 * - the admission window (half the capacity to start with; then as the climber says): every new
 *   key enters here, so a burst of new keys is served from the window even when none of them is
 *   popular yet;
 * - probation and protected, which make the main space (a segmented LRU, protected at most 80% of
 *   it): an entry leaving the window enters probation; a use of an entry in probation promotes it
 *   to protected; protected's least recent entry, when protected is over its share, goes back to
 *   probation.
 * When the store is full, the entry leaving the window (the candidate) and probation's least
 * recent entry (the victim) compete: the frequency sketch (frequency-sketch.ts) estimates how
 * often each was used lately, also while not cached, and the less used one leaves; on a tie the
 * victim stays, so a scan of one-time keys passes through the window without displacing the main
 * space. A candidate that is at least warm (estimate 6 or more) but loses is still admitted once
 * in 128 times at random, so that an attacker who inflates a victim's estimate by hash collisions
 * cannot lock every newcomer out (Caffeine's defence).
 * The window's size adapts (hill-climber.ts), from 2% of the capacity up to all but one entry
 * (LRU), towards where a slot earns as many hits in the window as in the main space, counting
 * for each side the misses on keys that recently left through it (its ghost, recent-keys.ts).
 *
 * What counts as a use: get of a held key (a hit), set of a new key (the miss that loads it) and
 * set of a held key (a write). peek, has, keys and entries are quiet, as in every policy here.
 *
 * Guarantees (the eviction seam's, eviction-policy.ts): one victim per insertion into a full
 * store, never the slot being inserted (the window always has room for it: at least one entry);
 * remove and clear name none. A hit is O(1) and allocates nothing: four counters in one 64-byte
 * block of the sketch, and a link move or two in typed arrays. Insertions and evictions are O(1)
 * apart from hashing the key once. Per entry the policy keeps 13 bytes: two links, its region
 * and its key's hash, in typed arrays indexed by slot.
 *
 * With a byte bound only (maxBytesLocalHeap, maxElementsInMemory 0) the capacity is not a count
 * known in advance: the policy then sizes itself (window, main space, sketch, ghosts) to the
 * number of entries held when the byte bound first evicts, and again whenever that number has
 * doubled since; until the first such eviction every entry stays in the window (it is LRU).
 *
 * Not guaranteed.
 * - The victim is not one a user can predict the way LRU's is, and a losing warm candidate is
 *   admitted at random (seed it through the constructor to make runs repeat). Prefer LRU where
 *   Ehcache's exact order is wanted (docs/configuration.md).
 * - O(1) is amortised for two periodic steps: the sketch halves its counters every 10 counted
 *   uses per entry (one pass over its table), and the end of a sample period (every 5 requests
 *   per entry) moves at most 1,000 entries between regions.
 * - The sketch and the ghosts (16 four-bit counters, 64 doorkeeper bits and 40 ghost bits an
 *   entry, 21 bytes, up to twice that as the tables round up to powers of two) are allocated when
 *   the store first reaches half its capacity, as Caffeine does its sketch: a cache that never
 *   fills pays nothing, and nothing is evicted before that. Until then each slot counts its own
 *   uses in a byte (up to 15), and the sketch starts from those counts: without them, keys read
 *   again and again while the cache filled met the first scan at a frequency of 0 against each
 *   newcomer's 1, and all of them left (Caffeine's 1% window puts them in protected instead).
 *
 * Where it departs from Caffeine, and why (measured in bench/README.md): the window is steered by
 * the within-sample density of hits and ghost hits, not by Caffeine's climber (hit rate against the last sample), and may
 * grow beyond Caffeine's 80%: on the cache2k traces Caffeine's rules lost to LRU by up to 3.8
 * points, and on sliding-reuse traces by 15 to 69. The window starts at half the capacity, not 1%. The
 * sketch has a doorkeeper (the TinyLFU paper's; Caffeine's library dropped it).
 */
import type { EvictionPolicy } from './eviction-policy.js';
import { FrequencySketch, hashKey } from './frequency-sketch.js';
import { HillClimber } from './hill-climber.js';
import { RecentKeys } from './recent-keys.js';
import { emptyList, NONE, SlotLinks } from './slot-links.js';

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;

/**
 * The share of the capacity the window starts with. Caffeine starts at 1%; measured here, a window
 * too small for a recency-biased workload loses most hits (75 points on the reuse trace) until the
 * climber has grown it, one that is too large for a frequency-biased one loses about 10, so the
 * cheaper mistake is the one to start with.
 */
const INITIAL_WINDOW_SHARE = 0.5;
/** Protected's share of the main space. */
const PROTECTED_SHARE = 0.8;
/** A losing candidate this warm may still be admitted, at random (hash-flooding defence). */
const WARM_CANDIDATE = 6;
/** Turns a key's hash into that of a key no ghost was given, as far as a ghost can tell (#countGhostHit). */
const NEVER_ADDED = 0x5bd1e995;
/** Most entries moved between regions at the end of a sample period. */
const MAX_TRANSFER = 1000;

export interface TinyLfuOptions {
  /** Seeds the 1-in-128 admission of losing warm candidates; by default a random seed. */
  readonly seed?: number;
}

/** Region sizes and their current maxima (diagnostics; tests). */
export interface TinyLfuRegions {
  readonly window: number;
  readonly probation: number;
  readonly protected: number;
  readonly windowMaximum: number;
  readonly protectedMaximum: number;
}

export class TinyLfuPolicy implements EvictionPolicy {
  readonly name = 'TINYLFU';
  readonly #links: SlotLinks;
  /** Each slot's region, and its key's hash (computed once: the sketch is consulted on every hit). */
  #region: Uint8Array;
  #hash: Int32Array;
  /** Each slot's uses (at most 15) before the sketch exists; dropped once it does. */
  #early: Uint8Array;
  readonly #window = emptyList();
  readonly #probation = emptyList();
  readonly #protected = emptyList();
  #size = 0;
  #windowSize = 0;
  #protectedSize = 0;
  /** Most slots held before an insertion evicts (Infinity: only the byte bound evicts). */
  readonly #countBound: number;
  /** The capacity the regions, sketch and ghosts are sized for. */
  #capacity: number;
  #windowMaximum: number;
  #protectedMaximum: number;
  #sketch: FrequencySketch | undefined;
  /** Keys that recently left through the window (rejected candidates) and through the main space (victims). */
  #windowGhost: RecentKeys | undefined;
  #mainGhost: RecentKeys | undefined;
  #climber: HillClimber;
  /** This sample's hits in each region. */
  #windowHits = 0;
  #mainHits = 0;
  /** This sample's misses on keys in each region's ghost, and the ghost's false ones (#countGhostHit). */
  #windowGhostHits = 0;
  #mainGhostHits = 0;
  #windowFalseHits = 0;
  #mainFalseHits = 0;
  #requests = 0;
  /** Evictions in the current sample (#endSample adapts the window only from samples that had some). */
  #sampleEvictions = 0;
  /** Whether the store has evicted since it was created or cleared (#evictOne). */
  #evicted = false;
  /** xorshift32 state, for the random admission only. */
  #random: number;

  constructor(capacity: number, slots = 16, options: TinyLfuOptions = {}) {
    if (capacity !== Number.POSITIVE_INFINITY && (!Number.isInteger(capacity) || capacity < 1)) {
      throw new RangeError(`TinyLfuPolicy: capacity must be a whole number >= 1, got ${capacity}`);
    }
    this.#links = new SlotLinks(slots);
    this.#region = new Uint8Array(slots);
    this.#hash = new Int32Array(slots);
    this.#early = new Uint8Array(slots);
    this.#countBound = capacity;
    this.#capacity = capacity;
    this.#climber = new HillClimber(Number.isFinite(capacity) ? capacity : 1);
    this.#windowMaximum = Math.max(1, Math.floor(INITIAL_WINDOW_SHARE * capacity));
    this.#protectedMaximum = Number.isFinite(capacity)
      ? Math.floor(PROTECTED_SHARE * (capacity - this.#windowMaximum))
      : 0;
    const seed = (options.seed ?? Math.random() * 2 ** 32) | 0;
    this.#random = seed === 0 ? 0x2545f491 : seed; // xorshift's state must not be 0
  }

  get size(): number {
    return this.#size;
  }

  get regions(): TinyLfuRegions {
    return {
      window: this.#windowSize,
      probation: this.#size - this.#windowSize - this.#protectedSize,
      protected: this.#protectedSize,
      windowMaximum: this.#windowMaximum,
      protectedMaximum: this.#protectedMaximum,
    };
  }

  grow(slots: number): void {
    this.#links.grow(slots);
    if (slots <= this.#region.length) return;
    const region = new Uint8Array(slots);
    region.set(this.#region);
    this.#region = region;
    const hash = new Int32Array(slots);
    hash.set(this.#hash);
    this.#hash = hash;
    if (this.#sketch === undefined) {
      const early = new Uint8Array(slots);
      early.set(this.#early);
      this.#early = early;
    }
  }

  insert(slot: number, key: string): number {
    const hash = hashKey(key);
    this.#hash[slot] = hash;
    if (this.#size >= this.#capacity) this.#countGhostHit(hash);
    this.#region[slot] = WINDOW;
    this.#links.push(this.#window, slot);
    this.#size++;
    this.#windowSize++;
    if (this.#sketch === undefined) {
      this.#early[slot] = 0;
      if (this.#size >= this.#capacity / 2) this.#allocate();
    }
    this.#count(slot, hash);
    const spilled = this.#spillWindow();
    const victim = this.#size > this.#countBound ? this.#evictOne(spilled, slot) : NONE;
    if (++this.#requests >= this.#climber.samplePeriod) this.#endSample();
    return victim;
  }

  access(slot: number): void {
    this.#onAccess(slot);
  }

  update(slot: number): void {
    this.#onAccess(slot);
  }

  remove(slot: number): void {
    switch (this.#region[slot]) {
      case WINDOW:
        this.#links.remove(this.#window, slot);
        this.#windowSize--;
        break;
      case PROBATION:
        this.#links.remove(this.#probation, slot);
        break;
      case PROTECTED:
        this.#links.remove(this.#protected, slot);
        this.#protectedSize--;
        break;
    }
    this.#size--;
  }

  evict(keep: number): number {
    if (this.#size <= 1) return NONE;
    // Sized by the byte bound: the first time it evicts, and whenever the count has doubled since.
    if (!Number.isFinite(this.#countBound) && (this.#sketch === undefined || this.#size > 2 * this.#capacity)) {
      this.#sizeTo(this.#size);
    }
    let candidate = this.#window.head;
    if (candidate === keep) candidate = this.#links.next(candidate);
    return this.#evictOne(candidate === NONE ? undefined : candidate, keep);
  }

  clear(): void {
    // The sketch and the regions' maxima are kept: they describe the workload, not the contents.
    for (const list of [this.#window, this.#probation, this.#protected]) {
      list.head = NONE;
      list.tail = NONE;
    }
    this.#size = 0;
    this.#windowSize = 0;
    this.#protectedSize = 0;
    // Refilled, the store holds every key again until it evicts: those hits say nothing either (#evictOne).
    this.#evicted = false;
  }

  #allocate(): void {
    const first = this.#sketch === undefined;
    this.#sketch = new FrequencySketch(this.#capacity);
    if (first) this.#replayEarlyUses(this.#sketch);
    this.#windowGhost = new RecentKeys(this.#capacity);
    this.#mainGhost = new RecentKeys(this.#capacity);
  }

  /** Sizes the regions, sketch and ghosts for `capacity` entries (the byte-bound case). */
  #sizeTo(capacity: number): void {
    this.#capacity = capacity;
    this.#climber = new HillClimber(capacity);
    this.#allocate();
    this.#resize(Math.max(1, Math.floor(INITIAL_WINDOW_SHARE * capacity)));
    this.#spillWindow();
  }

  /** The uses the held slots counted before the sketch existed, given to it; the counts are then dropped. */
  #replayEarlyUses(sketch: FrequencySketch): void {
    for (const list of [this.#window, this.#probation, this.#protected]) {
      for (let slot = list.head; slot !== NONE; slot = this.#links.next(slot)) {
        const hash = this.#hash[slot] as number;
        for (let use = this.#early[slot] as number; use > 0; use--) sketch.increment(hash);
      }
    }
    this.#early = new Uint8Array(0);
  }

  /** A use of `slot` (whose key hashes to `hash`): in the sketch, or in the slot's own count until there is one. */
  #count(slot: number, hash: number): void {
    const sketch = this.#sketch;
    if (sketch !== undefined) sketch.increment(hash);
    else this.#countEarly(slot);
  }

  #countEarly(slot: number): void {
    const uses = this.#early[slot] as number;
    if (uses < 15) this.#early[slot] = uses + 1;
  }

  /** A use of a held slot (a hit): counted in the sketch and the sample, moved in its region's order. */
  #onAccess(slot: number): void {
    const sketch = this.#sketch;
    if (sketch !== undefined) sketch.incrementSeen(this.#hash[slot] as number);
    else this.#countEarly(slot);
    switch (this.#region[slot]) {
      case WINDOW:
        this.#windowHits++;
        this.#links.moveToBack(this.#window, slot);
        break;
      case PROBATION:
        this.#mainHits++;
        this.#promote(slot);
        break;
      case PROTECTED:
        this.#mainHits++;
        this.#links.moveToBack(this.#protected, slot);
        break;
    }
    if (++this.#requests >= this.#climber.samplePeriod) this.#endSample();
  }

  /**
   * A miss that a little more room on one side would have been a hit: evidence for the climber.
   * A ghost answers yes falsely at a rate that grows with how full it is, and in a scan of keys
   * used once the window's ghost is full (every candidate is rejected into it) while the main
   * space's is nearly empty (nothing is admitted, so nothing leaves it): its false hits alone
   * grew the window, sample after sample, until the main space was too small for the popular
   * keys and the scan flushed them (a cache of 1,000 kept 25 to 64 of 100 hot keys through 10,000
   * one-time keys). So each ghost is also asked about a key it was never given (the miss's hash,
   * scrambled), and the climber is handed only the ghost hits beyond those false ones and their
   * noise (ghostEvidence).
   */
  #countGhostHit(hash: number): void {
    const windowGhost = this.#windowGhost;
    const mainGhost = this.#mainGhost;
    if (windowGhost === undefined || mainGhost === undefined) return;
    if (windowGhost.has(hash)) this.#windowGhostHits++;
    else if (mainGhost.has(hash)) this.#mainGhostHits++;
    const never = hash ^ NEVER_ADDED;
    if (windowGhost.has(never)) this.#windowFalseHits++;
    else if (mainGhost.has(never)) this.#mainFalseHits++;
  }

  /** Probation to protected; protected's least recent slot goes back to probation if protected is now over its share. */
  #promote(slot: number): void {
    this.#links.remove(this.#probation, slot);
    this.#region[slot] = PROTECTED;
    this.#links.push(this.#protected, slot);
    this.#protectedSize++;
    if (this.#protectedSize > this.#protectedMaximum) this.#demoteProtectedOverflow();
  }

  /** At most MAX_TRANSFER at a time: after a resize the rest follows with later promotions. */
  #demoteProtectedOverflow(): void {
    for (let i = 0; i < MAX_TRANSFER && this.#protectedSize > this.#protectedMaximum; i++) {
      const demoted = this.#protected.head;
      this.#links.remove(this.#protected, demoted);
      this.#protectedSize--;
      this.#region[demoted] = PROBATION;
      this.#links.push(this.#probation, demoted);
    }
  }

  /** Moves the window's oldest slots to probation while the window is over its size; returns the first one moved. */
  #spillWindow(): number | undefined {
    let first: number | undefined;
    while (this.#windowSize > this.#windowMaximum) {
      const slot = this.#window.head;
      this.#links.remove(this.#window, slot);
      this.#windowSize--;
      this.#region[slot] = PROBATION;
      this.#links.push(this.#probation, slot);
      first ??= slot;
    }
    return first;
  }

  /**
   * One slot must go: the candidate (the slot that just left the window, else the window's
   * oldest) and the victim (probation's oldest, else protected's) compete, and the less
   * frequently used one leaves, out of the order. `kept` (the slot being inserted) is never chosen.
   */
  #evictOne(spilled: number | undefined, kept: number): number {
    if (!this.#evicted) {
      // The sample's hits so far were made while the store held every key it was given, the
      // popular ones in the window (nothing had left it): no evidence about the window's size, as
      // for a sample without evictions (#endSample). Counted, they grew the window by 39 slots of
      // a cache of 200 early in its first scan, which moved all but one of 41 popular keys from
      // probation to the window; the one left at probation's head then tied with each of them
      // as it left the window (the candidate goes on a tie), and 40 of 41 left the cache.
      this.#evicted = true;
      this.#clearSampleHits();
    }
    this.#sampleEvictions++;
    let candidate = spilled ?? (this.#window.head === NONE ? undefined : this.#window.head);
    if (candidate === kept) candidate = undefined;
    let victim = this.#probation.head === NONE ? this.#protected.head : this.#probation.head;
    if (victim === kept) victim = this.#links.next(victim);
    let chosen: number;
    if (victim === NONE || victim === candidate) {
      // The main space has nobody else to offer (a cache of one entry, say): the candidate goes.
      if (candidate === undefined) return NONE;
      chosen = candidate;
      this.#windowGhost?.add(this.#hash[chosen] as number);
    } else if (candidate === undefined || this.#admit(candidate, victim)) {
      chosen = victim;
      this.#mainGhost?.add(this.#hash[chosen] as number);
    } else {
      chosen = candidate;
      this.#windowGhost?.add(this.#hash[chosen] as number);
    }
    this.remove(chosen);
    return chosen;
  }

  #admit(candidate: number, victim: number): boolean {
    const sketch = this.#sketch;
    // No sketch yet (a byte bound evicting before the store was ever half full): the victim goes.
    if (sketch === undefined) return true;
    const candidateFrequency = sketch.frequency(this.#hash[candidate] as number);
    if (candidateFrequency > sketch.frequency(this.#hash[victim] as number)) return true;
    if (candidateFrequency < WARM_CANDIDATE) return false;
    let x = this.#random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random = x;
    return (x & 127) === 0;
  }

  /** End of a sample period: the climber moves the boundary between window and main space. */
  #endSample(): void {
    // A sample in which nothing was evicted says nothing about the window's size: no admission was
    // decided (before the sketch exists the store has never even been full). Steered by such
    // samples, a cache whose popular keys all fit grew its window to the whole cache while they
    // were read (every sample a 100% hit rate), and the next scan of keys used once flushed them.
    if (this.#sketch !== undefined && this.#sampleEvictions > 0) {
      const next = this.#climber.adapt(
        this.#windowHits + ghostEvidence(this.#windowGhostHits, this.#windowFalseHits),
        this.#mainHits + ghostEvidence(this.#mainGhostHits, this.#mainFalseHits),
        this.#windowMaximum,
      );
      if (next > this.#windowMaximum) this.#growWindow(next);
      else if (next < this.#windowMaximum) this.#shrinkWindow(next);
    }
    this.#clearSampleHits();
    this.#requests = 0;
    this.#sampleEvictions = 0;
  }

  /** Forgets the hits, ghost hits and false ghost hits counted in this sample. */
  #clearSampleHits(): void {
    this.#windowHits = 0;
    this.#mainHits = 0;
    this.#windowGhostHits = 0;
    this.#mainGhostHits = 0;
    this.#windowFalseHits = 0;
    this.#mainFalseHits = 0;
  }

  /** Gives the window room taken from the main space, moving main's least recent slots into it as far as needed. */
  #growWindow(target: number): void {
    const mainMaximum = this.#capacity - target;
    let mainSize = this.#size - this.#windowSize;
    for (let moved = 0; mainSize > mainMaximum && moved < MAX_TRANSFER; moved++, mainSize--) {
      let slot = this.#probation.head;
      if (slot !== NONE) {
        this.#links.remove(this.#probation, slot);
      } else {
        slot = this.#protected.head;
        this.#links.remove(this.#protected, slot);
        this.#protectedSize--;
      }
      this.#region[slot] = WINDOW;
      this.#links.push(this.#window, slot);
      this.#windowSize++;
    }
    // Stopped by MAX_TRANSFER: the window grows by what it received; the next sample may go on.
    // Never below what the window holds: with a byte bound alone the main space may hold more
    // entries than the capacity the policy was sized for, and a negative maximum emptied the
    // window past its head, which broke the lists and, with them, the byte bound.
    this.#resize(Math.max(this.#windowSize, Math.min(target, this.#capacity - mainSize)));
  }

  /** Gives the main space room taken from the window, moving the window's least recent slots to probation as far as needed. */
  #shrinkWindow(target: number): void {
    for (let moved = 0; this.#windowSize > target && moved < MAX_TRANSFER; moved++) {
      const slot = this.#window.head;
      this.#links.remove(this.#window, slot);
      this.#windowSize--;
      this.#region[slot] = PROBATION;
      this.#links.push(this.#probation, slot);
    }
    this.#resize(Math.max(target, this.#windowSize));
  }

  #resize(windowMaximum: number): void {
    this.#windowMaximum = Math.max(0, windowMaximum);
    this.#protectedMaximum = Math.max(0, Math.floor(PROTECTED_SHARE * (this.#capacity - this.#windowMaximum)));
    if (this.#protectedSize > this.#protectedMaximum) this.#demoteProtectedOverflow();
  }
}

/**
 * The ghost hits of a sample that say more room would have helped: those beyond the false ones
 * measured in the same sample, and beyond two standard deviations of the difference of the two
 * counts (each about Poisson with the false rate's mean, so the difference's variance is about
 * twice the false count). Without the margin, the scan above still grew the window by a fifth of
 * the cache in some samples, from the noise of two counts of about 50.
 */
function ghostEvidence(hits: number, falseHits: number): number {
  return Math.max(0, hits - falseHits - 2 * Math.sqrt(2 * falseHits));
}
