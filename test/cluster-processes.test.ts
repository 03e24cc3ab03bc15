/**
 * Three ClusterNodes as three processes on 127.0.0.1 with manual peers: changes made in one
 * process reach the others over real WebSockets, a node killed with SIGKILL is seen to leave,
 * and a wrong secret is refused. Processes are stopped by their own pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const NODE = fileURLToPath(new URL('./fixtures/cluster-process.ts', import.meta.url));

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  ask(line: string): Promise<unknown>;
}

const running: ChildProcess[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

async function startNode(name: string, peers: string[], secret = 'cluster secret'): Promise<Running> {
  const config = {
    name,
    cluster: 'gateways',
    secret,
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
    peerDiscovery: { mode: 'manual', peers },
    caches: { 'Response Cache': { replication: { asynchronousReplicationIntervalMillis: 10 } } },
  };
  const child = spawn(
    process.execPath,
    ['--conditions=@meshcache/source', '--import', 'tsx', NODE, JSON.stringify(config)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  running.push(child);
  const lines: Interface = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const answers: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    lines.on('line', (line) => {
      const listening = /^listening on (ws:\/\/\S+)$/.exec(line);
      if (listening?.[1] !== undefined) resolve(listening[1]);
      else {
        const next = waiting.shift();
        if (next === undefined) answers.push(line);
        else next(line);
      }
    });
  });
  const ask = (line: string) =>
    new Promise<unknown>((resolve) => {
      waiting.push((answer) => resolve(JSON.parse(answer)));
      child.stdin?.write(`${line}\n`);
    });
  return { child, url, ask };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const CACHE = 'Response%20Cache';

describe('a cluster of three processes', () => {
  it('replicates puts and removals between processes, and sees a killed node leave', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    const c = await startNode('gw-3', [a.url, b.url]);
    const connected = async (node: Running, count: number) =>
      ((await node.ask('peers')) as Array<{ state: string }>).filter((p) => p.state === 'connected').length === count;
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

  it('drops a peer whose process hangs (SIGSTOP), by heartbeat, and links again when it resumes', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    const connected = async () =>
      ((await a.ask('peers')) as Array<{ state: string }>).filter((p) => p.state === 'connected').length;
    await until(async () => (await connected()) === 1, 'the link');
    b.child.kill('SIGSTOP'); // the socket stays open; only the heartbeat can tell
    try {
      await until(async () => (await connected()) === 0, 'gw-1 to drop the hung peer', 8000);
    } finally {
      b.child.kill('SIGCONT');
    }
    await until(async () => (await connected()) === 1, 'the link to come back', 15_000);
  });

  it('refuses a process with the wrong secret', async () => {
    const a = await startNode('gw-1', []);
    const intruder = await startNode('gw-x', [a.url], 'guess');
    await intruder.ask(`put ${CACHE} k {"poison":true}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await a.ask(`get ${CACHE} k`)).toEqual({ found: false });
    expect(await a.ask('peers')).toEqual([]);
    // refused, so never connected: down, or connecting again on its next retry
    const [peer] = (await intruder.ask('peers')) as Array<{ state: string }>;
    expect(['down', 'connecting']).toContain(peer?.state);
  });
});
