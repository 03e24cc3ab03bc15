/**
 * The periodic expiry sweep (every diskExpiryThreadIntervalSeconds): expired entries leave memory
 * and disk, firing `expire`, with no read needed, and tombstones past their retention are
 * forgotten. Ehcache does not sweep its heap; meshcache does, because a gateway's response cache
 * otherwise holds dead bodies until something evicts them.
 *
 * Memory is swept at once; the disk tier in slices of DISK_SWEEP_SLICE records, one slice per
 * event-loop turn, so a large disk tier never stalls the process. A sweep that throws is logged
 * and runs again at the next period; the sweep stops when the cache closes.
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
  #timer: Cancel | undefined;
  #sweepingDisk = false;

  constructor(host: SweepHost<V>, scheduler: Scheduler, logger: Logger, intervalMillis: number) {
    this.#host = host;
    this.#scheduler = scheduler;
    this.#logger = logger;
    this.#timer = scheduler.setInterval(() => this.#sweepSafely(), intervalMillis);
  }

  stop(): void {
    this.#timer?.();
    this.#timer = undefined;
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
      this.#logger.error({ cache: host.name, err: error }, 'disk expiry sweep failed; it will run again');
    }
  }
}
