/**
 * settle() after a queue overflow, when the peer's Digest says it holds nothing and this node
 * pushes it everything in place of its own Digest (repair/cache-repair.ts, the all-zero digest):
 * the peer names no Digest of this node's in a Repaired then, so the push's end is what can end
 * the repair due (CacheReplicator.#pushed). No anti-entropy round (repairIntervalMillis: 0) comes
 * to rescue a wait left open. Each interleaving is checked both ways: the peer counted once it
 * holds everything, and never while it does not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type DigestMessage, MessageType, type RepairRequestMessage } from '../src/internals.js';
import type { SessionMessage } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { link, makeNode, settleBoth, type TestNode } from './replicator-harness.js';

const noRounds = { repairIntervalMillis: 0 };
const ENTRIES = 5000;
const value = (i: number) => `v${i}-${'x'.repeat(20)}`;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A node whose digest is read from its disk tier, in slices over many turns: a peer's Digest comes meanwhile. */
function slowDigestNode(name: string): TestNode {
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-settle-push-'));
  dirs.push(dir);
  // 4,000 bytes queued for a peer at most: a burst of puts overflows it.
  return makeNode(name, noRounds, 4000, { maxElementsInMemory: 10, overflowToDisk: true }, dir);
}

function putAll(node: TestNode, from = 0, to = ENTRIES): void {
  for (let i = from; i < to; i++) node.cache.put(`k${i}`, value(i));
}

/** Whether `node` holds every key of `from`..`to` with its value. */
function holdsAll(node: TestNode, from = 0, to = ENTRIES): boolean {
  for (let i = from; i < to; i++) if (node.cache.peekEntry(`k${i}`)?.value !== value(i)) return false;
  return true;
}

/** a (disk tier) and b, both empty, linked over protocol 7 and done with the link-up's repairs. */
async function emptyPair() {
  const a = slowDigestNode('gw-1');
  const b = makeNode('gw-2', noRounds);
  await link(a, b, new MemoryNetwork(), 7);
  await settleBoth(a, b);
  return { a, b };
}

const needsRepair = (node: TestNode) => node.replicator.peerStates()[0]?.needsRepair;

describe('settle() after an overflow, when the peer holds nothing and is pushed everything', () => {
  it("the empty Digest comes while the Digest offered once the queue drained is built: the push's Ack ends the wait", async () => {
    const { a, b } = await emptyPair();
    const seen = b.messages.length;
    putAll(a); // the queue for b overflows: b is sent none of it
    expect(needsRepair(a)).toBe(true);
    const settled = a.replicator.settle(); // its flush offers b a Digest, read from disk in slices
    expect(needsRepair(a)).toBe(false);
    b.replicator.requestRepair('gw-1'); // b's own Digest (as its flush after an overflow sends one): all zeros
    const result = await settled;
    const held = holdsAll(b);
    expect(result).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(held).toBe(true);
    // The push took the place of a's Digest: b was sent no Digest, and said no Repaired.
    const since = b.messages.slice(seen);
    expect(since).toContain(MessageType.BootstrapDone);
    expect(since).not.toContain(MessageType.Digest);
    await a.manager.shutdown(); // its disk store closed before its directory goes
  });

  it('the empty Digest comes while the queue is still overflowed: the push ends nothing, the Digest offered once it drained does', async () => {
    const { a, b } = await emptyPair();
    const seen = b.messages.length;
    const repairedBefore = a.messages.filter((type) => type === MessageType.Repaired).length;
    putAll(a); // the queue for b overflows
    // Before the flush that sends b a Digest once the queue drained, a Digest is offered to b all
    // the same (an AskDigest's answer, say), read from disk in slices.
    a.replicator.requestRepair('gw-2');
    b.replicator.requestRepair('gw-1');
    await until(() => b.messages.slice(seen).includes(MessageType.Entries), 'the push to b');
    const result = await a.replicator.settle();
    const held = holdsAll(b);
    expect(result).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(held).toBe(true);
    // The push, then the Digest the flush offered (held back until the push was over), and b's Repaired for it.
    const since = b.messages.slice(seen);
    expect(since.indexOf(MessageType.BootstrapDone)).toBeGreaterThanOrEqual(0);
    expect(since.lastIndexOf(MessageType.Digest)).toBeGreaterThan(since.indexOf(MessageType.BootstrapDone));
    expect(a.messages.filter((type) => type === MessageType.Repaired).length).toBe(repairedBefore + 1);
    await a.manager.shutdown();
  });

  it("the queue overflows again while the push goes: the push's Ack ends nothing, the Digest offered after it does", async () => {
    const a = slowDigestNode('gw-1');
    putAll(a);
    const b = makeNode('gw-2', noRounds); // joins empty: its link-up Digest is answered by a push
    await link(a, b, new MemoryNetwork(), 7);
    await until(() => b.messages.includes(MessageType.Entries), 'the push to b');
    expect(b.messages).not.toContain(MessageType.BootstrapDone);
    putAll(a, ENTRIES, ENTRIES + 200); // new keys, past the bound, while the push reads
    expect(needsRepair(a)).toBe(true);
    const result = await a.replicator.settle();
    const held = holdsAll(b, 0, ENTRIES + 200);
    expect(result).toEqual({ acknowledged: ['gw-2'], timedOut: [] });
    expect(held).toBe(true);
    expect(b.messages.lastIndexOf(MessageType.Digest)).toBeGreaterThan(b.messages.indexOf(MessageType.BootstrapDone));
    await a.manager.shutdown();
  });
});

