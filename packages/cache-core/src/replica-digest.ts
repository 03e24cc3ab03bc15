/**
 * The repair digest of a cache, kept up to date on every write instead of read from the whole
 * cache when a peer asks (issue 13: a link-up must not cost a scan of the cache).
 *
 * What a digest is (replication's repair/digest.ts uses the same functions, so the two always
 * agree): the set of (key, version, removed) a cache holds, live entries and tombstones alike,
 * spread over a power-of-two number of buckets by a hash of the key; per bucket the sum and the
 * xor of two 32-bit hashes of each item, and how many items it holds. Sum and xor are
 * order-independent and can be undone, so an item is added when a version is written and
 * subtracted when it leaves, in O(1); and a bucket at a smaller count is the sum (and xor) of
 * the buckets that fold onto it, since bucketOf keeps the key hash's low bits. So the digest is
 * kept at the most buckets there may be (65,536: 768 KiB a cache) and folded to the count a peer
 * asks for, in one pass over those tables.
 *
 * Guaranteed: after every write, removal, eviction, clear and tombstone change of the store and
 * tombstones it is attached to, fold(n) equals the digest computed from scratch over what they
 * hold, and the items lingering (linger(): an entry a read expired, until the sweep, in a cache
 * that does not send expiries). Not guaranteed: an entry past its expiry that is still held (not
 * yet read or swept) counts here, where a digest read from the cache would skip it; two nodes
 * then differ in that bucket until the sweep, and a repair finds nothing to pull there. Only a
 * cache whose entries all live in memory keeps one (a disk tier's entries are read from the disk
 * when asked).
 */
import { compareVersions, type Version } from './version.js';

/** The most buckets a digest may have (a power of two). */
export const MAX_DIGEST_BUCKETS = 65_536;

/** A digest folded to a bucket count: 8 bytes per bucket (sum, xor, little-endian) and item counts. */
export interface FoldedDigest {
  readonly digest: Uint8Array;
  readonly counts: Uint32Array;
}

