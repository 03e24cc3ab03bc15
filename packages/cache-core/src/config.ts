/**
 * Cache configuration: Ehcache 2's field names and meanings, one frozen object of defaults, and
 * validation at addCache that names the cache and the field. Where meshcache departs from
 * Ehcache it is stricter: Ehcache silently replaces a bad policy name with LRU and a bad sweep
 * interval with 120; meshcache refuses both, because a typo in a config file should not change
 * behaviour quietly. docs/configuration.md describes every field.
 */

import { isWellFormed } from './encodable.js';
import { ConfigError } from './errors.js';

export type EvictionPolicyName = 'LRU' | 'LFU' | 'FIFO' | 'TINYLFU';

export const EVICTION_POLICY_NAMES: readonly EvictionPolicyName[] = Object.freeze(['LRU', 'LFU', 'FIFO', 'TINYLFU']);

export interface CacheConfig {
  /** Most entries held in memory; 0 = unlimited. @default 10000 */
  maxElementsInMemory?: number;
  /** Most entries held on disk; 0 = unlimited. @default 0 */
  maxElementsOnDisk?: number;
  /** Entries never expire; TTL and TTI are ignored (per-entry options still apply). @default false */
  eternal?: boolean;
  /** Entries evicted from memory move to the disk tier instead of leaving the cache. @default false */
  overflowToDisk?: boolean;
  /** Expire an entry when it has not been read for this long; 0 = never. @default 0 */
  timeToIdleSeconds?: number;
  /** Expire an entry this long after it was created (a put creates anew); 0 = never. @default 0 */
  timeToLiveSeconds?: number;
  /** The disk tier survives restarts and crashes (up to the spool window). @default false */
  diskPersistent?: boolean;
  /** Period of the sweep that removes expired entries from memory and disk. @default 120 */
  diskExpiryThreadIntervalSeconds?: number;
  /** Bound on bytes written to disk but not yet committed. @default 30 */
  diskSpoolBufferSizeMB?: number;
  /**
   * Which entry leaves when memory is full: 'LRU', 'LFU', 'FIFO' or 'TINYLFU' (W-TinyLFU, the
   * highest hit ratio; docs/configuration.md compares them), case-insensitive. @default 'LRU'
   */
  memoryStoreEvictionPolicy?: EvictionPolicyName | Lowercase<EvictionPolicyName>;
  /**
   * Most bytes the cache's entries may take in memory, as Ehcache's maxBytesLocalHeap: a number of
   * bytes, or a string of a whole number with a unit, "512k", "256m", "2g" (units of 1024; "b" or
   * none for bytes). Each entry is sized by an estimate (docs/configuration.md), and past the bound
   * the policy's victims leave as they do for maxElementsInMemory. Given without
   * maxElementsInMemory, the count is not bounded (Ehcache's rule: a cache is sized by one or the
   * other); given with it, both bounds hold. 0 = no byte bound. @default 0
   */
  maxBytesLocalHeap?: number | string;
}

/** A validated configuration: every field present, times in seconds as given. */
export interface ResolvedCacheConfig {
  readonly maxElementsInMemory: number;
  readonly maxElementsOnDisk: number;
  readonly eternal: boolean;
  readonly overflowToDisk: boolean;
  readonly timeToIdleSeconds: number;
  readonly timeToLiveSeconds: number;
  readonly diskPersistent: boolean;
  readonly diskExpiryThreadIntervalSeconds: number;
  readonly diskSpoolBufferSizeMB: number;
  readonly memoryStoreEvictionPolicy: EvictionPolicyName;
  /** Bytes; 0 = no byte bound. */
  readonly maxBytesLocalHeap: number;
}

export const CACHE_DEFAULTS: ResolvedCacheConfig = Object.freeze({
  maxElementsInMemory: 10_000,
  maxElementsOnDisk: 0,
  eternal: false,
  overflowToDisk: false,
  timeToIdleSeconds: 0,
  timeToLiveSeconds: 0,
  diskPersistent: false,
  diskExpiryThreadIntervalSeconds: 120,
  diskSpoolBufferSizeMB: 30,
  memoryStoreEvictionPolicy: 'LRU',
  maxBytesLocalHeap: 0,
});

/** The shortest period of the expiry sweep, as the replication intervals' shortest is 10 ms. */
const MIN_SWEEP_SECONDS = 0.01;

type FieldKind = 'count' | 'seconds' | 'sweepSeconds' | 'positiveNumber' | 'boolean' | 'policy' | 'bytes';

