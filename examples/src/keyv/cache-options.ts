/**
 * The options cache-manager 7 takes, with meshcache as the in-process tier: what
 * `createCache(options)` and NestJS's `CacheModule.registerAsync({ useFactory })` both accept
 * (docs/keyv.md shows the Nest module around it). Further tiers (a shared Redis, say) go after the
 * meshcache one: cache-manager reads the tiers in order and writes to all of them.
 */
import type { Cache } from '@meshcache/core';
import { KeyvMeshcache } from '@meshcache/keyv';
import type { CreateCacheOptions } from 'cache-manager';
import Keyv from 'keyv';

export function meshcacheCacheOptions(cache: Cache<unknown>, ttlMillis = 60_000): CreateCacheOptions {
  return { stores: [new Keyv({ store: new KeyvMeshcache(cache) })], ttl: ttlMillis };
}
