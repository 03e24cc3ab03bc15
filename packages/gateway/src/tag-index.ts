/**
 * Which cached responses carry which tag (surrogate keys), on this instance.
 *
 * The index follows the cache's own events, local and remote alike, so it also knows the
 * entries that arrived from peers: a put or update of a tagged response indexes its key; a
 * remove, expire or evict, or an update to something untagged, unindexes it; removeAll empties
 * it. It is rebuilt from the cache's contents at construction (a disk tier or a bootstrap may
 * have filled the cache before). It costs a set entry per tag per tagged response.
 *
 * Not guaranteed: that it knows every entry in the cluster. An entry stored on a peer and still
 * on its way is not here yet; the purge marker (response-cache.ts) covers that window.
 */
import type { Cache, CacheEvent } from '@meshcache/core';

export class TagIndex<V> {
  readonly #keysByTag = new Map<string, Set<string>>();
  readonly #tagsByKey = new Map<string, readonly string[]>();
  readonly #cache: Cache<V>;
  readonly #tagsOf: (value: V) => readonly string[];
  readonly #listener = (event: CacheEvent<V>): void => this.#onEvent(event);

  constructor(cache: Cache<V>, tagsOf: (value: V) => readonly string[]) {
    this.#cache = cache;
    this.#tagsOf = tagsOf;
    for (const type of ['put', 'update', 'remove', 'expire', 'evict', 'removeAll'] as const) {
      cache.on(type, this.#listener);
    }
    for (const key of cache.keys()) {
      const entry = cache.peekEntry(key);
      if (entry !== undefined) this.#index(key, this.#tagsOf(entry.value));
    }
  }

  /** The keys of the responses tagged `tag` that this instance holds. */
  keysOf(tag: string): string[] {
    return [...(this.#keysByTag.get(tag) ?? [])];
  }

  close(): void {
    for (const type of ['put', 'update', 'remove', 'expire', 'evict', 'removeAll'] as const) {
      this.#cache.off(type, this.#listener);
    }
    this.#keysByTag.clear();
    this.#tagsByKey.clear();
  }

  #onEvent(event: CacheEvent<V>): void {
    if (event.type === 'removeAll') {
      this.#keysByTag.clear();
      this.#tagsByKey.clear();
      return;
    }
    if (event.key === undefined) return;
    this.#unindex(event.key);
    if ((event.type === 'put' || event.type === 'update') && event.value !== undefined) {
      this.#index(event.key, this.#tagsOf(event.value));
    }
  }

  #index(key: string, tags: readonly string[]): void {
    if (tags.length === 0) return;
    this.#tagsByKey.set(key, tags);
    for (const tag of tags) {
      let keys = this.#keysByTag.get(tag);
      if (keys === undefined) {
        keys = new Set();
        this.#keysByTag.set(tag, keys);
      }
      keys.add(key);
    }
  }

  #unindex(key: string): void {
    const tags = this.#tagsByKey.get(key);
    if (tags === undefined) return;
    this.#tagsByKey.delete(key);
    for (const tag of tags) {
      const keys = this.#keysByTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#keysByTag.delete(tag);
    }
  }
}
