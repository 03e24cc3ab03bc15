export { Cache } from './cache.js';
export type { CacheManagerOptions, NotPersisted, ShutdownReport } from './cache-manager.js';
export { CacheManager } from './cache-manager.js';
export type { Clock } from './clock.js';
export { ManualClock, systemClock } from './clock.js';
export type { CacheConfig, EntryOptions, EvictionPolicyName, ResolvedCacheConfig } from './config.js';
export { CACHE_DEFAULTS, EVICTION_POLICY_NAMES, parseBytes, resolveCacheConfig } from './config.js';
export type { LoadTrace } from './diagnostics.js';
export { LOAD_CHANNEL } from './diagnostics.js';
export type { EncodabilityProblem } from './encodable.js';
export { findEncodingProblem } from './encodable.js';
export type { EntrySnapshot } from './entry.js';
export type { ErrorCode } from './errors.js';
export { ConfigError, MeshcacheError, ValueNotEncodableError } from './errors.js';
export type { CacheEvent, CacheEventListener, CacheEventType, EventOrigin } from './events.js';
export { CACHE_EVENT_TYPES } from './events.js';
export type { GetOrLoadOptions } from './loads.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export type {
  EvictionPolicy,
  EvictionPolicyFactory,
  TinyLfuOptions,
  TinyLfuRegions,
} from './policy/index.js';
export { FifoPolicy, LfuPolicy, LruPolicy, TinyLfuPolicy } from './policy/index.js';
export type { Cancel, Scheduler } from './scheduler.js';
export { systemScheduler } from './scheduler.js';
export type { CacheStatistics } from './statistics.js';
export type { Version } from './version.js';
export { compareVersions, isNewer } from './version.js';
