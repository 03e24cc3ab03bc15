/**
 * Values that go to disk or to peers must survive msgpack encoding unchanged. msgpackr would
 * happily encode a class instance as a plain object (losing its methods) or drop a function, and
 * the user would find out only when a peer hands back something else. So caches with a disk
 * tier or replication check each value at put time and refuse, naming the path, what would not
 * come back as it went in.
 *
 * Accepted: null, booleans, numbers, strings, plain objects (prototype Object.prototype or null),
 * arrays, Buffers and Uint8Arrays, valid Dates, Maps, Sets. Refused: undefined at the top level, an
 * invalid Date (msgpackr writes it in a form a peer's guard refuses, which closed the link),
 * functions, symbols, bigints, other class instances (typed arrays other than Uint8Array
 * included, and subclasses of Array, Date, Map and Set, which come back as the base class or, a
 * Map's, as an empty object), an array with fields besides its items (a RegExp match: only the
 * items are written) and a Map, Set or Date with a field of its own (only the entries, the items
 * or the time are written; a Buffer's are not looked for, which would list every byte), cycles, and an object's own key `__proto__` (JSON.parse makes one; msgpackr
 * decodes it as `__proto_`, so a peer or the disk would hand back another object). A nested
 * `undefined` (an absent optional field) is accepted. Where the cache asks for a bound
 * (replication: one change must fit in one frame; a disk tier: what lmdb stores), a value whose
 * encoding would pass it is refused too, by an estimate of its size; so is one nested past the
 * depth asked for (replication: a peer's guard; a disk tier: msgpackr encodes and decodes by
 * recursion, and the check itself walks by recursion).
 */

export interface EncodabilityProblem {
  readonly path: string;
  readonly problem: string;
  /** Set when the value is encodable but larger than the bound asked for. */
  readonly tooLarge?: true;
  /** Set when the value nests deeper than the bound asked for (the path leads to the container past it). */
  readonly tooDeep?: true;
}

function describeInstance(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `is an instance of ${name ?? 'an unknown class'}, which would not come back as the same class`;
}

/**
 * Returns the first problem found, or undefined when the value encodes and decodes as itself and,
 * with `maxBytes`, its encoding takes at most about that many bytes (`besides` of them taken
 * already: a key that travels with it), and with `maxDepth`, it nests no deeper.
 *
 * This runs on every put of a replicated or disk-backed cache, so a value that has no problem
 * costs no allocation but the map of containers walked (for cycles and sizes) and each array's
 * keys, and none at all for a string, number, Buffer or Date: the path to a problem is put together only once one is found,
 * from the steps collected on the way back up.
 *
 * Sizes: msgpack writes a container out in full wherever it is referenced, so a value whose
 * sub-objects are shared (`v = { a: w, b: w }`, w alike, twenty levels down) is small in memory and
 * millions of bytes encoded. Each container is walked once; where it is referenced again its size
 * (kept from the first walk) is counted again. So the walk is linear in the value's containers,
 * and a value whose encoding would explode is refused by its size, before anything encodes it.
 * The size is an estimate: strings a byte a unit (their UTF-8 bytes, counted only when three
 * bytes a unit could pass the bound), Buffers exactly, integers by their magnitude; close for the
 * rest.
 */
export function findEncodingProblem(
  value: unknown,
  maxBytes = Number.POSITIVE_INFINITY,
  maxDepth = Number.POSITIVE_INFINITY,
  besides = 0,
): EncodabilityProblem | undefined {
  if (value === undefined) return { path: 'value', problem: 'is undefined (remove the key instead)' };
  // A string alone (the commonest value) is within any bound its length allows at three bytes a
  // unit: no walk, no scan.
  if (typeof value === 'string' && besides + value.length * 3 + 5 <= maxBytes && isWellFormed(value)) return undefined;
  let walk = new Walk(maxBytes, maxDepth, false, besides);
  let found = walk.value(value, 0);
  // Strings were counted a byte a unit; if up to three could pass the bound, count their bytes.
  if (found === undefined && walk.mostBytes > maxBytes) {
    walk = new Walk(maxBytes, maxDepth, true, besides);
    found = walk.value(value, 0);
  }
  if (found === undefined) return undefined;
  if (found === TOO_LARGE) {
    const shared = walk.counted ? ' (msgpack writes a shared object out in full wherever it is referenced)' : '';
    const what = besides > 0 ? 'encodes, with its key,' : 'encodes';
    return { path: 'value', problem: `${what} to more than ${describeBytes(maxBytes)}${shared}`, tooLarge: true };
  }
  const path = `value${found.steps.reverse().join('')}`;
  return found.tooDeep === true ? { path, problem: found.problem, tooDeep: true } : { path, problem: found.problem };
}

