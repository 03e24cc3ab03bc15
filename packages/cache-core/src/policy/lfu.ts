/**
 * Least frequently used, exact and O(1): the victim is the entry read the fewest times, and among
 * those the one least recently used (read or written).
 *
 * Entries live in buckets, one per read count, linked in ascending count order. A read moves an
 * entry from bucket n to the back of bucket n+1, so inside a bucket the order is the order in
 * which entries reached that count: the front one is the least recently used. The victim is
 * therefore the front entry of the first bucket.
 *
 * A put over a held key replaces the entry, so its read count starts again at zero (as Ehcache 2
 * resets hitCount on put). The consequence, documented for users: rewriting a hot key makes it
 * cold.
 */
import type { EvictionPolicy } from './eviction-policy.js';
import { LinkedList } from './linked-list.js';
import { NodeStore } from './node-store.js';

interface Bucket<V> {
  readonly count: number;
  readonly entries: LinkedList<LfuNode<V>>;
  prev: Bucket<V> | undefined;
  next: Bucket<V> | undefined;
}

interface LfuNode<V> {
  readonly key: string;
  value: V;
  bucket: Bucket<V>;
  prev: LfuNode<V> | undefined;
  next: LfuNode<V> | undefined;
}

export class LfuPolicy<V extends object> extends NodeStore<V, LfuNode<V>> implements EvictionPolicy<V> {
  readonly name = 'LFU';
  /** Buckets in ascending read count; the head has the fewest reads. */
  readonly #buckets = new LinkedList<Bucket<V>>();

  get(key: string): V | undefined {
    const node = this.nodes.get(key);
    if (node === undefined) return undefined;
    this.#promote(node);
    return node.value;
  }

  set(key: string, value: V): void {
    const held = this.nodes.get(key);
    if (held !== undefined) {
      this.#detach(held);
      held.value = value;
      this.#attach(held, this.#zeroBucket());
      return;
    }
    const victim = this.#buckets.head?.entries.head;
    if (this.nodes.size >= this.capacity && victim !== undefined) this.evict(victim);
    const node: LfuNode<V> = {
      key,
      value,
      bucket: undefined as unknown as Bucket<V>,
      prev: undefined,
      next: undefined,
    };
    this.#attach(node, this.#zeroBucket());
    this.nodes.set(key, node);
  }

  protected unlink(node: LfuNode<V>): void {
    this.#detach(node);
  }

  clear(): void {
    this.nodes.clear();
    this.#buckets.clear();
  }

  #promote(node: LfuNode<V>): void {
    const from = node.bucket;
    let to = from.next;
    if (to === undefined || to.count !== from.count + 1) {
      to = this.#newBucket(from.count + 1);
      // Insert right after `from`, keeping the buckets in ascending order.
      to.prev = from;
      to.next = from.next;
      if (from.next === undefined) this.#buckets.tail = to;
      else from.next.prev = to;
      from.next = to;
    }
    this.#detach(node);
    this.#attach(node, to);
  }

  /** The count-0 bucket, created at the head if missing. */
  #zeroBucket(): Bucket<V> {
    const head = this.#buckets.head;
    if (head !== undefined && head.count === 0) return head;
    const bucket = this.#newBucket(0);
    bucket.next = head;
    if (head === undefined) this.#buckets.tail = bucket;
    else head.prev = bucket;
    this.#buckets.head = bucket;
    return bucket;
  }

  #newBucket(count: number): Bucket<V> {
    return { count, entries: new LinkedList<LfuNode<V>>(), prev: undefined, next: undefined };
  }

  #attach(node: LfuNode<V>, bucket: Bucket<V>): void {
    node.bucket = bucket;
    bucket.entries.push(node);
  }

  /** Takes a node out of its bucket, dropping the bucket when it empties. */
  #detach(node: LfuNode<V>): void {
    const bucket = node.bucket;
    bucket.entries.remove(node);
    if (bucket.entries.isEmpty) this.#buckets.remove(bucket);
  }
}
