/**
 * A cache's tombstones: the keys removed recently, each with the version of its removal, so that
 * a late, older write of the key from a peer cannot bring it back.
 *
 * Bounded in age (tombstoneRetentionSeconds, forgotten by the sweep), in count (maxTombstones) and
 * in bytes (MAX_TOMBSTONE_BYTES, by an estimate of each one's key, node name and objects): past
 * either bound the oldest is forgotten first, in O(1) (an intrusive list in removal order, not a
 * Map's first key: V8 keeps deleted Map slots until a rehash, and scanning past them under churn
 * goes quadratic). The byte bound is for keys nobody sized the count for: a peer holding the
 * secret removed 100,000 keys of a megabyte each, and the count alone let it hold 200 GB. A
 * forgotten tombstone, by age, count or bytes, no longer refuses an older write of its key from a
 * peer that was away; `dropped` counts the ones forgotten by count or bytes, and the first such
 * drop is logged once (with the keys cut short: a key may be megabytes).
 */
import type { Logger } from './logger.js';
import { LinkedList, type ListNode } from './policy/linked-list.js';
import type { BucketDigest } from './replica-digest.js';
import { isNewer, type Version } from './version.js';

export interface Tombstone {
  readonly key: string;
  readonly version: Version;
}

/** A removed key's tombstone, linked into the list of tombstones in removal order. */
interface TombstoneNode extends ListNode<TombstoneNode> {
  readonly key: string;
  version: Version;
  removedAt: number;
  /** Its estimated size (tombstoneBytes), as counted in #bytes. */
  bytes: number;
}

/**
 * The most a cache's tombstones may hold, by estimate: far above what maxTombstones of ordinary
 * keys take (100,000 URLs of 200 characters are about 60 MB), so only keys of unusual size meet it.
 */
export const MAX_TOMBSTONE_BYTES = 128 * 1024 * 1024;
/** A tombstone beside its strings: its list node, its version object and its Map entry, about. */
const TOMBSTONE_OVERHEAD_BYTES = 160;

/** About what a tombstone holds: its key and its version's node name (two bytes a unit, at most) and its objects. */
function tombstoneBytes(key: string, version: Version): number {
  return 2 * (key.length + version.node.length) + TOMBSTONE_OVERHEAD_BYTES;
}

/** A key as a log line shows it: cut short past 128 units, with its length said. */
function shownKey(key: string): string {
  return key.length <= 128 ? key : `${key.slice(0, 128)}... (${key.length} characters)`;
}

export class Tombstones {
  readonly #byKey = new Map<string, TombstoneNode>();
  /** The same tombstones, oldest removal first: the age sweep and the count bound take from the head. */
  readonly #order = new LinkedList<TombstoneNode>();
  readonly #retentionMillis: number;
  readonly #max: number;
  readonly #maxBytes: number;
  /** The estimated bytes of the tombstones held. */
  #bytes = 0;
  readonly #logger: Logger;
  readonly #cacheName: string;
  #warned = false;
  /** Tombstones forgotten because the cache held the most it may (statistics: tombstonesDropped). */
  dropped = 0;
  /** The repair digest of the tombstones, kept on every change (replica-digest.ts). */
  #digest: BucketDigest | undefined;

