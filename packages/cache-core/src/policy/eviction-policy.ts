/**
 * The eviction seam. The memory store (memory/memory-store.ts) keeps each entry in a slot, a
 * number from 0, with its key, value and metadata in arrays indexed by the slot; a policy keeps
 * only the order in which slots leave, in typed arrays of its own indexed by the same numbers.
 * No object per entry on either side: a million entries are a few dozen arrays, not a million
 * records (the memory per entry is in bench/README.md). Each policy is exact, not sampled
 * (Ehcache 2 samples 30 entries): the victim is always the one the policy's definition names,
 * so behaviour is deterministic and testable.
 *
 * The contract every policy meets (test/policy-conformance.ts checks it for each one):
 * - `insert` of a slot into a policy that then holds more than its capacity names exactly one
 *   victim, already taken out of the order, and never the slot being inserted; otherwise -1.
 * - `access` is a read (it moves the slot in LRU/LFU/TINYLFU order; FIFO ignores it); `update`
 *   is a write over a held slot (LRU: most recent; FIFO: back of the queue; LFU: read count back
 *   to zero; TINYLFU: a use); neither evicts.
 * - `remove` takes a slot out of the order (a removal, an expiry): never a victim.
 * - `evict(keep)` names a victim now, for a bound the policy does not keep itself (the byte bound,
 *   maxBytesLocalHeap), taken out of the order; never `keep`; -1 when there is no other slot.
 * - `grow(slots)` comes before any slot at or above the old bound is inserted.
 * - Quiet reads (peek, has, keys) never reach the policy: the store answers them.
 */
export interface EvictionPolicy {
  readonly name: string;
  /** Slots in the order now. */
  readonly size: number;
  /** Slots are numbered below `slots` from now on: arrays indexed by slot must reach it. */
  grow(slots: number): void;
  /**
   * A new entry at `slot` (its key given for the policies that hash it). Returns the slot that
   * must leave to keep the policy within its capacity, already out of the order, or -1.
   */
  insert(slot: number, key: string): number;
  /** A read of a held slot. */
  access(slot: number): void;
  /** A write over a held slot. */
  update(slot: number): void;
  /** A slot that left for another reason than eviction. */
  remove(slot: number): void;
  /** A victim chosen now (never `keep`), out of the order; -1 when there is none. */
  evict(keep: number): number;
  clear(): void;
}

/**
 * Makes a policy that holds at most `capacity` slots (a whole number >= 1, or Infinity when only
 * the byte bound evicts), for slots numbered below `slots` to start with.
 */
export type EvictionPolicyFactory = (capacity: number, slots: number) => EvictionPolicy;
