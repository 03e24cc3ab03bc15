import { describe, expect, it } from 'vitest';
import { LfuPolicy } from '../src/index.js';
import { type KeyedStore, keyedStore } from './keyed-store.js';
import { describePolicyConformance } from './policy-conformance.js';

describePolicyConformance('LFU', (capacity, slots) => new LfuPolicy(capacity, slots));

function lfu(capacity: number): { store: KeyedStore<object>; evicted: string[] } {
  const evicted: string[] = [];
  return { store: keyedStore<object>(new LfuPolicy(capacity), (key) => evicted.push(key)), evicted };
}

describe('LFU order', () => {
  it('evicts the least read entry', () => {
    const { store, evicted } = lfu(3);
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    store.get('a');
    store.get('a');
    store.get('b');
    store.get('c');
    store.get('c');
    store.set('d', {});
    expect(evicted).toEqual(['b']);
  });

  it('breaks ties by least recent use', () => {
    const { store, evicted } = lfu(3);
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    store.get('b');
    store.get('a');
    store.get('c');
    // all read once; b reached that count first, so b is the least recently used of them
    store.set('d', {});
    expect(evicted).toEqual(['b']);
    // d has 0 reads: it is the least read and goes next
    store.set('e', {});
    expect(evicted).toEqual(['b', 'd']);
  });

  it('among never-read entries, evicts the oldest write', () => {
    const { store, evicted } = lfu(2);
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    expect(evicted).toEqual(['a']);
  });

  it('starts a rewritten key at zero reads (a put replaces the entry)', () => {
    const { store, evicted } = lfu(3);
    store.set('a', {});
    store.set('b', {});
    store.set('c', {});
    for (let i = 0; i < 5; i++) store.get('a');
    store.get('b');
    store.get('c');
    store.set('a', {}); // a is back to zero reads, and the most recent write
    store.set('d', {});
    expect(evicted).toEqual(['a']);
  });

  it('keeps exact counts across many reads', () => {
    const { store, evicted } = lfu(4);
    const reads: Record<string, number> = { a: 7, b: 3, c: 9, d: 4 };
    for (const key of Object.keys(reads)) store.set(key, {});
    for (const [key, n] of Object.entries(reads)) for (let i = 0; i < n; i++) store.get(key);
    store.set('e', {}); // b (3 reads) is the least read
    store.set('f', {}); // e (0 reads) is now the least read
    store.get('f');
    store.set('g', {}); // f (1 read) is the least read; the key being inserted is never a victim
    expect(evicted).toEqual(['b', 'e', 'f']);
  });
});
