/**
 * The CLI end to end, as a user runs it: `meshcache serve` processes started from the example
 * gateway configs' shape on 127.0.0.1, driven by `meshcache` processes, checking their output
 * and exit codes. And `meshcache demo`, which must end by itself and leave no process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/gateway-cluster/gw-1.json', import.meta.url));
const NODE_ARGS = ['--conditions=@meshcache/source', '--import', 'tsx', BIN];
const SECRET = 'e2e secret';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-cli-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const servers: ChildProcess[] = [];
afterEach(async () => {
  for (const child of servers.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

/** Runs `meshcache ARGS` as a process to its end. */
function meshcache(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
      env: { ...process.env, MESHCACHE_SECRET: SECRET, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

/** Starts `meshcache serve` on a copy of the example config (port 0, its own disk path). */
async function serve(name: string, peers: string[]): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const config = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  Object.assign(config, {
    name,
    diskStorePath: join(dir, name),
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 2000 },
    peerDiscovery: { mode: 'manual', peers },
  });
  config.caches['Response Cache'].replication.asynchronousReplicationIntervalMillis = 10;
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [...NODE_ARGS, 'serve', '--config', file], {
    env: { ...process.env, MESHCACHE_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve ${name} exited with ${code}: ${log}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /^listening on (ws:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
  });
  return { child, url, log: () => log };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('meshcache as processes', () => {
  it('serve, then put/get/peers/stats/remove/clear from the CLI; serve logs peers and stops cleanly on SIGTERM', async () => {
    const a = await serve('gw-1', []);
    const b = await serve('gw-2', [a.url]);
    const put = await meshcache([
      'put',
      '--node',
      a.url,
      'service tokens',
      'orders/read',
      '"eyJ.token"',
      '--ttl',
      '3300',
    ]);
    expect(put).toEqual({ code: 0, out: 'put "orders/read" into "service tokens"\n', err: '' });
    // synchronous cache: acknowledged by gw-2 already, or within a tick
    await until(
      async () =>
        (await meshcache(['get', '--node', b.url, 'service tokens', 'orders/read', '--json'])).out ===
        '{"found":true,"value":"eyJ.token"}\n',
      'the token on gw-2',
    );

    const peers = await meshcache(['peers', '--node', b.url, '--json']);
    expect(peers.code).toBe(0);
    expect(JSON.parse(peers.out)).toEqual([
      expect.objectContaining({ id: 'gw-1', state: 'connected', foundBy: 'manual' }),
    ]);
    const stats = await meshcache(['stats', '--node', a.url, '--cache', 'service tokens']);
    expect(stats.out).toMatch(/service tokens\s+0\s+0\s+0\.0%\s+1\s+1/); // one entry, in memory and on disk

    expect((await meshcache(['remove', '--node', b.url, 'service tokens', 'orders/read'])).code).toBe(0);
    await until(
      async () =>
        (await meshcache(['get', '--node', a.url, 'service tokens', 'orders/read', '--json'])).out ===
        '{"found":false}\n',
      'the revocation on gw-1',
    );
    expect((await meshcache(['clear', '--node', a.url, 'Response Cache'])).out).toBe('cleared "Response Cache"\n');

    expect(a.log()).toMatch(/peer connected peer=gw-2/);
    b.child.kill('SIGTERM');
    const [code] = await new Promise<[number | null]>((resolve) => b.child.once('exit', (c) => resolve([c])));
    expect(code).toBe(0);
    expect(b.log()).toMatch(/leaving the cluster[\s\S]*stopped/);
    await until(async () => a.log().includes('peer left peer=gw-2'), 'gw-1 to log that gw-2 left');
  }, 60_000); // a dozen Node processes, each started from source: on a loaded machine, seconds each

  it('fails with exit 1 and one line (unreachable, wrong secret, unknown cache), and 2 on bad usage', async () => {
    const a = await serve('gw-1', []);
    const unreachable = await meshcache(['peers', '--node', 'ws://127.0.0.1:9']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.err.trim().split('\n')).toEqual([
      expect.stringMatching(/^meshcache: cannot reach a node at ws:\/\/127\.0\.0\.1:9/),
    ]);
    const refused = await meshcache(['stats', '--node', a.url], { MESHCACHE_SECRET: 'guess' });
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/refused the secret/);
    const unknown = await meshcache(['get', '--node', a.url, 'Nope', 'k']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^meshcache: no cache named "Nope"/);
    expect((await meshcache(['get', '--node', a.url])).code).toBe(2);
    const badConfig = join(dir, 'bad.json');
    writeFileSync(badConfig, JSON.stringify({ name: 'x', cluster: 'c', caches: { c: { maxElementsInMemory: -1 } } }));
    const refusedConfig = await meshcache(['serve', '--config', badConfig]);
    expect(refusedConfig.code).toBe(2);
    expect(refusedConfig.err).toMatch(/maxElementsInMemory/);
  }, 60_000);

  it('meshcache demo runs the whole story, ends by itself, and leaves no process behind', async () => {
    const run = await meshcache(['demo']);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    for (const step of [
      '1. Start the cluster',
      '2. Write through gw-1',
      '3. Remove on gw-2',
      '4. Kill gw-3',
      '5. Restart gw-3',
      '6. The peers of gw-1',
      'Done.',
    ]) {
      expect(run.out).toContain(step);
    }
    expect(run.out).toMatch(/on gw-2 after \d+ ms, on gw-3 after \d+ ms/);
    expect(run.out).toMatch(/holding (\d+) entries \(gw-1 holds \1\); "GET \/orders\/43" gone/);
    const pids = [...run.out.matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1]));
    expect(pids).toHaveLength(4); // three nodes, and gw-3 again
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  }, 60_000);

  it('meshcache demo stops every process it started on Ctrl-C', async () => {
    const child = spawn(process.execPath, [...NODE_ARGS, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(child);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('2. Write through')) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    expect(out).toContain('interrupted: stopping the cluster');
    const pids = [...out.matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1]));
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  }, 60_000);
});
