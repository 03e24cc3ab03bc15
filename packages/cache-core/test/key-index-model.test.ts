/**
 * The key index's exactness, as an outsider's attack tested it (packages/cache-core/src/memory/key-index.ts),
 * alone and through the memory store and the cache: every key held is found at its slot, no key
 * not held is found, under every policy, bound and sequence tried, across the Map-to-table move
 * at exactly TABLE_FROM keys, back to a Map on clear(), and across the flood fallback, forced
 * midway through the operations with keys made to collide under a key the test hands the index.
 * A store's own index has a random key: there, keys that collided under every seed with the
 * index's first hash (colliding-keys.ts) are ordinary keys, and must be found exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EvictionPolicyName } from '../src/config.js';
import { hashString, KeyIndex, TABLE_FROM } from '../src/memory/key-index.js';
import { MemoryStore } from '../src/memory/memory-store.js';
import { collidingKeys, filledStore, homeColliding } from './colliding-keys.js';
import { setup } from './helpers.js';

/** A bound a little past TABLE_FROM: the stores and caches below reach the table and evict in it. */
const ABOVE = TABLE_FROM + 4_464;

/** The key the tests hand their indexes (both halves drawn as SEED). */
const SEED = 7;

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The same text in a string object of its own (a flat copy of a short key, a slice of a cons string of a long one). */
const copyOf = (key: string): string => (key.length < 13 ? key.split('').join('') : ` ${key}`.slice(1));

