/**
 * resolveClusterConfig and the caches a manual peer list names: a peer URL with a path must name a
 * replicated cache of the node. Checked against a set of the replicated caches' names (it was a
 * search of the cache list per peer: 60,000 replicated caches each named by a peer took 9 s); what
 * is accepted and refused, and the index named, stay as they were.
 */
import { ConfigError } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import { resolveClusterConfig } from '../src/index.js';

const base = { name: 'gw-1', cluster: 'gateways', secret: 's' };

function refusal(raw: Record<string, unknown>): ConfigError | undefined {
  try {
    resolveClusterConfig(raw, {});
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

describe('resolveClusterConfig: the caches manual peers name', () => {
  const caches = {
    orders: { replication: {} },
    'Response Cache': { replication: {} },
    local: {},
    // An own property named like Object.prototype's members is a cache like any other.
    constructor: { replication: {} },
  };

  it('takes peers naming replicated caches, and peers naming none, in their order', () => {
    const peers = [
      'ws://10.0.0.2:40001/orders',
      'ws://10.0.0.2:40001/Response%20Cache',
      'ws://10.0.0.3:40001',
      'ws://10.0.0.3:40001/constructor',
    ];
    const resolved = resolveClusterConfig({ ...base, caches, peerDiscovery: { mode: 'manual', peers } }, {});
    expect(resolved.discovery.mode).toBe('manual');
    expect(resolved.discovery.mode === 'manual' && resolved.discovery.peers.map((p) => p.cache)).toEqual([
      'orders',
      'Response Cache',
      undefined,
      'constructor',
    ]);
  });

  it.each([
    ['a cache that does not replicate', 'local'],
    ['a cache the node has not', 'missing'],
    ['a member of Object.prototype the node has not as a cache', 'toString'],
  ])('refuses a peer naming %s, naming the first such peer', (_what, cache) => {
    const peers = ['ws://10.0.0.2:40001/orders', `ws://10.0.0.2:40001/${cache}`, 'ws://10.0.0.4:40001/local'];
    const error = refusal({ ...base, caches, peerDiscovery: { mode: 'manual', peers } });
    expect(error?.field).toBe('peerDiscovery.peers[1]');
    expect(error?.message).toContain(
      `names cache ${JSON.stringify(cache)}, which is not a replicated cache of this node`,
    );
  });

  it('says of peers joined by "|", as Ehcache users wrote rmiUrls, that peers are a list', () => {
    const peers = ['ws://10.0.0.2:40001/orders|ws://10.0.0.3:40001/orders'];
    const error = refusal({ ...base, caches, peerDiscovery: { mode: 'manual', peers } });
    expect(error?.message).toMatch(
      /names cache "orders\|ws:\/\/10\.0\.0\.3:40001\/orders", which is not a replicated cache of this node: peers are a list, each URL its own entry \(Ehcache's rmiUrls joined them with "\|"\)$/,
    );
  });

  it('refuses a peer with a cache when the node has no caches at all', () => {
    const error = refusal({ ...base, peerDiscovery: { mode: 'manual', peers: ['ws://10.0.0.2:40001/orders'] } });
    expect(error?.field).toBe('peerDiscovery.peers[0]');
  });

  it('checks many caches and peers, each peer against its own cache', () => {
    const many: Record<string, unknown> = {};
    const peers: string[] = [];
    for (let i = 0; i < 5000; i++) {
      many[`c${i}`] = i % 2 === 0 ? { replication: {} } : {};
      if (i % 2 === 0) peers.push(`ws://10.0.${i >> 8}.${i & 255}:40001/c${i}`);
    }
    const resolved = resolveClusterConfig({ ...base, caches: many, peerDiscovery: { mode: 'manual', peers } }, {});
    expect(resolved.caches.length).toBe(5000);
    const error = refusal({
      ...base,
      caches: many,
      peerDiscovery: { mode: 'manual', peers: [...peers, 'ws://10.9.9.9:1/c4999'] },
    });
    expect(error?.field).toBe(`peerDiscovery.peers[${peers.length}]`);
  });
});
