/**
 * Values that go to disk or to peers must survive msgpack encoding unchanged. msgpackr would
 * happily encode a class instance as a plain object (losing its methods) or drop a function, and
 * the user would find out only when a peer hands back something else. So caches with a disk
 * tier or replication check each value at put time and refuse, naming the path, what would not
 * come back as it went in.
 *
 * Accepted: null, booleans, numbers, strings, plain objects (prototype Object.prototype or null),
 * arrays, Buffers and Uint8Arrays, Dates, Maps, Sets. Refused: undefined at the top level,
 * functions, symbols, bigints, other class instances (typed arrays other than Uint8Array
 * included), and cycles. A nested `undefined` (an absent optional field) is accepted. Where the
 * cache asks for a bound (replication: one change must fit in one frame; a disk tier: what lmdb
 * stores), a value whose encoding would pass it is refused too, by an estimate of its size.
 */

export interface EncodabilityProblem {
  readonly path: string;
  readonly problem: string;
  /** Set when the value is encodable but larger than the bound asked for. */
  readonly tooLarge?: true;
}

function describeInstance(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `is an instance of ${name ?? 'an unknown class'}, which would not come back as the same class`;
}

/**
 * Returns the first problem found, or undefined when the value encodes and decodes as itself and,
 * with `maxBytes`, its encoding takes at most about that many bytes.
 *
 * This runs on every put of a replicated or disk-backed cache, so a value that has no problem
 * costs no allocation but the map of containers walked (for cycles and sizes), and none at all for
 * a string, number, Buffer or Date: the path to a problem is put together only once one is found,
 * from the steps collected on the way back up.
 *
 * Sizes: msgpack writes a container out in full wherever it is referenced, so a value whose
 * sub-objects are shared (`v = { a: w, b: w }`, w alike, twenty levels down) is small in memory and
 * millions of bytes encoded. Each container is walked once; where it is referenced again its size
 * (kept from the first walk) is counted again. So the walk is linear in the value's containers,
 * and a value whose encoding would explode is refused by its size, before anything encodes it.
 * The size is an estimate: strings a byte a unit (their UTF-8 bytes, counted only when three
 * bytes a unit could pass the bound), Buffers exactly, the most a number can take; close for the
 * rest.
 */
export function findEncodingProblem(
  value: unknown,
  maxBytes = Number.POSITIVE_INFINITY,
): EncodabilityProblem | undefined {
  if (value === undefined) return { path: 'value', problem: 'is undefined (remove the key instead)' };
  // A string alone (the commonest value) is within any bound its length allows at three bytes a
  // unit: no walk, no scan.
  if (typeof value === 'string' && value.length * 3 + 5 <= maxBytes) return undefined;
  const walk = new Walk(maxBytes, false);
  let found = walk.value(value);
  // Strings were counted a byte a unit; if up to three could pass the bound, count their bytes.
  if (found === undefined && walk.mostBytes > maxBytes) found = new Walk(maxBytes, true).value(value);
  if (found === undefined) return undefined;
  if (found === TOO_LARGE) {
    return {
      path: 'value',
      problem: `encodes to more than ${describeBytes(maxBytes)} (msgpack writes a shared object out in full wherever it is referenced)`,
      tooLarge: true,
    };
  }
  return { path: `value${found.steps.reverse().join('')}`, problem: found.problem };
}

/** A problem, and the steps from it back up to the value (innermost first). */
interface Found {
  readonly problem: string;
  readonly steps: string[];
}

/** The walk passed maxBytes: no path (the whole value is too large), so no steps are collected. */
const TOO_LARGE: Found = Object.freeze({ problem: 'too large', steps: [] as string[] });

/** Per container walked: IN_PROGRESS while it is (an ancestor: met again, it is a cycle), then its size. */
const IN_PROGRESS = -1;

class Walk {
  readonly #maxBytes: number;
  /** Whether strings are counted by their UTF-8 bytes (a scan each) or a byte a unit. */
  readonly #exact: boolean;
  /** Bytes counted so far. */
  #bytes = 0;
  /** What the strings counted a byte a unit could add at three. */
  #slack = 0;
  /** Made at the first container. */
  #containers: Map<object, number> | undefined;

  constructor(maxBytes: number, exact: boolean) {
    this.#maxBytes = maxBytes;
    this.#exact = exact;
  }

  /** The most the value walked could take: its count, with every string at three bytes a unit. */
  get mostBytes(): number {
    return this.#bytes + this.#slack;
  }

  value(value: unknown): Found | undefined {
    switch (typeof value) {
      case 'string':
        if (this.#exact) return this.#count(Buffer.byteLength(value) + 5);
        this.#slack += 2 * value.length;
        return this.#count(value.length + 5);
      case 'number':
        return this.#count(9);
      case 'boolean':
      case 'undefined':
        return this.#count(1);
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
    if (object instanceof Date) return this.#count(15);
    this.#containers ??= new Map();
    const containers = this.#containers;
    const known = containers.get(object);
    if (known === IN_PROGRESS) return { problem: 'refers back to itself (a cycle)', steps: [] };
    if (known !== undefined) return this.#count(known); // walked already: only its size again
    containers.set(object, IN_PROGRESS);
    const before = this.#bytes;
    const found = this.#container(object);
    if (found === undefined) containers.set(object, this.#bytes - before);
    return found;
  }

  #count(bytes: number): Found | undefined {
    this.#bytes += bytes;
    return this.#bytes > this.#maxBytes ? TOO_LARGE : undefined;
  }

  #container(object: object): Found | undefined {
    const header = this.#count(5);
    if (header !== undefined) return header;
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = this.value(object[i]);
        if (found !== undefined) return step(found, `[${i}]`);
      }
      return undefined;
    }
    if (object instanceof Map) {
      for (const [key, item] of object) {
        const label = (): string => (typeof key === 'string' ? key : labelOf(key));
        const inKey = this.value(key);
        if (inKey !== undefined) return step(inKey, ` key ${label()}`);
        const inItem = this.value(item);
        if (inItem !== undefined) return step(inItem, `.get(${label()})`);
      }
      return undefined;
    }
    if (object instanceof Set) {
      let i = 0;
      for (const item of object) {
        const found = this.value(item);
        if (found !== undefined) return step(found, ` item ${i}`);
        i++;
      }
      return undefined;
    }
    const proto: unknown = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) return { problem: describeInstance(object), steps: [] };
    if (Object.getOwnPropertySymbols(object).length > 0) return { problem: 'has symbol keys', steps: [] };
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      const found = this.#count(key.length + 1) ?? this.value((object as Record<string, unknown>)[key]);
      if (found !== undefined) return step(found, `.${key}`);
    }
    return undefined;
  }
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
