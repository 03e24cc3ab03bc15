/**
 * Whether a shared cache may keep a response, what of it, and for how long (RFC 9111 as a shared
 * cache, with RFC 5861's stale-while-revalidate and stale-if-error). A pure function of the
 * response, the request's headers and two instants: no clock, no I/O, no framework, so a
 * node:http gateway, a Fastify plugin and a test table all call the same thing.
 *
 * What it decides, rule by rule (the test table in test/cache-policy.test.ts has a row each):
 * - Status. A final status; never 206 (this cache does not combine or serve partial content)
 *   nor 304. Without explicit freshness only the heuristically cacheable statuses are kept
 *   (RFC 9110 section 15.1), and then fresh for `defaultTtlSeconds`: with 0 (the default), not
 *   kept, unless it has a validator (below): then kept to be revalidated on every use.
 * - Refusals. `no-store` (response or request), `private` (unqualified), `Vary: *`,
 *   `Pragma: no-cache` without Cache-Control (practice, not RFC 9111).
 * - Credentials. A response to a request carrying Authorization is kept only if it says
 *   `public`, `s-maxage` or `must-revalidate` (RFC 9111 section 3.5). This cache applies the same
 *   rule to Cookie (`credentialRequestHeaders`), and lifts it for a header the response's Vary
 *   names: then the stored response is only ever used for requests with that same value.
 * - Per-user response headers. Set-Cookie, Set-Cookie2 and Authentication-Info carry one user's
 *   state. By default a response carrying one is not kept at all (as Varnish does): the same
 *   answer that sets a session often greets its user by name. `perUserHeaders: 'strip'` keeps the
 *   response without them; a qualified `private="set-cookie"` or `no-cache="set-cookie"` is the
 *   origin saying the rest may be shared, and strips them whatever the option.
 * - Stored headers. Not Connection and the fields it lists, nor the other hop-by-hop fields, nor
 *   the Proxy-* authentication fields (RFC 9111 section 3.1), nor Age (recomputed on every use),
 *   nor the fields named by a qualified `private` or `no-cache`. A response without a valid Date
 *   is stored with one, `now` (RFC 9110 section 6.6.1: a recipient with a clock that caches a
 *   response without Date must add the time it was received), so every later answer says how old
 *   it is to a client that computes its age.
 * - Freshness (section 4.2.1): `s-maxage`, else `max-age`, else `Expires` minus `Date` (the
 *   response time without Date), else the default; an invalid `max-age` or `Expires` means
 *   stale. Capped by `maxTtlSeconds`.
 * - Age (section 4.2.3): the corrected initial age is the larger of Date's apparent age and the
 *   upstream Age plus the time the request took; it is taken off the freshness lifetime, so a
 *   response that spent its life in another cache is not kept for its whole max-age again.
 * - Stale use. `stale-while-revalidate` and `stale-if-error` grant windows past freshness;
 *   `must-revalidate`, `proxy-revalidate` and `no-cache` forbid any stale use. `s-maxage` implies
 *   proxy-revalidate, but an explicit stale-* directive beside it wins: the origin sent both, and
 *   RFC 5861 has stale-if-error apply "regardless of other freshness information".
 * - Validators. With an ETag or Last-Modified a stale response can be revalidated with a
 *   conditional request, so it is kept `revalidationWindowSeconds` past freshness; a `no-cache`
 *   response is kept only then (fresh for 0 s: every use is revalidated).
 *
 * Not decided here: which methods are cached (the ResponseCache's `methods`), heuristic freshness
 * from Last-Modified (use `defaultTtlSeconds`), `must-understand`, the request's own max-age,
 * min-fresh and max-stale (the ResponseCache reads max-age and no-cache).
 */

import { MeshcacheError } from '@meshcache/core';
import { ageSeconds, deltaSeconds, fieldNames, httpDate, parseCacheControl } from './cache-control.js';
import { type Headers, headerTokens, headerValue } from './headers.js';
import { refuseUnknownOptions } from './option-names.js';

/** The response a cache is asked to keep: status and headers (the body does not change the decision). */
export interface CachedResponse {
  readonly status: number;
  readonly headers: Headers;
}

