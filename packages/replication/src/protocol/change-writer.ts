/**
 * Writes a Batch or Entries message straight to msgpack, with no array built per change, when
 * every value in it is a string, a number, a Buffer, a boolean or null.
 *
 * Why. A batch of a thousand changes is the frame that replication sends most, and laying each
 * change out as an array for msgpackr to walk (codec.ts's changeToWire) costs an array per change
 * and a generic walk of every field. The fields of a change are known (strings and numbers), and
 * so are strings, numbers and Buffers, which is what many caches hold: written here directly, a
 * batch of 200-character strings encodes in about two thirds of the time.
 *
 * Why only those values. Anything else (objects, Maps, Sets, Dates, arrays, Uint8Arrays that are
 * not Buffers) is msgpackr's to write: its `sequential` records define a structure inline the
 * first time it is used on the connection, and only the connection's Packr knows which it has
 * defined. Handing such values to the Packr one by one between the fields written here decodes
 * correctly, but costs a pack() call, a view and every few dozen values a new buffer: measured
 * slower than packing the batch whole. So a batch holding any such value is packed whole
 * (ChangeWriter.writes decides), and this writer never touches record state.
 *
 * What is promised: the bytes are the layout that codec.ts documents (the same arrays, in the
 * same order), and decode to what msgpackr decodes from toWire's arrays, so a node that writes
 * batches this way and one that packs them whole read each other's frames. So far they are the
 * very same bytes (test/change-writer.test.ts checks), since every choice below is msgpackr's:
 * - numbers (with records on, as the codec has them): positive integers below 2^32 as fixint
 *   (below 0x40 only: 0x40-0x7f are record references), uint8, uint16 or uint32; negative ones
 *   down to -2^31 as fixint or int8/16/32; everything else, epoch milliseconds included, as a
 *   float64. Never a 64-bit integer: MsgpackGuard refuses those, as they would decode to BigInts.
 * - strings: the header sized from the length in UTF-16 units, moved if the UTF-8 needs more.
 * - Buffers: msgpack binary; booleans and null: their one byte.
 *
 * Memory: frames are written one after another into a chunk and handed out as views of it, as
 * msgpackr does: a frame is never written over once returned (the transport may still hold it),
 * and a chunk is freed once no frame of it is held.
 */
import type { Version } from '@meshcache/core';
import type { ChangeLog } from './change-log.js';
import { type ChangeMessage, MessageType } from './messages.js';

const FIRST_CHUNK = 8192;
/** A chunk bigger than this is not allocated again unless a frame needs it. */
const MAX_KEPT_CHUNK = 1 << 20;
/**
 * A chunk bigger than this (a frame of large values made it: three bytes reserved a character, then
 * doubled) is let go at once: its frame is handed out as a copy of its own, and the next frame
 * starts in a chunk of MAX_KEPT_CHUNK. Kept, it stayed with its link for the link's life, and the
 * frame handed out kept all of it alive while the socket held it: 511 links of a peer that read
 * nothing held 6 MB each, 3 GB that no budget of unsent bytes saw. Frames of about 1 MiB (what
 * batches and repair chunks are) never make a chunk this big, so they are never copied.
 */
const MAX_HELD_CHUNK = 4 * MAX_KEPT_CHUNK;
/**
 * The one buffer of the process that transient frames (writeTransient, writeLogTransient) are
 * written into, kept for the next while at most MAX_SCRATCH: a repair's chunks (1 MiB at most by
 * default, cache-replicator.ts) are written into it, frame after frame, instead of into a fresh
 * buffer each. Made an eighth larger than the frame that needs it, so that chunks of about one size
 * (each a little over or under its bound) do not make a new one for every frame a little larger.
 */
let scratch = Buffer.allocUnsafeSlow(0);
const MAX_SCRATCH = 8 << 20;
/**
 * Strings shorter than this are encoded by a loop here (cheaper than a call into Buffer#write),
 * longer ones by Buffer#write: msgpackr's own split, which matters for one case, a lone surrogate:
 * the loop writes its three bytes, which msgpackr reads back as itself, Buffer#write writes U+FFFD.
 */
const SHORT_STRING = 0x40;
/**
 * What bytesFor counts for every change besides its strings (the array and type bytes, a version's
 * time as float64, its counter at three bytes), and for a put besides those and its value (a
 * createdAt as float64, lifespans at three bytes each). Close, not a bound: an estimate too low
 * costs a frame one move to a bigger buffer, one too high memory held for as long as the frame is.
 */
