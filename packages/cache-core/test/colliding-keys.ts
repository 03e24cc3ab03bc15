/**
 * Keys that collide in the key index (packages/cache-core/src/memory/key-index.ts): keys of one
 * home under a key the test knows (homeColliding, at the end), and the family below.
 *
 * Keys whose hash under the key index's first hash (murmur3's rounds, two UTF-16 units a word,
 * seeded; replaced by HalfSipHash-1-3) was the same whatever the seed: murmur3's seed-independent
 * multicollisions. An outsider's attack found them; the tests keep them to show that they no
 * longer collide, and as keys of ordinary text a store must take.
 *
 * A round is `h ^= m(word); h = rotl(h, 13) * 5 + c`, m a bijection of 32-bit words (mixWord).
 * Two words whose m differs in bit 18 alone give states that differ in bit 18 alone; rotl(13)
 * moves it to bit 31, where neither `* 5` (h + (h << 2): the shifted copy loses it, the sum has
 * nothing above it to carry into) nor `+ c` can spread it: the states after the round differ in
 * bit 31 alone, whatever they were. The next block's words, chosen with m differing in bit 31
 * alone, cancel it. So a block of four units (two words) has two forms that leave the state the
 * same for every state, hence for every seed, and a key of n such blocks has 2^n forms, all of
 * the same length (the length is mixed in last), all with one hash, under any seed.
 *
 * The pairs are structured: words whose m differ in bit 31 alone differ by +-0x3bb1 in their high
 * unit (the low one is the same); in bit 18 alone, by +-0x5ea8 in the low unit (and a fixed amount
 * in the high one). So keys of Latin-1 (units below 0x100) have none, but keys of ordinary text
 * do: here every unit is a CJK ideograph (U+4E00..U+9FFF) or a Hangul syllable (U+AC00..U+D7A3),
 * keys any UTF-8 front end passes (no lone surrogates needed).
 */

import { hashString } from '../src/memory/key-index.js';
import { MemoryStore } from '../src/memory/memory-store.js';

const C1 = 0xcc9e2d51 | 0;
const C2 = 0x1b873593 | 0;

/** The inverse of an odd number modulo 2^32 (Newton's iteration). */
function inverse(c: number): number {
  let x = c;
  for (let i = 0; i < 6; i++) x = Math.imul(x, 2 - Math.imul(c, x));
  return x;
}

const I1 = inverse(C1);
const I2 = inverse(C2);

/** The first hash's per-word mixing (murmur3's). */
export function mixWord(word: number): number {
  let k = Math.imul(word, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** mixWord's inverse. */
export function unmixWord(mixed: number): number {
  let k = Math.imul(mixed, I2);
  k = (k >>> 15) | (k << 17);
  return Math.imul(k, I1);
}

const CJK_FROM = 0x4e00;
const CJK_COUNT = 0x5200;
/** A CJK ideograph or a Hangul syllable. */
const isText = (unit: number) => (unit >= 0x4e00 && unit <= 0x9fff) || (unit >= 0xac00 && unit <= 0xd7a3);

/** Two words of text units, the first of CJK ideographs, from `start` on, whose mixWords differ in `difference` alone. */
function wordPair(difference: number, start: number): [number, number] {
  for (let n = start; n < start + CJK_COUNT * 64; n++) {
    const word = (CJK_FROM + (n % CJK_COUNT)) | ((CJK_FROM + ((n * 7919) % CJK_COUNT)) << 16);
    const other = unmixWord(mixWord(word) ^ difference);
    if (isText(other & 0xffff) && isText(other >>> 16)) return [word, other];
  }
  throw new Error('no pair of words found');
}

const wordText = (word: number) => String.fromCharCode(word & 0xffff, word >>> 16);

/** The two forms of a four-unit block that leave any state the same. */
export function blockForms(variant = 0): [string, string] {
  const [a1, b1] = wordPair(1 << 18, 1 + 1000 * variant);
  const [a2, b2] = wordPair(1 << 31, 500_001 + 1000 * variant);
  return [wordText(a1) + wordText(a2), wordText(b1) + wordText(b2)];
}

/**
 * `count` distinct keys (count <= 2^blocks), all `prefix` (of even length, so that blocks start
 * on a word) and then `blocks` blocks: one hash among them under every seed. Distinct prefixes
 * give distinct groups.
 */
export function collidingKeys(count: number, prefix = '', blocks = 16): string[] {
  if (prefix.length % 2 !== 0) throw new Error('the prefix must have an even length');
  if (count > 2 ** blocks) throw new Error('too few blocks');
  const [one, two] = blockForms();
  const keys: string[] = [];
  for (let n = 0; n < count; n++) {
    let key = prefix;
    for (let b = 0; b < blocks; b++) key += (n >>> b) & 1 ? two : one;
    keys.push(key);
  }
  return keys;
}

/**
 * `count` keys `prefix` + a number whose hashString under (key0, key1) agree in their low `bits`
 * bits: one home in any table of up to 2^bits positions. Only someone who knows the index's key
 * can make them (a test that hands the index its seeds).
 */
export function homeColliding(count: number, prefix: string, key0: number, key1: number, bits: number): string[] {
  const mask = (1 << bits) - 1;
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}${i}`;
    if ((hashString(key, key0, key1) & mask) === 0) keys.push(key);
  }
  return keys;
}

/** A memory store of strings with no bound and no expiry, filled with `count` keys `k0`, `k1`...: the index's table past TABLE_FROM. */
export function filledStore(count: number): MemoryStore<string> {
  const memory = new MemoryStore<string>({
    policy: 'LRU',
    maxEntries: 0,
    maxBytes: 0,
    defaults: { timeToLiveSeconds: 0, timeToIdleSeconds: 0 },
    onEvict: () => {},
  });
  for (let n = 0; n < count; n++) memory.write(`k${n}`, 'v', 0, 0, 0, 0, undefined, 0);
  return memory;
}
