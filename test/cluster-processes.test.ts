/**
 * ClusterNodes as processes on 127.0.0.1 with manual peers: changes made in one process reach the
 * others over real WebSockets, a node killed with SIGKILL is seen to leave, a wrong secret is
 * refused, and two full bounded caches have each other skip anti-entropy rounds. Processes are
 * stopped by their own pid.
 */
import { describe, expect, it } from 'vitest';
import { CACHE, connectedPeers, type Running, startNode, until } from './cluster-harness.js';

/**
 * Each test starts two or three processes (each compiling its TypeScript with tsx) and then waits
 * on them with deadlines of 10 to 15 s a wait: under load (two CPU burners beside the suite) these
 * tests took up to 8.4 s of the default 20 s, and their own waits could add up past it, so a slow
 * run would end in vitest's unnamed timeout rather than the wait that named what did not happen.
 * They get 60 s, as the gateway, CLI and cache-manager process tests do. A bound on the harness,
 * not an assertion: nothing here measures how long anything took.
 */
const PROCESS_TEST = { timeout: 60_000 };

describe('a cluster of three processes', PROCESS_TEST, () => {
  it('replicates puts and removals between processes, and sees a killed node leave', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    const c = await startNode('gw-3', [a.url, b.url]);
    const connected = async (node: Running, count: number) => (await connectedPeers(node)) === count;
    await until(() => connected(a, 2), 'gw-1 to link with both');

    await b.ask(`put ${CACHE} GET%20/orders/42 {"status":200}`);
    for (const node of [a, c]) {
      await until(
        async () =>
          JSON.stringify(await node.ask(`get ${CACHE} GET%20/orders/42`)) === '{"found":true,"value":{"status":200}}',
        'the put to arrive',
      );
    }
    await c.ask(`remove ${CACHE} GET%20/orders/42`);
    await until(
      async () => JSON.stringify(await a.ask(`get ${CACHE} GET%20/orders/42`)) === '{"found":false}',
      'the removal to arrive',
    );

    c.child.kill('SIGKILL');
    await until(() => connected(a, 1), 'gw-1 to see gw-3 leave');
    await a.ask(`put ${CACHE} after {"v":1}`);
    await until(
      async () => JSON.stringify(await b.ask(`get ${CACHE} after`)) === '{"found":true,"value":{"v":1}}',
      'the put after the kill',
    );
  });

  it('marks a peer whose process hangs (SIGSTOP) suspect, then drops it by heartbeat, and links again when it resumes', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    const connected = () => connectedPeers(a);
    const stateOfB = async () =>
      ((await a.ask('peers')) as Array<{ id: string; state: string }>).find((peer) => peer.id === 'gw-2')?.state;
    await until(async () => (await connected()) === 1, 'the link');
    b.child.kill('SIGSTOP'); // the socket stays open; only the heartbeat can tell
    try {
      await until(async () => (await stateOfB()) === 'suspect', 'gw-1 to suspect the hung peer', 8000);
      await until(async () => (await stateOfB()) === undefined, 'gw-1 to drop the hung peer', 15_000);
    } finally {
      b.child.kill('SIGCONT');
    }
    await until(async () => (await connected()) === 1, 'the link to come back', 15_000);
  }, 60_000);

  it('refuses a process with the wrong secret', async () => {
    const a = await startNode('gw-1', []);
    const intruder = await startNode('gw-x', [a.url], { secret: 'guess' });
    await intruder.ask(`put ${CACHE} k {"poison":true}`);
    // Its first dial was refused before it said it listens (startNode waits for ready()).
    expect(await a.ask(`get ${CACHE} k`)).toEqual({ found: false });
    expect(await a.ask('peers')).toEqual([]);
    // Refused for its key: shown as such (between redials), not as an outage.
    await until(async () => {
      const [peer] = (await intruder.ask('peers')) as Array<{ state: string }>;
      return peer?.state === 'refused';
    }, 'the intruder to show its peer refused');
  });

  /**
   * Two processes with full LRU caches of 200 holding different keys: each reads a different
   * fifty, then gw-1 writes a hundred more, so gw-1 evicts a50-a149 and gw-2 a0-a99. `old` holds
   * gw-1 to protocol 4, the release before SkipRounds.
   */
  async function fullApart(old = false): Promise<[Running, Running]> {
    const bounded = {
      'Response Cache': {
        maxElementsInMemory: 200,
        memoryStoreEvictionPolicy: 'LRU',
        replication: { asynchronousReplicationIntervalMillis: 10, repairIntervalMillis: 200 },
      },
    };
    const a = await startNode('gw-1', [], { caches: bounded, ...(old ? { protocols: { min: 2, max: 4 } } : {}) });
    const b = await startNode('gw-2', [a.url], { caches: bounded });
    await until(async () => (await connectedPeers(a)) === 1, 'the link');
    await a.ask(`fill ${CACHE} 200 a`);
    await until(async () => ((await b.ask(`count ${CACHE}`)) as { count: number }).count === 200, 'b to fill');
    for (let i = 0; i < 50; i++) {
      await a.ask(`get ${CACHE} a${i}`);
      await b.ask(`get ${CACHE} a${150 + i}`);
    }
    await a.ask(`fill ${CACHE} 100 n`);
    const held = async (node: Running, key: string) =>
      ((await node.ask(`get ${CACHE} ${key}`)) as { found: boolean }).found;
    await until(async () => (await held(b, 'n99')) && !(await held(b, 'a0')), 'b to evict what it read least');
    expect([await held(a, 'a0'), await held(a, 'a100'), await held(b, 'a0'), await held(b, 'a100')]).toEqual([
      true,
      false,
      false,
      true,
    ]);
    return [a, b];
  }

  const replication = async (node: Running) =>
    ((await node.ask(`stats ${CACHE}`)) as { replication: { roundsSkipped: number; repairs: number } }).replication;

  /** Updates of keys both hold (n0-n99) on `a`, one each 50 ms, until `done` (200 at most). */
  async function updateUntil(a: Running, done: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 200 && !(await done()); i++) {
      await a.ask(`put ${CACHE} n${i % 100} {"i":${i}}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** After a's last update has reached b: the keys both hold, and those whose versions differ. */
  async function agreement(a: Running, b: Running): Promise<{ both: number; differing: string[] }> {
    await a.ask('settle');
    const [ofA, ofB] = (await Promise.all(
      [a, b].map((node) => node.ask(`versions ${CACHE}`) as Promise<Record<string, string>>),
    )) as [Record<string, string>, Record<string, string>];
    const both = Object.keys(ofA).filter((key) => key in ofB);
    return { both: both.length, differing: both.filter((key) => ofA[key] !== ofB[key]) };
  }

  it('two full bounded caches holding different keys have each other skip the anti-entropy rounds that take nothing, and agree on the keys both hold', async () => {
    const [a, b] = await fullApart();
    // Updates of keys both hold keep both caches changing, so both keep sending rounds.
    await updateUntil(
      a,
      async () => (await replication(a)).roundsSkipped >= 3 && (await replication(b)).roundsSkipped >= 3,
    );
    expect((await replication(a)).roundsSkipped).toBeGreaterThanOrEqual(3);
    expect((await replication(b)).roundsSkipped).toBeGreaterThanOrEqual(3);
    const { both, differing } = await agreement(a, b);
    expect(both).toBeGreaterThanOrEqual(150);
    expect(differing).toEqual([]);
  }, 60_000); // two process starts, and waits of up to 10 s each on a loaded machine

  it('a node of the release before (protocol 4) and this one link at 4: no round is skipped either way, and they agree', async () => {
    const [a, b] = await fullApart(true);
    expect(((await b.ask('peers')) as Array<{ protocol: number }>)[0]?.protocol).toBe(4);
    const before = [(await replication(a)).repairs, (await replication(b)).repairs];
    await updateUntil(a, async () => (await replication(b)).repairs >= (before[1] as number) + 5);
    // b repaired from a's rounds again and again, full and taking nothing, and asked nothing.
    expect((await replication(b)).repairs).toBeGreaterThanOrEqual((before[1] as number) + 5);
    expect([(await replication(a)).roundsSkipped, (await replication(b)).roundsSkipped]).toEqual([0, 0]);
    const { both, differing } = await agreement(a, b);
    expect(both).toBeGreaterThanOrEqual(150);
    expect(differing).toEqual([]);
  }, 60_000);
});
