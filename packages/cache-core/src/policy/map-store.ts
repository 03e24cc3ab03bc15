/**
 * The part of a Map-backed store that every Map-ordered policy shares: reads that change no order
 * and removals that never count as evictions. Subclasses decide what `set` does.
 */
export abstract class MapStore<V extends object> {
  abstract readonly name: string;
  protected readonly map = new Map<string, V>();

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  peek(key: string): V | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }
}
