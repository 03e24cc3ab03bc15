/**
 * "Was this key among the last n added?", approximately and in constant memory: the ghost of a
 * region of W-TinyLFU, remembering by hash which keys recently left through it (ARC's ghost
 * lists, Megiddo and Modha, FAST 2003, without the keys themselves).
 *
 * Model. Two Bloom filters, the current generation and the previous one; `add` sets a key's three
 * bits in the current one, and after n additions the previous generation is cleared and the two
 * swap. A key is remembered from when it is added until between n and 2n further additions have
 * happened. Each filter is blocked: a key's bits live in one 32-bit word, so `add` and `has` touch
 * one word per generation.
 *
 * Guarantees. No false negatives inside the horizon; O(1) add and has, no allocation; the swap
 * clears one filter of ~10 bits per remembered key, every n additions (O(1) amortised).
 *
 * Not guaranteed. False positives: with 10 bits a key and three bits in a word, a few per cent,
 * which only adds noise to a statistic (the climber's), never changes what the cache holds.
 */

const BITS_PER_KEY = 10;

function ceilingPowerOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** A mix of the key's hash of its own, so that ghost false positives do not follow the sketch's. */
function ghostHash(hash: number): number {
  const h = Math.imul(hash ^ (hash >>> 16), 0x7feb352d);
  return h ^ (h >>> 15);
}

function bits(g: number): number {
  const e = Math.imul(g ^ (g >>> 13), 0x846ca68b);
  return (1 << ((e >>> 17) & 31)) | (1 << ((e >>> 22) & 31)) | (1 << (e >>> 27));
}

export class RecentKeys {
  #current: Int32Array;
  #previous: Int32Array;
  readonly #mask: number;
  /** Additions per generation. */
  readonly #generation: number;
  #added = 0;

  /** Remembers at least the last `n` keys added (n >= 1). */
  constructor(n: number) {
    const words = ceilingPowerOfTwo(Math.ceil((n * BITS_PER_KEY) / 32));
    this.#current = new Int32Array(words);
    this.#previous = new Int32Array(words);
    this.#mask = words - 1;
    this.#generation = n;
  }

  /** Remembers the key whose hashKey is `hash`. */
  add(hash: number): void {
    const g = ghostHash(hash);
    const word = g & this.#mask;
    this.#current[word] = (this.#current[word] as number) | bits(g);
    if (++this.#added >= this.#generation) {
      const cleared = this.#previous;
      cleared.fill(0);
      this.#previous = this.#current;
      this.#current = cleared;
      this.#added = 0;
    }
  }

  /** Whether the key whose hashKey is `hash` was added lately (or, rarely, looks as if it was). */
  has(hash: number): boolean {
    const g = ghostHash(hash);
    const word = g & this.#mask;
    const b = bits(g);
    return ((this.#current[word] as number) & b) === b || ((this.#previous[word] as number) & b) === b;
  }
}
