/**
 * The periodic expiry sweep (every diskExpiryThreadIntervalSeconds): expired entries leave memory
 * and disk, firing `expire`, with no read needed, and tombstones past their retention are
 * forgotten. Ehcache does not sweep its heap; meshcache does, because a gateway's response cache
 * otherwise holds dead bodies until something evicts them.
 *
 * Memory is swept at once; the disk tier in slices of DISK_SWEEP_SLICE records, one slice per
 * event-loop turn, so a large disk tier never stalls the process. A sweep that throws is logged
 * and runs again at the next period; the sweep stops when the cache closes, also when an expire
 * listener closes it in the middle of a sweep (the removal after it meets the closed disk: not a
 * failure, and not logged as one).
 *
 * Sweeps run at the multiples of the interval on the scheduler's clock (every two minutes on the
 * even minute, by default), not an interval after the cache was made: so every node of a cluster
 * sweeps at the same moment, give or take the skew of their clocks. A TTL entry expires at the same
 * moment on every node (its lifespan counts from the write), and until a sweep or a read removes
 * it, a replicated cache's kept digest still counts it (replica-digest.ts); sweeping at different
 * moments, nodes whose caches kept changing then differed, between their sweeps, in nearly every
 * bucket of a TTL cache that does not replicate expiries, and every anti-entropy round listed
 * those buckets' keys, to pull nothing.
 */
import type { DiskRecord } from './disk/disk-store.js';
import type { DiskTier } from './disk/disk-tier.js';
import type { Logger } from './logger.js';
import type { Cancel, Scheduler } from './scheduler.js';

/** Disk records the periodic sweep reads per event-loop turn. */
const DISK_SWEEP_SLICE = 1000;

/** What the sweep needs of its cache. */
export interface SweepHost<V> {
  readonly name: string;
  readonly closed: boolean;
  readonly disk: DiskTier<V> | undefined;
  now(): number;
  /** Expires what memory holds expired, forgets old tombstones; how many entries expired. */
  sweepMemory(now: number): number;
  /** Expires the records of a disk slice that are expired and not in memory; how many. */
  expireOnDisk(slice: Iterable<[string, DiskRecord<V>]>, now: number): number;
}

export class Sweeper<V> {
  readonly #host: SweepHost<V>;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #intervalMillis: number;
  /** The next sweep's timer (first, the turn that arms it). */
  #timer: Cancel | undefined;
  #stopped = false;
  #sweepingDisk = false;

  constructor(host: SweepHost<V>, scheduler: Scheduler, logger: Logger, intervalMillis: number) {
    this.#host = host;
    this.#scheduler = scheduler;
    this.#logger = logger;
    this.#intervalMillis = intervalMillis;
    // The clock is read on the next turn, not now: the default clock holds still through a
    // synchronous run (clock.ts), and a read while the cache is made would date the writes that
    // follow it in the same run from then.
    this.#timer = scheduler.setTimeout(() => this.#arm(), 0);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.();
    this.#timer = undefined;
  }

  /** The next sweep, at the next multiple of the interval on the scheduler's clock. */
  #arm(): void {
    const interval = this.#intervalMillis;
    const past = ((this.#scheduler.now() % interval) + interval) % interval;
    this.#timer = this.#scheduler.setTimeout(() => {
      this.#sweepSafely();
      if (!this.#stopped) this.#arm();
    }, interval - past);
  }

  #sweepSafely(): void {
    const host = this.#host;
    try {
      const expired = host.sweepMemory(host.now());
      if (expired > 0) this.#logger.debug({ cache: host.name, expired }, 'expiry sweep (memory)');
      if (host.disk !== undefined && !this.#sweepingDisk) {
        this.#sweepingDisk = true;
        this.#sweepDiskSlice(host.disk, undefined, 0);
      }
    } catch (error) {
      // An expire listener closed the cache (a shutdown, removeCache) and the sweep's next removal
      // met the closed disk: nothing failed, and nothing runs again.
      if (host.closed) return;
      this.#logger.error({ cache: host.name, err: error }, 'expiry sweep failed; it will run again');
    }
  }

  #sweepDiskSlice(disk: DiskTier<V>, after: string | undefined, expiredSoFar: number): void {
    const host = this.#host;
    let expired = expiredSoFar;
    try {
      if (host.closed) {
        this.#sweepingDisk = false;
        return;
      }
      const slice = disk.scan(after, DISK_SWEEP_SLICE);
      expired += host.expireOnDisk(slice, host.now());
      const last = slice.at(-1);
      if (slice.length === DISK_SWEEP_SLICE && last !== undefined) {
        void this.#scheduler.nextTurn().then(() => this.#sweepDiskSlice(disk, last[0], expired));
        return;
      }
      this.#sweepingDisk = false;
      if (expired > 0) this.#logger.debug({ cache: host.name, expired }, 'expiry sweep (disk)');
    } catch (error) {
      this.#sweepingDisk = false;
      if (host.closed) return; // closed by an expire listener of this slice, as above
      this.#logger.error({ cache: host.name, err: error }, 'disk expiry sweep failed; it will run again');
    }
  }
}
