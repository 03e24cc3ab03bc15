/**
 * Digests of a cache's state, compared between two nodes to find what differs without sending it.
 *
 * The state of a cache, for repair, is the set of (key, version) pairs it holds: live entries and
 * tombstones alike. Keys are spread over a power-of-two number of buckets by a hash of the key
 * alone, so a key falls into the same bucket on every node. A bucket's digest is 64 bits: the sum
 * and the xor of two independent 32-bit hashes of each (key, version, removed) in it (FNV-1a of
 * the key and the version's node, mixed with the version's numbers by murmur3 rounds). Both are
 * order-independent, so neither side has to sort anything, and two nodes that hold the same pairs
 * compute the same digest.
 *
 * Not guaranteed: two different bucket contents can collide on 64 bits. The odds are about 2^-64
 * per bucket and repair; a collision leaves that bucket unrepaired until its contents change.
 */
import type { Version } from '@meshcache/core';

/** What a node holds of one key, as repair sees it. */
export interface KeyVersion {
  readonly key: string;
  readonly version: Version;
  /** True for a tombstone (the key was removed at that version). */
  readonly removed: boolean;
}

/** Buckets per digest: about 32 keys per bucket, a power of two from 1 to 65,536. */
export function bucketCountFor(keys: number): number {
  const wanted = Math.ceil(keys / 32);
  let count = 1;
  while (count < wanted && count < 65_536) count *= 2;
  return count;
}

/** The bucket of a key among `bucketCount` (a power of two). */
export function bucketOf(key: string, bucketCount: number): number {
  return fnv1a(key, 0x811c9dc5) & (bucketCount - 1);
}

/**
 * Accumulates a digest item by item (so a large cache can be read in slices between other work).
 * `finish()` gives 8 bytes per bucket, the sum and the xor of the bucket's item hashes,
 * little-endian, and how many items each bucket holds (not sent: the requester uses it to ask for
 * whole buckets).
 */
export class DigestBuilder {
  readonly bucketCount: number;
  readonly #sums: Uint32Array;
  readonly #xors: Uint32Array;
  readonly #counts: Uint32Array;

  constructor(bucketCount: number) {
    this.bucketCount = bucketCount;
    this.#sums = new Uint32Array(bucketCount);
    this.#xors = new Uint32Array(bucketCount);
    this.#counts = new Uint32Array(bucketCount);
  }

  add(item: KeyVersion): void {
    const keyHash = fnv1a(item.key, 0x811c9dc5);
    const bucket = keyHash & (this.bucketCount - 1);
    this.#counts[bucket] = (this.#counts[bucket] ?? 0) + 1;
    // Two hashes of (key, version, removed), mixed from numbers: no string is built per item.
    const { time, counter, node } = item.version;
    const nodeHash = fnv1a(node, 0x811c9dc5);
    const low = time % 0x1_0000_0000;
    const high = Math.floor(time / 0x1_0000_0000);
    let a = mix(keyHash ^ 0x9e3779b9, low);
    a = mix(a, high);
    a = mix(a, counter);
    a = mix(a, nodeHash);
    a = mix(a, item.removed ? 1 : 2);
    let b = mix(keyHash ^ 0x85ebca6b, nodeHash);
    b = mix(b, item.removed ? 3 : 4);
    b = mix(b, counter);
    b = mix(b, high);
    b = mix(b, low);
    this.#sums[bucket] = ((this.#sums[bucket] ?? 0) + a) >>> 0;
    this.#xors[bucket] = ((this.#xors[bucket] ?? 0) ^ b) >>> 0;
  }

  finish(): { digest: Uint8Array; counts: Uint32Array } {
    return { digest: encodeDigest(this.#sums, this.#xors), counts: this.#counts };
  }
}

/** The digest of `items` at once (see DigestBuilder). */
export function computeDigest(
  items: Iterable<KeyVersion>,
  bucketCount: number,
): { digest: Uint8Array; counts: Uint32Array } {
  const builder = new DigestBuilder(bucketCount);
  for (const item of items) builder.add(item);
  return builder.finish();
}

function encodeDigest(sums: Uint32Array, xors: Uint32Array): Uint8Array {
  const bucketCount = sums.length;
  const digest = new Uint8Array(bucketCount * 8);
  const view = new DataView(digest.buffer);
  for (let i = 0; i < bucketCount; i++) {
    view.setUint32(i * 8, sums[i] ?? 0, true);
    view.setUint32(i * 8 + 4, xors[i] ?? 0, true);
  }
  return digest;
}

/** One round of murmur3's 32-bit mixing: spreads every input bit over the whole hash. */
function mix(hash: number, value: number): number {
  let k = Math.imul(value | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = hash ^ k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** The buckets whose digests differ (both digests have the same bucket count). */
export function differingBuckets(ours: Uint8Array, theirs: Uint8Array): number[] {
  const differing: number[] = [];
  for (let offset = 0; offset < ours.length; offset += 8) {
    for (let i = 0; i < 8; i++) {
      if (ours[offset + i] !== theirs[offset + i]) {
        differing.push(offset / 8);
        break;
      }
    }
  }
  return differing;
}

/** FNV-1a over UTF-16 code units, 32 bits, from a given offset basis. */
function fnv1a(text: string, basis: number): number {
  let hash = basis;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
