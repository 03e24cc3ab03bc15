/**
 * Least recently used, on lru-cache: the victim is the entry least recently read or written.
 * lru-cache already keeps exact recency order in preallocated arrays with no per-hit allocation,
 * which is the cost this project measures itself against.
 */
import { LRUCache } from 'lru-cache';
import type { EvictionListener, EvictionPolicy } from './eviction-policy.js';

/**
 * lru-cache's methods default their options argument to a fresh `{}` and write a `status` field
 * into it; when the call is not inlined (lru-cache used elsewhere in the same process, with other
 * options, makes it polymorphic), that is one allocation per hit, measured in bench/. One options
 * object per store, reused, keeps a hit allocation-free. (With a diagnostics_channel subscriber
 * to lru-cache's metrics, lru-cache then reuses one status object per store for its reports.)
 */
export class LruPolicy<V extends object> implements EvictionPolicy<V> {
  readonly name = 'LRU';
  readonly #lru: LRUCache<string, V>;
  readonly #options = {};

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
    return this.#lru.get(key, this.#options);
  }

  peek(key: string): V | undefined {
    return this.#lru.peek(key, this.#options);
  }

  has(key: string): boolean {
    return this.#lru.has(key, this.#options);
  }

  set(key: string, value: V): void {
    this.#lru.set(key, value, this.#options);
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
