/**
 * First in, first out: the victim is the entry written longest ago. Reads do not matter. A put
 * over a held key is a new write and goes to the back of the queue (Ehcache 2 orders FIFO by the
 * later of creation and update time, which is the same thing). A Map keeps insertion order, so
 * the queue is the Map itself.
 */
import type { EvictionListener, EvictionPolicy } from './eviction-policy.js';
import { MapStore } from './map-store.js';

export class FifoPolicy<V extends object> extends MapStore<V> implements EvictionPolicy<V> {
  readonly name = 'FIFO';
  readonly #capacity: number;
  readonly #onEvict: EvictionListener<V>;

  constructor(capacity: number, onEvict: EvictionListener<V>) {
    super();
    this.#capacity = capacity;
    this.#onEvict = onEvict;
  }

  set(key: string, value: V): void {
    if (this.map.delete(key)) {
      this.map.set(key, value);
      return;
    }
    if (this.map.size >= this.#capacity) {
      const oldest = this.map.entries().next();
      if (!oldest.done) {
        const [victimKey, victim] = oldest.value;
        this.map.delete(victimKey);
        this.#onEvict(victimKey, victim);
      }
    }
    this.map.set(key, value);
  }
}
