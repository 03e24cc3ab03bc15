export type { KeyvMeshcacheEntry, KeyvMeshcacheOpts } from './keyv-meshcache.js';
export { KeyvMeshcache } from './keyv-meshcache.js';
