/**
 * Reads a Batch or Entries frame straight from its bytes, with no msgpackr and no array per
 * change, when it holds nothing but what ChangeWriter writes for plain values: the mirror of
 * change-writer.ts, on the receiving side.
 *
 * Why. Every replicated change is decoded on every node that receives it. MsgpackGuard walks the
 * frame, then msgpackr walks it again building an array per change, and the codec then reads
 * those arrays into changes; for a batch of short keys and string values this reader does all of
 * it in one pass over the bytes, in about half the time.
 *
 * What it accepts, and what it leaves to the full path. It takes a frame only if every byte of it
 * is one of: array headers (fixarray, array 16, array 32), nil, false, true, integers that are not
 * record references (positive fixint below 0x40, uint 8/16/32, negative fixint, int 8/16/32), float
 * 64, and strings (fixstr, str 8/16/32) whose bytes are all ASCII; laid out as the codec's header
 * comment says (a change per array, its fields in order), with nothing after the last change. On
 * anything else (another type, an extension, a record, a binary, a non-ASCII string, a batch
 * past the most a batch may carry, a field that does not check out, a truncated frame, trailing bytes) it
 * answers undefined, having changed nothing, and the caller decodes the frame the full way: the
 * guard, msgpackr and the field checks, which say exactly what was wrong. So:
 * - nothing this reader accepts would be refused by MsgpackGuard (it accepts a subset of those
 *   types and no extension), and it never touches the record structures a connection has defined
 *   (a frame with a record is never its), so skipping the guard and msgpackr for such a frame
 *   leaves their state as decoding it would have;
 * - what it returns is what the full path returns for the same bytes: the fields go through the
 *   codec's own checks (`build`, called with the change's fields in the layout the full path reads
 *   them in: a put's as arguments, read straight from the bytes, any other change's in an array
 *   reused from change to change), and only ASCII strings are read here, where every UTF-8
 *   decoder agrees (msgpackr reads some invalid UTF-8, lone surrogates among them, differently
 *   from Buffer's decoder: those frames go the full way).
 *
 * Deferred values. A session's reader (`defer`) leaves each put value of DEFER_FROM bytes or more
 * undecoded, whatever its bytes: a DeferredValue of the frame's FrameValues (frame-values.ts) that
 * the cache holds as it is and decodes by its first read; a frame that would leave fewer than
 * MIN_VALUES so has them decoded before it is handed on. For the valid UTF-8 that peers send,
 * that is the string the full path makes; for invalid UTF-8 it is Buffer's decoding of it, where
 * the full path's msgpackr may differ (frame-values.ts). The frame's other fields are read and
 * checked as above.
 */
import { DeferredValue } from '@meshcache/core/internal';
import type { putChange } from './codec.js';
import { FrameValues, MIN_VALUES } from './frame-values.js';
import { type ChangeMessage, MessageType } from './messages.js';

/** Builds and checks one change from its fields (codec.ts's changeFromWire); throws on a bad one. */
export interface ChangeBuilder {
  /** Any change, its fields in the order the wire carries them. */
  change(fields: readonly unknown[], index: number): ChangeMessage;
  /** A put, its fields (all but its type) in the order the wire carries them, then where the change is. */
  put: typeof putChange;
}

/** What #read answers for bytes it does not take (every value it does take is not undefined). */
const DECLINED = undefined;
/** Buffer's own UTF-8 decoder, without Buffer#toString's argument handling (undocumented; msgpackr uses it too). */
export interface Utf8Slicing {
  utf8Slice(start: number, end: number): string;
}
/** Where Buffer has no utf8Slice (it has had one since Node.js 0.x), every frame goes the full way. */
const CAN_READ = typeof (Buffer.prototype as Partial<Utf8Slicing>).utf8Slice === 'function';

export class ChangeReader {
  readonly #maxChanges: number;
  #bytes: Buffer = EMPTY;
  #view: DataView = EMPTY_VIEW;
  #position = 0;
  /**
   * The fields of the change being read, handed to the builder: one array per arity a change
   * has (5: removeAll, 6: remove and expire, 10: put), reused, so no array per change.
   */
  readonly #fields: Array<unknown[] | undefined> = [];
  /** Cache and node names repeat in every change of a batch: the last of each, to skip decoding it again. */
  #lastCache = '';
  #lastNode = '';
  /** Whether put values of DEFER_FROM bytes or more are left as FrameValues, decoded when first read. */
  readonly #defer: boolean;
  /** The values left undecoded of the frame read last, until settle(). */
  #frame: FrameValues | undefined;

