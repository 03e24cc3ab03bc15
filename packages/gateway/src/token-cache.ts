/**
 * A service-token cache: the auth server sees one call per cache miss, not one per request.
 *
 * The rules it enforces, the lessons of gateways that got this wrong:
 * - The key is built from explicit dimensions (environment, backend, scope, tenant: whatever the
 *   caller names as `dimensions`), every one required, none extra, so a token can never be reused
 *   in a context it was not issued for.
 * - The entry lives `expires_in` minus a safety margin, and never longer than the token: a token
 *   about to expire is refetched before a backend would refuse it. A token that lives no longer
 *   than the margin is kept one second at most.
 * - A failed or malformed auth response (non-2xx, no access_token, no usable expires_in) is
 *   never cached: it reaches the caller as a TokenError, and the next request asks again.
 * - Concurrent misses share one fetch (getOrLoad); on a replicated cache with
 *   clusterSingleFlight, concurrent misses on different instances share one too.
 * - Refresh ahead: a hit in the last `refreshAheadSeconds` of the entry's life (never more than
 *   the second half of it) is answered with the held token at once, and a new token is fetched
 *   in the background, so no request waits when the old one leaves. The refresh is a getOrLoad
 *   of a key naming the held token's expiry ("refresh the token that expires at T"): one fetch
 *   per instance, and one per cluster with clusterSingleFlight, where every instance computes
 *   the same key from the same replicated token. The new token replaces the held one if that one
 *   is still there and still the same, or has left by expiring (a refresh that finishes just after
 *   the held entry's end still saves the next request an auth call); never after a revocation (a
 *   `remove` of the key, or a `removeAll`, here or on a peer, seen while the refresh ran), nor
 *   over a newer token. A failed refresh is logged, the held token keeps serving until it leaves,
 *   and this instance waits `refreshRetrySeconds` before trying again.
 *
 * Not guaranteed: a refresh with no traffic. Refresh ahead is driven by requests (as Caffeine's
 * refreshAfterWrite is): a token nobody asks for in its window is not refetched, and the next
 * request after it left waits for a fetch as a first request does.
 *
 * Hits, misses, failures and refreshes are counted and logged apart (never the token itself).
 */
import { createHash } from 'node:crypto';
import { type Cache, type CacheEvent, type Logger, MeshcacheError, silentLogger } from '@meshcache/core';
import { MAX_TIMER_MILLIS } from '@meshcache/core/internal';
import { refuseUnknownOptions } from './option-names.js';

/** What the auth server answered: an HTTP status and the parsed JSON body. */
export interface AuthResponse {
  readonly status: number;
  readonly body: unknown;
}

/** What the cache holds per key. Plain data, so it can be replicated and persisted. */
export interface CachedToken {
  readonly accessToken: string;
  readonly tokenType: string;
  /** Epoch ms when the auth server says the token expires. */
  readonly expiresAt: number;
  /** Epoch ms when it was fetched (absent on tokens cached by older versions). */
  readonly fetchedAt?: number;
}

export interface TokenCacheOptions {
  readonly cache: Cache<CachedToken>;
  /** The dimensions every request must give, in key order: e.g. ['environment', 'backend', 'scope', 'tenant']. */
  readonly dimensions: readonly string[];
  /**
   * Asks the auth server for a token for these dimensions (a frozen copy of the caller's own
   * values: what the key was made of). Throw for a transport failure. `signal` aborts when
   * fetchTimeoutSeconds has passed: pass it to fetch().
   */
  readonly fetchToken: (
    dimensions: Readonly<Record<string, string>>,
    options: { readonly signal: AbortSignal },
  ) => Promise<AuthResponse>;
  /**
   * How long an ask of the auth server may take; past it the ask fails (TokenError) and the next
   * request asks again. Without it, one ask that never returned held every later request for
   * those dimensions for good. @default 30
   */
  readonly fetchTimeoutSeconds?: number;
  /** Seconds taken off expires_in. @default 60 */
  readonly safetyMarginSeconds?: number;
  /**
   * A hit this close to the entry's end (at most the second half of its life) fetches a new
   * token in the background; 0 turns refresh ahead off. @default 60
   */
  readonly refreshAheadSeconds?: number;
  /** After a failed refresh ahead, this instance waits this long before trying again. @default 5 */
  readonly refreshRetrySeconds?: number;
  readonly logger?: Logger;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
}

