import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inexactNumberIn } from '../src/inexact-numbers.js';

describe('inexactNumberIn', () => {
  it('finds what would not come through as written: past the doubles, below them, or an integer past 2^53', () => {
    expect(inexactNumberIn('1e400')).toBe('1e400');
    expect(inexactNumberIn('{"a":[1,-1e999]}')).toBe('-1e999');
    expect(inexactNumberIn('1e-400')).toBe('1e-400');
    expect(inexactNumberIn('12345678901234567890')).toBe('12345678901234567890');
    expect(inexactNumberIn('-9007199254740993')).toBe('-9007199254740993');
  });

  it('takes what comes through: exact integers, fractions and exponents as JSON means them, numbers inside strings', () => {
    for (const ok of [
      '0',
      '-0',
      '0.0',
      '0e5',
      '9007199254740992',
      '1e20',
      '6.02e23',
      '0.1',
      '{"n":"1e400"}',
      '"\\"1e400"',
    ]) {
      expect(inexactNumberIn(ok)).toBeUndefined();
    }
  });

  it('finds nothing in what JSON.stringify writes of any JSON value (a double written is a double read)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(inexactNumberIn(JSON.stringify(value))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
