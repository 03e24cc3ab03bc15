/**
 * Least frequently used, exact and O(1): the victim is the entry read the fewest times, and among
 * those the one least recently used (read or written).
 *
 * Entries live in buckets, one per read count, linked in ascending count order. A read moves an
 * entry from bucket n to the back of bucket n+1, so inside a bucket the order is the order in
 * which entries reached that count: the front one is the least recently used. The victim is
 * therefore the front entry of the first bucket. The buckets are objects (one per distinct count,
 * a handful); the entries are slots, linked in typed arrays, with their bucket in an array.
 *
 * A put over a held key replaces the entry, so its read count starts again at zero (as Ehcache 2
 * resets hitCount on put). The consequence, documented for users: rewriting a hot key makes it
 * cold.
 */
import type { EvictionPolicy } from './eviction-policy.js';
import { emptyList, NONE, SlotLinks, type SlotList } from './slot-links.js';

interface Bucket {
  readonly count: number;
  readonly slots: SlotList;
  prev: Bucket | undefined;
  next: Bucket | undefined;
}

export class LfuPolicy implements EvictionPolicy {
  readonly name = 'LFU';
  readonly #capacity: number;
  readonly #links: SlotLinks;
  /** Each slot's bucket (undefined for a slot not in the order). */
  #bucketOf: Array<Bucket | undefined>;
  /** Buckets in ascending read count; the head has the fewest reads. */
  #first: Bucket | undefined;
  #size = 0;

  constructor(capacity: number, slots = 16) {
    this.#capacity = capacity;
    this.#links = new SlotLinks(slots);
    this.#bucketOf = new Array<Bucket | undefined>(slots).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  grow(slots: number): void {
    this.#links.grow(slots);
    while (this.#bucketOf.length < slots) this.#bucketOf.push(undefined);
  }

  insert(slot: number, _key: string): number {
    const victim = this.#size >= this.#capacity ? this.evict(slot) : NONE;
    this.#attach(slot, this.#zeroBucket());
    this.#size++;
    return victim;
  }

  access(slot: number): void {
    const from = this.#bucketOf[slot] as Bucket;
    let to = from.next;
    if (to === undefined || to.count !== from.count + 1) {
      // Inserted right after `from`, keeping the buckets in ascending order.
      to = { count: from.count + 1, slots: emptyList(), prev: from, next: from.next };
      if (from.next !== undefined) from.next.prev = to;
      from.next = to;
    }
    this.#detach(slot);
    this.#attach(slot, to);
  }

  update(slot: number): void {
    this.#detach(slot);
    this.#attach(slot, this.#zeroBucket());
  }

  remove(slot: number): void {
    this.#detach(slot);
    this.#size--;
  }

  evict(keep: number): number {
    for (let bucket = this.#first; bucket !== undefined; bucket = bucket.next) {
      let victim = bucket.slots.head;
      if (victim === keep) victim = this.#links.next(victim);
      if (victim !== NONE) {
        this.remove(victim);
        return victim;
      }
    }
    return NONE;
  }

  clear(): void {
    this.#first = undefined;
    this.#bucketOf.fill(undefined);
    this.#size = 0;
  }

  /** The count-0 bucket, created at the head if missing. */
  #zeroBucket(): Bucket {
    const first = this.#first;
    if (first !== undefined && first.count === 0) return first;
    const bucket: Bucket = { count: 0, slots: emptyList(), prev: undefined, next: first };
    if (first !== undefined) first.prev = bucket;
    this.#first = bucket;
    return bucket;
  }

  #attach(slot: number, bucket: Bucket): void {
    this.#bucketOf[slot] = bucket;
    this.#links.push(bucket.slots, slot);
  }

  /** Takes a slot out of its bucket, dropping the bucket when it empties. */
  #detach(slot: number): void {
    const bucket = this.#bucketOf[slot] as Bucket;
    this.#bucketOf[slot] = undefined;
    this.#links.remove(bucket.slots, slot);
    if (bucket.slots.head !== NONE) return;
    if (bucket.prev === undefined) this.#first = bucket.next;
    else bucket.prev.next = bucket.next;
    if (bucket.next !== undefined) bucket.next.prev = bucket.prev;
  }
}
