/**
 * Least recently used, on lru-cache: the victim is the entry least recently read or written.
 * lru-cache already keeps exact recency order in preallocated arrays with no per-hit allocation,
 * which is the cost this project measures itself against.
 */
import { LRUCache } from 'lru-cache';
import type { EvictionListener, EvictionPolicy } from './eviction-policy.js';

export class LruPolicy<V extends object> implements EvictionPolicy<V> {
  readonly name = 'LRU';
  readonly #lru: LRUCache<string, V>;

  constructor(capacity: number, onEvict: EvictionListener<V>) {
    this.#lru = new LRUCache<string, V>({
      max: capacity,
      noDisposeOnSet: true,
      dispose: (value, key, reason) => {
        if (reason === 'evict') onEvict(key, value);
      },
    });
  }

  get size(): number {
    return this.#lru.size;
  }

  get(key: string): V | undefined {
    return this.#lru.get(key);
  }

  peek(key: string): V | undefined {
    return this.#lru.peek(key);
  }

  has(key: string): boolean {
    return this.#lru.has(key);
  }

  set(key: string, value: V): void {
    this.#lru.set(key, value);
  }

  delete(key: string): boolean {
    return this.#lru.delete(key);
  }

  clear(): void {
    this.#lru.clear();
  }

  keys(): IterableIterator<string> {
    return this.#lru.keys();
  }

  entries(): IterableIterator<[string, V]> {
    return this.#lru.entries();
  }
}
