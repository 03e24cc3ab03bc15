import { describe, expect, it } from 'vitest';
import { LruPolicy } from '../src/index.js';
import { keyedStore } from './keyed-store.js';
import { describePolicyConformance } from './policy-conformance.js';

describePolicyConformance('LRU', (capacity, slots) => new LruPolicy(capacity, slots));

describe('LRU order', () => {
  it('evicts the least recently read or written entry', () => {
    const evicted: string[] = [];
    const store = keyedStore<object>(new LruPolicy(3), (key) => evicted.push(key));
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    store.get('a'); // a is now most recent; b is least recent
    store.set('d', {});
    expect(evicted).toEqual(['b']);
    store.set('c', {}); // a write counts as use: c is most recent, a least
    store.set('e', {});
    expect(evicted).toEqual(['b', 'a']);
  });
});
