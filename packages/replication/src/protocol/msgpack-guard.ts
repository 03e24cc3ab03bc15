/**
 * Reads a frame's msgpack bytes before msgpackr does, and refuses anything meshcache never sends,
 * so that decoding a peer's frame can only ever build what a cache may hold.
 *
 * Why a walk of our own. msgpackr's extensions are global to the process: Error (0x65), RegExp
 * (0x78), BigInt (0x42), ArrayBuffer and DataView (0x74 codes 16, 17), structured-clone
 * references (0x69, 0x70) and bundled strings (0x62) are decoded by any Unpackr, whatever its
 * options. Turning them off would change msgpackr for every other user in the process (lmdb
 * included), so instead each frame is checked, in one pass over its bytes with no allocation per
 * value, against exactly what meshcache's values and messages are made of:
 *
 * - msgpack's own types: nil, booleans, integers up to 32 bits, floats, strings, binary
 *   (Buffers), arrays, maps (Maps);
 * - msgpackr's record extension (0x72, one-byte ids as a sequential Packr writes them): plain
 *   objects. The structures a frame defines are remembered for the connection, as msgpackr's
 *   decoder remembers them, so a later record reference is read with its field count;
 * - Dates (timestamp extension -1), Sets (0x73 followed by an array), Uint8Arrays (0x74 code 1),
 *   and `undefined` inside a value (0x00).
 * Anything else (other extensions, 64-bit integers, which decode to BigInts, the reserved byte
 * 0xc1, two-byte record ids, truncated data, trailing bytes, nesting deeper than MAX_DEPTH)
 * is refused with a reason, before a single object is built.
 *
 * Bounded here too: how much a valid frame expands when decoded. A 1-byte empty map becomes a
 * Map of about 200 bytes, an empty array an array of 32: a peer holding the secret sent 16 MB of
 * empty maps, which decoded to 2.9 GB, and the second such frame ended the process (out of heap).
 * So the walk weighs the containers it meets (CONTAINER_BYTES each, and a slot per element),
 * and a frame that would decode to more than MAX_DECODED_BYTES is refused before msgpackr builds
 * it. Strings, numbers and binaries expand by a few times at most and are not weighed. Frames
 * reach this point only from a peer that proved the cluster secret, and only up to maxPayload
 * bytes; unauthenticated bytes are never decoded at all (session.ts).
 */

import { CONTAINER_BYTES, HASHED_CONTAINER_BYTES } from '@meshcache/core/internal';

/** Deepest nesting accepted (messages use 3 levels; values the rest). */
export const MAX_DEPTH = 100;
/**
 * The most a frame may decode to, by the walk's estimate of its containers: 64 times the largest
 * frame. A value meshcache takes at put (15 MiB encoded) made of small arrays or objects (`[x, y]`
 * pairs: 3 bytes encoded, 56 weighed) stays below it, so a peer never refuses what a put took (at
 * 256 MiB it did, and the link would have flapped on it); only values of millions of empty Maps
 * or Sets, weighed 160 a byte, pass it.
 */
export const MAX_DECODED_BYTES = 1024 * 1024 * 1024;
/**
 * What a container costs decoded, about, beside a slot of 8 bytes per element: the figures a cache
 * weighs values by for maxBytesLocalHeap (core's sizes.ts), so a frame and the values it carries
 * are weighed alike.
 */
const ARRAY_BYTES = CONTAINER_BYTES;
const OBJECT_BYTES = CONTAINER_BYTES;
const MAP_BYTES = HASHED_CONTAINER_BYTES;
const SLOT_BYTES = 8;

export class GuardError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = 'GuardError';
  }
}

const EXT_UNDEFINED = 0x00;
const EXT_RECORD = 0x72;
const EXT_SET = 0x73;
const EXT_TYPED_ARRAY = 0x74;
const EXT_TIMESTAMP = 0xff;
const TYPED_ARRAY_UINT8 = 1;

export class MsgpackGuard {
  /** Field counts of the record structures defined on this connection, by id (0-63); -1: none. */
  readonly #records = new Int32Array(64).fill(-1);
  /** Values still to read in each open container (index = depth). */
  readonly #pending = new Float64Array(MAX_DEPTH + 1);

