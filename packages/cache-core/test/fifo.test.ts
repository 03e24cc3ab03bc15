import { describe, expect, it } from 'vitest';
import { FifoPolicy } from '../src/index.js';
import { keyedStore } from './keyed-store.js';
import { describePolicyConformance } from './policy-conformance.js';

describePolicyConformance('FIFO', (capacity, slots) => new FifoPolicy(capacity, slots));

describe('FIFO order', () => {
  it('evicts the oldest write; reads do not matter', () => {
    const evicted: string[] = [];
    const store = keyedStore<object>(new FifoPolicy(3), (key) => evicted.push(key));
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    for (let i = 0; i < 10; i++) store.get('a');
    store.set('d', {});
    expect(evicted).toEqual(['a']);
  });

  it('moves a rewritten key to the back of the queue', () => {
    const evicted: string[] = [];
    const store = keyedStore<object>(new FifoPolicy(3), (key) => evicted.push(key));
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    store.set('a', {});
    store.set('d', {});
    store.set('e', {});
    expect(evicted).toEqual(['b', 'c']);
  });
});
