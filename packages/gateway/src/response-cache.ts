/**
 * Whether and for how long a response may be kept (RFC 9111, as a shared cache).
 *
 * The policy, for a shared cache: only statuses RFC 9111 lets a cache store by default; never
 * with `no-store`, `private` or `no-cache` (this cache does not revalidate), nor `Vary: *`, nor
 * `Pragma: no-cache` without Cache-Control; freshness from `s-maxage`, else `max-age`, else
 * `Expires` minus `Date`, else the caller's default (0: not cached). A response to a request that
 * carried Authorization is stored only if it says `public`, `s-maxage` or `must-revalidate`
 * (RFC 9111 section 3.5).
 */
import { type Headers, headerValue as header } from './headers.js';

export interface CachedResponse {
  readonly status: number;
  readonly headers: Headers;
}

export interface CachePolicyOptions {
  /** Seconds to keep a cacheable response that says nothing about freshness. @default 0 (not kept) */
  readonly defaultTtlSeconds?: number;
  /** Upper bound on any TTL. @default no bound */
  readonly maxTtlSeconds?: number;
  /** The request's headers (for the Authorization rule). */
  readonly requestHeaders?: Headers;
  /** Epoch ms, for Expires. @default Date.now */
  readonly now?: number;
}

export type CacheDecision =
  | { readonly cacheable: true; readonly ttlSeconds: number; readonly reason: string }
  | { readonly cacheable: false; readonly reason: string };

/** Statuses a cache may store without explicit freshness (RFC 9110 section 15.1). */
const CACHEABLE_STATUSES = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Cache-Control directives, names lowercased, values unquoted (`true` for bare directives). */
export function parseCacheControl(value: string | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  if (value === undefined) return directives;
  for (const part of value.split(',')) {
    const [rawName, ...rest] = part.split('=');
    const name = rawName?.trim().toLowerCase();
    if (name === undefined || name === '') continue;
    const raw = rest.join('=').trim();
    directives.set(name, raw === '' ? true : raw.replace(/^"(.*)"$/, '$1'));
  }
  return directives;
}

function seconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** Whether a shared cache may keep `response`, and for how long. */
export function cachePolicy(response: CachedResponse, options: CachePolicyOptions = {}): CacheDecision {
  if (!CACHEABLE_STATUSES.has(response.status))
    return { cacheable: false, reason: `status ${response.status} is not cacheable by default` };
  const cacheControl = header(response.headers, 'cache-control');
  const cc = parseCacheControl(cacheControl);
  if (cc.has('no-store')) return { cacheable: false, reason: 'no-store' };
  if (cc.has('private')) return { cacheable: false, reason: 'private (a shared cache must not keep it)' };
  if (cc.has('no-cache')) return { cacheable: false, reason: 'no-cache (would need revalidation on every use)' };
  if (cacheControl === undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(header(response.headers, 'pragma') ?? '')) {
    return { cacheable: false, reason: 'Pragma: no-cache' };
  }
  if ((header(response.headers, 'vary') ?? '').split(',').some((v) => v.trim() === '*'))
    return { cacheable: false, reason: 'Vary: *' };
  if (
    header(options.requestHeaders, 'authorization') !== undefined &&
    !cc.has('public') &&
    !cc.has('s-maxage') &&
    !cc.has('must-revalidate')
  ) {
    return {
      cacheable: false,
      reason: 'the request carried Authorization and the response is not marked public, s-maxage or must-revalidate',
    };
  }
  let ttl: number | undefined;
  let reason: string;
  const shared = seconds(cc.get('s-maxage'));
  const maxAge = seconds(cc.get('max-age'));
  if (shared !== undefined) {
    ttl = shared;
    reason = 's-maxage';
  } else if (maxAge !== undefined) {
    ttl = maxAge;
    reason = 'max-age';
  } else if (header(response.headers, 'expires') !== undefined) {
    const expires = Date.parse(header(response.headers, 'expires') ?? '');
    const date = Date.parse(header(response.headers, 'date') ?? '');
    const now = Number.isNaN(date) ? (options.now ?? Date.now()) : date;
    ttl = Number.isNaN(expires) ? 0 : Math.max(0, Math.floor((expires - now) / 1000)); // an invalid Expires means "already expired"
    reason = 'Expires';
  } else {
    ttl = options.defaultTtlSeconds ?? 0;
    reason = 'the default TTL (no freshness information)';
  }
  if (options.maxTtlSeconds !== undefined && ttl > options.maxTtlSeconds) {
    ttl = options.maxTtlSeconds;
    reason = `${reason}, capped`;
  }
  if (ttl <= 0) return { cacheable: false, reason: `${reason} gives no freshness` };
  return { cacheable: true, ttlSeconds: ttl, reason };
}
