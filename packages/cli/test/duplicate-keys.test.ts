import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstDuplicateKey } from '../src/duplicate-keys.js';

describe('firstDuplicateKey', () => {
  it('names the first key written twice in one object, by its path', () => {
    expect(firstDuplicateKey('{"caches":{"tokens":{"a":1},"tokens":{"eternal":true}}}')).toBe('caches.tokens');
    expect(firstDuplicateKey('{"a":1,"a":2}')).toBe('a');
    expect(firstDuplicateKey('{"list":[{"x":1},{"x":1,"x":2}]}')).toBe('list[1].x');
    expect(firstDuplicateKey('{"k\\"ey":1, "k\\u0022ey":2}')).toBe('k"ey');
  });

  it('finds nothing where each object has its keys once, whatever the same names elsewhere', () => {
    expect(firstDuplicateKey('{"a":{"a":{"a":["a","a",{"a":1}]}},"b":"{\\"a\\":1,\\"a\\":2}"}')).toBeUndefined();
    expect(firstDuplicateKey('[]')).toBeUndefined();
    expect(firstDuplicateKey('"text"')).toBeUndefined();
  });

  it('agrees with a parse of any JSON value: no duplicate is reported where JSON.stringify wrote the text', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(firstDuplicateKey(JSON.stringify(value, null, 1))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