/** A big flat string keys are sliced out of (V8 makes a substring of 13 units or more a sliced string). */
const BIG = Array.from({ length: 4096 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');

/** Keys of every odd form: empty, lone surrogates, one unit, long, sliced, cons, odd and even lengths. */
function oddKeys(): string[] {
  const keys = ['', 'a', '\ud800', '\udc00', '\udc00\ud800', '\ud83d\ude00', 'é', '\u0000', '\u0000\u0000', '\uffff'];
  for (let n = 0; n < 40; n++) keys.push(BIG.slice(n * 37, n * 37 + 13 + n)); // sliced strings
  for (let n = 0; n < 40; n++) keys.push(`${BIG.slice(0, 20)}${n}${'\ud800'.repeat(n % 3)}`); // cons strings
  keys.push('x'.repeat(100_000), `${'x'.repeat(99_999)}y`, 'x'.repeat(100_001)); // long, equal but for the end
  return keys;
}

describe('the key index against a model: exactness', () => {
  it('moves to the table at exactly TABLE_FROM keys (production seeds), stays exact, and goes back to a Map on clear()', () => {
    const index = new KeyIndex();
    const keys: Array<string | undefined> = [];
    const keyOf = (n: number) => `https://example.test/items/${n}`;
    for (let n = 0; n < TABLE_FROM - 1; n++) {
      keys[n] = keyOf(n);
      index.add(keyOf(n), n, keys);
    }
    expect(index.hashed).toBe(false);
    keys[TABLE_FROM - 1] = keyOf(TABLE_FROM - 1);
    index.add(keyOf(TABLE_FROM - 1), TABLE_FROM - 1, keys);
    expect(index.hashed).toBe(true);
    expect(index.size).toBe(TABLE_FROM);
    for (let n = 0; n < TABLE_FROM; n++) expect(index.get(copyOf(keyOf(n)), keys)).toBe(n);
    for (let n = TABLE_FROM; n < TABLE_FROM + 1000; n++) expect(index.get(keyOf(n), keys)).toBe(-1);
    // Down to ten keys, by deletes and evictions alternately: still a table, still exact.
    for (let n = 10; n < TABLE_FROM; n++) {
      if (n % 2 === 0) expect(index.delete(keyOf(n), keys)).toBe(n);
      else index.remove(keyOf(n), n);
      keys[n] = undefined;
    }
    expect(index.hashed).toBe(true);
    expect(index.size).toBe(10);
    for (let n = 0; n < TABLE_FROM; n++) expect(index.get(keyOf(n), keys)).toBe(n < 10 ? n : -1);
    index.clear();
    keys.length = 0;
    expect(index.hashed).toBe(false);
    expect(index.size).toBe(0);
    expect(index.get(keyOf(0), keys)).toBe(-1);
  });

  it('answers as a Map under random adds, deletes, evictions, clears and gets, with floods midway (fast-check)', () => {
    const colliding = homeColliding(300, 'c:', SEED, SEED, 12);
    const odd = oddKeys();
    const key = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...colliding) },
      { weight: 2, arbitrary: fc.constantFrom(...odd) },
      { weight: 2, arbitrary: fc.nat({ max: 500 }).map((n) => `key:${n}`) },
      { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'binary' }) },
    );
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), key }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('evict' as const), key }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), key }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const), key }) },
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 400, size: 'max' }),
        fc.constantFrom(0, 1, 17, 200, 100_000),
        (ops, tableFrom) => {
          const index = new KeyIndex({ seeds: () => SEED, tableFrom });
          const keys: Array<string | undefined> = [];
          const free: number[] = [];
          const model = new Map<string, number>();
          let bursts = 0;
          const add = (k: string) => {
            const held = index.get(k, keys);
            expect(held).toBe(model.get(k) ?? -1);
            if (held !== -1) return;
            const slot = free.pop() ?? keys.length;
            keys[slot] = k;
            index.add(k, slot, keys);
            model.set(k, slot);
          };
          for (const { kind, key: k } of ops) {
            if (kind === 'add') add(k);
            else if (kind === 'get') expect(index.get(copyOf(k), keys)).toBe(model.get(k) ?? -1);
            else if (kind === 'delete') {
              const slot = index.delete(copyOf(k), keys);
              expect(slot).toBe(model.get(k) ?? -1);
              if (slot !== -1) {
                keys[slot] = undefined;
                free.push(slot);
                model.delete(k);
              }
            } else if (kind === 'evict') {
              const slot = model.get(k);
              if (slot !== undefined) {
                index.remove(copyOf(k), slot);
                keys[slot] = undefined;
                free.push(slot);
                model.delete(k);
              }
            } else if (kind === 'burst') {
              // 140 keys of one home at once: past the probe bound (the reseed draws the same key).
              for (let i = 0; i < 140; i++) add(colliding[(bursts * 53 + i) % colliding.length] as string);
              bursts++;
            } else {
              index.clear();
              keys.length = 0;
              free.length = 0;
              model.clear();
            }
            expect(index.size).toBe(model.size);
          }
          for (const [k, slot] of model) expect(index.get(copyOf(k), keys)).toBe(slot);
          for (const k of [...colliding, ...odd]) if (!model.has(k)) expect(index.get(k, keys)).toBe(-1);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('survives a flood inside the Map-to-table move itself (the move adds every key and may have to reseed)', () => {
    // 130 colliding keys among the first tableFrom: the move's own insertions hit the probe bound.
    for (const tableFrom of [130, 131, 500]) {
      const index = new KeyIndex({ seeds: () => SEED, tableFrom });
      const keys: Array<string | undefined> = [];
      const all = [
        ...homeColliding(130, 'm:', SEED, SEED, 12),
        ...Array.from({ length: tableFrom + 50 }, (_, n) => `n:${n}`),
      ];
      for (const [slot, key] of all.entries()) {
        keys[slot] = key;
        index.add(key, slot, keys);
      }
      expect(index.flooded).toBe(true);
      expect(index.size).toBe(all.length);
      for (const [slot, key] of all.entries()) expect(index.get(copyOf(key), keys)).toBe(slot);
      expect(index.get('n:-1', keys)).toBe(-1);
    }
  });
});

type Bound = 'count' | 'bytes';

/**
 * The memory store under `policy` and a count or byte bound, driven through phases: fill to just
 * below, then exactly to, TABLE_FROM; random writes, rewrites, deletes, reads with TTL expiry;
 * clear and refill (a Map, then a table again); keys that collided under every seed with the
 * index's first hash, midway through random operations; clear and refill. A model of key to slot
 * is kept from the slots write() returns and the victims onEvict names, and compared at each
 * checkpoint.
 */
