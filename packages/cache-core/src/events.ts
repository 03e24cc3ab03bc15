/**
 * Cache events: a closed list of what can happen to an entry, each fired synchronously after the
 * change, in the order the changes happened.
 *
 * | type      | fired by                                                                 |
 * |-----------|--------------------------------------------------------------------------|
 * | put       | put/getOrLoad of a key the cache did not hold (or held expired)          |
 * | update    | put of a key the cache holds                                             |
 * | remove    | remove(key), also when the key was absent (peers may hold it: Ehcache)   |
 * | expire    | an expired entry found by a read, by the sweep, or chosen for eviction   |
 * | evict     | an entry that left the cache for lack of room (not one moved to disk)    |
 * | removeAll | removeAll(); no per-entry remove events                                  |
 *
 * `origin` is 'remote' for changes applied from a peer; replicators listen only to 'local'
 * events, which is what stops a change from ping-ponging between nodes. A listener that throws
 * is logged and skipped: it cannot break the cache or the other listeners.
 */
import type { Logger } from './logger.js';
import type { Version } from './version.js';

export type CacheEventType = 'put' | 'update' | 'remove' | 'expire' | 'evict' | 'removeAll';

export const CACHE_EVENT_TYPES: readonly CacheEventType[] = Object.freeze([
  'put',
  'update',
  'remove',
  'expire',
  'evict',
  'removeAll',
]);

export type EventOrigin = 'local' | 'remote';

export interface CacheEvent<V = unknown> {
  readonly type: CacheEventType;
  /** The cache's name. */
  readonly cache: string;
  /** The entry's key; absent for removeAll. */
  readonly key?: string;
  /** The new value (put, update) or the value that left (remove, expire, evict); absent when none. */
  readonly value?: V;
  readonly origin: EventOrigin;
  /** The version of the change, when versions are in use (replication). */
  readonly version?: Version;
}

export type CacheEventListener<V = unknown> = (event: CacheEvent<V>) => void;

/**
 * Listener lists per origin and event type; emit costs one array length check when nobody
 * listens to that type from that origin. A listener for both origins sits in both lists, so a
 * replicator that listens to local events only costs nothing when a peer's change is applied.
 */
export class EventHub<V> {
  readonly #listeners: Record<EventOrigin, Map<CacheEventType, CacheEventListener<V>[]>> = {
    local: new Map(),
    remote: new Map(),
  };
  /** Listener memberships over all lists; 0 lets emit return before any lookup. */
  #count = 0;
  readonly #logger: Logger;
  readonly #cacheName: string;

  constructor(cacheName: string, logger: Logger) {
    this.#cacheName = cacheName;
    this.#logger = logger;
    for (const type of CACHE_EVENT_TYPES) {
      this.#listeners.local.set(type, []);
      this.#listeners.remote.set(type, []);
    }
  }

  /** Listens to `type` events of `origin`, or of both origins when it is undefined. */
  on(type: CacheEventType, listener: CacheEventListener<V>, origin?: EventOrigin): void {
    this.#checkType(type);
    if (typeof listener !== 'function') {
      throw new TypeError(`a listener of "${type}" events must be a function, not ${typeof listener}`);
    }
    // From JavaScript a typo ('remotes') otherwise failed as "cannot read properties of undefined".
    if (origin !== undefined && origin !== 'local' && origin !== 'remote') {
      throw new TypeError(`unknown event origin "${String(origin)}"; origins are local and remote (or none, for both)`);
    }
    for (const from of origin === undefined ? (['local', 'remote'] as const) : [origin]) {
      const lists = this.#listeners[from];
      // Copy on write: a listener that removes itself while events are being delivered is safe.
      lists.set(type, [...(lists.get(type) ?? []), listener]);
      this.#count++;
    }
  }

  /** An event type on() and off() know; from JavaScript a typo ('expired') throws, naming the types. */
  #checkType(type: CacheEventType): void {
    if (!this.#listeners.local.has(type)) {
      throw new TypeError(`unknown cache event "${String(type)}"; events are ${CACHE_EVENT_TYPES.join(', ')}`);
    }
  }

  /**
   * Stops `listener` hearing `type`, from whichever origins it listened to. An unknown type is
   * refused as on() refuses it: `off('expired')` (for 'expire') did nothing, and the listener it
   * was to stop went on hearing every expiry.
   */
  off(type: CacheEventType, listener: CacheEventListener<V>): void {
    this.#checkType(type);
    for (const from of ['local', 'remote'] as const) {
      const lists = this.#listeners[from];
      const list = lists.get(type);
      const index = list?.indexOf(listener) ?? -1;
      if (list !== undefined && index >= 0) {
        lists.set(type, list.toSpliced(index, 1));
        this.#count--;
      }
    }
  }

  /** Whether anyone listens to `type` events of `origin`, or of either origin when it is undefined. */
  has(type: CacheEventType, origin?: EventOrigin): boolean {
    if (origin !== undefined) return (this.#listeners[origin].get(type)?.length ?? 0) > 0;
    return (this.#listeners.local.get(type)?.length ?? 0) > 0 || (this.#listeners.remote.get(type)?.length ?? 0) > 0;
  }

  /** Builds the event only when someone listens, so an unobserved mutation allocates nothing for it. */
  emit(type: CacheEventType, origin: EventOrigin, key?: string, value?: V, version?: Version): void {
    if (this.#count === 0) return;
    const list = this.#listeners[origin].get(type);
    if (list === undefined || list.length === 0) return;
    const event: CacheEvent<V> = { type, cache: this.#cacheName, key, value, origin, version };
    for (const listener of list) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.error(
          { cache: this.#cacheName, event: type, key, err: error },
          'cache event listener threw; the cache carries on',
        );
      }
    }
  }
}
