import { describe, expect, it } from 'vitest';
import {
  MAX_FREE_BYTES,
  MAX_POOLED_BYTES,
  MIN_POOLED_BYTES,
  SealedFramePool,
} from '../src/security/sealed-frame-pool.js';

describe('SealedFramePool', () => {
  it('serves a frame given back to the next of about its size, and never to a frame less than half its buffer', () => {
    const pool = new SealedFramePool();
    const first = pool.take(300_000);
    expect(first.length).toBe(300_000);
    // An eighth more, rounded up to 64 KiB: what a frame in flight holds beyond its bytes.
    const capacity = 6 * 64 * 1024;
    expect(first.buffer.byteLength).toBe(capacity);
    pool.give(first);
    expect(pool.freeBytes).toBe(capacity);
    const second = pool.take(capacity);
    expect(second.buffer).toBe(first.buffer);
    expect(second.length).toBe(capacity);
    pool.give(second);
    expect(pool.take(capacity + 1).buffer).not.toBe(first.buffer);
    expect(pool.take(capacity / 2 - 1).buffer).not.toBe(first.buffer);
    expect(pool.freeBytes).toBe(capacity);
  });

  it('never lends one buffer to two frames: a second give, and a buffer it did not lend, are ignored', () => {
    const pool = new SealedFramePool();
    const frame = pool.take(MIN_POOLED_BYTES);
    pool.give(frame);
    pool.give(frame);
    const foreign = Buffer.allocUnsafeSlow(MIN_POOLED_BYTES);
    pool.give(foreign);
    const [a, b, c] = [pool.take(MIN_POOLED_BYTES), pool.take(MIN_POOLED_BYTES), pool.take(MIN_POOLED_BYTES)];
    expect(a.buffer).toBe(frame.buffer);
    expect(new Set([a.buffer, b.buffer, c.buffer, foreign.buffer]).size).toBe(4);
  });

  it('allocates frames below and above its bounds as before, and keeps at most MAX_FREE_BYTES free', () => {
    const pool = new SealedFramePool();
    const small = pool.take(MIN_POOLED_BYTES - 1);
    const huge = pool.take(MAX_POOLED_BYTES + 1);
    pool.give(small);
    pool.give(huge);
    expect(pool.freeBytes).toBe(0);
    const frames = Array.from({ length: 60 }, () => pool.take(MIN_POOLED_BYTES * 10));
    for (const frame of frames) pool.give(frame);
    const capacity = (frames[0] as Buffer).buffer.byteLength;
    expect(pool.freeBytes).toBe(Math.floor(MAX_FREE_BYTES / capacity) * capacity);
    expect(pool.freeBytes).toBeLessThan(60 * capacity);
  });
});
