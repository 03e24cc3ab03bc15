/**
 * `meshcache demo`: the README's main command. Three nodes on 127.0.0.1, each `meshcache serve`
 * in its own process with manual peers; writes go through one node (over the admin protocol,
 * as `meshcache put` would), and the demo shows them arriving on the others with the time they
 * took, a removal propagating, a node killed with SIGKILL and, restarted, catching up on what
 * it missed.
 *
 * gw-1 serves the operator endpoint, and the first thing the demo prints is the address of its
 * live page: people look at a cluster rather than read it. gw-1 dials the other two, so the page
 * shows gw-3 going down when it is killed and coming back when it restarts.
 *
 * At a terminal (or with --keep-running) the cluster then stays up with a little traffic, for the
 * page, until Ctrl-C; otherwise (piped, or --no-keep-running) the demo ends after the story. Either
 * way it stops every process it started, by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '@meshcache/replication';
import { type Io, styles } from '../io.js';
import { peersTable } from './admin.js';

const CACHE = 'Response Cache';

/** How to run this very CLI again as a child: compiled, or from source under tsx in development. */
function cliCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const bin = join(here, '..', '..', fromSource ? 'bin.ts' : 'bin.js');
  return fromSource ? ['--conditions=@meshcache/source', '--import', 'tsx', bin] : [bin];
}

interface DemoNode {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  /** The operator endpoint's address, when the node serves one. */
  readonly http: string | undefined;
}

export interface DemoOptions {
  /** Keep the cluster up, with light traffic, after the story until Ctrl-C. @default io.tty */
  keepRunning?: boolean;
}

class Interrupted extends Error {}

