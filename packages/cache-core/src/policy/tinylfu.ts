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
 * store, never the key being inserted (the window always has room for it: at least one entry),
 * reported before set returns; delete and clear report nothing. A hit is O(1) and allocates
 * nothing: a Map lookup, four counters in one 64-byte block of the sketch, and a pointer move or
 * two. Insertions and evictions are O(1) apart from hashing the key once.
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
 *   fills pays nothing, and nothing is evicted before that.
 *
 * Where it departs from Caffeine, and why (measured in bench/README.md): the window is steered by
 * the within-sample density of hits and ghost hits, not by Caffeine's small-cache climber, and may
 * grow beyond Caffeine's 80%: on the cache2k traces Caffeine's rules lost to LRU by up to 3.8
 * points, and on sliding-reuse traces by 15 to 69. The window starts at half the capacity, not 1%. The
 * sketch has a doorkeeper (the TinyLFU paper's; Caffeine's library dropped it).
 */
import type { EvictionListener, EvictionPolicy } from './eviction-policy.js';
import { FrequencySketch, hashKey } from './frequency-sketch.js';
import { HillClimber } from './hill-climber.js';
import { LinkedList } from './linked-list.js';
import { NodeStore } from './node-store.js';
import { RecentKeys } from './recent-keys.js';

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;
type Region = typeof WINDOW | typeof PROBATION | typeof PROTECTED;

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
/** Most entries moved between regions at the end of a sample period. */
const MAX_TRANSFER = 1000;

interface TinyLfuNode<V> {
  readonly key: string;
  value: V;
  /** hashKey(key), computed once: the sketch is consulted on every hit. */
  readonly hash: number;
  region: Region;
  prev: TinyLfuNode<V> | undefined;
  next: TinyLfuNode<V> | undefined;
}

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

export class TinyLfuPolicy<V extends object> extends NodeStore<V, TinyLfuNode<V>> implements EvictionPolicy<V> {
  readonly name = 'TINYLFU';
  readonly #window = new LinkedList<TinyLfuNode<V>>();
  readonly #probation = new LinkedList<TinyLfuNode<V>>();
  readonly #protected = new LinkedList<TinyLfuNode<V>>();
  #windowSize = 0;
  #protectedSize = 0;
  #windowMaximum: number;
  #protectedMaximum: number;
  #sketch: FrequencySketch | undefined;
  /** Keys that recently left through the window (rejected candidates) and through the main space (victims). */
  #windowGhost: RecentKeys | undefined;
  #mainGhost: RecentKeys | undefined;
  readonly #climber: HillClimber;
  /** This sample's hits in each region, plus misses on keys in its ghost. */
  #windowHits = 0;
  #mainHits = 0;
  #requests = 0;
  /** xorshift32 state, for the random admission only. */
  #random: number;

