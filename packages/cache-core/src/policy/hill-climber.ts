/**
 * Sizes W-TinyLFU's admission window by climbing the hit-ratio curve, one step per sample period
 * (the adaptive W-TinyLFU of Einziger, Eytan, Friedman, Manes, "Adaptive Software Cache
 * Management", Middleware 2018).
 *
 * Model. A large window favours recency (bursts, keys re-read soon after they first appear), a
 * small one favours frequency (a stable popular set); which one a workload wants is not known in
 * advance and changes. Over each sample period the policy counts, for each side of the boundary,
 * the hits it had and the hits it would have had with a little more room: a miss on a key that
 * recently left through that side (its ghost, recent-keys.ts). Which way is uphill is read from
 * that one sample: if a slot of the window earned more than a slot of the main space, room is
 * worth more in the window and it grows; otherwise it shrinks. The step is proportional to the
 * log of the ratio of the two densities (at most 30% of the capacity): large while the two sides
 * are far from balanced, small near the balance, where the window settles.
 *
 * Why this and not Caffeine's rules, measured on the traces of bench/README.md:
 * - Caffeine's library has one climber for every size (BoundedLocalCache.climb): it compares each
 *   sample's hit rate with the previous one, keeps going while it improves, restarts at a change
 *   of 5%, steps 6.25% of the capacity and decays the step by 0.98. On real traces the hit rate
 *   swings from sample to sample by more than the window's effect, so it chases noise: it lost to
 *   LRU by up to 3.8 points (orm-busy, 1,000 entries). Both densities come from the same sample,
 *   so the workload's swings cancel in their ratio. (Caffeine's simulator tries other climbers;
 *   an earlier version of this comment credited its library with a density climber for large
 *   caches, which it does not have: found by a review.)
 * - Density alone is blind where a side earns nothing: with a small window, keys that come back
 *   only after a few hundred other requests are never hit in the window, so the window looks
 *   worthless and stays small, and W-TinyLFU hits 7% where LRU hits 75% (the sliding trace).
 *   Counting the ghosts' hits sees exactly what a larger side would have caught, with nothing
 *   to probe.
 *
 * Bounds. The window never shrinks below 2% of the capacity (at least one entry), so that new
 * keys always get a chance to prove themselves, and may grow to all but one entry, at which
 * point the policy is LRU: where frequency is a bad predictor it then costs next to nothing
 * against LRU. (Caffeine's window stops near 80%.)
 *
 * Guarantees. Pure arithmetic on counts: deterministic, no clock, no allocation. The climber says
 * where the window's maximum should go; the policy moves entries (possibly fewer, and says so).
 */

/** Gain: the step, as a share of the capacity, per unit of log density ratio. */
const GAIN = 0.03;
/** The largest step, as a share of the capacity. */
const MAX_STEP_SHARE = 0.3;
/** The smallest window, as a share of the capacity. */
const MIN_WINDOW_SHARE = 0.02;
/** Added to both hit counts: a region that earned nothing in a sample still has a finite density. */
const PRIOR_HITS = 0.5;
/** Requests per sample, per cache entry (at least 256 entries' worth, as the sketch's period). */
const SAMPLE_PER_ENTRY = 5;
const MIN_ENTRIES = 256;

export class HillClimber {
  readonly #capacity: number;
  readonly minimumWindow: number;
  readonly maximumWindow: number;
  /** Requests (hits and misses) per sample period. */
  readonly samplePeriod: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.minimumWindow = Math.max(1, Math.floor(MIN_WINDOW_SHARE * capacity));
    this.maximumWindow = Math.max(this.minimumWindow, capacity - 1);
    this.samplePeriod = SAMPLE_PER_ENTRY * Math.max(capacity, MIN_ENTRIES);
  }

  /**
   * Ends a sample: the window (at most `windowMaximum` entries) earned `windowValue` hits, its own
   * and its ghost's; the main space (the rest) `mainValue`. Returns the window's next maximum.
   */
  adapt(windowValue: number, mainValue: number, windowMaximum: number): number {
    const capacity = this.#capacity;
    const windowDensity = (windowValue + PRIOR_HITS) / Math.max(1, windowMaximum);
    const mainDensity = (mainValue + PRIOR_HITS) / Math.max(1, capacity - windowMaximum);
    const error = Math.log(windowDensity / mainDensity);
    let size = Math.round(Math.min(MAX_STEP_SHARE * capacity, Math.abs(error) * GAIN * capacity));
    // A small cache's steps round to nothing: when one side earns twice as much a slot, move one.
    if (size === 0 && Math.abs(error) >= Math.LN2) size = 1;
    const next = windowMaximum + Math.sign(error) * size;
    return Math.min(this.maximumWindow, Math.max(this.minimumWindow, next));
  }
}
