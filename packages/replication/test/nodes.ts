/**
 * ClusterNodes for the tests over real WebSockets on 127.0.0.1: started with a shared base
 * configuration and stopped after each test; and (re-exported) the poll with a deadline.
 */
import type { Cache } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { afterEach } from 'vitest';
import { type ClusterConfig, ClusterNode, type ClusterNodeOptions } from '../src/index.js';

export const SECRET = 'a shared secret of at least 32 bytes';
const started: ClusterNode[] = [];
afterEach(async () => {
  for (const node of started.splice(0)) await node.stop();
});

/** A node of cluster "gateways" on 127.0.0.1 (port 0), dialling `peers`; `overrides` replace fields. */
export async function startNode(
  name: string,
  peers: string[],
  overrides: Partial<ClusterConfig>,
  options: ClusterNodeOptions = {},
): Promise<ClusterNode> {
  const node = await ClusterNode.start(
    {
      name,
      cluster: 'gateways',
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
      peerDiscovery: { mode: 'manual', peers },
      ...overrides,
    },
    options,
  );
  started.push(node);
  return node;
}

/** The cache `name` of `node`; a test that asks for one the node lacks fails here, naming it. */
export function nodeCache(node: ClusterNode, name: string): Cache<unknown> {
  const cache = node.manager.getCache(name);
  if (cache === undefined) throw new Error(`no cache ${name} on ${node.url}`);
  return cache;
}

/**
 * Every key and value of the cache `name` (and each entry's version, with `versions`), sorted:
 * equal on every node once they converged.
 */
export function cacheContents(node: ClusterNode, name: string, versions = false): string {
  return [...replicaPortOf(nodeCache(node, name)).entries()]
    .map(({ key, value, version }) => {
      const held = `${key}=${JSON.stringify(value)}`;
      return versions ? `${held}@${version?.time}.${version?.counter}.${version?.node}` : held;
    })
    .sort()
    .join('\n');
}

/**
 * The keys of cache `name` whose entry differs between `nodes` (at most `most`), each with what
 * every node holds: `value@time.counter.node`, `removed@version` (a tombstone) or `absent`. What
 * a convergence test prints when it fails, so a rare schedule says which keys and whose versions.
 */
export function cacheDifferences(nodes: readonly ClusterNode[], name: string, most = 12): string[] {
  const at = (version: { time: number; counter: number; node: string } | undefined) =>
    version === undefined ? 'unversioned' : `${version.time}.${version.counter}.${version.node}`;
  const held = nodes.map((node) => {
    const port = replicaPortOf(nodeCache(node, name));
    const entries = new Map<string, string>();
    for (const { key, version } of port.tombstones()) entries.set(key, `removed@${at(version)}`);
    for (const { key, value, version } of port.entries()) entries.set(key, `${JSON.stringify(value)}@${at(version)}`);
    return entries;
  });
  const keys = new Set(held.flatMap((entries) => [...entries.keys()]));
  const differing: string[] = [];
  for (const key of [...keys].sort()) {
    const seen = held.map((entries) => entries.get(key) ?? 'absent');
    if (seen.every((one) => one === seen[0])) continue;
    differing.push(`${key}: ${seen.map((one, i) => `${nodes[i]?.id} ${one}`).join(', ')}`);
    if (differing.length === most) break;
  }
  return differing;
}

export { until } from '@meshcache/core/testing';
