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
 * The digest itself is core's BucketDigest (replica-digest.ts). A cache whose entries all live
 * in memory keeps one up to date as it is written, so a link-up reads nothing; the digest of a
 * cache with a disk tier is read from what it holds into one of the bucket count asked.
 *
 * Not guaranteed: two different bucket contents can collide on 64 bits. The odds are about 2^-64
 * per bucket and repair; a collision leaves that bucket unrepaired until its contents change.
 */
import type { Version } from '@meshcache/core';
import { BucketDigest, type FoldedDigest, fnv1a, MAX_DIGEST_BUCKETS } from '@meshcache/core/internal';

/** What a node holds of one key, as repair sees it. */
export interface KeyVersion {
  readonly key: string;
  readonly version: Version;
  /** True for a tombstone (the key was removed at that version). */
  readonly removed: boolean;
}

/** Keys a bucket holds at most while the bucket count is below its cap (bucketCountFor). */
const KEYS_PER_BUCKET = 32;

/** Buckets per digest: about 32 keys per bucket, a power of two from 1 to 65,536. */
export function bucketCountFor(keys: number): number {
  const wanted = Math.ceil(keys / KEYS_PER_BUCKET);
  let count = 1;
  while (count < wanted && count < MAX_DIGEST_BUCKETS) count *= 2;
  return count;
}

/**
 * About how many keys `buckets` whole buckets of a peer's digest hold: the peer chose its bucket
 * count for 16 to 32 keys a bucket (bucketCountFor), so at most 32 each below the cap of 65,536
 * buckets (past it, more: the estimate then falls short, and the store doubles the rest of the way).
 */
export function keysInBuckets(buckets: number): number {
  return buckets * KEYS_PER_BUCKET;
}

/**
 * The bucket of a key among `bucketCount` (a power of two). One bucket (a bootstrap's: the whole
 * cache) needs no hash: hashing each key to find bucket 0 was 7% of serving a bootstrap.
 */
export function bucketOf(key: string, bucketCount: number): number {
  return bucketCount === 1 ? 0 : bucketOfHash(fnv1a(key), bucketCount);
}

/** bucketOf() of a key whose hash (fnv1a) is known: a replicated memory store keeps each key's (EntryCursor.keyHash). */
export function bucketOfHash(keyHash: number, bucketCount: number): number {
  return keyHash & (bucketCount - 1);
}

/**
 * The digest of `items` at once: per bucket, 8 bytes (the sum and the xor of its items' hashes,
 * little-endian) and how many items it holds (not sent: the requester uses it to ask for whole
 * buckets). CacheRepair reads a large cache into a BucketDigest the same way, in slices.
 */
export function computeDigest(items: Iterable<KeyVersion>, bucketCount: number): FoldedDigest {
  const digest = new BucketDigest(bucketCount);
  for (const item of items) digest.add(item.key, item.version, item.removed);
  return digest.fold(bucketCount);
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
