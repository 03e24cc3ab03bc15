/**
 * An intrusive doubly linked list: the nodes carry their own links, so moving an entry costs no
 * allocation and removing the oldest is O(1).
 *
 * Why not a Map's insertion order: V8 leaves deleted Map and Set slots in place until the next
 * rehash, and reading the first live entry skips every hole before it. A FIFO or LFU that
 * evicts "the first entry" of a Map under steady churn therefore scans ever more holes: measured
 * here at 100k entries, 200k evicting puts took 19 s instead of 0.1 s.
 */
export interface ListNode<N> {
  prev: N | undefined;
  next: N | undefined;
}

export class LinkedList<N extends ListNode<N>> {
  head: N | undefined;
  tail: N | undefined;

  /** Appends a node that is in no list. */
  push(node: N): void {
    node.prev = this.tail;
    node.next = undefined;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
  }

  /** Unlinks a node of this list. */
  remove(node: N): void {
    if (node.prev === undefined) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
  }

  /** Moves a node of this list to the back (a read in LRU order): the common case of a hit. */
  moveToBack(node: N): void {
    const tail = this.tail;
    if (node === tail || tail === undefined) return;
    // Not the tail, so it has a successor.
    const next = node.next as N;
    if (node.prev === undefined) this.head = next;
    else node.prev.next = next;
    next.prev = node.prev;
    node.prev = tail;
    node.next = undefined;
    tail.next = node;
    this.tail = node;
  }

  get isEmpty(): boolean {
    return this.head === undefined;
  }

  clear(): void {
    this.head = undefined;
    this.tail = undefined;
  }
}
