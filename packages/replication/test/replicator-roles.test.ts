/**
 * The roles a replicator's peers play (ReplicationPeer.role), as the Redis backplane uses them:
 * 'broadcast' (the stream: live changes and acknowledgements), 'repair' (a member reached only for
 * the digest exchange). The peers here are plain implementations of the ReplicationPeer seam that
 * keep what they are sent; the backplane itself runs against a real Redis in backplane.test.ts.
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { afterEach, expect, it } from 'vitest';
import { resolveReplicationConfig } from '../src/index.js';
import { CacheReplicator, HybridLogicalClock, MessageType, type ReplicationPeer } from '../src/internals.js';
import type { SessionMessage } from '../src/session.js';
import { until } from './nodes.js';

const managers: CacheManager[] = [];
const replicators: CacheReplicator[] = [];
afterEach(async () => {
  for (const replicator of replicators.splice(0)) replicator.close();
  for (const manager of managers.splice(0)) await manager.shutdown();
});

function peer(node: string, role: ReplicationPeer['role'], backlog = () => 0) {
  const sent: SessionMessage[] = [];
  let acknowledgements = 0;
  const it: ReplicationPeer & { sent: SessionMessage[]; acknowledgements: () => number } = {
    node,
    role,
    send: (message) => sent.push(message),
    bufferedAmount: backlog,
    acknowledged: async () => {
      acknowledgements++;
      return true;
    },
    sent,
    acknowledgements: () => acknowledgements,
  };
  return it;
}

function replicator(maxQueueBytes?: number) {
  const hlc = new HybridLogicalClock({ node: 'self' });
  const manager = new CacheManager({ versionClock: () => hlc.now() });
  managers.push(manager);
  const cache = manager.addCache('c', {});
  const made = new CacheReplicator(
    replicaPortOf(cache),
    resolveReplicationConfig('c', { asynchronousReplicationIntervalMillis: 10, repairIntervalMillis: 0 }),
    {
      hlc,
      logger: { info() {}, warn() {}, error() {}, debug() {} },
      ...(maxQueueBytes === undefined ? {} : { maxQueueBytes }),
    },
  );
  replicators.push(made);
  return { cache, replicator: made };
}

it('live changes go to the broadcast peer, never to repair peers; settle waits for the broadcast peer only', async () => {
  const { cache, replicator: r } = replicator();
  const stream = peer('(backplane)', 'broadcast');
  const member = peer('gw-2', 'repair');
  r.addPeer(stream);
  r.addPeer(member);
  cache.put('a', 1);
  cache.remove('a');
  const settled = await r.settle();
  expect(settled).toEqual({ acknowledged: ['(backplane)'], timedOut: [] });
  expect(stream.sent.filter((m) => m.type === MessageType.Batch)).toHaveLength(1);
  expect(member.sent).toEqual([]);
  expect(member.acknowledgements()).toBe(0);
});

it('a broadcast peer backed up past the bound makes every repair peer repair from a digest', async () => {
  let backlog = 0;
  const { cache, replicator: r } = replicator(1000);
  const stream = peer('(backplane)', 'broadcast', () => backlog);
  const members = [peer('gw-2', 'repair'), peer('gw-3', 'repair')];
  r.addPeer(stream);
  for (const member of members) r.addPeer(member);
  backlog = 10_000; // Redis is away: what was sent is not written
  for (let i = 0; i < 50; i++) cache.put(`k${i}`, 'x'.repeat(100));
  await until(() => members.every((m) => m.sent.some((s) => s.type === MessageType.Digest)), 'a digest to each member');
  expect(stream.sent.some((s) => s.type === MessageType.Digest)).toBe(false);
  expect(members.every((m) => m.sent.every((s) => s.type === MessageType.Digest))).toBe(true);
});

it('a repair peer is served the digest exchange like a link (requestRepair sends it this cache’s digest)', async () => {
  const { cache, replicator: r } = replicator();
  const member = peer('gw-2', 'repair');
  r.addPeer(member);
  cache.put('k', 'v');
  r.requestRepair('gw-2');
  await until(() => member.sent.some((s) => s.type === MessageType.Digest), 'the digest');
});
