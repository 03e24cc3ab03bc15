/**
 * Synchronous replication over real WebSockets on 127.0.0.1: `await node.settle()` is the point
 * where an Ehcache user's synchronous put returned, so what it reports acknowledged must be
 * applied on the peer by then.
 */
import { describe, expect, it } from 'vitest';
import { nodeCache, startNode, until } from './nodes.js';

const caches = { C: { maxElementsInMemory: 1000, replication: { replicateAsynchronously: false } } };

describe('settle() in synchronous mode', () => {
  it('acknowledges a burst of removeAlls only once the peer applied the last (past ten a second, it waits there)', async () => {
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    await b.ready();
    await until(() => a.peers()[0]?.state === 'connected' && b.peers()[0]?.state === 'connected', 'the link');
    // More removeAlls in a second than a node applies from a peer (REMOVE_ALLS_PER_SECOND): the
    // last waits on gw-2 for the second to end, and the put before it is held there meanwhile.
    for (let i = 0; i < 12; i++) {
      nodeCache(a, 'C').put(`GET /${i}`, i);
      nodeCache(a, 'C').removeAll();
    }
    const settled = await a.settle();
    expect(settled['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(nodeCache(b, 'C').keys()).toEqual([]);
  });
});

describe('settle() with a peer that is not linked', () => {
  it('names it in neither list: node.peers() is where it shows as not connected', async () => {
    const c = await startNode('gw-3', [], { caches });
    const a = await startNode('gw-1', [c.url], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    await b.ready();
    await until(() => a.peers().filter((peer) => peer.state === 'connected').length === 2, 'both links of gw-1');
    await c.stop();
    await until(() => a.peers().find((peer) => peer.id === 'gw-3')?.state !== 'connected', 'gw-1 to see gw-3 go');
    nodeCache(a, 'C').put('GET /revoked', 1);
    const settled = await a.settle();
    expect(settled['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(a.peers().find((peer) => peer.id === 'gw-3')?.state).not.toBe('connected');
  });
});
