/**
 * A CacheManager owns a set of named caches that share a clock, a logger and a disk store
 * location, as an Ehcache CacheManager does. It validates each cache's configuration when the
 * cache is added, opens the disk store (one lmdb environment under diskStorePath) when the first
 * cache needs it, and shuts every cache down together, flushing disk tiers.
 */

import { Cache } from './cache.js';
import { type Clock, systemClock } from './clock.js';
import type { CacheConfig } from './config.js';
import { describe, resolveCacheConfig } from './config.js';
import type { DiskCloseReport } from './disk/disk-store.js';
import { DiskTier } from './disk/disk-tier.js';
import { LmdbEnvironment } from './disk/lmdb-environment.js';
import { diskStorePathProblem } from './disk/store-path.js';
import { ConfigError, MeshcacheError } from './errors.js';
import { cacheLifespan } from './expiry.js';
import { type Logger, silentLogger } from './logger.js';
import { type Scheduler, systemScheduler } from './scheduler.js';
import type { Version } from './version.js';

export interface CacheManagerOptions {
  /** Where disk tiers live; required only if a cache uses the disk. */
  diskStorePath?: string;
  /** Epoch milliseconds. Tests inject a ManualClock's `now`. @default the scheduler's clock */
  clock?: Clock;
  /**
   * Timers (the expiry sweep). Tests and the cluster simulator inject a VirtualScheduler
   * (`@meshcache/core/testing`). @default the system's timers
   */
  scheduler?: Scheduler;
  /** pino-compatible. @default silent */
  logger?: Logger;
  /**
   * Stamps every local write with a version (replication passes its hybrid logical clock).
   * Without it local entries are unversioned. Called with `after` when the cache holds the key at
   * a version the clock may not have seen (kept on disk across a restart, the wall clock stepped
   * back since): the version returned must be newer than `after` too. @default none
   */
  versionClock?: (after?: Version) => Version;
  /** How long a removed key's tombstone is kept to refuse late, older writes from peers. @default 300 */
  tombstoneRetentionSeconds?: number;
  /**
   * Most tombstones each cache keeps (a whole number >= 1). Past it the oldest is forgotten
   * first, as if its retention had run out: an older write of that key from a peer that was away
   * can then bring the key back. statistics().tombstonesDropped counts them. @default 100000
   */
  maxTombstones?: number;
}

/** What one cache's disk tier could not persist at shutdown (a failing disk). */
export interface NotPersisted {
  readonly cache: string;
  /** Entries whose last write never reached the disk: a restart does not find them (or finds an older value). */
  readonly entries: number;
  /** Removals that never reached the disk: a restart finds those keys' older values again. */
  readonly removals: number;
  /** The disk's last error. */
  readonly reason: string | undefined;
}

/** What shutdown() resolves with: empty `notPersisted` when everything reached the disk. */
export interface ShutdownReport {
  readonly notPersisted: readonly NotPersisted[];
}

/** The defaults of the manager options that have one. */
export const MANAGER_DEFAULTS = Object.freeze({ tombstoneRetentionSeconds: 300, maxTombstones: 100_000 });

const MANAGER_OPTIONS = new Set([
  'diskStorePath',
  'clock',
  'scheduler',
  'logger',
  'versionClock',
  'tombstoneRetentionSeconds',
  'maxTombstones',
]);

const SCHEDULER_METHODS = ['now', 'setTimeout', 'setInterval', 'nextTurn', 'random'] as const;

