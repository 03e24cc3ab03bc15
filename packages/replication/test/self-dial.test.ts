/**
 * A node whose peer list holds its own address learns so from its own Welcome, and dials that
 * address again only now and then: a verdict that lasted for good was one an on-path attacker,
 * relaying a dial back to its node once, could make for good (found by an attack).
 */
import { VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, expect, it } from 'vitest';
import { ClusterNode } from '../src/index.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { TEST_SECRET } from './sessions.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
let node: ClusterNode | undefined;

afterEach(async () => {
  await node?.stop();
  node = undefined;
});

it('dials its own address again only every ten minutes, and lists it in no peers()', async () => {
  const scheduler = new VirtualScheduler();
  const network = new MemoryNetwork();
  let dials = 0;
  const counting = Object.assign(Object.create(network) as MemoryNetwork, {
    dial: (address: string) => {
      dials++;
      return network.dial(address);
    },
    listen: network.listen.bind(network),
  });
  const starting = ClusterNode.start(
    {
      name: 'gw-1',
      cluster: 'gateways',
      secret: TEST_SECRET,
      peerListener: { hostname: '127.0.0.1', port: 7000, socketTimeoutMillis: 1000 },
      peerDiscovery: { mode: 'manual', peers: ['ws://127.0.0.1:7000'] },
      caches: { tokens: { maxElementsInMemory: 10 } },
    },
    { transport: counting, scheduler, logger: quiet },
  );
  for (let i = 0; i < 200 && dials === 0; i++) await scheduler.advance(10);
  node = await starting;
  // Its Welcome named itself: not redialled with the backoff of a peer down (100 ms to 5 s).
  for (let i = 0; i < 60; i++) await scheduler.advance(9_000);
  expect(dials).toBe(1);
  expect(node.peers()).toEqual([]);
  for (let i = 0; i < 10; i++) await scheduler.advance(10_000);
  expect(dials).toBe(2);
  expect(node.peers()).toEqual([]);
});
