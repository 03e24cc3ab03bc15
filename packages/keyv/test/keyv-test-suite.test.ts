/**
 * Keyv's own compliance suite (@keyv/test-suite 2, unmodified), the one every official Keyv
 * store runs, against KeyvMeshcache over three kinds of meshcache cache: memory only, a disk tier
 * that holds most entries (two in memory), and a replicated cache of a two-node cluster on
 * 127.0.0.1 (and a Keyv on the peer reads what one on the first node wrote).
 *
 * Left out: nothing. The suite's package depends on sqlite3 (a native module whose prebuilt
 * download cannot be reached here), but no test of @keyv/test-suite 2.1.x loads it: its
 * api, values, namespace and iterator tests all run below. keyvCompressionTests tests a
 * compression adapter, not a store, so it has nothing to say about this one.
 *
 * The iterator tests get a Keyv whose `iterator` is wired to the store's: Keyv 5 calls a store's
 * iterator only for its own database adapters (sqlite, postgres, mysql, mongo, redis, valkey,
 * etcd), so a user of KeyvMeshcache wires it with that same line (docs/keyv.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite';
import { type Cache, CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { until } from '@meshcache/core/testing';
import { ClusterNode } from '@meshcache/replication';
import Keyv, { type KeyvOptions } from 'keyv';
import * as vitest from 'vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyvMeshcache } from '../src/index.js';

/** Keyv, with the store's iterator wired as docs/keyv.md shows. */
class IterableKeyv extends Keyv {
  constructor(options?: KeyvOptions) {
    super(options);
    if (this.store instanceof KeyvMeshcache)
      this.iterator = this.generateIterator(this.store.iterator.bind(this.store));
  }
}

// The suite's types name its own copy of vitest and keyv; at run time they are these.
const suite = keyvTestSuite as unknown as (test: typeof vitest, keyv: typeof Keyv, store: () => unknown) => void;
const iteratorSuite = keyvIteratorTests as unknown as typeof suite;

describe('@keyv/test-suite on a memory cache', () => {
  const manager = new CacheManager();
  const cache = manager.addCache('keyv', { maxElementsInMemory: 1000 });
  afterAll(() => manager.shutdown());
  const store = () => new KeyvMeshcache(cache);
  suite(vitest, Keyv, store);
  iteratorSuite(vitest, IterableKeyv, store);
});

describe('@keyv/test-suite on a cache whose entries live on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-keyv-'));
  const manager = new CacheManager({ diskStorePath: dir });
  const cache = manager.addCache('keyv', { maxElementsInMemory: 2, overflowToDisk: true });
  afterAll(async () => {
    await manager.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = () => new KeyvMeshcache(cache);
  suite(vitest, Keyv, store);
  iteratorSuite(vitest, IterableKeyv, store);

  it('the suite did read from disk', () => {
    expect(cache.statistics().diskHits).toBeGreaterThan(0);
  });
});

describe('@keyv/test-suite on a replicated cache', async () => {
  const caches = { keyv: { replication: { asynchronousReplicationIntervalMillis: 10 } } };
  const base = { cluster: 'keyv', secret: 'keyv suite', peerDiscovery: { mode: 'manual' as const, peers: [] } };
  const a = await ClusterNode.start({ ...base, name: 'a', peerListener: { hostname: '127.0.0.1', port: 0 }, caches });
  const b = await ClusterNode.start({
    ...base,
    name: 'b',
    peerListener: { hostname: '127.0.0.1', port: 0 },
    peerDiscovery: { mode: 'manual', peers: [a.url] },
    caches,
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
  });
  const cache = a.manager.getCache('keyv');
  const store = () => new KeyvMeshcache(cache as NonNullable<typeof cache>);
  suite(vitest, Keyv, store);
  iteratorSuite(vitest, IterableKeyv, store);

  it('Keyv writes through the store reach the peer, value for value, and a delete removes the key there', async () => {
    const keyv = new Keyv({ store: store(), namespace: 'orders' });
    await keyv.set('42', { status: 'paid' }, 60_000);
    await keyv.set('43', 'pending');
    await keyv.setMany([
      { key: '44', value: [1, 2] },
      { key: '45', value: null },
    ]);
    await keyv.delete('43');
    const contents = (node: ClusterNode) =>
      [...replicaPortOf(node.manager.getCache('keyv') as Cache<unknown>).entries()]
        .map((entry) => [entry.key, entry.value])
        .sort();
    await until(() => JSON.stringify(contents(b)) === JSON.stringify(contents(a)), 'b to hold what a holds', {
      intervalMillis: 20,
    });
    expect(contents(a).map(([key]) => key)).toEqual(['orders:42', 'orders:44', 'orders:45']);
    expect(contents(b)).toEqual(contents(a));
    const onB = new Keyv({
      store: new KeyvMeshcache(b.manager.getCache('keyv') as NonNullable<typeof cache>),
      namespace: 'orders',
    });
    expect(await onB.get('42')).toEqual({ status: 'paid' });
    expect(await onB.get('43')).toBeUndefined();
  });
});