function checkOptions(options: CacheManagerOptions): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(
      undefined,
      '(options)',
      `must be an object of CacheManager options, got ${describe(options)}`,
    );
  }
  for (const field of Object.keys(options)) {
    if (!MANAGER_OPTIONS.has(field)) {
      throw new ConfigError(
        undefined,
        field,
        `is not a CacheManager option; known options: ${[...MANAGER_OPTIONS].join(', ')}`,
      );
    }
  }
  const { diskStorePath, clock, logger, versionClock, tombstoneRetentionSeconds, maxTombstones } = options;
  const pathProblem = diskStorePath === undefined ? undefined : diskStorePathProblem(diskStorePath);
  if (pathProblem !== undefined) throw new ConfigError(undefined, 'diskStorePath', pathProblem);
  const { scheduler } = options;
  if (scheduler !== undefined) {
    // Every method, here: one missing failed only at the first addCache, as "setInterval is not a function".
    const missing =
      scheduler === null || typeof scheduler !== 'object'
        ? 'it'
        : SCHEDULER_METHODS.find((method) => typeof scheduler[method] !== 'function');
    if (missing !== undefined) {
      throw new ConfigError(
        undefined,
        'scheduler',
        `must be a Scheduler (systemScheduler, or a VirtualScheduler in tests)${missing === 'it' ? '' : `: scheduler.${missing} is not a function`}`,
      );
    }
  }
  if (clock !== undefined && typeof clock !== 'function') {
    throw new ConfigError(undefined, 'clock', 'must be a function returning epoch milliseconds');
  }
  if (versionClock !== undefined && typeof versionClock !== 'function') {
    throw new ConfigError(undefined, 'versionClock', 'must be a function returning a Version');
  }
  if (logger !== undefined) {
    if (logger === null || typeof logger !== 'object') {
      throw new ConfigError(
        undefined,
        'logger',
        `must be pino-compatible (debug, info, warn, error), got ${describe(logger)}`,
      );
    }
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      if (typeof logger[level] !== 'function') {
        throw new ConfigError(undefined, 'logger', `must be pino-compatible: logger.${level} is not a function`);
      }
    }
  }
  if (
    tombstoneRetentionSeconds !== undefined &&
    (typeof tombstoneRetentionSeconds !== 'number' ||
      !Number.isFinite(tombstoneRetentionSeconds) ||
      tombstoneRetentionSeconds < 0)
  ) {
    throw new ConfigError(
      undefined,
      'tombstoneRetentionSeconds',
      `must be a number of seconds >= 0, got ${describe(tombstoneRetentionSeconds)}`,
    );
  }
  // At least one: tombstones cannot be turned off or unbounded, since a bound is what keeps a
  // burst of removals (or a peer) from growing them without limit.
  if (
    maxTombstones !== undefined &&
    (typeof maxTombstones !== 'number' || !Number.isInteger(maxTombstones) || maxTombstones < 1)
  ) {
    throw new ConfigError(undefined, 'maxTombstones', `must be a whole number >= 1, got ${describe(maxTombstones)}`);
  }
}

/** The longest cache name with a disk tier (its lmdb database is `cache:<name>`, a key of at most 1,978 bytes). */
export const MAX_DISK_CACHE_NAME_BYTES = 1900;
/** Caches with a disk tier in one store (lmdb opens at most 256 databases; one is meshcache's own). */
export const MAX_DISK_CACHES = 250;

export class CacheManager {
  readonly diskStorePath: string | undefined;
  readonly #caches = new Map<string, Cache<unknown>>();
  readonly #clock: Clock;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #versionClock: ((after?: Version) => Version) | undefined;
  readonly #tombstoneRetentionMillis: number;
  readonly #maxTombstones: number;
  #environment: LmdbEnvironment | undefined;
  #shutdown: Promise<ShutdownReport> | undefined;

  constructor(options: CacheManagerOptions = {}) {
    checkOptions(options);
    this.diskStorePath = options.diskStorePath;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#clock = options.clock ?? (options.scheduler === undefined ? systemClock : options.scheduler.now);
    this.#logger = options.logger ?? silentLogger;
    this.#versionClock = options.versionClock;
    this.#tombstoneRetentionMillis =
      (options.tombstoneRetentionSeconds ?? MANAGER_DEFAULTS.tombstoneRetentionSeconds) * 1000;
    this.#maxTombstones = options.maxTombstones ?? MANAGER_DEFAULTS.maxTombstones;
  }