function storeScenario(policy: EvictionPolicyName, bound: Bound, seed: number): void {
  const rng = random(seed);
  const model = new Map<string, number>();
  const memory: MemoryStore<string> = new MemoryStore<string>({
    policy,
    maxEntries: bound === 'count' ? ABOVE : 0,
    maxBytes: bound === 'bytes' ? ABOVE * 100 : 0,
    defaults: { timeToLiveSeconds: 0, timeToIdleSeconds: 0 },
    onEvict: (slot, key) => {
      expect(model.get(key)).toBe(slot);
      expect(memory.key(slot)).toBe(key);
      model.delete(key);
    },
  });
  let now = 1_000_000;
  const put = (key: string) => {
    const ttl = rng() < 0.2 ? 1 + Math.floor(rng() * 5) : 0;
    const bytes = bound === 'bytes' ? 1 + Math.floor(rng() * 150) : 0;
    const slot = memory.write(key, key, now, now, ttl, 0, undefined, bytes);
    model.set(key, slot);
  };
  const checked: string[] = [];
  const check = () => {
    expect(memory.size).toBe(model.size);
    const wrong: string[] = [];
    for (const [key, slot] of model) {
      if (memory.slotOf(key) !== slot || memory.key(slot) !== key) wrong.push(`held ${key} at ${slot}`);
    }
    for (const key of checked) if (!model.has(key) && memory.slotOf(copyOf(key)) !== -1) wrong.push(`not held ${key}`);
    expect(wrong.slice(0, 5)).toEqual([]);
  };
  const odd = oddKeys();
  let fresh = 0;
  const newKey = () => {
    const n = fresh++;
    if (n % 997 === 0) return `${odd[(n / 997) % odd.length]}#${n}`;
    return `https://example.test/items/${n}`;
  };
  const randomOps = (count: number, collidingPool: readonly string[] = []) => {
    const held = () => {
      // A held key, roughly at random: a slot below top that holds one.
      for (let tries = 0; tries < 8; tries++) {
        const slot = Math.floor(rng() * memory.top);
        if (memory.holds(slot)) return memory.key(slot);
      }
      return undefined;
    };
    for (let i = 0; i < count; i++) {
      const r = rng();
      now += Math.floor(rng() * 50);
      if (r < 0.35)
        put(collidingPool.length > 0 && rng() < 0.3 ? (collidingPool[i % collidingPool.length] as string) : newKey());
      else if (r < 0.55) {
        const key = held();
        if (key !== undefined) put(copyOf(key)); // a rewrite, through another string object
      } else if (r < 0.7) {
        const key = held();
        if (key !== undefined) {
          expect(memory.delete(copyOf(key))).toBe(true);
          model.delete(key);
          checked.push(key);
        }
      } else if (r < 0.9) {
        const key = held();
        if (key !== undefined) {
          const slot = memory.read(copyOf(key), now);
          if (slot === -1) throw new Error(`held key not found: ${key}`);
          if (slot < -1) {
            // Expired: taken out as the engine does.
            expect(-2 - slot).toBe(model.get(key));
            expect(memory.delete(key)).toBe(true);
            model.delete(key);
            checked.push(key);
          } else expect(slot).toBe(model.get(key));
        }
      } else {
        const key = `https://example.test/never/${i}`;
        expect(memory.read(key, now)).toBe(-1);
      }
    }
  };
  const clear = () => {
    let n = 0;
    for (const key of model.keys()) if (n++ % 10 === 0) checked.push(key);
    memory.clear();
    model.clear();
    check();
  };

  // Phase 1: up to TABLE_FROM - 1, then TABLE_FROM exactly.
  while (model.size < TABLE_FROM - 1) put(newKey());
  check();
  put(newKey());
  check();
  // Phase 2: random operations in the table, with evictions by the bound once it is reached.
  randomOps(30_000);
  check();
  // Phase 3: clear (a Map), refill past TABLE_FROM (a table again), random operations.
  clear();
  while (model.size < TABLE_FROM + 10) put(newKey());
  check();
  randomOps(10_000);
  check();
  // Phase 4: the first hash's colliding keys written among random operations.
  const colliding = collidingKeys(400, 'flood:', 9);
  for (const key of colliding.slice(0, 200)) put(key);
  expect(colliding.filter((key) => model.has(key)).length).toBeGreaterThanOrEqual(130);
  check();
  randomOps(20_000, colliding);
  checked.push(...colliding);
  check();
  // Phase 5: clear and refill past TABLE_FROM: a table again, still exact.
  clear();
  while (model.size < TABLE_FROM + 10) put(newKey());
  randomOps(10_000, colliding);
  check();
}

