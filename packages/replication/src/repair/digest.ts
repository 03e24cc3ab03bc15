/**
 * Digests of a cache's state, compared between two nodes to find what differs without sending it.
 *
 * The state of a cache, for repair, is the set of (key, version) pairs it holds: live entries and
 * tombstones alike. Keys are spread over a power-of-two number of buckets by a hash of the key
 * alone, so a key falls into the same bucket on every node. A bucket's digest is 64 bits: the sum
 * and the xor of two independent 32-bit hashes of each (key, version, removed) in it. Both are
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
 * 8 bytes per bucket: the sum and the xor of the bucket's item hashes, little-endian; and how
 * many items each bucket holds (not sent: the requester uses it to ask for whole buckets).
 */
export function computeDigest(
  items: Iterable<KeyVersion>,
  bucketCount: number,
): { digest: Uint8Array; counts: Uint32Array } {
  const sums = new Uint32Array(bucketCount);
  const xors = new Uint32Array(bucketCount);
  const counts = new Uint32Array(bucketCount);
  for (const item of items) {
    const bucket = bucketOf(item.key, bucketCount);
    counts[bucket] = (counts[bucket] ?? 0) + 1;
    const text = `${item.key}\u0000${item.version.time}\u0000${item.version.counter}\u0000${item.version.node}\u0000${item.removed ? 1 : 0}`;
    sums[bucket] = ((sums[bucket] ?? 0) + fnv1a(text, 0x811c9dc5)) >>> 0;
    xors[bucket] = ((xors[bucket] ?? 0) ^ fnv1a(text, 0x01000193)) >>> 0;
  }
  const digest = new Uint8Array(bucketCount * 8);
  const view = new DataView(digest.buffer);
  for (let i = 0; i < bucketCount; i++) {
    view.setUint32(i * 8, sums[i] ?? 0, true);
    view.setUint32(i * 8 + 4, xors[i] ?? 0, true);
  }
  return { digest, counts };
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
