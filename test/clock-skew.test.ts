/**
 * Clocks that are wrong, in real processes: `meshcache serve` nodes run under libfaketime
 * (Debian's `faketime`, installed by scripts/install-system-deps.sh), which moves the wall clock
 * of one process (Date.now, and so every version it stamps) and leaves its monotonic clock alone
 * (FAKETIME_DONT_FAKE_MONOTONIC=1: timers and heartbeats run at the real pace).
 *
 * - 30 s ahead, inside the 60 s drift bound: the node links as usual and converges with everyone.
 *   Its versions are 30 s ahead, and the hybrid logical clocks of its peers move past them as they
 *   arrive, so a write made elsewhere after seeing its write wins on every node.
 * - 90 s ahead, past the bound: both ends of each of its links say so in one log line and show
 *   the link as 'skewed' in `peers()`; its changes are refused, so its writes never win against
 *   writes made elsewhere, however late. Restarted with a right clock, it takes the cluster's
 *   contents.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '@meshcache/replication';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { until } from './node-processes.js';
import { printTable } from './reliability-figures.js';

const BIN = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));
const NODE_ARGS = ['--conditions=@meshcache/source', '--import', 'tsx', BIN];
const SECRET = 'a cluster secret for the clock tests';
const CACHE = 'Response Cache';

/** libfaketime's library, wherever Debian put it for this architecture. */
function libfaketime(): string {
  for (const dir of readdirSync('/usr/lib')) {
    const lib = join('/usr/lib', dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  throw new Error('libfaketime is not installed: run `bash scripts/install-system-deps.sh` (as root) first');
}

const dir = mkdtempSync(join(tmpdir(), 'meshcache-skew-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Served {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly admin: AdminClient;
  log(): string;
}

const served: Served[] = [];
afterEach(async () => {
  for (const node of served.splice(0)) {
    node.admin.close();
    if (node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill('SIGKILL');
      await new Promise((resolve) => node.child.once('exit', resolve));
    }
  }
});

/** `meshcache serve` on 127.0.0.1, its wall clock moved by `ahead` (libfaketime's "+90s"). */
async function serve(name: string, peers: string[], ahead?: string): Promise<Served> {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name,
      cluster: 'gateways',
      peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 2000 },
      peerDiscovery: { mode: 'manual', peers },
      caches: { [CACHE]: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } } },
    }),
  );
  const clock =
    ahead === undefined ? {} : { LD_PRELOAD: libfaketime(), FAKETIME: ahead, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
  const child = spawn(process.execPath, [...NODE_ARGS, 'serve', '--config', file], {
    env: { ...process.env, MESHCACHE_SECRET: SECRET, ...clock },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve ${name} exited with ${code}: ${log}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^listening on (ws:\/\/\S+)$/.exec(line);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
  });
  const admin = await AdminClient.connect(url, { secret: SECRET });
  const node = { name, child, url, admin, log: () => log };
  served.push(node);
  return node;
}

async function stateOf(node: Served, peer: string) {
  return (await node.admin.peers()).find((p) => p.id === peer);
}

async function valueOn(node: Served, key: string): Promise<unknown> {
  return (await node.admin.get(CACHE, key)).value;
}

