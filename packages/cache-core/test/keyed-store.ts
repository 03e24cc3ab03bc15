/**
 * A policy under test, with keys and values around it: the smallest store that hands out slots
 * the way the memory store does (a free list, growing by doubling), so the policies' tests can
 * speak of keys ('a' is evicted) rather than of slot numbers.
 */
import type { EvictionPolicy } from '../src/index.js';

export interface KeyedStore<V> {
  readonly policy: EvictionPolicy;
  readonly size: number;
  set(key: string, value: V): void;
  /** A read: the policy counts it. */
  get(key: string): V | undefined;
  /** Quiet reads: the policy never hears of them. */
  peek(key: string): V | undefined;
  has(key: string): boolean;
  delete(key: string): boolean;
  clear(): void;
  keys(): string[];
  entries(): Array<[string, V]>;
}

export function keyedStore<V>(
  policy: EvictionPolicy,
  onEvict: (key: string, value: V) => void = () => {},
  firstSlots = 16,
): KeyedStore<V> {
  const index = new Map<string, number>();
  const keys: Array<string | undefined> = [];
  const values: Array<V | undefined> = [];
  const free: number[] = [];
  let slots = firstSlots;
  let top = 0;
  const release = (slot: number) => {
    index.delete(keys[slot] as string);
    keys[slot] = undefined;
    values[slot] = undefined;
    free.push(slot);
  };
  return {
    policy,
    get size() {
      return index.size;
    },
    set(key, value) {
      const held = index.get(key);
      if (held !== undefined) {
        values[held] = value;
        policy.update(held);
        return;
      }
      let slot = free.pop();
      if (slot === undefined) {
        if (top === slots) {
          slots *= 2;
          policy.grow(slots);
        }
        slot = top++;
      }
      keys[slot] = key;
      values[slot] = value;
      index.set(key, slot);
      const victim = policy.insert(slot, key);
      if (victim === slot) throw new Error(`the policy evicted the slot it was inserting (${key})`);
      if (victim >= 0) {
        const victimKey = keys[victim] as string;
        const victimValue = values[victim] as V;
        release(victim);
        onEvict(victimKey, victimValue);
      }
    },
    get(key) {
      const slot = index.get(key);
      if (slot === undefined) return undefined;
      policy.access(slot);
      return values[slot];
    },
    peek(key) {
      const slot = index.get(key);
      return slot === undefined ? undefined : values[slot];
    },
    has(key) {
      return index.has(key);
    },
    delete(key) {
      const slot = index.get(key);
      if (slot === undefined) return false;
      policy.remove(slot);
      release(slot);
      return true;
    },
    clear() {
      policy.clear();
      for (const slot of index.values()) {
        keys[slot] = undefined;
        values[slot] = undefined;
        free.push(slot);
      }
      index.clear();
    },
    keys() {
      return [...index.keys()];
    },
    entries() {
      return [...index].map(([key, slot]) => [key, values[slot] as V]);
    },
  };
}
