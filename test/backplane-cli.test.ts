/**
 * The CLI on a node of a Redis backplane, as a user runs it: two `meshcache serve` processes on
 * 127.0.0.1 replicating through a real redis-server (free port, temporary directory, stopped by
 * pid), read with `meshcache peers` and `meshcache stats`; and a config with both a backplane and
 * peerDiscovery refused by `serve` with exit 2.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisServer } from '../packages/replication/test/redis-server.js';
import { until } from './node-processes.js';
import {
  listening,
  meshcache as meshcacheWith,
  NODE_ARGS,
  removeTemp,
  stopServed,
  tempDir,
} from './serve-processes.js';

const SECRET = 'e2e secret';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.close();
  removeTemp();
});
afterEach(stopServed);

const meshcache = (args: string[]) => meshcacheWith(args, SECRET);

/** Starts `meshcache serve --config FILE` (stopped by pid after each test); resolves once it listens. */
async function serveFile(file: string, name: string) {
  const child = spawn(process.execPath, [...NODE_ARGS, 'serve', '--config', file], {
    env: { ...process.env, MESHCACHE_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, ...(await listening(child, name)) };
}

it('serve on a Redis backplane: peers shows the backplane above the peers, and --json a backplane object', async () => {
  const configFor = (name: string, extra: Record<string, unknown> = {}) => {
    const file = join(tempDir(), `${name}.json`);
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
