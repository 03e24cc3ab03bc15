/**
 * maxElementsInMemory = 0 means no limit, and with no limit no entry is ever chosen as a victim,
 * so every policy is the same plain Map and none of them pays for keeping an order.
 */
import type { EvictionPolicy } from './eviction-policy.js';
import { MapStore } from './map-store.js';

export class UnboundedStore<V extends object> extends MapStore<V> implements EvictionPolicy<V> {
  readonly name: string;

  constructor(policyName: string) {
    super();
    this.name = policyName;
  }

  set(key: string, value: V): void {
    this.map.set(key, value);
  }
}