const CHANGE_BYTES = 2 + 9 + 3;
const PUT_BYTES = 9 + 3 + 3;
/** A string's bytes for text in ASCII: its header (chosen by its length, as #string chooses it) and its characters. */
const textBytes = (length: number): number =>
  length + (length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5);

/**
 * Buffer's own UTF-8 writer without Buffer#write's argument handling, which cost more than the
 * copy itself for a 200-byte value. Undocumented, so used only where it exists (msgpackr does the same).
 */
const nativeUtf8Write = (Buffer.prototype as { utf8Write?: (text: string, offset: number, length: number) => number })
  .utf8Write;
const utf8Write: (chunk: Buffer, text: string, offset: number) => number =
  nativeUtf8Write === undefined
    ? (chunk, text, offset) => chunk.write(text, offset, 'utf8')
    : (chunk, text, offset) => nativeUtf8Write.call(chunk, text, offset, chunk.length - offset);

/** The bytes bytesFor counts for a put's value, or -1 for a value this writer does not write. */
function valueBytes(value: unknown): number {
  if (typeof value === 'string') return textBytes(value.length);
  if (typeof value === 'number') return 9;
  if (typeof value === 'boolean' || value === null) return 1;
  if (isPlainBuffer(value)) return value.length + 5;
  return -1;
}

/** A Buffer that msgpackr writes as msgpack binary (a subclass would be a typed-array extension). */
function isPlainBuffer(value: unknown): value is Buffer {
  return Buffer.isBuffer(value) && value.constructor === Buffer;
}

export class ChangeWriter {
  #chunk = Buffer.allocUnsafe(0);
  #view = new DataView(this.#chunk.buffer, this.#chunk.byteOffset, 0);
  /** Where the frame being written starts, and where the next byte goes. */
  #start = 0;
  #position = 0;

  /**
   * Whether every value is one this writer writes (a string, number, boolean, null or Buffer); otherwise
   * the batch is to be packed whole (see above: a small object per change encoded in 0.67 µs a
   * change packed whole, 0.93 with each object packed by itself here).
   */
  static writes(changes: readonly ChangeMessage[]): boolean {
    return ChangeWriter.bytesFor(changes) >= 0;
  }

