export { parseCacheControl } from './cache-control.js';
export type {
  CacheDecision,
  CachedResponse,
  CachePolicyOptions,
  StoreDecision,
  StoredHeaders,
} from './cache-policy.js';
export {
  CACHE_POLICY_DEFAULTS,
  cachePolicy,
  HOP_BY_HOP_RESPONSE_HEADERS,
  PER_USER_RESPONSE_HEADERS,
  PROXY_RESPONSE_HEADERS,
} from './cache-policy.js';
export type { Headers } from './headers.js';
export type {
  CacheLookup,
  CacheStatus,
  PurgeMarker,
  RefreshMarker,
  ResponseCacheOptions,
  ResponseCacheStatistics,
  ResponseCacheValue,
  ServedResponse,
  StoreContext,
  StoredResponse,
  UpstreamResponse,
} from './response-cache.js';
export {
  RESPONSE_CACHE_DEFAULTS,
  RESPONSE_CACHE_OPTION_NAMES,
  ResponseCache,
  responseCache,
} from './response-cache.js';
export type { KeyedRequest, ResponseKeyOptions } from './response-key.js';
export { requestOrigin, responseCacheKey } from './response-key.js';
export type { AuthResponse, CachedToken, TokenCacheOptions, TokenCacheStatistics } from './token-cache.js';
export { TOKEN_CACHE_DEFAULTS, TokenCache, TokenError, tokenCache } from './token-cache.js';
export type { VaryMarker, VaryValues } from './variants.js';
