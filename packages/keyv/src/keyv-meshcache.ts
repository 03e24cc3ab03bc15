/**
 * A Keyv storage adapter over a meshcache `Cache`, so that Keyv and what is built on it
 * (cacheable, cache-manager, NestJS's CacheModule) read and write a local or replicated
 * meshcache cache: `new Keyv({ store: new KeyvMeshcache(cache) })`.
 *
 * The model. Keyv 5 does the serialising and the namespacing itself: it hands the store a key
 * already prefixed with `namespace:` and a value already serialised (a string holding
 * `{ value, expires }`, or that object as it is when the Keyv has no serializer), and it reads
 * them back the same way. The store keeps both exactly as given, so what a peer receives is
 * what Keyv wrote, and any Keyv on any node reads it back.
 *
 * What is guaranteed:
 * - A TTL (milliseconds, as Keyv passes it) becomes the entry's own `timeToLiveSeconds`, so the
 *   entry expires in meshcache too, on every peer at the same moment, and leaves memory and disk
 *   without Keyv having to read it. Without a TTL the entry takes the cache's own settings. As
 *   with Keyv's own stores, a negative TTL writes a value already expired (the key is removed) and
 *   Infinity one that never expires (an eternal entry).
 * - `delete`, `deleteMany` and `clear` are meshcache removals: on a replicated cache they reach
 *   every peer (a revoked key does not linger on another instance; for `clear()` of a namespace,
 *   see below).
 * - A namespace is a key prefix inside one cache (Keyv's own `namespace:key`). `clear()` with a
 *   namespace removes that namespace's keys only, one removal each; without a namespace it is one
 *   `removeAll`. A namespace's keys are the ones this node holds: an entry it evicted, or found
 *   idle, stays on the peers that hold it (docs/keyv.md); `removeAll` and `delete` reach every
 *   peer. Separate caches per namespace were the alternative; prefixes won because a replicated
 *   cache must be declared in the cluster configuration before the node starts, while Keyv
 *   namespaces are chosen in code.
 * - Reads are meshcache reads: `get` is an access (recency, idle time, hit and miss statistics);
 *   `has` and the iterator read quietly.
 *
 * What is not: the store does not own the cache. Stopping the ClusterNode (or shutting the
 * CacheManager down) is the application's business; `disconnect()` leaves the cache open. A
 * store shared by two Keyv instances with different namespaces clears the namespace of the one
 * constructed last (Keyv sets `store.namespace`): give each Keyv its own KeyvMeshcache, which is
 * cheap, over the same cache.
 */
import { EventEmitter } from 'node:events';
import type { Cache, EntryOptions } from '@meshcache/core';
import type { KeyvStoreAdapter, StoredData } from 'keyv';

/** What the adapter tells Keyv about itself (Keyv reads `opts.dialect` and `opts.url`). */
export interface KeyvMeshcacheOpts {
  readonly dialect: 'meshcache';
  /** Not a network address: the store lives in this process. Keyv requires a string here. */
  readonly url: string;
  /** The meshcache cache's name. */
  readonly cache: string;
  [option: string]: unknown;
}

/** One entry of `setMany`, as Keyv passes it. */
export interface KeyvMeshcacheEntry {
  key: string;
  value: unknown;
  /** Time to live in milliseconds. */
  ttl?: number;
}

function isCache(value: unknown): value is Cache<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Cache<unknown>).get === 'function' &&
    typeof (value as Cache<unknown>).put === 'function' &&
    typeof (value as Cache<unknown>).peekEntry === 'function' &&
    typeof (value as Cache<unknown>).removeAll === 'function'
  );
}

/** A write whose TTL has already run out: Keyv's own stores keep it unreadable, so it removes the key. */
const EXPIRED = Symbol('expired');

/**
 * What a Keyv TTL in milliseconds asks of the cache: entry options (undefined keeps the cache's own
 * settings), or EXPIRED. Keyv's own stores take any number: a negative TTL (one computed from an
 * expiry time that has passed) writes a value no read finds, so the key's older value must not stay
 * readable either; Infinity writes one that never expires, an eternal entry here.
 */
function lifespan(ttl: unknown): EntryOptions | undefined | typeof EXPIRED {
  if (ttl === undefined || ttl === null || ttl === 0) return undefined;
  if (typeof ttl !== 'number' || Number.isNaN(ttl)) {
    throw new TypeError(
      `KeyvMeshcache: ttl must be a number of milliseconds (0 or none: the cache's own settings), got ${String(ttl)}`,
    );
  }
  if (ttl < 0) return EXPIRED;
  if (ttl === Number.POSITIVE_INFINITY) return { eternal: true };
  return { timeToLiveSeconds: ttl / 1000 };
}

