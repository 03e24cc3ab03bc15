/**
 * The disk seam: where a cache's entries go when memory is not enough or must survive a restart.
 * The cache engine talks only to this interface; lmdb-store.ts is the real implementation and
 * memory-disk-store.ts a stand-in with the same behaviour for fast tests. Both pass
 * test/disk-store-conformance.ts.
 *
 * What every store promises:
 * - Reads are synchronous and see every write made through the store, committed or not.
 * - Writes are accepted synchronously and committed behind the caller, in the order they were
 *   made; `flush()` resolves once everything written before it is committed.
 * - The bytes written but not yet committed never exceed the spool bound by more than one
 *   record: a write that would go past it first commits what is pending, on the caller's time.
 * - `size` counts records held, pending writes included.
 * - A failing disk never fails or slows a write. The store turns 'degraded' (one log line), keeps
 *   what it cannot commit in the spool up to the bound, and past the bound drops the oldest
 *   pending records (each put returns what it dropped: those records are no longer held, and an
 *   older committed record of the same key is removed too, never served again). It retries in the
 *   background and turns 'ok' again (one log line) once everything pending is committed.
 */
import { MeshcacheError } from '../errors.js';
import type { Version } from '../version.js';

/**
 * The longest key a disk store takes, in UTF-8 bytes: lmdb's bound (1978) less the byte its key
 * encoding puts before a string that starts with a control character. A character U+0000 to
 * U+0004 takes one byte more (an escape: lmdb-keys.ts). A cache with a disk tier refuses a longer
 * key at put (E_INVALID_ARGUMENT), and a store answers a read of one as a miss: let into the
 * spool, such a key failed every commit and held back every write behind it.
 */
export const MAX_DISK_KEY_BYTES = 1977;

/** Whether a disk store can hold `key` (three UTF-8 bytes a UTF-16 unit at most: most keys are not measured). */
export function fitsOnDisk(key: string): boolean {
  return key.length <= MAX_DISK_KEY_BYTES / 3 || diskKeyBytes(key) <= MAX_DISK_KEY_BYTES;
}

/** The bytes `key` takes on disk, the leading escape aside: UTF-8, and one more for each character U+0000 to U+0004. */
function diskKeyBytes(key: string): number {
  return Buffer.byteLength(key) + escapesIn(key);
}

/** The characters of `key` that lmdb's key encoding escapes (U+0000 to U+0004): each takes a byte more. */
export function escapesIn(key: string): number {
  let escapes = 0;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) <= 4) escapes++;
  return escapes;
}

/** The error for a key no disk store takes. */
export function keyTooLongForDisk(cacheName: string, key: string): MeshcacheError {
  return new MeshcacheError(
    'E_INVALID_ARGUMENT',
    `cache "${cacheName}": a key of a cache with a disk tier takes at most ${MAX_DISK_KEY_BYTES} bytes in UTF-8 (lmdb's bound; a character U+0000 to U+0004 counts two); this one takes ${diskKeyBytes(key)} (it begins ${JSON.stringify(key.slice(0, 40))})`,
  );
}

/** An entry as it lives on disk: the value and every field that decides its life. */
export interface DiskRecord<V = unknown> {
  readonly value: V;
  readonly createdAt: number;
  readonly lastAccessedAt: number;
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
  readonly version: Version | undefined;
  /**
   * The entry had the cache's lifespan when written: read back, it takes the cache's lifespan
   * then (a cache whose TTL was changed across a restart applies the new one), as Ehcache does
   * for an element whose lifespan was never set. Absent in records of earlier releases: those
   * keep the lifespan they were written with.
   */
  readonly usesDefaults?: boolean;
}

/** 'ok': commits succeed. 'degraded': the last commit failed; writes wait in the spool or are dropped. */
export type DiskState = 'ok' | 'degraded';

/** A record a write pushed out of the spool because the disk would not take it: no longer held. */
export type DroppedRecord<V = unknown> = readonly [key: string, record: DiskRecord<V>];

/** What close() could not persist (a failing disk): zero and zero after a clean close. */
export interface DiskCloseReport {
  /** Records whose last write never reached the disk. */
  readonly notPersisted: number;
  /** Removals that never reached the disk: those keys' older records are still in the file. */
  readonly removalsNotPersisted: number;
  /** The disk's last error, when something was not persisted. */
  readonly reason: string | undefined;
}

export interface DiskStore<V = unknown> {
  /** Records held, pending writes included. */
  readonly size: number;
  /** Encoded bytes written but not yet committed. */
  readonly pendingBytes: number;
  /** Writes (puts and removals) not yet committed. */
  readonly pendingWrites: number;
  readonly state: DiskState;
  get(key: string): DiskRecord<V> | undefined;
  has(key: string): boolean;
  /**
   * `held`: whether the key is on disk now, when the caller already knows (it saves a lookup).
   * A key past MAX_DISK_KEY_BYTES is refused (E_INVALID_ARGUMENT), and read as never held.
   * Returns the records dropped to keep the spool within its bound while the disk is degraded
   * (possibly this very record); almost always none.
   * @throws MeshcacheError E_VALUE_NOT_ENCODABLE when the record cannot be encoded; nothing is written.
   */
  put(key: string, record: DiskRecord<V>, held?: boolean): readonly DroppedRecord<V>[];
  /** Whether a record was held. */
  remove(key: string): boolean;
  clear(): void;
  /** Keys in no particular order, pending writes included. */
  keys(): IterableIterator<string>;
  /** Records read lazily; keys removed during the iteration are skipped. */
  entries(): IterableIterator<[string, DiskRecord<V>]>;
  /**
   * Up to `limit` records whose keys sort after `after` (from the first key when undefined), in
   * key order, pending writes included. Lets a long scan run in slices between event-loop turns.
   */
  scan(after: string | undefined, limit: number): Array<[string, DiskRecord<V>]>;
  /**
   * Resolves when every write made so far is committed (true), or at once with false when the
   * disk is degraded and the writes could not be committed now. Never rejects for a failing disk.
   */
  flush(): Promise<boolean>;
  /** Flushes, then releases the store, and says what could not be persisted. Idempotent; never rejects for a failing disk. */
  close(): Promise<DiskCloseReport>;
}
