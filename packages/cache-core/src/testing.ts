/** Helpers for tests of code that embeds meshcache: a clock that moves only when told to. */
export { ManualClock } from './clock.js';