export async function demo(io: Io, options: DemoOptions = {}): Promise<number> {
  const style = styles(io);
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-demo-'));
  const secret = randomBytes(16).toString('hex');
  const children = new Set<ChildProcess>();
  const clients: AdminClient[] = [];
  let interrupted = false;
  void io.interrupted.then(() => {
    interrupted = true;
  });
  const check = () => {
    if (interrupted) throw new Interrupted();
  };
  const say = (text: string) => io.out(`${text}\n`);
  const step = (n: number, text: string) => say(`\n${style.bold(`${n}. ${text}`)}`);

  const started: string[] = [];
  const start = async (name: string, peers: string[], http = false): Promise<DemoNode> => {
    const config = join(dir, `${name}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        name,
        cluster: 'demo',
        secret,
        peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 2000 },
        peerDiscovery: { mode: 'manual', peers },
        ...(http ? { http: { hostname: '127.0.0.1', port: 0 } } : {}),
        caches: {
          [CACHE]: {
            maxElementsInMemory: 10_000,
            timeToLiveSeconds: 300,
            replication: { asynchronousReplicationIntervalMillis: 10 },
          },
        },
      }),
    );
    const child = spawn(process.execPath, [...cliCommand(), 'serve', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const log: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    let endpoint: string | undefined;
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${log.join('').slice(-500)}`)));
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const operator = /operator endpoint on (\S+)/.exec(line);
        if (operator?.[1] !== undefined) endpoint = operator[1];
        const match = /listening on (\S+)/.exec(line);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
    });
    started.push(`   started ${style.cyan(name)} on ${url} ${style.dim(`(pid ${child.pid})`)}`);
    return { name, child, url, http: endpoint };
  };
  /** The lines of the nodes started since the last call. */
  const tellStarted = () => {
    for (const line of started.splice(0)) say(line);
  };
  const admin = async (node: DemoNode) => {
    const client = await AdminClient.connect(node.url, { secret });
    clients.push(client);
    return client;
  };
  /** Polls `node` until `key` holds `expected` (or is gone, for undefined); the ms it took. */
  const arrival = async (client: AdminClient, key: string, expected: unknown, since: number): Promise<number> => {
    const deadline = since + 10_000;
    while (performance.now() < deadline) {
      check();
      const answer = await client.get(CACHE, key);
      const holds = expected === undefined ? !answer.found : JSON.stringify(answer.value) === JSON.stringify(expected);
      if (holds) return performance.now() - since;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    throw new Error(`${key} did not arrive within 10 s`);
  };

  try {
    say(style.bold('meshcache demo: three nodes on 127.0.0.1, one process each, replicating "Response Cache"'));
    const gw2 = await start('gw-2', []);
    let gw3 = await start('gw-3', [gw2.url]);
    const gw1 = await start('gw-1', [gw2.url, gw3.url], true);
    say(
      `\n   ${style.bold('Watch it live:')} ${style.cyan(`${gw1.http}/`)}  ${style.dim('(the cluster as gw-1 sees it)')}`,
    );
    check();
    step(1, 'Start the cluster (manual peers: gw-3 dials gw-2, gw-1 dials both)');
    tellStarted();
    const [c1, c2] = [await admin(gw1), await admin(gw2)];
    let c3 = await admin(gw3);
    const linked = async () => (await c1.peers()).filter((p) => p.state === 'connected').length === 2;
    for (let i = 0; i < 500 && !(await linked()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    say('   all three linked');
    check();

    step(2, 'Write through gw-1; watch the entries arrive on gw-2 and gw-3');
    const responses = [
      ['GET /orders/42', { status: 200, body: '{"id":42,"total":99.5}' }],
      ['GET /orders/43', { status: 200, body: '{"id":43,"total":12}' }],
      ['GET /customers/7', { status: 200, body: '{"id":7,"name":"Ada"}' }],
      ['GET /orders/42', { status: 200, body: '{"id":42,"total":104.5}' }],
    ] as const;
    for (const [key, value] of responses) {
      const since = performance.now();
      await c1.put(CACHE, key, value);
      const [on2, on3] = await Promise.all([arrival(c2, key, value, since), arrival(c3, key, value, since)]);
      say(
        `   put ${JSON.stringify(key)} on gw-1  →  on gw-2 after ${on2.toFixed(0)} ms, on gw-3 after ${on3.toFixed(0)} ms`,
      );
    }

    step(3, 'Remove on gw-2; the removal reaches the others');
    {
      const since = performance.now();
      await c2.remove(CACHE, 'GET /customers/7');
      const [on1, on3] = await Promise.all([
        arrival(c1, 'GET /customers/7', undefined, since),
        arrival(c3, 'GET /customers/7', undefined, since),
      ]);
      say(
        `   removed "GET /customers/7" on gw-2  →  gone from gw-1 after ${on1.toFixed(0)} ms, from gw-3 after ${on3.toFixed(0)} ms`,
      );
    }

    step(4, 'Kill gw-3 with SIGKILL, and write while it is down');
    c3.close();
    gw3.child.kill('SIGKILL');
    const killedAt = performance.now();
    while ((await c1.peers()).some((p) => p.id === 'gw-3' && p.state === 'connected')) {
      check();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    say(
      `   gw-1 saw gw-3 go after ${(performance.now() - killedAt).toFixed(0)} ms (a hung process would take the heartbeat, about 2 s)`,
    );
    for (let i = 0; i < 100; i++) await c1.put(CACHE, `GET /catalog/${i}`, { status: 200, body: `item ${i}` });
    await c1.remove(CACHE, 'GET /orders/43');
    say('   wrote 100 entries and removed "GET /orders/43" on gw-1 while gw-3 was down');

    step(5, 'Restart gw-3: it repairs from its peers before it says it is listening');
    const restartedAt = performance.now();
    gw3 = await start('gw-3', [gw1.url, gw2.url]);
    tellStarted();
    c3 = await admin(gw3);
    const back = performance.now() - restartedAt;
    const [[held], [reference]] = await Promise.all([c3.stats(CACHE), c1.stats(CACHE)]);
    const missedRemoval = await c3.get(CACHE, 'GET /orders/43');
    say(
      `   gw-3 is back after ${back.toFixed(0)} ms (process start included), holding ${held?.statistics.memorySize} entries` +
        ` (gw-1 holds ${reference?.statistics.memorySize}); "GET /orders/43" ${missedRemoval.found ? 'still there (!)' : 'gone, as on the others'}`,
    );

    step(6, 'The peers of gw-1, as `meshcache peers --node URL` shows them');
    io.out(
      peersTable(await c1.peers(), style)
        .trimEnd()
        .replace(/^/gm, '   ')
        .concat('\n'),
    );
    if (!(options.keepRunning ?? io.tty)) {
      say(`\n${style.green('Done.')} Stopping the three processes.`);
      return 0;
    }
    step(7, 'The cluster keeps running, with a little traffic through gw-1, for the live page');
    say(`   ${style.cyan(`${gw1.http}/`)}  ${style.dim('Ctrl-C stops the three processes')}`);
    for (let i = 0; !interrupted; i++) {
      await c1.put(CACHE, `GET /live/${i % 500}`, { status: 200, body: `item ${i}` }, { ttlSeconds: 30 });
      if (i % 7 === 0) await c2.remove(CACHE, `GET /live/${(i * 13) % 500}`);
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 100)), io.interrupted]);
    }
    say(`\n${style.green('Done.')} Stopping the three processes.`);
    return 0;
  } catch (error) {
    if (error instanceof Interrupted) {
      say('\ninterrupted: stopping the cluster');
      return 130;
    }
    io.err(`meshcache demo: ${(error as Error).message}\n`);
    return 1;
  } finally {
    for (const client of clients) client.close();
    await Promise.all(
      [...children].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}
