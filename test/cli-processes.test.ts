/**
 * The CLI end to end, as a user runs it: `meshcache serve` processes started from the example
 * gateway configs' shape on 127.0.0.1, driven by `meshcache` processes, checking their output
 * and exit codes; configs that `meshcache import-ehcache` converted from ehcache.xml, served. And
 * `meshcache demo`, which must end by itself and leave no process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until as untilTrue } from '@meshcache/core/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  adopt,
  type CliResult,
  listening,
  NODE_ARGS,
  meshcache as runMeshcache,
  stopServed,
} from './serve-processes.js';

const EXAMPLE = fileURLToPath(new URL('../examples/gateway-cluster/gw-1.json', import.meta.url));
const SECRET = 'e2e secret';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-cli-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(stopServed);

/** Runs `meshcache ARGS` as a process to its end; env is merged over the cluster secret. */
function meshcache(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runMeshcache(args, SECRET, env);
}

/** Starts `meshcache serve --config FILE`; resolves with the URL it prints once it listens. */
async function serveFile(file: string, name: string): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(process.execPath, [...NODE_ARGS, 'serve', '--config', file], {
    env: { ...process.env, MESHCACHE_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, ...(await listening(child, name)) };
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
  return serveFile(file, name);
}

/**
 * A port that accepts and never answers the WebSocket upgrade: a CLI dialling it waits up to its
 * --timeout. `held` is every connection it took; close() ends them and the server.
 */
async function silentPort(): Promise<{ url: string; held: Set<Socket>; close: () => Promise<unknown> }> {
  const held = new Set<Socket>();
  const server = createServer((socket) => {
    held.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    close: () => {
      for (const socket of held) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const until = (check: () => Promise<boolean>, what: string, timeoutMillis = 10_000) =>
  untilTrue(check, what, { timeoutMillis, intervalMillis: 50 });

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

  it('serve keeps serving when its output pipes close (a log reader gone), and still stops cleanly on SIGTERM', async () => {
    const a = await serve('gw-1', []);
    // Our ends of its stdout and stderr close: each later log line meets EPIPE.
    a.child.stdout?.destroy();
    a.child.stderr?.destroy();
    const b = await serve('gw-2', [a.url]); // gw-1 logs the new peer
    await until(
      async () => JSON.parse((await meshcache(['peers', '--node', b.url, '--json'])).out).length === 1,
      'gw-2 to see gw-1',
    );
    expect((await meshcache(['put', '--node', a.url, 'Response Cache', 'k', '"v"'])).code).toBe(0);
    expect(a.child.exitCode).toBeNull();
    a.child.kill('SIGTERM');
    expect(await new Promise<number | null>((resolve) => a.child.once('exit', (c) => resolve(c)))).toBe(0);
  }, 60_000);

  it('serve stopped while a connection is in its handshake does not warn that the peer was refused', async () => {
    const file = join(dir, 'handshake-at-stop.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'gw-1',
        cluster: 'gateways',
        // Long enough that only the stop can end the handshake below.
        peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 600_000 },
        peerDiscovery: { mode: 'manual', peers: [] },
        caches: {},
      }),
    );
    const a = await serveFile(file, 'gw-1');
    // A dialler that upgrades, then sends nothing: the node waits in the handshake for it.
    const dialler = connect(Number(new URL(a.url).port), '127.0.0.1');
    let answer = '';
    dialler.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    dialler.on('error', () => {});
    dialler.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    try {
      await until(async () => answer.startsWith('HTTP/1.1 101'), 'the upgrade');
      a.child.kill('SIGTERM');
      const [code] = await new Promise<[number | null]>((resolve) => a.child.once('exit', (c) => resolve([c])));
      expect(code).toBe(0);
      expect(a.log()).toMatch(/leaving the cluster[\s\S]*stopped/);
      // It warned "peer refused ... the other side closed the connection during the handshake (1006)".
      expect(a.log()).not.toMatch(/peer refused|warn/);
    } finally {
      dialler.destroy();
    }
  }, 60_000);

  it('prints a value of 100 KB whole through a pipe whose reader is slow (output is flushed before the process ends)', async () => {
    const a = await serve('gw-1', []);
    const value = 'x'.repeat(100_000);
    expect((await meshcache(['put', '--node', a.url, 'Response Cache', 'big', JSON.stringify(value)])).code).toBe(0);
    // The pipe holds 64 KiB; its reader starts a second late, so the rest waits in the process.
    const pipeline = adopt(
      spawn(
        '/bin/bash',
        [
          '-c',
          'set -o pipefail; "$0" "$@" | (sleep 1; wc -c)',
          process.execPath,
          ...NODE_ARGS,
          'get',
          '--node',
          a.url,
          'Response Cache',
          'big',
          '--json',
        ],
        { env: { ...process.env, MESHCACHE_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let out = '';
    pipeline.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => pipeline.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(Number(out.trim())).toBe(`${JSON.stringify({ found: true, value })}\n`.length);
  }, 60_000);

  it('peers --watch whose reader goes away (| head -n 1) ends quietly with 0, as a Unix tool ends on SIGPIPE', async () => {
    const a = await serve('gw-1', []);
    // The watch writes its table again every second: the write after head has gone meets EPIPE.
    const errors = join(dir, 'watch-errors.txt');
    const pipeline = adopt(
      spawn(
        '/bin/bash',
        [
          '-c',
          'set -o pipefail; "$0" "$@" 2>"$ERRORS" | head -n 1',
          process.execPath,
          ...NODE_ARGS,
          'peers',
          '--node',
          a.url,
          '--watch',
        ],
        { env: { ...process.env, MESHCACHE_SECRET: SECRET, ERRORS: errors }, stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let out = '';
    pipeline.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => pipeline.once('exit', (c) => resolve(c)));
    expect(out.split('\n').filter((line) => line !== '')).toHaveLength(1);
    expect(readFileSync(errors, 'utf8')).toBe('');
    expect(code).toBe(0); // pipefail: meshcache's own exit status, not head's
  }, 60_000);

  it('--timeout bounds the dial too: a node that does not answer the upgrade is waited for that long, not 5 s', async () => {
    const silent = await silentPort();
    try {
      const node = silent.url;
      const result = await meshcache(['peers', '--node', node, '--timeout', '6500']);
      expect(result.code).toBe(1);
      // It said "the WebSocket upgrade did not finish within 5000 ms" whatever --timeout was.
      expect(result.err).not.toMatch(/5000 ms/);
      expect(result.err.trim().split('\n')).toEqual([
        expect.stringMatching(/^meshcache: cannot reach a node at ws:.*(within 6500 ms|no answer from)/),
      ]);
    } finally {
      await silent.close();
    }
  }, 60_000);

  it('get, put and peers waiting for a node end at once on SIGINT or SIGTERM, not at --timeout', async () => {
    // Each command waits for the silent port up to --timeout.
    const silent = await silentPort();
    const { held, url: node } = silent;
    try {
      for (const [signal, args] of [
        ['SIGINT', ['get', '--node', node, '--timeout', '600000', 'Response Cache', 'k']],
        ['SIGTERM', ['peers', '--node', node, '--timeout', '600000']],
        ['SIGINT', ['put', '--node', node, '--timeout', '600000', 'Response Cache', 'k', 'v']],
      ] as const) {
        const dialled = held.size;
        const child = adopt(
          spawn(process.execPath, [...NODE_ARGS, ...args], {
            env: { ...process.env, MESHCACHE_SECRET: SECRET },
            stdio: 'ignore',
          }),
        );
        await until(async () => held.size > dialled, `${args[0]} to dial the silent port`);
        child.kill(signal);
        // Caught and heard by nothing, the signal left it waiting out its ten minutes.
        await until(async () => child.exitCode !== null || child.signalCode !== null, `${args[0]} to end on ${signal}`);
        // Ended by the signal, as a Unix tool is (a shell's 130 or 143).
        expect([child.exitCode, child.signalCode]).toEqual([null, signal]);
      }
    } finally {
      await silent.close();
    }
  }, 60_000);

  it('import-ehcache, then serve what it wrote: two gateways converted from ehcache.xml replicate the caches their rmiUrls name', async () => {
    // gw-1's Ehcache listened on a port its peers knew; here port 0, so gw-2's rmiUrls name the real one
    const ehcacheXml = (rmiUrls: string) => `<?xml version="1.0"?>
<ehcache name="gateways">
  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"
      properties="peerDiscovery=manual, rmiUrls=${rmiUrls}"/>
  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"
      properties="hostName=127.0.0.1, port=0, socketTimeoutMillis=2000"/>
  <cache name="Response Cache" maxElementsInMemory="1000" eternal="false" timeToLiveSeconds="300"
         memoryStoreEvictionPolicy="LRU">
    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"
        properties="replicateAsynchronously=true, asynchronousReplicationIntervalMillis=10"/>
    <bootstrapCacheLoaderFactory class="net.sf.ehcache.distribution.RMIBootstrapCacheLoaderFactory"/>
  </cache>
${['Tokens', 'Sessions']
  .map(
    (cache) => `  <cache name="${cache}" maxElementsInMemory="100" eternal="true">
    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"
        properties="replicateAsynchronously=true, asynchronousReplicationIntervalMillis=10"/>
  </cache>`,
  )
  .join('\n')}
</ehcache>
`;
    const convert = async (name: string, rmiUrls: string) => {
      const xml = join(dir, `${name}-ehcache.xml`);
      const json = join(dir, `${name}-converted.json`);
      writeFileSync(xml, ehcacheXml(rmiUrls));
      const result = await meshcache(['import-ehcache', xml, '--name', name, '--out', json]);
      expect(result.out).toBe('');
      expect(result.err).toMatch(/: 3 caches \(3 replicated\), written to .*; everything converted\n$/);
      expect(result.code).toBe(0);
      return json;
    };
    const a = await serveFile(await convert('gw-1', ''), 'gw-1');
    const port = new URL(a.url).port;
    // Two of gw-1's three caches, as Ehcache lists them: one URL a cache, two caches to one peer.
    const b = await serveFile(
      await convert('gw-2', `//127.0.0.1:${port}/Response Cache|//127.0.0.1:${port}/Tokens`),
      'gw-2',
    );
    expect(JSON.parse(readFileSync(join(dir, 'gw-2-converted.json'), 'utf8')).peerDiscovery).toEqual({
      mode: 'manual',
      peers: [`ws://127.0.0.1:${port}/Response%20Cache`, `ws://127.0.0.1:${port}/Tokens`],
    });
    // Both named caches travel on the one link (the second used to be dropped as a duplicate link), the third stays local.
    for (const cache of ['Tokens', 'Sessions'])
      expect((await meshcache(['put', '--node', b.url, cache, 'k', `"${cache}"`])).code).toBe(0);
    await until(
      async () =>
        (await meshcache(['get', '--node', a.url, 'Tokens', 'k', '--json'])).out ===
        '{"found":true,"value":"Tokens"}\n',
      'the put to Tokens on gw-2 to reach gw-1',
    );
    expect((await meshcache(['put', '--node', b.url, 'Response Cache', 'GET /orders/42', '{"status":200}'])).code).toBe(
      0,
    );
    await until(
      async () =>
        (await meshcache(['get', '--node', a.url, 'Response Cache', 'GET /orders/42', '--json'])).out ===
        '{"found":true,"value":{"status":200}}\n',
      'the put on gw-2 to reach gw-1',
    );
    expect((await meshcache(['remove', '--node', a.url, 'Response Cache', 'GET /orders/42'])).code).toBe(0);
    await until(
      async () =>
        (await meshcache(['get', '--node', b.url, 'Response Cache', 'GET /orders/42', '--json'])).out ===
        '{"found":false}\n',
      'the remove on gw-1 to reach gw-2',
    );
    expect((await meshcache(['get', '--node', a.url, 'Sessions', 'k', '--json'])).out).toBe('{"found":false}\n');
  }, 60_000);

  it('meshcache demo runs the whole story, ends by itself, and leaves no process behind', async () => {
    const run = await meshcache(['demo']);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    // The live page's address comes first, right under the title.
    expect(run.out.split('\n').filter((line) => line.trim() !== '')[1]).toMatch(
      /^ {3}Watch it live: http:\/\/127\.0\.0\.1:\d+\/ {2}\(the cluster as gw-1 sees it\)$/,
    );
    expect(run.out).not.toContain('7. The cluster keeps running'); // not a terminal: it ends by itself
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

  it('meshcache demo --keep-running keeps the cluster and its live page up until Ctrl-C, then ends with 0', async () => {
    const child = spawn(process.execPath, [...NODE_ARGS, 'demo', '--keep-running'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    adopt(child);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ctrl-C stops the three processes')) resolve();
      });
    });
    const page = /Watch it live: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1] as string;
    expect((await fetch(page)).headers.get('content-type')).toBe('text/html; charset=utf-8');
    await until(async () => {
      const status = (await (await fetch(`${page}status`)).json()) as { peers: Array<{ state: string }> };
      return status.peers.filter((peer) => peer.state === 'connected').length === 2;
    }, 'the page to see both peers of gw-1');
    const before = (await (await fetch(`${page}status`)).json()) as { caches: Array<{ puts: number }> };
    await until(async () => {
      const now = (await (await fetch(`${page}status`)).json()) as { caches: Array<{ puts: number }> };
      return (now.caches[0]?.puts ?? 0) > (before.caches[0]?.puts ?? 0);
    }, 'the light traffic to show on the page');
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    const pids = [...out.matchAll(/\(pid (\d+)\)/g)].map((match) => Number(match[1]));
    expect(pids).toHaveLength(4);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  }, 60_000);

  it('meshcache demo stops every process it started on Ctrl-C', async () => {
    const child = spawn(process.execPath, [...NODE_ARGS, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    adopt(child);
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
