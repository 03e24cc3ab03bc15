/** For the tests of reading ahead: what a cache's replica port is handed, as it goes on reading ahead. */
import type { Cache } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';

/** The keys of each prefetch() of the cache's replica port, in order; the port still reads them ahead. */
export function recordPrefetches(cache: Cache<unknown>): string[][] {
  const port = replicaPortOf(cache);
  const prefetched: string[][] = [];
  const prefetch = port.prefetch.bind(port);
  port.prefetch = (keys, count = keys.length) => {
    prefetched.push(keys.slice(0, count));
    prefetch(keys, count);
  };
  return prefetched;
}
