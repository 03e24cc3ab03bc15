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
 */
import type { Version } from '../version.js';

/** An entry as it lives on disk: the value and every field that decides its life. */
export interface DiskRecord<V = unknown> {
  readonly value: V;
  readonly createdAt: number;
  readonly lastAccessedAt: number;
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
  readonly version: Version | undefined;
}

export interface DiskStore<V = unknown> {
  /** Records held, pending writes included. */
  readonly size: number;
  /** Encoded bytes written but not yet committed. */
  readonly pendingBytes: number;
  get(key: string): DiskRecord<V> | undefined;
  has(key: string): boolean;
  /**
   * `held`: whether the key is on disk now, when the caller already knows (it saves a lookup).
   * @throws MeshcacheError E_VALUE_NOT_ENCODABLE when the record cannot be encoded; nothing is written.
   */
  put(key: string, record: DiskRecord<V>, held?: boolean): void;
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
  /** Resolves when every write made so far is committed. */
  flush(): Promise<void>;
  /** Flushes, then releases the store. Idempotent. */
  close(): Promise<void>;
}
