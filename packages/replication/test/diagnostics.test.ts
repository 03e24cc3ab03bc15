import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { LOAD_CHANNEL, type LoadTrace } from '@meshcache/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ClusterNode,
  PEER_CHANNEL,
  type PeerDiagnostic,
  REPAIR_CHANNEL,
  type RepairDiagnostic,
} from '../src/index.js';
import { startNode, until } from './nodes.js';

const unsubscribes: Array<() => void> = [];
afterEach(() => {
  for (const undo of unsubscribes.splice(0)) undo();
});

function listen<T>(name: string): T[] {
  const seen: T[] = [];
  const handler = (message: unknown) => seen.push(message as T);
  subscribe(name, handler);
  unsubscribes.push(() => unsubscribe(name, handler));
  return seen;
}

const caches = { tokens: { replication: { asynchronousReplicationIntervalMillis: 10, clusterSingleFlight: true } } };
const tokens = (node: ClusterNode) =>
  node.manager.getCache<string>('tokens') as NonNullable<ReturnType<ClusterNode['manager']['getCache']>>;

describe('replication on node:diagnostics_channel', () => {
  it('publishes links coming and going, repairs, unreachable peers and refused connections', async () => {
    const peers = listen<PeerDiagnostic>(PEER_CHANNEL);
    const repairs = listen<RepairDiagnostic>(REPAIR_CHANNEL);
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    await b.ready();
    await until(() => repairs.some((r) => r.node === 'gw-1' && r.first), 'gw-1 to finish its bootstrap from gw-2');
    expect(peers).toEqual(
      expect.arrayContaining([
        { node: 'gw-2', event: 'connected', peer: 'gw-1', url: a.url, dialledByUs: true },
        { node: 'gw-1', event: 'connected', peer: 'gw-2', url: b.url, dialledByUs: false },
      ]),
    );
    expect(repairs).toEqual(
      expect.arrayContaining([
        { node: 'gw-2', peer: 'gw-1', cache: 'tokens', first: true },
        { node: 'gw-1', peer: 'gw-2', cache: 'tokens', first: true },
      ]),
    );

    await b.stop();
    await until(() => peers.some((p) => p.node === 'gw-1' && p.event === 'left'), 'gw-1 to see gw-2 leave');
    expect(peers.find((p) => p.node === 'gw-1' && p.event === 'left')).toMatchObject({ peer: 'gw-2', code: 1001 });

    // A peer nobody answers for (gw-2's port, now closed), and a node with another secret.
    const lonely = await startNode('gw-3', [b.url], { caches });
    await until(() => peers.some((p) => p.node === 'gw-3' && p.event === 'unreachable'), 'gw-3 to fail its dial');
    expect(peers.find((p) => p.node === 'gw-3')).toMatchObject({ peer: b.url, url: b.url, foundBy: 'manual' });
    await lonely.stop();
    await startNode('intruder', [a.url], { caches, secret: 'not the cluster secret, but long enough' });
    await until(() => peers.some((p) => p.node === 'gw-1' && p.event === 'refused'), 'gw-1 to refuse the intruder');
    const refused = peers.find((p) => p.event === 'refused');
    expect(refused?.error).toBeInstanceOf(Error);
    expect(JSON.stringify(peers)).not.toContain('not the cluster secret');
  });

  it('tells on meshcache:load whether a peer’s value or this node’s loader answered (cluster-wide single flight)', async () => {
    const finished: Array<{ cache: string; key: string; answeredBy: string | undefined }> = [];
    const handlers = {
      asyncEnd: ({ cache, key, answeredBy }: LoadTrace) => finished.push({ cache, key, answeredBy }),
    };
    const channel = tracingChannel<unknown, LoadTrace>(LOAD_CHANNEL);
    channel.subscribe(handlers as never);
    unsubscribes.push(() => channel.unsubscribe(handlers as never));
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    await b.ready();
    await until(() => a.peers()[0]?.state === 'connected', 'the link');
    let calls = 0;
    const load = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return 'token';
    };
    await Promise.all([tokens(a).getOrLoad('svc/orders', load), tokens(b).getOrLoad('svc/orders', load)]);
    expect(calls).toBe(1);
    expect(finished.map((f) => f.answeredBy).sort()).toEqual(['local', 'peer']);
    expect(finished.every((f) => f.cache === 'tokens' && f.key === 'svc/orders')).toBe(true);
  });
});
