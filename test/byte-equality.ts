/**
 * Every test file's setup (vitest.config.ts, setupFiles): two byte arrays of the same class are
 * equal to `toEqual` and `toStrictEqual` when their bytes are, compared by memcmp. Vitest's own
 * equality walks a Uint8Array element by element as an iterable, about a microsecond a byte on
 * this machine: change-writer.test.ts's comparisons of frames and of 70 KB Buffers took 14 s of a
 * 20 s timeout on a loaded CI machine, and timed out once; 0.5 s this way. Arrays of different
 * classes (a Buffer and a plain Uint8Array) are left to vitest, which tells them apart by class
 * (test/byte-equality.test.ts).
 */
import { expect } from 'vitest';

expect.addEqualityTesters([
  (a: unknown, b: unknown) =>
    a instanceof Uint8Array && b instanceof Uint8Array && a.constructor === b.constructor
      ? Buffer.compare(a, b) === 0
      : undefined,
]);