  /**
   * @param maxChanges the most changes a frame may carry (a bigger one is the full path's to refuse)
   * @param defer put values of DEFER_FROM bytes or more are FrameValues (frame-values.ts), not strings
   */
  constructor(maxChanges: number, defer = false) {
    this.#maxChanges = maxChanges;
    this.#defer = defer;
  }

  /**
   * The values the frame read last left undecoded, for the caller to settle() once it has handled
   * the frame's changes; undefined when it left none. A frame not taken is settled by the next read.
   */
  take(): FrameValues | undefined {
    const frame = this.#frame;
    this.#frame = undefined;
    return frame;
  }

  /**
   * The changes of a Batch (type 5) or Entries (type 15) frame, or undefined when the frame is
   * not one this reader takes (see above), for the full decoder to read.
   */
  read(bytes: Buffer, build: ChangeBuilder): ChangeMessage[] | undefined {
    if (!CAN_READ || bytes.length < 3 || bytes[0] !== 0x92 || (bytes[1] !== 5 && bytes[1] !== 15)) return DECLINED;
    this.take()?.settle();
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#position = 2;
    try {
      const changes = this.#changes(build);
      // Declined, the frame's values are decoded the full way: those left undecoded go unused.
      if (changes === DECLINED) this.#frame = undefined;
      else if (this.#frame !== undefined && this.#frame.count < MIN_VALUES) this.#decodeNow(changes);
      return changes;
    } catch {
      // A field the builder refused, or a read past the end: the full path says what was wrong.
      this.#frame = undefined;
      return DECLINED;
    } finally {
      // Neither the frame nor the buffer it is a view of is this reader's to keep alive.
      this.#bytes = EMPTY;
      this.#view = EMPTY_VIEW;
      // What the fields held (a key, a value) is the caller's now, not this reader's to keep alive.
      for (const fields of this.#fields) fields?.fill(null);
    }
  }

  #changes(build: ChangeBuilder): ChangeMessage[] | undefined {
    const count = this.#arrayLength();
    // Every change takes at least 5 bytes: a count the frame cannot hold is declined before an
    // array that size is made (the full path then says what is wrong).
    if (count < 0 || count > this.#maxChanges || count > (this.#bytes.length - this.#position) / 5) return DECLINED;
    const changes = new Array<ChangeMessage>(count);
    for (let i = 0; i < count; i++) {
      const length = this.#arrayLength();
      if (length === 10 && this.#bytes[this.#position] === MessageType.Put) {
        // Most changes: read into arguments, with no array of fields between the bytes and the change.
        this.#position++;
        const put = this.#put(build, i);
        if (put === DECLINED) return DECLINED;
        changes[i] = put;
        continue;
      }
      if (length !== 10 && length !== 6 && length !== 5) return DECLINED; // the full path names the problem
      let fields = this.#fields[length];
      if (fields === undefined) {
        fields = new Array<unknown>(length).fill(null);
        this.#fields[length] = fields;
      }
      for (let field = 0; field < length; field++) {
        // Field 1 is the cache's name in every change; the node's name is the third from the end
        // of a Put, the last of the others (codec.ts's layout): both repeat from change to change.
        const value =
          field === 1
            ? this.#value(CACHE)
            : field === length - 1 - (length === 10 ? 3 : 0) && field > 1
              ? this.#value(NODE)
              : field === 3 && length === 10
                ? this.#value(PUT_VALUE)
                : this.#value(OTHER);
        if (value === DECLINED) return DECLINED;
        fields[field] = value;
      }
      changes[i] = build.change(fields, i);
    }
    return this.#position === this.#bytes.length ? changes : DECLINED;
  }

  /**
   * A put's fields after its type, as #changes reads them for any change (field by field, the
   * same names). A field declined does not stop the reading: what follows is read as bytes,
   * bounded by the frame like any read, and the put is declined at the end.
   */
  #put(build: ChangeBuilder, index: number): ChangeMessage | undefined {
    const cache = this.#value(CACHE);
    const key = this.#value(OTHER);
    const value = this.#value(PUT_VALUE);
    const time = this.#value(OTHER);
    const counter = this.#value(OTHER);
    const node = this.#value(NODE);
    const createdAt = this.#value(OTHER);
    const ttl = this.#value(OTHER);
    const tti = this.#value(OTHER);
    const declined =
      cache === DECLINED ||
      key === DECLINED ||
      value === DECLINED ||
      time === DECLINED ||
      counter === DECLINED ||
      node === DECLINED ||
      createdAt === DECLINED ||
      ttl === DECLINED ||
      tti === DECLINED;
    // 'batch': where a bad field is said to be; never shown (a put refused is read the full way).
    return declined ? DECLINED : build.put(cache, key, value, time, counter, node, createdAt, ttl, tti, 'batch', index);
  }

  /** A frame of few values undecoded: decoded now, in place (frame-values.ts: a frame's own objects would outweigh them). */
  #decodeNow(changes: ChangeMessage[]): void {
    for (const change of changes) {
      if (change.type === MessageType.Put && change.value instanceof DeferredValue) {
        (change as { value: unknown }).value = change.value.resolve();
      }
    }
    this.#frame = undefined;
  }

