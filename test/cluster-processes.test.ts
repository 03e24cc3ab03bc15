/**
 * Three ClusterNodes as three processes on 127.0.0.1 with manual peers: changes made in one
 * process reach the others over real WebSockets, a node killed with SIGKILL is seen to leave,
 * and a wrong secret is refused. Processes are stopped by their own pid.
 */
import { describe, expect, it } from 'vitest';
import { CACHE, connectedPeers, type Running, startNode, until } from './cluster-harness.js';

describe('a cluster of three processes', () => {
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
    // refused, so never connected: down, or connecting again on its next retry
    const [peer] = (await intruder.ask('peers')) as Array<{ state: string }>;
    expect(['down', 'connecting']).toContain(peer?.state);
  });
});