/** A problem, and the steps from it back up to the value (innermost first). */
interface Found {
  readonly problem: string;
  readonly steps: string[];
  readonly tooDeep?: true;
}

/** The prototypes of the containers msgpack carries as themselves (a subclass's are not). */
const BASE_PROTOTYPES: ReadonlySet<unknown> = new Set([Array.prototype, Map.prototype, Set.prototype]);

/** The walk passed maxBytes: no path (the whole value is too large), so no steps are collected. */
const TOO_LARGE: Found = Object.freeze({ problem: 'too large', steps: [] as string[] });

/** A container being walked (an ancestor: met again, it is a cycle); see Walk's #containers. */
const IN_PROGRESS = -1;

class Walk {
  readonly #maxBytes: number;
  readonly #maxDepth: number;
  /** Whether a container was met again and its size counted again. */
  counted = false;
  /** Whether strings are counted by their UTF-8 bytes (a scan each) or a byte a unit. */
  readonly #exact: boolean;
  /** Bytes counted so far. */
  #bytes = 0;
  /** What the strings counted a byte a unit could add at three. */
  #slack = 0;
  /** Levels of containers in the value last walked (0 for a string, a number...). */
  #height = 0;
  /**
   * Per container: IN_PROGRESS while it is walked (met again then, it is a cycle), then its size
   * and height as size * HEIGHTS + height. Made at the first container.
   */
  #containers: Map<object, number> | undefined;

  constructor(maxBytes: number, maxDepth: number, exact: boolean, besides: number) {
    this.#maxBytes = maxBytes;
    this.#maxDepth = maxDepth;
    this.#exact = exact;
    this.#bytes = besides;
  }

  /** The most the value walked could take: its count, with every string at three bytes a unit. */
  get mostBytes(): number {
    return this.#bytes + this.#slack;
  }

