/**
 * Links between releases: a node of this release against one held to the protocol before, in
 * process over real WebSockets. Each link speaks the highest version both ends do, carries only
 * what that version has, and skips a message of a type it does not know.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type ClusterNode, PROTOCOL_VERSIONS } from '../src/index.js';
import { type Message, MessageType } from '../src/internals.js';
import { registerMeshcacheMetrics } from '../src/metrics.js';
import { messagesOf, PROTOCOL_HISTORY } from '../src/protocol/versions.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { SECRET, startNode, until } from './nodes.js';
import { parsePrometheusText, sampleValue } from './prometheus-text.js';
import { linkedRawPeer, type RawPeer } from './raw-peer.js';
import { sessionOf } from './sessions.js';

const held = { min: 2, max: 2 };
const cache = (node: ClusterNode) =>
  node.manager.getCache<unknown>('Response Cache') as NonNullable<ReturnType<ClusterNode['manager']['getCache']>>;
const replicated = { caches: { 'Response Cache': { replication: { asynchronousReplicationIntervalMillis: 10 } } } };

function recordingLogger() {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const at = (level: string) => (obj: object, msg?: string) =>
    lines.push({ level, msg: msg ?? '', obj: obj as Record<string, unknown> });
  return { lines, logger: { debug() {}, info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('protocol versions', () => {
  it('this release speaks its newest version and every one before back to 2; each version only adds', () => {
    expect(PROTOCOL_VERSIONS).toEqual({ min: 2, max: 7 });
    expect(PROTOCOL_HISTORY.map((entry) => entry.version)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(messagesOf(2).has(MessageType.ClockSample)).toBe(false);
    expect(messagesOf(3).has(MessageType.ClockSample)).toBe(true);
    expect(messagesOf(3).has(MessageType.LinkCaches)).toBe(false);
    expect(messagesOf(4).has(MessageType.LinkCaches)).toBe(true);
    for (const type of messagesOf(2)) expect(messagesOf(3).has(type)).toBe(true);
    for (const type of messagesOf(3)) expect(messagesOf(4).has(type)).toBe(true);
    expect(messagesOf(4).has(MessageType.SkipRounds)).toBe(false);
    expect(messagesOf(5).has(MessageType.SkipRounds)).toBe(true);
    for (const type of messagesOf(4)) expect(messagesOf(5).has(type)).toBe(true);
    expect(messagesOf(5).has(MessageType.AskDigest)).toBe(false);
    expect(messagesOf(6).has(MessageType.AskDigest)).toBe(true);
    for (const type of messagesOf(5)) expect(messagesOf(6).has(type)).toBe(true);
    expect(messagesOf(6).has(MessageType.Repaired)).toBe(false);
    expect(messagesOf(7).has(MessageType.Repaired)).toBe(true);
    for (const type of messagesOf(6)) expect(messagesOf(7).has(type)).toBe(true);
  });

  it('a new node and a node held to protocol 2 link at 2, replicate both ways, and send no ClockSample', async () => {
    const old = await startNode('gw-old', [], replicated, { protocols: held });
    const fresh = await startNode('gw-new', [old.url], replicated);
    const third = await startNode('gw-new2', [old.url, fresh.url], replicated);
    await until(() => third.peers().filter((p) => p.state === 'connected').length === 2, 'the links');
    const protocolOf = (node: ClusterNode, peer: string) => node.peers().find((p) => p.id === peer)?.protocol;
    expect(protocolOf(fresh, 'gw-old')).toBe(2);
    expect(protocolOf(old, 'gw-new')).toBe(2);
    expect(protocolOf(third, 'gw-new')).toBe(PROTOCOL_VERSIONS.max);
    cache(old).put('from-old', 1);
    cache(fresh).put('from-new', 2);
    await until(
      () => [old, fresh, third].every((node) => cache(node).has('from-old') && cache(node).has('from-new')),
      'both writes everywhere',
    );
    await until(() => third.peers().find((p) => p.id === 'gw-new')?.clockOffsetMillis !== null, 'a clock sample');
    expect(fresh.peers().find((p) => p.id === 'gw-old')?.clockOffsetMillis).toBeNull(); // never sent on a v2 link
    expect(old.peers().find((p) => p.id === 'gw-new')?.clockOffsetMillis).toBeNull();
  });

  it('a peer whose clock is past the drift bound shows as skewed on both ends, each logging it once', async () => {
    const a = recordingLogger();
    const b = recordingLogger();
    const ahead = () => Date.now() + 120_000;
    const left = await startNode('gw-1', [], replicated, { logger: a.logger });
    const right = await startNode('gw-2', [left.url], replicated, { logger: b.logger, clock: ahead });
    await until(() => left.peers()[0]?.state === 'skewed' && right.peers()[0]?.state === 'skewed', 'both to see it');
    expect(Math.round((left.peers()[0]?.clockOffsetMillis ?? 0) / 1000)).toBe(120);
    expect(Math.round((right.peers()[0]?.clockOffsetMillis ?? 0) / 1000)).toBe(-120);
    for (const { lines } of [a, b]) {
      expect(lines.filter((line) => line.level === 'error' && /past the drift bound/.test(line.msg))).toHaveLength(1);
    }
  });

  it('logs a peer whose clock samples and versions flip between skewed and in step once a minute, not once a flip (found by an attack)', async () => {
    const { lines, logger } = recordingLogger();
    const node = await startNode('gw-1', [], replicated, { logger });
    const peer = await sessionOf(await new WebSocketTransport().dial(node.url), 'dialler', {
      node: 'gw-flappy',
      secret: SECRET,
    });
    await peer.established;
    await until(() => node.peers().some((p) => p.id === 'gw-flappy'), 'the link');
    for (let i = 0; i < 100; i++) {
      const skewed = i % 2 === 0;
      peer.send({ type: MessageType.ClockSample, wallMillis: Date.now() + (skewed ? 120_000 : 0) });
      const version = { time: Date.now() + (skewed ? 120_000 : 0), counter: i, node: 'gw-flappy' };
      peer.send({
        type: MessageType.Batch,
        changes: [{ type: MessageType.Remove, cache: 'Response Cache', key: `k${i}`, version }],
      });
    }
    peer.send({ type: MessageType.Sync, id: 1 });
    const acked = new Promise<void>((resolve) =>
      peer.onMessage((m) => {
        if (m.type === MessageType.Ack) resolve();
      }),
    );
    await acked;
    const loud = lines.filter((line) => line.level === 'warn' || line.level === 'error' || line.level === 'info');
    expect(loud.filter((line) => /past the drift bound/.test(line.msg))).toHaveLength(1);
    expect(loud.filter((line) => /agree again/.test(line.msg))).toHaveLength(1);
    expect(loud.filter((line) => /clock is too far ahead/.test(line.msg))).toHaveLength(1);
    peer.close();
  });

  it('skips a message of a type it does not know (a newer peer), counting it, and keeps the link', async () => {
    const { lines, logger } = recordingLogger();
    const node = await startNode('gw-1', [], replicated, { logger });
    const newer = await sessionOf(await new WebSocketTransport().dial(node.url), 'dialler', {
      node: 'gw-future',
      secret: SECRET,
    });
    await newer.established;
    await until(() => node.peers().some((peer) => peer.id === 'gw-future'), 'the link');
    cache(node).put('k', 'before');
    newer.send({ type: MessageType.Unknown, number: 4242 });
    newer.send({ type: MessageType.Unknown, number: 4242 });
    const version = { time: Date.now() + 1000, counter: 0, node: 'gw-future' }; // newer than the put
    newer.send({
      type: MessageType.Batch,
      changes: [{ type: MessageType.Remove, cache: 'Response Cache', key: 'k', version }],
    });
    await until(() => !cache(node).has('k'), 'the removal after the unknown messages');
    expect(lines.filter((line) => /does not know/.test(line.msg))).toHaveLength(1);
    expect(node.peers().find((peer) => peer.id === 'gw-future')?.state).toBe('connected');
    newer.close();
  });
  it('shows the messages of unknown types a peer sent, per peer, in peers() and the metrics (what an operator watches during a rolling upgrade)', async () => {
    const node = await startNode('gw-1', [], replicated);
    const registry = new Registry();
    registerMeshcacheMetrics(node, registry);
    const newer = await linkedRawPeer(node.url, 'gw-future', PROTOCOL_VERSIONS.max);
    const quiet = await linkedRawPeer(node.url, 'gw-same', PROTOCOL_VERSIONS.max);
    try {
      newer.send({ type: MessageType.Unknown, number: 4242 });
      newer.send({ type: MessageType.Unknown, number: 4242 });
      newer.send({ type: MessageType.Unknown, number: 4243 });
      expect(await newer.settled(1, 5000)).toBe(true); // handled, and the link is still up
      expect(await quiet.settled(1, 5000)).toBe(true);
      const peer = (id: string) => node.peers().find((p) => p.id === id);
      expect(peer('gw-future')?.unknownMessages).toBe(3);
      expect(peer('gw-same')?.unknownMessages).toBe(0);
      const families = parsePrometheusText(await registry.metrics());
      expect(families.get('meshcache_peer_unknown_messages_total')?.type).toBe('counter');
      expect(sampleValue(families, 'meshcache_peer_unknown_messages_total', { peer: 'gw-future' })).toBe(3);
      expect(sampleValue(families, 'meshcache_peer_unknown_messages_total', { peer: 'gw-same' })).toBe(0);
    } finally {
      newer.connection.close();
      quiet.connection.close();
    }
  });
});

describe('asking a peer for its digest again (AskDigest, protocol 6)', () => {
  const rounds = { caches: { 'Response Cache': { replication: { repairIntervalMillis: 0 } } } };
  const digest = (fill: number): Message => ({
    type: MessageType.Digest,
    cache: 'Response Cache',
    bucketCount: 1,
    digest: new Uint8Array(8).fill(fill),
    clearVersion: undefined,
  });
  const count = (peer: RawPeer, type: number) => peer.received.filter((m) => m.type === type).length;

  it.each([
    [6, 1],
    [5, 0],
  ])(
    "a repair that took in the peer's second digest while its listing came asks it for its digest again on a link of protocol %i (%i asks), anti-entropy off",
    async (protocol, asks) => {
      const node = await startNode('b', [], rounds);
      cache(node).put('held', 'by b'); // so that b lists the peer's keys rather than takes whole buckets
      const peer = await linkedRawPeer(node.url, 'ghost', protocol);
      peer.keepAll = true;
      try {
        const version = { time: Date.now(), counter: 0, node: 'ghost' };
        peer.send(digest(1));
        await until(() => count(peer, MessageType.RepairRequest) === 1, "b's RepairRequest");
        peer.send({
          type: MessageType.Keys,
          cache: 'Response Cache',
          items: [{ key: 'missed', version, removed: false }],
          last: false,
        });
        // The peer's second digest comes while its listing does: b takes it into the repair.
        peer.send(digest(2));
        await until(() => count(peer, MessageType.RepairRequest) === 2, "b's second RepairRequest");
        peer.send({ type: MessageType.Keys, cache: 'Response Cache', items: [], last: true });
        await until(() => count(peer, MessageType.Pull) === 1, "b's Pull of what it lacked");
        peer.send({
          type: MessageType.Entries,
          changes: [
            {
              type: MessageType.Put,
              cache: 'Response Cache',
              key: 'missed',
              value: 'by the peer',
              version,
              createdAt: version.time,
              timeToLiveSeconds: 0,
              timeToIdleSeconds: 0,
            },
          ],
        });
        peer.send({ type: MessageType.BootstrapDone, cache: 'Response Cache' });
        expect(await peer.settled(1, 10_000)).toBe(true); // b handled all of it
        expect(cache(node).get('missed')).toBe('by the peer');
        // The listing may have been read before the peer learned what its second digest showed.
        expect(peer.received.filter((m) => m.type === MessageType.AskDigest)).toEqual(
          asks === 0 ? [] : [{ type: MessageType.AskDigest, cache: 'Response Cache' }],
        );
      } finally {
        peer.connection.close();
      }
    },
    30_000,
  );

  it('answers an ask after its listing with its digest, whether or not its cache changed since the last one it sent', async () => {
    const node = await startNode('b', [], rounds);
    cache(node).put('held', 'by b');
    const peer = await linkedRawPeer(node.url, 'ghost', 6);
    peer.keepAll = true;
    try {
      await until(() => count(peer, MessageType.Digest) === 1, "b's digest as the link came up");
      // The peer's repair from b: b lists its keys (an ask is about such a listing).
      peer.send({
        type: MessageType.RepairRequest,
        cache: 'Response Cache',
        bucketCount: 1,
        keyBuckets: [0],
        fullBuckets: [],
      });
      await until(() => peer.received.some((m) => m.type === MessageType.Keys && m.last), "b's listing");
      peer.send({ type: MessageType.AskDigest, cache: 'Response Cache' });
      await until(() => count(peer, MessageType.Digest) === 2, "b's digest, asked for");
      peer.send({ type: MessageType.AskDigest, cache: 'not carried' }); // no such cache on the link: nothing
      expect(await peer.settled(1, 10_000)).toBe(true);
      expect(count(peer, MessageType.Digest)).toBe(2);
    } finally {
      peer.connection.close();
    }
  }, 30_000);
});

describe('what an AskDigest can cost a node', () => {
  const rounds = { caches: { 'Response Cache': { replication: { repairIntervalMillis: 0 } } } };
  const count = (peer: RawPeer, type: number) => peer.received.filter((m) => m.type === type).length;

  it('answers asks only for a listing it sent the peer since its last digest: a flood of them, a few bytes each, gets no digest of up to 512 KiB each', async () => {
    const node = await startNode('b', [], rounds);
    for (let i = 0; i < 100; i++) cache(node).put(`k${i}`, i);
    const peer = await linkedRawPeer(node.url, 'ghost', 6);
    peer.keepAll = true;
    try {
      await until(() => count(peer, MessageType.Digest) === 1, "b's digest as the link came up");
      // Each ask in a turn of its own (answered before the next comes): every one was answered
      // with the whole digest, however often the peer asked.
      for (let i = 0; i < 20; i++) {
        peer.send({ type: MessageType.AskDigest, cache: 'Response Cache' });
        expect(await peer.settled(100 + i, 10_000)).toBe(true);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(count(peer, MessageType.Digest)).toBe(1);
      // A repair from b that lists its keys: then an ask is owed, once.
      const { bucketCount } = peer.received.find((m) => m.type === MessageType.Digest) as { bucketCount: number };
      peer.send({
        type: MessageType.RepairRequest,
        cache: 'Response Cache',
        bucketCount,
        keyBuckets: Array.from({ length: bucketCount }, (_, i) => i),
        fullBuckets: [],
      });
      await until(() => peer.received.some((m) => m.type === MessageType.Keys && m.last), "b's listing");
      for (let i = 0; i < 5; i++) {
        peer.send({ type: MessageType.AskDigest, cache: 'Response Cache' });
        expect(await peer.settled(200 + i, 10_000)).toBe(true);
      }
      await until(() => count(peer, MessageType.Digest) === 2, "b's digest, asked for after its listing");
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(count(peer, MessageType.Digest)).toBe(2);
    } finally {
      peer.connection.close();
    }
  }, 30_000);
});
