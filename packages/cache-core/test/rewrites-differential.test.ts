import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findEncodingProblem } from '../src/encodable.js';
import { fnv1a, hashItem } from '../src/internal.js';

/**
 * hashItem and findEncodingProblem were rewritten for speed with the promise of the same answers
 * (hashes cross the wire in repair digests; problems are shown to users). Each is fuzzed here
 * against a copy of its previous implementation, kept below as it was at commit f6789a9.
 */

// ---- previous implementation of hashItem (packages/cache-core/src/replica-digest.ts at f6789a9) ----
function previousMix(hash: number, value: number): number {
  let k = Math.imul(value | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = hash ^ k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function previousHashItem(
  keyHash: number,
  time: number,
  counter: number,
  nodeHash: number,
  removed: boolean,
  out: Uint32Array,
): void {
  const low = time % 0x1_0000_0000;
  const high = Math.floor(time / 0x1_0000_0000);
  let a = previousMix(keyHash ^ 0x9e3779b9, low);
  a = previousMix(a, high);
  a = previousMix(a, counter);
  a = previousMix(a, nodeHash);
  a = previousMix(a, removed ? 1 : 2);
  let b = previousMix(keyHash ^ 0x85ebca6b, nodeHash);
  b = previousMix(b, removed ? 3 : 4);
  b = previousMix(b, counter);
  b = previousMix(b, high);
  b = previousMix(b, low);
  out[0] = a;
  out[1] = b;
}
// ---- end of the previous hashItem ----

// ---- previous implementation of findEncodingProblem (packages/cache-core/src/encodable.ts at f6789a9) ----
interface EncodabilityProblem {
  readonly path: string;
  readonly problem: string;
}

function previousDescribeInstance(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `is an instance of ${name ?? 'an unknown class'}, which would not come back as the same class`;
}

function previousFindEncodingProblem(value: unknown): EncodabilityProblem | undefined {
  if (value === undefined) return { path: 'value', problem: 'is undefined (remove the key instead)' };
  return previousWalk(value, 'value', new Set());
}

function previousWalk(value: unknown, path: string, ancestors: Set<object>): EncodabilityProblem | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'function':
      return { path, problem: 'is a function' };
    case 'symbol':
      return { path, problem: 'is a symbol' };
    case 'bigint':
      return { path, problem: 'is a bigint (store it as a string or a number)' };
  }
  if (value === null) return undefined;
  const object = value as object;
  if (object instanceof Uint8Array) {
    return Object.getPrototypeOf(object) === Uint8Array.prototype || Buffer.isBuffer(object)
      ? undefined
      : { path, problem: previousDescribeInstance(object) };
  }
  if (object instanceof Date) return undefined;
  if (ancestors.has(object)) return { path, problem: 'refers back to itself (a cycle)' };
  ancestors.add(object);
  try {
    return previousWalkContainer(object, path, ancestors);
  } finally {
    ancestors.delete(object);
  }
}

