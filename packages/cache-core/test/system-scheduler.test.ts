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
  it('waits a longer delay out in steps and runs it at its time, where Node fired it after 1 ms (a sweep "every 60 days")', () => {
    clockWithSlowTasks();
    const day = 24 * 3600 * 1000;
    const timeouts: number[] = [];
    const intervals: number[] = [];
    const cancelTimeout = systemScheduler.setTimeout(() => timeouts.push(Date.now()), 60 * day);
    const cancelInterval = systemScheduler.setInterval(() => intervals.push(Date.now()), 60 * day);
    vi.advanceTimersByTime(59 * day);
    expect([timeouts, intervals]).toEqual([[], []]);
    vi.advanceTimersByTime(61 * day);
    expect(timeouts).toEqual([60 * day]);
    expect(intervals).toEqual([60 * day, 120 * day]);
    cancelTimeout();
    cancelInterval();
  });

  it('cancels a long delay during any of its steps', () => {
    clockWithSlowTasks();
    const ran: number[] = [];
    const cancel = systemScheduler.setTimeout(() => ran.push(Date.now()), 3 * 2_147_483_647);
    vi.advanceTimersByTime(2_147_483_647 + 1000);
    cancel();
    vi.advanceTimersByTime(3 * 2_147_483_647);
    expect(ran).toEqual([]);
  });
});

describe('systemScheduler against early timers', () => {
  it("never runs a timeout before its time, nor an interval's run more than a millisecond before it, though Node's timers wake early (whole milliseconds of a loop clock)", () => {
    // Node's timer wakes by the fake clock; the scheduler's time runs 10% slower, as the precise
    // clock does against a loop clock that reads ahead of it: every wake comes early.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    vi.spyOn(performance, 'now').mockImplementation(() => Date.now() * 0.9);
    const timeouts: number[] = [];
    const intervals: number[] = [];
    systemScheduler.setTimeout(() => timeouts.push(performance.now()), 10.5);
    const cancel = systemScheduler.setInterval(() => intervals.push(performance.now()), 10);
    vi.advanceTimersByTime(100);
    cancel();
    expect(timeouts).toHaveLength(1);
    expect(timeouts[0]).toBeGreaterThanOrEqual(10.5);
    expect(intervals.length).toBeGreaterThanOrEqual(7);
    for (const [i, at] of intervals.entries()) expect(at).toBeGreaterThanOrEqual(10 * (i + 1) - 1);
  });

  it('runs an interval within a millisecond of its due time, early or late, where waiting out each fraction made it late as a rule', () => {
    // The precise clock runs 3% slower than the loop clock Node's timers wake by, so each wake
    // comes a growing fraction of a millisecond early; waiting that fraction out cost a whole
    // further millisecond of Node's timers every time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
    vi.spyOn(performance, 'now').mockImplementation(() => Date.now() * 0.97);
    const offsets: number[] = [];
    const cancel = systemScheduler.setInterval(() => offsets.push(performance.now() - 10 * (offsets.length + 1)), 10);
    vi.advanceTimersByTime(200);
    cancel();
    expect(offsets.length).toBeGreaterThanOrEqual(18);
    for (const offset of offsets) expect(Math.abs(offset)).toBeLessThanOrEqual(1);
    const mean = offsets.reduce((sum, offset) => sum + offset, 0) / offsets.length;
    expect(mean).toBeLessThan(0.25);
  });
});
