/**
 * Every error meshcache throws on purpose is a MeshcacheError with a stable `code`, so callers
 * can branch on the code instead of parsing messages. The codes are listed in docs/errors.md and
 * are only ever added to, never renamed.
 */

/** The closed list of error codes raised by @meshcache/core. */
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_INVALID_ARGUMENT'
  | 'E_VALUE_NOT_ENCODABLE'
  | 'E_CACHE_CLOSED'
  | 'E_DISK_UNWRITABLE'
  | 'E_DISK_LOCKED'
  | 'E_DISK_CORRUPT'
  | 'E_DISK_FORMAT'
  | 'E_DISK_WRITE';

export class MeshcacheError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshcacheError';
    this.code = code;
  }
}

/** A configuration value that cannot be used. The message names the cache and the field. */
export class ConfigError extends MeshcacheError {
  /** The cache the bad field belongs to, or undefined for manager-wide options. */
  readonly cacheName: string | undefined;
  /** The offending field, dotted for nested fields (`replication.replicatePuts`). */
  readonly field: string;

  constructor(cacheName: string | undefined, field: string, problem: string) {
    const where = cacheName === undefined ? `option "${field}"` : `cache "${cacheName}": field "${field}"`;
    super('E_CONFIG', `${where} ${problem}`);
    this.name = 'ConfigError';
    this.cacheName = cacheName;
    this.field = field;
  }
}

/**
 * A configuration value as an error about it shows it: as JSON writes it (a string quoted, so "5"
 * is told from 5), but numbers JSON cannot write (Infinity, NaN) as themselves, a bigint as its
 * literal (`10n`), and anything JSON refuses (a cycle) by its kind. JSON.stringify threw on a
 * bigint, so `"port": 40001n` was a TypeError about serializing instead of an error naming the field.
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  }
}

/** A value that cannot go to disk or to peers, found at put time so nothing is stored as something else. */
export class ValueNotEncodableError extends MeshcacheError {
  readonly cacheName: string;
  readonly key: string;
  /** Where in the value the problem is: `value`, `value.headers`, `value[2]`, ... */
  readonly path: string;

  /**
   * `bound`: set when the value is encodable but larger (`bytes`) or nested deeper (`depth`) than
   * the cache allows.
   */
  constructor(
    cacheName: string,
    key: string,
    path: string,
    problem: string,
    reason: string,
    bound?: { readonly bytes: number } | { readonly depth: number },
  ) {
    const why =
      bound === undefined
        ? 'its values must be msgpack-encodable (plain objects, arrays, strings, numbers, booleans, null, Buffers/Uint8Arrays, Dates, Maps, Sets)'
        : 'bytes' in bound
          ? `a value (with its key) may take at most ${bound.bytes} bytes encoded`
          : `a value may nest at most ${bound.depth} levels of containers`;
    super(
      'E_VALUE_NOT_ENCODABLE',
      `cache "${cacheName}": cannot store key "${key}": ${path} ${problem}; this cache ${reason}, so ${why}`,
    );
    this.name = 'ValueNotEncodableError';
    this.cacheName = cacheName;
    this.key = key;
    this.path = path;
  }
}
