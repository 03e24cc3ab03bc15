/**
 * A node on a Redis backplane as its operator sees it: the operator endpoint's /status and
 * `meshcache peers` (in process, through run()); the live page is opened in a real Chromium by
 * test/operator-page.test.ts. Nodes are ClusterNodes in this process on 127.0.0.1; Redis is a real
 * redis-server (a free port, a temporary directory, stopped by pid).
 *
 * - The backplane is shown apart from the peers, with its state: /status and the page counted it
 *   as a peer (two members and the backplane: "3 peers").
 * - Why the backplane is down (a wrong password, a refused connection) and what the last gap was
 *   (Redis lost its data) are shown where `peers` and /status print the state: only the log said.
 */
import { request } from 'node:http';
import { until } from '@meshcache/core/testing';
import { type ClusterConfig, ClusterNode } from '@meshcache/replication';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, RedisServer } from '../../replication/test/redis-server.js';
import { type OperatorEndpoint, startOperatorEndpoint } from '../src/operator/operator-endpoint.js';
import type { NodeStatus } from '../src/operator/status.js';
import { run } from '../src/program.js';
import { recordingIo } from './recording-io.js';

const SECRET = 'a cluster secret of 32 bytes at least';
const CACHE = 'Response Cache';

const nodes: ClusterNode[] = [];
const endpoints: OperatorEndpoint[] = [];
const servers: RedisServer[] = [];
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close();
  for (const node of nodes.splice(0)) await node.stop();
});
afterAll(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function redisServer(options: Parameters<typeof RedisServer.start>[0] = {}): Promise<RedisServer> {
  const server = await RedisServer.start(options);
  servers.push(server);
  return server;
}

async function node(name: string, url: string, cluster = 'gateways'): Promise<ClusterNode> {
  const config: ClusterConfig = {
    name,
    cluster,
    secret: SECRET,
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
    backplane: { type: 'redis', url, heartbeatMillis: 200, replayWindowSeconds: 60 },
    caches: { [CACHE]: { replication: { asynchronousReplicationIntervalMillis: 10 } } },
  };
  const started = await ClusterNode.start(config);
  nodes.push(started);
  return started;
}

/** `node`'s /status, read from an operator endpoint of its own. */
async function statusOf(node: ClusterNode): Promise<{ status: () => Promise<NodeStatus> }> {
  const endpoint = await startOperatorEndpoint(node, { hostname: '127.0.0.1', port: 0, intervalMillis: 50 });
  endpoints.push(endpoint);
  return { status: async () => JSON.parse(await get(`${endpoint.url}/status`)) as NodeStatus };
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function peers(node: ClusterNode, json = false) {
  const io = recordingIo({ MESHCACHE_SECRET: SECRET });
  const code = await run(['peers', '--node', node.url, ...(json ? ['--json'] : [])], io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('the backplane on a node of a Redis backplane', () => {
  it('is shown apart from the peers, with its state, in /status, on the live page and by `peers`', async () => {
    const redis = await redisServer();
    const a = await node('gw-1', redis.url);
    await node('gw-2', redis.url);
    await node('gw-3', redis.url);
    const { status } = await statusOf(a);
    await until(
      async () => (await status()).peers.filter((p) => p.state === 'connected').length === 2,
      'gw-2 and gw-3 seen by gw-1',
      20_000,
    );
    const seen = await status();
    expect(seen.peers.map((p) => p.id).sort()).toEqual(['gw-2', 'gw-3']);
    expect(seen.backplane).toMatchObject({ type: 'redis', state: 'connected', reason: null, members: 2 });

    const text = (await peers(a)).out.split('\n');
    expect(text[0]).toMatch(/^BACKPLANE redis:\/\/127\.0\.0\.1:\d+\/? connected {2}stream/);
    expect(
      text
        .slice(2, 4)
        .map((line) => line.split(/\s+/)[0])
        .sort(),
    ).toEqual(['gw-2', 'gw-3']);
    expect(text[4]).toBe('');
  }, 60_000);

  it('on a mesh node, is null in /status and hidden on the page', async () => {
    const mesh = await ClusterNode.start({
      name: 'mesh-1',
      cluster: 'gateways',
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0 },
      peerDiscovery: { mode: 'manual', peers: [] },
      caches: { [CACHE]: { replication: {} } },
    });
    nodes.push(mesh);
    const { status } = await statusOf(mesh);
    const seen = await status();
    expect(seen.backplane).toBeNull();
  });
});

describe('why the backplane is down, where `peers` and /status print its state', () => {
  it('a wrong password: what Redis answered (WRONGPASS), naming backplane.url', async () => {
    const redis = await redisServer({ password: 'the right one' });
    const c = await node('gw-wrong', `redis://:hunter2@127.0.0.1:${redis.port}/0`);
    const { status } = await statusOf(c);
    await until(async () => (await status()).backplane?.state === 'down', 'the backplane shown down');
    const seen = await status();
    expect(seen.backplane?.reason).toMatch(/^Redis refused the user or password of backplane\.url: WRONGPASS /);
    const listed = await peers(c);
    expect(listed.code).toBe(0);
    expect(listed.out.split('\n')[0]).toMatch(
      /^BACKPLANE redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 down \(Redis refused the user or password of backplane\.url: WRONGPASS [^)]*\) {2}stream/,
    );
    expect(listed.out).not.toContain('hunter2');
    const [own] = JSON.parse((await peers(c, true)).out) as Array<{ backplane?: { reason: string } }>;
    expect(own?.backplane?.reason).toMatch(/WRONGPASS/);
  }, 30_000);

  it('no Redis on the port: the refused connection', async () => {
    const port = await freePort();
    const c = await node('gw-nothing', `redis://127.0.0.1:${port}`);
    const { status } = await statusOf(c);
    await until(async () => (await status()).backplane?.state === 'down', 'the backplane shown down');
    expect((await status()).backplane?.reason).toBe(`Redis unreachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect((await peers(c)).out.split('\n')[0]).toContain(
      ` down (Redis unreachable: connect ECONNREFUSED 127.0.0.1:${port})  stream`,
    );
  }, 30_000);

  it('Redis restarted without its data: down while it is away, then the gap it left (Redis lost its data)', async () => {
    const redis = await redisServer();
    const a = await node('gw-1', redis.url, 'restarted');
    const { status } = await statusOf(a);
    await until(async () => (await status()).backplane?.state === 'connected', 'the backplane connected', 20_000);
    expect((await status()).backplane).toMatchObject({ reason: null, lastGap: null });
    // Something in the stream, read back, for the restart to lose.
    a.manager.getCache(CACHE)?.put('k', 'v');
    await until(async () => ((await status()).backplane?.entriesWritten ?? 0) > 0, 'the put written to the stream');
    await redis.stop();
    await until(async () => (await status()).backplane?.state === 'down', 'the backplane shown down');
    expect((await status()).backplane?.reason).toMatch(
      /^(connection to Redis lost|Redis unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+)$/,
    );
    expect((await peers(a)).out.split('\n')[0]).toMatch(
      / down \((connection to Redis lost|Redis unreachable: .*)\) {2}stream/,
    );
    await redis.start(); // without appendonly: empty
    await until(
      async () => {
        const backplane = (await status()).backplane;
        return backplane?.state === 'connected' && backplane.lastGap !== null;
      },
      'connected again, with the gap found',
      20_000,
    );
    const back = (await status()).backplane;
    expect(back?.reason).toBeNull();
    expect(back?.lastGap?.why).toBe('the stream is a new one (Redis lost its data)');
    expect((await peers(a)).out.split('\n')[0]).toMatch(
      /^BACKPLANE \S+ connected {2}.* gaps 1 \(last \d+\.\d s ago: the stream is a new one \(Redis lost its data\)\) {2}pending/,
    );
  }, 60_000);
});
