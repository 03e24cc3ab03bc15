import { describe, expect, it } from 'vitest';
import { CacheManager, findEncodingProblem, ValueNotEncodableError } from '../src/index.js';
import { replicaPortOf } from '../src/internal.js';

/** [1, (a hole), 3]: its keys skip the hole, and the last of them is still an index. */
function holes(): number[] {
  const array = [1];
  array[2] = 3;
  return array;
}

/** An array that had a field, deleted since: an array again. */
function withoutExtra(): number[] {
  const array = Object.assign([1, 2], { extra: 1 }) as number[] & { extra?: number };
  delete array.extra;
  return array;
}

describe('findEncodingProblem', () => {
  it.each([
    ['a string', 'text'],
    ['a number', 3.5],
    ['null', null],
    ['a boolean', false],
    ['a plain object', { status: 200, headers: { 'content-type': 'text/plain' }, optional: undefined }],
    ['an object without a prototype', Object.assign(Object.create(null), { a: 1 })],
    ['an array', [1, 'two', [3]]],
    ['an array with holes', holes()],
    ['an array with a field set and deleted again', withoutExtra()],
    ['a Buffer', Buffer.from('body')],
    ['a Uint8Array', new Uint8Array([1, 2])],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', { b: 1 }]])],
    ['a Set', new Set([1, 2])],
  ])('accepts %s', (_label, value) => {
    expect(findEncodingProblem(value)).toBeUndefined();
  });

  class Token {
    constructor(readonly value: string) {}
  }
  // Subclasses of the accepted classes (found by the outside attack): msgpackr writes a Map
  // subclass as an empty object (its entries lost), and the others as their base class.
  class Headers extends Map<string, string> {}
  class Tags extends Set<string> {}
  class Timestamp extends Date {}
  class Row extends Array<number> {}
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = cyclic;
  const shared = { x: 1 };

  it.each([
    ['undefined', undefined, 'value', /undefined/],
    ['a function', () => 1, 'value', /is a function/],
    ['a nested function', { handlers: [() => 1] }, 'value.handlers[0]', /is a function/],
    ['a symbol', { s: Symbol('x') }, 'value.s', /is a symbol/],
    ['a bigint', { n: 10n }, 'value.n', /is a bigint/],
    ['a class instance', { token: new Token('t') }, 'value.token', /instance of Token/],
    ['a Float64Array', new Float64Array(2), 'value', /instance of Float64Array/],
    ['a cycle', cyclic, 'value.self', /cycle/],
    ['a subclass of Map', { headers: new Headers([['a', 'b']]) }, 'value.headers', /instance of Headers/],
    ['a subclass of Set', new Tags(['a']), 'value', /instance of Tags/],
    ['a subclass of Date', [new Timestamp(0)], 'value[0]', /instance of Timestamp/],
    ['an invalid Date', { at: new Date('not a date') }, 'value.at', /an invalid Date/],
    ['a subclass of Array', Row.from([1, 2]), 'value', /instance of Row/],
    [
      'a RegExp match (index, input, groups)',
      { m: 'k=v'.match(/(?<k>\w)=(\w)/) },
      'value.m',
      /a field besides its items \(groups\)/,
    ],
    [
      'an array with a field set on it',
      [[1, 2], Object.assign([3], { note: 'x' })],
      'value[1]',
      /a field besides its items \(note\)/,
    ],
    [
      'an array with a symbol key',
      Object.assign([1], { [Symbol('s')]: 1 }),
      'value',
      /a field besides its items \(Symbol\(s\)\)/,
    ],
    ['an array with a key past the last index', Object.assign([1], { '4294967295': 1 }), 'value', /\(4294967295\)/],
    [
      'a Map with a field set on it',
      { h: Object.assign(new Map([['a', 1]]), { etag: 'x' }) },
      'value.h',
      /is a Map with a field besides its entries \(etag\)/,
    ],
    [
      'a Set with a field set on it',
      Object.assign(new Set([1]), { size2: 1 }),
      'value',
      /a Set with a field .*\(size2\)/,
    ],
    ['a Set with a symbol key', [Object.assign(new Set([1]), { [Symbol('s')]: 1 })], 'value[0]', /\(Symbol\(s\)\)/],
    [
      'a Date with a field set on it',
      new Map([['at', Object.assign(new Date(0), { zone: 'UTC' })]]),
      'value.get(at)',
      /is a Date with a field besides its time \(zone\)/,
    ],
    ['a function in a Map', new Map([['k', () => 1]]), 'value.get(k)', /function/],
    ['a symbol as a Map key', new Map([[Symbol('k'), 1]]), 'value key Symbol(k)', /is a symbol/],
    [
      'a function under a Map key that has no prototype (no String() of its own)',
      new Map([[Object.create(null), () => 1]]),
      'value.get([object Object])',
      /is a function/,
    ],
    ['a string with a lone surrogate', 'a\uD800b', 'value', /lone surrogate/],
    ['a lone low surrogate deep inside', { a: [new Set(['ok', '\uDC00'])] }, 'value.a[0] item 1', /lone surrogate/],
    ['an object key with a lone surrogate', { 'k\uDBFF': 1 }, 'value.k\uDBFF', /lone surrogate/],
    [
      'an own key __proto__ (as JSON.parse makes)',
      JSON.parse('{"a":{"__proto__":{"x":1}}}'),
      'value.a.__proto__',
      /__proto_/,
    ],
    [
      'an own key __proto__ of an object with no prototype',
      Object.defineProperty(Object.create(null), '__proto__', { value: 1, enumerable: true }),
      'value.__proto__',
      /__proto_/,
    ],
    [
      'a function deep inside',
      { a: [1, new Map([[1, new Set([0, { f: () => 1 }])]])] },
      'value.a[1].get(1) item 1.f',
      /is a function/,
    ],
  ])('refuses %s, naming where', (_label, value, path, problem) => {
    const found = findEncodingProblem(value);
    expect(found?.path).toBe(path);
    expect(found?.problem).toMatch(problem);
  });

  it('accepts a Map keyed "__proto__" (a Map keeps its keys) and an inherited __proto__', () => {
    expect(findEncodingProblem(new Map([['__proto__', 1]]))).toBeUndefined();
    expect(findEncodingProblem({ a: 1 })).toBeUndefined();
  });

  it('accepts the same object twice when it is not a cycle', () => {
    expect(findEncodingProblem({ a: shared, b: shared, c: [shared] })).toBeUndefined();
  });

  it('walks a shared object once: a chain of 60 diamonds is checked at once, and refused by its encoded size', () => {
    // v = { a: w, b: w }, w alike, 60 levels down: 120 objects in memory, 2^60 leaves in msgpack.
    let value: unknown = { leaf: 'x' };
    for (let i = 0; i < 60; i++) value = { a: value, b: value };
    expect(findEncodingProblem(value)).toBeUndefined(); // no bound: encodable, in linear time
    expect(findEncodingProblem(value, 15 * 1024 * 1024)).toEqual({
      path: 'value',
      problem: expect.stringMatching(/^encodes to more than 15 MiB \(msgpack writes a shared object out in full/),
      tooLarge: true,
    });
    // A cycle below a shared object is still found, on its path.
    const looped: Record<string, unknown> = {};
    looped['self'] = looped;
    expect(findEncodingProblem({ a: shared, b: { c: shared, d: looped } })?.path).toBe('value.b.d.self');
  });

  it('counts what a review found it missed: shared strings, keys, undefined, depth; small integers by size', () => {
    // A shared object of wide strings, counted again where it is referenced: its bytes, not its units.
    const wide = { s: '\u20ac'.repeat(50) }; // 150 bytes of UTF-8
    expect(
      findEncodingProblem(
        Array.from({ length: 10 }, () => wide),
        1000,
      )?.tooLarge,
    ).toBe(true);
    expect(
      findEncodingProblem(
        Array.from({ length: 10 }, () => ({ s: 'e'.repeat(50) })),
        1000,
      ),
    ).toBeUndefined();
    // Object keys of wide characters.
    const keyed = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`${'\u4e2d'.repeat(100)}${i}`, null]));
    expect(findEncodingProblem(keyed, 1000)?.tooLarge).toBe(true);
    // undefined, and an array's holes, take three bytes each in msgpackr.
    expect(findEncodingProblem(new Array(400), 1000)?.tooLarge).toBe(true);
    // Small integers take a byte: a thousand of them fit in 2,000.
    expect(
      findEncodingProblem(
        Array.from({ length: 1000 }, (_, i) => i % 100),
        2000,
      ),
    ).toBeUndefined();
    expect(
      findEncodingProblem(
        Array.from({ length: 1000 }, () => 0.5),
        2000,
      )?.tooLarge,
    ).toBe(true);
    // Depth: 96 levels pass a bound of 96, 97 do not, and a shared object counts where it is met again.
    const nested = (levels: number): unknown => (levels === 0 ? 'x' : [nested(levels - 1)]);
    expect(findEncodingProblem(nested(96), Number.POSITIVE_INFINITY, 96)).toBeUndefined();
    expect(findEncodingProblem(nested(97), Number.POSITIVE_INFINITY, 96)).toMatchObject({
      path: `value${'[0]'.repeat(96)}`,
      problem: expect.stringMatching(/^nests containers more than 96 levels deep/),
    });
    const tall = nested(60);
    expect(findEncodingProblem({ a: tall, b: nested(40) }, Number.POSITIVE_INFINITY, 96)).toBeUndefined();
    expect(
      findEncodingProblem(
        { a: tall, b: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[tall]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] },
        Number.POSITIVE_INFINITY,
        96,
      )?.problem,
    ).toMatch(/nests containers/);
  });

  it('counts strings by their UTF-8 bytes where a byte a unit would pass under the bound', () => {
    const ascii = 'a'.repeat(600);
    const wide = '\u4e2d'.repeat(600); // 3 bytes a unit
    expect(findEncodingProblem(ascii, 1000)).toBeUndefined();
    expect(findEncodingProblem(wide, 1000)?.tooLarge).toBe(true);
    expect(findEncodingProblem({ body: ascii }, 1000)).toBeUndefined();
    expect(findEncodingProblem({ body: wide }, 1000)?.tooLarge).toBe(true);
    // Many short strings, each under any threshold: their bytes add up all the same.
    expect(
      findEncodingProblem(
        Array.from({ length: 100 }, () => '\u4e2d'.repeat(4)),
        1000,
      )?.tooLarge,
    ).toBe(true);
    expect(
      findEncodingProblem(
        Array.from({ length: 100 }, () => 'abcd'),
        1000,
      ),
    ).toBeUndefined();
    expect(findEncodingProblem(Buffer.alloc(2000), 1000)?.tooLarge).toBe(true);
  });
});

