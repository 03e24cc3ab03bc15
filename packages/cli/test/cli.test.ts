/**
 * The CLI in-process: run(argv, io) against real nodes on 127.0.0.1, checking output and exit
 * codes (0 success, 1 failed operation with one line on stderr, 2 bad usage).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@meshcache/core/testing';
import { type BackplaneInfo, type ClusterConfig, ClusterNode } from '@meshcache/replication';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../replication/test/redis-server.js';
import { makeTestPki } from '../../replication/test/tls-certs.js';
import { backplaneLine, clearLine, removalLine } from '../src/commands/admin.js';
import { run } from '../src/index.js';
import { recordingIo } from './recording-io.js';

const nodes: ClusterNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop();
});
const dir = mkdtempSync(join(tmpdir(), 'meshcache-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'cli secret';
/** A node on 127.0.0.1 with these caches (a gateway's two by default), stopped after the tests. */
async function start(
  name: string,
  peers: string[] = [],
  caches: ClusterConfig['caches'] = {
    'Response Cache': { maxElementsInMemory: 100, replication: { asynchronousReplicationIntervalMillis: 10 } },
    tokens: { timeToLiveSeconds: 3000 },
  },
) {
  const node = await ClusterNode.start({
    name,
    cluster: 'gateways',
    secret: SECRET,
    peerListener: { hostname: '127.0.0.1', port: 0 },
    peerDiscovery: { mode: 'manual', peers },
    caches,
  });
  nodes.push(node);
  return node;
}

