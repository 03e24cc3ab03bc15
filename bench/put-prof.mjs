import { CacheManager } from '@meshcache/core';
import { HybridLogicalClock } from '@meshcache/replication/internals';
const N = 200000, VALUE = 'x'.repeat(200);
for (let r = 0; r < 8; r++) {
  const clock = new HybridLogicalClock({ node: 'alone' });
  const manager = new CacheManager({ versionClock: () => clock.now() });
  const cache = manager.addCache('bench', { maxElementsInMemory: 0 });
  globalThis.gc?.();
  const t = performance.now();
  for (let i = 0; i < N; i++) cache.put(`key:${i}`, VALUE);
  const ms = performance.now() - t;
  console.log(`round ${r}: ${(ms * 1000 / N).toFixed(3)} µs/put`);
  await manager.shutdown();
}