/** The longest key kept as written (ASCII: its dimensions are percent-encoded); longer ones are hashed. */
const MAX_READABLE_KEY = 1024;

export class TokenError extends MeshcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_TOKEN', message, options);
    this.name = 'TokenError';
  }
}

export interface TokenCacheStatistics {
  readonly hits: number;
  /** Requests that found no token and waited for one. */
  readonly misses: number;
  readonly failures: number;
  /** Refreshes ahead run on this instance, and those that failed. */
  readonly refreshes: number;
  readonly refreshFailures: number;
}

/** fetchTimeoutSeconds is one timer (AbortSignal.timeout): at most the longest Node takes. */
const MAX_FETCH_TIMEOUT_SECONDS = Math.floor(MAX_TIMER_MILLIS / 1000);
/**
 * The longest expires_in taken at its word: ten years. An auth server that says more is broken or
 * not the one configured (1e308 made the entry's lifetime Infinity, and the cache refused it with
 * an error about an entry option the caller never gave); such an answer is a failure, not cached.
 */
const MAX_EXPIRES_IN = 10 * 365 * 86_400;
/** Half of a surrogate pair with no other half: no UTF-8 form, so no key and no request can carry it. */
const LONE_SURROGATE = /\p{Cs}/u;

export const TOKEN_CACHE_DEFAULTS = Object.freeze({
  safetyMarginSeconds: 60,
  refreshAheadSeconds: 60,
  refreshRetrySeconds: 5,
  fetchTimeoutSeconds: 30,
});

export class TokenCache {
  readonly #options: TokenCacheOptions;
  readonly #margin: number;
  readonly #refreshAhead: number;
  readonly #refreshRetry: number;
  readonly #fetchTimeout: number;
  readonly #logger: Logger;
  readonly #clock: () => number;
  /** Per key: no refresh ahead before this instant (after a failure). */
  readonly #refreshNotBefore = new Map<string, number>();
  readonly #background = new Set<Promise<void>>();
  /** Refreshes on their way, each told when its key is removed (a revocation) meanwhile. */
  readonly #watches = new Set<{ readonly key: string; revoked: boolean }>();
  readonly #onRemove = (event: CacheEvent<CachedToken>): void => {
    for (const watch of this.#watches) if (event.type === 'removeAll' || watch.key === event.key) watch.revoked = true;
  };
  #hits = 0;
  #misses = 0;
  #failures = 0;
  #refreshes = 0;
  #refreshFailures = 0;

  constructor(options: TokenCacheOptions) {
    checkOptions(options);
    this.#options = options;
    this.#margin = options.safetyMarginSeconds ?? TOKEN_CACHE_DEFAULTS.safetyMarginSeconds;
    this.#refreshAhead = options.refreshAheadSeconds ?? TOKEN_CACHE_DEFAULTS.refreshAheadSeconds;
    this.#refreshRetry = options.refreshRetrySeconds ?? TOKEN_CACHE_DEFAULTS.refreshRetrySeconds;
    this.#fetchTimeout = options.fetchTimeoutSeconds ?? TOKEN_CACHE_DEFAULTS.fetchTimeoutSeconds;
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
  }

  /** The cache key of a set of dimensions. @throws MeshcacheError E_INVALID_ARGUMENT naming a missing or extra dimension. */
  keyOf(dimensions: Readonly<Record<string, string>>): string {
    const key = this.#readableKeyOf(dimensions);
    // Long dimensions (a scope list of many permissions) are hashed: a disk-backed token cache
    // takes keys of at most 1,977 bytes, and a refresh marker adds to the key.
    return key.length <= MAX_READABLE_KEY ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
  }

