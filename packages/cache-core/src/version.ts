/**
 * A version orders two writes of the same key across the cluster. Replication stamps versions
 * from a hybrid logical clock (physical time, a counter for writes within the same millisecond,
 * and the node id as the final tie-break), which gives a total order: every node that compares
 * the same two versions reaches the same answer, so peers converge on the same value.
 *
 * The core does not make versions; it stores them, carries them on events, and refuses a remote
 * change that is not newer than what it holds. A cache with no version source (no replication)
 * leaves local entries unversioned, and an unversioned entry is older than any versioned change.
 */
export interface Version {
  /** Physical part: epoch milliseconds of the hybrid logical clock. */
  readonly time: number;
  /** Logical part: orders writes stamped within the same millisecond. */
  readonly counter: number;
  /** The node that made the write; breaks the last tie so the order is total. */
  readonly node: string;
}

/** Negative when a is older, positive when a is newer, 0 for the same write. `undefined` is the oldest. */
export function compareVersions(a: Version | undefined, b: Version | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

/** True when `candidate` is strictly newer than `held`. */
export function isNewer(candidate: Version, held: Version | undefined): boolean {
  return compareVersions(candidate, held) > 0;
}

/**
 * How far apart two nodes' clocks may be: replication refuses a change stamped further ahead than
 * this (its drift bound: replication's hlc.ts takes it from here). The cache reads a
 * peer's times against it: a put past its idle time by less than this may only have been read by
 * a clock behind this one (engine.ts, applyPut), and a removal that arrives more than this after
 * it was made was taught late (tombstones.ts).
 */
export const CLOCKS_APART_MILLIS = 60_000;
