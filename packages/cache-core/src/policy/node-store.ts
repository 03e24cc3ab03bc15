/**
 * The part that FIFO and LFU share: a Map from key to a node that holds the value and the
 * policy's links. Reads through here change no order.
 */
export interface ValueNode<V> {
  readonly key: string;
  value: V;
}

export abstract class NodeStore<V extends object, N extends ValueNode<V>> {
  protected readonly nodes = new Map<string, N>();

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