/** A peer this test plays: it records what it is sent, and acknowledges as the test says. */
function scriptedPeer(node: TestNode, acks: () => boolean) {
  const sent: SessionMessage[] = [];
  let unsent = 0;
  node.replicator.addPeer({
    node: 'gw-p',
    send: (message) => sent.push(message),
    bufferedAmount: () => unsent,
    acknowledged: async () => acks(),
    confirmsRepairs: true,
  });
  return {
    sent,
    types: () => sent.map((message) => message.type),
    /** The connection's unsent bytes: past the repair's bound, a push waits before its next chunk. */
    backUp: (bytes: number) => {
      unsent = bytes;
    },
  };
}

const emptyDigest = (): DigestMessage => ({
  type: MessageType.Digest,
  cache: 'Response Cache',
  bucketCount: 1,
  digest: new Uint8Array(8),
  clearVersion: undefined,
});

describe('settle() after an overflow and a push, the peer scripted', () => {
  it('a push begun while the queue was overflowed is not what the peer is counted by: a change dropped meanwhile may be of an entry it sent', async () => {
    const a = makeNode('gw-1', noRounds, 4000);
    const p = scriptedPeer(a, () => true); // acknowledges whatever it is sent
    a.replicator.requestRepair('gw-p'); // a Digest being built (in-memory: off the caller's turn)
    putAll(a, 0, 200); // the queue overflows
    p.backUp(10_000_000); // the push waits after its first chunk
    a.replicator.receiveRepair(emptyDigest(), 'gw-p'); // the peer holds nothing: everything is pushed
    const pushedK0 = p.sent.some(
      (m) => m.type === MessageType.Entries && m.changes.some((c) => c.type === MessageType.Put && c.key === 'k0'),
    );
    expect(pushedK0).toBe(true);
    a.cache.put('k0', 'newer'); // dropped: the queue is still overflowed (no flush yet), and k0 went already
    p.backUp(0);
    await until(() => p.types().includes(MessageType.Digest), 'the Digest the flush offered, after the push');
    expect(p.types().indexOf(MessageType.BootstrapDone)).toBeLessThan(p.types().indexOf(MessageType.Digest));
    // Counted by the push's Ack, it was said to hold k0 while it held the value before.
    expect(await a.replicator.settle()).toEqual({ acknowledged: [], timedOut: ['gw-p'] });
    const again = a.replicator.settle();
    a.replicator.receiveRepair({ type: MessageType.Repaired, cache: 'Response Cache', digestNumber: 1 }, 'gw-p');
    expect(await again).toEqual({ acknowledged: ['gw-p'], timedOut: [] });
  });

  it('a push the queue overflowed during is not what the peer is counted by: the change dropped may be of an entry it sent', async () => {
    const a = makeNode('gw-1', noRounds, 4000);
    const p = scriptedPeer(a, () => true); // acknowledges whatever it is sent
    putAll(a, 0, 200); // the queue overflows
    a.replicator.flush(); // it drained: a Digest offered, being built
    p.backUp(10_000_000); // the push waits after its first chunk
    a.replicator.receiveRepair(emptyDigest(), 'gw-p'); // the peer holds nothing: everything is pushed
    expect(p.types()).toContain(MessageType.Entries);
    a.cache.put('k0', 'x'.repeat(5000)); // past the bound: the queue overflows again, k0's change dropped
    expect(a.replicator.peerStates()).toEqual([expect.objectContaining({ needsRepair: true })]);
    p.backUp(0);
    await until(() => p.types().includes(MessageType.Digest), 'the Digest the flush offered, after the push');
    expect(await a.replicator.settle()).toEqual({ acknowledged: [], timedOut: ['gw-p'] });
    const again = a.replicator.settle();
    a.replicator.receiveRepair({ type: MessageType.Repaired, cache: 'Response Cache', digestNumber: 1 }, 'gw-p');
    expect(await again).toEqual({ acknowledged: ['gw-p'], timedOut: [] });
  });

  it('the empty Digest comes while a listing to the peer goes on: no push, and only a Repaired of the Digest offered after the listing ends the wait', async () => {
    const a = makeNode('gw-1', noRounds, 4000);
    for (let i = 0; i < 2000; i++) a.cache.put(`listed ${i}`, 'v'); // held before the peer: not queued
    const p = scriptedPeer(a, () => true);
    a.replicator.requestRepair('gw-p');
    await until(() => p.types().includes(MessageType.Digest), "a's Digest 1");
    const digest = p.sent.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
    const buckets = Array.from({ length: digest.bucketCount }, (_, i) => i);
    p.backUp(10_000_000); // the listing waits after its first chunk of Keys
    const request: RepairRequestMessage = {
      type: MessageType.RepairRequest,
      cache: 'Response Cache',
      bucketCount: digest.bucketCount,
      keyBuckets: buckets,
      fullBuckets: [],
    };
    a.replicator.receiveRepair(request, 'gw-p');
    expect(p.types()).toContain(MessageType.Keys);
    putAll(a, 0, 200); // the queue overflows while a lists
    a.replicator.flush(); // it drained: a Digest offered, being built
    a.replicator.receiveRepair(emptyDigest(), 'gw-p'); // the peer emptied meanwhile: all zeros
    p.backUp(0);
    await until(
      () => p.types().filter((type) => type === MessageType.Digest).length === 2,
      'Digest 2, after the listing',
    );
    expect(p.types()).not.toContain(MessageType.BootstrapDone); // no push beside the listing
    const settled = a.replicator.settle();
    a.replicator.receiveRepair({ type: MessageType.Repaired, cache: 'Response Cache', digestNumber: 1 }, 'gw-p');
    expect(await settled).toEqual({ acknowledged: [], timedOut: ['gw-p'] }); // Digest 1 was read before the overflow
    const again = a.replicator.settle();
    a.replicator.receiveRepair({ type: MessageType.Repaired, cache: 'Response Cache', digestNumber: 2 }, 'gw-p');
    expect(await again).toEqual({ acknowledged: ['gw-p'], timedOut: [] });
  });

  it("a push whose first Ack did not come in time counts the peer once it acknowledges a Sync sent after the push's end", async () => {
    const a = makeNode('gw-1', noRounds, 4000);
    let answering = false;
    const p = scriptedPeer(a, () => answering); // slow at first: its Acks time out
    putAll(a, 0, 200); // the queue overflows
    a.replicator.flush(); // the Digest offered once it drained, being built
    a.replicator.receiveRepair(emptyDigest(), 'gw-p'); // the peer holds nothing: everything is pushed
    await until(() => p.types().includes(MessageType.BootstrapDone), "the push's end");
    await new Promise((resolve) => setImmediate(resolve)); // the push's Sync, unanswered in time
    expect(p.types()).not.toContain(MessageType.Digest);
    answering = true;
    // It holds everything pushed (its Ack to this Sync, sent after BootstrapDone, says so), and
    // nothing overflowed since: no Digest will come to end the wait otherwise, nor any round.
    expect(await a.replicator.settle()).toEqual({ acknowledged: ['gw-p'], timedOut: [] });
  });
});
