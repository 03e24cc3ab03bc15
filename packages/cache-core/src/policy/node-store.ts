/**
 * The part that FIFO and LFU share: a bounded Map from key to a node that holds the value and the
 * policy's links. Reads through here change no order; subclasses keep the order and say how a
 * node leaves it.
 */
import type { EvictionListener } from './eviction-policy.js';

export interface ValueNode<V> {
  readonly key: string;
  value: V;
}

export abstract class NodeStore<V extends object, N extends ValueNode<V>> {
  protected readonly nodes = new Map<string, N>();
  protected readonly capacity: number;
  protected readonly onEvict: EvictionListener<V>;

  constructor(capacity: number, onEvict: EvictionListener<V>) {
    this.capacity = capacity;
    this.onEvict = onEvict;
  }

  /** Takes a node out of the policy's order (not out of `nodes`). */
  protected abstract unlink(node: N): void;

  delete(key: string): boolean {
    const node = this.nodes.get(key);
    if (node === undefined) return false;
    this.unlink(node);
    this.nodes.delete(key);
    return true;
  }

  /** Removes a victim and reports it. */
  protected evict(node: N): void {
    this.unlink(node);
    this.nodes.delete(node.key);
    this.onEvict(node.key, node.value);
  }

  get size(): number {
    return this.nodes.size;
  }

  peek(key: string): V | undefined {
    return this.nodes.get(key)?.value;
  }

  has(key: string): boolean {
    return this.nodes.has(key);
  }

  keys(): IterableIterator<string> {
    return this.nodes.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [key, node] of this.nodes) yield [key, node.value];
  }
}
