/**
 * Real ClusterNodes over the simulator's network, on one VirtualScheduler, started one after the
 * other (so their expiry sweeps, and anything else timed from a cache's start, do not run
 * together): for tests of what a cluster does over many minutes and many anti-entropy rounds, in
 * about a second of real time.
 */
import type { Cache } from '@meshcache/core';
import { VirtualScheduler } from '@meshcache/core/testing';
import { type ClusterConfig, ClusterNode } from '../src/index.js';
import { derivePsk } from '../src/security/keyring.js';
import { NodeScheduler } from './simulation/node-scheduler.js';
import { SimNetwork } from './simulation/sim-network.js';

const SECRET = 'the secret of a virtual-time test cluster, 32 bytes and more';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export interface VirtualClusterOptions {
  readonly names: readonly string[];
  readonly caches: ClusterConfig['caches'];
  readonly tombstoneRetentionSeconds?: number;
  /** Virtual time between one node's start and the next's. */
  readonly startGapMillis: number;
  /** Per node, in the order of `names`: how far its clock is ahead of the simulation's (behind, negative). */
  readonly skewMillis?: readonly number[];
  /** How many of `names`, from the first, start now; the others start when join() is called. @default all */
  readonly startNow?: number;
}

export interface VirtualCluster {
  readonly scheduler: VirtualScheduler;
  /** The nodes started, in the order of `names`. */
  readonly nodes: ClusterNode[];
  /** The cache `name` of every node started, in the order of `names`. */
  caches(name: string): Cache<unknown>[];
  /** Starts the next node of `names` not started yet (a node that joins late, or restarted empty). */
  join(): Promise<ClusterNode>;
  stop(): Promise<void>;
}

export async function virtualCluster(options: VirtualClusterOptions): Promise<VirtualCluster> {
  await derivePsk(SECRET); // scrypt runs on a thread: before virtual time starts
  const scheduler = new VirtualScheduler({ seed: 1, start: 1_700_000_000_000 });
  const network = new SimNetwork(scheduler, () => scheduler.random());
  /** Moves virtual time on in small steps until `promise` settles (bounded). */
  const settled = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    const mark = () => {
      done = true;
    };
    promise.then(mark, mark);
    for (let i = 0; i < 2000 && !done; i++) await scheduler.advance(10);
    return promise;
  };
  const { names } = options;
  const nodes: ClusterNode[] = [];
  const start = async (i: number): Promise<ClusterNode> => {
    const name = names[i] as string;
    const config: ClusterConfig = {
      name,
      cluster: 'virtual',
      secret: SECRET,
      ...(options.tombstoneRetentionSeconds === undefined
        ? {}
        : { tombstoneRetentionSeconds: options.tombstoneRetentionSeconds }),
      peerListener: { hostname: name, port: 7000, socketTimeoutMillis: 1000 },
      peerDiscovery: { mode: 'manual', peers: names.filter((o) => o !== name).map((o) => `ws://${o}:7000`) },
      caches: options.caches,
    };
    const node = await settled(
      ClusterNode.start(config, {
        transport: network.view(name),
        scheduler: new NodeScheduler(scheduler, options.skewMillis?.[i] ?? 0),
        logger: quiet,
      }),
    );
    nodes.push(node);
    return node;
  };
  for (let i = 0; i < (options.startNow ?? names.length); i++) {
    await start(i);
    await scheduler.advance(options.startGapMillis);
  }
  return {
    scheduler,
    nodes,
    caches: (name) => nodes.map((node) => node.manager.getCache(name) as Cache<unknown>),
    join: () => {
      if (nodes.length >= names.length) throw new Error('virtualCluster: every node of names has started');
      return start(nodes.length);
    },
    stop: async () => {
      for (const node of nodes) await settled(node.stop()).catch(() => {});
    },
  };
}
