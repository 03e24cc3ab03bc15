/**
 * How replication hands a cache the keys it is about to look up, a run at a time, so that the
 * cache reads ahead where each is held (ReplicaPort.prefetch: the misses to memory overlap
 * instead of coming one after another). Used where many keys come at once: a peer's batch, a
 * repair's key lists and pulls.
 */
import { PREFETCH_MOST, type ReplicaPort } from '@meshcache/core/internal';
import type { CacheReplicator } from './cache-replicator.js';
import type { ChangeMessage } from './protocol/messages.js';

/** Keys read ahead at a time: what the memory store reads ahead in one call. */
export const PREFETCH_RUN = PREFETCH_MOST;
/** Fewer keys than this are looked up as they come: too few misses to overlap to pay for a pass. */
export const PREFETCH_FROM = 16;
/** What a caller hands the port when its run is over: the cache lets the keys it was handed go. */
export const NO_KEYS: readonly string[] = Object.freeze([]);

/**
 * Applies a peer's changes (a batch, a repair's entries: `taught`) from `from`, in runs of one
 * cache each, each run's keys read ahead first (CacheReplicator.applyRun), but those `skip` names;
 * the changes of a cache `replicatorFor` does not answer for are passed over. Stops at `until`,
 * and returns where it stopped: the place to go on from, changes.length once all are applied.
 * Throws only E_CACHE_CLOSED.
 */
export function applyInRuns(
  changes: readonly ChangeMessage[],
  node: string,
  replicatorFor: (cache: string) => CacheReplicator | undefined,
  skip?: ReadonlySet<number>,
  from = 0,
  until = changes.length,
  taught = false,
): number {
  let cache: string | undefined;
  let replicator: CacheReplicator | undefined;
  let i = from;
  while (i < changes.length && i < until) {
    const change = changes[i] as ChangeMessage;
    if (change.cache !== cache) {
      cache = change.cache;
      replicator = replicatorFor(cache);
    }
    i = replicator === undefined ? i + 1 : replicator.applyRun(changes, i, node, skip, until, taught);
  }
  return i;
}

/** The newest version time of `changes` (what a link's lag is measured from). */
export function newestTime(changes: readonly ChangeMessage[]): number {
  let newest = 0;
  for (const change of changes) if (change.version.time > newest) newest = change.version.time;
  return newest;
}

/**
 * Every PREFETCH_RUN items, starting at `at`: the port reads ahead the keys of the next run of
 * `items` (up to PREFETCH_RUN of them), when there are PREFETCH_FROM or more.
 */
export function prefetchEveryRun<T>(
  port: Pick<ReplicaPort<unknown>, 'prefetch'>,
  items: readonly T[],
  at: number,
  keyOf: (item: T) => string,
): void {
  if (at % PREFETCH_RUN !== 0) return;
  const end = Math.min(items.length, at + PREFETCH_RUN);
  if (end - at < PREFETCH_FROM) return;
  const keys: string[] = new Array(end - at);
  for (let i = at; i < end; i++) keys[i - at] = keyOf(items[i] as T);
  port.prefetch(keys);
}
