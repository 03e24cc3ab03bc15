import { type CacheConfig, type CacheEvent, CacheManager, type CacheManagerOptions } from '../src/index.js';
import { ENTRY_OVERHEAD } from '../src/memory/sizes.js';
import { ManualClock } from '../src/testing.js';

/** A manager on a manual clock, and a recorder of every event of its caches. */
export function setup(options: Omit<CacheManagerOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const manager = new CacheManager({ ...options, clock: clock.now });
  const events: CacheEvent[] = [];
  const addCache = <V = unknown>(name: string, config?: CacheConfig) => {
    const cache = manager.addCache<V>(name, config);
    for (const type of ['put', 'update', 'remove', 'expire', 'evict', 'removeAll'] as const) {
      cache.on(type, (event) => events.push(event as CacheEvent));
    }
    return cache;
  };
  /** Events as `type:key` strings, and forget them. */
  const drain = (): string[] => events.splice(0).map((e) => (e.key === undefined ? e.type : `${e.type}:${e.key}`));
  return { clock, manager, addCache, events, drain };
}

/** A promise and the functions that settle it, for a load the test finishes when it chooses. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A value whose entry under `key` weighs exactly `bytes` by the estimate (an ASCII string). */
export function weighing(key: string, bytes: number): string {
  return 'x'.repeat(bytes - ENTRY_OVERHEAD - key.length - 5);
}
