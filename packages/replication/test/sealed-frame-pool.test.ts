import { describe, expect, it } from 'vitest';
import {
  MAX_FREE_BYTES,
  MAX_POOLED_BYTES,
  MIN_POOLED_BYTES,
  SealedFramePool,
} from '../src/security/sealed-frame-pool.js';

describe('SealedFramePool', () => {
  it('serves a frame given back to the next of about its size, and never to a frame much smaller than its buffer', () => {
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

  it('takes back a buffer only from the frame it is lent to: a late second give of a frame whose buffer serves another since is ignored', () => {
    const pool = new SealedFramePool();
    const first = pool.take(300_000);
    pool.give(first);
    const second = pool.take(300_000);
    expect(second.buffer === first.buffer).toBe(true);
    // The first frame said written again (a transport that reports twice): the buffer is the
    // second frame's now, still in flight, and must not go to a third.
    pool.give(first);
    expect(pool.freeBytes).toBe(0);
    const third = pool.take(300_000);
    expect(third.buffer === second.buffer).toBe(false);
    pool.give(second);
    expect(pool.freeBytes).toBe(second.buffer.byteLength);
  });

  it('never serves a frame from a buffer more than an eighth and 64 KiB larger than it (what the docs promise a frame in flight holds)', () => {
    const pool = new SealedFramePool();
    const chunk = pool.take(5_000_000);
    pool.give(chunk);
    // A smaller frame (a cache's last chunk) would hold 2.6 MB it does not need for as long as
    // its link does not read it; it gets a buffer of its own.
    const last = pool.take(3_000_000);
    expect(last.buffer === chunk.buffer).toBe(false);
    expect(last.buffer.byteLength - last.length).toBeLessThanOrEqual(last.length / 8 + 64 * 1024);
    // One a little smaller than the chunk is served from its buffer.
    const next = pool.take(4_990_000);
    expect(next.buffer === chunk.buffer).toBe(true);
    expect(next.buffer.byteLength - next.length).toBeLessThanOrEqual(next.length / 8 + 64 * 1024);
  });

  it('answers a returner only for a frame it lent, which gives that frame back', () => {
    const pool = new SealedFramePool();
    expect(pool.returnerOf(pool.take(MIN_POOLED_BYTES - 1))).toBeUndefined();
    expect(pool.returnerOf(Buffer.allocUnsafeSlow(MIN_POOLED_BYTES))).toBeUndefined();
    const frame = pool.take(MIN_POOLED_BYTES);
    expect(pool.returnerOf(frame.subarray(0))).toBeUndefined();
    pool.returnerOf(frame)?.();
    expect(pool.freeBytes).toBe(frame.buffer.byteLength);
    expect(pool.returnerOf(frame)).toBeUndefined();
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
