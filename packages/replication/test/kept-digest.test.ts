/**
 * A cache held in memory keeps its repair digest as it is written (the port's digest()); repair
 * reads it from the cache's contents for a cache with a disk tier (here computeDigest: one
 * BucketDigest filled at once, at the bucket count asked). The two must agree exactly, at every
 * bucket count, after any mix of what changes a cache: local writes and removals, a peer's puts,
 * removals, expiries and clears, evictions by count and by bytes, expiry, tombstones forgotten by
 * age and by count, removeAll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualClock } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { HybridLogicalClock } from '../src/internals.js';
import { computeDigest, type KeyVersion } from '../src/repair/digest.js';
import { generator } from './simulation/schedule.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

function cacheUnder(options: { maxElementsInMemory?: number; maxBytesLocalHeap?: number; maxTombstones?: number }) {
  const clock = new ManualClock(1_700_000_000_000);
  const hlc = new HybridLogicalClock({ node: 'gw-1', clock: () => clock.now() });
  const manager = new CacheManager({
    clock: () => clock.now(),
    versionClock: () => hlc.now(),
    logger: quiet,
    tombstoneRetentionSeconds: 60,
    maxTombstones: options.maxTombstones ?? 100_000,
  });
  const cache = manager.addCache<string>('c', {
    maxElementsInMemory: options.maxElementsInMemory ?? 0,
    ...(options.maxBytesLocalHeap === undefined ? {} : { maxBytesLocalHeap: options.maxBytesLocalHeap }),
  });
  const port = replicaPortOf(cache);
  port.digest(1); // kept from here on, as CacheRepair starts it
  return { clock, manager, cache, port };
}

/** The digest read from the cache's contents, as repair builds it for a disk cache. */
function readDigest(port: ReturnType<typeof replicaPortOf<string>>, bucketCount: number) {
  const items: KeyVersion[] = [];
  for (const entry of port.entries()) {
    if (entry.version !== undefined) items.push({ key: entry.key, version: entry.version, removed: false });
  }
  for (const { key, version } of port.tombstones()) items.push({ key, version, removed: true });
  return computeDigest(items, bucketCount);
}

const BUCKET_COUNTS = [1, 2, 64, 1024, 65_536];

/** Where two digests first differ ('same' when they do not): vitest's deep equality is too slow for 512 KiB. */
function compare(kept: ReturnType<typeof readDigest> | undefined, read: ReturnType<typeof readDigest>): string {
  if (kept === undefined) return 'no digest kept';
  const bytes = Buffer.from(kept.digest.buffer, kept.digest.byteOffset, kept.digest.byteLength);
  if (!bytes.equals(Buffer.from(read.digest.buffer, read.digest.byteOffset, read.digest.byteLength))) {
    const at = bytes.findIndex((byte, i) => byte !== read.digest[i]);
    return `digests differ at bucket ${Math.floor(at / 8)} of ${read.counts.length}`;
  }
  const at = kept.counts.findIndex((count, i) => count !== read.counts[i]);
  return at < 0 && kept.counts.length === read.counts.length ? 'same' : `counts differ at bucket ${at}`;
}

describe('the digest a memory cache keeps', () => {
  for (const [name, options] of [
    ['unbounded', {}],
    ['evicting by count', { maxElementsInMemory: 50 }],
    ['evicting by bytes', { maxBytesLocalHeap: 20_000 }],
    ['with few tombstones', { maxTombstones: 20 }],
  ] as const) {
    it(`equals the digest read from the cache after any mix of changes (${name})`, () => {
      const { clock, manager, cache, port } = cacheUnder(options);
      const next = generator(name.length * 7919);
      const peer = (offset: number) => ({ time: clock.now() + offset, counter: Math.floor(next() * 10), node: 'gw-2' });
      let checked = 0;
      for (let step = 0; step < 3000; step++) {
        const key = `k${Math.floor(next() * 120)}`;
        const roll = next();
        if (roll < 0.3) cache.put(key, `v${step}`);
        else if (roll < 0.4) cache.put(key, `ttl${step}`, { timeToLiveSeconds: 1 + Math.floor(next() * 3) });
        else if (roll < 0.55) cache.remove(key);
        else if (roll < 0.75) port.applyPut(key, `peer${step}`, peer(Math.floor(next() * 40) - 20), clock.now(), 0, 0);
        else if (roll < 0.85) port.applyRemote({ type: 'remove', key, version: peer(Math.floor(next() * 40) - 20) });
        else if (roll < 0.88) port.applyRemote({ type: 'expire', key, version: peer(0) });
        else if (roll < 0.9) cache.get(key);
        else if (roll < 0.97) clock.advance(Math.floor(next() * 2000));
        else if (roll < 0.985) cache.evictExpiredElements();
        else if (roll < 0.993) port.applyRemote({ type: 'removeAll', version: peer(-5) });
        else cache.removeAll();
        if (step % 100 === 99) {
          // The kept digest counts an expired entry until it leaves; a read one skips it. Let
          // them leave first, as the sweep does.
          cache.evictExpiredElements();
          for (const count of BUCKET_COUNTS) expect(compare(port.digest(count), readDigest(port, count))).toBe('same');
          checked++;
        }
      }
      expect(checked).toBe(30);
      expect(port.size + port.tombstoneCount).toBeGreaterThan(0); // the run ended holding something
      void manager.shutdown();
    });
  }

  it('starts from what the cache already held, and is not kept for a cache with a disk tier', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const hlc = new HybridLogicalClock({ node: 'gw-1', clock: () => clock.now() });
    const manager = new CacheManager({ clock: () => clock.now(), versionClock: () => hlc.now(), logger: quiet });
    const cache = manager.addCache<string>('c', {});
    for (let i = 0; i < 500; i++) cache.put(`k${i}`, 'v');
    for (let i = 0; i < 100; i++) cache.remove(`k${i}`);
    const port = replicaPortOf(cache);
    expect(compare(port.digest(256), readDigest(port, 256))).toBe('same');
    cache.put('k1', 'again');
    expect(compare(port.digest(256), readDigest(port, 256))).toBe('same');
    await manager.shutdown();

    const dir = mkdtempSync(join(tmpdir(), 'meshcache-digest-'));
    try {
      const onDisk = new CacheManager({ diskStorePath: dir, versionClock: () => hlc.now(), logger: quiet });
      const spilled = onDisk.addCache<string>('d', { maxElementsInMemory: 10, overflowToDisk: true });
      for (let i = 0; i < 50; i++) spilled.put(`k${i}`, 'v');
      expect(replicaPortOf(spilled).digest(16)).toBeUndefined(); // read from what it holds instead
      await onDisk.shutdown();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
