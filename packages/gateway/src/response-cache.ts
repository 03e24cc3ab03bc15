/**
 * A shared HTTP response cache over a meshcache Cache: what a gateway (or a framework plugin)
 * calls per request. It speaks plain objects ({ method, url, headers, body } in, { status,
 * headers, body } out), never node:http or a framework's types, so a node:http gateway and a
 * Fastify plugin use it alike: `handle(request, fetchUpstream)` does everything, and `lookup`,
 * `store`, `refresh`, `revalidateInBackground`, `invalidate` and `purgeTag` are the steps, for a
 * caller whose origin is its own route handler.
 *
 * The model. An entry is the response as cachePolicy allowed it to be stored (headers filtered,
 * the tag header taken out as tags) with what its life was computed from: when it arrived, its
 * corrected initial age, its freshness lifetime, its stale windows, and the request values its
 * Vary names (variants.ts). Its meshcache TTL is the policy's storeSeconds, so an entry leaves
 * the cache once nothing can use it any more; while it is held, a lookup computes its current
 * age (RFC 9111 section 4.2.3: initial age plus time resident) and decides:
 * - fresh: served, with `Age`;
 * - stale within stale-while-revalidate: served, with `Age`, while one revalidation runs in the
 *   background (`getOrLoad` on a key naming this entry's generation: one per instance, and one
 *   per cluster when the cache has `clusterSingleFlight`);
 * - otherwise stale, or the request said `no-cache` or a `max-age` it exceeds: the origin is
 *   asked, conditionally when the entry has an ETag or Last-Modified; a 304 refreshes the entry
 *   (its headers updated as RFC 9111 section 4.3.4 says, its freshness computed again) and the
 *   stored body is served; when the origin fails (an exception, 500, 502, 503 or 504) and the
 *   entry is within stale-if-error, the stale entry is served instead. An answer that is not
 *   stored removes the entry when the origin's answer, judged without the request, says the
 *   entry is gone or may not be kept (a 404 or 410; a 200 with no-store or private) or
 *   supersedes it with a version the cache cannot hold (over maxBodyBytes): never because of the
 *   request alone (a client's no-store, or its credentials, which make the answer one user's:
 *   one client's reload removed what every client shares, on every instance) nor of a failure.
 *   Every other client keeps the entry then, and a background revalidation that changed nothing
 *   keeps no "done" marker: the next stale answer revalidates again.
 *
 * Purge by tag. The origin tags a response with `Surrogate-Key: a b` (`tagHeader`; spaces or
 * commas). purgeTag(tag) removes every entry this instance knows to carry the tag (the removes
 * replicate), and writes a purge marker ("tag purged at T", kept maxStoreSeconds) that
 * replicates too: a lookup of an entry stored before T with that tag is a miss on every
 * instance, which also covers entries that were still on their way between instances when the
 * purge ran.
 *
 * Guarantees. A stored response is served only to a request with the same primary key (method,
 * scheme, host, path, query, the caller's `vary` headers) and the same values of the headers its
 * own Vary names; a response cachePolicy refuses (private, Set-Cookie, a credentialed request
 * the origin did not mark shareable, ...) is never stored. A successful unsafe request (POST,
 * PUT, PATCH, DELETE) removes the GET and HEAD entries of its URL (RFC 9111 section 4.4).
 *
 * Not guaranteed. Instants come from each instance's clock: a purge compares the purging
 * instance's time with the storing instance's, so clock skew between instances shortens or
 * lengthens the purge's reach by that skew. A miss is not coalesced: concurrent identical misses
 * each ask the origin (sharing one answer is only safe once the answer is known to be shareable
 * and to match every waiter's Vary; tokenCache coalesces, where that is known). Ranges, the
 * request's min-fresh and max-stale, and answering a client's own conditional request with 304
 * from the cache are not implemented: a hit is served whole; on a miss the client's Range and
 * preconditions go to the origin, whose 206, 304, 412 or 416 is passed on and never stored; when
 * an entry is revalidated, its validators replace them (the whole response is served). A request that says
 * `only-if-cached` gets the stored response (fresh, or stale within stale-while-revalidate, then
 * without a revalidation) or a 504, and never reaches the origin.
 */
import type { Cache, Logger } from '@meshcache/core';
import { MeshcacheError, silentLogger, ValueNotEncodableError } from '@meshcache/core';
import { deltaSeconds, parseCacheControl } from './cache-control.js';
import {
  CACHE_POLICY_DEFAULTS,
  CACHE_POLICY_OPTION_NAMES,
  type CacheDecision,
  type CachePolicyOptions,
  cachePolicyWithCheckedOptions,
  checkPolicyOptions,
  correctedInitialAge,
  NOT_STORED,
  type StoredHeaders,
} from './cache-policy.js';
import { type Headers, headerTokens, headerValue } from './headers.js';
import { refuseUnknownOptions } from './option-names.js';
import { type KeyedRequest, type ResponseKeyOptions, responseCacheKey } from './response-key.js';
import { TagIndex } from './tag-index.js';
import {
  newVaryMarker,
  sameHeaders,
  type VaryMarker,
  type VaryValues,
  variantKey,
  varyMatches,
  varyValues,
} from './variants.js';

/** What the origin answered. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body?: Uint8Array | string;
}

/**
 * Where an answer came from: HIT (fresh, from the cache), STALE (stale-while-revalidate),
 * STALE-IF-ERROR (the origin failed), REVALIDATED (the origin said 304), MISS (from the origin),
 * BYPASS (a method this cache does not serve).
 */
export type CacheStatus = 'HIT' | 'STALE' | 'STALE-IF-ERROR' | 'REVALIDATED' | 'MISS' | 'BYPASS';

/** An answer to send: header names lower-case, `age` set when it came from the cache. */
export interface ServedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Uint8Array | string;
  readonly cache: CacheStatus;
}

