/**
 * A rolling upgrade, as a platform team runs one: three `ClusterNode` processes of the release
 * before (held to the protocols it spoke, 2 to 6, a test-only setting), replaced one at a time by
 * this release under a steady stream of writes. Links between an old and a new node speak 6 (no
 * Repaired), between new nodes this release's newest; at the end every node holds every write,
 * and the same contents.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import './cluster-harness.js';
import { PROTOCOL_VERSIONS } from '@meshcache/replication';
import { CACHE, converged, type Running, startNode, until } from './node-processes.js';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-upgrade-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const caches = {
  'Response Cache': {
    maxElementsInMemory: 1000,
    overflowToDisk: true,
    diskPersistent: true,
    replication: { asynchronousReplicationIntervalMillis: 10 },
  },
};
const OLD_RELEASE = { min: 2, max: 6 };
const WRITES = 1500;

interface PeerView {
  readonly id: string;
  readonly state: string;
  readonly protocol: number | null;
}

async function peersOf(node: Running): Promise<PeerView[]> {
  return (await node.ask('peers')) as PeerView[];
}

async function start(name: string, others: Running[], release: 'old' | 'new'): Promise<Running> {
  return startNode(
    name,
    others.map((node) => node.url),
    {
      caches,
      extra: { diskStorePath: join(dir, name) },
      ...(release === 'old' ? { protocols: OLD_RELEASE } : {}),
    },
  );
}

describe('a rolling upgrade across protocol versions', () => {
  it('replaces three old nodes one at a time under writes: links negotiate, nothing is lost, every node ends equal', async () => {
    const nodes: Running[] = [];
    nodes.push(await start('gw-1', [], 'old'));
    nodes.push(await start('gw-2', nodes, 'old'));
    nodes.push(await start('gw-3', nodes, 'old'));
    await until(
      async () =>
        (await Promise.all(nodes.map(peersOf))).every(
          (peers) => peers.filter((p) => p.state === 'connected').length === 2,
        ),
      'the old mesh',
    );

    const upgraded = new Set<string>();
    const restarting = new Set<string>();
    const written: string[] = [];
    let inFlight: Promise<unknown> = Promise.resolve();
    let stop = false;
    const writer = (async () => {
      for (let n = 0; n < WRITES && !stop; n++) {
        // Choosing the node and asking it happen in one turn, so a restart that begins after
        // this turn waits for this write (inFlight), and one that began before is not chosen.
        const live = nodes.filter((node) => !restarting.has(node.name));
        const target = live[n % live.length] as Running;
        inFlight = target.ask(`put ${CACHE} w${n} {"n":${n},"by":"${target.name}"}`);
        await inFlight;
        written.push(`w${n}`);
      }
    })();

    for (let i = 0; i < nodes.length; i++) {
      const old = nodes[i] as Running;
      await until(async () => written.length >= (i + 1) * (WRITES / 4), 'some writes before this restart', 60_000);
      restarting.add(old.name);
      await inFlight;
      old.child.kill('SIGTERM'); // a clean stop: links closed, queues flushed, disk written back
      await old.exited;
      const fresh = await start(
        old.name,
        nodes.filter((node) => node !== old),
        'new',
      );
      nodes[i] = fresh;
      restarting.delete(old.name);
      upgraded.add(old.name);
      await until(
        async () => (await peersOf(fresh)).filter((p) => p.state === 'connected').length === 2,
        `${old.name} relinked`,
        30_000,
      );
      for (const peer of await peersOf(fresh)) {
        expect([peer.id, peer.protocol]).toEqual([
          peer.id,
          upgraded.has(peer.id) ? PROTOCOL_VERSIONS.max : OLD_RELEASE.max,
        ]);
      }
    }
    stop = true;
    await writer;

    await converged(nodes, 'every node to hold the same entries', CACHE, 60_000);
    for (const node of nodes) {
      expect(await node.ask(`count ${CACHE}`)).toEqual({ count: written.length });
      const protocols = (await peersOf(node)).map((peer) => peer.protocol);
      expect(protocols).toEqual([PROTOCOL_VERSIONS.max, PROTOCOL_VERSIONS.max]);
    }
    expect(written.length).toBeGreaterThanOrEqual((WRITES * 3) / 4);
  }, 180_000);
});
