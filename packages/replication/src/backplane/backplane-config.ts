/**
 * The `backplane` section of a node's configuration: replication through Redis Streams instead of
 * peer links (docs/backplane.md). Validated field by field; errors name the field.
 *
 *   "backplane": {
 *     "type": "redis",
 *     "url": "redis://:password@10.0.0.5:6379/0",     // or rediss:// (TLS); user:password for ACL users
 *     "caFile": "/etc/ssl/redis-ca.pem",              // rediss:// with a private CA
 *     "keyPrefix": "meshcache",                       // keys are <prefix>:{<cluster>}:...
 *     "replayWindowSeconds": 120,                     // entries older than this are refused and trimmed
 *     "maxLength": 100000,                            // stream length bound (XADD MAXLEN ~)
 *     "heartbeatMillis": 2000                         // presence; a node silent for 5 heartbeats is gone
 *   }
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@meshcache/core';
import { shownValue } from '@meshcache/core/internal';

export interface BackplaneConfig {
  type: 'redis';
  /** redis://[[user]:password@]host[:port][/db] or rediss:// (TLS). */
  url: string;
  /** PEM file of the CA that signs the Redis server's certificate (rediss:// only). */
  caFile?: string;
  /** First part of every Redis key this cluster uses. @default 'meshcache' */
  keyPrefix?: string;
  /**
   * How old an entry may be and still be applied; also the stream's retention (MINID trimming).
   * A node away for longer repairs by digest instead of replaying. At most 240, so that
   * tombstones (300 s) outlive it by the clock drift bound (60 s). @default 120
   */
  replayWindowSeconds?: number;
  /** The stream is trimmed to about this many entries (XADD MAXLEN ~), whatever their age. @default 100000 */
  maxLength?: number;
  /** How often a node says it is alive, in ms; gone after 5 missed. @default 2000 */
  heartbeatMillis?: number;
}

export interface ResolvedBackplaneConfig {
  readonly type: 'redis';
  readonly url: string;
  readonly tls: boolean;
  readonly ca: Buffer | undefined;
  readonly host: string;
  /** The database the URL names (its path, or `?db=`, which ioredis also reads); 0 when none. */
  readonly db: number;
  readonly keyPrefix: string;
  readonly replayWindowMillis: number;
  readonly maxLength: number;
  readonly heartbeatMillis: number;
}

export const BACKPLANE_DEFAULTS = Object.freeze({
  keyPrefix: 'meshcache',
  replayWindowSeconds: 120,
  maxLength: 100_000,
  heartbeatMillis: 2000,
});

const FIELDS = ['type', 'url', 'caFile', 'keyPrefix', 'replayWindowSeconds', 'maxLength', 'heartbeatMillis'];

function fail(field: string, problem: string): never {
  throw new ConfigError(undefined, field, problem);
}

/** Absent: the default; given (null too, which is not "the default"), checked. */
function whole(field: string, value: unknown, fallback: number, min: number, max: number): number {
  const resolved = value === undefined ? fallback : value;
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < min || resolved > max) {
    fail(`backplane.${field}`, `must be a whole number from ${min} to ${max}, got ${shownValue(resolved)}`);
  }
  return resolved;
}