describe('the memory store against a model: its key index stays exact', () => {
  const policies: EvictionPolicyName[] = ['LRU', 'LFU', 'FIFO', 'TINYLFU'];
  for (const policy of policies) {
    for (const bound of ['count', 'bytes'] as const) {
      it(`under ${policy} with a ${bound} bound, through the move to the table, clears and the first hash's collisions`, () => {
        storeScenario(policy, bound, policy.length * 31 + bound.length);
      }, 60_000);
    }
  }

  it('finds keys of every odd form, through other string objects, once the index is a table', () => {
    const memory = filledStore(TABLE_FROM);
    const odd = oddKeys();
    const slots = new Map<string, number>();
    for (const key of odd) slots.set(key, memory.write(key, key, 0, 0, 0, 0, undefined, 0));
    expect(memory.size).toBe(TABLE_FROM + odd.length);
    for (const key of odd) {
      expect(memory.slotOf(copyOf(key))).toBe(slots.get(key));
      expect(memory.value(memory.slotOf(key))).toBe(key);
    }
    // Keys one unit off, and the same units at another length, are not found.
    for (const key of odd) {
      if (!slots.has(`${key}\u0000`)) expect(memory.slotOf(`${key}\u0000`)).toBe(-1);
      if (key.length > 0 && !slots.has(key.slice(1))) expect(memory.slotOf(key.slice(1))).toBe(-1);
    }
    // Deleted through copies, every other one; the rest still found.
    for (const [i, key] of odd.entries()) if (i % 2 === 0) expect(memory.delete(copyOf(key))).toBe(true);
    for (const [i, key] of odd.entries()) expect(memory.slotOf(key)).toBe(i % 2 === 0 ? -1 : slots.get(key));
    // The hash sees every unit: the lone surrogates' hashes differ from their pairs'.
    expect(hashString('\ud800', 9, 9)).not.toBe(hashString('\udc00', 9, 9));
  });
});

describe('the cache against a model of its events: its key index stays exact', () => {
  for (const policy of ['LRU', 'TINYLFU'] as const) {
    it(`answers every get as a model of its events says, past TABLE_FROM keys with TTL expiry, under ${policy}`, () => {
      const { clock, addCache } = setup();
      const cache = addCache<string>('c', {
        maxElementsInMemory: ABOVE,
        timeToLiveSeconds: 10,
        memoryStoreEvictionPolicy: policy,
      });
      const model = new Map<string, string>();
      for (const type of ['evict', 'expire', 'remove'] as const)
        cache.on(type, (event) => model.delete(event.key as string));
      cache.on('removeAll', () => model.clear());
      const put = (key: string, value: string) => {
        cache.put(key, value);
        model.set(key, value);
      };
      const everything: string[] = [];
      for (let n = 0; n < ABOVE + 2_000; n++) {
        const key = `user:${n}`;
        everything.push(key);
        put(key, `a${n}`);
        if (n % 5 === 0) clock.advance(1);
      }
      clock.advance(5_000);
      for (let n = ABOVE + 2_000; n < ABOVE + 10_000; n++) {
        const key = `user:${n}`;
        everything.push(key);
        put(key, `b${n}`);
      }
      clock.advance(5_000); // the first keys' TTL has run out: gets expire them
      for (let n = 0; n < ABOVE + 10_000; n += 3) {
        const key = `user:${n}`;
        expect(cache.get(key)).toBe(model.get(key));
      }
      for (let n = 0; n < ABOVE + 10_000; n += 7) if (cache.remove(`user:${n}`)) model.delete(`user:${n}`);
      const colliding = collidingKeys(300, 'c:', 9);
      for (const key of colliding) {
        everything.push(key);
        put(key, key);
      }
      for (const key of everything) expect(cache.get(copyOf(key))).toBe(model.get(key));
      cache.removeAll();
      for (let n = 0; n < ABOVE; n++) put(`again:${n}`, `c${n}`);
      for (const key of everything) expect(cache.get(key)).toBeUndefined();
      for (let n = 0; n < ABOVE; n += 11) expect(cache.get(`again:${n}`)).toBe(`c${n}`);
    }, 60_000);
  }
});