  /**
   * About the bytes of the frame write() makes of `changes` (exact to a few bytes a change for
   * ASCII text, less than the frame for other text), or -1 when a value is not one this writer
   * writes (see writes()).
   */
  static bytesFor(changes: readonly ChangeMessage[]): number {
    let bytes = 8;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i] as ChangeMessage;
      bytes += CHANGE_BYTES + textBytes(change.cache.length) + textBytes(change.version.node.length);
      if (change.type === MessageType.RemoveAll) continue;
      bytes += textBytes(change.key.length);
      if (change.type !== MessageType.Put) continue;
      const value = valueBytes(change.value);
      if (value < 0) return -1;
      bytes += PUT_BYTES + value;
    }
    return bytes;
  }

  /**
   * bytesFor() of the Batch writeLog() makes of records `from` to `to` of `log` (a removeAll of
   * `clear` first, when given), or -1 when a value is not one this writer writes.
   */
  static bytesForLog(log: ChangeLog, from: number, to: number, clear: Version | undefined): number {
    const cache = textBytes(log.cache.length);
    let bytes = 8 + (clear === undefined ? 0 : CHANGE_BYTES + cache + textBytes(clear.node.length));
    for (let i = from; i < to; i++) {
      bytes +=
        CHANGE_BYTES + cache + textBytes((log.nodes[i] as string).length) + textBytes((log.keys[i] as string).length);
      if (log.types[i] !== MessageType.Put) continue;
      const value = valueBytes(log.values[i]);
      if (value < 0) return -1;
      bytes += PUT_BYTES + value;
    }
    return bytes;
  }

  /**
   * [type, [change, ...]] as codec.ts lays it out; type is Batch or Entries. `bytes` is
   * bytesFor(changes): room for that much is made before the first change is written, so a frame
   * moves to a new chunk at most once, with nothing of it written yet.
   */
  write(type: number, changes: readonly ChangeMessage[], bytes = ChangeWriter.bytesFor(changes)): Buffer {
    return this.#written(bytes, () => this.#frame(type, changes));
  }

  /**
   * A Batch or Entries (`type`) of records `from` to `to` of `log`, a removeAll of `clear` first
   * when given: the bytes write() makes of the same changes as objects, with no object made for
   * any. `bytes` is bytesForLog() of the same (not -1).
   */
  writeLog(type: number, log: ChangeLog, from: number, to: number, clear: Version | undefined, bytes: number): Buffer {
    return this.#written(bytes, () => this.#logFrame(type, log, from, to, clear));
  }

  /**
   * write(), for a caller done with the frame before anything else writes one (a session sealing
   * it: the ciphertext is what goes out): written into the process's scratch buffer, which the
   * next transient frame of any writer writes over. Never to be kept or handed to a transport.
   */
  writeTransient(type: number, changes: readonly ChangeMessage[], bytes: number): Buffer {
    return this.#transient(bytes, () => this.#frame(type, changes));
  }

  /** writeLog(), into the scratch buffer as writeTransient(): a repair's chunk, written from its columns. */
  writeLogTransient(
    type: number,
    log: ChangeLog,
    from: number,
    to: number,
    clear: Version | undefined,
    bytes: number,
  ): Buffer {
    return this.#transient(bytes, () => this.#logFrame(type, log, from, to, clear));
  }

  /** A frame `body` writes into the scratch buffer (see writeTransient), given room for about `bytes`. */
  #transient(bytes: number, body: () => void): Buffer {
    const chunk = this.#chunk;
    const position = this.#position;
    const room = bytes + Math.floor(bytes / 16);
    const grown = room > MAX_SCRATCH ? room : Math.min(MAX_SCRATCH, room + Math.floor(room / 8));
    this.#use(scratch.length >= room ? scratch : Buffer.allocUnsafeSlow(grown), 0);
    try {
      body();
      // Also a chunk the frame outgrew its estimate into: the next frame of that size fits.
      if (this.#chunk.length <= MAX_SCRATCH && this.#chunk.length > scratch.length) scratch = this.#chunk;
      return this.#chunk.subarray(0, this.#position);
    } finally {
      this.#use(chunk, position);
    }
  }

  /** A frame `body` writes, given room for about `bytes` (see write). */
  #written(bytes: number, body: () => void): Buffer {
    if (bytes > MAX_KEPT_CHUNK / 2) return this.#writeAlone(bytes, body);
    this.#start = this.#position;
    this.#room(bytes);
    body();
    const frame = this.#chunk.subarray(this.#start, this.#position);
    if (this.#chunk.length <= MAX_HELD_CHUNK) return frame;
    const own = Buffer.allocUnsafeSlow(frame.length);
    frame.copy(own);
    this.#use(Buffer.allocUnsafeSlow(MAX_KEPT_CHUNK), 0);
    return own;
  }

  /**
   * A frame bigger than half a kept chunk (a repair's chunk of megabytes) is written into a buffer
   * of its own, sized from its estimate, and the chunk is taken up again where it was. Grown by
   * doubling in the shared chunk, a frame of 5 MB was copied as it grew (1, 2 and 4 MB) and once
   * more to be handed out: 12 MB copied, to fresh memory each time, for 5 MB written.
   */
  #writeAlone(bytes: number, body: () => void): Buffer {
    const chunk = this.#chunk;
    const position = this.#position;
    this.#use(Buffer.allocUnsafeSlow(bytes + Math.floor(bytes / 16)), 0);
    try {
      body();
      const frame = this.#chunk.subarray(0, this.#position);
      // Its buffer grew past twice the frame (a long string is given room for three bytes a
      // unit): the frame keeps only its own bytes alive, as a copy.
      return this.#chunk.length > 2 * frame.length ? Buffer.from(frame) : frame;
    } finally {
      // Also when a value could not be written: the frame's buffer is never the chunk that later
      // frames are views of.
      this.#use(chunk, position);
    }
  }

  #frame(type: number, changes: readonly ChangeMessage[]): void {
    this.#head(type, changes.length);
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i] as ChangeMessage;
      const { time, counter, node } = change.version;
      if (change.type === MessageType.Put) {
        this.#put(
          change.cache,
          change.key,
          change.value,
          time,
          counter,
          node,
          change.createdAt,
          change.timeToLiveSeconds,
          change.timeToIdleSeconds,
        );
      } else if (change.type === MessageType.RemoveAll) this.#removeAll(change.cache, time, counter, node);
      else this.#keyChange(change.type, change.cache, change.key, time, counter, node);
    }
  }

  #logFrame(type: number, log: ChangeLog, from: number, to: number, clear: Version | undefined): void {
    const cache = log.cache;
    this.#head(type, to - from + (clear === undefined ? 0 : 1));
    if (clear !== undefined) this.#removeAll(cache, clear.time, clear.counter, clear.node);
    const { types, keys, values, nodes, times, counters, lives } = log;
    for (let i = from; i < to; i++) {
      const type = types[i] as number;
      const key = keys[i] as string;
      const time = times[i] as number;
      const counter = counters[i] as number;
      const node = nodes[i] as string;
      if (type === MessageType.Put) {
        const at = 3 * i;
        this.#put(
          cache,
          key,
          values[i],
          time,
          counter,
          node,
          lives[at] as number,
          lives[at + 1] as number,
          lives[at + 2] as number,
        );
      } else this.#keyChange(type, cache, key, time, counter, node);
    }
  }

  /** [type, [ and the header of an array of `count` changes. */
  #head(type: number, count: number): void {
    this.#room(8);
    const chunk = this.#chunk;
    chunk[this.#position++] = 0x92;
    chunk[this.#position++] = type;
    this.#arrayHeader(count);
  }

  #put(
    cache: string,
    key: string,
    value: unknown,
    time: number,
    counter: number,
    node: string,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
  ): void {
    this.#room(4);
    this.#chunk[this.#position++] = 0x9a;
    this.#chunk[this.#position++] = MessageType.Put;
    this.#string(cache);
    this.#string(key);
    this.#value(value);
    this.#version(time, counter, node);
    this.#room(27);
    this.#number(createdAt);
    this.#number(timeToLiveSeconds);
    this.#number(timeToIdleSeconds);
  }

  /** A remove or an expiry. */
  #keyChange(type: number, cache: string, key: string, time: number, counter: number, node: string): void {
    this.#room(4);
    this.#chunk[this.#position++] = 0x96;
    this.#chunk[this.#position++] = type;
    this.#string(cache);
    this.#string(key);
    this.#version(time, counter, node);
  }

  #removeAll(cache: string, time: number, counter: number, node: string): void {
    this.#room(4);
    this.#chunk[this.#position++] = 0x95;
    this.#chunk[this.#position++] = MessageType.RemoveAll;
    this.#string(cache);
    this.#version(time, counter, node);
  }

  #version(time: number, counter: number, node: string): void {
    this.#room(18);
    this.#number(time);
    this.#number(counter);
    this.#string(node);
  }

  #value(value: unknown): void {
    if (typeof value === 'string') {
      this.#string(value);
    } else if (typeof value === 'number') {
      this.#room(9);
      this.#number(value);
    } else if (value === null || typeof value === 'boolean') {
      this.#room(1);
      this.#chunk[this.#position++] = value === null ? 0xc0 : value ? 0xc3 : 0xc2;
    } else if (isPlainBuffer(value)) {
      this.#binary(value);
    } else {
      throw new TypeError('ChangeWriter writes strings, numbers, booleans, null and Buffers (see ChangeWriter.writes)');
    }
  }

  #arrayHeader(length: number): void {
    this.#room(5);
    const chunk = this.#chunk;
    if (length < 0x10) chunk[this.#position++] = 0x90 | length;
    else if (length < 0x10000) {
      chunk[this.#position++] = 0xdc;
      chunk[this.#position++] = length >> 8;
      chunk[this.#position++] = length & 0xff;
    } else {
      chunk[this.#position++] = 0xdd;
      this.#view.setUint32(this.#position, length);
      this.#position += 4;
    }
  }

  /** At most 9 bytes: the caller has made room. */
  #number(value: number): void {
    const chunk = this.#chunk;
    if (value >>> 0 === value) {
      if (value < 0x40) chunk[this.#position++] = value;
      else if (value < 0x100) {
        chunk[this.#position++] = 0xcc;
        chunk[this.#position++] = value;
      } else if (value < 0x10000) {
        chunk[this.#position++] = 0xcd;
        chunk[this.#position++] = value >> 8;
        chunk[this.#position++] = value & 0xff;
      } else {
        chunk[this.#position++] = 0xce;
        this.#view.setUint32(this.#position, value);
        this.#position += 4;
      }
    } else if (value >> 0 === value) {
      if (value >= -0x20) chunk[this.#position++] = 0x100 + value;
      else if (value >= -0x80) {
        chunk[this.#position++] = 0xd0;
        chunk[this.#position++] = value + 0x100;
      } else if (value >= -0x8000) {
        chunk[this.#position++] = 0xd1;
        this.#view.setInt16(this.#position, value);
        this.#position += 2;
      } else {
        chunk[this.#position++] = 0xd2;
        this.#view.setInt32(this.#position, value);
        this.#position += 4;
      }
    } else {
      chunk[this.#position++] = 0xcb;
      this.#view.setFloat64(this.#position, value);
      this.#position += 8;
    }
  }

  /**
   * The header is chosen from the string's length in UTF-16 units, as msgpackr does, and moved
   * when its UTF-8 length needs a bigger one (only for text outside ASCII).
   */
  #string(value: string): void {
    const length = value.length;
    const headerSize = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
    this.#room(headerSize + length * 3);
    const chunk = this.#chunk;
    const at = this.#position;
    let bytes: number;
    if (length < SHORT_STRING) {
      let p = at + headerSize;
      for (let i = 0; i < length; i++) {
        let c = value.charCodeAt(i);
        if (c < 0x80) chunk[p++] = c;
        else if (c < 0x800) {
          chunk[p++] = (c >> 6) | 0xc0;
          chunk[p++] = (c & 0x3f) | 0x80;
        } else if ((c & 0xfc00) === 0xd800 && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c & 0x03ff) << 10) + (value.charCodeAt(++i) & 0x03ff);
          chunk[p++] = (c >> 18) | 0xf0;
          chunk[p++] = ((c >> 12) & 0x3f) | 0x80;
          chunk[p++] = ((c >> 6) & 0x3f) | 0x80;
          chunk[p++] = (c & 0x3f) | 0x80;
        } else {
          // a lone surrogate too, as its three bytes: what msgpackr writes, and reads back as itself
          chunk[p++] = (c >> 12) | 0xe0;
          chunk[p++] = ((c >> 6) & 0x3f) | 0x80;
          chunk[p++] = (c & 0x3f) | 0x80;
        }
      }
      bytes = p - at - headerSize;
    } else {
      bytes = utf8Write(chunk, value, at + headerSize);
    }
    if (bytes < 0x20) {
      chunk[at] = 0xa0 | bytes;
      this.#position = at + 1 + bytes;
      return;
    }
    const needed = bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
    // UTF-8 is never shorter than UTF-16 units, so the header only ever grows
    if (needed > headerSize) chunk.copyWithin(at + needed, at + headerSize, at + headerSize + bytes);
    if (needed === 2) {
      chunk[at] = 0xd9;
      chunk[at + 1] = bytes;
    } else if (needed === 3) {
      chunk[at] = 0xda;
      chunk[at + 1] = bytes >> 8;
      chunk[at + 2] = bytes & 0xff;
    } else {
      chunk[at] = 0xdb;
      this.#view.setUint32(at + 1, bytes);
    }
    this.#position = at + needed + bytes;
  }

  #binary(value: Buffer): void {
    const length = value.length;
    this.#room(length + 5);
    const chunk = this.#chunk;
    if (length < 0x100) {
      chunk[this.#position++] = 0xc4;
      chunk[this.#position++] = length;
    } else if (length < 0x10000) {
      chunk[this.#position++] = 0xc5;
      chunk[this.#position++] = length >> 8;
      chunk[this.#position++] = length & 0xff;
    } else {
      chunk[this.#position++] = 0xc6;
      this.#view.setUint32(this.#position, length);
      this.#position += 4;
    }
    chunk.set(value, this.#position);
    this.#position += length;
  }

  /**
   * Makes room for `bytes` more. A frame outgrowing the chunk moves, with what is written of it,
   * to a new chunk; the old chunk stays with the frames handed out of it. A new chunk is twice
   * what the frame needs so far, or as big as the last one up to MAX_KEPT_CHUNK: frames of a
   * steady size share chunks, and one huge frame does not make every later chunk huge.
   */
  #room(bytes: number): void {
    if (this.#position + bytes <= this.#chunk.length) return;
    const written = this.#position - this.#start;
    const size = Math.max(FIRST_CHUNK, 2 * (written + bytes), Math.min(this.#chunk.length, MAX_KEPT_CHUNK));
    const chunk = Buffer.allocUnsafeSlow(size);
    this.#chunk.copy(chunk, 0, this.#start, this.#position);
    this.#use(chunk, written);
  }

  /** Writes on in `chunk`, whose first `written` bytes are the frame begun. */
  #use(chunk: Buffer<ArrayBuffer>, written: number): void {
    this.#chunk = chunk;
    this.#view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#start = 0;
    this.#position = written;
  }
}