async function cli(args: string[], env: NodeJS.ProcessEnv = { MESHCACHE_SECRET: SECRET }, stdin?: string | Buffer) {
  const io = recordingIo(env, stdin);
  const code = await run(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('meshcache --version', () => {
  it('prints the version of the package.json', async () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(await cli(['--version'])).toEqual({ code: 0, out: `${manifest.version}\n`, err: '' });
  });
});

describe('meshcache admin commands, in process', () => {
  it('put, get (--json), remove and clear on a live node; the writes replicate', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    const node = ['--node', a.url];
    expect(await cli(['put', ...node, 'Response Cache', 'GET /a', '{"status":200}', '--ttl', '60'])).toEqual({
      code: 0,
      out: 'put "GET /a" into "Response Cache"\n',
      err: '',
    });
    expect((await cli(['get', ...node, 'Response Cache', 'GET /a', '--json'])).out).toBe(
      '{"found":true,"value":{"status":200}}\n',
    );
    expect((await cli(['get', ...node, 'Response Cache', 'GET /a'])).out).toBe('{\n  "status": 200\n}\n');
    expect((await cli(['get', ...node, 'Response Cache', 'nothing', '--json'])).out).toBe('{"found":false}\n');
    await cli(['put', ...node, 'Response Cache', 'plain', 'just text']);
    expect(a.manager.getCache('Response Cache')?.get('plain')).toBe('just text');
    // Numbers JSON.parse cannot hold are refused, not stored changed (Infinity, lost digits).
    for (const inexact of ['1e400', '12345678901234567890', '{"n":-1e999}', '[1e-400]']) {
      const refused = await cli(['put', ...node, 'Response Cache', 'n', inexact]);
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/cannot keep as written: quote it to store it as a string/);
    }
    expect(a.manager.getCache('Response Cache')?.get('n')).toBeUndefined();
    // Values msgpack would not carry as written are refused before they are sent: a lone
    // surrogate went as U+FFFD, a key __proto__ came back as __proto_, nesting past a frame's
    // depth closed the session (and at 3,000 levels, the encoder's stack).
    for (const [value, said] of [
      ['"\\ud800"', /value is a string with a lone surrogate/],
      ['{"a":{"__proto__":{"x":1}}}', /value\.a\.__proto__ is a key that msgpack decoders do not keep/],
      [`${'['.repeat(3000)}${']'.repeat(3000)}`, /nests containers more than \d+ levels deep/],
    ] as const) {
      const refused = await cli(['put', ...node, 'Response Cache', 'n', value]);
      expect([refused.code, refused.out]).toEqual([2, '']);
      expect(refused.err).toMatch(said);
      expect(refused.err.trim().split('\n')).toHaveLength(1);
    }
    expect(a.manager.getCache('Response Cache')?.get('n')).toBeUndefined();
    expect((await cli(['put', ...node, 'Response Cache', 'n', '"12345678901234567890"'])).code).toBe(0);
    expect(a.manager.getCache('Response Cache')?.get('n')).toBe('12345678901234567890');
    await a.settle();
    expect(b.manager.getCache('Response Cache')?.get('GET /a')).toEqual({ status: 200 });

    expect((await cli(['remove', ...node, 'Response Cache', 'GET /a'])).out).toBe('removed "GET /a"\n');
    expect((await cli(['clear', ...node, 'Response Cache'])).code).toBe(0);
    expect(a.manager.getCache('Response Cache')?.size).toBe(0);
  });

  it('put --value-file: the value from a file or standard input, read as VALUE is, one final newline dropped (found by the review)', async () => {
    const a = await start('gw-1');
    const node = ['--node', a.url];
    const tokens = a.manager.getCache('tokens');
    const big = { body: 'x'.repeat(300_000) }; // past what one argument of a command line may hold
    const file = join(dir, 'value.json');
    writeFileSync(file, `${JSON.stringify(big)}\n`);
    expect(await cli(['put', ...node, 'tokens', 'big', '--value-file', file])).toEqual({
      code: 0,
      out: 'put "big" into "tokens"\n',
      err: '',
    });
    expect(tokens?.get('big')).toEqual(big);
    expect(
      (await cli(['put', ...node, 'tokens', 'piped', '--value-file', '-'], undefined, 'eyJhbGciOi\r\n')).code,
    ).toBe(0);
    expect(tokens?.get('piped')).toBe('eyJhbGciOi');
    expect((await cli(['put', ...node, 'tokens', 'kept', '--value-file', '-'], undefined, 'two lines\n\n')).code).toBe(
      0,
    );
    expect(tokens?.get('kept')).toBe('two lines\n');
    for (const [args, stdin, said] of [
      [['--value-file', file, 'also given'], undefined, /give the value or --value-file, not both/],
      [[], undefined, /give the value, or --value-file/],
      [['--value-file', join(dir, 'absent.json')], undefined, /cannot read --value-file .*absent\.json: ENOENT/],
      [['--value-file', '/dev/zero'], undefined, /cannot read --value-file \/dev\/zero: more than 16777216 bytes/],
      [['--value-file', '-'], Buffer.from([0x22, 0xe9, 0x22]), /--value-file - \(standard input\) is not UTF-8 text/],
      [
        ['--value-file', '-'],
        Buffer.alloc(16 * 1024 * 1024 + 1, 0x61),
        /cannot read --value-file - \(standard input\): more than 16777216 bytes/,
      ],
    ] as const) {
      const refused = await cli(['put', ...node, 'tokens', 'no', ...args], undefined, stdin);
      expect([refused.code, refused.out]).toEqual([2, '']);
      expect(refused.err).toMatch(said);
    }
    expect(tokens?.get('no')).toBeUndefined();
    // Said before connecting: bad usage is bad usage even where no node answers.
    const nowhere = await cli(['put', '--node', 'ws://127.0.0.1:9', 'tokens', 'k']);
    expect([nowhere.code, nowhere.err]).toEqual([2, 'meshcache: give the value, or --value-file\n']);
  });

  it('peers and stats, for people and as JSON', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    const peers = await cli(['peers', '--node', b.url, '--json']);
    expect(peers.code).toBe(0);
    expect(JSON.parse(peers.out)).toEqual([
      expect.objectContaining({
        id: 'gw-1',
        url: a.url,
        state: 'connected',
        caches: ['Response Cache'],
        foundBy: 'manual',
        unknownMessages: 0,
      }),
    ]);
    expect(typeof JSON.parse(peers.out)[0].lastSeen).toBe('number');
    const table = (await cli(['peers', '--node', b.url])).out;
    expect(table).toMatch(/^ID\s+URL\s+FOUND BY\s+STATE\s+CACHES\s+LAST SEEN\s+QUEUE\s+LAG\n/);
    expect(table).toMatch(/gw-1\s+ws:\/\/127\.0\.0\.1:\d+\s+manual\s+connected\s+Response Cache/);

    a.manager.getCache('Response Cache')?.put('k', 1);
    a.manager.getCache('Response Cache')?.get('k');
    a.manager.getCache('Response Cache')?.get('missing');
    const stats = await cli(['stats', '--node', a.url, '--cache', 'Response Cache', '--json']);
    expect(JSON.parse(stats.out)).toEqual([
      expect.objectContaining({
        name: 'Response Cache',
        statistics: expect.objectContaining({ hits: 1, misses: 1, hitRatio: 0.5 }),
      }),
    ]);
    const all = (await cli(['stats', '--node', a.url])).out;
    expect(all).toMatch(/Response Cache\s+1\s+1\s+50\.0%/);
    expect(all).toMatch(/tokens\s+0\s+0\s+0\.0%\s+0\s+0\s+0\s+0\s+\(local\)/);
  });

  it('--watch refreshes until interrupted', async () => {
    const a = await start('gw-1');
    const io = recordingIo({ MESHCACHE_SECRET: SECRET });
    const running = run(['peers', '--node', a.url, '--watch', '--json'], io);
    await until(() => io.stdout().split('\n').length >= 3, 'two refreshes', { intervalMillis: 20 });
    io.interrupt();
    expect(await running).toBe(0);
    expect(io.stdout().trim().split('\n').length).toBeGreaterThanOrEqual(2);
  });

  it('get shows a value JSON holds as it is, and refuses one it does not, naming where, with --json and without (found by the outside review)', async () => {
    const a = await start('gw-1');
    const node = ['--node', a.url];
    // 'tokens' does not replicate and has no disk: it takes any value the application puts.
    const tokens = a.manager.getCache('tokens');
    class Session {
      user = 'ann';
    }
    const refused: [unknown, RegExp][] = [
      [new Map([['a', 1]]), /: value is a Map, which JSON has no way to write$/], // printed {}
      [{ tags: new Set(['x']) }, /: value\.tags is a Set, which JSON/], // {"tags":{}}
      [new Uint8Array([1, 2]), /: value is binary \(a Uint8Array\), which JSON/], // {"0":1,"1":2}
      [{ body: Buffer.from('hi') }, /: value\.body is binary \(a Buffer\), which JSON/], // {"type":"Buffer",...}
      [Number.NaN, /: value is NaN, which JSON/], // null
      [[1, Number.POSITIVE_INFINITY], /: value\[1\] is Infinity, which JSON/], // [1,null]
      [[undefined], /: value\[0\] is undefined, which JSON/], // [null]
      // Refused by the node: a function went as nothing ({"found":true}, no value), a BigInt
      // closed the session ("the node closed the connection (4002 bad message)"), as did an
      // invalid Date; a class instance went as a plain object.
      [() => 1, /: value is a function$/],
      [{ n: 10n }, /: value\.n is a bigint/],
      [{ at: new Date(Number.NaN) }, /: value\.at is an invalid Date/],
      [new Session(), /: value is an instance of Session/],
    ];
    for (const [value, said] of refused) {
      tokens?.put('k', value);
      for (const json of [['--json'], []]) {
        const result = await cli(['get', ...node, 'tokens', 'k', ...json]);
        expect({ ...result, err: result.err.replace(/\n$/, '') }).toEqual({
          code: 1,
          out: '',
          err: expect.stringMatching(said),
        });
        expect(result.err).toMatch(/^meshcache: (cannot show the value|the value) of key "k" in "tokens" /);
        expect(result.err.trim().split('\n')).toHaveLength(1);
      }
    }
    // What JSON holds comes through as it is: a Date as its ISO text, an undefined field left out.
    tokens?.put('k', { at: new Date(0), n: -1.5, note: undefined, list: [null, 'x', { y: true }] });
    expect(await cli(['get', ...node, 'tokens', 'k', '--json'])).toEqual({
      code: 0,
      out: '{"found":true,"value":{"at":"1970-01-01T00:00:00.000Z","n":-1.5,"list":[null,"x",{"y":true}]}}\n',
      err: '',
    });
  });

  it('remove and clear say what reaches the other nodes, by how the cache replicates removals (they promised every node whatever the cache; found by the outside review)', async () => {
    const a = await start('gw-1', [], {
      replicated: { replication: { asynchronousReplicationIntervalMillis: 10 } },
      'by repair': { replication: { replicateRemovals: false } },
      local: {},
    });
    const node = ['--node', a.url];
    const said = async (cache: string) => {
      a.manager.getCache(cache)?.put('k', 1);
      const results = [
        await cli(['remove', ...node, cache, 'k']),
        await cli(['remove', ...node, cache, 'k']), // held no more
        await cli(['clear', ...node, cache]),
      ];
      for (const { code, err } of results) expect({ code, err }).toEqual({ code: 0, err: '' });
      return results.map(({ out }) => out);
    };
    expect(await said('replicated')).toEqual([
      'removed "k"\n',
      '"k" was not held here (the removal still reaches every node)\n',
      'cleared "replicated"\n',
    ]);
    expect(await said('by repair')).toEqual([
      'removed "k" here; this cache does not send removals (replicateRemovals: false): peers drop the key at their next repair\n',
      '"k" was not held here; this cache does not send removals (replicateRemovals: false): peers drop the key at their next repair\n',
      'cleared "by repair" here; this cache does not send removals (replicateRemovals: false): peers empty it at their next repair\n',
    ]);
    expect(await said('local')).toEqual([
      'removed "k" on this node only (the cache does not replicate)\n',
      '"k" was not held here (the cache does not replicate)\n',
      'cleared "local" on this node only (the cache does not replicate)\n',
    ]);
    // A node from before the answer's `removals` says nothing of the other nodes; nor do the lines.
    expect(removalLine(true, 'k', undefined)).toBe('removed "k"');
    expect(removalLine(false, 'k', undefined)).toBe(
      '"k" was not held here (whether peers drop it too depends on the cache\'s replication; this node does not say)',
    );
    expect(clearLine('c', undefined)).toBe('cleared "c"');
    // --help no longer promises every node.
    for (const command of ['remove', 'clear']) {
      const help = await cli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.out).not.toMatch(/on every node/);
      expect(help.out).toMatch(/with replicateRemovals: false, peers drop it at their\s+next repair/);
      expect(help.out).toMatch(/a cache that does not replicate changes on this node only/);
    }
  });

  it('fails with exit 1 and one line on stderr: unreachable node, refused secret, unknown cache', async () => {
    const a = await start('gw-1');
    const unreachable = await cli(['peers', '--node', 'ws://127.0.0.1:9', '--timeout', '1000']);
    expect(unreachable).toEqual({
      code: 1,
      out: '',
      err: expect.stringMatching(/^meshcache: cannot reach a node at ws:\/\/127\.0\.0\.1:9: .*\n$/),
    });
    const refused = await cli(['peers', '--node', a.url, '--secret', 'wrong']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^meshcache: ws:\/\/127\.0\.0\.1:\d+: the node refused the secret\n$/);
    const unknown = await cli(['get', '--node', a.url, 'Nope', 'k']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toBe('meshcache: no cache named "Nope" on this node (it has: "Response Cache", "tokens")\n');
    for (const result of [unreachable, refused, unknown]) expect(result.err.trim().split('\n')).toHaveLength(1);
  });

  it('put --timeout waits for a node not listening yet: the refused dial is made again until the node listens', async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    const io = recordingIo({ MESHCACHE_SECRET: SECRET });
    const putting = run(['put', '--node', url, '--timeout', '30000', 'Response Cache', 'early', '"bird"'], io);
    // Not an assertion on time: the node starts a while after the put began to dial, as a
    // `serve` started beside it would.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const node = await ClusterNode.start({
      name: 'gw-late',
      cluster: 'gateways',
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port },
      peerDiscovery: { mode: 'manual', peers: [] },
      caches: { 'Response Cache': {} },
    });
    nodes.push(node);
    expect(await putting).toBe(0);
    expect(io.stdout()).toBe('put "early" into "Response Cache"\n');
    expect(node.manager.getCache('Response Cache')?.get('early')).toBe('bird');
  });

  it('without --timeout, says a refused connection at once (one dial); with it, says how often it dialled', async () => {
    const url = `ws://127.0.0.1:${await freePort()}`;
    const once = await cli(['put', '--node', url, 'Response Cache', 'k', 'v']);
    expect(once.code).toBe(1);
    expect(once.err).toMatch(/^meshcache: cannot reach a node at ws:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED[^\n]*\n$/);
    expect(once.err).not.toMatch(/dialled/);
    const waited = await cli(['put', '--node', url, '--timeout', '500', 'Response Cache', 'k', 'v']);
    expect(waited.code).toBe(1);
    expect(waited.err).toMatch(
      /^meshcache: cannot reach a node at ws:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.* \(dialled \d+ times over \d+ ms, --timeout 500\)\n$/,
    );
  });

  it('names the caches of an unknown-cache error as JSON, so that a name with a quote or a comma reads back', async () => {
    const a = await start('gw-1', [], { 'we"ird\\name': {}, 'a", "b': {} });
    const unknown = await cli(['get', '--node', a.url, 'we"ird', 'k']);
    expect(unknown.code).toBe(1);
    // It said: no cache named "we"ird" on this node (it has: "we"ird\name", "a", "b")
    expect(unknown.err).toBe(
      'meshcache: no cache named "we\\"ird" on this node (it has: "we\\"ird\\\\name", "a\\", \\"b")\n',
    );
  });

  it('exits 2 for a blank cache name, said before anything is dialled (the node answered it, exit 1)', async () => {
    const nowhere = ['--node', 'ws://127.0.0.1:9', '--timeout', '1000'];
    for (const args of [
      ['stats', ...nowhere, '--cache', ''],
      ['get', ...nowhere, '', 'k'],
      ['put', ...nowhere, ' ', 'k', 'v'],
      ['remove', ...nowhere, '', 'k'],
      ['clear', ...nowhere, '\t'],
    ]) {
      const result = await cli(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.err).toMatch(/a cache name is never blank/);
    }
  });

  it('exits 2 on bad usage, and 0 for --help, which shows examples', async () => {
    expect((await cli(['nope'])).code).toBe(2);
    expect((await cli(['get', '--node', 'ws://x:1', 'only-cache'])).code).toBe(2);
    expect((await cli(['put', '--node', 'ws://x:1', 'c', 'k', 'v', '--ttl', 'soon'])).err).toMatch(
      /--ttl must be a whole number/,
    );
    // Number() would take these: '' and ' ' as 0 (no TTL), '0x10' as 16, 3e9 ms as a timer fired after 1 ms.
    for (const [option, value] of [
      ['--ttl', ''],
      ['--ttl', ' '],
      ['--ttl', '0x10'],
      ['--ttl', '1e3'],
      ['--ttl', '99999999999999999999'],
      ['--timeout', '3000000000'],
    ]) {
      const result = await cli(['put', '--node', 'ws://x:1', 'c', 'k', 'v', option as string, value as string]);
      expect(result.code).toBe(2);
      expect(result.err).toContain(`${option} must be a whole number from`);
    }
    for (const node of ['notaurl', '', 'http://127.0.0.1:1', 'ws://127.0.0.1', 'ws://127.0.0.1:0', 'ws://[::1']) {
      const result = await cli(['get', '--node', node, 'c', 'k']);
      expect(result.code).toBe(2);
      expect(result.err).toContain('--node must be ws://host:port or wss://host:port');
    }
    // A port that is the scheme's default is still a port the user named (URL drops it from .port).
    for (const node of ['ws://127.0.0.1:80', 'wss://127.0.0.1:443']) {
      const result = await cli(['get', '--node', node, '--timeout', '200', 'c', 'k']);
      expect(result.err).not.toContain('--node must be');
      expect(result.code).toBe(1); // nothing listens there: a failed operation, not bad usage
    }
    const unreadable = await cli([
      'get',
      '--node',
      'ws://127.0.0.1:1',
      '--secret-file',
      join(tmpdir(), 'no-such-secret'),
      'c',
      'k',
    ]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.err).toMatch(/^meshcache: cannot read --secret-file /);
    const emptySecret = join(dir, 'empty-secret');
    writeFileSync(emptySecret, '\n');
    const empty = await cli(['get', '--node', 'ws://127.0.0.1:1', '--secret-file', emptySecret, 'c', 'k']);
    expect(empty).toEqual({
      code: 2,
      out: '',
      err: `meshcache: --secret-file ${emptySecret} is empty: it must hold the secret\n`,
    });
    // Bytes that are not UTF-8 each read as U+FFFD, so two different files were one secret.
    const binarySecret = join(dir, 'binary-secret');
    writeFileSync(binarySecret, Buffer.alloc(40, 0x80));
    expect(await cli(['get', '--node', 'ws://127.0.0.1:1', '--secret-file', binarySecret, 'c', 'k'])).toEqual({
      code: 2,
      out: '',
      err: `meshcache: --secret-file ${binarySecret} is not UTF-8 text: a secret is text, compared as UTF-8 (e.g. openssl rand -base64 32)\n`,
    });
    // An empty --secret (a shell variable that was not set) was dialled, and blamed on the node.
    expect(await cli(['get', '--node', 'ws://127.0.0.1:1', '--secret', '', 'c', 'k'])).toEqual({
      code: 2,
      out: '',
      err: 'meshcache: --secret is empty: give the secret (or --secret-file, or MESHCACHE_SECRET)\n',
    });
    // The same slip in the environment dialled without a secret, and was told the node wants one.
    expect(await cli(['get', '--node', 'ws://127.0.0.1:1', 'c', 'k'], { MESHCACHE_SECRET: '' })).toEqual({
      code: 2,
      out: '',
      err: 'meshcache: MESHCACHE_SECRET is empty: put the secret in it (or give --secret-file), or unset it for a node without one\n',
    });
    for (const command of ['serve', 'demo', 'peers', 'stats', 'get', 'put', 'remove', 'clear']) {
      const help = await cli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.out).toMatch(/Examples?:\n {2}meshcache /);
    }
  });

  it('says its exit codes in --help: every command’s at the top, and serve’s own (a supervisor branches on them)', async () => {
    const top = await cli(['--help']);
    expect(top.out).toMatch(/Exit codes: 0 success; 1 a failed operation .*; 2 bad usage/s);
    const serve = await cli(['serve', '--help']);
    expect(serve.out).toMatch(/Exit codes: 0 after a clean stop .*; 1 the node could not start .*; 2 a configuration/s);
  });
});