  /** @throws GuardError naming what is not allowed */
  check(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = bytes.length;
    const pending = this.#pending;
    let position = 0;
    let depth = 0;
    let decoded = 0;
    pending[0] = 1; // one top-level value
    /** Weighs a container of `slots` slots (a Map's pairs count two each, and twice again for its table). */
    const weigh = (container: number, slots: number) => {
      decoded += container + SLOT_BYTES * slots;
      if (decoded > MAX_DECODED_BYTES) {
        throw new GuardError(`would decode to more than ${MAX_DECODED_BYTES} bytes (its containers, by estimate)`);
      }
    };
    const need = (count: number) => {
      if (position + count > end) throw new GuardError('truncated msgpack');
    };
    /** A record structure as it follows `d4 72 id`: an array of field names, each a string. */
    const readStructure = (): number => {
      need(1);
      const head = bytes[position++] as number;
      let count: number;
      if (head >= 0x90 && head <= 0x9f) count = head & 0x0f;
      else if (head === 0xdc) {
        need(2);
        count = view.getUint16(position);
        position += 2;
      } else throw new GuardError('a record structure must be a list of field names');
      for (let i = 0; i < count; i++) {
        need(1);
        const name = bytes[position++] as number;
        let length: number;
        if (name >= 0xa0 && name <= 0xbf) length = name & 0x1f;
        else if (name === 0xd9) {
          need(1);
          length = bytes[position++] as number;
        } else if (name === 0xda) {
          need(2);
          length = view.getUint16(position);
          position += 2;
        } else throw new GuardError('a record field name must be a string');
        need(length);
        position += length;
      }
      return count;
    };
    const open = (values: number) => {
      if (values === 0) return;
      if (depth === MAX_DEPTH) throw new GuardError(`nested deeper than ${MAX_DEPTH} levels`);
      pending[++depth] = values;
    };
    while (depth > 0 || pending[0] > 0) {
      if ((pending[depth] as number) === 0) {
        depth--;
        continue;
      }
      (pending[depth] as number)--;
      need(1);
      const token = bytes[position++] as number;
      if (token <= 0x3f || token >= 0xe0) continue; // positive and negative fixints
      if (token <= 0x7f) {
        const fields = this.#records[token & 0x3f] as number;
        if (fields >= 0) {
          // a record of a defined structure; otherwise the integer 64-127
          weigh(OBJECT_BYTES, fields);
          open(fields);
        }
        continue;
      }
      if (token <= 0x8f) {
        weigh(MAP_BYTES, (token & 0x0f) * 3);
        open((token & 0x0f) * 2);
        continue;
      }
      if (token <= 0x9f) {
        weigh(ARRAY_BYTES, token & 0x0f);
        open(token & 0x0f);
        continue;
      }
      if (token <= 0xbf) {
        need(token & 0x1f);
        position += token & 0x1f;
        continue;
      }
      switch (token) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          continue;
        case 0xc4:
        case 0xd9:
          need(1);
          position += 1 + (bytes[position] as number);
          need(0);
          continue;
        case 0xc5:
        case 0xda:
          need(2);
          position += 2 + view.getUint16(position);
          need(0);
          continue;
        case 0xc6:
        case 0xdb:
          need(4);
          position += 4 + view.getUint32(position);
          need(0);
          continue;
        case 0xca:
        case 0xce:
        case 0xd2:
          need(4);
          position += 4;
          continue;
        case 0xcb:
          need(8);
          position += 8;
          continue;
        case 0xcc:
        case 0xd0:
          need(1);
          position += 1;
          continue;
        case 0xcd:
        case 0xd1:
          need(2);
          position += 2;
          continue;
        case 0xcf:
        case 0xd3:
          throw new GuardError('a 64-bit integer (it would decode to a BigInt, which meshcache never sends)');
        case 0xdc:
          need(2);
          weigh(ARRAY_BYTES, view.getUint16(position));
          open(view.getUint16(position));
          position += 2;
          continue;
        case 0xdd:
          need(4);
          weigh(ARRAY_BYTES, view.getUint32(position));
          open(view.getUint32(position));
          position += 4;
          continue;
        case 0xde:
          need(2);
          weigh(MAP_BYTES, view.getUint16(position) * 3);
          open(view.getUint16(position) * 2);
          position += 2;
          continue;
        case 0xdf:
          need(4);
          weigh(MAP_BYTES, view.getUint32(position) * 3);
          open(view.getUint32(position) * 2);
          position += 4;
          continue;
        case 0xd4: {
          need(2);
          const type = bytes[position] as number;
          const data = bytes[position + 1] as number;
          position += 2;
          if (type === EXT_UNDEFINED) continue;
          if (type === EXT_SET) {
            // The Set's items follow as one array; anything else made msgpackr throw, and the
            // peer was told only "not msgpack" (found by an attack).
            need(1);
            const next = bytes[position] as number;
            if (!((next >= 0x90 && next <= 0x9f) || next === 0xdc || next === 0xdd)) {
              throw new GuardError('a Set must be followed by the array of its items');
            }
            weigh(MAP_BYTES, 0); // its items, as one array, are weighed as that array, then again in the Set
            open(1);
            continue;
          }
          if (type === EXT_RECORD) {
            const fields = readStructure();
            this.#records[data & 0x3f] = fields;
            weigh(OBJECT_BYTES, fields);
            open(fields); // the definition is followed by its first record's values
            continue;
          }
          throw new GuardError(`extension ${type} is not a type meshcache carries`);
        }
        case 0xd6:
        case 0xd7:
          need(1);
          if (bytes[position] !== EXT_TIMESTAMP) {
            throw new GuardError(`extension ${bytes[position]} is not a type meshcache carries`);
          }
          position += 1 + (token === 0xd6 ? 4 : 8);
          need(0);
          continue;
        case 0xc7: {
          need(2);
          const length = bytes[position] as number;
          const type = bytes[position + 1] as number;
          position += 2;
          need(length);
          const allowed =
            (type === EXT_TIMESTAMP && length === 12) ||
            (type === EXT_TYPED_ARRAY && length >= 1 && bytes[position] === TYPED_ARRAY_UINT8);
          if (!allowed) throw new GuardError(`extension ${type} of ${length} bytes is not a type meshcache carries`);
          position += length;
          continue;
        }
        case 0xc8:
        case 0xc9: {
          const lengthBytes = token === 0xc8 ? 2 : 4;
          need(lengthBytes + 1);
          const length = token === 0xc8 ? view.getUint16(position) : view.getUint32(position);
          const type = bytes[position + lengthBytes] as number;
          position += lengthBytes + 1;
          need(length);
          if (!(type === EXT_TYPED_ARRAY && length >= 1 && bytes[position] === TYPED_ARRAY_UINT8)) {
            throw new GuardError(`extension ${type} of ${length} bytes is not a type meshcache carries`);
          }
          position += length;
          continue;
        }
        default:
          // 0xc1 (never used), 0xd5 and 0xd8 (fixext 2 and 16: two-byte record ids, BigInts, ...)
          throw new GuardError(`byte 0x${token.toString(16)} is not something meshcache sends`);
      }
    }
    if (position !== end) throw new GuardError('bytes after the message');
  }
}
