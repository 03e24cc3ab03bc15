export type {
  CacheDecision,
  CachedResponse,
  CachePolicyOptions,
  Headers,
  KeyedRequest,
  ResponseKeyOptions,
} from './response-cache.js';
export { cachePolicy, parseCacheControl, responseCacheKey } from './response-cache.js';
export type { AuthResponse, CachedToken, TokenCacheOptions, TokenCacheStatistics } from './token-cache.js';
export { TokenCache, TokenError, tokenCache } from './token-cache.js';