export interface CachePolicyOptions {
  /** The request's headers: Authorization, Cookie and the request's own Cache-Control. */
  readonly requestHeaders?: Headers;
  /** When the request was sent upstream, epoch ms (for the Age calculation). @default now */
  readonly requestTime?: number;
  /** When the response arrived, epoch ms. @default Date.now() */
  readonly now?: number;
  /**
   * Freshness lifetime for a heuristically cacheable response that says nothing about freshness
   * (RFC 9111 section 4.2.2). @default 0 (not kept)
   */
  readonly defaultTtlSeconds?: number;
  /** Upper bound on any freshness lifetime. @default no bound */
  readonly maxTtlSeconds?: number;
  /** How long a stale response with an ETag or Last-Modified is kept to be revalidated. @default 600 */
  readonly revalidationWindowSeconds?: number;
  /**
   * Upper bound on how long anything is kept, stale windows included; above 0 (a meshcache TTL
   * of 0 means "never expires", so 0 is refused rather than keeping everything for good).
   * @default 86400
   */
  readonly maxStoreSeconds?: number;
  /**
   * What to do with a response that carries Set-Cookie, Set-Cookie2 or Authentication-Info:
   * 'refuse' keeps nothing, 'strip' keeps the response without them. @default 'refuse'
   */
  readonly perUserHeaders?: 'refuse' | 'strip';
  /**
   * Request headers that identify a user: a response to a request carrying one is kept only if it
   * says public, s-maxage or must-revalidate, or its Vary names the header.
   * @default ['authorization', 'cookie']
   */
  readonly credentialRequestHeaders?: readonly string[];
  /**
   * The only statuses this cache keeps; any other is refused whatever its headers say (a gateway
   * that never wants to serve a cached 5xx lists its 2xx, 3xx and 4xx here). Statuses RFC 9111
   * never lets this cache keep (206, 304) stay refused even when listed.
   * @default every final status, as RFC 9111 allows
   */
  readonly cacheableStatuses?: readonly number[];
}

export const CACHE_POLICY_DEFAULTS = Object.freeze({
  defaultTtlSeconds: 0,
  revalidationWindowSeconds: 600,
  maxStoreSeconds: 86_400,
  perUserHeaders: 'refuse' as const,
  credentialRequestHeaders: Object.freeze(['authorization', 'cookie']) as readonly string[],
});

/** Stored header fields: names lower-cased, a list where the field had several lines. */
export type StoredHeaders = Readonly<Record<string, string | readonly string[]>>;

export interface StoreDecision {
  readonly cacheable: true;
  /** Where the freshness came from (s-maxage, max-age, Expires, the default TTL), and any cap. */
  readonly reason: string;
  /** The freshness lifetime (section 4.2.1), capped by maxTtlSeconds. */
  readonly freshnessLifetimeSeconds: number;
  /** The corrected initial age (section 4.2.3): how old the response already is on arrival. */
  readonly initialAgeSeconds: number;
  /** How long it stays fresh from now: lifetime minus initial age, at least 0. */
  readonly freshSeconds: number;
  /** How long past freshness it may be served while it is revalidated in the background (RFC 5861). */
  readonly staleWhileRevalidateSeconds: number;
  /** How long past freshness it may be served when the origin fails (RFC 5861). */
  readonly staleIfErrorSeconds: number;
  /** No stale use at all: must-revalidate, proxy-revalidate or no-cache. */
  readonly mustRevalidate: boolean;
  /** What a conditional request can send: the ETag and Last-Modified, when present. */
  readonly validators: { readonly etag?: string; readonly lastModified?: string };
  /** The request headers its Vary names, lower-cased and sorted: its secondary key. */
  readonly vary: readonly string[];
  /** The headers to store (see the list above). */
  readonly headers: StoredHeaders;
  /** How long to keep the entry: fresh, then its longest stale or revalidation window, capped. */
  readonly storeSeconds: number;
}

export type CacheDecision = StoreDecision | { readonly cacheable: false; readonly reason: string };

/** Statuses a cache may store without explicit freshness (RFC 9110 section 15.1), less 206. */
const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Response fields about the connection, not the response (RFC 9110 section 7.6.1): never stored. */
export const HOP_BY_HOP_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Response fields for the proxy on the way (RFC 9111 section 3.1): never stored. */
export const PROXY_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  'proxy-authenticate',
  'proxy-authentication-info',
]);

