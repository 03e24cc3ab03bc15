import { describe, expect, it } from 'vitest';
import { fnv1a, hashItem } from '../src/internal.js';

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