/**
 * What `setMany` resolves to: one `true` per entry. Keyv 5 declares a store's `setMany` as
 * resolving to nothing, yet `keyv.setMany()` resolves with whatever the store's resolves to as its
 * `boolean[]`; this store answers the `boolean[]`, typed `& void` so that the store is still a
 * `KeyvStoreAdapter` (cacheable's `primary` and `secondary` take one: typed `Promise<boolean[]>`,
 * the store was refused there by the compiler).
 */
// biome-ignore lint/suspicious/noConfusingVoidType: Keyv's KeyvStoreAdapter declares setMany as Promise<void>
type SetManyResult = boolean[] & void;

/**
 * `V` is the cache's value type, as the application declared it: `Cache<string>` for a Keyv with
 * its serializer, the `{ value, expires }` shape for one without, `unknown` when left alone. The
 * store does not check it: it stores what Keyv hands it.
 */
export class KeyvMeshcache<V = unknown> extends EventEmitter implements KeyvStoreAdapter {
  /** Keyv sets this to its namespace; keys arrive already prefixed with `namespace:`. */
  namespace?: string | undefined;
  readonly opts: KeyvMeshcacheOpts;
  /** The meshcache cache behind the store. */
  readonly cache: Cache<V>;

  /** @param cache a meshcache cache: `manager.getCache(name)`, or `node.manager.getCache(name)` for a replicated one. */
  constructor(cache: Cache<V>) {
    super();
    if (!isCache(cache)) {
      throw new TypeError(
        `KeyvMeshcache needs a meshcache Cache (node.manager.getCache(name) or manager.addCache(name)), got ${
          cache === undefined ? 'undefined (no cache of that name?)' : typeof cache
        }`,
      );
    }
    this.cache = cache;
    this.opts = { dialect: 'meshcache', url: 'meshcache:', cache: cache.name };
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.cache.get(key) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return keys.map((key) => this.cache.get(key) as StoredData<Value | undefined>);
  }

  /**
   * Stores Keyv's serialised value; `ttl` in milliseconds (negative: already expired, so the key is
   * removed; Infinity: eternal). Resolves true.
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.#write(key, value, lifespan(ttl));
    return true;
  }

  /**
   * Every TTL is checked before any entry is written, so a bad one writes nothing. Then one boolean
   * per entry: false for an entry the cache refused (a value a replicated cache cannot encode, a
   * key too long for its disk), whose error the store emits as 'error' (Keyv re-emits it), while
   * the others are written. Rejecting the whole call there left the entries before it written and
   * Keyv answering false for every one.
   */
  async setMany(entries: KeyvMeshcacheEntry[]): Promise<SetManyResult> {
    const options = entries.map((entry) => lifespan(entry.ttl));
    const stored = entries.map((entry, i) => {
      try {
        this.#write(entry.key, entry.value, options[i]);
        return true;
      } catch (error) {
        // An 'error' no one listens for would throw, and end the call halfway after all.
        if (this.listenerCount('error') > 0) this.emit('error', error);
        return false;
      }
    });
    return stored as SetManyResult;
  }

  #write(key: string, value: unknown, options: EntryOptions | undefined | typeof EXPIRED): void {
    if (options === EXPIRED) this.cache.remove(key);
    else this.cache.put(key, value as V, options);
  }

  /** True when the key was held (and is now removed everywhere the cache replicates). */
  async delete(key: string): Promise<boolean> {
    return this.cache.remove(key);
  }

  /** True when at least one of the keys was held; every key is removed either way. */
  async deleteMany(keys: string[]): Promise<boolean> {
    let removed = false;
    for (const key of keys) if (this.cache.remove(key)) removed = true;
    return removed;
  }

  /** Empties this store's namespace (every key `namespace:...`), or the whole cache without one. */
  async clear(): Promise<void> {
    if (this.namespace === undefined || this.namespace === '') {
      this.cache.removeAll();
      return;
    }
    const prefix = `${this.namespace}:`;
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.remove(key);
  }

  /** Whether a live entry is held. Quiet: no access, no statistics. */
  async has(key: string): Promise<boolean> {
    return this.cache.has(key);
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return keys.map((key) => this.cache.has(key));
  }

  /**
   * Every live entry of a namespace (every entry without one) as `[key, stored value]`, read
   * quietly. The key list is taken when the iteration starts; an entry removed or expired
   * meanwhile is skipped. Keyv 5 calls a store's iterator only for its own database adapters
   * (docs/keyv.md shows the one line that wires it).
   */
  async *iterator<Value>(namespace?: string): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const prefix = namespace === undefined || namespace === '' ? '' : `${namespace}:`;
    for (const key of this.cache.keys()) {
      if (!key.startsWith(prefix)) continue;
      const entry = this.cache.peekEntry(key);
      if (entry !== undefined) yield [key, entry.value as Awaited<Value>];
    }
  }

  /** Leaves the cache open: the application owns it (stop the ClusterNode or the CacheManager). */
  async disconnect(): Promise<void> {}
}
