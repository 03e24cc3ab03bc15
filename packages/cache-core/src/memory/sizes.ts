/**
 * What an entry weighs, for the byte bound (maxBytesLocalHeap): a cheap estimate, close to the
 * value's msgpack encoding (what a disk tier writes and a peer receives), plus the key and what
 * the store keeps per entry besides.
 *
 * - strings: their length (one byte a character: the UTF-8 length of ASCII text, what V8 keeps of
 *   a one-byte string), plus 5;
 * - Buffers, typed arrays, DataViews and ArrayBuffers: their byteLength, plus 5; Blobs: their size;
 * - numbers, booleans, null: 9; Dates: 12;
 * - arrays and plain objects: 32 (what V8 takes for one, empty), Sets and Maps: 160 (their hash
 *   tables), plus their elements (and keys), walked to 32 levels deep; deeper parts count 64 each
 *   (an unusual shape; the estimate stays cheap). An object met again (a shared part, or a cycle)
 *   counts 5 the second time: the walk is linear in the value. Containers were counted 5 each, as
 *   their encoding is about: a peer holding the secret sent values of 1.6 million empty Maps, each
 *   entry counted 8 MB and holding 290 MB, and a 512 MB bound let the heap run out.
 *   Past SAMPLED_ELEMENTS elements an array is sampled (its first ones, times its length): a sparse
 *   array of 10^8 holes took seconds inside one put.
 * An entry also costs ENTRY_OVERHEAD bytes for the key index, the slot arrays and the policy's
 * links (bench/README.md measures it), plus its key's length.
 *
 * Not exact: V8 may keep a string as two bytes a character, share substrings, or intern keys; an
 * object's own overhead is not counted, nor what it holds in private (#) fields or closures, which
 * no walk sees (a class instance holding a megabyte in a private field counts as a few bytes). It
 * is the order of magnitude that bounds a response cache whose values run from bytes to
 * megabytes, which a count alone cannot.
 */
import { DeferredValue } from '../deferred-value.js';

/** What the store keeps per entry beyond key and value, measured (bench/src/footprint.ts). */
export const ENTRY_OVERHEAD = 100;
/** What V8 takes for an empty array or plain object, about (a header and its backing store's); the frame guard weighs them so too. */
export const CONTAINER_BYTES = 32;
/** What V8 takes for an empty Map or Set, about (with its hash table's smallest size); the frame guard weighs them so too. */
export const HASHED_CONTAINER_BYTES = 160;
/** Elements of an array walked before the rest is estimated from them. */
const SAMPLED_ELEMENTS = 65_536;

export function entryBytes(key: string, value: unknown): number {
  return ENTRY_OVERHEAD + key.length + valueBytes(value);
}

export function valueBytes(value: unknown): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  if (value instanceof DeferredValue) return value.estimatedBytes;
  // Objects are counted once each: a value that refers to itself (a tree with parent links) would
  // otherwise be walked once per path, exponentially many (a memory-only cache accepts any value).
  return objectBytes(value, 0, new Set());
}

function objectBytes(value: object, depth: number, seen: Set<object>): number {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength + 5;
  if (value instanceof Date) return 12;
  if (value instanceof Blob) return value.size + 5;
  if (seen.has(value)) return 5; // a reference to a part already counted
  if (depth > 32) return 64;
  seen.add(value);
  const of = (item: unknown): number => {
    if (typeof item === 'string') return item.length + 5;
    if (typeof item !== 'object' || item === null) return 9;
    return objectBytes(item, depth + 1, seen);
  };
  let bytes = value instanceof Map || value instanceof Set ? HASHED_CONTAINER_BYTES : CONTAINER_BYTES;
  if (Array.isArray(value)) {
    const walked = Math.min(value.length, SAMPLED_ELEMENTS);
    let elements = 0;
    for (let i = 0; i < walked; i++) elements += of(value[i]);
    bytes += walked === value.length ? elements : Math.round((elements / walked) * value.length);
  } else if (value instanceof Set) {
    for (const item of value) bytes += of(item);
  } else if (value instanceof Map) {
    for (const [k, v] of value) bytes += of(k) + of(v);
  } else {
    for (const k in value) {
      if (Object.hasOwn(value, k)) bytes += k.length + 1 + of((value as Record<string, unknown>)[k]);
    }
  }
  return bytes;
}
