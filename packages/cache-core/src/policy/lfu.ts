/**
 * Least frequently used, exact and O(1): the victim is the entry read the fewest times, and among
 * those the one least recently used (read or written).
 *
 * Entries live in buckets, one per read count, linked in ascending count order. A read moves an
 * entry from bucket n to bucket n+1 and appends it there, so inside a bucket the order is the
 * order in which entries reached that count: the first one is the least recently used. The
 * victim is therefore the first entry of the first bucket.
 *
 * A put over a held key replaces the entry, so its read count starts again at zero (as Ehcache 2
 * resets hitCount on put). The consequence, documented for users: rewriting a hot key makes it
 * cold.
 */
import type { EvictionListener, EvictionPolicy } from './eviction-policy.js';

interface Bucket<V> {
  readonly count: number;
  /** Insertion-ordered: the first node is the least recently used of this count. */
  readonly nodes: Set<Node<V>>;
  prev: Bucket<V> | undefined;
  next: Bucket<V> | undefined;
}

interface Node<V> {
  readonly key: string;
  value: V;
  bucket: Bucket<V>;
}

export class LfuPolicy<V extends object> implements EvictionPolicy<V> {
  readonly name = 'LFU';
  readonly #nodes = new Map<string, Node<V>>();
  readonly #capacity: number;
  readonly #onEvict: EvictionListener<V>;
  /** The bucket with the lowest read count; undefined when empty. */
  #head: Bucket<V> | undefined;

  constructor(capacity: number, onEvict: EvictionListener<V>) {
    this.#capacity = capacity;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#nodes.size;
  }

  get(key: string): V | undefined {
    const node = this.#nodes.get(key);
    if (node === undefined) return undefined;
    this.#promote(node);
    return node.value;
  }

  peek(key: string): V | undefined {
    return this.#nodes.get(key)?.value;
  }

  has(key: string): boolean {
    return this.#nodes.has(key);
  }

  set(key: string, value: V): void {
    const held = this.#nodes.get(key);
    if (held !== undefined) {
      this.#detach(held);
      held.value = value;
      held.bucket = this.#zeroBucket();
      held.bucket.nodes.add(held);
      return;
    }
    if (this.#nodes.size >= this.#capacity) this.#evictOne();
    const bucket = this.#zeroBucket();
    const node: Node<V> = { key, value, bucket };
    bucket.nodes.add(node);
    this.#nodes.set(key, node);
  }

  delete(key: string): boolean {
    const node = this.#nodes.get(key);
    if (node === undefined) return false;
    this.#detach(node);
    this.#nodes.delete(key);
    return true;
  }

  clear(): void {
    this.#nodes.clear();
    this.#head = undefined;
  }

  keys(): IterableIterator<string> {
    return this.#nodes.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [key, node] of this.#nodes) yield [key, node.value];
  }

  #evictOne(): void {
    const head = this.#head;
    if (head === undefined) return;
    const victim = head.nodes.values().next().value as Node<V>;
    this.#detach(victim);
    this.#nodes.delete(victim.key);
    this.#onEvict(victim.key, victim.value);
  }

  #promote(node: Node<V>): void {
    const from = node.bucket;
    let to = from.next;
    if (to === undefined || to.count !== from.count + 1) {
      to = { count: from.count + 1, nodes: new Set(), prev: from, next: from.next };
      if (from.next !== undefined) from.next.prev = to;
      from.next = to;
    }
    from.nodes.delete(node);
    to.nodes.add(node);
    node.bucket = to;
    if (from.nodes.size === 0) this.#unlink(from);
  }

  /** The count-0 bucket, created at the head if missing. */
  #zeroBucket(): Bucket<V> {
    const head = this.#head;
    if (head !== undefined && head.count === 0) return head;
    const bucket: Bucket<V> = { count: 0, nodes: new Set(), prev: undefined, next: head };
    if (head !== undefined) head.prev = bucket;
    this.#head = bucket;
    return bucket;
  }

  #detach(node: Node<V>): void {
    const bucket = node.bucket;
    bucket.nodes.delete(node);
    if (bucket.nodes.size === 0) this.#unlink(bucket);
  }

  #unlink(bucket: Bucket<V>): void {
    if (bucket.prev !== undefined) bucket.prev.next = bucket.next;
    else this.#head = bucket.next;
    if (bucket.next !== undefined) bucket.next.prev = bucket.prev;
    bucket.prev = undefined;
    bucket.next = undefined;
  }
}
