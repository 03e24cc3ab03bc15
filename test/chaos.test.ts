/**
 * The network on a bad day, between three node processes: a chaos proxy (chaos-proxy.ts) sits on
 * every link (gw-1 dials gw-2 and gw-3 through one each, gw-2 dials gw-3 through one), and every
 * node writes steadily over one shared key space. Each fault holds for a while (3 s here, 30 s in
 * the long form), then heals; writes stop at the heal. After each: every node converges to the
 * same contents, every link is up again, no process died, and no peer queue passed its bound
 * (64 MiB) nor any process an RSS of 512 MiB. The figures (time to detect, time to converge
 * after healing, changes applied after healing, most queued, most RSS) are printed as a table for
 * docs/reliability.md; they are not asserted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChaosProxy, type Fault } from './chaos-proxy.js';
import './cluster-harness.js';
import { CACHE, type Running, startNode, until } from './node-processes.js';
import { LONG, MiB, printTable } from './reliability-figures.js';

const FAULT_MS = LONG ? 30_000 : 3_000;
const RATE = LONG ? 1000 : 200; // changes per second per node
const KEYS = 5000;
const QUEUE_BOUND = 64 * MiB;
const RSS_BOUND = 512 * MiB;

const proxies: ChaosProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
});

interface PeerView {
  readonly id: string;
  readonly state: string;
  readonly queuedBytes: number;
}

const portOf = (url: string) => Number(new URL(url).port);

async function proxyTo(node: Running): Promise<ChaosProxy> {
  const proxy = await ChaosProxy.start(portOf(node.url));
  proxies.push(proxy);
  return proxy;
}

async function views(nodes: Running[]): Promise<PeerView[][]> {
  return (await Promise.all(nodes.map((node) => node.ask('peers')))) as PeerView[][];
}

async function allLinked(nodes: Running[]): Promise<boolean> {
  return (await views(nodes)).every((peers) => peers.length === 2 && peers.every((peer) => peer.state === 'connected'));
}

async function contentsEqual(nodes: Running[]): Promise<boolean> {
  const contents = await Promise.all(nodes.map((node) => node.ask(`contents ${CACHE}`)));
  return contents.every((c) => JSON.stringify(c) === JSON.stringify(contents[0]));
}

async function applied(nodes: Running[]): Promise<number> {
  const stats = (await Promise.all(nodes.map((node) => node.ask(`stats ${CACHE}`)))) as Array<{
    replication: { applied: number };
  }>;
  return stats.reduce((sum, s) => sum + s.replication.applied, 0);
}

const FAULTS: ReadonlyArray<[string, Fault]> = [
  ['delay 200 ms, jitter 200 ms', { kind: 'delay', delayMs: 200, jitterMs: 200 }],
  ['bandwidth 32 KiB/s', { kind: 'bandwidth', bytesPerSecond: 32 * 1024 }],
  ['cut', { kind: 'cut' }],
  ['half-open (nothing forwarded, nothing closed)', { kind: 'halfOpen' }],
  ['resets every 700 ms', { kind: 'reset', everyMs: 700 }],
];

describe('a chaos proxy on every link', () => {
  it(
    'under steady writes, each fault for a while then healed: every node converges, nothing crashes, nothing grows past its bound',
    async () => {
      const caches = {
        'Response Cache': { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 50 } },
      };
      const gw3 = await startNode('gw-3', [], { caches });
      const p23 = await proxyTo(gw3);
      const p13 = await proxyTo(gw3);
      const gw2 = await startNode('gw-2', [p23.url], { caches });
      const p12 = await proxyTo(gw2);
      const gw1 = await startNode('gw-1', [p12.url, p13.url], { caches });
      const nodes = [gw1, gw2, gw3];
      const links = [p12, p13, p23];
      await until(() => allLinked(nodes), 'the mesh, through the proxies', 30_000);

      const rows: Array<Record<string, string | number | null>> = [];
      let writtenBefore = 0;
      for (const [name, fault] of FAULTS) {
        for (const node of nodes) await node.ask(`churn ${CACHE} ${RATE} ${KEYS}`);
        const before = Date.now() + 1000;
        await until(async () => Date.now() > before, 'a second of steady writes');

        const faultAt = Date.now();
        for (const proxy of links) proxy.set(fault);
        let detectedAt: number | undefined;
        let mostQueued = 0;
        let mostRss = 0;
        const states = new Set<string>();
        while (Date.now() - faultAt < FAULT_MS) {
          const peers = await views(nodes);
          if (detectedAt === undefined && peers.some((list) => list.some((peer) => peer.state !== 'connected'))) {
            detectedAt = Date.now();
          }
          for (const list of peers) {
            for (const peer of list) {
              mostQueued = Math.max(mostQueued, peer.queuedBytes);
              if (peer.state !== 'connected') states.add(peer.state);
            }
          }
          for (const node of nodes) {
            const memory = (await node.ask('memory')) as { rss: number };
            mostRss = Math.max(mostRss, memory.rss);
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }

        for (const proxy of links) proxy.heal();
        const healedAt = Date.now();
        let written = 0;
        for (const node of nodes) {
          const counts = (await node.ask(`churn ${CACHE} 0`)) as { puts: number; removes: number };
          written += counts.puts + counts.removes;
        }
        const appliedAtHeal = await applied(nodes);
        const writtenNow = written;
        await until(
          async () => (await allLinked(nodes)) && (await contentsEqual(nodes)),
          `every node to converge after "${name}"`,
          60_000,
        );
        const convergedAt = Date.now();

        for (const node of nodes)
          expect([node.name, node.child.exitCode, node.child.signalCode]).toEqual([node.name, null, null]);
        expect(mostQueued).toBeLessThanOrEqual(QUEUE_BOUND);
        expect(mostRss).toBeLessThan(RSS_BOUND);
        rows.push({
          fault: name,
          'held (s)': FAULT_MS / 1000,
          'changes written (all nodes)': written - writtenBefore,
          'detected after (ms)': detectedAt === undefined ? 'links stayed up' : detectedAt - faultAt,
          'states seen': [...states].sort().join(', ') || 'connected',
          'converged after healing (ms)': convergedAt - healedAt,
          'changes applied after healing': (await applied(nodes)) - appliedAtHeal,
          'most queued for a peer (KiB)': Math.round(mostQueued / 1024),
          'most RSS (MiB)': Math.round(mostRss / MiB),
        });
        writtenBefore = writtenNow;
      }
      printTable(`chaos proxy: ${RATE} changes/s per node over ${KEYS} keys, each fault ${FAULT_MS / 1000} s`, rows);
    },
    (LONG ? 30 : 4) * 60_000,
  );

  it("a node's last write that reached one peer and not the other reaches both once the node is gone", async () => {
    // gw-2 dials gw-1 directly and gw-3 through a proxy that withholds its bytes: gw-2's write
    // reaches gw-1 only, and then gw-2 dies. The survivors' own link never dropped, so only the
    // repair a node runs with its other peers when one leaves brings gw-3 the write.
    const caches = {
      'Response Cache': { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } },
    };
    const gw1 = await startNode('gw-1', [], { caches });
    const gw3 = await startNode('gw-3', [gw1.url], { caches });
    const toGw3 = await proxyTo(gw3);
    const gw2 = await startNode('gw-2', [gw1.url, toGw3.url], { caches });
    await until(() => allLinked([gw1, gw2, gw3]), 'the mesh', 30_000);
    await gw2.ask(`put ${CACHE} before {"v":1}`);
    await until(
      async () => ((await gw3.ask(`count ${CACHE}`)) as { count: number }).count === 1,
      'the first write on gw-3',
    );

    toGw3.set({ kind: 'halfOpen' });
    await gw2.ask(`put ${CACHE} last {"v":2}`);
    await until(
      async () => JSON.stringify(await gw1.ask(`get ${CACHE} last`)) === '{"found":true,"value":{"v":2}}',
      'the last write on gw-1',
    );
    gw2.child.kill('SIGKILL');
    await gw2.exited;
    toGw3.set({ kind: 'cut' }); // what gw-2 sent towards gw-3 is lost with it
    await until(
      async () => JSON.stringify(await gw3.ask(`get ${CACHE} last`)) === '{"found":true,"value":{"v":2}}',
      'the last write of the dead node on gw-3',
      15_000,
    );
    expect(await contentsEqual([gw1, gw3])).toBe(true);
  }, 60_000);
});