  #arrayLength(): number {
    const byte = this.#bytes[this.#position++] as number;
    if (byte >= 0x90 && byte <= 0x9f) return byte & 0x0f;
    if (byte === 0xdc) return this.#uint(2);
    if (byte === 0xdd) return this.#uint(4);
    return -1;
  }

  /** One field's value, or DECLINED for any type this reader leaves to the full path. */
  #value(name: number): unknown {
    const bytes = this.#bytes;
    const byte = bytes[this.#position++];
    if (byte === undefined) return DECLINED;
    if (byte < 0x40) return byte; // positive fixint (0x40-0x7f are record references)
    if (byte >= 0xa0 && byte <= 0xbf) return this.#string(byte & 0x1f, name);
    if (byte >= 0xe0) return byte - 0x100; // negative fixint
    switch (byte) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xcb:
        return this.#float64();
      case 0xcc:
        return this.#uint(1);
      case 0xcd:
        return this.#uint(2);
      case 0xce:
        return this.#uint(4);
      case 0xd0:
        return this.#int(1);
      case 0xd1:
        return this.#int(2);
      case 0xd2:
        return this.#int(4);
      case 0xd9:
        return this.#string(this.#uint(1), name);
      case 0xda:
        return this.#string(this.#uint(2), name);
      case 0xdb:
        return this.#string(this.#uint(4), name);
      default:
        return DECLINED;
    }
  }

  /** An ASCII string of `length` bytes, or DECLINED for any other (see above); or a put value left undecoded. */
  #string(length: number, name: number): unknown {
    const bytes = this.#bytes;
    const start = this.#position;
    const end = start + length;
    if (end > bytes.length) return DECLINED;
    this.#position = end;
    if (name === PUT_VALUE) {
      // Any UTF-8, not only ASCII: frame-values.ts says how it decodes, and why that is the same.
      if (this.#defer && length >= DEFER_FROM) {
        if (this.#frame === undefined) this.#frame = new FrameValues(bytes);
        return this.#frame.value(start, end);
      }
    } else if (name !== OTHER && length <= REMEMBERED) {
      const last = name === CACHE ? this.#lastCache : this.#lastNode;
      if (sameAscii(bytes, start, length, last)) return last;
    }
    const text = (bytes as unknown as Utf8Slicing).utf8Slice(start, end);
    // UTF-8 decodes an ASCII byte to one unit, a longer sequence to fewer units than bytes, and
    // each invalid byte to U+FFFD: as many units as bytes and no U+FFFD means every byte was ASCII.
    if (text.length !== length || text.indexOf('\ufffd') >= 0) return DECLINED;
    if (length <= REMEMBERED) {
      if (name === CACHE) this.#lastCache = text;
      else if (name === NODE) this.#lastNode = text;
    }
    return text;
  }

  #uint(size: 1 | 2 | 4): number {
    const at = this.#position;
    this.#position += size;
    const view = this.#view;
    return size === 1 ? view.getUint8(at) : size === 2 ? view.getUint16(at) : view.getUint32(at);
  }

  #int(size: 1 | 2 | 4): number {
    const at = this.#position;
    this.#position += size;
    const view = this.#view;
    return size === 1 ? view.getInt8(at) : size === 2 ? view.getInt16(at) : view.getInt32(at);
  }

  #float64(): number {
    const at = this.#position;
    this.#position += 8;
    return this.#view.getFloat64(at);
  }
}

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);
/** Names longer than this are not remembered: a peer's 16 MiB cache name must not outlive its frame. */
const REMEMBERED = 64;
const OTHER = 0;
const CACHE = 1;
const NODE = 2;
const PUT_VALUE = 3;
/**
 * Put values from this many bytes are left undecoded (when the reader defers). A shorter string
 * costs the collector little more than the frame's bytes kept for it would cost memory (its key,
 * version and 9 bytes of bookkeeping travel beside it).
 */
export const DEFER_FROM = 64;

/** Whether the `length` bytes at `start` are the ASCII text `text`. */
function sameAscii(bytes: Buffer, start: number, length: number, text: string): boolean {
  if (text.length !== length || length === 0) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] !== text.charCodeAt(i)) return false;
  return true;
}