describe('meshcache serve, in process', () => {
  it('validates the config file, naming the field (exit 2)', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'gw-1', cluster: 'c', peerListener: { port: 70000 } }));
    const result = await cli(['serve', '--config', bad]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/bad\.json: .*peerListener\.port.*0 to 65535/);
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{ name: ');
    expect((await cli(['serve', '--config', notJson])).err).toMatch(/is not JSON/);
    expect((await cli(['serve', '--config', join(dir, 'missing.json')])).code).toBe(2);
    const twice = join(dir, 'twice.json');
    writeFileSync(
      twice,
      '{"name":"x","cluster":"c","caches":{"tokens":{"timeToLiveSeconds":300},"tokens":{"eternal":true}}}',
    );
    expect(await cli(['serve', '--config', twice])).toEqual({
      code: 2,
      out: '',
      err: `meshcache: the config file ${twice} gives "caches.tokens" twice (JSON keeps only the last): give it once\n`,
    });
  });

  it('reads a config file that begins with a byte order mark (as Windows editors write one)', async () => {
    const file = join(dir, 'bom.json');
    writeFileSync(
      file,
      `\ufeff${JSON.stringify({ name: 'gw-bom', cluster: 'c', peerListener: { hostname: '127.0.0.1', port: 0 }, caches: { a: {} } })}`,
    );
    const io = recordingIo({ MESHCACHE_SECRET: 's' });
    const done = run(['serve', '--config', file], io);
    await until(() => io.stdout().includes('listening on'), 'serve to listen');
    io.interrupt();
    expect(await done).toBe(0);
  });

  it('prints "listening on" once ready, and stops cleanly on SIGINT (exit 0)', async () => {
    const file = join(dir, 'gw-9.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'gw-9',
        cluster: 'gateways',
        peerListener: { port: 0 },
        caches: { tokens: { replication: {} } },
      }),
    );
    const io = recordingIo({ MESHCACHE_SECRET: SECRET });
    const serving = run(['serve', '--config', file], io);
    await until(() => io.stdout().includes('listening on'), 'serve to listen', { intervalMillis: 20 });
    const url = /listening on (ws:\/\/127\.0\.0\.1:\d+)/.exec(io.stdout())?.[1];
    expect(url).toBeDefined();
    expect((await cli(['peers', '--node', url ?? '', '--json'])).out).toBe('[]\n'); // the secret came from the env
    io.interrupt();
    expect(await serving).toBe(0);
    expect(io.stderr()).toMatch(/leaving the cluster[\s\S]*stopped/);
  });

  it('stops on a signal during a synchronous bootstrap, without saying it listens (found by the outside review)', async () => {
    // A peer that takes the connection and never answers: the bootstrap would wait out the
    // socket timeout (two minutes here) before the node called itself started.
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blackHole.address() as AddressInfo;
      const file = join(dir, 'gw-sync.json');
      writeFileSync(
        file,
        JSON.stringify({
          name: 'gw-sync',
          cluster: 'gateways',
          peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 120_000 },
          peerDiscovery: { mode: 'manual', peers: [`ws://127.0.0.1:${port}`] },
          http: { hostname: '127.0.0.1', port: 0 },
          caches: { tokens: { replication: {}, bootstrap: { bootstrapAsynchronously: false } } },
        }),
      );
      const io = recordingIo({ MESHCACHE_SECRET: SECRET });
      const serving = run(['serve', '--config', file], io);
      await until(() => io.stdout().includes('operator endpoint on') && sockets.length > 0, 'the bootstrap to start');
      io.interrupt();
      expect(await serving).toBe(0);
      expect(io.stdout()).not.toContain('listening on');
      expect(io.stderr()).toMatch(/leaving the cluster before the node was ready[\s\S]*stopped/);
      // A signal before the node even listens: stopped once it does, not after its bootstrap.
      const early = recordingIo({ MESHCACHE_SECRET: SECRET });
      const cut = run(['serve', '--config', file], early);
      early.interrupt();
      expect(await cut).toBe(0);
      expect(early.stdout()).not.toContain('listening on');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  }, 30_000);

  it('a diskStorePath that cannot hold the disk store is a configuration it cannot use (exit 2), naming the field and the path', async () => {
    const file = join(dir, 'in-the-way');
    writeFileSync(file, 'not a directory');
    for (const store of [file, join(file, 'store')]) {
      const config = join(dir, 'disk-path.json');
      writeFileSync(
        config,
        JSON.stringify({
          name: 'gw-disk',
          cluster: 'c',
          diskStorePath: store,
          peerListener: { hostname: '127.0.0.1', port: 0 },
          caches: { tokens: { overflowToDisk: true } },
        }),
      );
      const result = await cli(['serve', '--config', config]);
      expect(result.code).toBe(2);
      expect(result.out).toBe('');
      expect(result.err).toMatch(
        new RegExp(
          `^meshcache: ${literal(config)}: option "diskStorePath" \\(${literal(store)}\\) cannot hold the disk store \\(E_DISK_UNWRITABLE\\): disk store for cache "tokens" at ${literal(store)} .*; give a directory this user can create and write\n$`,
        ),
      );
    }
  });

  it('a disk with no room under diskStorePath is the node failing to start (exit 1), naming the field', async () => {
    // A full tmpfs as root (CI); without root, a file-size limit of 0 on this process (EFBIG), as
    // packages/cache-core/test/disk-full.test.ts does.
    const full = mkdtempSync(join(tmpdir(), 'meshcache-cli-full-'));
    const pid = String(process.pid);
    const root = process.getuid?.() === 0;
    const limit = spawnSync('prlimit', ['--pid', pid, '--fsize', '--raw', '--noheadings', '--output=SOFT'], {
      encoding: 'utf8',
    }).stdout.trim();
    const config = join(dir, 'disk-full.json');
    const store = join(full, 'store');
    writeFileSync(
      config,
      JSON.stringify({
        name: 'gw-full',
        cluster: 'c',
        diskStorePath: store,
        peerListener: { hostname: '127.0.0.1', port: 0 },
        caches: { tokens: { overflowToDisk: true } },
      }),
    );
    try {
      if (root) {
        mustRun('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
        mkdirSync(store);
        try {
          for (;;) appendFileSync(join(full, 'ballast'), Buffer.alloc(4096));
        } catch (error) {
          expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
        }
      } else {
        mustRun('prlimit', ['--pid', pid, '--fsize=0:']);
      }
      const result = await cli(['serve', '--config', config]);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(
        new RegExp(
          `^meshcache: the node could not start \\(E_DISK_UNWRITABLE\\): option "diskStorePath" \\(${literal(store)}\\): disk store for cache "tokens" at ${literal(store)}: .*(ENOSPC|EFBIG|no space left|too large)`,
          'i',
        ),
      );
    } finally {
      if (root) {
        if (spawnSync('umount', [full]).status !== 0) mustRun('umount', ['-l', full]);
      } else {
        mustRun('prlimit', ['--pid', pid, `--fsize=${limit === '' ? 'unlimited' : limit}:`]);
      }
      rmSync(full, { recursive: true, force: true });
    }
  });

  it('refuses a config file holding a number JSON cannot hold (1e-400 read as 0 meant never expire), naming it (found by the outside attack)', async () => {
    for (const [number, read] of [
      ['1e-400', '0'],
      ['1e400', 'Infinity'],
    ]) {
      const file = join(dir, `inexact-${read}.json`);
      writeFileSync(file, `{"name":"gw-n","cluster":"c","caches":{"a":{"timeToLiveSeconds":${number}}}}`);
      const result = await cli(['serve', '--config', file]);
      expect(result).toEqual({
        code: 2,
        out: '',
        err: `meshcache: the config file ${file} holds the number ${number}, which JSON reads as ${read}: write the value meant\n`,
      });
    }
  });

  it('blames a MESHCACHE_SECRET too short for a non-loopback backplane on the variable, not on a field of the file (found by the outside attack)', async () => {
    const file = join(dir, 'bpenv.json');
    writeFileSync(
      file,
      JSON.stringify({ name: 'gw-env', cluster: 'c', backplane: { type: 'redis', url: 'redis://10.0.0.1:6379' } }),
    );
    const result = await cli(['serve', '--config', file], { MESHCACHE_SECRET: 'short' });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/option "secret \(from MESHCACHE_SECRET\)" is 5 bytes/);
  });

  it('exits 1 with one line naming peerListener when the node cannot start (the peer port is taken)', async () => {
    const a = await start('gw-1');
    const port = Number(new URL(a.url).port);
    const file = join(dir, 'clash.json');
    writeFileSync(file, JSON.stringify({ name: 'gw-2', cluster: 'gateways', peerListener: { port } }));
    const result = await cli(['serve', '--config', file]);
    expect(result.code).toBe(1);
    // As the http port's line names "http": which of the two ports is taken, and where.
    expect(result.err).toMatch(
      new RegExp(
        `^meshcache: the peer listener \\(peerListener\\) could not listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*\\n$`,
      ),
    );
  });

  it("exits 1 with one line naming peerListener.hostname when that address is not this machine's, with the port as given (0)", async () => {
    const file = join(dir, 'elsewhere.json');
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    writeFileSync(
      file,
      JSON.stringify({ name: 'gw-2', cluster: 'gateways', peerListener: { hostname: '192.0.2.1', port: 0 } }),
    );
    const result = await cli(['serve', '--config', file], { MESHCACHE_SECRET: 'a'.repeat(32) });
    expect(result.code).toBe(1);
    // It said "could not listen on 192.0.2.1:undefined", naming peerListener, not its hostname.
    expect(result.err).toBe(
      'meshcache: the peer listener (peerListener.hostname) could not listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine (EADDRNOTAVAIL); give one of its addresses\n',
    );
  });

  it('exits 1 with one line naming peerListener.hostname when that name does not resolve', async () => {
    const file = join(dir, 'unresolvable.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'gw-2',
        cluster: 'gateways',
        peerListener: { hostname: 'gw-1.meshcache.invalid', port: 0 },
      }),
    );
    const result = await cli(['serve', '--config', file], { MESHCACHE_SECRET: 'a'.repeat(32) });
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /^meshcache: the peer listener \(peerListener\.hostname\) could not listen on "gw-1\.meshcache\.invalid": this machine cannot resolve that name \((ENOTFOUND|EAI_AGAIN)\); give an address or a name of this machine\n$/,
    );
  });

  it('exits 1 with one line naming http.hostname when it is not an address of this machine, or does not resolve', async () => {
    for (const [hostname, said] of [
      // It said "... could not listen on 192.0.2.1:0: listen EADDRNOTAVAIL: address not available 192.0.2.1".
      [
        '192.0.2.1',
        /^meshcache: the operator endpoint \(http\.hostname\) could not listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\); give one of its addresses\n$/,
      ],
      // It said "... could not listen on metrics.meshcache.invalid:0: getaddrinfo ENOTFOUND metrics.meshcache.invalid".
      [
        'metrics.meshcache.invalid',
        /^meshcache: the operator endpoint \(http\.hostname\) could not listen on "metrics\.meshcache\.invalid": this machine cannot resolve that name \((ENOTFOUND|EAI_AGAIN)\); give an address or a name of this machine\n$/,
      ],
    ] as const) {
      const file = join(dir, `http-${hostname}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          name: 'gw-2',
          cluster: 'gateways',
          peerListener: { hostname: '127.0.0.1', port: 0 },
          http: { hostname, port: 0 },
        }),
      );
      const result = await cli(['serve', '--config', file], { MESHCACHE_SECRET: 'a'.repeat(32) });
      expect(result.code).toBe(1);
      expect(result.err).toMatch(said);
    }
  });

  /** A node on wss:// with the test PKI's certificate, stopped after the test. */
  async function tlsNode(name: string, pki: Awaited<ReturnType<typeof makeTestPki>>): Promise<ClusterNode> {
    const node = await ClusterNode.start({
      name,
      cluster: 'gateways',
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0 },
      tls: { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile },
      caches: { tokens: { replication: {} } },
    });
    nodes.push(node);
    return node;
  }

  it('reaches a wss:// node with --ca, and says when the CA is missing or unreadable', async () => {
    const pki = await makeTestPki();
    try {
      const node = await tlsNode('gw-tls', pki);
      expect(node.url).toMatch(/^wss:/);
      expect(await cli(['peers', '--node', node.url, '--ca', pki.caFile, '--json'])).toEqual({
        code: 0,
        out: '[]\n',
        err: '',
      });
      const untrusted = await cli(['peers', '--node', node.url, '--timeout', '2000']);
      expect(untrusted.code).toBe(1);
      expect(untrusted.err).toMatch(/^meshcache: cannot reach a node at wss:/);
      const unreadable = await cli(['peers', '--node', node.url, '--ca', join(dir, 'nope.pem')]);
      expect(unreadable).toEqual({
        code: 2, // bad usage: a file the user named cannot be read
        out: '',
        err: expect.stringMatching(/^meshcache: cannot read --ca .*nope\.pem/),
      });
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  it('says which TLS file is wrong (exit 2), before dialling, rather than blaming the node', async () => {
    const pki = await makeTestPki();
    try {
      const node = await tlsNode('gw-tls-files', pki);
      const peers = (...flags: string[]) => cli(['peers', '--node', node.url, '--timeout', '2000', ...flags]);
      // The key given as the CA: it said "cannot reach a node at wss://...: self-signed certificate".
      expect(await peers('--ca', pki.keyFile)).toEqual({
        code: 2,
        out: '',
        err: expect.stringMatching(/^meshcache: --ca .* does not hold a PEM certificate: /),
      });
      // Half a client pair was ignored in silence.
      for (const half of [
        ['--cert', pki.certFile],
        ['--key', pki.keyFile],
      ]) {
        expect(await peers('--ca', pki.caFile, ...half)).toEqual({
          code: 2,
          out: '',
          err: 'meshcache: give --cert and --key together: a client certificate and its private key (for a node with mutual TLS)\n',
        });
      }
      // A certificate given as the key: it said "cannot reach a node at wss://...: DECODER routines::unsupported".
      expect(await peers('--ca', pki.caFile, '--cert', pki.certFile, '--key', pki.certFile)).toEqual({
        code: 2,
        out: '',
        err: expect.stringMatching(/^meshcache: --key .* does not hold a PEM private key: /),
      });
      expect(await peers('--ca', pki.caFile, '--cert', pki.keyFile, '--key', pki.keyFile)).toEqual({
        code: 2,
        out: '',
        err: expect.stringMatching(/^meshcache: --cert .* does not hold a PEM certificate: /),
      });
      // The CA's certificate with the node's key: not a pair.
      expect(await peers('--ca', pki.caFile, '--cert', pki.caFile, '--key', pki.keyFile)).toEqual({
        code: 2,
        out: '',
        err: expect.stringMatching(/^meshcache: --key .* is not the key of the --cert certificate \(/),
      });
      // The right files still reach it, a client pair included (the node does not ask for one).
      expect(await peers('--ca', pki.caFile, '--cert', pki.certFile, '--key', pki.keyFile, '--json')).toEqual({
        code: 0,
        out: '[]\n',
        err: '',
      });
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('the BACKPLANE line', () => {
  const info = {
    type: 'redis' as const,
    url: 'redis://127.0.0.1:6379',
    state: 'connected' as const,
    stream: 'meshcache:{gateways}:changes',
    lastId: '1764921600000-3',
    lag: 0,
    lagMillis: 4,
    members: 2,
    repairs: 1,
    gaps: 1,
    repairOwed: false,
    entriesWritten: 10,
    entriesRead: 20,
    pendingBytes: 0,
    writesDropped: 0,
    refused: { unauthenticated: 0, replayed: 0, stale: 0, undecodable: 0 },
    since: 0,
    reason: null,
    lastGap: null,
  };

  it('says a repair owed (no member could give it yet), and nothing of one when none is', () => {
    expect(backplaneLine(info)).not.toContain('repair owed');
    expect(backplaneLine({ ...info, repairOwed: true })).toMatch(/ {2}repair owed \(no member could give it yet\)$/);
  });

  it('from a node of a release before `reason` and `lastGap`, says neither (its answer lacks them)', () => {
    const { reason: _reason, lastGap: _lastGap, ...older } = { ...info, state: 'down' as const };
    expect(backplaneLine(older as unknown as BackplaneInfo)).toMatch(
      /^BACKPLANE redis:\/\/127\.0\.0\.1:6379 down {2}stream .* gaps 1 {2}pending/,
    );
  });
});

/** A string matched as itself in a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function mustRun(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error}`);
}