  constructor(capacity: number, onEvict: EvictionListener<V>, options: TinyLfuOptions = {}) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`TinyLfuPolicy: capacity must be a whole number >= 1, got ${capacity}`);
    }
    super(capacity, onEvict);
    this.#climber = new HillClimber(capacity);
    this.#windowMaximum = Math.max(1, Math.floor(INITIAL_WINDOW_SHARE * capacity));
    this.#protectedMaximum = Math.floor(PROTECTED_SHARE * (capacity - this.#windowMaximum));
    const seed = (options.seed ?? Math.random() * 2 ** 32) | 0;
    this.#random = seed === 0 ? 0x2545f491 : seed; // xorshift's state must not be 0
  }

  get regions(): TinyLfuRegions {
    return {
      window: this.#windowSize,
      probation: this.nodes.size - this.#windowSize - this.#protectedSize,
      protected: this.#protectedSize,
      windowMaximum: this.#windowMaximum,
      protectedMaximum: this.#protectedMaximum,
    };
  }

  get(key: string): V | undefined {
    const node = this.nodes.get(key);
    if (node === undefined) return undefined;
    this.#onAccess(node);
    return node.value;
  }

  set(key: string, value: V): void {
    const held = this.nodes.get(key);
    if (held !== undefined) {
      held.value = value;
      this.#onAccess(held);
      return;
    }
    const hash = hashKey(key);
    if (this.nodes.size >= this.capacity) this.#countGhostHit(hash);
    const node: TinyLfuNode<V> = { key, value, hash, region: WINDOW, prev: undefined, next: undefined };
    this.nodes.set(key, node);
    this.#window.push(node);
    this.#windowSize++;
    if (this.#sketch === undefined && this.nodes.size >= this.capacity / 2) {
      this.#sketch = new FrequencySketch(this.capacity);
      this.#windowGhost = new RecentKeys(this.capacity);
      this.#mainGhost = new RecentKeys(this.capacity);
    }
    this.#sketch?.increment(hash);
    const spilled = this.#spillWindow();
    if (this.nodes.size > this.capacity) this.#evictOne(spilled, node);
    if (++this.#requests >= this.#climber.samplePeriod) this.#endSample();
  }

  clear(): void {
    // The sketch and the regions' maxima are kept: they describe the workload, not the contents.
    this.nodes.clear();
    this.#window.clear();
    this.#probation.clear();
    this.#protected.clear();
    this.#windowSize = 0;
    this.#protectedSize = 0;
  }

  protected unlink(node: TinyLfuNode<V>): void {
    switch (node.region) {
      case WINDOW:
        this.#window.remove(node);
        this.#windowSize--;
        break;
      case PROBATION:
        this.#probation.remove(node);
        break;
      case PROTECTED:
        this.#protected.remove(node);
        this.#protectedSize--;
        break;
    }
  }

  /** A use of a held entry (a hit): counted in the sketch and the sample, moved in its region's order. */
  #onAccess(node: TinyLfuNode<V>): void {
    this.#sketch?.incrementSeen(node.hash);
    switch (node.region) {
      case WINDOW:
        this.#windowHits++;
        this.#window.moveToBack(node);
        break;
      case PROBATION:
        this.#mainHits++;
        this.#promote(node);
        break;
      case PROTECTED:
        this.#mainHits++;
        this.#protected.moveToBack(node);
        break;
    }
    if (++this.#requests >= this.#climber.samplePeriod) this.#endSample();
  }

  /** A miss that a little more room on one side would have been a hit: evidence for the climber. */
  #countGhostHit(hash: number): void {
    if (this.#windowGhost?.has(hash)) this.#windowHits++;
    else if (this.#mainGhost?.has(hash)) this.#mainHits++;
  }

  /** Probation to protected; protected's least recent entry goes back to probation if protected is now over its share. */
  #promote(node: TinyLfuNode<V>): void {
    this.#probation.remove(node);
    node.region = PROTECTED;
    this.#protected.push(node);
    this.#protectedSize++;
    if (this.#protectedSize > this.#protectedMaximum) this.#demoteProtectedOverflow();
  }

  /** At most MAX_TRANSFER at a time: after a resize the rest follows with later promotions. */
  #demoteProtectedOverflow(): void {
    for (let i = 0; i < MAX_TRANSFER && this.#protectedSize > this.#protectedMaximum; i++) {
      const demoted = this.#protected.head as TinyLfuNode<V>;
      this.#protected.remove(demoted);
      this.#protectedSize--;
      demoted.region = PROBATION;
      this.#probation.push(demoted);
    }
  }

  /** Moves the window's oldest entries to probation while the window is over its size; returns the first one moved. */
  #spillWindow(): TinyLfuNode<V> | undefined {
    let first: TinyLfuNode<V> | undefined;
    while (this.#windowSize > this.#windowMaximum) {
      const node = this.#window.head as TinyLfuNode<V>;
      this.#window.remove(node);
      this.#windowSize--;
      node.region = PROBATION;
      this.#probation.push(node);
      first ??= node;
    }
    return first;
  }

  /**
   * The store holds one entry too many: the candidate (the entry that just left the window, else
   * the window's oldest) and the victim (probation's oldest, else protected's) compete, and the
   * less frequently used one leaves. `inserted` is never chosen.
   */
  #evictOne(spilled: TinyLfuNode<V> | undefined, inserted: TinyLfuNode<V>): void {
    let candidate = spilled ?? this.#window.head;
    if (candidate === inserted) candidate = undefined;
    const victim = this.#probation.head ?? this.#protected.head;
    if (victim === undefined || victim === candidate) {
      // The main space has nobody else to offer (a cache of one entry, say): the candidate goes.
      this.#evictFrom(this.#windowGhost, candidate as TinyLfuNode<V>);
    } else if (candidate === undefined || this.#admit(candidate, victim)) {
      this.#evictFrom(this.#mainGhost, victim);
    } else {
      this.#evictFrom(this.#windowGhost, candidate);
    }
  }

  /** Evicts, remembering in the ghost of the side the entry left through. */
  #evictFrom(ghost: RecentKeys | undefined, node: TinyLfuNode<V>): void {
    ghost?.add(node.hash);
    this.evict(node);
  }

  #admit(candidate: TinyLfuNode<V>, victim: TinyLfuNode<V>): boolean {
    // The sketch exists: the store is full, so it has been at least half full.
    const sketch = this.#sketch as FrequencySketch;
    const candidateFrequency = sketch.frequency(candidate.hash);
    if (candidateFrequency > sketch.frequency(victim.hash)) return true;
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
    // Before the sketch exists the store has never been full: the sample says nothing about eviction.
    if (this.#sketch !== undefined) {
      const next = this.#climber.adapt(this.#windowHits, this.#mainHits, this.#windowMaximum);
      if (next > this.#windowMaximum) this.#growWindow(next);
      else if (next < this.#windowMaximum) this.#shrinkWindow(next);
    }
    this.#windowHits = 0;
    this.#mainHits = 0;
    this.#requests = 0;
  }

  /** Gives the window room taken from the main space, moving main's least recent entries into it as far as needed. */
  #growWindow(target: number): void {
    const mainMaximum = this.capacity - target;
    let mainSize = this.nodes.size - this.#windowSize;
    for (let moved = 0; mainSize > mainMaximum && moved < MAX_TRANSFER; moved++, mainSize--) {
      let node = this.#probation.head;
      if (node !== undefined) {
        this.#probation.remove(node);
      } else {
        node = this.#protected.head as TinyLfuNode<V>;
        this.#protected.remove(node);
        this.#protectedSize--;
      }
      node.region = WINDOW;
      this.#window.push(node);
      this.#windowSize++;
    }
    // Stopped by MAX_TRANSFER: the window grows by what it received; the next sample may go on.
    this.#resize(Math.min(target, this.capacity - mainSize));
  }

  /** Gives the main space room taken from the window, moving the window's least recent entries to probation as far as needed. */
  #shrinkWindow(target: number): void {
    for (let moved = 0; this.#windowSize > target && moved < MAX_TRANSFER; moved++) {
      const node = this.#window.head as TinyLfuNode<V>;
      this.#window.remove(node);
      this.#windowSize--;
      node.region = PROBATION;
      this.#probation.push(node);
    }
    this.#resize(Math.max(target, this.#windowSize));
  }

  #resize(windowMaximum: number): void {
    this.#windowMaximum = windowMaximum;
    this.#protectedMaximum = Math.floor(PROTECTED_SHARE * (this.capacity - windowMaximum));
    if (this.#protectedSize > this.#protectedMaximum) this.#demoteProtectedOverflow();
  }
}
