/**
 * One cached value and the metadata that decides its life. Entries are mutable records owned by
 * the cache: a read updates lastAccessedAt in place, so a hit allocates nothing.
 *
 * Expiry deadlines are precomputed in milliseconds (`ttlDeadline`, `ttiMillis`, Infinity for
 * never) so the check on the hot path is two comparisons.
 */
import type { Version } from './version.js';

export interface Entry<V> {
  value: V;
  /** When the value was created, on the node that created it (TTL counts from here). */
  createdAt: number;
  /** Last read or write on this node (TTI counts from here). */
  lastAccessedAt: number;
  /** Seconds, 0 = never; kept for snapshots and replication. */
  timeToLiveSeconds: number;
  /** Seconds, 0 = never. */
  timeToIdleSeconds: number;
  /** createdAt + TTL in ms, or Infinity. */
  ttlDeadline: number;
  /** TTI in ms, or Infinity. */
  ttiMillis: number;
  version: Version | undefined;
}

/** Ehcache's rule, strict: expired once now is past the deadline, not at it. */
export function isExpired(entry: Entry<unknown>, now: number): boolean {
  return now > entry.ttlDeadline || now > entry.lastAccessedAt + entry.ttiMillis;
}

/** The moment the entry expires if it is not read again (Infinity for never). */
export function expiresAt(entry: Entry<unknown>): number {
  return Math.min(entry.ttlDeadline, entry.lastAccessedAt + entry.ttiMillis);
}

export function makeEntry<V>(
  value: V,
  createdAt: number,
  lastAccessedAt: number,
  timeToLiveSeconds: number,
  timeToIdleSeconds: number,
  version: Version | undefined,
): Entry<V> {
  return {
    value,
    createdAt,
    lastAccessedAt,
    timeToLiveSeconds,
    timeToIdleSeconds,
    ttlDeadline: ttlDeadline(createdAt, timeToLiveSeconds),
    ttiMillis: ttiMillis(timeToIdleSeconds),
    version,
  };
}

/**
 * Rewrites a held entry in place, as a new write. Reusing the record (rather than allocating a
 * new one) makes an update allocation-free: V8 updates the entry's number fields in place.
 */
export function rewriteEntry<V>(
  entry: Entry<V>,
  value: V,
  createdAt: number,
  lastAccessedAt: number,
  timeToLiveSeconds: number,
  timeToIdleSeconds: number,
  version: Version | undefined,
): void {
  entry.value = value;
  entry.createdAt = createdAt;
  entry.lastAccessedAt = lastAccessedAt;
  entry.timeToLiveSeconds = timeToLiveSeconds;
  entry.timeToIdleSeconds = timeToIdleSeconds;
  entry.ttlDeadline = ttlDeadline(createdAt, timeToLiveSeconds);
  entry.ttiMillis = ttiMillis(timeToIdleSeconds);
  entry.version = version;
}

function ttlDeadline(createdAt: number, timeToLiveSeconds: number): number {
  return timeToLiveSeconds > 0 ? createdAt + timeToLiveSeconds * 1000 : Number.POSITIVE_INFINITY;
}

function ttiMillis(timeToIdleSeconds: number): number {
  return timeToIdleSeconds > 0 ? timeToIdleSeconds * 1000 : Number.POSITIVE_INFINITY;
}

/** What a quiet read, a snapshot or a replicator sees of an entry. A copy: changing it changes nothing. */
export interface EntrySnapshot<V = unknown> {
  readonly key: string;
  readonly value: V;
  readonly createdAt: number;
  readonly lastAccessedAt: number;
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
  /** When the entry expires if not read again; Infinity for never. */
  readonly expiresAt: number;
  readonly version: Version | undefined;
}

export function snapshotOf<V>(key: string, entry: Entry<V>): EntrySnapshot<V> {
  return {
    key,
    value: entry.value,
    createdAt: entry.createdAt,
    lastAccessedAt: entry.lastAccessedAt,
    timeToLiveSeconds: entry.timeToLiveSeconds,
    timeToIdleSeconds: entry.timeToIdleSeconds,
    expiresAt: expiresAt(entry),
    version: entry.version,
  };
}
