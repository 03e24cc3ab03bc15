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
 * included), and cycles. A nested `undefined` (an absent optional field) is accepted.
 */

export interface EncodabilityProblem {
  readonly path: string;
  readonly problem: string;
}

function describeInstance(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `is an instance of ${name ?? 'an unknown class'}, which would not come back as the same class`;
}

/**
 * Returns the first problem found, or undefined when the value encodes and decodes as itself.
 *
 * This runs on every put of a replicated or disk-backed cache, so a value that has no problem
 * costs no allocation but the set of containers being walked (for cycles), and none at all for a
 * string, number, Buffer or Date: the path to a problem is put together only once one is found,
 * from the steps collected on the way back up.
 */
export function findEncodingProblem(value: unknown): EncodabilityProblem | undefined {
  if (value === undefined) return { path: 'value', problem: 'is undefined (remove the key instead)' };
  const found = walk(value, undefined);
  if (found === undefined) return undefined;
  return { path: `value${found.steps.reverse().join('')}`, problem: found.problem };
}

/** A problem, and the steps from it back up to the value (innermost first). */
interface Found {
  readonly problem: string;
  readonly steps: string[];
}

/** `ancestors`: the containers being walked, for cycles; made at the first container. */
function walk(value: unknown, ancestors: Set<object> | undefined): Found | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'function':
      return { problem: 'is a function', steps: [] };
    case 'symbol':
      return { problem: 'is a symbol', steps: [] };
    case 'bigint':
      return { problem: 'is a bigint (store it as a string or a number)', steps: [] };
  }
  if (value === null) return undefined;
  const object = value as object;
  if (object instanceof Uint8Array) {
    return Object.getPrototypeOf(object) === Uint8Array.prototype || Buffer.isBuffer(object)
      ? undefined
      : { problem: describeInstance(object), steps: [] };
  }
  if (object instanceof Date) return undefined;
  const seen = ancestors ?? new Set<object>();
  if (seen.has(object)) return { problem: 'refers back to itself (a cycle)', steps: [] };
  seen.add(object);
  try {
    return walkContainer(object, seen);
  } finally {
    seen.delete(object);
  }
}

function walkContainer(object: object, ancestors: Set<object>): Found | undefined {
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const found = walk(object[i], ancestors);
      if (found !== undefined) return step(found, `[${i}]`);
    }
    return undefined;
  }
  if (object instanceof Map) {
    for (const [key, item] of object) {
      const label = (): string => (typeof key === 'string' ? key : labelOf(key));
      const inKey = walk(key, ancestors);
      if (inKey !== undefined) return step(inKey, ` key ${label()}`);
      const inItem = walk(item, ancestors);
      if (inItem !== undefined) return step(inItem, `.get(${label()})`);
    }
    return undefined;
  }
  if (object instanceof Set) {
    let i = 0;
    for (const item of object) {
      const found = walk(item, ancestors);
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
    const found = walk((object as Record<string, unknown>)[key], ancestors);
    if (found !== undefined) return step(found, `.${key}`);
  }
  return undefined;
}

function step(found: Found, step: string): Found {
  found.steps.push(step);
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
