/**
 * What a kept digest's lingering items (BucketDigest.linger) keep alive: a read-expired entry's
 * key is the cache's no more, and up to 65,536 of them linger for a sweep interval. Measured with
 * a forced collection and the heap's size, never with timings.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BucketDigest } from '../src/replica-digest.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MB = 1024 * 1024;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('a digest with lingering items', () => {
  it('keeps none of their keys alive: 1,024 keys of 64 KiB take far less than their 64 MiB', () => {
    const digest = new BucketDigest(1024);
    const before = heapUsed();
    for (let i = 0; i < 1024; i++) {
      const key = `${i}:`.padEnd(64 * 1024, 'x'); // a long URL, a serialised query...
      digest.apply(key, i, 0, 'n1', false, 1);
      digest.linger(key, i, 0, 'n1');
    }
    expect(heapUsed() - before).toBeLessThan(4 * MB);
    expect(digest.forgetLingering()).toBe(1024);
  });
});
