/**
 * Buffers for sealed frames, used again once the transport has written them.
 *
 * Why. Node's cipher cannot write into a buffer of ours, so sealing a frame allocates twice: the
 * ciphertext Node hands back, and the frame it is copied into with its tag. Each is an ArrayBuffer
 * V8 counts as external memory, and a node sending fast (a bootstrap: 250 MB in a second and a
 * half) churns so much of it that V8 runs full collections of the whole heap to see whether any
 * can be let go (three in a bootstrap of a million entries, where an unencrypted one ran none),
 * and the kernel hands out and zeroes fresh pages for every frame. Sealed into a buffer the
 * transport has finished with, a frame allocates only Node's ciphertext.
 *
 * The model. take(bytes) answers a view of exactly `bytes` on a buffer from the free list (the
 * smallest that fits and is at most an eighth and 64 KiB larger than the frame), or on a new one of
 * an eighth more than `bytes`, rounded up to 64 KiB: so frames of about one size, as a repair's
 * chunks are, reuse each other's, and a frame in flight holds at most an eighth and 64 KiB more
 * than its bytes, the bound on a link's unsent bytes still bounding its memory. (Served from any
 * buffer up to twice its size, a cache's last, small chunk held a full chunk's buffer.)
 * give(frame) puts its buffer back. Frames smaller than MIN_POOLED_BYTES
 * are plain allocations (Node's own pool serves the smallest; for the rest a reuse saves little),
 * and so are frames larger than MAX_POOLED_BYTES.
 *
 * Guaranteed: a buffer is handed out to one frame at a time. give() takes a buffer back only from
 * the frame (the very view take() answered) it is lent to now: a second give of a frame, also one
 * that comes after its buffer went to the next frame, and a frame the pool did not make are
 * ignored, so a transport that reports a write twice cannot make two frames share bytes. (Checked
 * by buffer alone, a late second give took the buffer back from the next frame, still in flight.)
 * The free list holds at most MAX_FREE_BYTES. Not guaranteed: that a frame comes back (a transport
 * that cannot tell when it is done with one never gives it back; the collector then frees it as
 * before).
 */

/** Frames smaller than this are allocated as before. */
export const MIN_POOLED_BYTES = 64 * 1024;
/** Nor are frames larger than this (a repair's chunk is 1 MiB at most by default). */
export const MAX_POOLED_BYTES = 16 * 1024 * 1024;
/** What the free list holds at most, in buffer capacity. */
export const MAX_FREE_BYTES = 32 * 1024 * 1024;

const ROUNDING = 64 * 1024;

export class SealedFramePool {
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;
  /** Buffers handed out and not given back, each with the frame it is lent to. */
  readonly #lent = new WeakMap<ArrayBuffer, Uint8Array>();

  /** A buffer of exactly `bytes`, its contents unspecified. */
  take(bytes: number): Buffer {
    if (bytes < MIN_POOLED_BYTES || bytes > MAX_POOLED_BYTES) return Buffer.allocUnsafe(bytes);
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const capacity = (this.#free[i] as ArrayBuffer).byteLength;
      if (capacity < bytes || capacity > bytes + bytes / 8 + ROUNDING) continue;
      if (best < 0 || capacity < (this.#free[best] as ArrayBuffer).byteLength) best = i;
    }
    let buffer: ArrayBuffer;
    if (best >= 0) {
      buffer = this.#free[best] as ArrayBuffer;
      this.#free[best] = this.#free[this.#free.length - 1] as ArrayBuffer;
      this.#free.pop();
      this.#freeBytes -= buffer.byteLength;
    } else {
      buffer = Buffer.allocUnsafeSlow(Math.ceil((bytes + bytes / 8) / ROUNDING) * ROUNDING).buffer as ArrayBuffer;
    }
    const frame = Buffer.from(buffer, 0, bytes);
    this.#lent.set(buffer, frame);
    return frame;
  }

  /** The transport is done with `frame` (what one take() answered, not a copy or another view of it): its buffer may serve another. */
  give(frame: Uint8Array): void {
    const buffer = frame.buffer as ArrayBuffer;
    if (this.#lent.get(buffer) !== frame) return;
    this.#lent.delete(buffer);
    if (this.#freeBytes + buffer.byteLength > MAX_FREE_BYTES) return;
    this.#free.push(buffer);
    this.#freeBytes += buffer.byteLength;
  }

  /**
   * What gives `frame` back once the transport is done with it (Connection.send's `written`), or
   * undefined for a frame this pool did not lend (a small or huge one, an unencrypted plaintext).
   */
  returnerOf(frame: Uint8Array): (() => void) | undefined {
    if (frame.length < MIN_POOLED_BYTES || this.#lent.get(frame.buffer as ArrayBuffer) !== frame) return undefined;
    return () => this.give(frame);
  }

  /** Bytes the free list holds (tests). */
  get freeBytes(): number {
    return this.#freeBytes;
  }
}
