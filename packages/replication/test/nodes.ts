/**
 * ClusterNodes for the tests over real WebSockets on 127.0.0.1: started with a shared base
 * configuration and stopped after each test; and (re-exported) the poll with a deadline.
 */
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

export { until } from '@meshcache/core/testing';
