/**
 * A hybrid logical clock (Kulkarni et al., 2014): versions that follow physical time closely and
 * still order every event causally, so "newer" means the same thing on every node.
 *
 * A version is (time, counter, node). `now()` stamps a local write: the time is the larger of the
 * wall clock and the last time seen; the counter orders writes within the same millisecond. When
 * a version arrives from a peer, `receive()` moves the clock past it, so anything this node writes
 * afterwards is newer than what it has seen: a write that follows a read of a peer's value always
 * wins over that value, even if this node's wall clock is behind.
 *
 * The counter stays below 2^32 (the wire refuses more): when it would reach it, the clock moves
 * its time on by a millisecond instead, as if that much time had passed.
 *
 * Guarantee: versions from one clock strictly increase. Not guaranteed: that they match wall
 * time; a peer whose clock runs ahead drags everyone ahead with it, which is why receive()
 * refuses versions more than maxDriftMillis in the future (the peer's clock is wrong, and
 * adopting its time would make this node's later writes lose to nothing but a bad clock).
 * The bound is checked against the last reading of the wall clock, which receive() takes again
 * only when a version would pass it: a wall clock stepped back (NTP) keeps accepting, for the
 * length of the step, what it accepted before.
 */
import type { Clock, Version } from '@meshcache/core';
import { MeshcacheError, systemClock } from '@meshcache/core';
import { CLOCKS_APART_MILLIS } from '@meshcache/core/internal';

/**
 * How far ahead of this node's clock a peer's version may be (a cluster node's, always: no option
 * sets another). The cache's own reading of peers' times (idle times, late tombstones) assumes the
 * same bound, so it is core's constant.
 */
export const DEFAULT_MAX_DRIFT_MILLIS = CLOCKS_APART_MILLIS;

/** The largest counter a version carries (2^32 - 1). */
export const MAX_COUNTER = 2 ** 32 - 1;

export interface HybridLogicalClockOptions {
  /** This node's id: the last tie-break between versions. */
  readonly node: string;
  /**
   * Epoch milliseconds. @default for versions, core's systemClock: Date.now read at most once a
   * millisecond, as the caches read it (a read of Date.now each local write cost about 0.05 µs of
   * a replicated put, and a version needs no finer time: the counter orders what shares a
   * millisecond); for wallClock(), Date.now.
   */
  readonly clock?: Clock;
  /** How far ahead of this node's wall clock a peer's version may be. @default 60000 */
  readonly maxDriftMillis?: number;
}

export class HybridLogicalClock {
  readonly node: string;
  readonly #clock: Clock;
  /** The wall clock read afresh (Date.now by default): lag and clock samples want the time now. */
  readonly #wallClock: Clock;
  readonly #maxDriftMillis: number;
  #time = 0;
  #counter = 0;
  /** The wall clock's last reading (receive() reads it only when it must). */
  #wall = Number.NEGATIVE_INFINITY;

  constructor(options: HybridLogicalClockOptions) {
    if (typeof options.node !== 'string' || options.node === '') {
      throw new MeshcacheError('E_CONFIG', 'HybridLogicalClock: node must be a non-empty string');
    }
    this.node = options.node;
    this.#clock = options.clock ?? systemClock;
    this.#wallClock = options.clock ?? Date.now;
    this.#maxDriftMillis = options.maxDriftMillis ?? DEFAULT_MAX_DRIFT_MILLIS;
  }

  /** How far ahead of the wall clock (and, for leases, behind it) a peer's time may be. */
  get maxDriftMillis(): number {
    return this.#maxDriftMillis;
  }

  /**
   * This clock's time (epoch ms) without making a version: the later of the wall clock and the
   * newest version it has made or received. Versions of nodes whose clocks run ahead (within the
   * drift bound) are not in this clock's future.
   */
  time(): number {
    return Math.max(Math.floor(this.#clock()), this.#time);
  }

  /** The wall clock this HLC follows (epoch ms): what replication lag is measured against. */
  wallClock(): number {
    return this.#wallClock();
  }

  /**
   * A new version for a local write, newer than every version this clock has made or received,
   * and than `after` when given: the version the cache holds for the key, which this clock may
   * never have seen (its disk kept it across a restart, and the wall clock was stepped back
   * since). No drift bound applies: what a cache holds is this node's own writes, or peers'
   * changes that passed receive()'s bound when they came.
   */
  now(after?: Version): Version {
    if (after !== undefined) this.#adopt(after);
    // Whole milliseconds, whatever the clock gives (a version's time is an integer on the wire).
    const wall = Math.floor(this.#clock());
    if (wall > this.#time) {
      this.#time = wall;
      this.#counter = 0;
    } else if (this.#counter >= MAX_COUNTER) {
      this.#time++;
      this.#counter = 0;
    } else {
      this.#counter++;
    }
    return { time: this.#time, counter: this.#counter, node: this.node };
  }

  /**
   * Takes note of a peer's version, so later local versions are newer.
   * @throws MeshcacheError E_CLOCK_DRIFT when the version is too far ahead of this node's clock.
   */
  receive(remote: Version): void {
    if (!Number.isSafeInteger(remote.time) || !Number.isInteger(remote.counter) || remote.counter > MAX_COUNTER) {
      throw new MeshcacheError(
        'E_PROTOCOL',
        `version from node "${remote.node}" is not a version (whole time, counter below 2^32)`,
      );
    }
    // The clock is read only when the last reading would refuse the version: wall time does not
    // go back, so a version within the bound of an earlier reading is within it now. (A batch of
    // a thousand changes then reads the clock once, not a thousand times.)
    if (remote.time > this.#wall + this.#maxDriftMillis) this.#wall = this.#clock();
    const wall = this.#wall;
    if (remote.time > wall + this.#maxDriftMillis) {
      throw new MeshcacheError(
        'E_CLOCK_DRIFT',
        `version from node "${remote.node}" is ${remote.time - wall} ms ahead of this node's clock (at most ${this.#maxDriftMillis} ms is accepted)`,
      );
    }
    this.#adopt(remote);
  }

  /** Moves this clock to `seen` where `seen` is newer than the clock. */
  #adopt(seen: Version): void {
    if (seen.time > this.#time) {
      this.#time = seen.time;
      this.#counter = seen.counter;
    } else if (seen.time === this.#time && seen.counter > this.#counter) {
      this.#counter = seen.counter;
    }
  }
}