  /** `depth`: the containers around the value. */
  value(value: unknown, depth: number): Found | undefined {
    this.#height = 0;
    switch (typeof value) {
      case 'string':
        return isWellFormed(value) ? this.#count(this.#stringBytes(value)) : LONE_SURROGATE();
      case 'number':
        return this.#count(numberBytes(value));
      case 'boolean':
        return this.#count(1);
      case 'undefined':
        return this.#count(3); // msgpackr's d4 00 00 (an array's holes too)
      case 'function':
        return { problem: 'is a function', steps: [] };
      case 'symbol':
        return { problem: 'is a symbol', steps: [] };
      case 'bigint':
        return { problem: 'is a bigint (store it as a string or a number)', steps: [] };
    }
    if (value === null) return this.#count(1);
    const object = value as object;
    if (object instanceof Uint8Array) {
      return Object.getPrototypeOf(object) === Uint8Array.prototype || Buffer.isBuffer(object)
        ? this.#count(object.byteLength + 5)
        : { problem: describeInstance(object), steps: [] };
    }
    if (object instanceof Date) {
      if (Object.getPrototypeOf(object) !== Date.prototype) return { problem: describeInstance(object), steps: [] };
      // msgpackr writes an invalid Date in a form no timestamp has (one byte), which a peer's
      // guard refuses as a bad frame: the link closed, and the repair after it sent it again.
      if (Number.isNaN(object.getTime())) return { problem: 'is an invalid Date (its time is NaN)', steps: [] };
      const field = ownField(object);
      return field === undefined ? this.#count(15) : besidesContent('a Date', field, 'time');
    }
    this.#containers ??= new Map();
    const containers = this.#containers;
    const known = containers.get(object);
    if (known === IN_PROGRESS) return { problem: 'refers back to itself (a cycle)', steps: [] };
    if (known !== undefined) {
      // Walked already: only its size again (and what its strings could add), and its depth here.
      const height = known % HEIGHTS;
      if (depth + height > this.#maxDepth) return this.#tooDeep();
      const size = (known - height) / HEIGHTS;
      this.counted = true;
      if (!this.#exact) this.#slack += 2 * size;
      this.#height = height;
      return this.#count(size);
    }
    if (depth + 1 > this.#maxDepth) return this.#tooDeep();
    containers.set(object, IN_PROGRESS);
    const before = this.#bytes;
    const found = this.#container(object, depth + 1);
    if (found === undefined)
      containers.set(object, (this.#bytes - before) * HEIGHTS + Math.min(this.#height, HEIGHTS - 1));
    return found;
  }

  #tooDeep(): Found {
    // Who set the bound says why (a peer's guard, the disk's recursion): EncodabilityProblem.tooDeep.
    return { problem: `nests containers more than ${this.#maxDepth} levels deep`, steps: [], tooDeep: true };
  }

  #stringBytes(text: string): number {
    if (this.#exact) return Buffer.byteLength(text) + 5;
    this.#slack += 2 * text.length;
    return text.length + (text.length < 32 ? 1 : 5);
  }

  #count(bytes: number): Found | undefined {
    this.#bytes += bytes;
    return this.#bytes > this.#maxBytes ? TOO_LARGE : undefined;
  }

  /** Walks a container's items at `depth`; leaves its height (1 + its tallest item's) in #height. */
  #container(object: object, depth: number): Found | undefined {
    const header = this.#count(5);
    if (header !== undefined) return header;
    let tallest = 0;
    let found: Found | undefined;
    // An array, Map or Set of a subclass comes back as its base class, and msgpackr writes a Map
    // subclass as an empty object: its entries were lost.
    if (
      (Array.isArray(object) || object instanceof Map || object instanceof Set) &&
      !BASE_PROTOTYPES.has(Object.getPrototypeOf(object))
    ) {
      return { problem: describeInstance(object), steps: [] };
    }
    if (object instanceof Map || object instanceof Set) {
      const field = ownField(object);
      if (field !== undefined) return besidesContent(object instanceof Map ? 'a Map' : 'a Set', field, 'entries');
    }
    if (Array.isArray(object)) {
      const field = fieldBesidesItems(object);
      if (field !== undefined) {
        return {
          problem: `is an array with a field besides its items (${field}), which would not come back: only the items are written`,
          steps: [],
        };
      }
      for (let i = 0; i < object.length; i++) {
        found = this.value(object[i], depth);
        if (found !== undefined) return step(found, `[${i}]`);
        if (this.#height > tallest) tallest = this.#height;
      }
    } else if (object instanceof Map) {
      for (const [key, value] of object) {
        const label = (): string => (typeof key === 'string' ? key : labelOf(key));
        found = this.value(key, depth);
        if (found !== undefined) return step(found, ` key ${label()}`);
        if (this.#height > tallest) tallest = this.#height;
        found = this.value(value, depth);
        if (found !== undefined) return step(found, `.get(${label()})`);
        if (this.#height > tallest) tallest = this.#height;
      }
    } else if (object instanceof Set) {
      let i = 0;
      for (const value of object) {
        found = this.value(value, depth);
        if (found !== undefined) return step(found, ` item ${i}`);
        if (this.#height > tallest) tallest = this.#height;
        i++;
      }
    } else {
      const proto: unknown = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) return { problem: describeInstance(object), steps: [] };
      if (Object.getOwnPropertySymbols(object).length > 0) return { problem: 'has symbol keys', steps: [] };
      for (const key in object) {
        if (!Object.hasOwn(object, key)) continue;
        if (key === '__proto__') return step(PROTO_KEY(), '.__proto__');
        found =
          (isWellFormed(key) ? this.#count(this.#stringBytes(key)) : LONE_SURROGATE()) ??
          this.value((object as Record<string, unknown>)[key], depth);
        if (found !== undefined) return step(found, `.${key}`);
        if (this.#height > tallest) tallest = this.#height;
      }
    }
    this.#height = tallest + 1;
    return undefined;
  }
}

/**
 * A field an array has besides its items, if any: a RegExp match's `index`, `input` and `groups`,
 * or one set on it. msgpack writes an array's items alone, so a peer or the disk handed back the
 * array without it (found by a review; it was lost without a word). An object's own keys list the
 * array's indices first, in order, and then its other fields: the last key tells. This is the one
 * allocation the check makes for an array (its keys), a few nanoseconds an item.
 */
function fieldBesidesItems(array: readonly unknown[]): string | undefined {
  const symbols = Object.getOwnPropertySymbols(array);
  if (symbols.length > 0) return String(symbols[0]);
  const keys = Object.keys(array);
  const last = keys[keys.length - 1];
  return last === undefined || isArrayIndex(last) ? undefined : last;
}

/**
 * A field a Map, Set or Date has of its own (a string or symbol key), if any: msgpack writes the
 * entries, the items or the time alone, so the field was lost on the way to the disk or a peer, as
 * an array's was. Such objects have no own keys but those set on them, so a for-in finds one at
 * once and allocates nothing when there is none; the symbols are an array (empty, as a rule).
 */
function ownField(object: object): string | undefined {
  for (const key in object) if (Object.hasOwn(object, key)) return key;
  const symbols = Object.getOwnPropertySymbols(object);
  return symbols.length > 0 ? String(symbols[0]) : undefined;
}

function besidesContent(what: string, field: string, content: string): Found {
  return {
    problem: `is ${what} with a field besides its ${content} (${field}), which would not come back: only the ${content} ${content === 'time' ? 'is' : 'are'} written`,
    steps: [],
  };
}

/** Whether `key` is an array index: a canonical whole number below 2^32 - 1. */
function isArrayIndex(key: string): boolean {
  const index = Number(key);
  return Number.isInteger(index) && index >= 0 && index < 2 ** 32 - 1 && String(index) === key;
}

/**
 * Whether a string is whole UTF-16: no lone surrogate (half a character). UTF-8, which msgpack
 * and lmdb write, has no form for one: encoded, it came back as U+FFFD, another string, so two
 * keys could become one on a peer and a value came back changed. (Node 20 has the method; ES2024
 * types it.)
 */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** msgpackr decodes a key `__proto__` as `__proto_`: the object would come back with another key. */
const PROTO_KEY = (): Found => ({
  problem: 'is a key that msgpack decoders do not keep ("__proto__" comes back as "__proto_"); rename it',
  steps: [],
});

const LONE_SURROGATE = (): Found => ({
  problem: 'is a string with a lone surrogate (half of a UTF-16 character), which UTF-8 cannot carry unchanged',
  steps: [],
});

/** Heights kept per container (a value nested deeper than a peer takes is refused before this). */
const HEIGHTS = 128;

/** What msgpack takes for a number: an integer by its magnitude, any other a float64. */
function numberBytes(value: number): number {
  if (!Number.isInteger(value)) return 9;
  if (value >= -32 && value <= 127) return 1;
  if (value >= -32_768 && value <= 65_535) return 3;
  return value >= -2_147_483_648 && value <= 4_294_967_295 ? 5 : 9;
}

function step(found: Found, step: string): Found {
  if (found !== TOO_LARGE) found.steps.push(step);
  return found;
}

/** A Map key's name in a problem's path; an object with no prototype has no String() of its own. */
function labelOf(key: unknown): string {
  try {
    return String(key);
  } catch {
    return Object.prototype.toString.call(key);
  }
}

function describeBytes(bytes: number): string {
  return bytes % 1_048_576 === 0 ? `${bytes / 1_048_576} MiB` : `${bytes} bytes`;
}