describe('clock skew in real processes (libfaketime)', () => {
  it('a node 30 s ahead links, converges with everyone, and a later write elsewhere wins', async () => {
    const gw1 = await serve('gw-1', []);
    const gw2 = await serve('gw-2', [gw1.url]);
    const ahead = await serve('gw-3', [gw1.url, gw2.url], '+30s');
    await until(async () => (await stateOf(gw1, 'gw-3'))?.state === 'connected', 'gw-1 to link with gw-3');
    await until(async () => (await stateOf(gw2, 'gw-3'))?.state === 'connected', 'gw-2 to link with gw-3');
    await until(async () => (await stateOf(gw1, 'gw-3'))?.clockOffsetMillis !== null, 'a clock sample');
    const offset = (await stateOf(gw1, 'gw-3'))?.clockOffsetMillis as number;
    expect(offset).toBeGreaterThan(20_000); // libfaketime really moved its clock
    expect(offset).toBeLessThan(60_000);

    const nodes = [gw1, gw2, ahead];
    for (let i = 0; i < 30; i++) {
      for (const node of nodes) await node.admin.put(CACHE, `k${i % 10}`, `${node.name}/${i}`);
    }
    await ahead.admin.put(CACHE, 'shared', 'from gw-3');
    await until(async () => (await valueOn(gw1, 'shared')) === 'from gw-3', 'gw-3 write to reach gw-1');
    await gw1.admin.put(CACHE, 'shared', 'from gw-1, later');
    const snapshot = async (node: Served) =>
      JSON.stringify(
        await Promise.all(['shared', ...Array.from({ length: 10 }, (_, i) => `k${i}`)].map((k) => valueOn(node, k))),
      );
    await until(
      async () => {
        const all = await Promise.all(nodes.map(snapshot));
        return all.every((s) => s === all[0]);
      },
      'the three nodes to converge',
      20_000,
    );
    for (const node of nodes) expect(await valueOn(node, 'shared')).toBe('from gw-1, later');
    for (const node of nodes) expect(node.log()).not.toMatch(/past the drift bound|change refused/);
    printTable('clock skew: a node 30 s ahead', [{ 'clock offset seen by gw-1 (ms)': offset, converged: 'yes' }]);
  }, 120_000);

  it('a node 90 s ahead is refused on both ends with one log line each and state skewed; its writes never win', async () => {
    const gw1 = await serve('gw-1', []);
    const gw2 = await serve('gw-2', [gw1.url]);
    await gw1.admin.put(CACHE, 'token', 'issued on gw-1');
    const ahead = await serve('gw-4', [gw1.url, gw2.url], '+90s');
    await until(async () => (await stateOf(gw1, 'gw-4'))?.state === 'skewed', 'gw-1 to see gw-4 as skewed', 20_000);
    await until(async () => (await stateOf(gw2, 'gw-4'))?.state === 'skewed', 'gw-2 to see gw-4 as skewed', 20_000);
    await until(async () => (await stateOf(ahead, 'gw-1'))?.state === 'skewed', 'gw-4 to see gw-1 as skewed', 20_000);
    await until(async () => (await stateOf(ahead, 'gw-2'))?.state === 'skewed', 'gw-4 to see gw-2 as skewed', 20_000);
    expect(gw1.log().match(/the clock of peer gw-4 is 9\d s ahead of this node's, past the drift bound/g)).toHaveLength(
      1,
    );
    expect(ahead.log().match(/the clock of peer gw-1 is 9\d s behind this node's, past the drift bound/g)).toHaveLength(
      1,
    );

    // Its write first, the others' afterwards: by its clock its write is 90 s newer, and it must not win.
    await ahead.admin.put(CACHE, 'token', 'rewritten on gw-4');
    for (let i = 0; i < 20; i++) await ahead.admin.put(CACHE, `only-on-gw-4/${i}`, 'x');
    await until(async () => gw1.log().includes('change refused'), 'gw-1 to refuse a change from gw-4', 20_000);
    await gw2.admin.put(CACHE, 'token', 'reissued on gw-2, later');
    await until(async () => (await valueOn(gw1, 'token')) === 'reissued on gw-2, later', 'gw-2 write on gw-1');
    for (const node of [gw1, gw2]) {
      expect(await valueOn(node, 'token')).toBe('reissued on gw-2, later');
      expect(await valueOn(node, 'only-on-gw-4/19')).toBeUndefined();
    }
    await until(
      async () => (((await gw1.admin.stats(CACHE))[0]?.replication as { refused: number } | null)?.refused ?? 0) >= 21,
      "gw-1 to count every change of gw-4's refused",
    );
    const refusals = (gw1.log().match(/change refused/g) ?? []).length;
    expect(refusals).toBe(1); // one line, not one per change

    // The operator fixes the clock (NTP) and restarts it: it takes the cluster's contents.
    ahead.admin.close();
    ahead.child.kill('SIGTERM');
    await new Promise((resolve) => ahead.child.once('exit', resolve));
    const fixed = await serve('gw-4', [gw1.url, gw2.url]);
    await until(async () => (await stateOf(fixed, 'gw-1'))?.state === 'connected', 'the fixed gw-4 to link');
    await until(
      async () => (await valueOn(fixed, 'token')) === 'reissued on gw-2, later',
      'the fixed gw-4 to catch up',
    );
    printTable('clock skew: a node 90 s ahead', [
      { 'state on both ends': 'skewed', 'skew lines per end': 1, "gw-1's refusal lines": refusals },
    ]);
  }, 120_000);
});
