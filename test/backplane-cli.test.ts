/**
 * The CLI on a node of a Redis backplane, as a user runs it: two `meshcache serve` processes on
 * 127.0.0.1 replicating through a real redis-server (free port, temporary directory, stopped by
 * pid), read with `meshcache peers` and `meshcache stats`; and a config with both a backplane and
 * peerDiscovery refused by `serve` with exit 2.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisServer } from '../packages/replication/test/redis-server.js';
import { until } from './node-processes.js';

const BIN = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));
const NODE_ARGS = ['--conditions=@meshcache/source', '--import', 'tsx', BIN];
const SECRET = 'e2e secret';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-backplane-cli-'));
let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.close();
  rmSync(dir, { recursive: true, force: true });
});
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
function meshcache(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
      env: { ...process.env, MESHCACHE_SECRET: SECRET },
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

/** Starts `meshcache serve --config FILE`; resolves with the URL it prints once it listens. */
async function serveFile(file: string, name: string): Promise<{ child: ChildProcess; url: string }> {
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
  return { child, url };
}

it('serve on a Redis backplane: peers shows the backplane above the peers, and --json a backplane object', async () => {
  const configFor = (name: string, extra: Record<string, unknown> = {}) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        name,
        cluster: 'cli-backplane',
        backplane: { type: 'redis', url: redis.url, heartbeatMillis: 200 },
        caches: { 'Response Cache': { replication: { asynchronousReplicationIntervalMillis: 10 } } },
        ...extra,
      }),
    );
    return file;
  };
  const a = await serveFile(configFor('bp-1'), 'bp-1');
  await serveFile(configFor('bp-2'), 'bp-2');
  expect((await meshcache(['put', '--node', a.url, 'Response Cache', 'k', '"v"'])).code).toBe(0);
  await until(async () => {
    const listed = JSON.parse((await meshcache(['peers', '--node', a.url, '--json'])).out) as Array<{ id: string }>;
    return listed.length === 2;
  }, 'bp-2 seen by bp-1');
  const json = JSON.parse((await meshcache(['peers', '--node', a.url, '--json'])).out);
  expect(json[0]).toMatchObject({
    id: 'backplane',
    foundBy: 'backplane',
    state: 'connected',
    backplane: { type: 'redis', state: 'connected', stream: 'meshcache:{cli-backplane}:changes' },
  });
  expect(json[1]).toMatchObject({ id: 'bp-2', state: 'connected', foundBy: 'backplane' });
  const text = (await meshcache(['peers', '--node', a.url])).out.split('\n');
  expect(text[0]).toMatch(/^BACKPLANE redis:\/\/127\.0\.0\.1:\d+\/? connected .*last id \d+-\d+ .*lag \d+ entries/);
  expect(text[1]).toMatch(/^ID\s+URL/);
  expect(text[2]).toMatch(/^bp-2\s+ws:/);

  const stats = (await meshcache(['stats', '--node', a.url])).out.split('\n');
  expect(stats[0]).toMatch(/^BACKPLANE redis:/);
  expect(stats[1]).toMatch(/^CACHE\s+HITS/);

  const both = configFor('bp-3', { peerDiscovery: { mode: 'manual', peers: [] } });
  const refused = await meshcache(['serve', '--config', both]);
  expect(refused.code).toBe(2);
  expect(refused.err).toMatch(/backplane.*peerDiscovery/);
}, 60_000);