/** A response as the cache holds it. Plain data: it replicates and persists. */
export interface StoredResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly headers: StoredHeaders;
  readonly body: Uint8Array | string;
  /** Epoch ms when it arrived (RFC 9111's response_time), on the instance that stored it. */
  readonly storedAt: number;
  /**
   * Epoch ms when the request for it left for the origin (RFC 9111's request_time): what a purge
   * is compared with, since the origin may have made it before a purge that ran while it was on
   * its way. Absent in entries stored by a release before it: storedAt stands in.
   */
  readonly requestedAt?: number;
  readonly initialAgeSeconds: number;
  readonly freshnessLifetimeSeconds: number;
  readonly staleWhileRevalidateSeconds: number;
  readonly staleIfErrorSeconds: number;
  readonly mustRevalidate: boolean;
  /** The request values its Vary names. */
  readonly vary: VaryValues;
  readonly tags: readonly string[];
}

/** "Entries tagged with this, whose request left for the origin before purgedAt, are gone." */
export interface PurgeMarker {
  readonly kind: 'purge';
  readonly purgedAt: number;
}

/** "This entry generation was revalidated": the key background revalidations single-flight on. */
export interface RefreshMarker {
  readonly kind: 'refresh';
  readonly at: number;
}

/** Everything a response cache holds; give it a `Cache<ResponseCacheValue>` of its own. */
export type ResponseCacheValue = StoredResponse | VaryMarker | PurgeMarker | RefreshMarker;

/** What store() is told besides the request and the answer. */
export interface StoreContext {
  /** Epoch ms when the request left for the origin (RFC 9111's request_time, for the Age calculation). */
  readonly requestTime: number;
  /**
   * The expired entry this answer replaces (an `expired` lookup): removed when the answer is not
   * stored and, judged without the request, says the entry is gone or may not be kept, or is a
   * newer version the cache cannot hold; so neither STALE nor stale-if-error answers with it later.
   */
  readonly replacing?: { readonly key: string; readonly stored: StoredResponse };
  /**
   * The answer's body went to the client as a stream that the caller did not keep (`body` is
   * then absent): never stored, and, like a body over maxBodyBytes, a version the cache cannot
   * hold, so the entry it replaces goes when the answer is about the resource (a 200, a 404).
   */
  readonly streamed?: boolean;
}

export type CacheLookup =
  | {
      readonly state: 'hit' | 'stale';
      readonly key: string;
      readonly stored: StoredResponse;
      readonly response: ServedResponse;
    }
  | {
      readonly state: 'expired';
      readonly key: string;
      readonly stored: StoredResponse;
      /** If-None-Match and If-Modified-Since for the entry's validators; empty when it has none. */
      readonly conditionalHeaders: Readonly<Record<string, string>>;
      /** The request itself demanded validation (no-cache, max-age): no stale answer on error. */
      readonly forced: boolean;
    }
  | { readonly state: 'miss' | 'bypass'; readonly reason: string };

export interface ResponseCacheOptions
  extends Omit<CachePolicyOptions, 'requestHeaders' | 'requestTime' | 'now'>,
    ResponseKeyOptions {
  /** The cache entries live in (replicated or not); it should hold nothing else. */
  readonly cache: Cache<ResponseCacheValue>;
  /** Methods whose responses are looked up and stored. @default ['GET', 'HEAD'] */
  readonly methods?: readonly string[];
  /** The response header that tags a response for purgeTag; never sent on to clients. @default 'surrogate-key' */
  readonly tagHeader?: string;
  /** Larger bodies are passed through, not stored. @default 1048576 (1 MiB) */
  readonly maxBodyBytes?: number;
  /** Epoch ms; give the cache manager's clock. @default Date.now */
  readonly clock?: () => number;
  readonly logger?: Logger;
}

export interface ResponseCacheStatistics {
  /**
   * The answers clients got, by where they came from. A background revalidation gives none (its
   * client had a STALE answer): a 304 to one counts in stored and backgroundRevalidations, never as
   * REVALIDATED, which counts the answers refresh() gave (handle()'s to an expired entry).
   */
  readonly served: Readonly<Record<CacheStatus, number>>;
  /**
   * Responses stored, and responses not stored: those store() refused (cachePolicy, the size
   * bound, ...), handle()'s only-if-cached 504 (a MISS nothing came to store), and those a caller
   * counted with countNotStored(). A 304 that refreshes an entry counts as stored (or not stored,
   * when the entry may no longer be kept).
   */
  readonly stored: number;
  readonly notStored: number;
  /** Background revalidations run on this instance, and those that failed. */
  readonly backgroundRevalidations: number;
  readonly backgroundFailures: number;
}

export const RESPONSE_CACHE_DEFAULTS = Object.freeze({
  methods: Object.freeze(['GET', 'HEAD']) as readonly string[],
  tagHeader: 'surrogate-key',
  maxBodyBytes: 1_048_576,
});

/** RFC 5861: the statuses that count as the origin failing. */
const ORIGIN_ERRORS = new Set([500, 502, 503, 504]);
/** Methods that do not change anything (RFC 9110 section 9.2.1); the others invalidate (RFC 9111 section 4.4). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
/** Not taken from a 304 into the stored headers (RFC 9111 section 3.2): the stored body depends on them. */
const NOT_UPDATED = new Set(['content-length', 'content-encoding', 'content-range', 'content-type']);
/**
 * The client's own preconditions and Range. When the cache revalidates what it holds, ours
 * replace them: a client's Range without its If-Range (dropped as one of these) made the origin
 * answer a part of a newer version, which the client joined to its older part (found by an
 * attack); a cache may answer a Range request with the whole (RFC 9110 section 14.2). On a miss
 * they go to the origin as the client sent them (a video's seek, a resumed download), and what
 * they alone make the origin answer is not stored: a 206 or 304 never is, and store() refuses a
 * 412 or 416 to a request that carries them (stored, one client's If-Match or unsatisfiable Range
 * was every client's answer until it expired: a cache-poisoned denial of service found by a review).
 */
const CONDITIONAL_HEADERS = new Set([
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
]);
const PURGE_PREFIX = 'purge:';
/** How many recent primary keys key() remembers; past that it starts again. */
const RECENT_KEYS = 4096;
/** The longest request signature key() remembers (UTF-16 units): at most about 8 MiB in all. */
const MAX_REMEMBERED_SIGNATURE = 1024;
const REFRESH_PREFIX = 'refresh:';

