import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemScheduler } from '../src/index.js';

/**
 * The system scheduler's interval under fake timers. A task "takes" time by moving the clock the
 * scheduler reads (performance.now) ahead of the fake timers' clock, as a real task moves real
 * time while no timer can fire.
 */
function clockWithSlowTasks() {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
  let spent = 0;
  vi.spyOn(performance, 'now').mockImplementation(() => Date.now() + spent);
  return {
    now: () => performance.now(),
    spend: (millis: number) => {
      spent += millis;
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('systemScheduler.setInterval', () => {
  it('keeps its phase: the n-th run is due n periods after it was set, however long each run took', () => {
    const clock = clockWithSlowTasks();
    const ran: number[] = [];
    const cancel = systemScheduler.setInterval(() => {
      ran.push(clock.now());
      clock.spend(3);
    }, 10);
    vi.advanceTimersByTime(40);
    cancel();
    // Node's own setInterval would have run at 10, 23, 36: each run's 3 ms added to the next wait.
    expect(ran.slice(0, 4)).toEqual([10, 20, 30, 40]);
  });

  it('skips the runs it missed after falling a period behind, rather than running in a burst', () => {
    const clock = clockWithSlowTasks();
    const ran: number[] = [];
    const cancel = systemScheduler.setInterval(() => {
      ran.push(clock.now());
      if (ran.length === 1) clock.spend(25);
    }, 10);
    vi.advanceTimersByTime(40);
    cancel();
    expect(ran.slice(0, 3)).toEqual([10, 45, 55]);
  });

  it('never runs again once cancelled, even from inside its own run', () => {
    clockWithSlowTasks();
    let runs = 0;
    const cancel = systemScheduler.setInterval(() => {
      runs++;
      if (runs === 2) cancel();
    }, 10);
    vi.advanceTimersByTime(100);
    expect(runs).toBe(2);
    cancel(); // again: nothing
  });
});

describe('systemScheduler past the longest timer Node takes', () => {
  it('holds a longer delay to 2^31 - 1 ms instead of letting Node fire it after 1 ms (a sweep "every 60 days")', () => {
    clockWithSlowTasks();
    const sixtyDays = 60 * 24 * 3600 * 1000;
    const timeouts: number[] = [];
    const intervals: number[] = [];
    const cancelTimeout = systemScheduler.setTimeout(() => timeouts.push(Date.now()), sixtyDays);
    const cancelInterval = systemScheduler.setInterval(() => intervals.push(Date.now()), sixtyDays);
    vi.advanceTimersByTime(1000);
    expect([timeouts, intervals]).toEqual([[], []]);
    vi.advanceTimersByTime(2 * 2_147_483_647);
    expect(timeouts).toEqual([2_147_483_647]);
    expect(intervals).toEqual([2_147_483_647, 2 * 2_147_483_647]);
    cancelTimeout();
    cancelInterval();
  });
});
