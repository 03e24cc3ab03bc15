import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, MessageType } from '../src/internals.js';
import { MAX_VALUE_DEPTH } from '../src/protocol/codec.js';
import { estimateBytes } from '../src/replication-queue.js';

/**
 * estimateBytes was rewritten to walk values without building entry arrays, with the promise of
 * the same estimates (the queue's byte bound depends on them). Fuzzed here against a copy of the
 * previous implementation, kept below as it was at commit f6789a9.
 */

// ---- previous implementation (packages/replication/src/replication-queue.ts at f6789a9) ----
function previousEstimateBytes(change: ChangeMessage): number {
  let bytes = 32 + change.cache.length + change.version.node.length;
  if (change.type !== MessageType.RemoveAll) bytes += change.key.length;
  if (change.type === MessageType.Put) bytes += previousValueBytes(change.value, 0);
  return bytes;
}

function previousValueBytes(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  if (value instanceof Uint8Array) return value.length + 5;
  // The one change made on purpose since: the cutoff was 32 levels, and a value nested 34 deep with
  // megabytes at the bottom was estimated at 64 bytes (batches were built past the frame bound).
  if (depth > MAX_VALUE_DEPTH) return 64;
  let bytes = 5;
  if (Array.isArray(value) || value instanceof Set)
    for (const item of value) bytes += previousValueBytes(item, depth + 1);
  else if (value instanceof Map)
    for (const [k, v] of value) bytes += previousValueBytes(k, depth + 1) + previousValueBytes(v, depth + 1);
  else for (const [k, v] of Object.entries(value)) bytes += k.length + 1 + previousValueBytes(v, depth + 1);
  return bytes;
}
// ---- end of the previous implementation ----

const put = (value: unknown): ChangeMessage => ({
  type: MessageType.Put,
  cache: 'cache',
  key: 'key',
  value,
  version: { time: 1, counter: 0, node: 'node' },
  createdAt: 1,
  timeToLiveSeconds: 0,
  timeToIdleSeconds: 0,
});

describe('estimateBytes, against the previous implementation', () => {
  it('estimates any value fast-check makes as before', () => {
    const anything = fc.anything({
      maxDepth: 5,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withNullPrototype: true,
      withObjectString: true,
      withSet: true,
      withSparseArray: true,
      withTypedArray: true,
    });
    fc.assert(
      fc.property(anything, (value) => {
        expect(estimateBytes(put(value))).toBe(previousEstimateBytes(put(value)));
      }),
      { numRuns: 5000 },
    );
  });

  it('estimates deep, inherited, non-enumerable and sparse values as before', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 40; i++) deep = i % 3 === 0 ? [deep] : i % 3 === 1 ? { d: deep } : new Map([['m', deep]]);
    const inherited = Object.assign(Object.create({ onPrototype: 'x'.repeat(50) }), { own: 1 });
    const hidden = Object.defineProperty({ shown: 1 }, 'hidden', { value: 'x'.repeat(50), enumerable: false });
    const sparse: unknown[] = [];
    sparse[5] = 'five';
    const values = [
      deep,
      inherited,
      hidden,
      sparse,
      new Array(3),
      new Float64Array(4),
      new String('boxed'),
      new Date(0),
      Buffer.alloc(100).subarray(10, 20),
      { [Symbol('s')]: 'symbol keys are not counted', visible: 2 },
      {
        get lazy() {
          return 'x'.repeat(10);
        },
      },
    ];
    for (const value of values) expect(estimateBytes(put(value))).toBe(previousEstimateBytes(put(value)));
  });
});