/** Never stored (RFC 9111 section 3.1): hop-by-hop, proxy authentication, and Age (recomputed on use). */
export const NOT_STORED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_RESPONSE_HEADERS,
  ...PROXY_RESPONSE_HEADERS,
  'proxy-authorization',
  'age',
]);

/** Response headers that carry one user's state. */
export const PER_USER_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  'set-cookie',
  'set-cookie2',
  'authentication-info',
]);

const refuse = (reason: string): CacheDecision => ({ cacheable: false, reason });

/**
 * `now` as an HTTP date (whole seconds), made once a second: formatting a Date was the dearest
 * line of a decision (about 2 µs of a Fastify miss, whose handler set no Date).
 */
let formatted = { second: Number.NaN, text: '' };
function httpDateText(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== formatted.second) formatted = { second, text: new Date(now).toUTCString() };
  return formatted.text;
}

/** Whether a shared cache may keep `response`, what of it, and for how long. */
export function cachePolicy(response: CachedResponse, options: CachePolicyOptions = {}): CacheDecision {
  checkResponse(response);
  checkOptions(options);
  return decide(response, options, options);
}

/** What a store brings to cachePolicyWithCheckedOptions besides the cache's own options. */
export type PolicyCall = Pick<CachePolicyOptions, 'requestHeaders' | 'requestTime' | 'now'>;

/**
 * cachePolicy for a caller that checked its options once (ResponseCache, at construction): the
 * response and the call's own times (now, requestTime) are still checked. Checked whole on every
 * store, the options cost a Fastify miss about 2.5 µs.
 */
export function cachePolicyWithCheckedOptions(
  response: CachedResponse,
  options: CachePolicyOptions,
  call: PolicyCall,
): CacheDecision {
  checkResponse(response);
  for (const name of ['now', 'requestTime'] as const) checkSeconds(call, name, 'cachePolicy');
  return decide(response, options, call);
}

