/**
 * Time is injected. Every expiry decision reads the manager's clock, never Date.now directly,
 * so tests advance time instead of sleeping and a replicated entry's createdAt means the same
 * thing on every node.
 */

/** Epoch milliseconds. */
export type Clock = () => number;

/**
 * The default clock: Date.now, read at most once per millisecond. Every read of Date.now returns
 * a freshly allocated heap number, which made each cache hit allocate; a clock that hands back the
 * same number until a 1 ms timer clears it makes a hit allocation-free (lru-cache does the same
 * with its ttlResolution). The cost: within one synchronous run of JavaScript longer than 1 ms,
 * time stands still until the event loop turns, so an expiry can be found that much late.
 *
 * When something has replaced Date or Date.now (fake timers in a test, say), the clock reads
 * Date.now on every call instead, so `setSystemTime` and friends are seen at once.
 */
const RealDate = Date;
const realDateNow = Date.now;
let cachedNow: number | undefined;

function forgetNow(): void {
  cachedNow = undefined;
}

export const systemClock: Clock = () => {
  if (globalThis.Date !== RealDate || RealDate.now !== realDateNow) return globalThis.Date.now();
  if (cachedNow === undefined) {
    cachedNow = realDateNow();
    setTimeout(forgetNow, 1).unref();
  }
  return cachedNow;
};

/**
 * A clock that only moves when told to. For tests and simulations.
 */
export class ManualClock {
  #now: number;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  /** The clock function to hand to a CacheManager. Bound, so it can be passed around. */
  readonly now: Clock = () => this.#now;

  advance(milliseconds: number): number {
    if (!(milliseconds >= 0))
      throw new RangeError(`ManualClock.advance: milliseconds must be >= 0, got ${milliseconds}`);
    this.#now += milliseconds;
    return this.#now;
  }

  advanceSeconds(seconds: number): number {
    return this.advance(seconds * 1000);
  }

  set(epochMillis: number): void {
    this.#now = epochMillis;
  }
}
