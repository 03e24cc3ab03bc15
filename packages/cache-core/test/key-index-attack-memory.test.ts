/**
 * An outsider's look at what the key index (packages/cache-core/src/memory/key-index.ts) keeps
 * alive: the `#lastKey` memo holds the last key string hashed, and a key sliced out of a larger
 * string (V8 makes a substring of 13 units or more a sliced string) keeps the whole of it alive.
 * Measured with a forced collection and the heap's size, never with timings.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { KeyIndex } from '../src/memory/key-index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MB = 1024 * 1024;
const BIG = 64 * MB;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A table-mode index with a few keys, the last key it hashed a 40-unit slice of a 64 MB string. */
function lookUpASlicedKey(index: KeyIndex, keys: Array<string | undefined>): void {
  const body = `${'x'.repeat(BIG)}y`; // a request body, a decoded frame...
  const key = body.slice(1000, 1040); // ...and a key cut out of it
  expect(index.get(key, keys)).toBe(-1); // a miss: the key is not held, nor kept by the caller
}

function tableIndex() {
  const index = new KeyIndex({ tableFrom: 100 });
  const keys: Array<string | undefined> = [];
  for (let n = 0; n < 100; n++) {
    keys[n] = `k${n}`;
    index.add(`k${n}`, n, keys);
  }
  expect(index.hashed).toBe(true);
  return { index, keys };
}

describe('the key index, attacked: what it keeps alive', () => {
  it('lets a missed key (and the string it was sliced from) go once another key is looked up', () => {
    const { index, keys } = tableIndex();
    const before = heapUsed();
    lookUpASlicedKey(index, keys);
    index.get('k1', keys);
    expect(heapUsed() - before).toBeLessThan(BIG / 4);
  });

  it('lets it go too when the next key is found in the Map still moving to the table (found without hashing)', () => {
    const { index, keys } = tableIndex();
    expect(index.moving).toBe(100); // the 100th add made the table; the Map's keys move a few at a time
    const before = heapUsed();
    lookUpASlicedKey(index, keys); // moves k0..k7
    expect(index.get('k99', keys)).toBe(99); // still in the moving Map
    index.delete('k98', keys); // and taken out of it
    expect(heapUsed() - before).toBeLessThan(BIG / 4);
  });

  it('lets a key go once it is taken out, deleted or evicted, with nothing looked up after', () => {
    for (const how of ['delete', 'evict'] as const) {
      const { index, keys } = tableIndex();
      const before = heapUsed();
      (() => {
        const body = `${'x'.repeat(BIG)}y`;
        const key = body.slice(1000, 1040); // held, then taken out: a cache that then goes quiet
        keys[100] = key;
        index.add(key, 100, keys);
        if (how === 'delete') expect(index.delete(key, keys)).toBe(100);
        else index.remove(key, 100);
        keys[100] = undefined;
      })();
      expect(heapUsed() - before).toBeLessThan(BIG / 4);
    }
  });

  it('keeps no key once cleared (the memo of the last key hashed is emptied by clear())', () => {
    const { index, keys } = tableIndex();
    const before = heapUsed();
    lookUpASlicedKey(index, keys);
    index.clear(); // a Map again: nothing is hashed until the next move to a table
    keys.length = 0;
    keys[0] = 'after';
    index.add('after', 0, keys);
    expect(index.hashed).toBe(false);
    expect(index.get('after', keys)).toBe(0);
    expect(heapUsed() - before).toBeLessThan(BIG / 4);
  });
});
