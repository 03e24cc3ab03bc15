import { replicatedCache } from './dist/replication-stages.js';
import { WireCodec, MessageType } from '@meshcache/replication/internals';
const N = Number(process.env.N ?? 1000000), PER = 4000, VALUE = 'x'.repeat(200);
const enc = new WireCodec(); const now = Date.now(); const frames = [];
for (let i = 0; i < N; i += PER) { const changes = []; for (let j = i; j < i + PER && j < N; j++) changes.push({ type: MessageType.Put, cache: 'bench', key: `key:${j}`, value: VALUE, version: { time: now, counter: j, node: 'holder' }, createdAt: now, timeToLiveSeconds: 0, timeToIdleSeconds: 0 }); frames.push(Buffer.from(enc.encode({ type: MessageType.Entries, changes }))); }
const rounds = Number(process.env.R ?? 5);
const res = [];
for (let r = 0; r < rounds; r++) {
  const { manager, cache, replicator } = replicatedCache('joiner');
  if (!replicator.port.reserve) throw new Error('no reserve');
  replicator.port.reserve(N);
  const dec = new WireCodec({ deferValues: true });
  globalThis.gc();
  let td = 0, ta = 0;
  for (const f of frames) {
    let t = performance.now();
    const m = dec.decode(f); const fv = dec.takeDeferred();
    td += performance.now() - t; t = performance.now();
    const c = m.changes; for (let i = 0; i < c.length; ) i = replicator.applyRun(c, i, 'holder');
    fv?.settle();
    ta += performance.now() - t;
  }
  if (cache.size !== N) throw new Error('size');
  await new Promise((r) => setTimeout(r, 20)); console.log("scavenges", globalThis.__gc?.n, (globalThis.__gc?.ms ?? 0).toFixed(0), "ms"); if (globalThis.__gc) { globalThis.__gc.n = 0; globalThis.__gc.ms = 0; }
  res.push([td, ta]);
  console.log(`round ${r}: decode ${(td * 1000 / N).toFixed(3)} apply ${(ta * 1000 / N).toFixed(3)} total ${((td + ta) * 1000 / N).toFixed(3)} µs/entry`);
  replicator.close(); await manager.shutdown();
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
console.log(`median (rounds 1..): decode ${(med(res.slice(1).map((x) => x[0])) * 1000 / N).toFixed(3)} apply ${(med(res.slice(1).map((x) => x[1])) * 1000 / N).toFixed(3)} total ${(med(res.slice(1).map((x) => x[0] + x[1])) * 1000 / N).toFixed(3)}`);