function previousWalkContainer(object: object, path: string, ancestors: Set<object>): EncodabilityProblem | undefined {
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const found = previousWalk(object[i], `${path}[${i}]`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (object instanceof Map) {
    for (const [key, item] of object) {
      const label = typeof key === 'string' ? key : String(key);
      const found =
        previousWalk(key, `${path} key ${label}`, ancestors) ?? previousWalk(item, `${path}.get(${label})`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (object instanceof Set) {
    let i = 0;
    for (const item of object) {
      const found = previousWalk(item, `${path} item ${i++}`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) return { path, problem: previousDescribeInstance(object) };
  if (Object.getOwnPropertySymbols(object).length > 0) return { path, problem: 'has symbol keys' };
  for (const [key, item] of Object.entries(object)) {
    const found = previousWalk(item, `${path}.${key}`, ancestors);
    if (found !== undefined) return found;
  }
  return undefined;
}
// ---- end of the previous findEncodingProblem ----

/** The answer, or what was thrown. */
function outcome<T>(f: () => T): T | string {
  try {
    return f();
  } catch (error) {
    return `threw ${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
}

/** Every invalid Date in a value fast-check made (arrays, plain objects, Maps, Sets; cycles once). */
function invalidDates(value: unknown, seen = new Set<object>()): Date[] {
  if (typeof value !== 'object' || value === null || seen.has(value)) return [];
  seen.add(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? [value] : [];
  const inner: unknown[] =
    value instanceof Map
      ? [...value].flat()
      : value instanceof Set
        ? [...value]
        : ArrayBuffer.isView(value)
          ? []
          : Object.values(value);
  return inner.flatMap((item) => invalidDates(item, seen));
}

/**
 * The new findEncodingProblem against the previous one, up to the differences known and meant;
 * each rule hands what is past its difference to this same judgement.
 */
function expectSameProblem(v: unknown): void {
  const now = outcome(() => findEncodingProblem(v));
  const before = outcome(() => previousFindEncodingProblem(v));
  // One known difference: the previous code named every Map key as it went (String(key)), which
  // throws for an object key with no prototype; the new one names a key only on a problem.
  if (typeof before === 'string' && before.includes('Cannot convert object to primitive value')) {
    if (typeof now === 'string') expect(now).toBe(before);
    return;
  }
  // Another, by design since: an own key __proto__ (msgpackr decodes it as __proto_) is a
  // problem now, found in the same walk, so nothing the previous code found comes first.
  if (typeof now === 'object' && now?.problem.includes('msgpack decoders do not keep') === true) {
    expect(now.path).toMatch(/\.__proto__$/);
    return;
  }
  // And a third (aa73e24): an invalid Date is a problem now (msgpackr writes it in a form a
  // peer's guard refuses), found in the same walk, so it may come before what the previous
  // code found. Past every invalid Date the two must agree again, up to these same differences:
  // made valid, a value with an own key __proto__ after its invalid Date is that problem now, and
  // none before (found by reading this oracle: [new Date(NaN), {"__proto__": 1}]).
  if (typeof now === 'object' && now?.problem === 'is an invalid Date (its time is NaN)') {
    const invalid = invalidDates(v);
    expect(invalid.length).toBeGreaterThan(0);
    for (const date of invalid) date.setTime(0);
    try {
      expectSameProblem(v);
    } finally {
      for (const date of invalid) date.setTime(Number.NaN);
    }
    return;
  }
  expect(now).toEqual(before);
}

describe('hashItem, against the previous implementation', () => {
  it('gives the same two hashes for any key hash, time, counter, node hash and removed flag', () => {
    const uint32 = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat({ max: 0xffffffff }));
    const time = fc.oneof(
      fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52, 2 ** 53 - 1, 1_700_000_000_000),
      fc.maxSafeNat(),
    );
    const fresh = new Uint32Array(2);
    const before = new Uint32Array(2);
    fc.assert(
      fc.property(uint32, time, uint32, uint32, fc.boolean(), (keyHash, t, counter, nodeHash, removed) => {
        hashItem(keyHash, t, counter, nodeHash, removed, fresh);
        previousHashItem(keyHash, t, counter, nodeHash, removed, before);
        expect([fresh[0], fresh[1]]).toEqual([before[0], before[1]]);
      }),
      { numRuns: 20_000 },
    );
    // and from real key and node names, as the digest calls it
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        time,
        uint32,
        fc.string(),
        fc.boolean(),
        (key, t, c, node, removed) => {
          hashItem(fnv1a(key), t, c, fnv1a(node), removed, fresh);
          previousHashItem(fnv1a(key), t, c, fnv1a(node), removed, before);
          expect([fresh[0], fresh[1]]).toEqual([before[0], before[1]]);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('findEncodingProblem, against the previous implementation', () => {
  it('finds the same problem at the same path in any value fast-check makes', () => {
    const anything = fc.anything({
      maxDepth: 4,
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
    const extra = fc.constantFrom<unknown>(
      () => 1,
      Symbol('s'),
      1n,
      new Float32Array(1),
      Buffer.from('b'),
      new Uint8Array(1),
      new (class Point {})(),
      { [Symbol('k')]: 1 },
      Object.create(null),
    );
    const value = fc.oneof(
      anything,
      fc.tuple(anything, extra).map(([a, e]) => [a, e]),
      fc.tuple(fc.string(), extra).map(([k, e]) => ({ [k]: e })),
      fc.tuple(anything, extra).map(([k, e]) => new Map([[k, e]])),
      fc.tuple(anything, extra).map(([k, e]) => new Set([k, e])),
    );
    fc.assert(
      fc.property(value, (v) => {
        expectSameProblem(v);
      }),
      { numRuns: 3000 },
    );
  });

  it('finds the same problem in cycles, getters and Map keys', () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle['self'] = { inner: [cycle] };
    const shared = { s: 1 };
    const diamond = { left: shared, right: shared, both: [shared, shared] };
    const mapCycle = new Map<unknown, unknown>();
    mapCycle.set('me', mapCycle);
    const setCycle = new Set<unknown>();
    setCycle.add(setCycle);
    const keyCycle = new Map<unknown, unknown>();
    keyCycle.set(keyCycle, 1);
    const getter = {
      get lazy() {
        return { deep: [1, () => 2] };
      },
      plain: 1,
    };
    const inherited = Object.create({ onPrototype: () => 1 });
    const nonEnumerable = Object.defineProperty({}, 'hidden', { value: () => 1, enumerable: false });
    const values: unknown[] = [
      cycle,
      diamond,
      mapCycle,
      setCycle,
      keyCycle,
      getter,
      inherited,
      nonEnumerable,
      new Map<unknown, unknown>([[{ a: [1n] }, 1]]),
      new Map<unknown, unknown>([[1, { b: Symbol('x') }]]),
      new Map<unknown, unknown>([[Symbol('key'), 1]]),
      new Map<unknown, unknown>([[new Date(0), () => 1]]),
      [
        [1, 2],
        [3, [4, new Set([5, new Map([[6, new Int8Array(1)]])])]],
      ],
      { a: { b: { c: { d: undefined, e: [undefined, null, Number.NaN, () => 0] } } } },
      Object.assign(Object.create(null), { n: { m: 1n } }),
    ];
    for (const v of values) expect(findEncodingProblem(v)).toEqual(previousFindEncodingProblem(v));
  });

  it('differs from the previous code, by design, on an own key __proto__ (which msgpackr renames)', () => {
    const parsed = JSON.parse('{"ok":1,"__proto__":{"x":1}}') as unknown;
    expect(previousFindEncodingProblem(parsed)).toBeUndefined();
    expect(findEncodingProblem(parsed)).toEqual({
      path: 'value.__proto__',
      problem: expect.stringMatching(/^is a key that msgpack decoders do not keep/),
    });
    // The fast-check counterexample that showed it: a problem in the same walk after it is not reached.
    const first = new Set<unknown>([{ ['__proto__']: new String('') }, () => 1]);
    expect(findEncodingProblem(first)?.path).toBe('value item 0.__proto__');
  });

  it('judges what is past an invalid Date by the same rules: an own key __proto__ after it is a difference by design', () => {
    const date = new Date(Number.NaN);
    const value = [date, JSON.parse('{"__proto__":1}') as unknown];
    expect(findEncodingProblem(value)).toEqual({ path: 'value[0]', problem: 'is an invalid Date (its time is NaN)' });
    date.setTime(0);
    expect(previousFindEncodingProblem(value)).toBeUndefined();
    expect(findEncodingProblem(value)?.path).toBe('value[1].__proto__');
    date.setTime(Number.NaN);
    expectSameProblem(value);
  });

  it('differs from the previous code only where that threw: a Map key object with no prototype', () => {
    const bare = Object.create(null) as object;
    // the previous code threw a TypeError (String(key)) for a value with no problem at all
    expect(outcome(() => previousFindEncodingProblem(new Map([[bare, 1]])))).toMatch(/^threw TypeError/);
    expect(findEncodingProblem(new Map([[bare, 1]]))).toBeUndefined();
    // a problem after such a key: the previous code threw before reaching it
    const later = new Map<unknown, unknown>([
      [bare, 1],
      ['f', () => 1],
    ]);
    expect(outcome(() => previousFindEncodingProblem(later))).toMatch(/^threw TypeError/);
    expect(findEncodingProblem(later)).toEqual({ path: 'value.get(f)', problem: 'is a function' });
    // a problem under such a key: the previous code threw in naming the key; it is named now
    const under = new Map<unknown, unknown>([[bare, () => 1]]);
    expect(outcome(() => previousFindEncodingProblem(under))).toMatch(/^threw TypeError/);
    expect(findEncodingProblem(under)).toEqual({ path: 'value.get([object Object])', problem: 'is a function' });
  });
});
