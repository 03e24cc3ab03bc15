/**
 * Synchronous replication over real WebSockets on 127.0.0.1: `await node.settle()` is the point
 * where an Ehcache user's synchronous put returned, so what it reports acknowledged must be
 * applied on the peer by then.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterNode } from '../src/index.js';
import { type Message, MessageType } from '../src/internals.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { nodeCache, SECRET, startNode, until } from './nodes.js';
import { sessionOf } from './sessions.js';

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

describe('settle() after a queue overflow', () => {
  // gw-1 queues at most 4,000 bytes for a peer: 200 puts of 100 characters in one interval overflow it.
  const asynchronous = {
    C: { maxElementsInMemory: 1000, replication: { asynchronousReplicationIntervalMillis: 60_000 } },
  };
  const revoke = (node: ClusterNode) => {
    for (let i = 0; i < 200; i++) nodeCache(node, 'C').put(`token ${i}`, `revoked ${'x'.repeat(100)}`);
  };

  it('acknowledges the peer only once its repair brought it every change the queue dropped', async () => {
    const a = await startNode('gw-1', [], { caches: asynchronous }, { maxQueueBytes: 4000 });
    const b = await startNode('gw-2', [a.url], { caches: asynchronous });
    await b.ready();
    await until(() => a.peers()[0]?.state === 'connected' && b.peers()[0]?.state === 'connected', 'the link');
    await a.settle(); // the link-up repairs are over
    revoke(a);
    const settled = await a.settle();
    // What b holds the moment settle() answers: it acknowledged the Digest it was sent in place of
    // the dropped changes a few round trips before its repair had pulled them (the old answer).
    const held = nodeCache(b, 'C')
      .keys()
      .filter((key) => nodeCache(b, 'C').peekEntry(key)?.value === `revoked ${'x'.repeat(100)}`).length;
    expect(settled['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(held).toBe(200);
  });

  it('counts a peer that acknowledges but has not said its repair is over as timed out, until it says so of a Digest sent after the overflow', async () => {
    const a = await startNode('gw-1', [], { caches: asynchronous }, { maxQueueBytes: 4000 });
    // A peer of this release's protocol written by hand: it answers every Sync, and says
    // Repaired only when the test does.
    const peer = await sessionOf(await new WebSocketTransport().dial(a.url), 'dialler', {
      node: 'gw-2',
      secret: SECRET,
    });
    await peer.established;
    let digests = 0;
    peer.onMessage((message: Message) => {
      if (message.type === MessageType.Sync) peer.send({ type: MessageType.Ack, id: message.id });
      if (message.type === MessageType.Digest && message.cache === 'C') digests++;
    });
    await until(() => digests === 1, "gw-1's Digest as the link came up");
    expect((await a.settle())['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] }); // nothing missed yet
    revoke(a);
    expect((await a.settle())['C']).toEqual({ acknowledged: [], timedOut: ['gw-2'] });
    await until(() => digests >= 2, 'the Digest sent in place of the dropped changes');
    // A repair from the Digest of before the overflow does not cover what the queue dropped.
    peer.send({ type: MessageType.Repaired, cache: 'C', digestNumber: 1 });
    expect((await a.settle())['C']).toEqual({ acknowledged: [], timedOut: ['gw-2'] });
    peer.send({ type: MessageType.Repaired, cache: 'C', digestNumber: digests });
    expect((await a.settle())['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(a.replicationStatistics('C')?.timedOut).toBe(2);
  });

  it('counts a peer of protocol 6 (the release before, mid-upgrade), which does not say when its repair is over, as that release did', async () => {
    const a = await startNode('gw-1', [], { caches: asynchronous }, { maxQueueBytes: 4000 });
    const b = await startNode('gw-2', [a.url], { caches: asynchronous }, { protocols: { min: 2, max: 6 } });
    await b.ready();
    await until(() => a.peers()[0]?.state === 'connected' && b.peers()[0]?.state === 'connected', 'the link');
    expect(a.peers()[0]?.protocol).toBe(6);
    await a.settle();
    revoke(a);
    // Acknowledged once it acknowledged what it was still sent (docs/replication.md says so), not timed out for good.
    expect((await a.settle())['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    await until(() => nodeCache(b, 'C').size === 200, 'the repair to bring gw-2 what the queue dropped');
  });
});

describe('settle() as a link comes up', () => {
  const connected = (node: ClusterNode, peer: string) =>
    node.peers().find((one) => one.id === peer)?.state === 'connected';

  it('counts a peer back from a restart (its disk tier holding a token revoked meanwhile) only once its link-up repair removed the token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-settle-link-up-'));
    try {
      const plain = { C: { maxElementsInMemory: 1000, replication: {} } };
      const onDisk = {
        diskStorePath: dir,
        caches: { C: { maxElementsInMemory: 10, overflowToDisk: true, diskPersistent: true, replication: {} } },
      };
      const a = await startNode('gw-1', [], { caches: plain });
      for (let i = 0; i < 500; i++) nodeCache(a, 'C').put(`token ${i}`, 'valid');
      const b = await startNode('gw-2', [a.url], onDisk);
      await b.ready();
      await until(() => nodeCache(b, 'C').size === 500, 'gw-2 to hold every token');
      await b.stop();
      await until(() => !connected(a, 'gw-2'), 'gw-1 to see gw-2 go');
      // Revoked while gw-2 is away: no link carries it, and gw-2 comes back holding it on disk.
      nodeCache(a, 'C').remove('token 7');
      nodeCache(a, 'C').put('token 8', 'rotated');
      const back = await startNode('gw-2', [a.url], onDisk);
      expect(nodeCache(back, 'C').peekEntry('token 7')?.value).toBe('valid'); // from its disk tier
      await until(() => connected(a, 'gw-2'), 'the link back');
      const settled = await a.settle();
      // What gw-2 serves the moment settle() answers: counted as soon as it acknowledged what the
      // new link sent, it still served the revoked token until its link-up repair ended.
      const held = [nodeCache(back, 'C').peekEntry('token 7')?.value, nodeCache(back, 'C').peekEntry('token 8')?.value];
      expect(settled['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
      expect(held).toEqual([undefined, 'rotated']);
      await back.stop(); // its disk store closed before its directory goes
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts a joiner that held nothing once it holds everything this node held as the link came up', async () => {
    const plain = { C: { maxElementsInMemory: 30_000, replication: {} } };
    const a = await startNode('gw-1', [], { caches: plain });
    for (let i = 0; i < 20_000; i++) nodeCache(a, 'C').put(`GET /${i}`, i);
    nodeCache(a, 'C').remove('GET /0');
    const b = await startNode('gw-2', [a.url], { caches: plain });
    await until(() => connected(a, 'gw-2'), 'the link', { intervalMillis: 0 });
    const settled = await a.settle();
    const held = nodeCache(b, 'C').size;
    expect(settled['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(held).toBe(19_999);
  });

  it('counts a peer at once when this node held nothing as the link came up (settle() right after start waits for no repair)', async () => {
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    nodeCache(b, 'C').put('of its own', 1); // what gw-2 holds, gw-1 lacks: gw-1's settle() does not wait for that
    await until(() => connected(a, 'gw-2'), 'the link');
    expect((await a.settle())['C']).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
  });
});
