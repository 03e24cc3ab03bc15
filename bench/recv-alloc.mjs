import { Session } from 'node:inspector/promises';
import { replicatedCache } from './dist/replication-stages.js';
import { WireCodec, MessageType } from '@meshcache/replication/internals';
const N = 300000, PER = 4000, VALUE = 'x'.repeat(200);
const enc = new WireCodec(); const now = Date.now(); const frames = [];
for (let i = 0; i < N; i += PER) { const changes = []; for (let j = i; j < i + PER && j < N; j++) changes.push({ type: MessageType.Put, cache: 'bench', key: `key:${j}`, value: VALUE, version: { time: now, counter: j, node: 'holder' }, createdAt: now, timeToLiveSeconds: 0, timeToIdleSeconds: 0 }); frames.push(Buffer.from(enc.encode({ type: MessageType.Entries, changes }))); }
async function run(profile) {
  const { manager, cache, replicator } = replicatedCache('joiner');
  replicator.port?.reserve?.(N);
  const dec = new WireCodec({ deferValues: true });
  globalThis.gc();
  let s;
  if (profile) { s = new Session(); s.connect(); await s.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }); }
  for (const f of frames) { const m = dec.decode(f); const fv = dec.takeDeferred(); const c = m.changes; for (let i = 0; i < c.length; ) i = replicator.applyRun(c, i, 'holder'); fv?.settle(); }
  if (profile) {
    const { profile: p } = await s.post('HeapProfiler.stopSampling');
    const by = new Map(); let total = 0;
    const walk = (n) => { const self = n.selfSize; total += self; const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`; by.set(k, (by.get(k) ?? 0) + self); n.children.forEach(walk); };
    walk(p.head);
    console.log(`allocated ~${(total / N).toFixed(0)} B/entry`);
    for (const [k, b] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log((b / N).toFixed(1).padStart(7), 'B/entry', k);
  }
  replicator.close(); await manager.shutdown();
}
await run(false); await run(false); await run(true);
