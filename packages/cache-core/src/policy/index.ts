import type { EvictionPolicyName } from '../config.js';
import type { EvictionPolicy } from './eviction-policy.js';
import { FifoPolicy } from './fifo.js';
import { LfuPolicy } from './lfu.js';
import { LruPolicy } from './lru.js';
import { TinyLfuPolicy } from './tinylfu.js';
import { UnorderedPolicy } from './unbounded.js';

export type { EvictionPolicy, EvictionPolicyFactory } from './eviction-policy.js';
export type { TinyLfuOptions, TinyLfuRegions } from './tinylfu.js';
export { FifoPolicy, LfuPolicy, LruPolicy, TinyLfuPolicy, UnorderedPolicy };

/**
 * The order for a cache's memory store: the named policy, holding at most `capacity` entries
 * (Infinity when only the byte bound evicts), or no order at all when nothing can ever be evicted
 * (no count bound and no byte bound).
 */
export function createPolicy(
  policy: EvictionPolicyName,
  capacity: number,
  byteBounded: boolean,
  slots: number,
): EvictionPolicy {
  if (capacity === Number.POSITIVE_INFINITY && !byteBounded) return new UnorderedPolicy(policy);
  switch (policy) {
    case 'LRU':
      return new LruPolicy(capacity, slots);
    case 'LFU':
      return new LfuPolicy(capacity, slots);
    case 'FIFO':
      return new FifoPolicy(capacity, slots);
    case 'TINYLFU':
      return new TinyLfuPolicy(capacity, slots);
  }
}
