/**
 * Polling with a deadline, for tests where real time must pass (real processes, real sockets):
 * the one helper meshcache's own tests use, instead of a sleep and instead of a loop that carries
 * on when its time runs out. Where time can be virtual, advance a ManualClock or a
 * VirtualScheduler instead.
 *
 * It fails loudly: when the deadline passes it throws, naming what was awaited, how long, and
 * what the check returned last. A check that throws stops the wait with that error.
 */

export interface UntilOptions {
  /** How long to wait. @default 5000 */
  readonly timeoutMillis?: number;
  /** Pause between checks; 0 checks again on the next event-loop turn (setImmediate). @default 10 */
  readonly intervalMillis?: number;
}

/** What a check returns while the condition does not hold yet. */
type NotYet = false | undefined | null;

/**
 * Resolves with the first value of `check` that is not false, undefined or null (so a boolean
 * check resolves with true, and a lookup with what it found). Rejects with an Error that names
 * `what` once `timeoutMillis` have passed without one.
 */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  options: UntilOptions | number = {},
): Promise<Exclude<T, NotYet>> {
  const { timeoutMillis = 5000, intervalMillis = 10 } =
    typeof options === 'number' ? { timeoutMillis: options } : options;
  const started = performance.now();
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined && value !== null) return value as Exclude<T, NotYet>;
    const waited = performance.now() - started;
    if (waited > timeoutMillis) {
      throw new Error(
        `timed out after ${Math.round(waited)} ms waiting for ${what} (the check last returned ${String(value)})`,
      );
    }
    await new Promise<void>((resolve) => {
      if (intervalMillis === 0) setImmediate(resolve);
      else setTimeout(resolve, intervalMillis);
    });
  }
}
