/**
 * Helpers for tests of code that embeds meshcache: a clock that moves only when told to, and a
 * scheduler on virtual time (timers, clock and chance) that runs a whole cluster reproducibly, and
 * `until`, a poll with a deadline that fails loudly, for waits where real time must pass.
 */
export { ManualClock } from './clock.js';
export type { UntilOptions } from './until.js';
export { until } from './until.js';
export type { VirtualSchedulerOptions } from './virtual-scheduler.js';
export { VirtualScheduler } from './virtual-scheduler.js';
