/**
 * First in, first out: the victim is the entry written longest ago. Reads do not matter. A put
 * over a held key is a new write and goes to the back of the queue (Ehcache 2 orders FIFO by the
 * later of creation and update time, which is the same thing).
 */
import type { EvictionPolicy } from './eviction-policy.js';
import { LinkedList } from './linked-list.js';
import { NodeStore } from './node-store.js';

interface FifoNode<V> {
  readonly key: string;
  value: V;
  prev: FifoNode<V> | undefined;
  next: FifoNode<V> | undefined;
}

export class FifoPolicy<V extends object> extends NodeStore<V, FifoNode<V>> implements EvictionPolicy<V> {
  readonly name = 'FIFO';
  readonly #queue = new LinkedList<FifoNode<V>>();

  get(key: string): V | undefined {
    return this.nodes.get(key)?.value;
  }

  set(key: string, value: V): void {
    const held = this.nodes.get(key);
    if (held !== undefined) {
      held.value = value;
      this.#queue.remove(held);
      this.#queue.push(held);
      return;
    }
    const oldest = this.#queue.head;
    if (this.nodes.size >= this.capacity && oldest !== undefined) this.evict(oldest);
    const node: FifoNode<V> = { key, value, prev: undefined, next: undefined };
    this.#queue.push(node);
    this.nodes.set(key, node);
  }

  protected unlink(node: FifoNode<V>): void {
    this.#queue.remove(node);
  }

  clear(): void {
    this.nodes.clear();
    this.#queue.clear();
  }
}
