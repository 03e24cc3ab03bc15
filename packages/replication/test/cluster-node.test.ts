import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualPeerProvider } from '@meshcache/discovery';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { insecureExposures } from '../src/cluster-config.js';
import { LINK_LOGS_PER_MINUTE } from '../src/cluster-node.js';
import { type ClusterConfig, type ClusterNode, resolveClusterConfig } from '../src/index.js';
import { MessageType } from '../src/protocol/messages.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { SECRET, startNode, until } from './nodes.js';
import { sessionOf } from './sessions.js';

const caches = {
  'Response Cache': {
    maxElementsInMemory: 1000,
    timeToLiveSeconds: 300,
    replication: { asynchronousReplicationIntervalMillis: 10 },
  },
  local: { maxElementsInMemory: 10 },
};

function start(name: string, peers: string[] = [], overrides: Partial<ClusterConfig> = {}) {
  return startNode(name, peers, { caches, ...overrides });
}

const responses = (node: ClusterNode) =>
  node.manager.getCache('Response Cache') as NonNullable<ReturnType<ClusterNode['manager']['getCache']>>;

describe('ClusterNode over WebSockets on 127.0.0.1', () => {
  it('listens on a real port and replicates a put to every peer', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    const c = await start('gw-3', [a.url, b.url]);
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    expect(a.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    await until(() => a.peers().filter((p) => p.state === 'connected').length === 2, 'gw-1 to see both peers');
    responses(b).put('GET /orders/42', { status: 200 });
    await until(() => responses(a).has('GET /orders/42') && responses(c).has('GET /orders/42'), 'the put to arrive');
    expect(responses(c).get('GET /orders/42')).toEqual({ status: 200 });
    responses(c).remove('GET /orders/42');
    await until(() => !responses(a).has('GET /orders/42') && !responses(b).has('GET /orders/42'), 'the removal');
  });

  it('refuses an invalid Date at put, naming where: sent, it took the link down, and every repair sent it again (found by an outside review)', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    await until(() => a.peers()[0]?.state === 'connected', 'the link');
    expect(() => responses(a).put('GET /bad', { at: new Date('not a date') })).toThrow(/value\.at is an invalid Date/);
    responses(a).put('GET /good', { status: 200 });
    await until(() => responses(b).has('GET /good'), 'the next put to arrive');
    expect(a.peers()[0]?.state).toBe('connected');
  });

  it('says a quiet, healthy link was last seen at its last heartbeat, not at its last message (found by the docs audit)', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    await until(() => b.peers()[0]?.state === 'connected', 'the link');
    // Heartbeats every second; the only message on an idle link is a clock sample, at link-up
    // and every 10 s after (CLOCK_SAMPLE_MILLIS). It read 7.7 s ago on an idle link: within 6 s,
    // only a heartbeat can move it past the quiet second.
    const quietFrom = Date.now() + 1000;
    await until(() => (b.peers()[0]?.lastSeen ?? 0) > quietFrom, 'a heartbeat to count as seen', 6000);
    expect(b.peers()[0]?.state).toBe('connected');
  });

  it('lists peers with their name, url, state and caches', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    await until(() => a.peers().length === 1, 'gw-1 to see gw-2');
    expect(b.peers()).toEqual([
      expect.objectContaining({
        id: 'gw-1',
        url: a.url,
        state: 'connected',
        caches: ['Response Cache'],
        foundBy: 'manual',
      }),
    ]);
    expect(a.peers()).toEqual([
      expect.objectContaining({ id: 'gw-2', url: b.url, state: 'connected', foundBy: 'inbound' }),
    ]);
  });

  it('keeps one link per pair when both dial each other', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    const c = await start('gw-3', [a.url, b.url]);
    // Every node ends with one connected link to each of the two others, and no second one.
    const linked = (node: ClusterNode) =>
      node
        .peers()
        .filter((p) => p.state === 'connected')
        .map((p) => p.id)
        .sort();
    await until(() => [a, b, c].every((node) => linked(node).length === 2), 'every node to link with both others');
    expect(linked(a)).toEqual(['gw-2', 'gw-3']);
    expect(linked(b)).toEqual(['gw-1', 'gw-3']);
    expect(linked(c)).toEqual(['gw-1', 'gw-2']);
    responses(a).put('k', 'v');
    await until(
      () => responses(b).get('k') === 'v' && responses(c).get('k') === 'v',
      'the put over the surviving links',
    );
  });

  it('a node with its own address in its peer list says so at debug, not as a peer refused (found by a review)', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const lines: Array<[string, string]> = [];
    const at = (level: string) => (_fields: unknown, message?: string) => lines.push([level, String(message)]);
    const node = await startNode(
      'gw-1',
      [`ws://127.0.0.1:${port}`],
      { caches, peerListener: { hostname: '127.0.0.1', port, socketTimeoutMillis: 1000 } },
      { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } },
    );
    await until(() => lines.some(([, message]) => message === 'this node dialled itself'), 'the self-dial noticed');
    expect(lines.filter(([level]) => level === 'warn' || level === 'error')).toEqual([]);
    expect(node.peers()).toEqual([]);
  });

  it('keeps dialling an address that closed its dial with the self code: a close code proves nothing (found by an attack)', async () => {
    // Anyone a dial reaches can close it with 4005; the node took that as "this is me" and never
    // dialled the address again, nor listed it in peers().
    const dials: Socket[] = [];
    const poisoner = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    poisoner.on('connection', (socket, request) => {
      dials.push(request.socket);
      socket.once('message', () => socket.close(4005, 'dialled itself'));
    });
    await new Promise((resolve) => poisoner.once('listening', resolve));
    try {
      const { port } = poisoner.address() as { port: number };
      const node = await start('gw-1', [`ws://127.0.0.1:${port}`]);
      await until(() => dials.length >= 3, 'the address dialled again');
      expect(node.peers().map((peer) => peer.url)).toEqual([`ws://127.0.0.1:${port}`]);
    } finally {
      await new Promise((resolve) => poisoner.close(resolve));
    }
  });

  it('refuses a peer with the wrong secret: it shows `refused` there, and nothing crosses', async () => {
    const a = await start('gw-1');
    const intruder = await start('gw-x', [a.url], { secret: 'guess' });
    await intruder.ready();
    // Not `down`: the network is fine, the configuration is not (redialled all the same).
    await until(() => intruder.peers()[0]?.state === 'refused', 'the refused peer to show as such');
    expect(a.peers()).toEqual([]);
    responses(intruder).put('k', 'poison');
    // settle() sends what the intruder queued and waits for every linked peer: none is linked.
    for (const result of Object.values(await intruder.settle())) {
      expect(result).toEqual({ acknowledged: [], timedOut: [] });
    }
    expect(responses(a).has('k')).toBe(false);
  });

  it('redials a peer that comes back, and replication resumes', async () => {
    const a = await start('gw-1');
    const port = Number(new URL(a.url).port);
    const b = await start('gw-2', [a.url]);
    await until(() => b.peers()[0]?.state === 'connected', 'the first link');
    await a.stop();
    await until(() => b.peers()[0]?.state !== 'connected', 'the link to drop');
    const again = await start('gw-1', [], { peerListener: { hostname: '127.0.0.1', port } });
    await until(() => b.peers()[0]?.state === 'connected', 'the redial', 10_000);
    responses(b).put('after', 'restart');
    await until(() => responses(again).get('after') === 'restart', 'the put after the restart');
  });

  it('bootstraps a late joiner: ready() resolves once it holds what its peers hold', async () => {
    const a = await start('gw-1');
    for (let i = 0; i < 900; i++) responses(a).put(`key:${i}`, { i, body: 'x'.repeat(200) });
    responses(a).put('revoked', 'token');
    responses(a).remove('revoked');
    const late = await start('gw-2', [a.url]);
    await late.ready();
    expect(responses(late).size).toBe(900);
    expect(responses(late).get('key:899')).toEqual({ i: 899, body: 'x'.repeat(200) });
    expect(responses(late).has('revoked')).toBe(false);
    expect(
      replicaPortOf(responses(late))
        .tombstones()
        .map((t) => t.key),
    ).toEqual(['revoked']);
  });

  it('takes tombstoneRetentionSeconds and maxTombstones from the configuration file to every cache', async () => {
    const node = await start('gw-1', [], { maxTombstones: 2, tombstoneRetentionSeconds: 60 });
    for (const key of ['a', 'b', 'c']) {
      responses(node).put(key, 1);
      responses(node).remove(key);
    }
    expect(
      replicaPortOf(responses(node))
        .tombstones()
        .map((t) => t.key),
    ).toEqual(['b', 'c']);
    expect(responses(node).statistics().tombstonesDropped).toBe(1);
  });

  it('bootstrapAsynchronously false: start() resolves only once the cache holds what its peers hold', async () => {
    const a = await start('gw-1');
    for (let i = 0; i < 300; i++) responses(a).put(`key:${i}`, { i });
    const synchronous = {
      ...caches,
      'Response Cache': { ...caches['Response Cache'], bootstrap: { bootstrapAsynchronously: false } },
    };
    const late = await start('gw-2', [a.url], { caches: synchronous });
    // no ready() awaited: start() itself waited
    expect(responses(late).size).toBe(300);
    expect(responses(late).get('key:299')).toEqual({ i: 299 });
  });

  it('bootstrapAsynchronously false with a peer that never answers: start() still resolves, the cache empty', async () => {
    const silent = createServer(() => {}); // accepts, then says nothing: no upgrade, no handshake
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const synchronous = {
        ...caches,
        'Response Cache': { ...caches['Response Cache'], bootstrap: { bootstrapAsynchronously: false } },
      };
      const node = await start('gw-2', [`ws://127.0.0.1:${port}`], {
        caches: synchronous,
        peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 500 },
      });
      expect(responses(node).size).toBe(0);
    } finally {
      silent.close();
    }
  });

  it('a node that was down catches up when it comes back, and what is newer on it survives', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await until(() => b.peers()[0]?.state === 'connected', 'the link');
    const bPort = Number(new URL(b.url).port);
    responses(b).put('mine', 'written on b before it stopped');
    await until(() => responses(a).has('mine'), 'mine to reach a');
    await b.stop();
    responses(a).put('while-down', 'missed');
    responses(a).remove('mine');
    const back = await start('gw-2', [a.url], { peerListener: { hostname: '127.0.0.1', port: bPort } });
    await back.ready();
    expect(responses(back).get('while-down')).toBe('missed');
    expect(responses(back).has('mine')).toBe(false);
  });

  it('ready() resolves when a peer links but sends no repair, however much else it sends (Syncs every 200 ms kept it waiting for good; found by an attack)', async () => {
    const transport = new WebSocketTransport();
    const chatter: Array<ReturnType<typeof setInterval>> = [];
    const listener = await transport.listen('ws://127.0.0.1:0', (connection) => {
      void sessionOf(connection, 'listener', { node: 'gw-liar', secret: SECRET }).then(async (session) => {
        await session.established;
        let id = 0;
        chatter.push(setInterval(() => session.send({ type: MessageType.Sync, id: ++id }), 200));
      });
    });
    try {
      const joiner = await startNode('gw-1', [listener.address], {
        caches: { R: { replication: {} } },
      });
      await joiner.ready(); // the test's own timeout is the bound
      expect(joiner.peers()[0]?.id).toBe('gw-liar');
    } finally {
      for (const timer of chatter) clearInterval(timer);
      await listener.close();
    }
  });

  it('offers the remaining peers one round of digests for many departures, and none where nothing changed (300 churned links sent every peer 300; found by an attack)', async () => {
    const a = await startNode('gw-1', [], { caches: { R: { replication: {} } } });
    a.manager.getCache('R')?.put('k', 'v');
    const observer = await sessionOf(await new WebSocketTransport().dial(a.url), 'dialler', {
      node: 'gw-observer',
      secret: SECRET,
    });
    await observer.established;
    const digests: number[] = [];
    const acks: number[] = [];
    observer.onMessage((message) => {
      if (message.type === MessageType.Digest) digests.push(message.bucketCount);
      if (message.type === MessageType.Ack) acks.push(message.id);
    });
    await until(() => digests.length === 1, 'the link-up digest');
    const churn = async (i: number) => {
      const session = await sessionOf(await new WebSocketTransport().dial(a.url), 'dialler', {
        node: `gw-churn-${i}`,
        secret: SECRET,
      });
      await session.established;
      await until(() => a.peers().some((peer) => peer.id === `gw-churn-${i}`), 'the churned link');
      const gone = new Promise<void>((resolve) => session.connection.onClose(() => resolve()));
      session.close();
      await gone;
    };
    for (let i = 0; i < 20; i++) await churn(i); // nothing changed here: no digest for them
    a.manager.getCache('R')?.put('k2', 'v2');
    await churn(20); // a change, then a departure: one digest
    await until(() => digests.length >= 2, 'the digest for the change');
    observer.send({ type: MessageType.Sync, id: 1 });
    await until(() => acks.length === 1, 'a round trip after it');
    expect(digests).toHaveLength(2);
    observer.close();
  });

  it('ready() resolves even when a configured peer never answers (after socketTimeoutMillis)', async () => {
    const lonely = await start('gw-1', ['ws://127.0.0.1:9']);
    await lonely.ready(); // the test's own timeout is the bound
    expect(lonely.peers()[0]?.state).not.toBe('connected');
  });

  it('a change the receiver cannot hold (a key too long for its disk tier) is refused alone: the rest of its batch is applied, and it is said once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-long-key-'));
    try {
      const replication = { asynchronousReplicationIntervalMillis: 10 };
      const a = await start('gw-1', [], { caches: { R: { replication } } });
      const warnings: string[] = [];
      const quiet = () => {};
      const b = await startNode(
        'gw-2',
        [a.url],
        { diskStorePath: dir, caches: { R: { maxElementsInMemory: 10, overflowToDisk: true, replication } } },
        { logger: { debug: quiet, info: quiet, warn: (_obj, msg) => warnings.push(String(msg)), error: quiet } },
      );
      await b.ready();
      const long = 'x'.repeat(3000);
      const source = a.manager.getCache('R');
      // One turn: one batch, the long keys in the middle of it.
      for (const key of ['before', long, 'after-1', `${long}y`, 'after-2']) source?.put(key, key.length);
      const target = b.manager.getCache('R');
      await until(() => target?.has('after-2') === true, 'the last change of the batch to reach gw-2');
      expect(['before', 'after-1', 'after-2'].map((key) => target?.get(key))).toEqual([6, 7, 7]);
      expect(target?.has(long)).toBe(false);
      expect(b.replicationStatistics('R')?.refused).toBe(2);
      expect(warnings.filter((msg) => msg.startsWith('change refused: this node cannot apply it'))).toHaveLength(1);
      await b.stop(); // its disk store closed before its directory goes
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a peer URL with a cache path links that cache alone, on both sides: the listener neither lists, sends nor waits for the others', async () => {
    const sync = { replication: { replicateAsynchronously: false } };
    const both = { caches: { R: sync, S: sync } };
    const b = await startNode('gw-2', [], both);
    const a = await startNode('gw-1', [`${b.url}/R`], both);
    await a.ready();
    await until(() => b.peers().length === 1, 'gw-2 to see gw-1');
    expect(a.peers().map((peer) => [peer.id, peer.caches])).toEqual([['gw-2', ['R']]]);
    expect(b.peers().map((peer) => [peer.id, peer.caches])).toEqual([['gw-1', ['R']]]);
    b.manager.getCache('S')?.put('j', 1);
    b.manager.getCache('R')?.put('k', 2);
    const settled = await b.settle();
    // S has no peer on this link: nobody acknowledged it (it said gw-1 had), and nothing was sent.
    expect(settled['S']).toEqual({ acknowledged: [], timedOut: [] });
    expect(settled['R']).toEqual({ acknowledged: ['gw-1'], timedOut: [] });
    expect(b.replicationStatistics('S')?.sent).toBe(0);
    expect(a.manager.getCache('R')?.get('k')).toBe(2);
    expect(a.manager.getCache('S')?.get('j')).toBeUndefined();
  });

  it('several peer URLs with a path to one node link each of those caches, and no other (as import-ehcache writes rmiUrls)', async () => {
    const sync = { replication: { replicateAsynchronously: false } };
    const three = { caches: { R: sync, S: sync, T: sync } };
    const b = await startNode('gw-2', [], three);
    const a = await startNode('gw-1', [`${b.url}/R`, `${b.url}/S`], three);
    await a.ready();
    await until(() => b.peers().length === 1, 'gw-2 to see gw-1');
    expect(a.peers().map((peer) => [peer.id, [...peer.caches].sort()])).toEqual([['gw-2', ['R', 'S']]]);
    expect(b.peers().map((peer) => [peer.id, [...peer.caches].sort()])).toEqual([['gw-1', ['R', 'S']]]);
    for (const cache of ['R', 'S', 'T']) b.manager.getCache(cache)?.put('k', cache);
    const settled = await b.settle();
    expect([settled['R'], settled['S'], settled['T']]).toEqual([
      { acknowledged: ['gw-1'], timedOut: [] },
      { acknowledged: ['gw-1'], timedOut: [] },
      { acknowledged: [], timedOut: [] },
    ]);
    expect(['R', 'S', 'T'].map((cache) => a.manager.getCache(cache)?.get('k'))).toEqual(['R', 'S', undefined]);
  });

  it('links the caches a dialled path names that the listener replicates, and says which it does not', async () => {
    const warnings: Array<[object, string]> = [];
    const quiet = () => {};
    const sync = { replication: { replicateAsynchronously: false } };
    const b = await startNode(
      'gw-2',
      [],
      { caches: { R: sync } },
      { logger: { debug: quiet, info: quiet, warn: (obj, msg) => warnings.push([obj, String(msg)]), error: quiet } },
    );
    const a = await startNode('gw-1', [`${b.url}/R`, `${b.url}/Nope`], { caches: { R: sync, Nope: sync } });
    await a.ready();
    await until(() => b.peers().length === 1, 'gw-2 to see gw-1');
    expect(b.peers().map((peer) => [peer.id, peer.caches])).toEqual([['gw-1', ['R']]]);
    expect(warnings).toContainEqual([
      { peer: 'gw-1', caches: ['Nope'] },
      'a peer dialled for caches this node does not replicate; linked the others',
    ]);
    // Both ends agree (LinkCaches): gw-1 neither lists Nope with gw-2 nor counts it as acknowledging Nope.
    await until(() => a.peers()[0]?.caches.length === 1, 'gw-1 to drop Nope from the link');
    expect(a.peers().map((peer) => [peer.id, peer.caches])).toEqual([['gw-2', ['R']]]);
    a.manager.getCache('Nope')?.put('j', 1);
    expect((await a.settle())['Nope']).toEqual({ acknowledged: [], timedOut: [] });
    b.manager.getCache('R')?.put('k', 1);
    await b.settle();
    expect(a.manager.getCache('R')?.get('k')).toBe(1);
  });

  it('two nodes that replicate different caches link those both replicate, and say so once, without warnings (a cache rolled out node by node)', async () => {
    const sync = { replication: { replicateAsynchronously: false } };
    const logs = new Map<string, Array<[string, string]>>();
    const logger = (node: string) => {
      const lines: Array<[string, string]> = [];
      logs.set(node, lines);
      const at = (level: string) => (_obj: object, msg?: string) => lines.push([level, String(msg)]);
      return { logger: { debug() {}, info: at('info'), warn: at('warn'), error: at('error') } };
    };
    const b = await startNode('gw-2', [], { caches: { R: sync } }, logger('gw-2'));
    const a = await startNode('gw-1', [b.url], { caches: { R: sync, New: sync } }, logger('gw-1'));
    await a.ready();
    await until(() => a.peers()[0]?.caches.length === 1, 'gw-1 to drop New from the link');
    expect(a.peers().map((peer) => [peer.id, peer.caches])).toEqual([['gw-2', ['R']]]);
    expect(b.peers().map((peer) => [peer.id, peer.caches])).toEqual([['gw-1', ['R']]]);
    a.manager.getCache('New')?.put('n', 1);
    a.manager.getCache('R')?.put('r', 2);
    const settled = await a.settle();
    expect([settled['New'], settled['R']]).toEqual([
      { acknowledged: [], timedOut: [] },
      { acknowledged: ['gw-2'], timedOut: [] },
    ]);
    expect(b.manager.getCache('R')?.get('r')).toBe(2);
    expect(logs.get('gw-1')).toContainEqual([
      'info',
      'the peer does not carry these caches on this link (it does not replicate them, or was not asked to); not replicated with it',
    ]);
    for (const lines of logs.values()) expect(lines.filter(([level]) => level !== 'info')).toEqual([]);
  });

  it('a peer listed for more caches than a path carries (a request head of 8 KiB) is dialled without one, and both ends still carry those caches alone', async () => {
    const sync = { replication: { replicateAsynchronously: false } };
    const named = Array.from({ length: 170 }, (_, i) => `cache-${i}-${'x'.repeat(45)}`); // a path of 9 KB
    const caches = Object.fromEntries([...named, 'Other'].map((name) => [name, sync]));
    const b = await startNode('gw-2', [], { caches });
    const a = await startNode(
      'gw-1',
      named.map((name) => `${b.url}/${name}`),
      { caches },
    );
    await a.ready();
    await until(
      () => b.peers()[0]?.caches.length === named.length && a.peers()[0]?.caches.length === named.length,
      'both ends to carry the named caches',
    );
    expect([...(b.peers()[0]?.caches ?? [])].sort()).toEqual([...named].sort());
    b.manager.getCache('Other')?.put('o', 1);
    expect((await b.settle())['Other']).toEqual({ acknowledged: [], timedOut: [] });
  });

  it('settle() made as a link comes up does not count the peer for a cache the peer does not carry (its LinkCaches comes one round trip later)', async () => {
    const asy = { replication: {} };
    const c = await startNode('gw-3', [], { caches: { R: asy } });
    const provider = new ManualPeerProvider([]);
    const a = await startNode('gw-1', [], { caches: { R: asy, New: asy } }, { peerProvider: provider });
    const settled = new Promise<unknown>((resolve) => {
      const onPeer = (message: unknown) => {
        const event = message as { node: string; event: string };
        if (event.node !== 'gw-1' || event.event !== 'connected') return;
        unsubscribe('meshcache:peer', onPeer);
        a.manager.getCache('New')?.put('n', 1); // as the link comes up, before gw-3's LinkCaches is in
        void a.settle().then((result) => resolve(result['New']));
      };
      subscribe('meshcache:peer', onPeer);
    });
    provider.update([{ url: c.url, cache: undefined }]);
    expect(await settled).toEqual({ acknowledged: [], timedOut: [] });
  });

  it('an unreachable address that keeps leaving and coming back into discovery is warned about once a minute, not at each return (found by a review)', async () => {
    const dead = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const lines: Array<[string, string]> = [];
    const at = (level: string) => (_fields: unknown, message?: string) => lines.push([level, String(message)]);
    const provider = new ManualPeerProvider([]);
    const a = await startNode(
      'gw-1',
      [],
      { caches },
      {
        peerProvider: provider,
        logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
      },
    );
    const url = `ws://127.0.0.1:${dead}`;
    const count = (level: string, message: string) =>
      lines.filter((line) => line[0] === level && line[1] === message).length;
    for (let flap = 0; flap < 5; flap++) {
      provider.update([{ url, cache: undefined }]);
      await until(() => a.peers().some((p) => p.url === url && p.state === 'down'), 'the dead address tried');
      provider.update([]);
      await until(() => a.peers().every((p) => p.url !== url), 'the address retired');
    }
    expect(count('warn', 'peer unreachable; will retry (logged again in a minute if it still is)')).toBe(1);
    expect(count('info', 'peer discovered')).toBe(1);
    expect(count('info', 'peer no longer discovered')).toBe(1);
    expect(count('debug', 'peer discovered')).toBe(4);
  });

  it('a manual list updated to name other caches of a peer relinks it for them, whichever name sorts first', async () => {
    const sync = { replication: { replicateAsynchronously: false } };
    const both = { caches: { R: sync, S: sync } };
    // gw-1 dials gw-2, and gw-1 sorts first: a second dial of its own lost to the first as a duplicate.
    const b = await startNode('gw-2', [], both);
    const provider = new ManualPeerProvider([{ url: b.url, cache: 'R' }]);
    const a = await startNode('gw-1', [], both, { peerProvider: provider });
    await a.ready();
    const linked = (node: ClusterNode) => node.peers().map((peer) => [peer.id, [...peer.caches].sort()]);
    await until(() => b.peers().length === 1, 'gw-2 to see gw-1');
    expect(linked(a)).toEqual([['gw-2', ['R']]]);
    provider.update([
      { url: b.url, cache: 'R' },
      { url: b.url, cache: 'S' },
    ]);
    await until(
      () => JSON.stringify([linked(a), linked(b)]) === JSON.stringify([[['gw-2', ['R', 'S']]], [['gw-1', ['R', 'S']]]]),
      'both ends to carry R and S',
    );
    b.manager.getCache('S')?.put('s', 1);
    expect((await b.settle())['S']).toEqual({ acknowledged: ['gw-1'], timedOut: [] });
    expect(a.manager.getCache('S')?.get('s')).toBe(1);
    provider.update([{ url: b.url, cache: 'S' }]);
    await until(
      () => JSON.stringify([linked(a), linked(b)]) === JSON.stringify([[['gw-2', ['S']]], [['gw-1', ['S']]]]),
      'both ends to carry S alone',
    );
  });

  it('links a live peer at once while dials to addresses that never answer wait (they held every dial slot; found by an attack)', async () => {
    const caches = { caches: { R: { replication: {} } } };
    const b = await startNode('gw-2', [], caches);
    // Listeners that take the connection and never answer the upgrade: a node that died listed.
    const held: Socket[] = [];
    const silent = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const server = createServer((socket) => held.push(socket));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return server;
      }),
    );
    try {
      const dead = silent.map((server) => `ws://127.0.0.1:${(server.address() as { port: number }).port}`);
      const a = await startNode('gw-1', [...dead, b.url], {
        ...caches,
        // Dead dials wait 30 s: the live peer would wait behind them for as long.
        peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 30_000 },
      });
      await until(() => a.peers().find((peer) => peer.id === 'gw-2')?.state === 'connected', 'the live link');
    } finally {
      for (const server of silent) server.close();
      for (const socket of held) socket.destroy();
    }
  });

  it('keeps a working link when it dials the same peer again under another spelling, whichever name sorts first (a DNS flap replaced it; found by an attack)', async () => {
    const caches = { caches: { R: { replication: {} } } };
    const b = await startNode('gw-2', [], caches);
    const connected: string[] = [];
    const duplicates: string[] = [];
    const quiet = () => {};
    const logger = {
      debug: (_: unknown, message: string) => {
        if (message === 'a second link to a linked peer; closed, the first kept') duplicates.push(message);
      },
      warn: quiet,
      error: quiet,
      info: (_: unknown, message: string) => {
        if (message === 'peer connected') connected.push(message);
      },
    };
    // zz-1 sorts after gw-2: the tie-break between two dials of its own kept the newer one.
    const a = await startNode('zz-1', [b.url, b.url.replace('127.0.0.1', 'localhost')], caches, { logger });
    await a.ready();
    await until(() => duplicates.length === 1, 'the second dial to land, as a duplicate');
    expect(connected).toHaveLength(1);
    expect(b.peers()).toHaveLength(1);
    // One peer, one entry, whichever spelling found it.
    expect(a.peers().map((peer) => [peer.id, peer.state])).toEqual([['gw-2', 'connected']]);
  });

  it("logs one 'peer connected' at info when each side dials the other and the second link replaces the first (two, with no 'peer left' between, read as a leaked link; found running three processes)", async () => {
    const caches = { caches: { R: { replication: {} } } };
    const lines = (connected: string[], replaced: string[]) => {
      const quiet = () => {};
      return {
        debug: (_: unknown, message: string) => {
          if (message.startsWith('a second link to a linked peer replaced the first')) replaced.push(message);
        },
        info: (_: unknown, message: string) => {
          if (message === 'peer connected') connected.push(message);
        },
        warn: quiet,
        error: quiet,
      };
    };
    const aConnected: string[] = [];
    const aReplaced: string[] = [];
    const bConnected: string[] = [];
    const bReplaced: string[] = [];
    // gw-2 dials gw-1 first; then gw-1, which sorts first, dials gw-2: its link is the one kept.
    const provider = new ManualPeerProvider([]);
    const a = await startNode('gw-1', [], caches, { peerProvider: provider, logger: lines(aConnected, aReplaced) });
    const b = await startNode('gw-2', [a.url], caches, { logger: lines(bConnected, bReplaced) });
    await b.ready();
    await until(() => a.peers().length === 1 && aConnected.length === 1, 'gw-1 to see gw-2');
    provider.update([{ url: b.url, cache: 'R' }]);
    await until(() => aReplaced.length === 1 && bReplaced.length === 1, 'both ends to replace the link');
    expect([aConnected, bConnected]).toEqual([['peer connected'], ['peer connected']]);
    await until(
      () => a.peers()[0]?.state === 'connected' && b.peers()[0]?.state === 'connected',
      'the kept link to carry on',
    );
    expect([a.peers().length, b.peers().length]).toEqual([1, 1]);
  });

  it('closes, with a warning, a link dialled for a cache the listener does not replicate', async () => {
    const said: Array<[string, string]> = [];
    const at = (level: string) => (_obj: object, msg?: string) => {
      if (msg?.startsWith('a peer dialled for')) said.push([level, msg]);
    };
    const b = await startNode(
      'gw-2',
      [],
      { caches: { R: { replication: {} } } },
      { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } },
    );
    await startNode('gw-1', [`${b.url}/Nope`], { caches: { Nope: { replication: {} } } });
    // The dialler comes back (its backoff grows from 100 ms to 5 s): warned once a minute, debug between.
    await until(() => said.length >= 2, 'the listener to close the link twice', 15_000);
    expect(said.map(([level]) => level)).toEqual(['warn', ...said.slice(1).map(() => 'debug')]);
    expect(said[0]?.[1]).toBe('a peer dialled for a cache this node does not replicate; link closed');
    expect(b.peers()).toEqual([]);
  }, 30_000);

  it('logs refused handshakes from one host at warn once a minute, at debug between (a redialling peer wrote one a try)', async () => {
    const lines: Array<[string, string]> = [];
    const at = (level: string) => (_obj: object, msg?: string) => {
      if (msg?.startsWith('peer refused')) lines.push([level, msg]);
    };
    const b = await startNode(
      'gw-2',
      [],
      { caches: { R: { replication: {} } } },
      { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } },
    );
    for (let i = 0; i < 3; i++) {
      const wrong = await sessionOf(await new WebSocketTransport().dial(b.url), 'dialler', {
        node: 'gw-9',
        url: '',
        secret: 'another secret, at least 32 bytes long',
      });
      await expect(wrong.established).rejects.toMatchObject({ code: 'E_AUTH' });
      await until(() => lines.length === i + 1, 'the refusal to be logged');
    }
    expect(lines).toEqual([
      ['warn', 'peer refused (logged again in a minute if its host keeps trying)'],
      ['debug', 'peer refused again'],
      ['debug', 'peer refused again'],
    ]);
  });

  it('logs a peer that stays unreachable at warn once, then at debug while it retries', async () => {
    const lines: Array<[string, string]> = [];
    const at = (level: string) => (_obj: object, msg?: string) => {
      if (msg?.includes('unreachable')) lines.push([level, msg]);
    };
    await startNode(
      'gw-1',
      ['ws://127.0.0.1:9'],
      { caches: { 'Response Cache': { replication: {} } } },
      {
        logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
      },
    );
    // Retries back off from 100 ms: three more within a few seconds.
    await until(() => lines.filter(([level]) => level === 'debug').length >= 3, 'three retries', {
      timeoutMillis: 10_000,
    });
    expect(lines.filter(([level]) => level === 'warn')).toEqual([
      ['warn', 'peer unreachable; will retry (logged again in a minute if it still is)'],
    ]);
  });

  it('warns again at once when an unreachable peer fails for another reason (down, then back with another secret)', async () => {
    const warnings: string[] = [];
    const failures: string[] = [];
    const at = (level: string) => (obj: object, msg?: string) => {
      if (!msg?.includes('unreachable')) return;
      const err = (obj as { err?: Error }).err;
      const why = `${(err as { code?: string } | undefined)?.code ?? 'no code'}: ${err?.message}`;
      failures.push(why);
      if (level === 'warn') warnings.push(why);
    };
    // A port nothing listens on, taken by a node of another secret once the first refusal was logged.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await startNode(
      'gw-1',
      [`ws://127.0.0.1:${port}`],
      { caches: { 'Response Cache': { replication: {} } } },
      { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } },
    );
    await until(() => warnings.length === 1, 'the refused connection to be logged');
    expect(warnings[0]).toContain('ECONNREFUSED');
    await startNode('gw-2', [], {
      secret: 'another secret, at least 32 bytes long',
      peerListener: { hostname: '127.0.0.1', port, socketTimeoutMillis: 1000 },
      caches: { 'Response Cache': { replication: {} } },
    });
    await until(() => failures.some((why) => why.startsWith('E_AUTH')), 'a dial to meet the other secret', {
      timeoutMillis: 10_000,
    });
    // The operator sees the new reason now, not a minute later behind the old one.
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/^E_AUTH: .*4003 authentication failed/);
  });

  it('synchronous mode: settle() reports who acknowledged; a silent peer times out without holding up the others', async () => {
    const syncCaches = { 'Response Cache': { replication: { replicateAsynchronously: false } } };
    const a = await start('gw-1', [], { caches: syncCaches });
    const b = await start('gw-2', [a.url], { caches: syncCaches });
    await b.ready();
    // A third "node" that completes the handshake and then never reads a frame.
    const silent = await sessionOf(await new WebSocketTransport().dial(a.url), 'dialler', {
      node: 'gw-silent',
      url: '',
      secret: SECRET,
    });
    await silent.established;
    await until(() => a.peers().length === 2, 'the silent peer to link');
    responses(a).put('token', 'abc');
    const settled = await a.settle();
    expect(settled['Response Cache']).toEqual({ acknowledged: ['gw-2'], timedOut: ['gw-silent'] });
    expect(responses(b).get('token')).toBe('abc');
    silent.close();
  });

  it('takes "memoryStoreEvictionPolicy": "TINYLFU" from the configuration file, and replicates such a cache', async () => {
    const fromFile = JSON.parse(
      '{ "Response Cache": { "maxElementsInMemory": 5, "memoryStoreEvictionPolicy": "TINYLFU", "replication": {} } }',
    );
    const a = await startNode('gw-1', [], { caches: fromFile });
    const b = await startNode('gw-2', [a.url], { caches: fromFile });
    await Promise.all([a.ready(), b.ready()]);
    expect(responses(a).config.memoryStoreEvictionPolicy).toBe('TINYLFU');
    for (let i = 0; i < 20; i++) responses(b).put(`GET /orders/${i}`, i);
    await until(() => responses(a).statistics().puts === 20, 'the puts to arrive');
    expect(responses(a).size).toBe(5);
    expect(responses(a).statistics().evictions).toBe(15);
    expect(responses(a).get('GET /orders/19')).toBe(19); // the last put is never the victim
  });

  it('splits a flush larger than a frame into frames the peer takes, and refuses a value no frame can carry', async () => {
    // 1000 responses of 20 KB in one interval: 20 MB, past the 16 MiB a peer accepts in a frame
    // (it used to close the link with 1009 and catch up by repair, at every flush).
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await Promise.all([a.ready(), b.ready()]);
    await until(() => b.peers().some((p) => p.state === 'connected'), 'the link');
    const repairsBefore = b.peers()[0]?.repairs;
    const body = 'r'.repeat(20_000);
    for (let i = 0; i < 1000; i++) responses(a).put(`GET /pages/${i}`, { status: 200, body });
    await until(() => responses(b).size === 1000, 'every response to arrive');
    const link = b.peers().find((p) => p.id === 'gw-1');
    expect(link?.changesReceived).toBe(1000); // as live changes, on the same link
    expect(link?.repairs).toBe(repairsBefore);
    // A value past 15 MiB encoded: refused at put, naming the bound; the cache and the link unchanged.
    expect(() => responses(a).put('GET /huge', 'h'.repeat(16 * 1024 * 1024))).toThrow(
      /cannot store key "GET \/huge": value encodes, with its key, to more than 15 MiB; this cache replicates to peers, so a value \(with its key\) may take at most 15728640 bytes encoded/,
    );
    expect(responses(a).has('GET /huge')).toBe(false);
    responses(a).put('GET /after', 'a'.repeat(14 * 1024 * 1024)); // within the bound: it travels
    await until(() => responses(b).has('GET /after'), 'a 14 MiB value to arrive');
    expect(b.peers().find((p) => p.id === 'gw-1')?.repairs).toBe(repairsBefore);
    // And a joiner's bootstrap carries it too, in a frame of its own.
    const c = await start('gw-3', [a.url]);
    await c.ready();
    expect(responses(c).size).toBe(1000); // the cache holds 1000: the oldest page left for GET /after
    expect((responses(c).get('GET /after') as string).length).toBe(14 * 1024 * 1024);
  });

  it('leaves caches without replication local', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await until(() => b.peers()[0]?.state === 'connected', 'the link');
    b.manager.getCache('local')?.put('k', 'only here');
    responses(b).put('marker', 1);
    await until(() => responses(a).has('marker'), 'the marker');
    expect(a.manager.getCache('local')?.has('k')).toBe(false);
  });
});

