import { meshcacheFastify } from './plugin.js';

export type { CachedToken, ResponseCacheValue } from '@meshcache/gateway';
export type { MeshcacheFastifyOptions } from './plugin.js';
export { meshcacheFastify };
export default meshcacheFastify;
