/**
 * @meshcache/core/internal: the doors replication uses, kept off `Cache` (STYLE.md: side doors are
 * explicit and named, not on the user's class). For @meshcache/replication and meshcache's own
 * tests and tools; not covered by semantic versioning: any of it may change in any release.
 */
import { type Cache, cacheEngineOf } from './cache.js';
import type { ReplicaPort } from './replica-port.js';

export { DeferredValue, DeferredValues } from './deferred-value.js';
export { diskStorePathProblem } from './disk/store-path.js';
export { isWellFormed } from './encodable.js';
export { type EntryCursor, SnapshotCursor } from './entry-cursor.js';
export { shownValue } from './errors.js';
export type { LoadCoordinator } from './loads.js';
export { PREFETCH_MOST } from './memory/key-index.js';
export { CONTAINER_BYTES, HASHED_CONTAINER_BYTES } from './memory/sizes.js';
export { BucketDigest, type FoldedDigest, fnv1a, hashItem, MAX_DIGEST_BUCKETS } from './replica-digest.js';
export type { ApplyOutcome, LocalChangeListener, RemoteChange, ReplicaPort } from './replica-port.js';
export { MAX_TIMER_MILLIS } from './scheduler.js';
export type { Tombstone } from './tombstones.js';
export { CLOCKS_APART_MILLIS } from './version.js';

/** The replica port of a cache: one object per cache, the same on every call. */
export function replicaPortOf<V>(cache: Cache<V>): ReplicaPort<V> {
  return cacheEngineOf(cache);
}