const FIELD_KINDS: Readonly<Record<keyof CacheConfig, FieldKind>> = Object.freeze({
  maxElementsInMemory: 'count',
  maxElementsOnDisk: 'count',
  eternal: 'boolean',
  overflowToDisk: 'boolean',
  timeToIdleSeconds: 'seconds',
  timeToLiveSeconds: 'seconds',
  diskPersistent: 'boolean',
  diskExpiryThreadIntervalSeconds: 'sweepSeconds',
  diskSpoolBufferSizeMB: 'positiveNumber',
  memoryStoreEvictionPolicy: 'policy',
  maxBytesLocalHeap: 'bytes',
});

/** Ehcache's memory units, by their letter (MemoryUnit.parseSizeInBytes): powers of 1024. */
const BYTE_UNITS: Readonly<Record<string, number>> = Object.freeze({
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
});

/** "256m", "2G", "512k", "100", "100b": a whole number and an optional unit letter. */
const BYTES_TEXT = /^\s*(\d+)\s*([bkmgt])?\s*$/i;

/** The bytes `text` says (see BYTES_TEXT); undefined for other text, or past 2^53 - 1. */
export function parseBytes(text: string): number | undefined {
  const match = BYTES_TEXT.exec(text);
  if (match === null) return undefined;
  const bytes = Number(match[1]) * (BYTE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Fields that belong to the cluster configuration, not to a CacheManager. */
const CLUSTER_FIELDS = new Set(['replication', 'bootstrap']);

/**
 * Ehcache 2 attributes a user may carry over by hand, and what to write instead. Ehcache 2.5
 * renamed maxElementsInMemory and maxElementsOnDisk (its annotated ehcache.xml uses the new names,
 * and Ehcache took either); meshcache keeps the older ones, which the gateway guide uses. Said in
 * the error, since "known fields: maxElementsInMemory, ..." left the Ehcache user to guess that
 * maxEntriesLocalHeap is that field.
 */
const EHCACHE_FIELD_HINTS: Readonly<Record<string, string>> = Object.freeze({
  maxEntriesLocalHeap: "it is Ehcache 2.5's name for maxElementsInMemory; write maxElementsInMemory",
  maxEntriesLocalDisk: "it is Ehcache 2.5's name for maxElementsOnDisk; write maxElementsOnDisk",
  statistics: 'meshcache always keeps statistics (cache.statistics()); leave it out',
  clearOnFlush: "Ehcache's flush has no equivalent here; leave it out",
  diskAccessStripes: 'the disk tier (lmdb) has no stripes; leave it out',
});

/** A value as an error about a cache's or a manager's option shows it. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * A cache's name goes where a control character or half of a UTF-16 pair does not survive: it
 * names the cache's lmdb database (lmdb's key encoding ends a string at U+0000, so "a" and
 * "a\u0000b" shared one database and lost each other's entries at a restart), it crosses to peers
 * as UTF-8 (a lone surrogate arrives as U+FFFD, another name) and it is shown in logs. Refused.
 */
function checkCacheName(cacheName: string): void {
  // Blank is empty here too (addCache said so, the cluster configuration's check did not).
  if (cacheName.trim() === '') throw new ConfigError(cacheName, 'name', 'must be a non-empty string');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: names with control characters are refused
  const control = /[\u0000-\u001f\u007f-\u009f]/.test(cacheName);
  if (!control && isWellFormed(cacheName)) return;
  // Shown escaped: JSON escapes U+0000-U+001F and lone surrogates, not DEL and U+0080-U+009F.
  const escaped = JSON.stringify(cacheName.slice(0, 80))
    .slice(1, -1)
    .replace(/[\u007f-\u009f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  throw new ConfigError(
    escaped,
    'name',
    control
      ? 'has a control character: a cache name is stored on disk, sent to peers and logged, and must not hold one'
      : 'has a lone surrogate (half of a UTF-16 character), which UTF-8 cannot carry to peers or to disk',
  );
}

function checkField(cacheName: string, field: string, kind: FieldKind, value: unknown): unknown {
  const bad = (problem: string): never => {
    throw new ConfigError(cacheName, field, `${problem}, got ${describe(value)}`);
  };
  switch (kind) {
    case 'boolean':
      return typeof value === 'boolean' ? value : bad('must be true or false');
    case 'count':
      if (typeof value !== 'number' || !Number.isInteger(value)) return bad('must be a whole number (0 = unlimited)');
      if (value < 0) return bad('must not be negative (0 = unlimited)');
      // 1e300 is an integer to JavaScript, and was taken as a bound no cache reaches: a typo for 0
      // (unlimited) or a unit mixed up, said now rather than read as "unlimited" in other words.
      return value > Number.MAX_SAFE_INTEGER
        ? bad(`is too large (at most ${Number.MAX_SAFE_INTEGER}; 0 = unlimited)`)
        : value;
    case 'seconds':
      if (typeof value !== 'number' || !Number.isFinite(value)) return bad('must be a number of seconds (0 = never)');
      return value < 0 ? bad('must not be negative (0 = never)') : value;
    case 'sweepSeconds':
      // Each sweep reads every entry: a sweep every millisecond kept a core half busy with 200,000.
      if (typeof value !== 'number' || !Number.isFinite(value)) return bad('must be a number of seconds');
      if (value <= 0) return bad('must be greater than 0');
      return value < MIN_SWEEP_SECONDS ? bad(`must be at least ${MIN_SWEEP_SECONDS} (10 ms)`) : value;
    case 'positiveNumber':
      if (typeof value !== 'number' || !Number.isFinite(value)) return bad('must be a number');
      return value <= 0 ? bad('must be greater than 0') : value;
    case 'bytes': {
      const bytes = typeof value === 'string' ? parseBytes(value) : value;
      // A number past 2^53 - 1, or bytes-text that parseBytes could not hold.
      const tooLarge =
        typeof bytes === 'number'
          ? Number.isInteger(bytes) && bytes > Number.MAX_SAFE_INTEGER
          : typeof value === 'string' && BYTES_TEXT.test(value);
      if (tooLarge) return bad(`is too large (at most ${Number.MAX_SAFE_INTEGER} bytes)`);
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes)) {
        return bad('must be a whole number of bytes, or a string such as "512k", "256m" or "2g" (0 = no byte bound)');
      }
      return bytes < 0 ? bad('must not be negative (0 = no byte bound)') : bytes;
    }
    case 'policy': {
      const name = typeof value === 'string' ? value.toUpperCase() : undefined;
      if (name !== undefined && (EVICTION_POLICY_NAMES as readonly string[]).includes(name)) return name;
      return bad(`must be one of ${EVICTION_POLICY_NAMES.map((p) => `'${p}'`).join(', ')}`);
    }
  }
}

/**
 * Validates a user's cache configuration and fills in the defaults.
 * @throws ConfigError naming the cache and the field.
 */
export function resolveCacheConfig(cacheName: string, config: unknown): ResolvedCacheConfig {
  checkCacheName(cacheName);
  if (config === undefined) return CACHE_DEFAULTS;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(cacheName, '(config)', `must be an object, got ${describe(config)}`);
  }
  // Fields are read as an object's own: a Map's entries (or a class's inherited fields) were none,
  // and the cache took every default without a word.
  const prototype = Object.getPrototypeOf(config);
  if (prototype !== Object.prototype && prototype !== null) {
    const kind = (config as { constructor?: { name?: unknown } }).constructor?.name;
    throw new ConfigError(
      cacheName,
      '(config)',
      `must be a plain object of cache options ({ timeToLiveSeconds: 300 }), got ${typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `an instance of ${kind}` : 'an object that inherits its fields'}`,
    );
  }
  const resolved: Record<string, unknown> = { ...CACHE_DEFAULTS };
  for (const [field, value] of Object.entries(config)) {
    const kind = Object.hasOwn(FIELD_KINDS, field) ? FIELD_KINDS[field as keyof CacheConfig] : undefined;
    if (kind === undefined) {
      const hint = CLUSTER_FIELDS.has(field)
        ? '; replication and bootstrap are configured through ClusterNode (@meshcache/replication)'
        : Object.hasOwn(EHCACHE_FIELD_HINTS, field)
          ? `: ${EHCACHE_FIELD_HINTS[field]}`
          : `; known fields: ${Object.keys(FIELD_KINDS).join(', ')}`;
      throw new ConfigError(cacheName, field, `is not a cache option${hint}`);
    }
    if (value === undefined) continue;
    resolved[field] = checkField(cacheName, field, kind, value);
  }
  // Sized by bytes alone, as Ehcache sizes a cache by one or the other: the default count bound
  // does not apply. Both given, both hold.
  if ((resolved['maxBytesLocalHeap'] as number) > 0 && (config as CacheConfig).maxElementsInMemory === undefined) {
    resolved['maxElementsInMemory'] = 0;
  }
  return Object.freeze(resolved) as unknown as ResolvedCacheConfig;
}

/** Per-entry options of put and getOrLoad; they replace the cache's expiry settings for that entry. */
export interface EntryOptions {
  /** This entry's time to live; given alone, the entry has no time to idle. */
  timeToLiveSeconds?: number;
  /** This entry's time to idle; given alone, the entry has no time to live. */
  timeToIdleSeconds?: number;
  /** true: this entry never expires. false: the entry uses the cache's settings unless TTL/TTI are given. */
  eternal?: boolean;
}

/** The lifespan an entry ends up with, in seconds (0 = never). */
export interface Lifespan {
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
}

export const ETERNAL: Lifespan = Object.freeze({ timeToLiveSeconds: 0, timeToIdleSeconds: 0 });
