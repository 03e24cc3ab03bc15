/**
 * The eviction seam. A policy is the memory store itself, kept in the policy's order, because
 * keeping a separate order beside a Map would pay for two lookups on every hit. Each policy is
 * exact, not sampled (Ehcache 2 samples 30 entries): the victim is always the one the policy's
 * definition names, so behaviour is deterministic and testable.
 *
 * The contract every policy meets (test/policy-conformance.ts checks it for each one):
 * - `get` is an access (it moves the entry in LRU/LFU order); `peek`, `has`, `keys` and
 *   `entries` are not.
 * - `set` of a new key into a full store removes exactly one victim first, and reports it to
 *   `onEvict` before `set` returns; the key being inserted is never its own victim.
 * - `set` of a held key replaces the value as a new write (LRU: most recent; FIFO: back of the
 *   queue; LFU: read count back to zero) and evicts nothing.
 * - `delete` and `clear` never report evictions.
 * - Values are objects (the cache stores entry records), so no boxing is needed.
 * - onEvict must not call back into the store; the cache defers its own work until set returns.
 */
export interface EvictionPolicy<V extends object> {
  readonly name: string;
  readonly size: number;
  /** An access: counts for recency and frequency. */
  get(key: string): V | undefined;
  /** A quiet read: changes no order. */
  peek(key: string): V | undefined;
  has(key: string): boolean;
  set(key: string, value: V): void;
  delete(key: string): boolean;
  clear(): void;
  keys(): IterableIterator<string>;
  entries(): IterableIterator<[string, V]>;
}

export type EvictionListener<V> = (key: string, value: V) => void;

/** Makes a store that holds at most `capacity` entries (capacity >= 1). */
export type EvictionPolicyFactory = <V extends object>(
  capacity: number,
  onEvict: EvictionListener<V>,
) => EvictionPolicy<V>;
