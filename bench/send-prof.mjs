import { replicatedCache } from './dist/replication-stages.js';
import { WireCodec, FrameProtection, CipherState } from '@meshcache/replication/internals';
const N = 200000, VALUE = 'x'.repeat(200), KEY = Buffer.alloc(32, 7);
const out = { put: [], flush: [], enc: [], seal: [] };
for (let r = 0; r < 8; r++) {
  const { manager, cache, replicator } = replicatedCache('sender');
  let outbox = [];
  replicator.addPeer({ node: 'receiver', send: (m) => outbox.push(m), bufferedAmount: () => 0, acknowledged: async () => true });
  const encoder = new WireCodec();
  const sealing = new FrameProtection(new CipherState(KEY), new CipherState(KEY));
  globalThis.gc?.();
  let tp = 0, tf = 0, te = 0, ts = 0;
  for (let from = 0; from < N; from += 1000) {
    let t = performance.now();
    for (let i = from; i < from + 1000; i++) cache.put(`key:${i}`, VALUE);
    tp += performance.now() - t; t = performance.now();
    replicator.flush();
    tf += performance.now() - t;
    const batches = outbox; outbox = [];
    for (const b of batches) { t = performance.now(); const f = encoder.encode(b); te += performance.now() - t; t = performance.now(); sealing.seal(f); ts += performance.now() - t; }
  }
  const us = (ms) => (ms * 1000 / N).toFixed(3);
  console.log(`round ${r}: put ${us(tp)} flush ${us(tf)} encode ${us(te)} seal ${us(ts)}`);
  replicator.close();
  await manager.shutdown();
}
