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
 * A cache whose entries all live in memory keeps its digest up to date as it is written (core's
 * replica-digest.ts, with the same hash functions), so a link-up reads nothing; the builder
 * below reads the digest of a cache with a disk tier from what it holds.
 *
 * Not guaranteed: two different bucket contents can collide on 64 bits. The odds are about 2^-64
 * per bucket and repair; a collision leaves that bucket unrepaired until its contents change.
 */
import type { Version } from '@meshcache/core';
import { encodeDigest, fnv1a, hashItem, MAX_DIGEST_BUCKETS } from '@meshcache/core/internal';

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
  while (count < wanted && count < MAX_DIGEST_BUCKETS) count *= 2;
  return count;
}

/** The bucket of a key among `bucketCount` (a power of two). */
export function bucketOf(key: string, bucketCount: number): number {
  return fnv1a(key) & (bucketCount - 1);
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
  readonly #hashes = new Uint32Array(2);

  constructor(bucketCount: number) {
    this.bucketCount = bucketCount;
    this.#sums = new Uint32Array(bucketCount);
    this.#xors = new Uint32Array(bucketCount);
    this.#counts = new Uint32Array(bucketCount);
  }

  add(item: KeyVersion): void {
    const keyHash = fnv1a(item.key);
    const bucket = keyHash & (this.bucketCount - 1);
    this.#counts[bucket] = (this.#counts[bucket] ?? 0) + 1;
    const { time, counter, node } = item.version;
    const hashes = this.#hashes;
    hashItem(keyHash, time, counter, fnv1a(node), item.removed, hashes);
    this.#sums[bucket] = ((this.#sums[bucket] ?? 0) + (hashes[0] as number)) >>> 0;
    this.#xors[bucket] = ((this.#xors[bucket] ?? 0) ^ (hashes[1] as number)) >>> 0;
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
