/**
 * The put values of a received frame, held as the frame's bytes until each is first read (core's
 * deferred-value.ts says why): ChangeReader hands each such value on as a DeferredValue of the
 * frame's FrameValues, and a cache keeps the FrameValues and the value's index.
 *
 * The model. A frame's values share its buffer, so one value held unread keeps the whole buffer
 * alive. To bound what that costs, the frame counts the bytes of its values that caches hold
 * unread ("live"). Once the frame has been handled (`settle`: its changes went to their caches),
 * a value no cache took is done with, and whenever the live bytes are fewer than a quarter of what
 * the frame keeps (its buffer, and 9 bytes of bookkeeping a value: KEPT_TIMES), it is made small:
 * - while many of its values are still held (at least one in FEW_HELD of them), the live ones are
 *   copied into a buffer of their own size (a memcpy of at most a quarter of the frame, never a
 *   decode: what is left stays deferred);
 * - once few are, those are decoded and kept by index until their cache reads or drops them, and
 *   the buffer and the bookkeeping are let go.
 * So frames keep at most about four times the bytes of the values held unread. A frame that
 * leaves fewer than MIN_VALUES values undecoded decodes them at once instead (ChangeReader): a
 * frame's own objects (this one, its typed arrays, its buffer's) cost some hundred bytes, which a
 * value or two would not repay.
 *
 * Guaranteed: a value decodes as UTF-8 by Buffer's decoder, which for the valid UTF-8 every peer's
 * encoder writes is the string msgpackr makes of the same bytes. Invalid UTF-8 (only a broken or
 * hostile peer sends it) decodes with U+FFFD for each bad sequence, where msgpackr might have
 * decoded some differently; it is never refused nor thrown on. Not guaranteed: when the bytes are
 * freed (the collector decides, once nothing refers to them).
 */
import { DeferredValue, DeferredValues } from '@meshcache/core/internal';
import type { Utf8Slicing } from './change-reader.js';

/** Fewer values than this left undecoded in a frame are decoded at once (ChangeReader). */
export const MIN_VALUES = 8;
/**
 * A frame is made small once the values held unread are fewer than a quarter of what it keeps.
 * 4, not 2: a node reading every value of a frame in turn copies a third of the frame's bytes in
 * all, not all of them (the first read of a million values: 530 ms more than reads of values
 * decoded on arrival with 4, 630 ms with 2).
 */
const KEPT_TIMES = 4;
/** Made small while at least one value in this many is held: copied; with fewer, decoded. */
const FEW_HELD = 8;
/** Bookkeeping a value: two offsets and a state. */
const BOOKKEEPING = 9;

/** Made, not taken by a cache (yet: the frame is being handled). */
const FRESH = 0;
/** Held by a cache, unread: its bytes count as live. */
const HELD = 1;
/** Read or released by the cache that held it, or taken by none while its frame was handled: its bytes may go. */
const DONE = 2;

export class FrameValues extends DeferredValues<string> {
  #bytes: Buffer;
  /** Value i's bytes are #bounds[2i] to #bounds[2i + 1] of #bytes (both 0 once done with and copied away). */
  #bounds = new Uint32Array(2 * MIN_VALUES);
  #states = new Uint8Array(MIN_VALUES);
  #count = 0;
  /** Bytes of the values held unread, and how many they are. */
  #live = 0;
  #held = 0;
  #settled = false;
  /** Once few were held: those values, decoded, by index, until their cache reads or drops them. */
  #decoded: Map<number, string> | undefined;

  constructor(bytes: Buffer) {
    super();
    this.#bytes = bytes;
  }

  /** Values made so far. */
  get count(): number {
    return this.#count;
  }

