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
 *
 * A tombstone's age. A removal made here, or heard live from a peer, ages from its arrival, by
 * this node's clock: every node that heard it live forgets it at the same real moment, whatever
 * their clocks' skew, so their repair digests stay in step. A peer's removal taught late ages from
 * when it was made (its version's time), as it does on the nodes that heard it live, give or take
 * their skew: one a repair brought (a key list or an entries batch: after a restart, a partition,
 * a queue that overflowed), or one that arrived more than the drift bound (CLOCKS_APART_MILLIS)
 * after it was made (a batch held through a partition). Aged from its arrival instead, a node that
 * restarted kept every tombstone it was taught a whole retention after its restart while its peers
 * forgot theirs one by one, and every anti-entropy round meanwhile listed the keys of the buckets
 * where they differed: 1.5 million keys in six minutes on 3 nodes of 5,000 keys and two removals
 * a second (clocks 1.5 s apart), where nodes started together listed a few hundred; 31,000 now,
 * from the skew (tombstone-lifetime.test.ts). Late tombstones do not arrive in age order (a
 * repair lists them by bucket), so they wait in a wheel of one list per second of their removal,
 * read whole by the age sweep; the others stay in one list in arrival order. Both are O(1) a
 * tombstone; the sweep reads the wheel's seconds (at most the retention's count of them) when it
 * holds any, and the count and bytes bounds find the wheel's oldest from its lowest second up
 * (O(1) amortised: that second only moves up between the wheel's new lows).
 */
import type { Logger } from './logger.js';
import { LinkedList, type ListNode } from './policy/linked-list.js';
import type { BucketDigest } from './replica-digest.js';
import { CLOCKS_APART_MILLIS, isNewer, type Version } from './version.js';

export interface Tombstone {
  readonly key: string;
  readonly version: Version;
}

/** A removed key's tombstone, linked into the list of tombstones in removal order, or into the late wheel. */
interface TombstoneNode extends ListNode<TombstoneNode> {
  readonly key: string;
  version: Version;
  removedAt: number;
  /** Its estimated size (tombstoneBytes), as counted in #bytes. */
  bytes: number;
  /** Its second in the late wheel (removedAt's whole seconds), or IN_ORDER in the list in arrival order. */
  lateSecond: number;
}

/**
 * The most a cache's tombstones may hold, by estimate: far above what maxTombstones of ordinary
 * keys take (100,000 URLs of 200 characters are about 60 MB), so only keys of unusual size meet it.
 */
export const MAX_TOMBSTONE_BYTES = 128 * 1024 * 1024;
/**
 * A tombstone's lateSecond in the list in arrival order: no second of the wheel. Not -1, which is
 * the second of a removal stamped in the last second before 1970, a time a peer may send (a
 * version's time is any safe integer) and a retention of decades keeps.
 */
const IN_ORDER = Number.NEGATIVE_INFINITY;
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
  /** Tombstones taught late, by the second of their removal (see the essay). */
  readonly #late = new Map<number, LinkedList<TombstoneNode>>();
  /** No second of the wheel is below it: where the count and bytes bounds look for its oldest (#oldest). */
  #lateFloor = 0;
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
    for (const node of this.#nodes()) digest.add(node.key, node.version, true);
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
   * Records (or refreshes) the key's tombstone: at the young end of the list, or, for a peer's
   * removal (`fromPeer`) taught late, in the wheel at the second it was made; past the bound the
   * oldest is forgotten. Late is what a repair taught (`taught`), or what arrived more than
   * CLOCKS_APART_MILLIS after it was made, and made before now by this clock (one made "later"
   * ages from now). O(1): one Map write, a few links, at most one tombstone dropped.
   */
  remember(key: string, version: Version, now: number, fromPeer = false, taught = false): void {
    const late = fromPeer && version.time < now && (taught || now - version.time > CLOCKS_APART_MILLIS);
    // Never older than the youngest: the list stays in age order, so the age sweep can stop at
    // the first young tombstone, even when the wall clock steps back (such tombstones are then
    // kept that much longer).
    const removedAt = late ? version.time : Math.max(now, this.#order.tail?.removedAt ?? now);
    const bytes = tombstoneBytes(key, version);
    let node = this.#byKey.get(key);
    if (node === undefined) {
      node = { key, version, removedAt, bytes, lateSecond: IN_ORDER, prev: undefined, next: undefined };
      this.#byKey.set(key, node);
    } else {
      // Removed again: its age starts again, so it moves to the young end.
      this.#unlink(node);
      this.#digest?.remove(key, node.version, true);
      this.#bytes -= node.bytes;
      node.version = version;
      node.removedAt = removedAt;
      node.bytes = bytes;
    }
    this.#bytes += bytes;
    if (late) {
      node.lateSecond = Math.floor(removedAt / 1000);
      let second = this.#late.get(node.lateSecond);
      if (second === undefined) {
        if (this.#late.size === 0 || node.lateSecond < this.#lateFloor) this.#lateFloor = node.lateSecond;
        second = new LinkedList<TombstoneNode>();
        this.#late.set(node.lateSecond, second);
      }
      second.push(node);
    } else {
      node.lateSecond = IN_ORDER;
      this.#order.push(node);
    }
    this.#digest?.add(key, version, true);
    if (this.#byKey.size > this.#max) this.#dropOldest(key, 'count', node);
    // The newest is kept whatever its size (a frame bounds it to a fraction of the bound).
    while (this.#bytes > this.#maxBytes && this.#byKey.size > 1) this.#dropOldest(key, 'bytes', node);
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
    this.#unlink(node);
    this.#bytes -= node.bytes;
    this.#digest?.remove(key, node.version, true);
  }

  /** Takes the node out of the list or the wheel's second that holds it. */
  #unlink(node: TombstoneNode): void {
    if (node.lateSecond === IN_ORDER) {
      this.#order.remove(node);
      return;
    }
    const second = this.#late.get(node.lateSecond) as LinkedList<TombstoneNode>;
    second.remove(node);
    if (second.isEmpty) this.#late.delete(node.lateSecond);
  }

  /** Every tombstone node, the list's first, then the wheel's (in no order of age). */
  *#nodes(): IterableIterator<TombstoneNode> {
    for (let node = this.#order.head; node !== undefined; node = node.next) yield node;
    for (const second of this.#late.values()) {
      for (let node = second.head; node !== undefined; node = node.next) yield node;
    }
  }

  forgetAll(): void {
    const digest = this.#digest;
    // The digest also holds the cache's entries: take out the tombstones one by one.
    if (digest !== undefined) for (const node of this.#nodes()) digest.remove(node.key, node.version, true);
    this.#byKey.clear();
    this.#order.clear();
    this.#late.clear();
    this.#bytes = 0;
  }

  /** A clear at `version` from a peer: forgets the tombstones it covers (those not newer than it). */
  forgetNotNewerThan(version: Version): void {
    // Collected first: forgetting unlinks nodes (and empties seconds of the wheel) under the walk.
    const covered: string[] = [];
    for (const node of this.#nodes()) if (!isNewer(node.version, version)) covered.push(node.key);
    for (const key of covered) this.forget(key);
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
    if (this.#late.size === 0) return forgotten;
    // Seconds wholly past the horizon go whole; the second the horizon falls in, node by node.
    // (A Map tolerates deleting entries already visited while it is iterated.)
    for (const [second, list] of this.#late) {
      if (second * 1000 >= horizon) continue;
      for (let node = list.head; node !== undefined; ) {
        const next = node.next;
        if (node.removedAt < horizon) {
          this.forget(node.key);
          forgotten++;
        }
        node = next;
      }
    }
    return forgotten;
  }

  /** Every tombstone, oldest removal first. */
  list(): Tombstone[] {
    const nodes = [...this.#nodes()];
    // The list is in age order already; the wheel's join it by a stable sort (a tie keeps the list's first).
    if (this.#late.size > 0) nodes.sort((a, b) => a.removedAt - b.removedAt);
    return nodes.map((node) => ({ key: node.key, version: node.version }));
  }

  /**
   * The oldest tombstone but `keep` (the one just recorded): the list's head or the head of the
   * wheel's lowest second, to the second (a second's list is in arrival order). Reads the wheel
   * from its floor up, by Map lookups, stopping at its first second that holds one or that is
   * younger than the list's head: not every second the wheel holds, which under a long retention
   * are tens of thousands, on every removal of a cache full at maxTombstones.
   */
  #oldest(keep: TombstoneNode): TombstoneNode | undefined {
    let oldest = this.#order.head === keep ? keep.next : this.#order.head;
    const late = this.#late;
    let seconds = late.size;
    for (let s = this.#lateFloor; seconds > 0; s++) {
      if (oldest !== undefined && s * 1000 > oldest.removedAt) break;
      const second = late.get(s);
      if (second === undefined) {
        if (s === this.#lateFloor) this.#lateFloor = s + 1;
        continue;
      }
      seconds--;
      const first = second.head === keep ? keep.next : second.head;
      if (first === undefined) continue; // only `keep` in it
      if (oldest === undefined || first.removedAt < oldest.removedAt) oldest = first;
      break;
    }
    return oldest;
  }

  #dropOldest(removing: string, bound: 'count' | 'bytes', keep: TombstoneNode): void {
    const oldest = this.#oldest(keep);
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