describe('ClusterNode logs of links', () => {
  it('logs links made and lost with one host at info LINK_LOGS_PER_MINUTE times a minute, at debug past that (a peer that linked and left over and over wrote two lines each time; found by an attack)', async () => {
    const lines: Array<{ level: string; message: string }> = [];
    const record = (level: string) => (_: unknown, message?: string) => {
      if (message === 'peer connected' || message === 'peer left') lines.push({ level, message });
    };
    const logger = { debug: record('debug'), info: record('info'), warn: () => {}, error: () => {} };
    const a = await startNode('gw-1', [], { caches }, { logger });
    for (let i = 0; i < 8; i++) {
      const b = await start('gw-2', [a.url]);
      await until(() => a.peers().some((peer) => peer.id === 'gw-2'), 'gw-2 to link');
      await b.stop();
      await until(() => !a.peers().some((peer) => peer.id === 'gw-2'), 'gw-2 to leave');
    }
    await until(() => lines.length === 16, 'every link made and lost to be logged');
    // The first ten of sixteen at info (five links and their departures), the rest at debug.
    expect(lines.filter((line) => line.level === 'info')).toHaveLength(LINK_LOGS_PER_MINUTE);
    expect(lines.slice(0, LINK_LOGS_PER_MINUTE).every((line) => line.level === 'info')).toBe(true);
    expect(lines.slice(LINK_LOGS_PER_MINUTE).every((line) => line.level === 'debug')).toBe(true);
    expect(lines.map((line) => line.message)).toEqual(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 'peer connected' : 'peer left')),
    );
  });
});

