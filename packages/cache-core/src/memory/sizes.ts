/**
 * What an entry weighs, for the byte bound (maxBytesLocalHeap): a cheap estimate, close to the
 * value's msgpack encoding (what a disk tier writes and a peer receives), plus the key and what
 * the store keeps per entry besides.
 *
 * - strings: their length (one byte a character: the UTF-8 length of ASCII text, what V8 keeps of
 *   a one-byte string), plus 5;
 * - Buffers and Uint8Arrays: their byteLength, plus 5;
 * - numbers, booleans, null: 9; Dates: 12;
 * - arrays, Sets, Maps and plain objects: 5 plus their elements (and keys), walked to 32 levels
 *   deep; deeper parts count 64 each (an unusual shape; the estimate stays cheap).
 * An entry also costs ENTRY_OVERHEAD bytes for the key index, the slot arrays and the policy's
 * links (bench/README.md measures it), plus its key's length.
 *
 * Not exact: V8 may keep a string as two bytes a character, share substrings, or intern keys; an
 * object's own overhead is not counted. It is the order of magnitude that bounds a response cache
 * whose values run from bytes to megabytes, which a count alone cannot.
 */

/** What the store keeps per entry beyond key and value, measured (bench/src/footprint.ts). */
export const ENTRY_OVERHEAD = 100;

export function entryBytes(key: string, value: unknown): number {
  return ENTRY_OVERHEAD + key.length + valueBytes(value, 0);
}

export function valueBytes(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  if (value instanceof Uint8Array) return value.byteLength + 5;
  if (value instanceof Date) return 12;
  if (depth > 32) return 64;
  let bytes = 5;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) bytes += valueBytes(value[i], depth + 1);
  } else if (value instanceof Set) {
    for (const item of value) bytes += valueBytes(item, depth + 1);
  } else if (value instanceof Map) {
    for (const [k, v] of value) bytes += valueBytes(k, depth + 1) + valueBytes(v, depth + 1);
  } else {
    for (const k in value) {
      if (Object.hasOwn(value, k)) bytes += k.length + 1 + valueBytes((value as Record<string, unknown>)[k], depth + 1);
    }
  }
  return bytes;
}
