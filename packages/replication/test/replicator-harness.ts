/**
 * Two replicators joined by PeerLinks over an authenticated in-memory session, as ClusterNode
 * joins them, for the replicator and repair tests.
 */
import { type Cache, type CacheConfig, type CacheEvent, CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualClock } from '@meshcache/core/testing';
import { afterEach } from 'vitest';
import { type ReplicationConfig, resolveReplicationConfig } from '../src/index.js';
import { CacheReplicator, type ChangeMessage, HybridLogicalClock, MessageType } from '../src/internals.js';
import { PeerLink } from '../src/peer-link.js';
import type { Session, SessionMessage } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { sessionOf } from './sessions.js';

export interface TestNode {
  readonly name: string;
  readonly hlc: HybridLogicalClock;
  readonly manager: CacheManager;
  readonly cache: Cache<unknown>;
  readonly replication: ReplicationConfig;
  readonly maxQueueBytes: number | undefined;
  replicator: CacheReplicator;
  readonly events: string[];
  /** Live changes this node received from its peer. */
  readonly received: ChangeMessage[];
  /** Every message this node received from its peer, by type number. */
  readonly messages: number[];
  /** Changes this node received in answer to its repairs. */
  readonly repairChanges: ChangeMessage[];
  /** The rounds its peer asked it to skip, each SkipRounds in turn. */
  readonly skipsAsked: number[];
  link?: PeerLink;
}

const open: TestNode[] = [];
afterEach(async () => {
  for (const node of open.splice(0)) {
    node.replicator.close();
    await node.manager.shutdown();
  }
});

const quiet = { ...console, info() {}, warn() {} };

/**
 * The one clock of every node the harness makes: time moves only when a test advances it, so
 * "b writes after a" is a fact of the test, not of how fast the machine ran it.
 */
export const clock = new ManualClock();

export function makeNode(
  name: string,
  replication: ReplicationConfig,
  maxQueueBytes?: number,
  cacheConfig: CacheConfig = {},
  /** Where a cache with a disk tier (cacheConfig's overflowToDisk) keeps it; the test removes it. */
  diskStorePath?: string,
): TestNode {
  const hlc = new HybridLogicalClock({ node: name, clock: clock.now });
  const manager = new CacheManager({
    clock: clock.now,
    versionClock: () => hlc.now(),
    ...(diskStorePath === undefined ? {} : { diskStorePath }),
  });
  const cache = manager.addCache('Response Cache', { timeToIdleSeconds: 3600, ...cacheConfig });
  const events: string[] = [];
  for (const type of ['put', 'update', 'remove', 'expire', 'removeAll'] as const) {
    cache.on(type, (event: CacheEvent) => events.push(`${type}:${event.key ?? '*'}:${event.origin}`));
  }
  const node: TestNode = {
    name,
    hlc,
    manager,
    cache,
    replication,
    maxQueueBytes,
    replicator: undefined as unknown as CacheReplicator,
    events,
    received: [],
    messages: [],
    repairChanges: [],
    skipsAsked: [],
  };
  node.replicator = makeReplicator(node);
  open.push(node);
  return node;
}

function makeReplicator(node: TestNode): CacheReplicator {
  const settings = resolveReplicationConfig('Response Cache', {
    asynchronousReplicationIntervalMillis: 60_000,
    ...node.replication,
  });
  return new CacheReplicator(replicaPortOf(node.cache), settings, {
    hlc: node.hlc,
    logger: quiet,
    repairChunkBytes: 2000,
    onRepaired: (peer) => node.link?.repaired('Response Cache') ?? peer,
    ...(node.maxQueueBytes === undefined ? {} : { maxQueueBytes: node.maxQueueBytes }),
  });
}

/**
 * Joins two nodes with PeerLinks over an authenticated in-memory session, as ClusterNode does:
 * each link starts a repair of the cache from the other side.
 */
export async function link(a: TestNode, b: TestNode, network = new MemoryNetwork(), protocol = 3) {
  const identity = (node: string) => ({ node, url: `mem://${node}` });
  let accepting: Promise<Session> | undefined;
  const listener = await network.listen(b.name, (connection) => {
    accepting = sessionOf(connection, 'listener', identity(b.name), 2000);
  });
  const dialled = await sessionOf(await network.dial(b.name), 'dialler', identity(a.name), 2000);
  while (accepting === undefined) await new Promise((resolve) => setImmediate(resolve));
  const accepted = await accepting;
  const sessions: Array<[TestNode, Session, TestNode]> = [
    [a, dialled, b],
    [b, accepted, a],
  ];
  for (const [node, session, peer] of sessions) {
    await session.established;
    record(node, session);
    node.link = new PeerLink({
      session,
      node: peer.name,
      url: `mem://${peer.name}`,
      dialledByUs: node === a,
      caches: ['Response Cache'],
      replicators: new Map([['Response Cache', node.replicator]]),
      hlc: node.hlc,
      logger: quiet,
      ackTimeoutMillis: 2000,
      protocol,
    });
    node.link.attach();
  }
  return { close: () => listener.close() };
}

/** Notes what a node receives, before its link handles it. */
function record(node: TestNode, session: Session): void {
  const onMessage = session.onMessage.bind(session);
  session.onMessage = (handler) =>
    onMessage((message: SessionMessage) => {
      node.messages.push(message.type);
      if (message.type === MessageType.Batch) node.received.push(...message.changes);
      if (message.type === MessageType.Entries) node.repairChanges.push(...message.changes);
      if (message.type === MessageType.SkipRounds) node.skipsAsked.push(message.rounds);
      handler(message);
    });
}

/**
 * Sends what both sides queued and waits until each side acknowledged everything the other
 * sent, a few times over, so that multi-step repairs finish. Deterministic: no sleeping.
 */
export async function settleBoth(a: TestNode, b: TestNode, rounds = 5): Promise<void> {
  await Promise.all([a.link?.bootstrapped, b.link?.bootstrapped]);
  for (let i = 0; i < rounds; i++) {
    await Promise.all([a.replicator.settle(), b.replicator.settle()]);
    await new Promise((resolve) => setImmediate(resolve)); // repairs read large caches in slices
  }
}

export async function pair(replication: ReplicationConfig = {}, maxQueueBytes?: number) {
  const a = makeNode('gw-1', replication, maxQueueBytes);
  const b = makeNode('gw-2', replication, maxQueueBytes);
  await link(a, b);
  await settleBoth(a, b);
  const cacheOf = (node: TestNode) => node.cache;
  return { a, b, settle: () => settleBoth(a, b), cacheOf };
}