/** `call` gives the request's fields and times (options' are not read): no object spread per store. */
function decide(response: CachedResponse, options: CachePolicyOptions, call: PolicyCall): CacheDecision {
  const now = call.now ?? Date.now();
  const requestTime = call.requestTime ?? now;
  const status = response.status;
  if (!Number.isInteger(status) || status < 200 || status > 599) return refuse(`status ${status} is not final`);
  if (status === 206) return refuse('status 206: this cache does not combine or serve partial content');
  if (status === 304) return refuse('status 304 is an answer to a conditional request, not a response to keep');
  if (options.cacheableStatuses !== undefined && !options.cacheableStatuses.includes(status)) {
    return refuse(`status ${status} is not in cacheableStatuses`);
  }

  const requestCc = parseCacheControl(headerValue(call.requestHeaders, 'cache-control'));
  if (requestCc.has('no-store')) return refuse('the request said no-store');
  const cacheControl = headerValue(response.headers, 'cache-control');
  const cc = parseCacheControl(cacheControl);
  if (cc.has('no-store')) return refuse('no-store');
  const privateFields = fieldNames(cc.get('private'));
  if (cc.has('private') && privateFields.length === 0) {
    return refuse('private (a shared cache must not keep it)');
  }
  if (cacheControl === undefined && headerTokens(response.headers, 'pragma').includes('no-cache')) {
    return refuse('Pragma: no-cache');
  }
  const vary = [...new Set(headerTokens(response.headers, 'vary'))].sort();
  if (vary.includes('*')) return refuse('Vary: *');

  const credentials = options.credentialRequestHeaders ?? CACHE_POLICY_DEFAULTS.credentialRequestHeaders;
  const sharedByOrigin = cc.has('public') || cc.has('s-maxage') || cc.has('must-revalidate');
  for (const name of credentials) {
    const lower = name.toLowerCase();
    if (headerValue(call.requestHeaders, lower) === undefined || sharedByOrigin || vary.includes(lower)) continue;
    return refuse(
      `the request carried ${lower} and the response is not marked public, s-maxage or must-revalidate, nor varies on it`,
    );
  }

  // Field names the origin says must not be stored (qualified private) or used unvalidated (qualified no-cache).
  const noCacheFields = fieldNames(cc.get('no-cache'));
  const unqualifiedNoCache = cc.has('no-cache') && noCacheFields.length === 0;
  const withheld = new Set([...privateFields, ...noCacheFields]);
  const perUser = PER_USER_RESPONSE_HEADERS.filter(
    (name) => headerValue(response.headers, name) !== undefined && !withheld.has(name),
  );
  if (perUser.length > 0 && (options.perUserHeaders ?? CACHE_POLICY_DEFAULTS.perUserHeaders) === 'refuse') {
    return refuse(`${perUser.join(', ')}: a per-user header (perUserHeaders is 'refuse')`);
  }
  for (const name of perUser) withheld.add(name);

  // Freshness lifetime (section 4.2.1).
  let lifetime: number;
  let reason: string;
  const date = httpDate(response.headers, 'date', now);
  if (cc.has('s-maxage')) {
    lifetime = deltaSeconds(cc.get('s-maxage')) ?? 0; // invalid: stale
    reason = 's-maxage';
  } else if (cc.has('max-age')) {
    lifetime = deltaSeconds(cc.get('max-age')) ?? 0;
    reason = 'max-age';
  } else if (headerValue(response.headers, 'expires') !== undefined) {
    const expires = httpDate(response.headers, 'expires', now);
    // An invalid Expires ("0" included) is a time in the past (section 5.3).
    lifetime = expires === undefined ? 0 : Math.max(0, (expires - (date ?? now)) / 1000);
    reason = 'Expires';
  } else {
    if (!HEURISTICALLY_CACHEABLE.has(status) && !cc.has('public')) {
      return refuse(`status ${status} without explicit freshness is not cacheable`);
    }
    lifetime = options.defaultTtlSeconds ?? CACHE_POLICY_DEFAULTS.defaultTtlSeconds;
    reason = 'the default TTL (no freshness information)';
  }
  if (options.maxTtlSeconds !== undefined && lifetime > options.maxTtlSeconds) {
    lifetime = options.maxTtlSeconds;
    reason = `${reason}, capped`;
  }
  if (unqualifiedNoCache) {
    lifetime = 0;
    reason = 'no-cache (every use is revalidated)';
  }

  const initialAge = correctedInitialAge(response.headers, requestTime, now);
  const fresh = Math.max(0, lifetime - initialAge);

  const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate') || unqualifiedNoCache;
  const staleWhileRevalidate = mustRevalidate ? 0 : (deltaSeconds(cc.get('stale-while-revalidate')) ?? 0);
  const staleIfError = mustRevalidate ? 0 : (deltaSeconds(cc.get('stale-if-error')) ?? 0);
  const etag = headerValue(response.headers, 'etag');
  const lastModified = headerValue(response.headers, 'last-modified');
  const validators = {
    ...(etag === undefined ? {} : { etag }),
    ...(lastModified === undefined ? {} : { lastModified }),
  };
  const revalidationWindow =
    etag === undefined && lastModified === undefined
      ? 0
      : (options.revalidationWindowSeconds ?? CACHE_POLICY_DEFAULTS.revalidationWindowSeconds);
  const store = Math.min(
    options.maxStoreSeconds ?? CACHE_POLICY_DEFAULTS.maxStoreSeconds,
    fresh + Math.max(staleWhileRevalidate, staleIfError, revalidationWindow),
  );
  if (fresh <= 0 && staleWhileRevalidate === 0 && staleIfError === 0 && revalidationWindow === 0) {
    return refuse(
      `${reason} gives no freshness${lifetime > 0 ? ` (the response is already ${initialAge} s old)` : ''}`,
    );
  }

  for (const name of headerTokens(response.headers, 'connection')) withheld.add(name);
  const headers: Record<string, string | readonly string[]> = {};
  for (const name in response.headers) {
    if (!Object.hasOwn(response.headers, name)) continue;
    const value = response.headers[name];
    const lower = name.toLowerCase();
    if (value === undefined || NOT_STORED.has(lower) || withheld.has(lower)) continue;
    const text = typeof value === 'number' ? String(value) : value;
    const held = headers[lower];
    headers[lower] =
      held === undefined
        ? text
        : [...(typeof held === 'string' ? [held] : held), ...(typeof text === 'string' ? [text] : text)];
  }
  if (date === undefined) headers['date'] = httpDateText(now);

  return {
    cacheable: true,
    reason,
    freshnessLifetimeSeconds: lifetime,
    initialAgeSeconds: initialAge,
    freshSeconds: fresh,
    staleWhileRevalidateSeconds: staleWhileRevalidate,
    staleIfErrorSeconds: staleIfError,
    mustRevalidate,
    validators,
    vary,
    headers,
    storeSeconds: store,
  };
}