  /**
   * Creates a named cache. @throws ConfigError naming the cache and the field for an unknown
   * field, a wrong type, a negative time, an unknown policy, or a name already in use.
   */
  addCache<V = unknown>(name: string, config?: CacheConfig): Cache<V> {
    if (this.#shutdown !== undefined) {
      throw new MeshcacheError('E_CACHE_CLOSED', `cannot add cache "${name}": the CacheManager was shut down`);
    }
    if (typeof name !== 'string' || name.trim() === '') {
      throw new ConfigError(String(name), 'name', 'must be a non-empty string');
    }
    if (this.#caches.has(name))
      throw new ConfigError(name, 'name', 'is already used by another cache of this CacheManager');
    const resolved = resolveCacheConfig(name, config);
    let disk: DiskTier<V> | undefined;
    if (resolved.overflowToDisk || resolved.diskPersistent) {
      const field = resolved.overflowToDisk ? 'overflowToDisk' : 'diskPersistent';
      if (this.diskStorePath === undefined) {
        throw new ConfigError(name, field, 'needs a disk tier, and the CacheManager has no diskStorePath');
      }
      // lmdb's bounds, said before lmdb says MDB_BAD_VALSIZE or MDB_DBS_FULL: a cache's database
      // is named after it (a key of lmdb's main database), and one store holds MAX_DISK_CACHES.
      if (Buffer.byteLength(name) > MAX_DISK_CACHE_NAME_BYTES) {
        throw new ConfigError(
          name.slice(0, 40),
          'name',
          `takes ${Buffer.byteLength(name)} bytes in UTF-8; a cache with a disk tier takes a name of at most ${MAX_DISK_CACHE_NAME_BYTES}`,
        );
      }
      const diskCaches = [...this.#caches.values()].filter(
        (cache) => cache.config.overflowToDisk || cache.config.diskPersistent,
      );
      if (diskCaches.length >= MAX_DISK_CACHES) {
        throw new ConfigError(
          name,
          field,
          `one diskStorePath holds at most ${MAX_DISK_CACHES} caches with a disk tier`,
        );
      }
      // lmdb frees a database's slot only when the store closes: a cache removed while the manager
      // runs keeps its slot, and a new name past the bound reached users as lmdb's MDB_DBS_FULL.
      const environment = this.#environment;
      if (environment !== undefined && !environment.hasOpened(name) && environment.databasesOpened >= MAX_DISK_CACHES) {
        const removed = environment.databasesOpened - diskCaches.length;
        throw new ConfigError(
          name,
          field,
          `one diskStorePath holds at most ${MAX_DISK_CACHES} caches with a disk tier, counting the ${removed} removed since this CacheManager opened it (a removed cache's database stays open until the manager shuts down; adding a removed cache again takes no more room)`,
        );
      }
      this.#environment ??= LmdbEnvironment.open(this.diskStorePath, this.#logger, name);
      const store = this.#environment.openStore<V>({
        cacheName: name,
        persistent: resolved.diskPersistent,
        spoolBytes: resolved.diskSpoolBufferSizeMB * 1024 * 1024,
      });
      disk = new DiskTier<V>(store, resolved.maxElementsOnDisk, cacheLifespan(resolved));
      if (disk.trimmedAtOpen > 0) {
        this.#logger.info(
          { cache: name, removed: disk.trimmedAtOpen, maxElementsOnDisk: resolved.maxElementsOnDisk },
          'the disk tier held more than maxElementsOnDisk (lowered since it was written): the oldest records were removed',
        );
      }
    }
    const cache = new Cache<V>(name, resolved, {
      clock: this.#clock,
      scheduler: this.#scheduler,
      logger: this.#logger,
      versionClock: this.#versionClock,
      tombstoneRetentionMillis: this.#tombstoneRetentionMillis,
      maxTombstones: this.#maxTombstones,
      disk: disk as DiskTier<unknown> | undefined,
    });
    this.#caches.set(name, cache as Cache<unknown>);
    this.#logger.debug({ cache: name, config: resolved }, 'cache added');
    return cache;
  }

  getCache<V = unknown>(name: string): Cache<V> | undefined {
    return this.#caches.get(name) as Cache<V> | undefined;
  }

  cacheNames(): string[] {
    return [...this.#caches.keys()];
  }

  /**
   * Closes one cache and forgets it; its name can be used again. What a failing disk kept it from
   * persisting is logged as at shutdown (one error line), which no longer sees the cache: removed
   * while the disk was full, its unpersisted entries went without a word.
   */
  async removeCache(name: string): Promise<boolean> {
    const cache = this.#caches.get(name);
    if (cache === undefined) return false;
    this.#caches.delete(name);
    this.#reportLoss(
      cache,
      await cache.close(),
      'disk tier could not persist everything when its cache was removed: adding it again (or a restart) will not find these entries, and finds older values of the keys whose removals were not persisted',
    );
    return true;
  }

  /** Logs (one error line) and returns what a cache's close could not persist, if anything. */
  #reportLoss(cache: Cache<unknown>, report: DiskCloseReport | undefined, message: string): NotPersisted | undefined {
    if (report === undefined || (report.notPersisted === 0 && report.removalsNotPersisted === 0)) return undefined;
    const lost = {
      cache: cache.name,
      entries: report.notPersisted,
      removals: report.removalsNotPersisted,
      reason: report.reason,
    };
    this.#logger.error({ code: 'E_DISK_WRITE', ...lost, path: this.diskStorePath }, message);
    return lost;
  }

  /**
   * Closes every cache (flushing disk tiers). Idempotent: later calls return the same promise.
   * A failing disk does not make it throw: it completes, logs, and reports per cache what could
   * not be persisted.
   */
  shutdown(): Promise<ShutdownReport> {
    this.#shutdown ??= this.#closeAll();
    return this.#shutdown;
  }

  async #closeAll(): Promise<ShutdownReport> {
    this.#environment?.markClosing();
    const caches = [...this.#caches.values()];
    this.#caches.clear();
    const failures: unknown[] = [];
    const notPersisted: NotPersisted[] = [];
    for (const cache of caches) {
      try {
        const lost = this.#reportLoss(
          cache,
          await cache.close(),
          'disk tier could not persist everything at shutdown: a restart will not find these entries, and finds older values of the keys whose removals were not persisted',
        );
        if (lost !== undefined) notPersisted.push(lost);
      } catch (error) {
        failures.push(error);
        this.#logger.error({ cache: cache.name, err: error }, 'cache did not close cleanly');
      }
    }
    await this.#environment?.close();
    this.#logger.debug({}, 'cache manager shut down');
    if (failures.length > 0) throw failures[0];
    return { notPersisted };
  }
}