describe('cluster configuration', () => {
  const base = { name: 'gw-1', cluster: 'gateways', secret: 's' };
  it.each([
    [{ ...base, name: '' }, 'name'],
    [{ ...base, peerListener: { port: 70000 } }, 'peerListener.port'],
    [{ ...base, peerListener: { socketTimeoutMillis: 5 } }, 'peerListener.socketTimeoutMillis'],
    [{ ...base, peerListener: { socketTimeoutMillis: 2 ** 31 } }, 'peerListener.socketTimeoutMillis'],
    [{ ...base, peerDiscovery: { mode: 'manual', peers: ['ws://127.0.0.1:4000/%zz'] } }, 'peerDiscovery.peers[0]'],
    [{ ...base, peerDiscovery: { mode: 'manual', peers: ['ws://127.0.0.1:0'] } }, 'peerDiscovery.peers[0]'],
    [{ ...base, peerDiscovery: { mode: 'manual', peers: ['ws://u:p@127.0.0.1:1?x=1'] } }, 'peerDiscovery.peers[0]'],
    [{ ...base, peerListener: { host: 'x' } }, 'peerListener.host'],
    [{ ...base, peerDiscovery: { mode: 'manual', peers: ['http://x:1'] } }, 'peerDiscovery.peers[0]'],
    [{ ...base, peerDiscovery: { mode: 'manual', peers: ['ws://x'] } }, 'peerDiscovery.peers[0]'],
    [{ ...base, peerDiscovery: { mode: 'multicast' } }, 'peerDiscovery.mode'],
    [{ ...base, peerDiscovery: { mode: 'dns', port: 1 } }, 'peerDiscovery.name'],
    [{ ...base, peerDiscovery: { mode: 'manual', peers: ['ws://x:1/Nope'] } }, 'peerDiscovery.peers[0]'],
    [{ ...base, peerDiscovery: { mode: 'dns', name: 'gateways svc.example', port: 1 } }, 'peerDiscovery.name'],
    [{ ...base, secret: undefined, peerListener: { hostname: '0.0.0.0' } }, 'secret'],
    [{ ...base, cachez: {} }, 'cachez'],
    [{ ...base, http: 9464 }, 'http'],
    [{ ...base, http: { port: -1 } }, 'http.port'],
    [{ ...base, http: { port: '9464' } }, 'http.port'],
    [{ ...base, http: { hostname: '' } }, 'http.hostname'],
    [{ ...base, http: { path: '/metrics' } }, 'http.path'],
    [{ ...base, peerListener: { port: 40001 }, http: { port: 40001 } }, 'http.port'],
    [{ ...base, tombstoneRetentionSeconds: -1 }, 'tombstoneRetentionSeconds'],
    [{ ...base, tombstoneRetentionSeconds: '300' }, 'tombstoneRetentionSeconds'],
    [{ ...base, maxTombstones: 0 }, 'maxTombstones'],
    [{ ...base, maxTombstones: 2.5 }, 'maxTombstones'],
    [{ ...base, name: 'gw-\u001b]0;owned\u0007' }, 'name'],
    [{ ...base, cluster: 'x'.repeat(257) }, 'cluster'],
    [{ ...base, caches: { spill: { maxElementsInMemory: 1, overflowToDisk: true } } }, 'diskStorePath'],
    [{ ...base, caches: { bad: { maxElementsInMemory: -1 } } }, 'maxElementsInMemory'],
    [{ ...base, caches: { local: { bootstrap: { bootstrapAsynchronously: false } } } }, 'caches.local.bootstrap'],
  ])('refuses %j naming the field', (raw, field) => {
    let error: unknown;
    try {
      resolveClusterConfig(raw, {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
  });

  it('names the peer and shows its cache name escaped when a manual peer names a cache that does not replicate here (found by an attack)', () => {
    const peers = ['ws://127.0.0.1:1', 'ws://127.0.0.1:2/bad%0Aname%00'];
    expect(() => resolveClusterConfig({ ...base, peerDiscovery: { mode: 'manual', peers } }, {})).toThrow(
      'names cache "bad\\nname\\u0000", which is not a replicated cache of this node',
    );
  });

  it('says a secretFile is empty, rather than that the secret is not a non-empty string', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-secret-'));
    try {
      const file = join(dir, 'secret');
      writeFileSync(file, '\n');
      expect(() => resolveClusterConfig({ name: 'gw-1', cluster: 'gateways', secretFile: file }, {})).toThrow(
        `option "secretFile" is empty (${file}): it must hold the secret`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a secretFile that is not UTF-8 text: read leniently, two files of 12 random bytes were one 36-byte secret off loopback (found by an outside audit)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-secret-'));
    try {
      const first = join(dir, 'first');
      const second = join(dir, 'second');
      writeFileSync(first, Buffer.alloc(12, 0x80));
      writeFileSync(second, Buffer.alloc(12, 0xff));
      const listener = { hostname: '0.0.0.0' };
      for (const file of [first, second]) {
        let error: unknown;
        try {
          resolveClusterConfig({ name: 'gw-1', cluster: 'gateways', secretFile: file, peerListener: listener }, {});
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).field).toBe('secretFile');
        expect((error as ConfigError).message).toContain(`is not UTF-8 text (${file})`);
      }
      // Text is read as before: a trailing newline dropped, UTF-8 beyond ASCII kept.
      writeFileSync(first, `${SECRET}é\n`);
      expect(
        resolveClusterConfig({ name: 'gw-1', cluster: 'gateways', secretFile: first, peerListener: listener }, {})
          .secret,
      ).toBe(`${SECRET}é`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the secret from MESHCACHE_SECRET, and allows an insecure listener only when told', () => {
    const noSecret = { name: 'gw-1', cluster: 'gateways', peerListener: { hostname: '0.0.0.0' } };
    expect(resolveClusterConfig(noSecret, { MESHCACHE_SECRET: SECRET }).secret).toBe(SECRET);
    expect(resolveClusterConfig({ ...noSecret, insecure: true }, {}).secret).toBeUndefined();
    expect(() => resolveClusterConfig(noSecret, { MESHCACHE_SECRET: 'too short' })).toThrow(
      /secret \(from MESHCACHE_SECRET\).*is 9 bytes; off loopback a secret must have at least 32/,
    );
  });

  it('names what "insecure": true leaves open off loopback, for the node to warn of once it listens (helper-119 found it started open without a word)', () => {
    const node = { name: 'gw-1', cluster: 'gateways' };
    const open = resolveClusterConfig({ ...node, insecure: true, peerListener: { hostname: '0.0.0.0' } }, {});
    expect(insecureExposures(open)).toEqual([
      'the listener on 0.0.0.0 has no secret ("insecure": true): anything that reaches it is admitted, as a peer or as an admin client, and can read, overwrite and clear every cache',
    ]);
    // A client certificate admits where mutual TLS asks every dialler for one.
    const mutual = {
      cert: Buffer.from('c'),
      key: Buffer.from('k'),
      ca: undefined,
      mutual: true,
      serverName: undefined,
    };
    expect(insecureExposures({ ...open, tls: mutual })).toEqual([]);
    const backplane = resolveClusterConfig(
      { ...node, insecure: true, backplane: { type: 'redis', url: 'redis://10.0.0.5:6379' } },
      {},
    );
    expect(insecureExposures(backplane)).toEqual([
      'the backplane on 10.0.0.5 has no secret ("insecure": true): entries go through Redis unsealed, and any client of that Redis can read them and write changes every node applies',
    ]);
    // Nothing to say with a secret, or on loopback.
    expect(
      insecureExposures(resolveClusterConfig({ ...node, secret: SECRET, peerListener: { hostname: '0.0.0.0' } }, {})),
    ).toEqual([]);
    expect(insecureExposures(resolveClusterConfig(node, {}))).toEqual([]);
  });

  it('refuses a diskStorePath starting with ~ by name, as CacheManager does', () => {
    expect(() => resolveClusterConfig({ name: 'gw-1', cluster: 'gateways', diskStorePath: '~/meshcache' }, {})).toThrow(
      /option "diskStorePath" starts with ~, which only a shell expands/,
    );
  });

  it('refuses an empty MESHCACHE_SECRET by name, on loopback too, where it was read as no secret at all', () => {
    const loopback = { name: 'gw-1', cluster: 'gateways' };
    for (const config of [loopback, { ...loopback, peerListener: { hostname: '0.0.0.0' } }]) {
      expect(() => resolveClusterConfig(config, { MESHCACHE_SECRET: '' })).toThrow(
        /"secret \(from MESHCACHE_SECRET\)" is empty: put the secret in MESHCACHE_SECRET, or unset it/,
      );
    }
    // Unset is still no secret on loopback, and a secret in the config still wins over the variable.
    expect(resolveClusterConfig(loopback, {}).secret).toBeUndefined();
    expect(resolveClusterConfig({ ...loopback, secret: SECRET }, { MESHCACHE_SECRET: '' }).secret).toBe(SECRET);
  });

  it('refuses a listener host a URL would read as something else, naming the field; an IPv6 address in brackets is taken without (found by the outside attack)', () => {
    const host = (hostname: string) =>
      resolveClusterConfig({ ...base, secret: SECRET, peerListener: { hostname } }, {}).hostname;
    // '127.0.0.1/x' listened on port 80, ignoring peerListener.port; the others threw "Invalid URL" at start.
    for (const bad of [
      '127.0.0.1/x',
      '127.0.0.1?',
      '127.0.0.1#f',
      '127.0.0.1:5',
      '127.0.0.1 ',
      'not a host',
      '256.1.1.1',
      'a@b',
      'fe80::1%eth0',
      '[fe80::1%lo]',
    ]) {
      expect(() => host(bad)).toThrow(
        new RegExp(
          `option "peerListener.hostname" must be a host name or address .*got ${JSON.stringify(bad).replace(/[.?*+^$()[\]{}|\\]/g, '\\$&')}`,
        ),
      );
      expect(() => resolveClusterConfig({ ...base, http: { hostname: bad } }, {})).toThrow(/option "http.hostname"/);
    }
    expect(host('[::1]')).toBe('::1');
    expect(host('::1')).toBe('::1');
    expect(host('0.0.0.0')).toBe('0.0.0.0');
    expect(host('node-a.internal')).toBe('node-a.internal');
    expect(host('LOCALHOST')).toBe('LOCALHOST');
    // LOCALHOST is loopback: no secret needed there.
    expect(
      resolveClusterConfig({ name: 'n', cluster: 'c', peerListener: { hostname: 'LOCALHOST' } }, {}).secret,
    ).toBeUndefined();
  });

  it('refuses a secret with a lone surrogate, and admin secrets without a cluster secret (found by the outside attack)', () => {
    // 'ops-\uD800' and 'ops-\uDC00' differ as strings and are one key in UTF-8: a read-only secret opened the admin role.
    expect(() =>
      resolveClusterConfig({ ...base, secret: SECRET, adminSecret: 'ops-\uD800', readOnlySecret: 'ops-\uDC00' }, {}),
    ).toThrow(/option "adminSecret" has a lone surrogate/);
    // Without a cluster secret, anything reaching the loopback listener was a peer, able to clear every cache.
    const { secret: _none, ...noSecret } = base;
    expect(() => resolveClusterConfig({ ...noSecret, adminSecret: 'an admin secret' }, {})).toThrow(
      /option "adminSecret" needs a cluster secret/,
    );
    expect(() => resolveClusterConfig({ ...noSecret, readOnlySecret: 'a read-only secret' }, {})).toThrow(
      /option "readOnlySecret" needs a cluster secret/,
    );
    expect(
      resolveClusterConfig({ ...noSecret, adminSecret: 'an admin secret' }, { MESHCACHE_SECRET: 'from the env' })
        .adminSecret,
    ).toBe('an admin secret');
  });

  it('reads adminSecret and readOnlySecret from files (adminSecretFile, readOnlySecretFile), as secretFile, each error naming the field (helper-119: admin credentials could only be written in the config)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-admin-secrets-'));
    try {
      const file = (name: string, text: string | Buffer) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      const admin = file('admin', `${'a'.repeat(40)}\n`);
      const readOnly = file('read-only', 'r'.repeat(40));
      const offLoopback = { ...base, secret: SECRET, peerListener: { hostname: '0.0.0.0' } };
      const resolved = resolveClusterConfig(
        { ...offLoopback, adminSecretFile: admin, readOnlySecretFile: readOnly },
        {},
      );
      expect([resolved.adminSecret, resolved.readOnlySecret]).toEqual(['a'.repeat(40), 'r'.repeat(40)]);
      const refused = (config: ClusterConfig, message: RegExp) =>
        expect(() => resolveClusterConfig(config, {})).toThrow(message);
      refused(
        { ...offLoopback, adminSecret: 'x'.repeat(40), adminSecretFile: admin },
        /option "adminSecret" and adminSecretFile are both set/,
      );
      refused({ ...offLoopback, adminSecretFile: join(dir, 'missing') }, /option "adminSecretFile" cannot be read/);
      refused({ ...offLoopback, readOnlySecretFile: file('empty', '') }, /option "readOnlySecretFile" is empty/);
      refused(
        { ...offLoopback, adminSecretFile: file('binary', Buffer.alloc(40, 0x80)) },
        /option "adminSecretFile" is not UTF-8 text/,
      );
      refused(
        { ...offLoopback, readOnlySecretFile: file('short', 'short') },
        /option "readOnlySecretFile" is 5 bytes; off loopback/,
      );
      refused(
        { ...offLoopback, adminSecretFile: admin, readOnlySecretFile: admin },
        /option "readOnlySecretFile" must differ/,
      );
      const { secret: _none, ...noSecret } = base;
      refused({ ...noSecret, adminSecretFile: admin }, /option "adminSecretFile" needs a cluster secret/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an allowedOrigins entry no browser Origin header can equal, naming it and the origin it likely means', () => {
    const listener = (allowedOrigins: string[]) => ({ ...base, peerListener: { allowedOrigins } });
    // Compared with the header as sent: these were taken, matched nothing, and the page got 403.
    for (const [entry, meant] of [
      ['https://ops.example.com/', 'https://ops.example.com'],
      ['https://OPS.example.com', 'https://ops.example.com'],
      ['https://ops.example.com:443', 'https://ops.example.com'],
      ['http://ops.example.com:8080/console', 'http://ops.example.com:8080'],
    ]) {
      expect(() => resolveClusterConfig(listener(['https://a.example', entry as string]), {})).toThrow(
        `option "peerListener.allowedOrigins[1]" must be an origin as a browser sends it: scheme://host[:port], lower case, no path or default port (such as "https://ops.example.com"), got ${JSON.stringify(entry)}; did you mean ${JSON.stringify(meant)}?`,
      );
    }
    for (const entry of ['ops.example.com', 'localhost:3000']) {
      expect(() => resolveClusterConfig(listener([entry]), {})).toThrow(
        `option "peerListener.allowedOrigins[0]" must be an origin as a browser sends it: scheme://host[:port], lower case, no path or default port (such as "https://ops.example.com"), got ${JSON.stringify(entry)}`,
      );
    }
    // A browser extension's page sends its own scheme's origin, which URL does not normalise.
    const taken = [
      'https://ops.example.com',
      'http://127.0.0.1:8080',
      'http://[::1]:3000',
      'null',
      'chrome-extension://abcdefgh',
    ];
    expect(resolveClusterConfig(listener(taken), {}).allowedOrigins).toEqual(taken);
  });

  it('refuses a blank node or cluster name, as a blank cache name is refused (found by the outside attack)', () => {
    expect(() => resolveClusterConfig({ ...base, name: '   ' }, {})).toThrow(
      /option "name" must be a non-empty string/,
    );
    expect(() => resolveClusterConfig({ ...base, cluster: ' ' }, {})).toThrow(
      /option "cluster" must be a non-empty string/,
    );
  });

  it('refuses null for a field instead of taking its default, naming it (found by the outside attack)', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ peerListener: { port: null } }, /option "peerListener.port" must be a port number .*got null/],
      [{ peerListener: { hostname: null } }, /option "peerListener.hostname" .*got null/],
      [{ peerListener: { socketTimeoutMillis: null } }, /option "peerListener.socketTimeoutMillis" .*got null/],
      [{ peerListener: { maxPendingConnections: null } }, /option "peerListener.maxPendingConnections" .*got null/],
      [{ peerListener: { allowedOrigins: null } }, /option "peerListener.allowedOrigins"/],
      [{ peerListener: null }, /option "peerListener" must be an object/],
      [{ http: { port: null } }, /option "http.port" .*got null/],
      [{ secret: null }, /option "secret" must be a non-empty string/],
      [{ acceptedSecrets: null }, /option "acceptedSecrets"/],
      [
        { peerDiscovery: { mode: 'dns', name: 'peers.internal', port: null } },
        /option "peerDiscovery.port" .*got null/,
      ],
      [{ peerDiscovery: { mode: 'manual', peers: null } }, /option "peerDiscovery.peers"/],
      [
        { backplane: { type: 'redis', url: 'redis://127.0.0.1:6379', heartbeatMillis: null } },
        /option "backplane.heartbeatMillis" .*got null/,
      ],
      [
        { backplane: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: null } },
        /option "backplane.keyPrefix"/,
      ],
      [
        { backplane: { type: 'redis', url: 'redis://127.0.0.1:6379/abc' } },
        /option "backplane.url" names database "abc"; a database is a number/,
      ],
      [
        { backplane: { type: 'redis', url: 'redis://127.0.0.1:6379/0?db=x' } },
        /option "backplane.url" names database "x"/,
      ],
      [{ backplane: { type: 'redis', url: 'redis://127.0.0.1:0' } }, /option "backplane.url" names port 0/],
      [
        { backplane: { type: 'redis', url: 'redis://127.0.0.1:6379/1?db=2' } },
        /option "backplane.url" names two databases, 1 in its path and 2 in \?db=/,
      ],
      [
        { tombstoneRetentionSeconds: Number.POSITIVE_INFINITY },
        /option "tombstoneRetentionSeconds" must be a number of seconds >= 0, got Infinity/,
      ],
    ];
    for (const [fields, error] of cases) expect(() => resolveClusterConfig({ ...base, ...fields }, {})).toThrow(error);
    const db = (url: string) => resolveClusterConfig({ ...base, backplane: { type: 'redis', url } }, {}).backplane?.db;
    expect([
      db('redis://127.0.0.1'),
      db('redis://127.0.0.1/'),
      db('redis://127.0.0.1/3'),
      db('redis://127.0.0.1?db=4'),
    ]).toEqual([0, 0, 3, 4]);
  });

  it('refuses tombstones that would not outlive the backplane replay window plus the drift bound (found by the outside attack)', () => {
    const backplane = { type: 'redis', url: 'redis://127.0.0.1:6379', replayWindowSeconds: 240 };
    expect(() => resolveClusterConfig({ ...base, backplane, tombstoneRetentionSeconds: 10 }, {})).toThrow(
      /option "tombstoneRetentionSeconds" must be at least 300 with a backplane \(backplane.replayWindowSeconds 240 plus 60 s/,
    );
    expect(
      resolveClusterConfig({ ...base, backplane, tombstoneRetentionSeconds: 300 }, {}).tombstoneRetentionSeconds,
    ).toBe(300);
    // The default window (120 s) and the default retention (absent: 300 s) agree; without a backplane any retention goes.
    expect(() =>
      resolveClusterConfig(
        { ...base, backplane: { ...backplane, replayWindowSeconds: 120 }, tombstoneRetentionSeconds: 179 },
        {},
      ),
    ).toThrow(/at least 180/);
    expect(resolveClusterConfig({ ...base, tombstoneRetentionSeconds: 0 }, {}).tombstoneRetentionSeconds).toBe(0);
  });

  it('leaves the operator endpoint off unless configured; loopback and port 9464 by default', () => {
    expect(resolveClusterConfig(base, {}).http).toBeUndefined();
    expect(resolveClusterConfig({ ...base, http: {} }, {}).http).toEqual({ hostname: '127.0.0.1', port: 9464 });
    expect(resolveClusterConfig({ ...base, http: { hostname: '0.0.0.0', port: 0 } }, {}).http).toEqual({
      hostname: '0.0.0.0',
      port: 0,
    });
    expect(() => resolveClusterConfig({ ...base, peerListener: { port: 9464 }, http: {} }, {})).toThrow(
      /option "http.port" is the peer port \(peerListener.port 9464\)/,
    );
  });

  it('takes a peer URL that names the default port of its scheme (ws://gw:80)', () => {
    const peers = (list: string[]) =>
      resolveClusterConfig({ ...base, peerDiscovery: { mode: 'manual', peers: list }, caches }, {}).discovery;
    expect(peers(['ws://10.0.0.1:80', 'ws://10.0.0.2:80/Response%20Cache'])).toEqual({
      mode: 'manual',
      peers: [
        { url: 'ws://10.0.0.1', cache: undefined },
        { url: 'ws://10.0.0.2', cache: 'Response Cache' },
      ],
    });
  });

  it('parses peer URLs with a cache path, and names cache errors by their field', () => {
    const resolved = resolveClusterConfig(
      { ...base, peerDiscovery: { mode: 'manual', peers: ['ws://h:1/Response%20Cache', 'ws://h:2'] }, caches },
      {},
    );
    expect(resolved.discovery).toEqual({
      mode: 'manual',
      peers: [
        { url: 'ws://h:1', cache: 'Response Cache' },
        { url: 'ws://h:2', cache: undefined },
      ],
    });
    expect(() =>
      resolveClusterConfig({ ...base, caches: { c: { replication: { replicatePuts: 'yes' } } } }, {}),
    ).toThrow(/cache "c": field "replication.replicatePuts"/);
  });
});