export class ResponseCache {
  readonly #cache: Cache<ResponseCacheValue>;
  readonly #options: ResponseCacheOptions;
  readonly #keyOptions: ResponseKeyOptions;
  /** Primary keys of recent requests, by what the key reads (see key()). */
  readonly #recentKeys = new Map<string, string>();
  readonly #methods: ReadonlySet<string>;
  readonly #tagHeader: string;
  readonly #maxBodyBytes: number;
  readonly #maxStoreSeconds: number;
  readonly #policyOptions: CachePolicyOptions;
  readonly #clock: () => number;
  readonly #logger: Logger;
  readonly #tags: TagIndex<ResponseCacheValue>;
  readonly #served: Record<CacheStatus, number> = {
    HIT: 0,
    STALE: 0,
    'STALE-IF-ERROR': 0,
    REVALIDATED: 0,
    MISS: 0,
    BYPASS: 0,
  };
  #stored = 0;
  #notStored = 0;
  #backgroundRevalidations = 0;
  #backgroundFailures = 0;
  readonly #background = new Set<Promise<void>>();

  constructor(options: ResponseCacheOptions) {
    checkOptions(options);
    this.#options = options;
    this.#cache = options.cache;
    this.#keyOptions = {
      ...(options.vary === undefined ? {} : { vary: options.vary }),
      ...(options.includeBody === undefined ? {} : { includeBody: options.includeBody }),
      ...(options.origin === undefined ? {} : { origin: options.origin }),
    };
    this.#methods = new Set((options.methods ?? RESPONSE_CACHE_DEFAULTS.methods).map((m) => m.toUpperCase()));
    this.#tagHeader = (options.tagHeader ?? RESPONSE_CACHE_DEFAULTS.tagHeader).toLowerCase();
    this.#maxBodyBytes = options.maxBodyBytes ?? RESPONSE_CACHE_DEFAULTS.maxBodyBytes;
    // Every entry is put with a TTL of its own, which replaces the cache's (Ehcache's rule): left
    // at that, a Response Cache configured with timeToLiveSeconds 30 kept a max-age=600 response
    // for 600 s (found by a review). The cache's TTL bounds what is kept, as maxStoreSeconds does.
    this.#maxStoreSeconds = Math.min(
      options.maxStoreSeconds ?? CACHE_POLICY_DEFAULTS.maxStoreSeconds,
      cacheTimeToLive(options.cache) ?? Number.POSITIVE_INFINITY,
    );
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#tags = new TagIndex(this.#cache, (value) => (value.kind === 'response' ? value.tags : []));
    this.#policyOptions = this.#policyOptionsOf();
  }

  /** The primary key of a request (responseCacheKey with this cache's key options). */
  key(request: KeyedRequest): string {
    if (
      this.#keyOptions.includeBody === true ||
      typeof request?.method !== 'string' ||
      typeof request.url !== 'string'
    ) {
      return responseCacheKey(request, this.#keyOptions);
    }
    // The key hashes a canonical form of the request (URL parsed, query sorted, SHA-256): a few
    // microseconds, most of a hit's cost. The same inputs give the same key, so recent ones are
    // remembered by what the key reads: method, URL, Host (when the URL does not name one and no
    // origin is given) and the `vary` headers.
    const signature = this.#signature(request);
    // Bounded in bytes as well as in count: 4,096 requests of 7 KB URLs and headers held 60 MB
    // outside every bound the cache has (found by an attack). A long request's key is hashed anew.
    if (signature.length > MAX_REMEMBERED_SIGNATURE) return responseCacheKey(request, this.#keyOptions);
    const known = this.#recentKeys.get(signature);
    if (known !== undefined) return known;
    const key = responseCacheKey(request, this.#keyOptions);
    if (this.#recentKeys.size >= RECENT_KEYS) this.#recentKeys.clear();
    this.#recentKeys.set(signature, key);
    return key;
  }

  /** What the key reads, each part length-prefixed (so no two requests share one); absent is "-". */
  #signature(request: KeyedRequest): string {
    const part = (value: string | undefined) => (value === undefined ? '-' : `${value.length}:${value}`);
    let signature = part(request.method) + part(request.url);
    if (this.#keyOptions.origin === undefined) signature += part(headerValue(request.headers, 'host'));
    for (const name of this.#keyOptions.vary ?? []) signature += part(headerValue(request.headers, name));
    return signature;
  }

  /** What the cache holds for a request, and what may be done with it now. */
  lookup(request: KeyedRequest): CacheLookup {
    const method = methodOf(request);
    if (!this.#methods.has(method)) return { state: 'bypass', reason: `method ${method} is not cached` };
    // A fragment never reaches a server, so a target with one is not what a client sends: node:http
    // still takes it, and a router may read what follows it as the query (`/search#&q=evil`), which
    // the key leaves out. Not cached rather than keyed apart from what the handler reads.
    if (request.url.includes('#')) return { state: 'bypass', reason: 'the request target holds a fragment' };
    const primary = this.key(request);
    let key = primary;
    let value = this.#cache.get(primary);
    if (value?.kind === 'vary') {
      key = variantKey(primary, value, request.headers);
      value = this.#cache.get(key);
    }
    if (value?.kind !== 'response') return { state: 'miss', reason: 'not cached' };
    if (!varyMatches(value.vary, request.headers)) return { state: 'miss', reason: 'another variant (Vary)' };
    if (this.#purged(value)) {
      // Gone for good: hidden only by the marker, it came back once the marker was evicted.
      this.#cache.remove(key);
      return { state: 'miss', reason: 'purged by tag' };
    }

    const now = this.#clock();
    const age = currentAge(value, now);
    const requestCc = parseCacheControl(headerValue(request.headers, 'cache-control'));
    const requestNoCache =
      requestCc.has('no-cache') ||
      (requestCc.size === 0 && headerTokens(request.headers, 'pragma').includes('no-cache'));
    const requestMaxAge = deltaSeconds(requestCc.get('max-age'));
    const forced = requestNoCache || (requestMaxAge !== undefined && age > requestMaxAge);
    const staleness = age - value.freshnessLifetimeSeconds;
    if (!forced && staleness < 0) return { state: 'hit', key, stored: value, response: this.#serve(value, 'HIT', now) };
    if (
      !forced &&
      !value.mustRevalidate &&
      value.staleWhileRevalidateSeconds > 0 &&
      staleness <= value.staleWhileRevalidateSeconds
    ) {
      return { state: 'stale', key, stored: value, response: this.#serve(value, 'STALE', now) };
    }
    return { state: 'expired', key, stored: value, conditionalHeaders: conditionalHeaders(value), forced };
  }

  /**
   * Stores the origin's answer to `request` if cachePolicy allows it, and says what it decided.
   * `requestTime` is when the request left for the origin (for the Age calculation). `replacing`
   * is the expired (or forcibly revalidated) entry this answer is for, when there is one: when
   * the answer is not stored, it is removed if the origin's answer, judged without the request,
   * says the entry is gone or may not be kept (a 404 or 410, a 200 with no-store or private), or
   * is a version the cache cannot hold (over maxBodyBytes); never because of the request alone
   * (its no-store, its credentials) nor of a failure (5xx, 429, ...). A 412 or 416 to a request
   * that carries preconditions or a Range, and a 206 or 304, are passed on and never stored.
   */
  store(request: KeyedRequest, response: UpstreamResponse, context: StoreContext): CacheDecision {
    return this.#storeAnswer(request, response, context).decision;
  }

  /** store(), saying also what became of the entry it replaces: 'kept' when it is there as it was. */
  #storeAnswer(
    request: KeyedRequest,
    response: UpstreamResponse,
    context: StoreContext,
  ): { readonly decision: CacheDecision; readonly outcome: 'stored' | 'removed' | 'kept' } {
    const { decision, overLimits } = this.#store(request, response, context);
    if (decision.cacheable) return { decision, outcome: 'stored' };
    const replacing = context.replacing;
    if (replacing !== undefined && this.#supersedes(request, response, replacing.stored, overLimits)) {
      // Superseded, or the origin no longer lets it be kept: the old copy must not answer anyone
      // later (as STALE, or as stale-if-error).
      this.#cache.remove(replacing.key);
      return { decision, outcome: 'removed' };
    }
    return { decision, outcome: 'kept' };
  }

  /** Stores what may be stored; `overLimits` says a refusal is the cache's own bounds, not cachePolicy's. */
  #store(
    request: KeyedRequest,
    response: UpstreamResponse,
    times: StoreContext,
  ): { readonly decision: CacheDecision; readonly overLimits: boolean } {
    const method = methodOf(request);
    if (!this.#methods.has(method)) {
      return { decision: this.#refused(`method ${method} is not cached`), overLimits: false };
    }
    if ((response.status === 412 || response.status === 416) && carriesConditions(request)) {
      // An answer to this request's own preconditions or Range, not about the resource: stored,
      // it was every client's answer.
      const reason = `status ${response.status} answers the request's own preconditions or Range`;
      return { decision: this.#refused(reason), overLimits: false };
    }
    const now = this.#clock();
    const decision = cachePolicyWithCheckedOptions(response, this.#policyOptions, {
      requestHeaders: request.headers,
      requestTime: times.requestTime,
      now,
    });
    if (!decision.cacheable) {
      this.#notStored++;
      return { decision, overLimits: false };
    }
    if (times.streamed === true) {
      return { decision: this.#refused('the body was streamed, not kept'), overLimits: true };
    }
    const body = response.body ?? '';
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (size > this.#maxBodyBytes) {
      return { decision: this.#refused(`the body (${size} bytes) is over maxBodyBytes`), overLimits: true };
    }
    const { [this.#tagHeader]: tagField, ...headers } = decision.headers;
    const tags = parseTags(tagField);
    // Purged while it was on its way: stored, it would hang on a marker that may be evicted first.
    if (this.#purgedSince(tags, times.requestTime)) {
      return { decision: this.#refused('purged while the origin answered'), overLimits: false };
    }
    const primary = this.key(request);
    let key = primary;
    if (decision.vary.length > 0) {
      const held = this.#cache.peekEntry(primary);
      let marker =
        held?.value.kind === 'vary' && sameHeaders(held.value.headers, decision.vary) ? held.value : undefined;
      const left = held === undefined ? 0 : held.createdAt + held.timeToLiveSeconds * 1000 - now;
      if (marker === undefined || left < decision.storeSeconds * 1000) {
        // A new list starts a new generation; the same list keeps its own, only living longer.
        marker ??= newVaryMarker(decision.vary);
        this.#cache.put(primary, marker, { timeToLiveSeconds: this.#maxStoreSeconds });
      }
      key = variantKey(primary, marker, request.headers);
    }
    const stored: StoredResponse = {
      kind: 'response',
      status: response.status,
      headers,
      body,
      storedAt: now,
      requestedAt: times.requestTime,
      initialAgeSeconds: decision.initialAgeSeconds,
      freshnessLifetimeSeconds: decision.freshnessLifetimeSeconds,
      staleWhileRevalidateSeconds: decision.staleWhileRevalidateSeconds,
      staleIfErrorSeconds: decision.staleIfErrorSeconds,
      mustRevalidate: decision.mustRevalidate,
      vary: varyValues(decision.vary, request.headers),
      tags,
    };
    try {
      this.#cache.put(key, stored, { timeToLiveSeconds: decision.storeSeconds });
    } catch (error) {
      // A response the cache cannot carry (a replicated cache's values are bounded in size) is
      // served, not stored: the client never pays for the cache's limits.
      if (!(error instanceof ValueNotEncodableError)) throw error;
      this.#logger.warn({ key, err: error }, 'response not stored: the cache cannot carry it');
      this.#notStored++;
      return { decision: { cacheable: false, reason: error.message }, overLimits: true };
    }
    this.#stored++;
    return { decision, overLimits: false };
  }

  /**
   * Applies the origin's 304 to an expired entry (RFC 9111 section 4.3.4): the stored headers
   * take the 304's, freshness is computed again, and the entry is stored anew. Answers the
   * refreshed response, or undefined when the 304 names another representation (a validator that
   * does not match): then ask the origin again without conditions.
   */
  refresh(
    request: KeyedRequest,
    found: { readonly key: string; readonly stored: StoredResponse },
    notModified: UpstreamResponse,
    times: { readonly requestTime: number },
  ): ServedResponse | undefined {
    const refreshed = this.#refresh(request, found, notModified, times)?.served;
    return refreshed === undefined ? undefined : this.#count(refreshed);
  }

  /**
   * refresh(), saying also what became of the entry ('kept' when it is there as it was), and
   * counting the answer in no served field: a background revalidation's answer reaches no client
   * (the client had its STALE one), and counted as REVALIDATED, served told of two answers for one
   * request (found by a review). refresh() counts the answer it gives.
   */
  #refresh(
    request: KeyedRequest,
    found: { readonly key: string; readonly stored: StoredResponse },
    notModified: UpstreamResponse,
    times: { readonly requestTime: number },
  ): { readonly served: ServedResponse; readonly outcome: 'stored' | 'removed' | 'kept' } | undefined {
    const { stored } = found;
    if (!sameValidator(stored.headers, notModified.headers)) return undefined;
    const headers: Record<string, string | readonly string[]> = { ...stored.headers };
    let tags = stored.tags;
    for (const [name, value] of Object.entries(notModified.headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || NOT_UPDATED.has(lower)) continue;
      const text = typeof value === 'number' ? String(value) : value;
      if (lower === this.#tagHeader) tags = parseTags(text);
      else headers[lower] = text;
    }
    // The 304 is a response received now: without a Date of its own it is stored with the time it
    // came (cachePolicy adds it), not with the Date of the response it refreshes, whose apparent
    // age would then count as this one's.
    if (headerValue(notModified.headers, 'date') === undefined) delete headers['date'];
    const now = this.#clock();
    const decision = cachePolicyWithCheckedOptions({ status: stored.status, headers }, this.#policyOptions, {
      requestHeaders: request.headers,
      requestTime: times.requestTime,
      now,
    });
    if (!decision.cacheable || !sameHeaders(decision.vary, Object.keys(stored.vary).sort())) {
      // Not storable as it now is: it answers this request only. The entry goes only when the
      // origin's own fields, judged without the request, say so (now private, or varying
      // otherwise), not when this request alone did (its no-store, its credentials): the entry
      // is every other client's too.
      const response = { status: stored.status, headers, body: stored.body };
      const remove = decision.cacheable || this.#supersedes(request, response, stored, false);
      if (remove) this.#cache.remove(found.key);
      this.#notStored++;
      // Validated just now: its Age is computed as a stored one would be (every answer from the cache carries Age).
      const passed = this.#pass(response, 'REVALIDATED', false);
      const age = Math.floor(correctedInitialAge(headers, times.requestTime, now));
      const served = { ...passed, headers: { ...passed.headers, age: String(age) } };
      return { served, outcome: remove ? 'removed' : 'kept' };
    }
    const refreshed: StoredResponse = {
      ...stored,
      headers: decision.headers,
      storedAt: now,
      requestedAt: times.requestTime,
      initialAgeSeconds: decision.initialAgeSeconds,
      freshnessLifetimeSeconds: decision.freshnessLifetimeSeconds,
      staleWhileRevalidateSeconds: decision.staleWhileRevalidateSeconds,
      staleIfErrorSeconds: decision.staleIfErrorSeconds,
      mustRevalidate: decision.mustRevalidate,
      tags,
    };
    this.#cache.put(found.key, refreshed, { timeToLiveSeconds: decision.storeSeconds });
    this.#stored++;
    return { served: this.#serve(refreshed, 'REVALIDATED', now), outcome: 'stored' };
  }

  /**
   * Revalidates a stale entry off the request's path: once per instance, and once per cluster
   * when the cache has clusterSingleFlight (it runs through getOrLoad on a key naming this
   * entry's generation). Resolves when done; never rejects: a failure is logged and counted, the
   * stale entry keeps being answered until its window ends, and the next stale answer tries again
   * (one revalidation at a time per entry). whenIdle() waits for it too.
   *
   * The origin is asked on behalf of the shared cache: the request without the client's
   * Cache-Control and Pragma (one client's `no-store` is about its own exchange, not the cache's)
   * and without its preconditions and Range (the entry's validators replace them), but with its
   * credentials: an entry stored from a request with Authorization or Cookie, because the origin
   * marked it public, s-maxage or must-revalidate, is revalidated with them (RFC 9111 section
   * 3.5). A revalidation whose answer leaves the entry as it was (not stored because of that
   * request's credentials, or a 429 or another failure) counts as failed: no "done" is kept for
   * the generation, so the next stale answer revalidates again. A request's Cookie once kept a
   * stale entry from ever being revalidated for its whole window, on every instance with
   * clusterSingleFlight (found by a review).
   */
  revalidateInBackground(
    request: KeyedRequest,
    found: { readonly key: string; readonly stored: StoredResponse },
    fetchUpstream: (request: KeyedRequest) => Promise<UpstreamResponse>,
  ): Promise<void> {
    const work = this.#revalidate(request, found, fetchUpstream);
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
    return work;
  }

  async #revalidate(
    request: KeyedRequest,
    found: { readonly key: string; readonly stored: StoredResponse },
    fetchUpstream: (request: KeyedRequest) => Promise<UpstreamResponse>,
  ): Promise<void> {
    const { stored } = found;
    const marker = `${REFRESH_PREFIX}${found.key}@${stored.storedAt}`;
    const shared = withoutDirectives(withHeaders(request, {}));
    try {
      await this.#cache.getOrLoad(
        marker,
        async (): Promise<RefreshMarker> => {
          this.#backgroundRevalidations++;
          const requestTime = this.#clock();
          const upstream = await fetchUpstream(withHeaders(shared, conditionalHeaders(stored)));
          if (ORIGIN_ERRORS.has(upstream.status)) throw new Error(`the origin answered ${upstream.status}`);
          let outcome =
            upstream.status === 304 ? this.#refresh(shared, found, upstream, { requestTime })?.outcome : undefined;
          let answer = upstream;
          if (outcome === undefined && upstream.status === 304) {
            // A 304 for another representation: the whole response, then.
            answer = await fetchUpstream(shared);
            if (ORIGIN_ERRORS.has(answer.status)) throw new Error(`the origin answered ${answer.status}`);
          }
          // An answer that supersedes the entry, or that the origin no longer lets be kept, removes it (store()).
          outcome ??= this.#storeAnswer(shared, answer, { requestTime, replacing: found }).outcome;
          if (outcome === 'kept') {
            // Nothing changed: kept as "done", it stopped every revalidation of the entry for its window.
            throw new Error(
              `the origin's answer (${answer.status}) to this request could not be stored and does not supersede the entry`,
            );
          }
          return { kind: 'refresh', at: this.#clock() };
        },
        { lifespanOf: () => ({ timeToLiveSeconds: Math.max(1, stored.staleWhileRevalidateSeconds) }) },
      );
    } catch (error) {
      this.#backgroundFailures++;
      this.#logger.warn(
        { cache: this.#cache.name, key: found.key, err: error },
        'background revalidation failed; the stale response is served until its window ends',
      );
    }
  }

  /**
   * Answers a request: from the cache when it may, else from `fetchUpstream` (called with the
   * request, plus conditional headers when an entry is being revalidated), storing what may be
   * stored. An exception from fetchUpstream reaches the caller unless a stale answer may be
   * given instead (stale-if-error).
   */
  async handle(
    request: KeyedRequest,
    fetchUpstream: (request: KeyedRequest) => Promise<UpstreamResponse>,
  ): Promise<ServedResponse> {
    const found = this.lookup(request);
    if (found.state === 'hit') return this.#count(found.response);
    if (onlyIfCached(request)) {
      // RFC 9111 section 5.2.1.7: the stored response, or 504; never the origin.
      if (found.state === 'stale') return this.#count(found.response);
      if (found.state !== 'bypass') {
        // A MISS nothing is stored from, counted as the Fastify plugin counts it (served.MISS and
        // notStored): counted nowhere, the statistics' answers fell short of the requests.
        this.#notStored++;
        return this.#count({ status: 504, headers: {}, body: '', cache: 'MISS' });
      }
    }
    if (found.state === 'stale') {
      void this.revalidateInBackground(request, found, fetchUpstream);
      return this.#count(found.response);
    }
    if (found.state === 'bypass') {
      const response = await fetchUpstream(request);
      if (!SAFE_METHODS.has(methodOf(request)) && response.status < 400) this.invalidate(request);
      return this.#count(this.#pass(response, 'BYPASS'));
    }
    const requestTime = this.#clock();
    // On a miss the origin is asked the client's request as it came, its Range and preconditions
    // too: a 206, a 304 or a 412 goes back to that client and is never stored (store() refuses a
    // 412 or 416 to a request that carries them, cachePolicy a 206 or 304), while a 200 (an
    // If-None-Match that did not match, a Range the origin ignored) is the whole representation.
    // Revalidating, the entry's validators replace the client's conditions (CONDITIONAL_HEADERS).
    const whole = withHeaders(request, {});
    let upstream: UpstreamResponse;
    try {
      upstream =
        found.state === 'expired'
          ? await fetchUpstream(withHeaders(request, found.conditionalHeaders))
          : await fetchUpstream(request);
    } catch (error) {
      const stale = found.state === 'expired' ? this.staleIfError(found) : undefined;
      if (stale === undefined) throw error;
      this.#logger.warn(
        { cache: this.#cache.name, key: found.state === 'expired' ? found.key : undefined, err: error },
        'origin failed; serving stale (stale-if-error)',
      );
      return this.#count(stale);
    }
    if (found.state === 'expired') {
      if (upstream.status === 304 && Object.keys(found.conditionalHeaders).length > 0) {
        const refreshed = this.refresh(request, found, upstream, { requestTime });
        if (refreshed !== undefined) return refreshed;
        upstream = await fetchUpstream(whole);
      }
      const stale = ORIGIN_ERRORS.has(upstream.status) ? this.staleIfError(found) : undefined;
      if (stale !== undefined) {
        this.#logger.warn(
          { cache: this.#cache.name, key: found.key, status: upstream.status },
          'origin failed; serving stale (stale-if-error)',
        );
        return this.#count(stale);
      }
    }
    // An answer that supersedes the entry it replaces, or that the origin no longer lets be kept,
    // removes it (store() decides).
    if (found.state === 'expired') this.store(whole, upstream, { requestTime, replacing: found });
    else this.store(request, upstream, { requestTime });
    return this.#count(this.#pass(upstream, 'MISS'));
  }

  /**
   * Counts an answer given by a caller that uses the steps, in statistics().served: lookup, store
   * and staleIfError count nothing (refresh counts its REVALIDATED answer; handle counts its own).
   */
  countServed(cache: CacheStatus): void {
    this.#served[cache]++;
  }

  /**
   * Counts, in statistics().notStored, an answer a caller that uses the steps gave as a MISS but
   * did not give to store() (an error reply it keeps out, an answer a later step changed, one
   * whose client left before it ended): store() counts each answer it is given, stored or not, so
   * with this every MISS is counted once in stored or notStored.
   */
  countNotStored(): void {
    this.#notStored++;
  }

  /**
   * The stale answer an expired lookup may give now that the origin failed (threw, or answered
   * 500, 502, 503 or 504), as stale-if-error allows (RFC 5861); undefined when it does not (the
   * window is over, the entry must be revalidated, or the request itself demanded validation).
   * For a caller whose origin is its own route handler; handle() does this itself.
   */
  staleIfError(found: { readonly stored: StoredResponse; readonly forced: boolean }): ServedResponse | undefined {
    const { stored } = found;
    if (found.forced || stored.mustRevalidate || stored.staleIfErrorSeconds === 0) return undefined;
    // Looked up before the origin was asked: a purge may have come meanwhile.
    if (this.#purged(stored)) return undefined;
    const now = this.#clock();
    if (currentAge(stored, now) - stored.freshnessLifetimeSeconds > stored.staleIfErrorSeconds) return undefined;
    return this.#serve(stored, 'STALE-IF-ERROR', now);
  }

  /**
   * Removes the GET and HEAD entries of the request's URL (after a successful unsafe request):
   * keyed as a GET or HEAD of that URL with the request's headers and no body. With includeBody,
   * the unsafe request's own body hash in the key named an entry no GET has, and a successful PUT
   * with a body left the GET entry in place (found by a review).
   */
  invalidate(request: KeyedRequest): void {
    for (const method of ['GET', 'HEAD']) {
      if (!this.#methods.has(method)) continue;
      this.#cache.remove(
        this.key({ method, url: request.url, ...(request.headers === undefined ? {} : { headers: request.headers }) }),
      );
    }
  }

  /**
   * Removes every response tagged `tag`, on every instance: the entries this instance knows are
   * removed (the removes replicate) and a purge marker makes any other entry with the tag stored
   * until now a miss wherever it is. Answers how many entries this instance removed.
   */
  purgeTag(tag: string): number {
    if (typeof tag !== 'string' || tag.trim() === '' || /[\s,]/.test(tag.trim())) {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `purgeTag: a tag is a non-empty string without spaces or commas, got ${JSON.stringify(tag)}`,
      );
    }
    const name = tag.trim();
    const marker: PurgeMarker = { kind: 'purge', purgedAt: this.#clock() };
    this.#cache.put(`${PURGE_PREFIX}${name}`, marker, { timeToLiveSeconds: this.#maxStoreSeconds });
    const keys = this.#tags.keysOf(name);
    for (const key of keys) this.#cache.remove(key);
    this.#logger.info({ cache: this.#cache.name, tag: name, removed: keys.length }, 'purged by tag');
    return keys.length;
  }

  /** Resolves once the background revalidations started so far have finished (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  statistics(): ResponseCacheStatistics {
    return {
      served: { ...this.#served },
      stored: this.#stored,
      notStored: this.#notStored,
      backgroundRevalidations: this.#backgroundRevalidations,
      backgroundFailures: this.#backgroundFailures,
    };
  }

  /** Stops following the cache's events (the tag index). The cache itself is the caller's. */
  close(): void {
    this.#tags.close();
  }

  /** The policy's options from this cache's, made once (and checked once, at construction). */
  #policyOptionsOf(): CachePolicyOptions {
    const {
      cache: _c,
      vary: _v,
      includeBody: _i,
      origin: _o,
      methods: _m,
      tagHeader: _t,
      maxBodyBytes: _b,
      clock: _k,
      logger: _l,
      ...policy
    } = this.#options;
    return { ...policy, maxStoreSeconds: this.#maxStoreSeconds };
  }

  /**
   * Whether the origin's answer to `request`, which is not stored, says the entry it replaces must
   * go. The rule: removed when the origin's answer, judged without the request, says the entry is
   * gone or may not be kept; kept when only the request made the answer unstorable. So, for a
   * final answer about the resource itself (2xx and 3xx but 206 and 304, 404, 410):
   * - a 404 or 410: the resource is gone, whoever asked;
   * - an answer cachePolicy allowed but the cache cannot hold (over maxBodyBytes, a value too
   *   large to replicate): a newer version supersedes the entry, which must not be served as
   *   STALE or STALE-IF-ERROR after it (`overLimits`);
   * - an answer cachePolicy refuses on the response's own fields (no-store, private, no
   *   freshness), judged without the request, to a request that carried no credential the entry
   *   does not vary on: such a credential makes the answer about one user, which says nothing
   *   about what everyone shares.
   * Never for a refusal owed to the request alone (its no-store, its credentials), nor for a
   * failure (5xx, 429, any other 4xx: stale-if-error is for those): one client's reload or login
   * removed a fresh entry, on every instance, and its stale-if-error with it.
   */
  #supersedes(request: KeyedRequest, response: UpstreamResponse, stored: StoredResponse, overLimits: boolean): boolean {
    const status = response.status;
    const aboutResource =
      (status >= 200 && status < 400 && status !== 206 && status !== 304) || status === 404 || status === 410;
    if (!aboutResource) return false;
    if (overLimits || status === 404 || status === 410) return true;
    const credentials = this.#options.credentialRequestHeaders ?? CACHE_POLICY_DEFAULTS.credentialRequestHeaders;
    for (const name of credentials) {
      const lower = name.toLowerCase();
      if (headerValue(request.headers, lower) !== undefined && !Object.hasOwn(stored.vary, lower)) return false;
    }
    const now = this.#clock();
    return !cachePolicyWithCheckedOptions(response, this.#policyOptions, { requestTime: now, now }).cacheable;
  }

  #refused(reason: string): CacheDecision {
    this.#notStored++;
    return { cacheable: false, reason };
  }

  #purged(stored: StoredResponse): boolean {
    return this.#purgedSince(stored.tags, stored.requestedAt ?? stored.storedAt);
  }

  /**
   * Whether a tag of these was purged after `since` (epoch ms): a request that left in the same
   * millisecond as the purge may have seen its effect, and is kept.
   */
  #purgedSince(tags: readonly string[], since: number): boolean {
    for (const tag of tags) {
      const marker = this.#cache.peekEntry(`${PURGE_PREFIX}${tag}`)?.value;
      if (marker?.kind === 'purge' && marker.purgedAt > since) return true;
    }
    return false;
  }

  #serve(stored: StoredResponse, cache: CacheStatus, now: number): ServedResponse {
    return {
      status: stored.status,
      headers: { ...stored.headers, age: String(Math.floor(currentAge(stored, now))) },
      body: stored.body,
      cache,
    };
  }

  /** The origin's answer as it goes on: hop-by-hop fields and the tag header taken out (and Age, unless keepAge). */
  #pass(response: UpstreamResponse, cache: CacheStatus, keepAge = true): ServedResponse {
    const connection = new Set(headerTokens(response.headers, 'connection'));
    const headers: Record<string, string | readonly string[]> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || lower === this.#tagHeader || connection.has(lower)) continue;
      if (NOT_STORED.has(lower) && !(keepAge && lower === 'age')) continue;
      headers[lower] = typeof value === 'number' ? String(value) : value;
    }
    return { status: response.status, headers, body: response.body ?? '', cache };
  }

  #count(response: ServedResponse): ServedResponse {
    this.#served[response.cache]++;
    return response;
  }
}

/** A ResponseCache over `options.cache`. */
export function responseCache(options: ResponseCacheOptions): ResponseCache {
  return new ResponseCache(options);
}

/** The cache's own timeToLiveSeconds, when it has one (above 0, and the cache is not eternal). */
function cacheTimeToLive(cache: Cache<ResponseCacheValue>): number | undefined {
  const config = (cache as { readonly config?: { readonly timeToLiveSeconds?: unknown; readonly eternal?: unknown } })
    .config;
  const ttl = config?.timeToLiveSeconds;
  return config?.eternal !== true && typeof ttl === 'number' && ttl > 0 ? ttl : undefined;
}

/** RFC 9111 section 4.2.3: the corrected initial age plus the time resident here, in seconds. */
function currentAge(stored: StoredResponse, now: number): number {
  return stored.initialAgeSeconds + Math.max(0, now - stored.storedAt) / 1000;
}

function methodOf(request: KeyedRequest): string {
  if (typeof request?.method !== 'string' || request.method === '') {
    throw new MeshcacheError('E_INVALID_ARGUMENT', 'responseCache: request.method must be a non-empty string');
  }
  return request.method.toUpperCase();
}

function onlyIfCached(request: KeyedRequest): boolean {
  return parseCacheControl(headerValue(request.headers, 'cache-control')).has('only-if-cached');
}

function conditionalHeaders(stored: StoredResponse): Record<string, string> {
  const etag = headerValue(stored.headers, 'etag');
  const lastModified = headerValue(stored.headers, 'last-modified');
  return {
    ...(etag === undefined ? {} : { 'if-none-match': etag }),
    ...(lastModified === undefined ? {} : { 'if-modified-since': lastModified }),
  };
}

/** The request with the client's own conditional headers replaced by `extra`. */
function withHeaders(request: KeyedRequest, extra: Readonly<Record<string, string>>): KeyedRequest {
  const headers: Record<string, string | readonly string[] | number | undefined> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (!CONDITIONAL_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  return { ...request, headers: { ...headers, ...extra } };
}

/** The request without its Cache-Control and Pragma: what the cache asks on its own behalf. */
function withoutDirectives(request: KeyedRequest): KeyedRequest {
  const headers: Record<string, string | readonly string[] | number | undefined> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower !== 'cache-control' && lower !== 'pragma') headers[name] = value;
  }
  return { ...request, headers };
}

/** Whether the request carries a precondition or a Range (one of CONDITIONAL_HEADERS). */
function carriesConditions(request: KeyedRequest): boolean {
  for (const name of Object.keys(request.headers ?? {})) {
    if (CONDITIONAL_HEADERS.has(name.toLowerCase()) && request.headers?.[name] !== undefined) return true;
  }
  return false;
}

/** Whether a 304 is about the stored representation: any validator it carries must be the stored one. */
function sameValidator(stored: StoredHeaders, notModified: Headers): boolean {
  const etag = headerValue(notModified, 'etag');
  if (etag !== undefined) {
    const held = headerValue(stored, 'etag');
    return held !== undefined && opaqueTag(held) === opaqueTag(etag);
  }
  const lastModified = headerValue(notModified, 'last-modified');
  return lastModified === undefined || lastModified === headerValue(stored, 'last-modified');
}

/** An entity tag without its weakness mark: If-None-Match compares weakly (RFC 9110 section 8.8.3.2). */
function opaqueTag(etag: string): string {
  const trimmed = etag.trim();
  return trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed;
}

function parseTags(field: string | readonly string[] | undefined): string[] {
  if (field === undefined) return [];
  const text = typeof field === 'string' ? field : field.join(' ');
  return [...new Set(text.split(/[\s,]+/).filter((tag) => tag !== ''))];
}

/** The names of responseCache's options (ResponseCacheOptions). */
export const RESPONSE_CACHE_OPTION_NAMES: readonly string[] = Object.freeze([
  'cache',
  'methods',
  'tagHeader',
  'maxBodyBytes',
  'clock',
  'logger',
  'vary',
  'includeBody',
  'origin',
  ...CACHE_POLICY_OPTION_NAMES.filter((name) => name !== 'requestHeaders' && name !== 'requestTime' && name !== 'now'),
]);

function checkOptions(options: ResponseCacheOptions): void {
  const bad = (what: string) => {
    throw new MeshcacheError('E_INVALID_ARGUMENT', `responseCache: ${what}`);
  };
  if (typeof options !== 'object' || options === null) bad('options must be an object with at least { cache }');
  refuseUnknownOptions(options, RESPONSE_CACHE_OPTION_NAMES, 'responseCache', 'E_INVALID_ARGUMENT');
  const cache = options.cache as Partial<Cache<ResponseCacheValue>> | undefined;
  if (typeof cache?.get !== 'function' || typeof cache.getOrLoad !== 'function') {
    bad('options.cache must be a meshcache Cache (manager.getCache(name))');
  }
  if (
    options.methods !== undefined &&
    (!Array.isArray(options.methods) ||
      options.methods.length === 0 ||
      options.methods.some((m) => typeof m !== 'string' || m === ''))
  ) {
    bad('options.methods must be a non-empty array of method names');
  }
  if (options.tagHeader !== undefined && (typeof options.tagHeader !== 'string' || options.tagHeader === '')) {
    bad('options.tagHeader must be a header name');
  }
  if (
    options.maxBodyBytes !== undefined &&
    (typeof options.maxBodyBytes !== 'number' || !Number.isInteger(options.maxBodyBytes) || options.maxBodyBytes < 0)
  ) {
    bad(`options.maxBodyBytes must be an integer >= 0, got ${String(options.maxBodyBytes)}`);
  }
  if (options.vary !== undefined && (!Array.isArray(options.vary) || options.vary.some((h) => typeof h !== 'string'))) {
    bad('options.vary must be an array of header names');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') bad('options.clock must be a function');
  checkPolicyOptions(options, 'responseCache');
}
