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
 *
 * Hits, misses and failures are counted and logged apart (never the token itself).
 */
import { type Cache, type Logger, MeshcacheError, silentLogger } from '@meshcache/core';

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
}

export interface TokenCacheOptions {
  readonly cache: Cache<CachedToken>;
  /** The dimensions every request must give, in key order: e.g. ['environment', 'backend', 'scope', 'tenant']. */
  readonly dimensions: readonly string[];
  /** Asks the auth server for a token for these dimensions. Throw for a transport failure. */
  readonly fetchToken: (dimensions: Readonly<Record<string, string>>) => Promise<AuthResponse>;
  /** Seconds taken off expires_in. @default 60 */
  readonly safetyMarginSeconds?: number;
  readonly logger?: Logger;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
}

export class TokenError extends MeshcacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_TOKEN', message, options);
    this.name = 'TokenError';
  }
}

export interface TokenCacheStatistics {
  readonly hits: number;
  readonly misses: number;
  readonly failures: number;
}

export class TokenCache {
  readonly #options: TokenCacheOptions;
  readonly #margin: number;
  readonly #logger: Logger;
  readonly #clock: () => number;
  #hits = 0;
  #misses = 0;
  #failures = 0;

  constructor(options: TokenCacheOptions) {
    if (options.dimensions.length === 0) {
      throw new MeshcacheError(
        'E_CONFIG',
        'tokenCache: name at least one dimension (environment, backend, scope, ...)',
      );
    }
    this.#options = options;
    this.#margin = options.safetyMarginSeconds ?? 60;
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? Date.now;
  }

  /** The cache key of a set of dimensions. @throws MeshcacheError E_INVALID_ARGUMENT naming a missing or extra dimension. */
  keyOf(dimensions: Readonly<Record<string, string>>): string {
    const names = this.#options.dimensions;
    for (const name of Object.keys(dimensions)) {
      if (!names.includes(name)) {
        throw new MeshcacheError(
          'E_INVALID_ARGUMENT',
          `token dimension "${name}" is not one of this cache's (${names.join(', ')})`,
        );
      }
    }
    return names
      .map((name) => {
        const value = dimensions[name];
        if (typeof value !== 'string' || value === '') {
          throw new MeshcacheError(
            'E_INVALID_ARGUMENT',
            `token dimension "${name}" is missing: every dimension that changes permissions must be in the key`,
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
  async getToken(dimensions: Readonly<Record<string, string>>): Promise<CachedToken> {
    const key = this.keyOf(dimensions);
    const { cache } = this.#options;
    const held = cache.get(key);
    if (held !== undefined && held.expiresAt > this.#clock()) {
      this.#hits++;
      this.#logger.debug({ cache: cache.name, key }, 'token hit');
      return held;
    }
    this.#misses++;
    this.#logger.info({ cache: cache.name, key }, 'token miss: asking the auth server');
    try {
      return await cache.getOrLoad(key, () => this.#fetch(key, dimensions), {
        // At least a second (0 would mean "eternal"), never past the token's own expiry.
        lifespanOf: (token) => ({
          timeToLiveSeconds: Math.max(1, Math.floor((token.expiresAt - this.#clock()) / 1000) - this.#margin),
        }),
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
    return { hits: this.#hits, misses: this.#misses, failures: this.#failures };
  }

  async #fetch(key: string, dimensions: Readonly<Record<string, string>>): Promise<CachedToken> {
    const response = await this.#options.fetchToken(dimensions);
    if (response.status < 200 || response.status > 299) {
      throw new TokenError(`the auth server answered ${response.status} for ${key}`);
    }
    const body = (response.body ?? {}) as Record<string, unknown>;
    const accessToken = body['access_token'];
    const expiresIn = body['expires_in'];
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new TokenError(`the auth server's answer for ${key} has no access_token`);
    }
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new TokenError(
        `the auth server's answer for ${key} has no usable expires_in (${JSON.stringify(expiresIn)})`,
      );
    }
    const tokenType = typeof body['token_type'] === 'string' ? (body['token_type'] as string) : 'Bearer';
    const token = { accessToken, tokenType, expiresAt: this.#clock() + expiresIn * 1000 };
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
