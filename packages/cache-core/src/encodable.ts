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

/** Returns the first problem found, or undefined when the value encodes and decodes as itself. */
export function findEncodingProblem(value: unknown): EncodabilityProblem | undefined {
  if (value === undefined) return { path: 'value', problem: 'is undefined (remove the key instead)' };
  return walk(value, 'value', new Set());
}

function walk(value: unknown, path: string, ancestors: Set<object>): EncodabilityProblem | undefined {
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
      : { path, problem: describeInstance(object) };
  }
  if (object instanceof Date) return undefined;
  if (ancestors.has(object)) return { path, problem: 'refers back to itself (a cycle)' };
  ancestors.add(object);
  try {
    return walkContainer(object, path, ancestors);
  } finally {
    ancestors.delete(object);
  }
}

function walkContainer(object: object, path: string, ancestors: Set<object>): EncodabilityProblem | undefined {
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const found = walk(object[i], `${path}[${i}]`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (object instanceof Map) {
    for (const [key, item] of object) {
      const label = typeof key === 'string' ? key : String(key);
      const found = walk(key, `${path} key ${label}`, ancestors) ?? walk(item, `${path}.get(${label})`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (object instanceof Set) {
    let i = 0;
    for (const item of object) {
      const found = walk(item, `${path} item ${i++}`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) return { path, problem: describeInstance(object) };
  if (Object.getOwnPropertySymbols(object).length > 0) return { path, problem: 'has symbol keys' };
  for (const [key, item] of Object.entries(object)) {
    const found = walk(item, `${path}.${key}`, ancestors);
    if (found !== undefined) return found;
  }
  return undefined;
}
