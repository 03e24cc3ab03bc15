/**
 * maxElementsInMemory = 0 and no maxBytesLocalHeap mean no limit, and with no limit no entry is
 * ever chosen as a victim, so every policy is the same: no order kept, nothing to pay on a hit.
 */
import type { EvictionPolicy } from './eviction-policy.js';

export class UnorderedPolicy implements EvictionPolicy {
  readonly name: string;
  #size = 0;

  constructor(policyName: string) {
    this.name = policyName;
  }

  get size(): number {
    return this.#size;
  }

  grow(_slots: number): void {}

  insert(_slot: number, _key: string): number {
    this.#size++;
    return -1;
  }

  access(_slot: number): void {}

  update(_slot: number): void {}

  remove(_slot: number): void {
    this.#size--;
  }

  evict(_keep: number): number {
    return -1;
  }

  clear(): void {
    this.#size = 0;
  }
}
