/**
 * What a node's peers' changes do there, over real WebSockets on 127.0.0.1: the events
 * docs/replication.md ("Events on the receiving node") lists, origin 'remote' each, and where the
 * Ehcache options behave otherwise than Ehcache's (docs/replication.md, docs/configuration.md).
 */
import type { Cache } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import { nodeCache, startNode, until } from './nodes.js';

const TYPES = ['put', 'update', 'remove', 'expire', 'evict', 'removeAll'] as const;

function heard(cache: Cache<unknown>): string[] {
  const events: string[] = [];
  for (const type of TYPES) cache.on(type, (event) => events.push(`${event.type} ${event.key ?? '*'} ${event.origin}`));
  return events;
}

/** Two nodes with these caches (and config), gw-2 dialling gw-1, once the link is up both ways. */
async function linkedPair(overrides: Parameters<typeof startNode>[2]) {
  const a = await startNode('gw-1', [], overrides);
  const b = await startNode('gw-2', [a.url], overrides);
  await b.ready();
  await until(() => a.peers()[0]?.state === 'connected' && b.peers()[0]?.state === 'connected', 'the link');
  return { a, b };
}

describe('events on the receiving node', () => {
  it("invalidate mode: a peer's put or update is a remote remove there, whether it held the key or not", async () => {
    const caches = {
      C: {
        replication: {
          asynchronousReplicationIntervalMillis: 10,
          replicatePutsViaCopy: false,
          replicateUpdatesViaCopy: false,
        },
      },
    };
    const { a, b } = await linkedPair({ caches });
    const events = heard(nodeCache(b, 'C'));
    nodeCache(a, 'C').put('GET /new', 1); // b never held it
    await a.settle();
    expect(events).toEqual(['remove GET /new remote']);
    // b holds a key a then writes: b drops it, and a later get there misses
    nodeCache(b, 'C').put('GET /held', 'b');
    await b.settle();
    nodeCache(a, 'C').put('GET /held', 'a');
    await a.settle();
    expect(nodeCache(b, 'C').get('GET /held')).toBeUndefined();
    expect(nodeCache(a, 'C').get('GET /held')).toBe('a');
    expect(events.slice(1)).toEqual(['put GET /held local', 'remove GET /held remote']);
  });

  it("a joiner's bootstrap fires a remote put for each entry it takes and a remote remove for each removal its peer keeps a tombstone of", async () => {
    const caches = { C: { replication: { asynchronousReplicationIntervalMillis: 10 } } };
    const a = await startNode('gw-1', [], { caches });
    nodeCache(a, 'C').put('GET /kept', 1);
    nodeCache(a, 'C').put('GET /gone', 2);
    nodeCache(a, 'C').remove('GET /gone');
    const b = await startNode('gw-2', [a.url], { caches }); // bootstrapAsynchronously: start() returns at once
    const events = heard(nodeCache(b, 'C'));
    await b.ready();
    expect(nodeCache(b, 'C').keys()).toEqual(['GET /kept']);
    expect(events.sort()).toEqual(['put GET /kept remote', 'remove GET /gone remote']);
  });
});

describe('a put over an expired entry', () => {
  it('is a new key (expire, then put), so replicatePuts false keeps it local where Ehcache sent it as an update', async () => {
    const caches = {
      C: {
        timeToLiveSeconds: 0.2,
        replication: {
          asynchronousReplicationIntervalMillis: 10,
          replicatePuts: false,
          replicateUpdates: true,
          replicateExpiries: false,
        },
      },
    };
    const { a, b } = await linkedPair({ caches });
    nodeCache(a, 'C').put('GET /k', 1);
    nodeCache(b, 'C').put('GET /k', 1);
    // Both hold it; each copy expires (TTL counts from each write) but is not removed until read or swept.
    await until(
      () => nodeCache(a, 'C').peekEntry('GET /k') === undefined && nodeCache(b, 'C').peekEntry('GET /k') === undefined,
      'GET /k to expire on both nodes',
    );
    const onA: string[] = [];
    for (const type of TYPES)
      nodeCache(a, 'C').on(type, (event) => onA.push(`${event.type} ${event.key} ${event.origin}`));
    nodeCache(a, 'C').put('GET /k', 2);
    await a.settle();
    expect(onA).toEqual(['expire GET /k local', 'put GET /k local']);
    expect(nodeCache(b, 'C').get('GET /k')).toBeUndefined();
  });
});

describe('puts copied, updates invalidated', () => {
  it("a peer that dropped an updated key gets its value back from a repair once its tombstone is forgotten (Ehcache's stayed without it)", async () => {
    const caches = {
      C: {
        replication: {
          asynchronousReplicationIntervalMillis: 10,
          replicateUpdatesViaCopy: false,
          repairIntervalMillis: 200,
        },
      },
    };
    const { a, b } = await linkedPair({ caches, tombstoneRetentionSeconds: 1 });
    nodeCache(a, 'C').put('GET /k', 1);
    await a.settle();
    expect(nodeCache(b, 'C').get('GET /k')).toBe(1); // a new key: copied
    nodeCache(a, 'C').put('GET /k', 2);
    await a.settle();
    expect(nodeCache(b, 'C').has('GET /k')).toBe(false); // an update: invalidated
    // Anti-entropy runs only while the cache changes: keep a writing until the repair brings it.
    let i = 0;
    await until(() => {
      nodeCache(a, 'C').put(`GET /other/${i++}`, i);
      return nodeCache(b, 'C').peekEntry('GET /k')?.value === 2;
    }, 'a repair to bring GET /k back to gw-2 once its tombstone is forgotten');
  });
});
