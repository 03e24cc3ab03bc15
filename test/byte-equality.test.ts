/** The byte-array equality every test file runs with (test/byte-equality.ts) decides as vitest's own did. */
import { describe, expect, it } from 'vitest';

describe('byte arrays in toEqual and toStrictEqual', () => {
  it('are equal when their bytes are, and not when a byte or the length differs', () => {
    const big = Buffer.alloc(1_000_000, 7);
    expect(Buffer.from(big)).toEqual(big);
    expect(Buffer.from(big)).toStrictEqual(big);
    expect(new Uint8Array([1, 2, 3])).toEqual(new Uint8Array([1, 2, 3]));
    const changed = Buffer.from(big);
    changed[999_999] = 8;
    expect(changed).not.toEqual(big);
    expect(big.subarray(1)).not.toEqual(big);
    expect({ frame: Buffer.from('a') }).not.toEqual({ frame: Buffer.from('b') });
  });

  it('leave a Buffer beside a plain Uint8Array to vitest, which tells them apart by class', () => {
    expect(Buffer.from([1, 2])).not.toEqual(new Uint8Array([1, 2]));
    expect(Buffer.from([1, 2])).not.toStrictEqual(new Uint8Array([1, 2]));
  });
});
