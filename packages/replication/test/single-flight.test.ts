import { describe, expect, it } from 'vitest';
import type { ClusterNode } from '../src/index.js';
import { startNode, until } from './nodes.js';

const replication = {
  asynchronousReplicationIntervalMillis: 10,
  clusterSingleFlight: true,
  singleFlightLeaseMillis: 2000,
};

function start(name: string, peers: string[], lease = replication) {
  return startNode(name, peers, { caches: { tokens: { timeToLiveSeconds: 3000, replication: lease } } });
}

async function cluster(lease = replication) {
  const a = await start('gw-1', [], lease);
  const b = await start('gw-2', [a.url], lease);
  const c = await start('gw-3', [a.url, b.url], lease);
  await Promise.all([b.ready(), c.ready()]);
  await until(() => a.peers().filter((p) => p.state === 'connected').length === 2, 'gw-1 linked to both peers');
  return [a, b, c] as const;
}

const tokens = (node: ClusterNode) =>
  node.manager.getCache<string>('tokens') as NonNullable<ReturnType<ClusterNode['manager']['getCache']>>;

/** An origin that counts its calls and answers after `ms`. */
function origin(ms: number, fail = false) {
  const calls: string[] = [];
  const load = (node: string) => async () => {
    calls.push(node);
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (fail) throw new Error(`auth server said 503 to ${node}`);
    return `token from ${node}`;
  };
  return { calls, load };
}

/** Resolves once `node` has heard a claim on some key (a peer is loading). */
async function claimSeen(node: ClusterNode): Promise<void> {
  await until(() => (node.replicationStatistics('tokens')?.singleFlight?.claimedKeys ?? 0) > 0, 'a claim to arrive', {
    intervalMillis: 2,
  });
}

describe('cluster-wide single flight (clusterSingleFlight)', () => {
  it('three nodes missing the same key at once call the origin once, and all get its value', async () => {
    const [a, b, c] = await cluster();
    const { calls, load } = origin(150);
    const results = await Promise.all([a, b, c].map((node) => tokens(node).getOrLoad('svc/orders', load(node.id))));
    expect(calls).toHaveLength(1);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toBe(`token from ${calls[0]}`);
    for (const node of [a, b, c]) expect(tokens(node).get('svc/orders')).toBe(results[0]);
    const waited = [a, b, c].map((node) => node.replicationStatistics('tokens')?.singleFlight?.waitedForPeers);
    expect(waited.sort()).toEqual([0, 1, 1]);
  });

  it('without it, each node calls the origin (the comparison)', async () => {
    const [a, b, c] = await cluster({ ...replication, clusterSingleFlight: false });
    const { calls, load } = origin(100);
    await Promise.all([a, b, c].map((node) => tokens(node).getOrLoad('svc/orders', load(node.id))));
    expect(calls).toHaveLength(3);
  });

  it('an origin error reaches the holder’s callers and is not cached; the waiters load themselves', async () => {
    const [a, b, c] = await cluster();
    const failing = origin(100, true);
    const holder = tokens(a).getOrLoad('svc/orders', failing.load('gw-1'));
    await claimSeen(b);
    await claimSeen(c);
    const healthy = origin(10);
    const waiters = [b, c].map((node) => tokens(node).getOrLoad('svc/orders', healthy.load(node.id)));
    await expect(holder).rejects.toThrow(/503/);
    expect(await Promise.all(waiters)).toEqual(['token from gw-2', 'token from gw-3']);
    expect(failing.calls).toEqual(['gw-1']);
    expect(healthy.calls.sort()).toEqual(['gw-2', 'gw-3']); // never worse than without coordination
  });

  it('a waiter loads itself when the holder goes away mid-load (its link drops)', async () => {
    const [a, b] = await cluster();
    const slow = origin(60_000);
    void tokens(a)
      .getOrLoad('svc/orders', slow.load('gw-1'))
      .catch(() => {});
    await claimSeen(b);
    const waiting = tokens(b).getOrLoad('svc/orders', origin(10).load('gw-2'));
    await a.stop();
    expect(await waiting).toBe('token from gw-2');
  });

  it('a waiter loads itself when the lease runs out (a hung holder)', async () => {
    const [a, b] = await cluster({ ...replication, singleFlightLeaseMillis: 300 });
    void tokens(a)
      .getOrLoad('svc/orders', origin(60_000).load('gw-1'))
      .catch(() => {});
    await claimSeen(b);
    const own = origin(10);
    expect(await tokens(b).getOrLoad('svc/orders', own.load('gw-2'))).toBe('token from gw-2');
    expect(own.calls).toEqual(['gw-2']);
  });

  it('a node that cannot reach the holder (partitioned) loads itself', async () => {
    const [a] = await cluster();
    const island = await start('gw-9', []); // same cluster, linked to nobody
    const { calls, load } = origin(100);
    await Promise.all([tokens(a).getOrLoad('k', load('gw-1')), tokens(island).getOrLoad('k', load('gw-9'))]);
    expect(calls.sort()).toEqual(['gw-1', 'gw-9']);
  });

  it('refuses single flight on a cache whose puts do not carry values', async () => {
    await expect(start('gw-1', [], { ...replication, replicatePutsViaCopy: false } as never)).rejects.toThrow(
      /replication.clusterSingleFlight.*needs replicatePuts and replicatePutsViaCopy/,
    );
  });
});