/**
 * RFC 9111 section 4.2.3: how old a response already is on arrival, in seconds: the larger of
 * Date's apparent age and the upstream Age plus the time the request took (in ms until the end,
 * so no rounding is taken twice).
 */
export function correctedInitialAge(headers: Headers, requestTime: number, now: number): number {
  const date = httpDate(headers, 'date', now);
  const apparentAge = date === undefined ? 0 : Math.max(0, now - date);
  const correctedAgeValue = ageSeconds(headers) * 1000 + Math.max(0, now - requestTime);
  return Math.max(apparentAge, correctedAgeValue) / 1000;
}

const SECONDS_OPTIONS = [
  'defaultTtlSeconds',
  'maxTtlSeconds',
  'revalidationWindowSeconds',
  'maxStoreSeconds',
  'now',
  'requestTime',
] as const;

/** Bad input is a clear error naming it, not a decision made on garbage. */
function checkResponse(response: CachedResponse): void {
  if (typeof response !== 'object' || response === null) {
    throw new MeshcacheError('E_INVALID_ARGUMENT', 'cachePolicy: the response must be an object { status, headers }');
  }
  if (typeof response.status !== 'number') {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `cachePolicy: response.status must be a number, got ${typeof response.status}`,
    );
  }
  if (typeof response.headers !== 'object' || response.headers === null) {
    throw new MeshcacheError('E_INVALID_ARGUMENT', 'cachePolicy: response.headers must be an object');
  }
}

function checkOptions(options: CachePolicyOptions): void {
  refuseUnknownOptions(options, CACHE_POLICY_OPTION_NAMES, 'cachePolicy', 'E_INVALID_ARGUMENT');
  checkPolicyOptions(options, 'cachePolicy');
}

/** The names of cachePolicy's options (CachePolicyOptions). */
export const CACHE_POLICY_OPTION_NAMES: readonly string[] = Object.freeze([
  'requestHeaders',
  'requestTime',
  'now',
  'defaultTtlSeconds',
  'maxTtlSeconds',
  'revalidationWindowSeconds',
  'maxStoreSeconds',
  'perUserHeaders',
  'credentialRequestHeaders',
  'cacheableStatuses',
]);

function checkSeconds(options: CachePolicyOptions, name: (typeof SECONDS_OPTIONS)[number], where: string): void {
  const value = options[name];
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `${where}: options.${name} must be a finite number >= 0, got ${String(value)}`,
    );
  }
}

/** Validates the policy's options; `where` names the caller in the message. */
export function checkPolicyOptions(options: CachePolicyOptions, where: string): void {
  const bad = (what: string) => {
    throw new MeshcacheError('E_INVALID_ARGUMENT', `${where}: ${what}`);
  };
  for (const name of SECONDS_OPTIONS) checkSeconds(options, name, where);
  if (options.maxStoreSeconds === 0) {
    // The bound becomes each entry's and marker's TTL, and a TTL of 0 is "never expires" in meshcache.
    bad(
      'options.maxStoreSeconds must be a number of seconds > 0, got 0 (a TTL of 0 means "never expires": nothing would ever leave)',
    );
  }
  if (
    options.perUserHeaders !== undefined &&
    options.perUserHeaders !== 'refuse' &&
    options.perUserHeaders !== 'strip'
  ) {
    bad(`options.perUserHeaders must be 'refuse' or 'strip', got ${JSON.stringify(options.perUserHeaders)}`);
  }
  if (
    options.credentialRequestHeaders !== undefined &&
    (!Array.isArray(options.credentialRequestHeaders) ||
      options.credentialRequestHeaders.some((name) => typeof name !== 'string' || name === ''))
  ) {
    bad('options.credentialRequestHeaders must be an array of header names');
  }
  if (
    options.cacheableStatuses !== undefined &&
    (!Array.isArray(options.cacheableStatuses) ||
      options.cacheableStatuses.some((code) => !Number.isInteger(code) || code < 200 || code > 599))
  ) {
    bad(
      `options.cacheableStatuses must be an array of final statuses (200 to 599), got ${JSON.stringify(options.cacheableStatuses)}`,
    );
  }
}
