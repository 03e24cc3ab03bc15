/**
 * The contract every eviction policy meets (see src/policy/eviction-policy.ts). Each policy's
 * test file calls describePolicyConformance; a new policy is not done until it passes. The
 * policy is driven through a store of keys (keyed-store.ts) that hands out slots as the memory
 * store does, growing from 2 slots so that growth is exercised too.
 */
import { describe, expect, it } from 'vitest';
import type { EvictionPolicyFactory } from '../src/index.js';
import { type KeyedStore, keyedStore } from './keyed-store.js';

interface Box {
  readonly n: number;
}

function box(n: number): Box {
  return { n };
}

export function describePolicyConformance(name: string, factory: EvictionPolicyFactory): void {
  function make(capacity: number): { store: KeyedStore<Box>; evicted: string[] } {
    const evicted: string[] = [];
    const store = keyedStore<Box>(factory(capacity, 2), (key) => evicted.push(key), 2);
    return { store, evicted };
  }

  describe(`${name}: eviction policy conformance`, () => {
    it('holds what was set, up to capacity, with no eviction', () => {
      const { store, evicted } = make(3);
      store.set('a', box(1));
      store.set('b', box(2));
      store.set('c', box(3));
      expect(store.size).toBe(3);
      expect(store.get('a')?.n).toBe(1);
      expect(store.peek('b')?.n).toBe(2);
      expect(store.has('c')).toBe(true);
      expect(store.has('d')).toBe(false);
      expect(evicted).toEqual([]);
    });

    it('evicts exactly one entry, and never the one being inserted, when a new key finds it full', () => {
      const { store, evicted } = make(3);
      for (const [i, key] of ['a', 'b', 'c', 'd', 'e'].entries()) store.set(key, box(i));
      expect(store.size).toBe(3);
      expect(evicted).toHaveLength(2);
      expect(store.has('e')).toBe(true);
      for (const key of evicted) expect(store.has(key)).toBe(false);
    });

    it('reports the evicted value with its key', () => {
      const values: number[] = [];
      const store = keyedStore<Box>(factory(1, 2), (_key, value) => values.push(value.n), 2);
      store.set('a', box(7));
      store.set('b', box(8));
      expect(values).toEqual([7]);
    });

    it('replaces a held key without evicting anything', () => {
      const { store, evicted } = make(2);
      store.set('a', box(1));
      store.set('b', box(2));
      store.set('a', box(10));
      expect(evicted).toEqual([]);
      expect(store.size).toBe(2);
      expect(store.peek('a')?.n).toBe(10);
    });

    it('never reports delete or clear as evictions', () => {
      const { store, evicted } = make(2);
      store.set('a', box(1));
      store.set('b', box(2));
      expect(store.delete('a')).toBe(true);
      expect(store.delete('a')).toBe(false);
      store.clear();
      expect(store.size).toBe(0);
      expect(evicted).toEqual([]);
      store.set('c', box(3));
      store.set('d', box(4));
      expect(evicted).toEqual([]);
    });

    it('frees room on delete so the next insert evicts nothing', () => {
      const { store, evicted } = make(2);
      store.set('a', box(1));
      store.set('b', box(2));
      store.delete('b');
      store.set('c', box(3));
      expect(evicted).toEqual([]);
      expect(store.keys().sort()).toEqual(['a', 'c']);
    });

    it('lists keys and entries of everything held', () => {
      const { store } = make(5);
      store.set('a', box(1));
      store.set('b', box(2));
      expect(store.keys().sort()).toEqual(['a', 'b']);
      expect(
        store
          .entries()
          .map(([k, v]) => `${k}=${v.n}`)
          .sort(),
      ).toEqual(['a=1', 'b=2']);
    });

    it('does not count peek, has, keys or entries as accesses', () => {
      // Whatever the policy, quiet reads of one entry must leave the victim unchanged.
      const a = make(3);
      const b = make(3);
      for (const { store } of [a, b]) {
        store.set('x', box(1));
        store.set('y', box(2));
        store.set('z', box(3));
      }
      b.store.peek('x');
      b.store.has('x');
      b.store.keys();
      b.store.entries();
      a.store.set('w', box(4));
      b.store.set('w', box(4));
      expect(b.evicted).toEqual(a.evicted);
    });

    it('keeps working through many inserts, reads and deletes (invariants hold)', () => {
      const { store, evicted } = make(50);
      const live = new Set<string>();
      let seed = 42;
      const random = (): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let i = 0; i < 5000; i++) {
        const key = `k${Math.floor(random() * 200)}`;
        const op = random();
        if (op < 0.5) {
          store.set(key, box(i));
          live.add(key);
        } else if (op < 0.85) {
          store.get(key);
        } else {
          store.delete(key);
          live.delete(key);
        }
        while (evicted.length > 0) live.delete(evicted.pop() as string);
        expect(store.size).toBeLessThanOrEqual(50);
      }
      expect(new Set(store.keys())).toEqual(live);
      expect(store.size).toBe(live.size);
      expect(store.policy.size).toBe(live.size);
    });

    it('names a victim on demand (a byte bound), never the slot to keep, out of the order', () => {
      const policy = factory(10, 16);
      for (let slot = 0; slot < 3; slot++) expect(policy.insert(slot, `k${slot}`)).toBe(-1);
      const victims = [policy.evict(1), policy.evict(1)];
      expect(victims.sort()).toEqual([0, 2]);
      expect(policy.size).toBe(1);
      expect(policy.evict(1)).toBe(-1); // only the one to keep is left
      expect(policy.size).toBe(1);
    });

    it('keeps its order across growth of the slot numbers', () => {
      const small = make(64);
      const grown = keyedStore<Box>(factory(64, 64), () => {}, 64);
      const evictedGrown: string[] = [];
      const grownEvicting = keyedStore<Box>(factory(64, 64), (key) => evictedGrown.push(key), 64);
      for (let i = 0; i < 200; i++) {
        for (const store of [small.store, grown, grownEvicting]) {
          store.set(`k${i % 90}`, box(i));
          store.get(`k${(i * 7) % 90}`);
        }
      }
      expect(small.evicted).toEqual(evictedGrown);
      expect(small.store.keys().sort()).toEqual(grown.keys().sort());
    });
  });
}
