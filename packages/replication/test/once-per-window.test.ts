/** The log limiter (packages/replication/src/once-per-window.ts): yes a few times a window, then no until the next. */
import { ManualClock } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { OncePerWindow } from '../src/once-per-window.js';

describe('OncePerWindow', () => {
  it('says yes once a window per thing by default, and again once the window is over', () => {
    const clock = new ManualClock();
    const limiter = new OncePerWindow(clock.now, 60_000);
    expect([limiter.first('a'), limiter.first('a'), limiter.first('b')]).toEqual([true, false, true]);
    clock.advance(59_999);
    expect(limiter.first('a')).toBe(false);
    clock.advance(1);
    expect(limiter.first('a')).toBe(true);
  });

  it('says yes the first `times` times a window when asked to, each thing on its own', () => {
    const clock = new ManualClock();
    const limiter = new OncePerWindow(clock.now, 60_000, 1024, 3);
    const answers = Array.from({ length: 5 }, () => limiter.first('host'));
    expect(answers).toEqual([true, true, true, false, false]);
    expect(limiter.first('other')).toBe(true);
    clock.advance(60_000);
    expect(Array.from({ length: 4 }, () => limiter.first('host'))).toEqual([true, true, true, false]);
  });

  it('forgets everything at once past its capacity: a flood of distinct things costs lines, never memory', () => {
    const clock = new ManualClock();
    const limiter = new OncePerWindow(clock.now, 60_000, 2);
    expect([limiter.first('a'), limiter.first('b'), limiter.first('c')]).toEqual([true, true, true]);
    expect(limiter.first('a')).toBe(true); // forgotten with b when c came
    expect(limiter.first('c')).toBe(false);
  });
});
