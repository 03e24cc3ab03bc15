/**
 * TinyLFU's memory of how often keys were used: a 4-bit count-min sketch that ages by halving,
 * behind a doorkeeper (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission
 * Policy", ACM ToS 2017). It remembers keys that are no longer cached, which is what lets the
 * admission policy tell a key that is popular but was evicted from one seen once.
 *
 * Model.
 * - Counters are 4 bits (0..15), eight to an Int32Array word. A key has four counters, in four
 *   different 16-byte quarters of one 64-byte block chosen by its hash, so an increment or an
 *   estimate touches one block: one cache line, not four scattered loads. Its estimate is the
 *   smallest of the four (count-min): collisions can only inflate it.
 * - Width: 16 counters per entry of the cache (rounded up to a power of two, at least 256 entries
 *   worth), as Caffeine sizes its sketch.
 * - The doorkeeper is a Bloom filter in front of the counters: the first occurrence of a key in a
 *   period only sets its bits; later ones count. Most keys of a real trace are seen once and never
 *   again, so they never dirty the counters, and the counters' collisions are those of the keys
 *   that matter. A key's estimate is its counters plus one if the doorkeeper has it.
 * - Ageing: after `period` counted increments (10 per entry of the cache), every counter is halved
 *   and the doorkeeper cleared, so the sketch describes the recent past, not all time. The
 *   doorkeeper alone is also cleared once it holds 8 keys per entry of its width (a scan fills it
 *   without moving the counters).
 *
 * Guarantees. An estimate is never below the true count of increments since the last halving
 * (capped at 15, and halving rounds down). increment and frequency are O(1) and allocate nothing.
 *
 * Not guaranteed. Estimates may be too high (hash collisions, a doorkeeper false positive), and
 * the halving is one pass over the table (a few hundred kilobytes for a cache of 100,000
 * entries), every `period` increments: O(1) per access amortised, not at worst.
 */

/** Keeps the low three bits of every 4-bit counter: a right shift by one then halves them all. */
const HALVE_MASK = 0x77777777;
/** The lowest bit of every counter: `word & ODD_MASK` marks the counters a halving rounds down. */
const ODD_MASK = 0x11111111;
const MIN_ENTRIES = 256;
/** Counted increments per cache entry between two halvings. */
const PERIOD_PER_ENTRY = 10;
/**
 * Keys the doorkeeper takes per unit of width before it is cleared even if no halving came: 8 bits
 * a key with four bits set, about 2.4% false positives. Without this bound a stream of keys each
 * seen once (a scan), which touches no counter and so never brings the halving, filled it until it
 * let every key through as seen before. Only the doorkeeper is cleared then, not the counters
 * halved: a scan says nothing about how often the keys that were counted are used, and halving
 * them too aged the hot keys at every such clearing (found by a review). 8, not fewer: clearing
 * (and halving) at 4 or 6 cost up to 0.8 points of hit ratio on the synthetic Zipf traces; at 8,
 * clearing the doorkeeper alone, every trace of bench:hitratio is as before or better (the scan
 * traces most: zipf-0.9+scans and loop-20k).
 */
const DOOR_KEYS_PER_ENTRY = 8;

function ceilingPowerOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/**
 * A hash of a string key, computed once when a key enters the cache: FNV-1a over the UTF-16 code
 * units, then a murmur3-style finaliser so that every output bit depends on every input bit (the
 * sketch takes its block from the low bits and its counters from a remix of all of them).
 *
 * 30 bits, not 32: a V8 small integer is 31 bits signed, and a number outside that range is a heap
 * object. A node holding a larger hash would box it, and every hit that passes it to a sketch
 * method V8 did not inline would allocate a copy (measured: 10 collections in 5M hits, against 0).
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

/** A second, independent-looking hash of the first: picks the counters inside the block. */
function counterHash(hash: number): number {
  const h = Math.imul(hash, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** A third: picks the doorkeeper's word (its low bits). */
function doorHash(hash: number): number {
  const h = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** The doorkeeper's four bits inside the word, from a mix of doorHash (so not from the word's index bits). */
function doorBits(d: number): number {
  const e = Math.imul(d ^ (d >>> 16), 0x5bd1e995);
  return (1 << ((e >>> 12) & 31)) | (1 << ((e >>> 17) & 31)) | (1 << ((e >>> 22) & 31)) | (1 << (e >>> 27));
}

export class FrequencySketch {
  /** 4-bit counters, 8 a word, in blocks of 16 words (64 bytes). */
  readonly #table: Int32Array;
  readonly #blockMask: number;
  /** The doorkeeper: a blocked Bloom filter, one 32-bit word per key, four bits set in it. */
  readonly #door: Int32Array;
  readonly #doorMask: number;
  /** Counted increments between two halvings. */
  readonly period: number;
  #additions = 0;
  /** Keys the doorkeeper took since it was last cleared, and how many it holds before it is too full to tell. */
  #doorKeys = 0;
  readonly #doorLimit: number;

  /** A sketch for a cache of `entries` entries. */
  constructor(entries: number) {
    const width = ceilingPowerOfTwo(Math.max(entries, MIN_ENTRIES));
    // 16 counters an entry, 8 a word.
    this.#table = new Int32Array(width * 2);
    this.#blockMask = (this.#table.length >>> 4) - 1;
    // 64 doorkeeper bits an entry: a period sees a few distinct keys per entry, each needing ~10.
    this.#door = new Int32Array(width * 2);
    this.#doorMask = this.#door.length - 1;
    this.#doorLimit = DOOR_KEYS_PER_ENTRY * width;
    this.period = PERIOD_PER_ENTRY * Math.max(entries, MIN_ENTRIES);
  }

  /** Counted increments since the last halving (for tests and diagnostics). */
  get additions(): number {
    return this.#additions;
  }

  /** Records one use of the key whose hashKey is `hash`. */
  increment(hash: number): void {
    const d = doorHash(hash);
    const word = d & this.#doorMask;
    const bits = doorBits(d);
    const door = this.#door[word] as number;
    if ((door & bits) !== bits) {
      // First sighting in this period: the doorkeeper remembers it, the counters stay clean.
      this.#door[word] = door | bits;
      if (++this.#doorKeys >= this.#doorLimit) this.#clearDoor();
      return;
    }
    this.incrementSeen(hash);
  }

  /**
   * Records one use of a key known to have been seen before (a hit: it was counted when it was
   * inserted), straight into its counters. The estimate is the same as increment's (counters plus
   * the doorkeeper's one), and a hit is spared the doorkeeper's memory access: at 100,000 entries,
   * a cache miss of the CPU's.
   */
  incrementSeen(hash: number): void {
    const table = this.#table;
    const block = (hash & this.#blockMask) << 4;
    const c = counterHash(hash);
    // Four counters, one in each 16-byte quarter of the block; 5 bits of `c` pick each.
    const w0 = block + (c & 3);
    const w1 = block + 4 + ((c >>> 8) & 3);
    const w2 = block + 8 + ((c >>> 16) & 3);
    const w3 = block + 12 + ((c >>> 24) & 3);
    const s0 = ((c >>> 2) & 7) << 2;
    const s1 = ((c >>> 10) & 7) << 2;
    const s2 = ((c >>> 18) & 7) << 2;
    const s3 = ((c >>> 26) & 7) << 2;
    // `| 0` keeps the sum a 32-bit integer (incrementing the top counter overflows it), so V8
    // stays on integer arithmetic: measured a fifth faster than letting it become a double.
    let added = false;
    let v = table[w0] as number;
    if (((v >>> s0) & 15) !== 15) {
      table[w0] = (v + (1 << s0)) | 0;
      added = true;
    }
    v = table[w1] as number;
    if (((v >>> s1) & 15) !== 15) {
      table[w1] = (v + (1 << s1)) | 0;
      added = true;
    }
    v = table[w2] as number;
    if (((v >>> s2) & 15) !== 15) {
      table[w2] = (v + (1 << s2)) | 0;
      added = true;
    }
    v = table[w3] as number;
    if (((v >>> s3) & 15) !== 15) {
      table[w3] = (v + (1 << s3)) | 0;
      added = true;
    }
    if (added && ++this.#additions >= this.period) this.#halve();
  }

  /** How often the key whose hashKey is `hash` was used lately: 0..15, never an underestimate. */
  frequency(hash: number): number {
    const table = this.#table;
    const block = (hash & this.#blockMask) << 4;
    const c = counterHash(hash);
    const f0 = ((table[block + (c & 3)] as number) >>> (((c >>> 2) & 7) << 2)) & 15;
    const f1 = ((table[block + 4 + ((c >>> 8) & 3)] as number) >>> (((c >>> 10) & 7) << 2)) & 15;
    const f2 = ((table[block + 8 + ((c >>> 16) & 3)] as number) >>> (((c >>> 18) & 7) << 2)) & 15;
    const f3 = ((table[block + 12 + ((c >>> 24) & 3)] as number) >>> (((c >>> 26) & 7) << 2)) & 15;
    const count = Math.min(f0, f1, f2, f3);
    const d = doorHash(hash);
    const bits = doorBits(d);
    const seen = ((this.#door[d & this.#doorMask] as number) & bits) === bits;
    return seen && count < 15 ? count + 1 : count;
  }

  /**
   * Ages the sketch: halves every counter and forgets the doorkeeper. The count of additions is
   * halved too, less a quarter of the counters that rounded down (each key has four), so the next
   * halving comes after about as many new uses as this one.
   */
  #halve(): void {
    const table = this.#table;
    let odd = 0;
    for (let i = 0; i < table.length; i++) {
      const word = table[i] as number;
      // The odd counters' low bits, summed by one multiplication (at most 8, no carries).
      odd += Math.imul(word & ODD_MASK, ODD_MASK) >>> 28;
      table[i] = (word >>> 1) & HALVE_MASK;
    }
    this.#additions = (this.#additions - (odd >>> 2)) >>> 1;
    this.#clearDoor();
  }

  #clearDoor(): void {
    this.#door.fill(0);
    this.#doorKeys = 0;
  }
}
