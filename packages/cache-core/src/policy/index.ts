import type { EvictionPolicyName } from '../config.js';
import type { EvictionListener, EvictionPolicy } from './eviction-policy.js';
import { FifoPolicy } from './fifo.js';
import { LfuPolicy } from './lfu.js';
import { LruPolicy } from './lru.js';
import { TinyLfuPolicy } from './tinylfu.js';
import { UnboundedStore } from './unbounded.js';

export type { EvictionListener, EvictionPolicy, EvictionPolicyFactory } from './eviction-policy.js';
export type { TinyLfuOptions, TinyLfuRegions } from './tinylfu.js';
export { FifoPolicy, LfuPolicy, LruPolicy, TinyLfuPolicy, UnboundedStore };

/** The memory store for a cache: the named policy, or a plain Map when capacity is 0 (unlimited). */
export function createMemoryStore<V extends object>(
  policy: EvictionPolicyName,
  capacity: number,
  onEvict: EvictionListener<V>,
): EvictionPolicy<V> {
  if (capacity === 0) return new UnboundedStore<V>(policy);
  switch (policy) {
    case 'LRU':
      return new LruPolicy<V>(capacity, onEvict);
    case 'LFU':
      return new LfuPolicy<V>(capacity, onEvict);
    case 'FIFO':
      return new FifoPolicy<V>(capacity, onEvict);
    case 'TINYLFU':
      return new TinyLfuPolicy<V>(capacity, onEvict);
  }
}