  #readableKeyOf(dimensions: Readonly<Record<string, string>>): string {
    const names = this.#options.dimensions;
    for (const name of Object.keys(dimensions ?? {})) {
      if (!names.includes(name)) {
        throw new MeshcacheError(
          'E_INVALID_ARGUMENT',
          `token dimension "${name}" is not one of this cache's (${names.join(', ')})`,
        );
      }
    }
    return names
      .map((name) => {
        // Own values only: an inherited one (Object.create({ tenant })) was keyed but never sent.
        const value = Object.hasOwn(dimensions, name) ? dimensions[name] : undefined;
        if (typeof value !== 'string' || value === '') {
          throw new MeshcacheError(
            'E_INVALID_ARGUMENT',
            `token dimension "${name}" is missing: every dimension that changes permissions must be in the key`,
          );
        }
        if (LONE_SURROGATE.test(value)) {
          // encodeURIComponent would throw a bare URIError: say which dimension, as for a missing one.
          throw new MeshcacheError(
            'E_INVALID_ARGUMENT',
            `token dimension "${name}" holds a lone UTF-16 surrogate (half of a character): it cannot be put in a key or sent`,
          );
        }
        return `${name}=${encodeURIComponent(value)}`;
      })
      .join('&');
  }

  /** A valid access token for these dimensions, from the cache or the auth server. @throws TokenError */
  async get(dimensions: Readonly<Record<string, string>>): Promise<string> {
    return (await this.getToken(dimensions)).accessToken;
  }

  /** The cached token with its type and expiry. @throws TokenError */
  async getToken(asked: Readonly<Record<string, string>>): Promise<CachedToken> {
    // Read once: the key and the auth server's request are made of the same values (a getter
    // that answered differently the second time cached one tenant's token under another's key).
    const dimensions = this.#snapshot(asked);
    const key = this.keyOf(dimensions);
    const { cache } = this.#options;
    const held = cache.get(key);
    const now = this.#clock();
    if (held !== undefined && held.expiresAt > now) {
      this.#hits++;
      this.#logger.debug({ cache: cache.name, key }, 'token hit');
      if (this.#refreshAhead > 0 && now >= this.#refreshAt(held) && now >= (this.#refreshNotBefore.get(key) ?? 0)) {
        const work = this.#refresh(key, dimensions, held);
        this.#background.add(work);
        void work.finally(() => this.#background.delete(work));
      }
      return held;
    }
    this.#misses++;
    this.#logger.info({ cache: cache.name, key }, 'token miss: asking the auth server');
    try {
      return await cache.getOrLoad(key, () => this.#fetch(key, dimensions), {
        lifespanOf: (token) => ({ timeToLiveSeconds: this.#lifespanSeconds(token) }),
      });
    } catch (error) {
      this.#failures++;
      this.#logger.warn(
        { cache: cache.name, key, err: error },
        'token failure: not cached; the next request asks again',
      );
      throw error instanceof TokenError
        ? error
        : new TokenError(`the auth server could not be asked: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Drops the token for these dimensions (a revocation: on a replicated cache, on every instance). */
  revoke(dimensions: Readonly<Record<string, string>>): boolean {
    return this.#options.cache.remove(this.keyOf(dimensions));
  }

  statistics(): TokenCacheStatistics {
    return {
      hits: this.#hits,
      misses: this.#misses,
      failures: this.#failures,
      refreshes: this.#refreshes,
      refreshFailures: this.#refreshFailures,
    };
  }

  /** Resolves once the refreshes ahead started so far have finished (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  /**
   * The entry's TTL: until the token's expiry less the margin, rounded up so that the entry is
   * held to the end of its refresh window (rounded down, it left up to a second early, and the
   * request that found it gone waited for an auth call); never past the token's own expiry, and
   * at least a second (0 would mean "eternal").
   */
  #lifespanSeconds(token: CachedToken): number {
    const now = this.#clock();
    const untilLeaves = Math.ceil((token.expiresAt - this.#margin * 1000 - now) / 1000);
    const untilExpires = Math.floor((token.expiresAt - now) / 1000);
    return Math.max(1, Math.min(untilLeaves, untilExpires));
  }

  /** When a hit starts a refresh ahead: the last refreshAheadSeconds of the entry, at most its second half. */
  #refreshAt(token: CachedToken): number {
    const leaves = token.expiresAt - this.#margin * 1000;
    const life = token.fetchedAt === undefined ? Number.POSITIVE_INFINITY : leaves - token.fetchedAt;
    // A token that lives no longer than the margin is kept a second: nothing to refresh ahead of.
    if (life <= 0) return Number.POSITIVE_INFINITY;
    return leaves - Math.min(this.#refreshAhead * 1000, life / 2);
  }

  /**
   * Fetches the successor of `held` off the request's path, once per instance (and per cluster
   * with clusterSingleFlight: every instance names the same key). Never rejects.
   */
  async #refresh(key: string, dimensions: Readonly<Record<string, string>>, held: CachedToken): Promise<void> {
    const { cache } = this.#options;
    const leaves = held.expiresAt - this.#margin * 1000;
    // Watched from the hit that started it: a revocation before the load runs (a peer asked first,
    // with single flight) counts too.
    const watch = { key, revoked: false };
    this.#watch(watch);
    try {
      await cache.getOrLoad(
        `${key}#refresh@${held.expiresAt}`,
        async () => {
          this.#refreshes++;
          this.#logger.info({ cache: cache.name, key }, 'token refresh ahead: asking the auth server');
          const token = await this.#fetch(key, dimensions);
          const current = cache.peekEntry(key)?.value;
          // The token it was fetched to replace, or none because that one expired meanwhile; a
          // revocation (a remove, told apart from an expiry by its event) or a newer token wins.
          // Exact for a revocation seen here before this point; a peer's that is still on its way
          // is best effort: the put and the remove cross, and the last to land on an instance wins.
          const same = current?.accessToken === held.accessToken && current.expiresAt === held.expiresAt;
          if (same || (current === undefined && !watch.revoked)) {
            cache.put(key, token, { timeToLiveSeconds: this.#lifespanSeconds(token) });
          }
          // The marker says "done" and nothing more: no second copy of a credential to outlive a revocation.
          return { accessToken: '', tokenType: 'refreshed', expiresAt: token.expiresAt };
        },
        // The marker lives while the held token does: later hits on it find the refresh done.
        { lifespanOf: () => ({ timeToLiveSeconds: Math.max(1, Math.ceil((leaves - this.#clock()) / 1000) + 1) }) },
      );
      this.#refreshNotBefore.delete(key);
    } catch (error) {
      this.#refreshFailures++;
      this.#refreshNotBefore.set(key, this.#clock() + this.#refreshRetry * 1000);
      this.#logger.warn(
        { cache: cache.name, key, err: error },
        'token refresh ahead failed: the held token serves until it leaves',
      );
    } finally {
      this.#unwatch(watch);
    }
  }

  /** Follows the cache's removals while a refresh is on its way (and only then: nothing to close). */
  #watch(watch: { readonly key: string; revoked: boolean }): void {
    if (this.#watches.size === 0) {
      this.#options.cache.on('remove', this.#onRemove).on('removeAll', this.#onRemove);
    }
    this.#watches.add(watch);
  }

  #unwatch(watch: { readonly key: string; revoked: boolean }): void {
    this.#watches.delete(watch);
    if (this.#watches.size === 0) {
      this.#options.cache.off('remove', this.#onRemove).off('removeAll', this.#onRemove);
    }
  }

  /** The caller's own values of this cache's dimensions, read once, frozen (checked by keyOf). */
  #snapshot(asked: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    const copy: Record<string, string> = {};
    for (const name of Object.keys(asked ?? {})) copy[name] = asked[name] as string;
    return Object.freeze(copy);
  }

  async #fetch(key: string, dimensions: Readonly<Record<string, string>>): Promise<CachedToken> {
    const signal = AbortSignal.timeout(this.#fetchTimeout * 1000);
    const response = await new Promise<AuthResponse>((resolve, reject) => {
      const timedOut = () =>
        reject(
          new TokenError(
            `the auth server did not answer for ${key} within ${this.#fetchTimeout} s (fetchTimeoutSeconds)`,
          ),
        );
      signal.addEventListener('abort', timedOut, { once: true });
      this.#options
        .fetchToken(dimensions, { signal })
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', timedOut));
    });
    if (response.status < 200 || response.status > 299) {
      throw new TokenError(`the auth server answered ${response.status} for ${key}`);
    }
    const body = (response.body ?? {}) as Record<string, unknown>;
    const accessToken = body['access_token'];
    const expiresIn = body['expires_in'];
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new TokenError(`the auth server's answer for ${key} has no access_token`);
    }
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0 || expiresIn > MAX_EXPIRES_IN) {
      throw new TokenError(
        `the auth server's answer for ${key} has no usable expires_in (${JSON.stringify(expiresIn)})`,
      );
    }
    const tokenType = typeof body['token_type'] === 'string' ? (body['token_type'] as string) : 'Bearer';
    const fetchedAt = this.#clock();
    const token = { accessToken, tokenType, expiresAt: fetchedAt + expiresIn * 1000, fetchedAt };
    if (expiresIn <= this.#margin) {
      this.#logger.warn(
        { key, expiresIn, margin: this.#margin },
        'token lives no longer than the safety margin; kept one second at most',
      );
    }
    return token;
  }
}

/** A TokenCache over `options.cache`. */
export function tokenCache(options: TokenCacheOptions): TokenCache {
  return new TokenCache(options);
}

/** The names of tokenCache's options (TokenCacheOptions). */
const TOKEN_CACHE_OPTION_NAMES: readonly string[] = Object.freeze([
  'cache',
  'dimensions',
  'fetchToken',
  'fetchTimeoutSeconds',
  'safetyMarginSeconds',
  'refreshAheadSeconds',
  'refreshRetrySeconds',
  'logger',
  'clock',
]);

function checkOptions(options: TokenCacheOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new MeshcacheError('E_CONFIG', 'tokenCache: options must be an object { cache, dimensions, fetchToken }');
  }
  refuseUnknownOptions(options, TOKEN_CACHE_OPTION_NAMES, 'tokenCache', 'E_CONFIG');
  if (!Array.isArray(options.dimensions) || options.dimensions.length === 0) {
    throw new MeshcacheError('E_CONFIG', 'tokenCache: name at least one dimension (environment, backend, scope, ...)');
  }
  if (typeof options.cache?.getOrLoad !== 'function') {
    throw new MeshcacheError(
      'E_CONFIG',
      'tokenCache: options.cache must be a meshcache Cache (manager.getCache(name))',
    );
  }
  if (typeof options.fetchToken !== 'function') {
    throw new MeshcacheError('E_CONFIG', 'tokenCache: options.fetchToken must be a function');
  }
  const timeout = options.fetchTimeoutSeconds;
  if (
    timeout !== undefined &&
    (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_FETCH_TIMEOUT_SECONDS)
  ) {
    throw new MeshcacheError(
      'E_CONFIG',
      `tokenCache: options.fetchTimeoutSeconds must be a number of seconds > 0 and at most ${MAX_FETCH_TIMEOUT_SECONDS} (a timer's longest), got ${String(timeout)}`,
    );
  }
  for (const name of ['safetyMarginSeconds', 'refreshAheadSeconds', 'refreshRetrySeconds'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      throw new MeshcacheError(
        'E_CONFIG',
        `tokenCache: options.${name} must be a number of seconds >= 0, got ${String(value)}`,
      );
    }
  }
}
