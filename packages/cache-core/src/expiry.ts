/**
 * Which lifespan an entry gets. Ehcache's rules: the cache's TTL and TTI apply unless the entry
 * says otherwise; an entry that names only a TTL has no TTI (the cache's is not merged in);
 * `eternal: true` means never, for the cache and for an entry; a cache that is eternal ignores
 * its own TTL/TTI but not an entry's.
 */
import { describe, type EntryOptions, ETERNAL, type Lifespan, type ResolvedCacheConfig } from './config.js';
import { MeshcacheError } from './errors.js';

export function cacheLifespan(config: ResolvedCacheConfig): Lifespan {
  if (config.eternal) return ETERNAL;
  return Object.freeze({
    timeToLiveSeconds: config.timeToLiveSeconds,
    timeToIdleSeconds: config.timeToIdleSeconds,
  });
}

function checkSeconds(cacheName: string, field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `cache "${cacheName}": entry option "${field}" must be a number of seconds >= 0 (0 = never), got ${describe(value)}`,
    );
  }
  return value;
}

/** The options a put takes. */
export const ENTRY_OPTIONS: ReadonlySet<string> = new Set(['timeToLiveSeconds', 'timeToIdleSeconds', 'eternal']);

/** @throws MeshcacheError E_INVALID_ARGUMENT naming the first option of `options` not in `known` (an undefined one is nothing said). */
export function checkOptionNames(cacheName: string, options: object, known: ReadonlySet<string>): void {
  for (const name in options) {
    if (!known.has(name) && (options as Record<string, unknown>)[name] !== undefined) {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `cache "${cacheName}": ${JSON.stringify(name)} is not an entry option (${[...known].join(', ')})`,
      );
    }
  }
}

/**
 * The lifespan of one entry, given the cache's default and the entry's own options. An option
 * not in `known` (a typo, `{ ttl: 60 }`, or another library's name) is refused rather than
 * ignored: ignored, it would leave the entry with the cache's lifespan and no word said.
 */
export function entryLifespan(
  cacheName: string,
  defaults: Lifespan,
  options: EntryOptions | null | undefined,
  known: ReadonlySet<string> = ENTRY_OPTIONS,
): Lifespan {
  if (options === undefined || options === null) return defaults;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `cache "${cacheName}": entry options must be an object ({ timeToLiveSeconds: 60 }), got ${Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  checkOptionNames(cacheName, options, known);
  const ttl = checkSeconds(cacheName, 'timeToLiveSeconds', options.timeToLiveSeconds);
  const tti = checkSeconds(cacheName, 'timeToIdleSeconds', options.timeToIdleSeconds);
  if (options.eternal !== undefined && typeof options.eternal !== 'boolean') {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `cache "${cacheName}": entry option "eternal" must be true or false, got ${describe(options.eternal)}`,
    );
  }
  if (options.eternal === true) return ETERNAL;
  if (ttl === undefined && tti === undefined) return defaults;
  return { timeToLiveSeconds: ttl ?? 0, timeToIdleSeconds: tti ?? 0 };
}