  constructor(cacheName: string, retentionMillis: number, max: number, logger: Logger, maxBytes = MAX_TOMBSTONE_BYTES) {
    this.#cacheName = cacheName;
    this.#retentionMillis = retentionMillis;
    this.#max = max;
    this.#maxBytes = maxBytes;
    this.#logger = logger;
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** Keeps `digest` up to date from now on, starting with every tombstone held. */
  trackDigest(digest: BucketDigest): void {
    this.#digest = digest;
    for (let node = this.#order.head; node !== undefined; node = node.next) digest.add(node.key, node.version, true);
  }

  /**
   * Whether a removal at `version` is younger than the retention, by the time the removal was
   * made (its version's, which every node reads alike), not by when it reached this node: a
   * removal that arrives older than that is one its own node has forgotten or is about to.
   */
  isRecent(version: Version, now: number): boolean {
    return version.time >= now - this.#retentionMillis;
  }

  /** The version of the key's removal, if it has a tombstone. */
  get(key: string): Version | undefined {
    return this.#byKey.size === 0 ? undefined : this.#byKey.get(key)?.version;
  }

  /**
   * Records (or refreshes) the key's tombstone at the young end of the list; past the bound the
   * oldest is forgotten. O(1): one Map write, a few links, at most one tombstone dropped.
   */
  remember(key: string, version: Version, now: number): void {
    const order = this.#order;
    // Never older than the youngest: the list stays in age order, so the age sweep can stop at
    // the first young tombstone, even when the wall clock steps back (such tombstones are then
    // kept that much longer).
    const youngest = order.tail?.removedAt ?? now;
    const removedAt = Math.max(now, youngest);
    const bytes = tombstoneBytes(key, version);
    let node = this.#byKey.get(key);
    if (node === undefined) {
      node = { key, version, removedAt, bytes, prev: undefined, next: undefined };
      this.#byKey.set(key, node);
    } else {
      // Removed again: its age starts again, so it moves to the young end.
      order.remove(node);
      this.#digest?.remove(key, node.version, true);
      this.#bytes -= node.bytes;
      node.version = version;
      node.removedAt = removedAt;
      node.bytes = bytes;
    }
    this.#bytes += bytes;
    order.push(node);
    this.#digest?.add(key, version, true);
    if (this.#byKey.size > this.#max) this.#dropOldest(key, 'count');
    // The newest is kept whatever its size (a frame bounds it to a fraction of the bound).
    while (this.#bytes > this.#maxBytes && this.#order.head !== node) this.#dropOldest(key, 'bytes');
  }

  /** The estimated bytes of the tombstones held (MAX_TOMBSTONE_BYTES bounds it). */
  get bytes(): number {
    return this.#bytes;
  }

  forget(key: string): void {
    if (this.#byKey.size === 0) return;
    const node = this.#byKey.get(key);
    if (node === undefined) return;
    this.#byKey.delete(key);
    this.#order.remove(node);
    this.#bytes -= node.bytes;
    this.#digest?.remove(key, node.version, true);
  }

  forgetAll(): void {
    const digest = this.#digest;
    // The digest also holds the cache's entries: take out the tombstones one by one.
    if (digest !== undefined)
      for (let node = this.#order.head; node !== undefined; node = node.next)
        digest.remove(node.key, node.version, true);
    this.#byKey.clear();
    this.#order.clear();
    this.#bytes = 0;
  }

  /** A clear at `version` from a peer: forgets the tombstones it covers (those not newer than it). */
  forgetNotNewerThan(version: Version): void {
    for (let node = this.#order.head; node !== undefined; ) {
      const next = node.next;
      if (!isNewer(node.version, version)) this.forget(node.key);
      node = next;
    }
  }

  /** Forgets tombstones older than the retention: from the old end, stopping at the first young one. Answers how many. */
  prune(now: number): number {
    const horizon = now - this.#retentionMillis;
    let forgotten = 0;
    for (let node = this.#order.head; node !== undefined && node.removedAt < horizon; ) {
      const next = node.next;
      this.forget(node.key);
      forgotten++;
      node = next;
    }
    return forgotten;
  }

  /** Every tombstone, oldest removal first. */
  list(): Tombstone[] {
    const found: Tombstone[] = [];
    for (let node = this.#order.head; node !== undefined; node = node.next) {
      found.push({ key: node.key, version: node.version });
    }
    return found;
  }

  #dropOldest(removing: string, bound: 'count' | 'bytes'): void {
    const oldest = this.#order.head;
    if (oldest === undefined) return;
    this.forget(oldest.key);
    this.dropped++;
    if (!this.#warned) {
      this.#warned = true;
      const [fields, held] =
        bound === 'count'
          ? [{ maxTombstones: this.#max }, 'more keys removed within tombstoneRetentionSeconds than maxTombstones']
          : [
              { maxTombstoneBytes: this.#maxBytes },
              `keys removed within tombstoneRetentionSeconds hold more than ${this.#maxBytes} bytes of tombstones`,
            ];
      this.#logger.warn(
        { cache: this.#cacheName, ...fields, key: shownKey(removing), forgotten: shownKey(oldest.key) },
        `${held}: the oldest tombstones are forgotten, and an older write of such a key from a peer that was away can bring it back (logged once; statistics().tombstonesDropped counts them)`,
      );
    }
  }
}
