/**
 * Least recently used: the victim is the entry least recently read or written. One list of
 * slots, most recent at the back; a hit moves the slot to the back, which is a handful of writes
 * into two typed arrays and no allocation.
 */
import type { EvictionPolicy } from './eviction-policy.js';
import { emptyList, NONE, SlotLinks } from './slot-links.js';

export class LruPolicy implements EvictionPolicy {
  readonly name: string = 'LRU';
  protected readonly links: SlotLinks;
  protected readonly order = emptyList();
  readonly #capacity: number;
  #size = 0;

  constructor(capacity: number, slots = 16) {
    this.#capacity = capacity;
    this.links = new SlotLinks(slots);
  }

  get size(): number {
    return this.#size;
  }

  grow(slots: number): void {
    this.links.grow(slots);
  }

  insert(slot: number, _key: string): number {
    // The victim is chosen before the new slot joins the order, so it is never the new one.
    const victim = this.#size >= this.#capacity ? this.evict(slot) : NONE;
    this.links.push(this.order, slot);
    this.#size++;
    return victim;
  }

  access(slot: number): void {
    this.links.moveToBack(this.order, slot);
  }

  update(slot: number): void {
    this.links.moveToBack(this.order, slot);
  }

  remove(slot: number): void {
    this.links.remove(this.order, slot);
    this.#size--;
  }

  evict(keep: number): number {
    let victim = this.order.head;
    if (victim === keep && victim !== NONE) victim = this.links.next(victim);
    if (victim === NONE) return NONE;
    this.remove(victim);
    return victim;
  }

  clear(): void {
    this.order.head = NONE;
    this.order.tail = NONE;
    this.#size = 0;
  }
}
