/**
 * Time, timers and chance, injected. Everything in meshcache that waits (a replication interval,
 * a heartbeat window, a redial backoff, a lease, a sweep, a repair that yields between slices)
 * asks a Scheduler, never the global timers, and everything that draws a random number (backoff
 * jitter) asks it too. In service that is the system scheduler below; a test or the cluster
 * simulator hands in a VirtualScheduler (`@meshcache/core/testing`), under which a whole cluster
 * runs in one process on virtual time, and replays the same way from the same seed.
 *
 * Promised by every scheduler: `now()` never goes backwards while nothing sets it; a timeout runs
 * at or after its time, never before; timeouts due at the same time run in the order they were
 * set, and so do intervals' runs (an interval's run may come before a timeout due with it);
 * timers never keep a process alive (they are unref'd); a cancelled timer never runs; an interval
 * keeps its phase (its n-th run is due n periods after it was set, however long each run took),
 * and one that fell more than a period behind skips what it missed rather than running in a burst.
 * An interval's run comes at its due time or within a millisecond either side of it (the system
 * scheduler's: see systemScheduler.setInterval; the virtual one's come exactly on time).
 */
import { systemClock } from './clock.js';

/** Stops a timer; calling it again, or after the timer ran, does nothing. */
export type Cancel = () => void;

export interface Scheduler {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `task` once, after `millis`. */
  setTimeout(task: () => void, millis: number): Cancel;
  /** Runs `task` every `millis`, until cancelled. */
  setInterval(task: () => void, millis: number): Cancel;
  /** Resolves on a later turn of the event loop, after pending I/O (setImmediate). */
  nextTurn(): Promise<void>;
  /** A number in [0, 1): jitter and random choices. */
  random(): number;
}

/**
 * The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days). A longer one fired after
 * 1 ms with a TimeoutOverflowWarning: a sweep "every 60 days" ran every millisecond. Longer
 * delays here are waited out in steps of at most this, so they run at their time, not before.
 */
export const MAX_TIMER_MILLIS = 2_147_483_647;

/**
 * A Node timer, unref'd, that runs `task` at `due` (performance.now's time) or after it, never
 * before (unless given `early`, below), however far off `due` is. `timer.current` is the Node
 * timer being waited, for the caller to clear.
 *
 * Node counts a timer's delay in whole milliseconds (a fraction is cut off) from a loop clock that
 * is itself read in whole milliseconds, so its timers run up to a millisecond early, and up to two
 * for a delay with a fraction: the replication interval, re-armed for what is left of its period,
 * ran 0.6 ms early as a rule and 1.3 ms at worst (a 1 ms loop beside it, /tmp script). So the
 * delay is rounded up, and a timer that still wakes before its time waits again for the rest;
 * past MAX_TIMER_MILLIS it waits in steps the same way. Given `early`, it runs on a wake at most
 * that many milliseconds before `due`, and the delay is rounded down (INTERVAL_EARLY_MILLIS).
 */
function unrefTimerAt(task: () => void, due: number, timer: { current?: NodeJS.Timeout }, early = 0): void {
  const round = early > 0 ? Math.floor : Math.ceil;
  const wait = (left: number) => {
    timer.current = setTimeout(
      () => {
        const rest = due - performance.now();
        if (rest > early) wait(rest);
        else task();
      },
      round(Math.min(left, MAX_TIMER_MILLIS)),
    );
    timer.current.unref();
  };
  wait(due - performance.now());
}

/**
 * How early an interval's run may come. Waiting out a wake's last fraction of a millisecond costs
 * a whole further millisecond of Node's timers (or a core spinning on setImmediate): a 10 ms
 * replication interval, kept to "never before", ran 0.6 to 0.9 ms late as a rule and 1.4 to 3 at
 * its 99th percentile, and every change waited that much longer for its batch. Armed for the whole
 * milliseconds left, and run when it wakes less than this early, a run lands within about a
 * millisecond of its time either side, 0.3 ms early as a rule (/tmp script, a 1 ms loop beside
 * it). The phase is kept from the due times, not the runs, so the period is exact on average.
 */
const INTERVAL_EARLY_MILLIS = 1;

/** The real one: Node's timers (unref'd, any delay), the system clock, Math.random. */
export const systemScheduler: Scheduler = Object.freeze({
  now: systemClock,
  setTimeout(task: () => void, millis: number): Cancel {
    const timer: { current?: NodeJS.Timeout } = {};
    unrefTimerAt(task, performance.now() + millis, timer);
    return () => clearTimeout(timer.current);
  },
  setInterval(task: () => void, millis: number): Cancel {
    // Node's own setInterval sets each next run from when the last one ended, so every run's
    // duration and lateness add up: a 10 ms replication interval ran every 11-12 ms under load,
    // and a change could wait that long for its batch. Due times here are counted from the
    // start, as the VirtualScheduler counts them.
    let due = performance.now() + millis;
    let cancelled = false;
    const timer: { current?: NodeJS.Timeout } = {};
    const run = () => {
      if (cancelled) return;
      try {
        task();
      } finally {
        if (!cancelled) {
          const now = performance.now();
          due += millis;
          if (due <= now) due = now + millis;
          unrefTimerAt(run, due, timer, INTERVAL_EARLY_MILLIS);
        }
      }
    };
    unrefTimerAt(run, due, timer, INTERVAL_EARLY_MILLIS);
    return () => {
      cancelled = true;
      clearTimeout(timer.current);
    };
  },
  nextTurn: () => new Promise<void>((resolve) => setImmediate(resolve)),
  random: Math.random,
});