/** FNV-1a over UTF-16 code units, 32 bits, from a given offset basis. */
export function fnv1a(text: string, basis = 0x811c9dc5): number {
  let hash = basis;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * One round of murmur3's 32-bit mixing, mix(hash, value) = round(hash, scramble(value)), split in
 * two because every value but `removed` goes into both of an item's hashes: scrambled once, not
 * twice, and the small pieces are inlined where ten calls of the whole were not (a digest write
 * measured 87 ns before, 57 after; the hashes are the same, test/replica-digest.test.ts pins them).
 */
function scramble(value: number): number {
  const k = Math.imul(value | 0, 0xcc9e2d51);
  return Math.imul((k << 15) | (k >>> 17), 0x1b873593);
}

function round(hash: number, scrambled: number): number {
  const h = hash ^ scrambled;
  return (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) >>> 0;
}

/** `removed` as each hash mixes it in: 1 or 2 into the first, 3 or 4 into the second. */
const REMOVED_A = scramble(1);
const PRESENT_A = scramble(2);
const REMOVED_B = scramble(3);
const PRESENT_B = scramble(4);

/**
 * The item's two hashes, written into `out` ([a, b]) (the key's hash's low bits are its bucket).
 * Numbers only: no string is built per item. The order in which the fields are
 * mixed is part of the wire (peers compare digests): a is keyHash, low, high, counter, node,
 * removed; b is keyHash, node, removed, counter, high, low.
 */
export function hashItem(
  keyHash: number,
  time: number,
  counter: number,
  nodeHash: number,
  removed: boolean,
  out: Uint32Array,
): void {
  const low = scramble(time % 0x1_0000_0000);
  const high = scramble(Math.floor(time / 0x1_0000_0000));
  const count = scramble(counter);
  const node = scramble(nodeHash);
  let a = round(keyHash ^ 0x9e3779b9, low);
  a = round(a, high);
  a = round(a, count);
  a = round(a, node);
  a = round(a, removed ? REMOVED_A : PRESENT_A);
  let b = round(keyHash ^ 0x85ebca6b, node);
  b = round(b, removed ? REMOVED_B : PRESENT_B);
  b = round(b, count);
  b = round(b, high);
  b = round(b, low);
  out[0] = a;
  out[1] = b;
}

/** The sums, xors and counts as the wire carries them (counts stay with the caller). */
export function encodeDigest(sums: Uint32Array, xors: Uint32Array): Uint8Array {
  const bucketCount = sums.length;
  const digest = new Uint8Array(bucketCount * 8);
  const view = new DataView(digest.buffer);
  for (let i = 0; i < bucketCount; i++) {
    view.setUint32(i * 8, sums[i] as number, true);
    view.setUint32(i * 8 + 4, xors[i] as number, true);
  }
  return digest;
}

/**
 * Items applied and not yet added to the table, at most: a write's item is hashed at once (its
 * key and version are at hand then, and may not be later) and added with the others in a loop of
 * their own (see #settle).
 */
const PENDING_MOST = 256;

/**
 * Items lingering at most (about 100 bytes each): past it, an entry leaves the digest as it leaves
 * the cache, as before lingering was (a cache whose reads expire thousands of entries a second
 * would otherwise hold hundreds of thousands of them for a sweep interval).
 */
const LINGERING_MOST = 65_536;

/**
 * Per-bucket sums, xors and counts at MAX_DIGEST_BUCKETS, kept as items come and go.
 *
 * Why items wait. A write touches one bucket of a table of 768 KiB picked by a hash: a miss to
 * memory, and when each write makes its own, the work between two writes keeps the CPU from
 * overlapping one miss with the next. The digest's share of a replicated put measured 0.2-0.25 µs
 * on each side, about as much as the key index's lookup (issue 20). So an item's hashes are
 * computed as it is applied and kept in a small buffer; every PENDING_MOST items, and before the
 * table is read, they are added in one loop of nothing but those reads and writes, where the
 * misses overlap. The result is the same: sums and xors do not depend on the order of the items.
 */
export class BucketDigest {
  readonly #buckets: number;
  /**
   * Per bucket, its sum, xor and count side by side (at 3 * bucket): a write touches one bucket
   * picked by a hash, so one cache line rather than three (a third of the misses on a large cache).
   */
  readonly #table: Uint32Array;
  readonly #hashes = new Uint32Array(2);
  /** Per item waiting: its bucket's place in the table, its two hashes and its sign (1 or -1, as an int32). */
  readonly #pending = new Int32Array(4 * PENDING_MOST);
  #pendingCount = 0;
  /** Node names' hashes: a cluster has a handful of nodes, and every versioned write names one. */
  readonly #nodeHashes = new Map<string, number>();
  /**
   * Items that left the cache and stay in the digest until forgetLingering() (linger()), by their
   * key's hash (as an int32, a small integer to V8), not the key. Keyed by the key, up to 65,536
   * keys the cache no longer held stayed alive whatever their length (1,024 of 64 KiB held 64 MiB),
   * and while any lingered every digest write hashed its fresh key string again for the Map: about
   * 60 ns more on one of 150 (keys of 45 characters), 120 ns with 65,536 lingering; now under 10
   * and about 60. Two keys of one hash end each other's lingering: the one ended leaves the digest
   * as it did before lingering was, until the sweep a difference from the peers and no more.
   */
  #lingering: Map<number, { readonly time: number; readonly counter: number; readonly node: string }> | undefined;

  /**
   * @param buckets a power of two up to MAX_DIGEST_BUCKETS: the most, for a digest kept to be
   * folded to whatever count a peer asks; exactly that count, for one read once from a cache.
   */
  constructor(buckets = MAX_DIGEST_BUCKETS) {
    this.#buckets = buckets;
    this.#table = new Uint32Array(3 * buckets);
  }

  add(key: string, version: Version, removed: boolean): void {
    this.apply(key, version.time, version.counter, version.node, removed, 1);
  }

  remove(key: string, version: Version, removed: boolean): void {
    this.apply(key, version.time, version.counter, version.node, removed, -1);
  }

  /** The digest folded to `bucketCount` buckets (a power of two up to the digest's own count). */
  fold(bucketCount: number): FoldedDigest {
    this.#settle();
    const sums = new Uint32Array(bucketCount);
    const xors = new Uint32Array(bucketCount);
    const counts = new Uint32Array(bucketCount);
    const mask = bucketCount - 1;
    const table = this.#table;
    for (let i = 0; i < this.#buckets; i++) {
      const at = 3 * i;
      const count = table[at + 2] as number;
      if (count === 0) continue;
      const bucket = i & mask;
      sums[bucket] = ((sums[bucket] as number) + (table[at] as number)) >>> 0;
      xors[bucket] = ((xors[bucket] as number) ^ (table[at + 1] as number)) >>> 0;
      counts[bucket] = (counts[bucket] as number) + count;
    }
    return { digest: encodeDigest(sums, xors), counts };
  }

  /**
   * Adds (sign 1) or takes out (sign -1) an item given by its fields: the memory store keeps a
   * version as numbers, and building an object to take one out would be an allocation a write.
   */
  apply(key: string, time: number, counter: number, node: string, removed: boolean, sign: 1 | -1): void {
    this.applyHashed(fnv1a(key), time, counter, node, removed, sign);
  }

  /** apply() of a key whose hash (fnv1a) the caller keeps: a long key's hash costs more than the rest of a write here. */
  applyHashed(keyHash: number, time: number, counter: number, node: string, removed: boolean, sign: 1 | -1): void {
    if (this.#lingering !== undefined && this.#lingering.size > 0) this.#endLingering(keyHash);
    this.#applyHashed(keyHash, time, counter, node, removed, sign);
  }

  #applyHashed(keyHash: number, time: number, counter: number, node: string, removed: boolean, sign: 1 | -1): void {
    let nodeHash = this.#nodeHashes.get(node);
    if (nodeHash === undefined) {
      nodeHash = fnv1a(node);
      if (this.#nodeHashes.size < 4096) this.#nodeHashes.set(node, nodeHash);
    }
    const hashes = this.#hashes;
    hashItem(keyHash, time, counter, nodeHash, removed, hashes);
    const pending = this.#pending;
    const at = 4 * this.#pendingCount;
    pending[at] = 3 * (keyHash & (this.#buckets - 1));
    pending[at + 1] = hashes[0] as number;
    pending[at + 2] = hashes[1] as number;
    pending[at + 3] = sign;
    if (++this.#pendingCount === PENDING_MOST) this.#settle();
  }

  /**
   * The live entry `key` at this version left the cache, and is to stay in the digest until
   * forgetLingering(), or until anything else of `key` comes or goes (a write, a tombstone): peers
   * that still hold the entry have it in theirs meanwhile (the engine says when: lingerReadExpiries).
   */
  linger(key: string, time: number, counter: number, node: string): void {
    this.lingerHashed(fnv1a(key), time, counter, node);
  }

  /** linger() of a key whose hash the caller keeps. */
  lingerHashed(keyHash: number, time: number, counter: number, node: string): void {
    this.#lingering ??= new Map();
    this.#endLingering(keyHash);
    if (this.#lingering.size < LINGERING_MOST) this.#lingering.set(keyHash | 0, { time, counter, node });
    else this.#applyHashed(keyHash, time, counter, node, false, -1);
  }

  /**
   * Takes the lingering items out of the digest, all of them or those no newer than `notNewerThan`
   * (a peer's removeAll: the peers' copies of those go with it, newer ones stay); answers how many.
   */
  forgetLingering(notNewerThan?: Version): number {
    const lingering = this.#lingering;
    if (lingering === undefined || lingering.size === 0) return 0;
    let count = 0;
    for (const [keyHash, item] of lingering) {
      if (notNewerThan !== undefined && compareVersions(item, notNewerThan) > 0) continue;
      lingering.delete(keyHash);
      this.#applyHashed(keyHash, item.time, item.counter, item.node, false, -1);
      count++;
    }
    if (lingering.size === 0) this.#lingering = undefined;
    return count;
  }

  /**
   * Takes `key`'s lingering item, if any (and older than `newerThanIt`, if given), out of the
   * digest, for a change of the key that reaches the peers' copies but not this digest (a write
   * too large for memory, a removal too old to leave a tombstone); answers whether it did.
   */
  endLingering(key: string, newerThanIt?: Version): boolean {
    return this.#lingering !== undefined && this.#lingering.size > 0 && this.#endLingering(fnv1a(key), newerThanIt);
  }

  #endLingering(keyHash: number, newerThanIt?: Version): boolean {
    const item = this.#lingering?.get(keyHash | 0);
    if (item === undefined || (newerThanIt !== undefined && compareVersions(item, newerThanIt) >= 0)) return false;
    this.#lingering?.delete(keyHash | 0);
    this.#applyHashed(keyHash, item.time, item.counter, item.node, false, -1);
    return true;
  }

  /** Adds the items waiting to the table. */
  #settle(): void {
    const pending = this.#pending;
    const table = this.#table;
    const end = 4 * this.#pendingCount;
    // Adding and subtracting modulo 2^32, xor both ways: an item taken out leaves no trace. The
    // hashes come back as int32s, equal modulo 2^32 to the uint32s written: the same sums and xors.
    for (let i = 0; i < end; i += 4) {
      const at = pending[i] as number;
      const sign = pending[i + 3] as number;
      table[at] = ((table[at] as number) + sign * (pending[i + 1] as number)) >>> 0;
      table[at + 1] = ((table[at + 1] as number) ^ (pending[i + 2] as number)) >>> 0;
      table[at + 2] = (table[at + 2] as number) + sign;
    }
    this.#pendingCount = 0;
  }
}