  /** A value of this frame: its string's bytes are `start` to `end`. */
  value(start: number, end: number): DeferredValue<string> {
    const index = this.#count++;
    if (index === this.#states.length) {
      const bounds = new Uint32Array(4 * index);
      bounds.set(this.#bounds);
      this.#bounds = bounds;
      const states = new Uint8Array(2 * index);
      states.set(this.#states);
      this.#states = states;
    }
    this.#bounds[2 * index] = start;
    this.#bounds[2 * index + 1] = end;
    return new DeferredValue(this, index);
  }

  /** The frame has been handled: a value no cache took is done with; what the frame keeps is bounded from now on. */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    for (let i = 0; i < this.#count; i++) if (this.#states[i] === FRESH) this.#states[i] = DONE;
    this.#check();
  }

  override resolve(index: number): string {
    const decoded = this.#decoded;
    if (decoded !== undefined) {
      const text = decoded.get(index);
      if (text === undefined) throw released();
      decoded.delete(index); // the cache that asked keeps it now
      return text;
    }
    // No value deferred is empty (DEFER_FROM): an empty one was copied away, which only a value
    // done with is (released, or taken by no cache), and no cache reads one of those.
    if (this.#length(index) === 0) throw released();
    const text = this.#text(index);
    if (this.#states[index] === HELD) this.#done(index);
    else this.#states[index] = DONE;
    return text;
  }

  /** A string weighs its length plus 5 by maxBytesLocalHeap's estimate; its UTF-8 bytes are never fewer than its length. */
  override estimatedBytes(index: number): number {
    if (this.#decoded !== undefined) return (this.#decoded.get(index)?.length ?? 0) + 5;
    return this.#length(index) + 5;
  }

  override hold(index: number): void {
    // Taken as its frame is handled, or never: a value no cache took by then has been done with.
    if (this.#decoded !== undefined || this.#states[index] !== FRESH) {
      throw new Error('meshcache internal error: a deferred value held twice or too late');
    }
    this.#states[index] = HELD;
    this.#live += this.#length(index);
    this.#held++;
  }

  override release(index: number): void {
    if (this.#decoded !== undefined) this.#decoded.delete(index);
    else if (this.#states[index] === HELD) this.#done(index);
    else this.#states[index] = DONE;
  }

  #done(index: number): void {
    this.#states[index] = DONE;
    this.#live -= this.#length(index);
    this.#held--;
    this.#check();
  }

  #length(index: number): number {
    return (this.#bounds[2 * index + 1] as number) - (this.#bounds[2 * index] as number);
  }

  #text(index: number): string {
    return (this.#bytes as unknown as Utf8Slicing).utf8Slice(
      this.#bounds[2 * index] as number,
      this.#bounds[2 * index + 1] as number,
    );
  }

  /** Past its handling, once the values held unread are fewer than a quarter of what it keeps: made small (see above). */
  #check(): void {
    if (!this.#settled || this.#decoded !== undefined) return;
    if (KEPT_TIMES * this.#live >= this.#bytes.buffer.byteLength + BOOKKEEPING * this.#states.length) return;
    if (this.#held * FEW_HELD < this.#count) {
      const decoded = new Map<number, string>();
      for (let i = 0; i < this.#count; i++) if (this.#states[i] === HELD) decoded.set(i, this.#text(i));
      this.#decoded = decoded;
      this.#bytes = EMPTY;
      this.#bounds = EMPTY_BOUNDS;
      this.#states = EMPTY_STATES;
      return;
    }
    const from = this.#bytes;
    const to = Buffer.allocUnsafeSlow(this.#live);
    let at = 0;
    for (let i = 0; i < this.#count; i++) {
      const start = this.#bounds[2 * i] as number;
      const end = this.#bounds[2 * i + 1] as number;
      if (this.#states[i] === HELD) {
        from.copy(to, at, start, end);
        this.#bounds[2 * i] = at;
        at += end - start;
        this.#bounds[2 * i + 1] = at;
      } else {
        this.#bounds[2 * i] = 0; // copied away: empty
        this.#bounds[2 * i + 1] = 0;
      }
    }
    this.#bytes = to;
  }
}

const released = () => new Error('meshcache internal error: a deferred value read after it was released');
const EMPTY = Buffer.alloc(0);
const EMPTY_BOUNDS = new Uint32Array(0);
const EMPTY_STATES = new Uint8Array(0);