describe('caches that require encodable values', () => {
  it('refuse a non-encodable value at put with a clear error, and store nothing', () => {
    const cache = new CacheManager().addCache('Response Cache');
    replicaPortOf(cache).requireEncodableValues('replicates to peers');
    cache.put('ok', { status: 200, body: Buffer.from('x') });
    let error: unknown;
    try {
      cache.put('bad', { status: 200, render: () => 'x' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValueNotEncodableError);
    expect(error).toMatchObject({
      code: 'E_VALUE_NOT_ENCODABLE',
      cacheName: 'Response Cache',
      key: 'bad',
      path: 'value.render',
    });
    expect((error as Error).message).toMatch(
      /cache "Response Cache": cannot store key "bad": value.render is a function; this cache replicates to peers/,
    );
    expect(cache.has('bad')).toBe(false);
    expect(cache.has('ok')).toBe(true);
  });

  it('refuse a key with a lone surrogate (UTF-8 made two such keys one on a peer), at put (a remove of one is of a key not held), and still take whole pairs', () => {
    const cache = new CacheManager().addCache('Response Cache');
    cache.put('user:\uD800', 'kept, as a cache that neither replicates nor has a disk tier keeps any string');
    replicaPortOf(cache).requireEncodableValues('replicates to peers');
    expect(cache.remove('user:\uD800')).toBe(false); // cannot be held here: not held, nothing sent
    for (const act of [() => cache.put('user:\uDBFF', 'bob')]) {
      expect(act).toThrow(
        expect.objectContaining({
          code: 'E_INVALID_ARGUMENT',
          message: expect.stringMatching(
            /^cache "Response Cache": key "user:\\ud[89ab][0-9a-f]{2}" has a lone surrogate/,
          ),
        }),
      );
    }
    cache.put('user:\uD83D\uDE00', 'a whole pair is one character');
    expect(cache.get('user:\uD83D\uDE00')).toBe('a whole pair is one character');
    expect(() => cache.put('k', 'a\uD800b')).toThrow(/value is a string with a lone surrogate/);
  });

  it('refuse a value larger than the bound asked for, saying so, and store nothing', () => {
    const cache = new CacheManager().addCache('Response Cache');
    replicaPortOf(cache).requireEncodableValues('replicates to peers', 1000);
    cache.put('small', { status: 200, body: 'x'.repeat(500) });
    expect(() => cache.put('large', { status: 200, body: 'x'.repeat(2000) })).toThrow(
      /cache "Response Cache": cannot store key "large": value encodes, with its key, to more than 1000 bytes; this cache replicates to peers, so a value \(with its key\) may take at most 1000 bytes encoded/,
    );
    expect(() => cache.put('large', { status: 200, body: 'x'.repeat(2000) })).toThrow(ValueNotEncodableError);
    expect(cache.has('large')).toBe(false);
    expect(cache.has('small')).toBe(true);
  });

  it('count the key against the bound: it travels with the value', () => {
    const cache = new CacheManager().addCache('c');
    replicaPortOf(cache).requireEncodableValues('replicates to peers', 2000);
    cache.put('short', 'v'.repeat(500));
    expect(() => cache.put('k'.repeat(1000), 'v'.repeat(500))).toThrow(
      /value encodes, with its key, to more than 2000 bytes/,
    );
  });

  it('refuse a non-encodable loaded value: the load fails and nothing is cached', async () => {
    const cache = new CacheManager().addCache('c');
    replicaPortOf(cache).requireEncodableValues('replicates to peers');
    await expect(cache.getOrLoad('k', () => new (class Foo {})())).rejects.toBeInstanceOf(ValueNotEncodableError);
    expect(cache.has('k')).toBe(false);
  });
});
