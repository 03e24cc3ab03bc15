export type { Headers } from './headers.js';
export type { CacheDecision, CachedResponse, CachePolicyOptions } from './response-cache.js';
export { cachePolicy, parseCacheControl } from './response-cache.js';
export type { KeyedRequest, ResponseKeyOptions } from './response-key.js';
export { responseCacheKey } from './response-key.js';
export type { AuthResponse, CachedToken, TokenCacheOptions, TokenCacheStatistics } from './token-cache.js';
export { TokenCache, TokenError, tokenCache } from './token-cache.js';
