/**
 * maxElementsInMemory = 0 means no limit, and with no limit no entry is ever chosen as a victim,
 * so every policy is the same plain Map and none of them pays for keeping an order.
 */
import type { EvictionPolicy } from './eviction-policy.js';

export class UnboundedStore<V extends object> implements EvictionPolicy<V> {
  readonly name: string;
  readonly #map = new Map<string, V>();

  constructor(policyName: string) {
    this.name = policyName;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  peek(key: string): V | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  set(key: string, value: V): void {
    this.#map.set(key, value);
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  entries(): IterableIterator<[string, V]> {
    return this.#map.entries();
  }
}
