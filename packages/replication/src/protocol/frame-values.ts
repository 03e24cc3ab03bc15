/**
 * The put values of a received frame, held as the frame's bytes until each is first read (core's
 * deferred-value.ts says why): ChangeReader hands each such value on as a DeferredValue of the
 * frame's FrameValues, and a cache keeps the FrameValues and the value's index.
 *
 * The model. A frame's values share its buffer, so one value held unread keeps the whole buffer
 * alive. To bound what that costs, the frame counts the bytes of its values that caches hold
 * unread ("live"). Once the frame has been handled (`settle`), as soon as its live bytes are fewer
 * than half the buffer, every value of it not yet read nor released is decoded at once and the
 * buffer is let go: so frames kept hold at most about twice the bytes of the values they keep (a
 * frame also carries each value's key and version), and a frame whose values were stale, refused
 * or mostly overwritten is not kept at all. Per value the frame keeps two offsets and a state in
 * typed arrays: no object a value.
 *
 * Guaranteed: a value decodes as UTF-8 by Buffer's decoder, which for the valid UTF-8 every peer's
 * encoder writes is the string msgpackr makes of the same bytes. Invalid UTF-8 (only a broken or
 * hostile peer sends it) decodes with U+FFFD for each bad sequence, where msgpackr might have
 * decoded some differently; it is never refused nor thrown on. Not guaranteed: when the bytes are
 * freed (the collector decides, once nothing refers to them).
 */
import { DeferredValue, DeferredValues } from '@meshcache/core/internal';

/** Buffer's own UTF-8 decoder, without Buffer#toString's argument handling (change-reader.ts uses it too). */
interface Utf8Slicing {
  utf8Slice(start: number, end: number): string;
}

/** Made, not held by a cache (yet: or never, when it was stale or refused). */
const FRESH = 0;
/** Held by a cache, unread: its bytes count as live. */
const HELD = 1;
/** Read by the cache that held it, or released by it: not read again through this frame. */
const DONE = 2;

export class FrameValues extends DeferredValues<string> {
  #bytes: Buffer | undefined;
  /** The bytes a value held unread keeps alive: the whole buffer the frame is a view of. */
  readonly #kept: number;
  /** Value i's bytes are #bounds[2i] to #bounds[2i + 1] of the frame. */
  #bounds: Uint32Array;
  #states: Uint8Array;
  #count = 0;
  /** Once the buffer is let go: the values that were neither read nor released, decoded. */
  #decoded: Array<string | undefined> | undefined;
  #live = 0;
  #settled = false;

  /** @param most the most values the frame can carry (its change count) */
  constructor(bytes: Buffer, most: number) {
    super();
    this.#bytes = bytes;
    this.#kept = bytes.buffer.byteLength;
    this.#bounds = new Uint32Array(2 * most);
    this.#states = new Uint8Array(most);
  }

  /** A value of this frame: its string's bytes are `start` to `end`. */
  value(start: number, end: number): DeferredValue<string> {
    const index = this.#count++;
    this.#bounds[2 * index] = start;
    this.#bounds[2 * index + 1] = end;
    return new DeferredValue(this, index);
  }

  /** The frame has been handled: from now on, its values are decoded once too few are held unread. */
  settle(): void {
    this.#settled = true;
    this.#check();
  }

  override resolve(index: number): string {
    // Once decoded, the string stays here too until the frame goes: the same string, no more memory.
    const decoded = this.#decoded;
    if (decoded !== undefined) return decoded[index] ?? '';
    const text = this.#text(index);
    if (this.#states[index] === HELD) this.#done(index);
    else this.#states[index] = DONE;
    return text;
  }

  /** A string weighs its length plus 5 by maxBytesLocalHeap's estimate; its UTF-8 bytes are never fewer than its length. */
  override estimatedBytes(index: number): number {
    return this.#length(index) + 5;
  }

  override hold(index: number): void {
    if (this.#decoded !== undefined || this.#states[index] !== FRESH) return;
    this.#states[index] = HELD;
    this.#live += this.#length(index);
  }

  override release(index: number): void {
    const decoded = this.#decoded;
    if (decoded !== undefined) decoded[index] = undefined;
    else if (this.#states[index] === HELD) this.#done(index);
    else this.#states[index] = DONE;
  }

  #done(index: number): void {
    this.#states[index] = DONE;
    this.#live -= this.#length(index);
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

  #check(): void {
    if (!this.#settled || this.#decoded !== undefined || 2 * this.#live >= this.#kept) return;
    // A value not read nor released is decoded now: held, or on its way to a cache that settled
    // first (a message that waited for its handler), or stale and left unreleased (decoded for nothing).
    const decoded = new Array<string | undefined>(this.#count);
    for (let i = 0; i < this.#count; i++) if (this.#states[i] !== DONE) decoded[i] = this.#text(i);
    this.#decoded = decoded;
    this.#bytes = undefined;
    this.#bounds = EMPTY_BOUNDS;
    this.#states = EMPTY_STATES;
  }
}

const EMPTY_BOUNDS = new Uint32Array(0);
const EMPTY_STATES = new Uint8Array(0);
