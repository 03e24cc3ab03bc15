/**
 * Flooding the key index (packages/cache-core/src/memory/key-index.ts). An outsider's attack found
 * that its first hash (murmur3's rounds, seeded) had keys of ordinary text that collided under
 * every seed (colliding-keys.ts): 130 writes flooded any index. Its hash is now HalfSipHash-1-3
 * under a random 64-bit key: those keys spread, and keys that share a home can be made only by
 * someone who knows the key (here, a test that hands the index its seeds); for them the probe
 * bound, the reseed and the Map still hold. What a flood costs is counted, never timed: keys
 * compared (reads of the caller's slot-to-key array, which the index makes only for a candidate
 * whose 32-bit hash matches).
 */
import { describe, expect, it } from 'vitest';
import { hashString, KeyIndex, TABLE_FROM } from '../src/memory/key-index.js';
import { blockForms, collidingKeys, filledStore, homeColliding } from './colliding-keys.js';

const isText = (unit: number) => (unit >= 0x4e00 && unit <= 0x9fff) || (unit >= 0xac00 && unit <= 0xd7a3);
const random32 = () => crypto.getRandomValues(new Int32Array(1))[0] as number;

/** A slot-to-key array that counts the keys the index reads from it (each one a key comparison). */
function countingKeys() {
  const keys: Array<string | undefined> = [];
  const read: string[] = [];
  const counted = new Proxy(keys, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property === 'string' && /^\d+$/.test(property) && typeof value === 'string') read.push(value);
      return value;
    },
  });
  return { keys, counted, read };
}

describe('the key index, flooded', () => {
  it("spreads the 2^n keys of ordinary text that had one hash under every seed with murmur3's rounds", () => {
    const [one, two] = blockForms();
    expect(one).not.toBe(two);
    const keys = collidingKeys(4096, 'q:', 12); // 4,096 keys of 50 units, CJK and Hangul
    expect(new Set(keys).size).toBe(4096);
    const units = keys.flatMap((key) => Array.from(key.slice(2), (unit) => unit.charCodeAt(0)));
    expect(units.filter((unit) => !isText(unit))).toEqual([]);
    for (const [key0, key1] of [
      [1, 1],
      [0x5eed, -0x7fffffff],
      [random32(), random32()],
    ] as const) {
      // 4,096 hashes of 32 bits: one birthday collision among them in about 500 draws of the hash
      // key, two in 500,000 (a search found such a key: 4,094 hashes), seven never; murmur3's
      // rounds gave one hash for all 4,096.
      expect(new Set(keys.map((key) => hashString(key, key0, key1))).size).toBeGreaterThanOrEqual(4090);
    }
  });

  it('with its own random key, a memory store takes 130 of those keys among TABLE_FROM + 500 others, exactly', () => {
    const memory = filledStore(TABLE_FROM + 500);
    const colliding = collidingKeys(130, 's:', 8);
    for (const key of colliding) memory.write(key, key, 0, 0, 0, 0, undefined, 0);
    for (const key of colliding) expect(memory.value(memory.slotOf(key))).toBe(key);
    expect(memory.size).toBe(TABLE_FROM + 630);
  });

  it('under a key the attacker knows: 130 keys of one home make it reseed once, then keep a Map for good', () => {
    // The worst case: the attacker knows the key, and the reseed draws the same one again.
    let drawn = 0;
    const index = new KeyIndex({
      seeds: () => {
        drawn++;
        return 7;
      },
      tableFrom: 1000,
    });
    const { keys, counted, read } = countingKeys();
    let slot = 0;
    const add = (key: string, into: ReadonlyArray<string | undefined> = keys) => {
      keys[slot] = key;
      index.add(key, slot++, into);
    };
    for (let n = 0; n < 1000; n++) add(`https://example.test/items/${n}`);
    expect(index.hashed).toBe(true);
    // One home in a table of up to 2^12 positions (this one has 2^12 from 1,000 keys to 2,048).
    const colliding = homeColliding(130, 'f:', 7, 7, 12);
    read.length = 0;
    for (const key of colliding) add(key, counted);
    expect(drawn).toBe(4); // two draws a key: the first key, then the reseed
    expect(index.flooded).toBe(true);
    expect(index.hashed).toBe(false);
    // Each rebuild reads every key in the table (the reseed rehashes them all, the fallback puts
    // them in a Map): the flood's one-time cost, up to two passes over the 1,000 + 130 keys.
    expect(read.length).toBeGreaterThan(1000);
    expect(read.length).toBeLessThanOrEqual(2 * (1000 + 130));
    for (const [at, key] of colliding.entries()) expect(index.get(key, keys)).toBe(1000 + at);
    // For good: clear() and a refill past tableFrom stay in the Map.
    index.clear();
    keys.length = 0;
    slot = 0;
    for (let n = 0; n < 1010; n++) add(`https://example.test/items/${n}`);
    expect(index.hashed).toBe(false);
  });

  it('a reseed that draws another key recovers: the same keys spread, and the index keeps hashing', () => {
    const draws = [7, 7, random32(), random32()];
    let drawn = 0;
    const index = new KeyIndex({ seeds: () => draws[Math.min(drawn++, draws.length - 1)] as number, tableFrom: 0 });
    const keys: Array<string | undefined> = [];
    const colliding = homeColliding(300, 'g:', 7, 7, 12);
    for (const [slot, key] of colliding.entries()) {
      keys[slot] = key;
      index.add(key, slot, keys);
    }
    expect(drawn).toBe(4);
    expect(index.flooded).toBe(false);
    expect(index.hashed).toBe(true);
    for (const [slot, key] of colliding.entries()) expect(index.get(key, keys)).toBe(slot);
  });
});