/** @throws ConfigError naming `backplane.<field>`. */
export function resolveBackplaneConfig(raw: unknown): ResolvedBackplaneConfig | undefined {
  if (raw === undefined) return undefined;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail('backplane', 'must be an object: { "type": "redis", "url": "redis://host:6379" }');
  }
  const section = raw as Record<string, unknown>;
  for (const field of Object.keys(section)) {
    if (!FIELDS.includes(field)) fail(`backplane.${field}`, `is not an option here; known: ${FIELDS.join(', ')}`);
  }
  if (section['type'] !== 'redis') fail('backplane.type', `must be "redis", got ${JSON.stringify(section['type'])}`);
  const url = section['url'];
  if (typeof url !== 'string' || url === '') fail('backplane.url', 'must be a redis:// or rediss:// URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never the password: one with # / ? @ in it, not percent-encoded, is the likeliest cause.
    fail(
      'backplane.url',
      `is not a URL: ${JSON.stringify(withoutPassword(url))}; percent-encode # / ? @ : % and spaces in a user or password (# as %23)`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    fail('backplane.url', `must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }
  if (parsed.hostname === '') fail('backplane.url', 'must name a host');
  // new URL() takes port 0 (then every connection was refused, said as Redis being unreachable).
  if (parsed.port === '0') fail('backplane.url', 'names port 0; Redis listens on a port from 1 to 65535');
  const db = databaseOf(parsed);
  const tls = parsed.protocol === 'rediss:';
  let ca: Buffer | undefined;
  const caFile = section['caFile'];
  if (caFile !== undefined) {
    if (!tls) fail('backplane.caFile', 'is for rediss:// URLs only');
    if (typeof caFile !== 'string' || caFile === '') fail('backplane.caFile', 'must be the path of a PEM file');
    try {
      ca = readFileSync(caFile);
    } catch (error) {
      fail('backplane.caFile', `cannot be read: ${(error as Error).message}`);
    }
    // As tls.caFile is checked: a file of something else failed only at the first TLS handshake with Redis.
    try {
      new X509Certificate(ca);
    } catch (error) {
      fail('backplane.caFile', `is not a PEM certificate (${caFile}): ${(error as Error).message}`);
    }
  }
  const keyPrefix = section['keyPrefix'] === undefined ? BACKPLANE_DEFAULTS.keyPrefix : section['keyPrefix'];
  if (typeof keyPrefix !== 'string' || keyPrefix === '' || /[{}\s]/.test(keyPrefix)) {
    fail('backplane.keyPrefix', 'must be a non-empty string without braces or spaces');
  }
  return {
    type: 'redis',
    url,
    tls,
    ca,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    db,
    keyPrefix,
    replayWindowMillis:
      whole('replayWindowSeconds', section['replayWindowSeconds'], BACKPLANE_DEFAULTS.replayWindowSeconds, 5, 240) *
      1000,
    maxLength: whole('maxLength', section['maxLength'], BACKPLANE_DEFAULTS.maxLength, 1000, 100_000_000),
    heartbeatMillis: whole(
      'heartbeatMillis',
      section['heartbeatMillis'],
      BACKPLANE_DEFAULTS.heartbeatMillis,
      100,
      60_000,
    ),
  };
}

/**
 * The database a URL names: its path (`/3`), or `?db=3`, which ioredis reads too. A path that is
 * not a number was taken by ioredis as database NaN, whose SELECT failed unhandled and ended the
 * process at its first connection; anything else there is refused here, naming the field.
 */
function databaseOf(url: URL): number {
  const inPath = url.pathname === '' || url.pathname === '/' ? undefined : url.pathname.slice(1);
  const inQuery = url.searchParams.get('db') ?? undefined;
  for (const named of [inPath, inQuery]) {
    if (named !== undefined && !/^\d{1,9}$/.test(named)) {
      fail(
        'backplane.url',
        `names database ${JSON.stringify(named)}; a database is a number, as in redis://host:6379/0`,
      );
    }
  }
  if (inPath !== undefined && inQuery !== undefined && Number(inPath) !== Number(inQuery)) {
    fail('backplane.url', `names two databases, ${inPath} in its path and ${inQuery} in ?db=`);
  }
  return Number(inQuery ?? inPath ?? 0);
}

/**
 * A URL that does not parse, as an error shows it: everything between `//` and the last `@`
 * (where a password with # / ? in it ends) masked but the user name, and every query value
 * (`?password=`, which ioredis reads, as redact() masks it).
 */
function withoutPassword(url: string): string {
  const start = url.indexOf('//');
  const at = url.lastIndexOf('@');
  let shown = url;
  if (start !== -1 && at > start) {
    const userinfo = url.slice(start + 2, at);
    const colon = userinfo.indexOf(':');
    shown = `${url.slice(0, start + 2)}${colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`}@${url.slice(at + 1)}`;
  }
  const query = shown.indexOf('?', start === -1 ? 0 : shown.indexOf('@', start) + 1);
  return query === -1 ? shown : `${shown.slice(0, query)}${shown.slice(query).replace(/=[^&#]*/g, '=***')}`;
}
