import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { LAG_HELD_MILLIS } from '../src/held-lag.js';
import { MessageType } from '../src/internals.js';
import type { SessionMessage } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { recordPrefetches } from './prefetches.js';
import { clock, link, makeNode, pair, settleBoth, type TestNode } from './replicator-harness.js';

describe('CacheReplicator', () => {
  it('carries puts, updates, removes and removeAll to the peer, which fires them as remote', async () => {
    const { a, b, settle, cacheOf } = await pair();
    cacheOf(a).put('GET /a', { status: 200, body: Buffer.from('a') });
    await settle();
    expect(cacheOf(b).get('GET /a')).toEqual({ status: 200, body: Buffer.from('a') });
    cacheOf(a).put('GET /a', { status: 304 });
    await settle();
    expect(cacheOf(b).get('GET /a')).toEqual({ status: 304 });
    cacheOf(a).put('GET /b', 'b');
    cacheOf(a).remove('GET /a');
    await settle();
    expect(cacheOf(b).has('GET /a')).toBe(false);
    expect(cacheOf(b).get('GET /b')).toBe('b');
    cacheOf(a).removeAll();
    await settle();
    expect(cacheOf(b).size).toBe(0);
    expect(b.events).toEqual([
      'put:GET /a:remote',
      'update:GET /a:remote',
      'put:GET /b:remote',
      'remove:GET /a:remote',
      'removeAll:*:remote',
    ]);
  });

  it("reads ahead the keys of a peer's batch before applying it, and applies every change", async () => {
    const { a, b, settle, cacheOf } = await pair();
    const prefetched = recordPrefetches(cacheOf(b));
    const keys = Array.from({ length: 300 }, (_, i) => `GET /${i}`);
    for (const key of keys) cacheOf(a).put(key, key.length);
    cacheOf(a).put('GET /3', 'again');
    await settle();
    // One batch (a key put twice goes once, with its last value, at its first place): its keys read ahead in its order.
    expect(prefetched.flat()).toEqual(keys);
    for (const key of keys) expect(cacheOf(b).get(key)).toBe(key === 'GET /3' ? 'again' : key.length);
  });

  it("applies a peer's keys past the key index's Map (its table, read ahead) exactly, new and held alike", async () => {
    const a = makeNode('gw-1', {}, undefined, { maxElementsInMemory: 0 });
    const b = makeNode('gw-2', {}, undefined, { maxElementsInMemory: 0 });
    await link(a, b);
    const settle = () => settleBoth(a, b);
    const cacheOf = (node: TestNode) => node.cache;
    const count = 70_000; // past the key index's Map (TABLE_FROM in core's key-index.ts: 65,536 keys)
    for (let i = 0; i < count; i++) cacheOf(a).put(`GET /${i}`, i);
    await settle();
    // Again, every other key: now a lookup of a key held, its key read ahead and compared.
    for (let i = 0; i < count; i += 2) cacheOf(a).put(`GET /${i}`, -i);
    cacheOf(b).put('GET /local', 'b');
    await settle();
    expect(cacheOf(b).size).toBe(count + 1);
    for (let i = 0; i < count; i++) {
      if (cacheOf(b).peekEntry(`GET /${i}`)?.value !== (i % 2 === 0 ? -i : i)) throw new Error(`GET /${i} on b`);
    }
  }, 60_000);

  it("shows a link's lag for a minute after its last live batch, then none: an idle link is not a peer behind", async () => {
    const a = makeNode('gw-1', {});
    const b = makeNode('gw-2', {});
    await link(a, b);
    await settleBoth(a, b);
    expect(b.link?.lagMillis).toBeNull(); // no live batch yet
    a.cache.put('k', 'v');
    await settleBoth(a, b);
    expect(b.link?.lagMillis).toEqual(expect.any(Number));
    // The nodes' clock moves on, as if the link had sat idle that long.
    clock.advance(LAG_HELD_MILLIS - 1000);
    expect(b.link?.lagMillis).toEqual(expect.any(Number));
    clock.advance(2000);
    expect(b.link?.lagMillis).toBeNull();
    a.cache.put('k', 'w');
    await settleBoth(a, b);
    expect(b.link?.lagMillis).toEqual(expect.any(Number));
  });

  it('never sends back what it applied from a peer (no ping-pong)', async () => {
    const { a, b, settle, cacheOf } = await pair();
    cacheOf(a).put('k', 1);
    await settle();
    await settle();
    expect(b.received).toHaveLength(1);
    expect(a.received).toHaveLength(0);
  });

  it('propagates the removal of a key the sender never held (a revocation reaches every node)', async () => {
    const { a, b, settle, cacheOf } = await pair();
    cacheOf(b).put('token', 't');
    await settle();
    cacheOf(a).remove('token'); // a holds it from b; remove it anyway, twice
    cacheOf(a).remove('token');
    await settle();
    expect(cacheOf(b).has('token')).toBe(false);
  });

  it('coalesces by key inside an interval: one change per key per batch', async () => {
    const { a, b, settle, cacheOf } = await pair();
    for (let i = 0; i < 100; i++) cacheOf(a).put('hot', i);
    cacheOf(a).put('cold', 'x');
    await settle();
    expect(b.received.map((c) => (c.type === MessageType.Put ? `${c.key}=${String(c.value)}` : c.type))).toEqual([
      'hot=99',
      'cold=x',
    ]);
  });

  it("coalesces a key's put and its removal inside an interval into the removal; a removeAll replaces all before it", async () => {
    const { a, b, settle, cacheOf } = await pair();
    cacheOf(a).put('purged', 'x');
    cacheOf(a).put('kept', 'y');
    cacheOf(a).remove('purged');
    await settle();
    expect(b.received.map((c) => (c.type === MessageType.RemoveAll ? 'removeAll' : `${c.type}:${c.key}`))).toEqual([
      `${MessageType.Remove}:purged`,
      `${MessageType.Put}:kept`,
    ]);
    b.received.length = 0;
    cacheOf(a).put('gone', 1);
    cacheOf(a).removeAll();
    cacheOf(a).put('after', 2);
    await settle();
    expect(b.received.map((c) => (c.type === MessageType.RemoveAll ? 'removeAll' : `${c.type}:${c.key}`))).toEqual([
      'removeAll',
      `${MessageType.Put}:after`,
    ]);
    expect([cacheOf(b).has('gone'), cacheOf(b).get('after')]).toEqual([false, 2]);
  });

  it('a change made while a flush sends (by something a send set off) goes at the next flush, not lost', () => {
    const node = makeNode('gw-1', {});
    const sent: string[] = [];
    let first = true;
    node.replicator.addPeer({
      node: 'gw-2',
      send: (message) => {
        if (message.type === MessageType.Batch)
          for (const change of message.changes) sent.push(change.type === MessageType.Put ? change.key : '');
        if (first) {
          first = false;
          node.cache.put('during', 1);
        }
      },
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
    node.cache.put('before', 1);
    node.replicator.flush();
    expect(sent).toEqual(['before']);
    node.replicator.flush();
    expect(sent).toEqual(['before', 'before', 'during']);
    node.replicator.flush();
    expect(sent).toEqual(['before', 'before', 'during']);
  });

  it('coalesces by key under eviction churn: keys that leave memory and come back are queued once each', () => {
    const node = makeNode('gw-1', {}, undefined, { maxElementsInMemory: 5 });
    const sent: string[] = [];
    node.replicator.addPeer({
      node: 'gw-2',
      send: (message) => {
        if (message.type === MessageType.Batch)
          for (const change of message.changes)
            sent.push(change.type === MessageType.Put ? `${change.key}=${String(change.value)}` : '');
      },
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
    let seed = 1;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const last = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const key = `k${Math.floor(random() * 10)}`;
      node.cache.put(key, i);
      last.set(key, i);
    }
    expect(node.replicator.peerStates()[0]?.queued).toBe(last.size);
    node.replicator.flush();
    expect(sent.sort()).toEqual([...last].map(([key, value]) => `${key}=${value}`).sort());
  });

  it('a removeAll set off by a send mid-flush ends the flush cleanly: what follows goes, in order, at the next', () => {
    const node = makeNode('gw-1', { asynchronousReplicationMaximumBatchSize: 1 });
    const sent: string[][] = [];
    let first = true;
    node.replicator.addPeer({
      node: 'gw-2',
      send: (message) => {
        if (message.type !== MessageType.Batch) return;
        sent.push(message.changes.map((change) => (change.type === MessageType.RemoveAll ? 'removeAll' : change.key)));
        if (first) {
          first = false;
          node.cache.removeAll();
          node.cache.put('after', 1);
        }
      },
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
    node.cache.put('x', 1);
    node.cache.put('y', 2);
    node.replicator.flush();
    expect(sent).toEqual([['x']]);
    node.replicator.flush();
    expect(sent).toEqual([['x'], ['removeAll'], ['after']]);
  });

  it("a 'repair' peer (a backplane member) added mid-interval does not hold back coalescing, and is sent nothing live", () => {
    const node = makeNode('gw-1', {});
    const sent: Record<string, string[]> = { link: [], member: [] };
    const peer = (name: 'link' | 'member', role: 'link' | 'repair') => ({
      node: name,
      role,
      send: (message: SessionMessage) => {
        if (message.type === MessageType.Batch)
          for (const change of message.changes)
            sent[name]?.push(change.type === MessageType.Put ? `${change.key}=${String(change.value)}` : '');
      },
      bufferedAmount: () => 0,
      acknowledged: async () => true,
    });
    node.replicator.addPeer(peer('link', 'link'));
    node.cache.put('k', 1);
    node.replicator.addPeer(peer('member', 'repair'));
    node.cache.put('k', 2);
    expect(node.replicator.peerStates().map(({ node: name, queued }) => [name, queued])).toEqual([
      ['link', 1],
      ['member', 0],
    ]);
    node.replicator.flush();
    expect(sent).toEqual({ link: ['k=2'], member: [] });
  });

  it('converges when both nodes write the same key at once', async () => {
    const { a, b, settle, cacheOf } = await pair();
    cacheOf(a).put('k', 'from a');
    cacheOf(b).put('k', 'from b');
    await settle();
    expect(cacheOf(a).get('k')).toBe(cacheOf(b).get('k'));
  });

  it('invalidate mode: with replicatePutsViaCopy false, the peer drops the key instead of receiving it', async () => {
    const { a, b, settle, cacheOf } = await pair({ replicatePutsViaCopy: false, replicateUpdatesViaCopy: false });
    cacheOf(b).put('k', 'stale on b');
    await settle();
    cacheOf(a).put('k', 'fresh on a');
    await settle();
    expect(cacheOf(b).has('k')).toBe(false);
    expect(b.received.every((c) => c.type !== MessageType.Put)).toBe(true);
  });

  it('sends nothing that the settings turn off', async () => {
    const { b, a, settle, cacheOf } = await pair({ replicatePuts: false, replicateRemovals: false });
    cacheOf(a).put('k', 1);
    cacheOf(a).remove('k');
    cacheOf(a).removeAll();
    await settle();
    expect(b.received).toEqual([]);
  });

  it('an expiry found on one node removes the key on the peer only if it holds the same version', async () => {
    const { a, b, settle, cacheOf } = await pair();
    cacheOf(a).put('same', 1);
    cacheOf(a).put('newer', 1);
    await settle();
    // the versions a holds now, as a's sweep would report them once they expire there
    const expiredOnA = ['same', 'newer'].map((key) => ({ key, version: cacheOf(a).peekEntry(key)?.version }));
    cacheOf(b).put('newer', 2); // meanwhile b writes a newer version of "newer"
    for (const { key, version } of expiredOnA) {
      if (version !== undefined)
        b.replicator.apply({ type: MessageType.Expire, cache: 'Response Cache', key, version }, 'gw-1');
    }
    expect(cacheOf(b).has('same')).toBe(false);
    expect(cacheOf(b).get('newer')).toBe(2);
  });

  it('repairs a peer whose queue overflowed from a digest, so nothing stays lost', async () => {
    const { a, b, settle, cacheOf } = await pair({}, 4000);
    for (let i = 0; i < 200; i++) cacheOf(a).put(`k${i}`, 'v'.repeat(100));
    expect(a.replicator.peerStates()).toEqual([expect.objectContaining({ node: 'gw-2', needsRepair: true })]);
    await settle();
    expect(cacheOf(b).size).toBe(200);
    expect(cacheOf(b).get('k199')).toBe('v'.repeat(100));
    expect(a.replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: false, queued: 0 })]);
  });

  it('tells the peer whose Digest it repaired from when that repair is over (Repaired): what it pulled applied, or found in step', async () => {
    const a = makeNode('gw-1', {}, 4000);
    const b = makeNode('gw-2', {});
    await link(a, b, new MemoryNetwork(), 7);
    await settleBoth(a, b);
    const repairedOn = (node: TestNode) => node.messages.filter((type) => type === MessageType.Repaired).length;
    // As the link came up one repaired from the other's empty Digest, and was pushed what the other
    // holds (nothing) in place of a Digest it would have repaired from too: no Repaired for a push.
    expect(repairedOn(a) + repairedOn(b)).toBe(1);
    const before = repairedOn(a);
    for (let i = 0; i < 200; i++) a.cache.put(`k${i}`, 'v'.repeat(100));
    // The queue overflowed: b is sent a Digest instead, and pulls the dropped changes.
    expect(await a.replicator.settle()).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(b.cache.size).toBe(200);
    expect(b.messages).toContain(MessageType.BootstrapDone);
    expect(repairedOn(a)).toBe(before + 1);
    a.replicator.requestRepair('gw-2'); // a Digest again: the two are in step now, b finds nothing to ask for
    await settleBoth(a, b);
    expect(repairedOn(a)).toBe(before + 2);
  });

  it('numbers the Digests of a link that replaced one still registered from 1 again, so that settle() after an overflow counts the peer once its repair is over', async () => {
    const a = makeNode('gw-1', {}, 4000);
    const b = makeNode('gw-2', {});
    await link(a, b, new MemoryNetwork(), 7);
    await settleBoth(a, b);
    a.replicator.requestRepair('gw-2'); // b takes in more of a's Digests on this link
    await settleBoth(a, b);
    // The link closes, and a new one comes up before the old one's close is handled (ClusterNode
    // links a peer whose old connection is closing): the new registration replaces the old one,
    // whose removal later is then not the registration held, and is ignored.
    const old = [a.link, b.link];
    for (const each of old) each?.session.close();
    await link(a, b, new MemoryNetwork(), 7);
    for (const each of old) each?.detach();
    await settleBoth(a, b);
    for (let i = 0; i < 200; i++) a.cache.put(`k${i}`, 'v'.repeat(100));
    // b named a's Digests counting on from the old link: a took its Repaired for none it sent.
    expect(await a.replicator.settle()).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(b.cache.size).toBe(200);
  });

  it('settle() after the link of a peer whose queue overflowed went and came back counts it once a repair over the new link is over', async () => {
    const a = makeNode('gw-1', {}, 4000);
    const b = makeNode('gw-2', {});
    b.cache.put('of its own', 'v'); // so that its Digest is not empty: a repairs from it, and it from a's
    await link(a, b, new MemoryNetwork(), 7);
    await settleBoth(a, b);
    for (let i = 0; i < 200; i++) a.cache.put(`k${i}`, 'v'.repeat(100));
    // The queue overflowed, and the link goes before the flush that would have sent b a Digest.
    for (const each of [a.link, b.link]) {
      each?.session.close();
      each?.detach();
    }
    await link(a, b, new MemoryNetwork(), 7);
    // Counted once it acknowledged what the new link sent it, b was said to hold the 200 changes
    // while it held none of them: they went with the old link's queue, and the new one sent none.
    expect(await a.replicator.settle()).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(b.cache.size).toBe(201);
  });

  it('settle() counts a joiner pushed everything (its Digest said it held nothing) once the push is applied, though the joiner names no Digest in a Repaired', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-push-'));
    try {
      // a's digest is read from its disk tier, in slices: b's empty Digest comes meanwhile.
      const a = makeNode('gw-1', {}, undefined, { maxElementsInMemory: 10, overflowToDisk: true }, dir);
      const b = makeNode('gw-2', {});
      for (let i = 0; i < 5000; i++) a.cache.put(`k${i}`, 'v'.repeat(20));
      await link(a, b, new MemoryNetwork(), 7);
      const settled = await a.replicator.settle();
      const held = b.cache.size;
      expect(settled).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
      expect(held).toBe(5000);
      // The push took the place of a's Digest: b got none to repair from, and said no Repaired.
      expect(b.messages).not.toContain(MessageType.Digest);
      expect(b.messages).toContain(MessageType.BootstrapDone);
      expect(a.messages).not.toContain(MessageType.Repaired);
      await a.manager.shutdown(); // its disk store closed before its directory goes
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on a link of protocol 6 says no Repaired, and settle() after an overflow counts the peer once it acknowledged what it was still sent, as that release did', async () => {
    const a = makeNode('gw-1', {}, 4000);
    const b = makeNode('gw-2', {});
    await link(a, b, new MemoryNetwork(), 6);
    await settleBoth(a, b);
    for (let i = 0; i < 200; i++) a.cache.put(`k${i}`, 'v'.repeat(100));
    expect(await a.replicator.settle()).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(b.cache.size).toBeLessThan(200); // a peer of the release before does not say when its repair is over
    await settleBoth(a, b);
    expect(b.cache.size).toBe(200);
    expect([...a.messages, ...b.messages]).not.toContain(MessageType.Repaired);
  });

  it('sends at once in synchronous mode, and settle() reports the peer acknowledged it', async () => {
    const { b, a, cacheOf } = await pair({ replicateAsynchronously: false });
    cacheOf(a).put('k', 'now');
    const settled = await a.replicator.settle();
    expect(settled).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(cacheOf(b).get('k')).toBe('now');
    expect(a.replicator.counters.acknowledged).toBeGreaterThanOrEqual(1);
  });

  it('treats a connection backed up past the byte bound like an overflowed queue: a digest instead of the batch', async () => {
    const node = makeNode('gw-1', {}, 1_000_000);
    const sent: number[] = [];
    node.replicator.addPeer({
      node: 'gw-slow',
      send: (message) => sent.push(message.type),
      bufferedAmount: () => 2_000_000, // the socket has not drained
      acknowledged: async () => false,
    });
    node.cache.put('k', 'v');
    node.replicator.flush();
    await new Promise((resolve) => setImmediate(resolve)); // the digest is built off the caller's turn
    expect(sent).toEqual([MessageType.Digest]);
    expect(node.replicator.peerStates()).toEqual([expect.objectContaining({ queued: 0, needsRepair: false })]);
  });

  it('synchronous mode: a peer whose connection backed up is timed out by settle() until it says a repair from the Digest sent once it drained is over; rounds go to it meanwhile', async () => {
    const node = makeNode('gw-1', { replicateAsynchronously: false, repairIntervalMillis: 0 }, 1_000_000);
    const digests: number[] = [];
    let unsent = 0;
    node.replicator.addPeer({
      node: 'gw-slow',
      send: (message) => {
        if (message.type === MessageType.Digest) digests.push(digests.length + 1);
        else unsent += 300_000; // nothing drains until the test says so
      },
      bufferedAmount: () => unsent,
      acknowledged: async () => true, // it acknowledges whatever it was sent
      confirmsRepairs: true,
    });
    for (let i = 0; i < 10; i++) node.cache.put(`k${i}`, 'v');
    expect(node.replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: true })]);
    unsent = 0;
    const settled = node.replicator.settle(); // its flush offers the Digest
    await until(() => digests.length === 1, 'the Digest in place of what was not sent');
    expect(await settled).toEqual({ acknowledged: [], timedOut: ['gw-slow'] });
    // The cache did not change since, yet the next round goes to it: its repair may have stopped short.
    node.replicator.antiEntropyRound();
    await until(() => digests.length === 2, "a round's Digest");
    const again = node.replicator.settle();
    node.replicator.receiveRepair({ type: MessageType.Repaired, cache: 'Response Cache', digestNumber: 2 }, 'gw-slow');
    expect(await again).toEqual({ acknowledged: ['gw-slow'], timedOut: [] });
    node.replicator.antiEntropyRound(); // in step as far as this node knows: no round for an unchanged cache
    await new Promise((resolve) => setImmediate(resolve));
    expect(digests).toHaveLength(2);
  });

  it('synchronous mode holds the byte bound too: past it a peer gets nothing more, then a digest once it drained', async () => {
    const node = makeNode('gw-1', { replicateAsynchronously: false }, 1_000_000);
    const sent: number[] = [];
    let unsent = 0;
    node.replicator.addPeer({
      node: 'gw-slow',
      send: (message) => {
        sent.push(message.type);
        unsent += 300_000; // nothing drains: Redis or the peer is away
      },
      bufferedAmount: () => unsent,
      acknowledged: async () => false,
    });
    for (let i = 0; i < 100; i++) node.cache.put(`k${i}`, 'v'.repeat(100));
    // Four sends fill the bound; the rest wait for a repair, however many puts come (memory
    // grew by each change's size without bound before: 300 MB for 300 puts of 1 MiB).
    expect(sent).toEqual([MessageType.Batch, MessageType.Batch, MessageType.Batch, MessageType.Batch]);
    expect(node.replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: true })]);
    unsent = 400_000; // below half the bound
    node.cache.put('after', 'v');
    await new Promise((resolve) => setImmediate(resolve)); // the digest is built off the caller's turn
    expect(sent.slice(4)).toEqual([MessageType.Digest]);
    expect(node.replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: false })]);
    unsent = 0;
    node.cache.put('live again', 'v');
    expect(sent.at(-1)).toBe(MessageType.Batch);
  });
});
