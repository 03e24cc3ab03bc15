import { describe, expect, it } from 'vitest';
import { BucketDigest, fnv1a, hashItem } from '../src/internal.js';

describe('hashItem', () => {
  // Computed by the release before hashItem was rewritten for speed: peers of both releases
  // compare digests built from these hashes, so they must never change.
  it.each([
    ['key:1', 1_700_000_000_000, 0, 'node-a', false, 880048330, 86733238],
    ['', 0, 0, 'n', true, 2100095984, 4008638944],
    ['ключ 😀', 2 ** 53 - 1, 2 ** 32 - 1, 'gw-1', false, 2446836237, 2243872039],
    ['k', 2 ** 32, 7, 'x', true, 2100399491, 2103813614],
    ['k', 2 ** 32 - 1, 1, 'x', false, 3237786447, 219467932],
  ])(
    'hashes %j at time %d, counter %d, node %j, removed %j as it always has',
    (key, time, counter, node, removed, a, b) => {
      const out = new Uint32Array(2);
      hashItem(fnv1a(key), time, counter, fnv1a(node), removed, out);
      expect([...out]).toEqual([a, b]);
    },
  );
});

describe('BucketDigest', () => {
  /** A digest built from scratch, in one go, from the items held. */
  const fromScratch = (items: Map<string, [number, number, string, boolean]>, buckets: number) => {
    const digest = new BucketDigest();
    for (const [key, [time, counter, node, removed]] of items) digest.apply(key, time, counter, node, removed, 1);
    return digest.fold(buckets);
  };

  it('kept item by item, with items waiting to be added, folds to what a digest built from scratch folds to', () => {
    const kept = new BucketDigest();
    const held = new Map<string, [number, number, string, boolean]>();
    let seed = 7;
    const next = (below: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % below;
    };
    // Reads at counts that leave items waiting, and at multiples of the wait's bound.
    for (const steps of [1, 100, 255, 256, 257, 1000, 3000]) {
      for (let i = 0; i < steps; i++) {
        const key = `k${next(500)}`;
        const was = held.get(key);
        if (was !== undefined) {
          kept.apply(key, ...was, -1);
          held.delete(key);
        }
        if (next(4) > 0) {
          const item: [number, number, string, boolean] = [
            1_700_000_000_000 + next(1e6),
            next(100),
            `n${next(3)}`,
            next(5) === 0,
          ];
          kept.apply(key, ...item, 1);
          held.set(key, item);
        }
      }
      for (const buckets of [1, 64, 4096]) expect(kept.fold(buckets)).toEqual(fromScratch(held, buckets));
    }
  });

  it('keeps a lingering item until forgetLingering(), or until anything else of its key comes or goes', () => {
    const item = (key: string, time: number) => [key, time, 0, 'n1', false] as const;
    const digest = new BucketDigest();
    digest.apply(...item('a', 1), 1);
    digest.apply(...item('b', 2), 1);
    const both = digest.fold(64);
    // 'b' leaves the cache, lingering: the digest is as it was.
    digest.linger('b', 2, 0, 'n1');
    expect(digest.fold(64)).toEqual(both);
    // A new write of 'b' takes the lingering version out as it adds its own.
    digest.apply(...item('b', 3), 1);
    expect(digest.fold(64)).toEqual(
      fromScratch(
        new Map([
          ['a', [1, 0, 'n1', false]],
          ['b', [3, 0, 'n1', false]],
        ]),
        64,
      ),
    );
    expect(digest.forgetLingering()).toBe(0);
    // Lingering again, then forgotten: only 'a' is left.
    digest.linger('b', 3, 0, 'n1');
    expect(digest.forgetLingering()).toBe(1);
    expect(digest.fold(64)).toEqual(fromScratch(new Map([['a', [1, 0, 'n1', false]]]), 64));
  });

  it('forgets, for a removeAll, only the lingering items no newer than it', () => {
    const digest = new BucketDigest();
    for (const [key, time] of [
      ['old', 1],
      ['new', 3],
    ] as const) {
      digest.apply(key, time, 0, 'n1', false, 1);
      digest.linger(key, time, 0, 'n1');
    }
    expect(digest.forgetLingering({ time: 2, counter: 0, node: 'n1' })).toBe(1);
    expect(digest.fold(64)).toEqual(fromScratch(new Map([['new', [3, 0, 'n1', false]]]), 64));
    expect(digest.forgetLingering()).toBe(1);
    expect(digest.fold(64)).toEqual(fromScratch(new Map(), 64));
  });

  it('lingers 65,536 items at most: past that, an item leaves at once', () => {
    const digest = new BucketDigest();
    const lingering = new Map<string, [number, number, string, boolean]>();
    for (let i = 0; i <= 65_536; i++) {
      digest.apply(`k${i}`, i, 0, 'n1', false, 1);
      digest.linger(`k${i}`, i, 0, 'n1');
      if (i < 65_536) lingering.set(`k${i}`, [i, 0, 'n1', false]);
    }
    expect(digest.fold(64)).toEqual(fromScratch(lingering, 64));
    expect(digest.forgetLingering()).toBe(65_536);
  });
});
