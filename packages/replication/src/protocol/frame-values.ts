/**
 * The put values of a received frame, held as the frame's bytes until each is first read (core's
 * deferred-value.ts says why): ChangeReader hands each such value on as a DeferredValue of the
 * frame's FrameValues, and a cache keeps the FrameValues and the value's index.
 *
 * The model. A frame's values share its buffer, so one value held unread keeps the whole buffer
 * alive. To bound what that costs, the frame counts the bytes of its values that caches hold
 * unread ("live"). Once the frame has been handled (`settle`: its changes went to their caches),
 * a value no cache took is done with, and whenever the live bytes are fewer than a quarter of the
 * buffer (KEPT_TIMES), the live values are copied into a buffer of their own size and the old one
 * is let go: frames keep at most four times the bytes of the values held unread, and a frame whose
 * values were stale, refused or mostly overwritten keeps only what is still held. The copy is of
 * bytes (memcpy), never a decode: what is left stays deferred, and a read that triggers it pays a
 * copy of at most a quarter of a frame (4 MiB at most), not the decoding of it. Per value the frame keeps two offsets and a state
 * in typed arrays: no object a value.
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

/** Made, not taken by a cache (yet: the frame is being handled). */
/**
 * A frame's bytes are kept while the values held unread are at least this fraction of them; past
 * it, those are copied into a buffer of their own. 4, not 2: a node reading every value of a
 * frame in turn copies a third of the frame's bytes in all, not all of them (the first read of a
 * million values: 530 ms more than reads of values decoded on arrival with 4, 630 ms with 2).
 */
const KEPT_TIMES = 4;
const FRESH = 0;
/** Held by a cache, unread: its bytes count as live. */
const HELD = 1;
/** Read or released by the cache that held it, or taken by none while its frame was handled: its bytes may go. */
const DONE = 2;

export class FrameValues extends DeferredValues<string> {
  #bytes: Buffer;
  /** Value i's bytes are #bounds[2i] to #bounds[2i + 1] of #bytes (both 0 once done with and copied away). */
  readonly #bounds: Uint32Array;
  readonly #states: Uint8Array;
  #count = 0;
  #live = 0;
  #settled = false;

  /** @param most the most values the frame can carry (its change count) */
  constructor(bytes: Buffer, most: number) {
    super();
    this.#bytes = bytes;
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

  /** The frame has been handled: a value no cache took is done with; the bytes kept are bounded from now on. */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    for (let i = 0; i < this.#count; i++) if (this.#states[i] === FRESH) this.#states[i] = DONE;
    this.#check();
  }

  override resolve(index: number): string {
    const start = this.#bounds[2 * index] as number;
    const end = this.#bounds[2 * index + 1] as number;
    // No value deferred is empty (DEFER_FROM): an empty one was copied away, which only a value
    // done with is (released, or taken by no cache), and no cache reads one of those. Said loudly
    // rather than answered with something else.
    if (start === end) throw new Error('meshcache internal error: a deferred value read after it was released');
    const text = (this.#bytes as unknown as Utf8Slicing).utf8Slice(start, end);
    if (this.#states[index] === HELD) this.#done(index);
    else this.#states[index] = DONE;
    return text;
  }

  /** A string weighs its length plus 5 by maxBytesLocalHeap's estimate; its UTF-8 bytes are never fewer than its length. */
  override estimatedBytes(index: number): number {
    return this.#length(index) + 5;
  }

  override hold(index: number): void {
    // Taken as its frame is handled, or never: a value no cache took by then has been done with.
    if (this.#states[index] !== FRESH)
      throw new Error('meshcache internal error: a deferred value held twice or too late');
    this.#states[index] = HELD;
    this.#live += this.#length(index);
  }

  override release(index: number): void {
    if (this.#states[index] === HELD) this.#done(index);
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

  /** Past its handling, whenever fewer than a quarter of the bytes kept are live: the live ones copied into a buffer of their own. */
  #check(): void {
    if (!this.#settled || KEPT_TIMES * this.#live >= this.#bytes.buffer.byteLength) return;
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
