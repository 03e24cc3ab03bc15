/**
 * Kill loops: three node processes, each with a memory-only cache and a persistent one
 * (overflowToDisk + diskPersistent), all writing steadily; each round SIGKILLs one node at random
 * and starts it again on the same port and store. Every round ends with every link up and every
 * cache the same on all three nodes; and a survivor's open file descriptors and sockets
 * (/proc/PID/fd, counted from outside) settle back to what they were before the kill, so nothing
 * leaks per dead peer. 10 rounds here, 50 in the long form (MESHCACHE_LONG=1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import './cluster-harness.js';
import { type Running, startNode, until } from './node-processes.js';
import { LONG, openFds, openSockets, printTable } from './reliability-figures.js';

const ROUNDS = LONG ? 50 : 10;
const RATE = 200;
const KEYS = 2000;
const MEMORY = 'Response%20Cache';
const PERSISTENT = 'tokens';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const caches = {
  'Response Cache': { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 20 } },
  tokens: {
    maxElementsInMemory: 500,
    overflowToDisk: true,
    diskPersistent: true,
    replication: { asynchronousReplicationIntervalMillis: 20 },
  },
};

const portOf = (url: string) => Number(new URL(url).port);

function start(name: string, peers: string[], port = 0): Promise<Running> {
  return startNode(name, peers, { caches, port, extra: { diskStorePath: join(dir, name) } });
}

async function linked(nodes: Running[]): Promise<boolean> {
  const views = (await Promise.all(nodes.map((node) => node.ask('peers')))) as Array<Array<{ state: string }>>;
  return views.every((peers) => peers.filter((peer) => peer.state === 'connected').length === 2);
}

/** What differs between the nodes, key by key (the first 10 keys), for a failure's message. */
async function differences(nodes: Running[], cache: string): Promise<string> {
  const known = (await Promise.all(nodes.map((node) => node.ask(`versions ${cache}`)))) as Array<
    Record<string, string>
  >;
  const keys = new Set(known.flatMap((k) => Object.keys(k)));
  const differing = [...keys].filter((key) => new Set(known.map((k) => k[key] ?? 'absent')).size > 1);
  const peers = await Promise.all(nodes.map((node) => node.ask('peers')));
  return `${differing.length} keys differ; ${differing
    .slice(0, 10)
    .map((key) => `${key}: ${known.map((k, i) => `${nodes[i]?.name}=${k[key] ?? 'absent'}`).join(' ')}`)
    .join('; ')}; peers: ${JSON.stringify(peers)}`;
}

async function same(nodes: Running[], cache: string): Promise<boolean> {
  const contents = await Promise.all(nodes.map((node) => node.ask(`contents ${cache}`)));
  return contents.every((c) => JSON.stringify(c) === JSON.stringify(contents[0]));
}

describe('kill loops', () => {
  it(
    `SIGKILL a random node of three under writes, ${ROUNDS} rounds: every round converges, survivors leak no fd or socket`,
    async () => {
      const nodes: Running[] = [];
      nodes.push(await start('gw-1', []));
      nodes.push(await start('gw-2', [nodes[0]?.url as string]));
      nodes.push(await start('gw-3', [nodes[0]?.url as string, nodes[1]?.url as string]));
      await until(() => linked(nodes), 'the mesh', 30_000);
      const peersOf = (i: number) => nodes.filter((_, j) => j !== i).map((node) => node.url);

      const rows: Array<Record<string, string | number | null>> = [];
      for (let round = 1; round <= ROUNDS; round++) {
        for (const node of nodes) {
          for (const cache of [MEMORY, PERSISTENT]) await node.ask(`churn ${cache} ${RATE} ${KEYS}`);
        }
        const victim = Math.floor(Math.random() * nodes.length);
        const survivors = nodes.filter((_, j) => j !== victim);
        const before = survivors.map((node) => ({
          fds: openFds(node.child.pid as number),
          sockets: openSockets(node.child.pid as number),
        }));
        const old = nodes[victim] as Running;
        const writing = Date.now() + 300 + Math.random() * 700; // killed mid-stream, at a random moment
        await until(async () => Date.now() > writing, 'some writes before the kill');
        const killedAt = Date.now();
        old.child.kill('SIGKILL');
        await old.exited;
        const fresh = await start(old.name, peersOf(victim), portOf(old.url));
        nodes[victim] = fresh;
        await until(() => linked(nodes), `round ${round}: every link up again`, 30_000);
        for (const node of nodes) {
          for (const cache of [MEMORY, PERSISTENT]) await node.ask(`churn ${cache} 0`);
        }
        const stoppedAt = Date.now();
        for (const cache of [MEMORY, PERSISTENT]) {
          await until(
            () => same(nodes, cache),
            `round ${round}: ${decodeURIComponent(cache)} equal on every node`,
            30_000,
          ).catch(async (error: Error) => {
            throw new Error(`${error.message}: ${await differences(nodes, cache)}`);
          });
        }
        const convergedAt = Date.now();
        for (const [i, node] of survivors.entries()) {
          const was = before[i] as { fds: number; sockets: number };
          const pid = node.child.pid as number;
          await until(
            async () => openFds(pid) <= was.fds && openSockets(pid) <= was.sockets,
            `round ${round}: ${node.name}'s fds (${openFds(pid)}, were ${was.fds}) and sockets (${openSockets(pid)}, were ${was.sockets}) to settle`,
            15_000,
          );
        }
        const counts = (await fresh.ask(`count ${PERSISTENT}`)) as { count: number };
        rows.push({
          round,
          killed: old.name,
          'back and linked after (ms)': stoppedAt - killedAt,
          'converged after writes stopped (ms)': convergedAt - stoppedAt,
          'persistent entries': counts.count,
          'survivor fds before → after': survivors
            .map((node, i) => `${before[i]?.fds}→${openFds(node.child.pid as number)}`)
            .join(', '),
        });
      }
      for (const node of nodes) expect([node.name, node.child.exitCode]).toEqual([node.name, null]);
      printTable(`kill loop: ${ROUNDS} rounds, ${RATE} changes/s per node per cache over ${KEYS} keys`, rows);
    },
    (LONG ? 40 : 8) * 60_000,
  );
});
