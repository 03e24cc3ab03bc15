/**
 * The Redis Streams backplane with a real redis-server (started here on a free port, stopped by
 * pid): ClusterNodes in this process replicate through it, nothing mocked.
 *
 * CI runs the short forms; MESHCACHE_BACKPLANE_FULL=1 (npm run test:backplane:full) runs the full
 * ones: a joiner of 100,000 entries instead of 20,000, Redis unreachable for 30 s instead of 5 s.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { type Scheduler, systemScheduler } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualClock } from '@meshcache/core/testing';
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EntrySealer, KIND_CONTROL, KIND_MESSAGE } from '../src/backplane/entry-seal.js';
import { encodePresence } from '../src/backplane/members.js';
import { encodeEntry } from '../src/backplane/redis-backplane.js';
import { LAG_HELD_MILLIS } from '../src/held-lag.js';
import { type ClusterConfig, ClusterNode, type ClusterNodeOptions, type ReplicationConfig } from '../src/index.js';
import { WireCodec } from '../src/internals.js';
import { registerMeshcacheMetrics } from '../src/metrics.js';
import { type Message, MessageType } from '../src/protocol/messages.js';
import { derivePsk } from '../src/security/keyring.js';
import { cacheContents, nodeCache, SECRET, until } from './nodes.js';
import { recordPrefetches } from './prefetches.js';
import { parsePrometheusText, sampleValue } from './prometheus-text.js';
import { backplaneNodeConfig, RedisLink, RedisServer, type RedisServerOptions } from './redis-server.js';
import { makeTestPki } from './tls-certs.js';

const FULL = process.env['MESHCACHE_BACKPLANE_FULL'] === '1';
const CACHE = 'Response Cache';

const servers: RedisServer[] = [];
const nodes: ClusterNode[] = [];
const clients: Redis[] = [];
const links: RedisLink[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop();
  for (const client of clients.splice(0)) client.disconnect();
  for (const link of links.splice(0)) await link.close();
});
afterAll(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function redisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const server = await RedisServer.start(options);
  servers.push(server);
  return server;
}

/** Logs kept in memory, to check what a node said. */
function memoryLogger() {
  const lines: Array<{ level: string; msg: string; obj: unknown }> = [];
  const at = (level: string) => (obj: unknown, msg: string) => lines.push({ level, msg, obj });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: () => {} } };
}

async function node(
  name: string,
  server: RedisServer,
  overrides: Partial<ClusterConfig> = {},
  options: ClusterNodeOptions = {},
  replication: ReplicationConfig = {},
): Promise<ClusterNode> {
  const started = await ClusterNode.start(
    {
      ...backplaneNodeConfig(name, server.url, CACHE, {
        asynchronousReplicationIntervalMillis: 20,
        repairIntervalMillis: 1000,
        ...replication,
      }),
      ...overrides,
    },
    options,
  );
  nodes.push(started);
  return started;
}

const cacheOf = (node: ClusterNode) => nodeCache(node, CACHE);
/** Every key and value of the cache, sorted: equal on every node once they converged. */
const contents = (node: ClusterNode) => cacheContents(node, CACHE);

async function converged(of: ClusterNode[], what: string, timeoutMs = 20_000): Promise<void> {
  try {
    await until(() => of.every((n) => contents(n) === contents(of[0] as ClusterNode)), what, timeoutMs);
  } catch (error) {
    const figures = of.map((n) => ({ node: n.id, size: cacheOf(n).size, backplane: n.backplane() }));
    throw new Error(`${(error as Error).message}: ${JSON.stringify(figures)}`);
  }
}

/** The system's scheduler, but a wait of half a minute or more passes at once, and now() skips its time. */
function hurried(): Scheduler {
  let skipped = 0;
  return {
    ...systemScheduler,
    now: () => systemScheduler.now() + skipped,
    setTimeout: (task, millis) => {
      if (millis < 30_000) return systemScheduler.setTimeout(task, millis);
      return systemScheduler.setTimeout(() => {
        skipped += millis;
        task();
      }, 100);
    },
  };
}

/**
 * A member named "ghost" that the test plays: its presence record (sealed with the cluster's
 * secret) is written every 100 ms, so nodes see it live; it answers nothing by itself. Stop
 * `beating` (clearInterval) at the end.
 */
async function ghostMember(server: RedisServer, options: { readonly addressed?: boolean } = {}) {
  const writer = new Redis(server.url);
  clients.push(writer);
  const members = 'meshcache:{gateways}:members';
  const ghost = new EntrySealer({ cluster: 'gateways', writer: 'ghost', psks: [await derivePsk(SECRET)] });
  const record = encodePresence({
    incarnation: ghost.incarnationHex,
    url: '',
    caches: [CACHE],
    heartbeatMillis: 200,
    addressed: options.addressed === true,
  });
  const beat = () => writer.hset(members, 'ghost', ghost.seal(KIND_CONTROL, record, members, Date.now()));
  await beat();
  const beating = setInterval(() => void beat().catch(() => {}), 100);
  const inbox = 'meshcache:{gateways}:inbox:ghost';
  const write = (node: string, kind: typeof KIND_MESSAGE | typeof KIND_CONTROL, plaintext: Uint8Array, to?: Buffer) => {
    const where = `meshcache:{gateways}:inbox:${node}`;
    return writer.xadd(where, '*', 'm', ghost.seal(kind, plaintext, where, Date.now(), to));
  };
  const opened = async (after: string) =>
    (await writer.xrangeBuffer(inbox, `(${after}`, '+')).map(([, fields]) => ghost.open(fields[1] as Buffer, inbox));
  return {
    beating,
    incarnation: ghost.incarnationHex,
    /** Writes a repair message to `node`'s inbox, sealed by the ghost; addressed to its incarnation `to`, if given. */
    send: (node: string, message: Message, to?: Buffer) => write(node, KIND_MESSAGE, encodeEntry(message), to),
    /** The incarnation each message the nodes wrote to the ghost's inbox after `after` was addressed to (undefined: none). */
    addresses: async (after = '0') => (await opened(after)).map(({ to }) => to),
    /** Asks `node` for its digests of `caches`, as a member's repair does. */
    offer: (node: string, caches: string[]) =>
      write(node, KIND_CONTROL, new Packr({ useRecords: false }).pack({ op: 'offer', caches })),
    /** The id of the last entry in the ghost's inbox, or '0' for none: received(after) reads past it. */
    lastReceived: async () => (await writer.xrevrange(inbox, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0',
    /** What the nodes wrote to the ghost's inbox after the entry `after`: repair messages, and offers (control). */
    received: async (after = '0') =>
      (await opened(after)).map(({ header, plaintext }) =>
        header.kind === KIND_CONTROL
          ? (new Packr({ useRecords: false }).unpack(plaintext) as { op: string; caches: string[] })
          : new WireCodec().decode(plaintext),
      ),
  };
}

const backplaneOf = (n: ClusterNode) => {
  const info = n.backplane();
  if (info === null) throw new Error('not on a backplane');
  return info;
};

describe('changes over the backplane', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await redisServer();
  });

  it('put, update, remove and removeAll reach every node; peers() shows the backplane, then the members', async () => {
    const [a, b, c] = [await node('a', server), await node('b', server), await node('c', server)];
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    cacheOf(a).put('k1', 'one');
    cacheOf(b).put('k2', { n: 2 });
    await until(() => [a, b, c].every((n) => cacheOf(n).get('k1') === 'one' && cacheOf(n).has('k2')), 'puts');
    cacheOf(c).put('k1', 'one, updated');
    await until(() => [a, b].every((n) => cacheOf(n).get('k1') === 'one, updated'), 'the update');
    cacheOf(a).remove('k2');
    await until(() => [b, c].every((n) => !cacheOf(n).has('k2')), 'the removal');
    expect(
      replicaPortOf(cacheOf(c))
        .tombstones()
        .map((t) => t.key),
    ).toContain('k2');
    cacheOf(b).put('k3', 3);
    await until(() => cacheOf(a).has('k3'), 'k3');
    cacheOf(a).removeAll();
    await until(() => [a, b, c].every((n) => cacheOf(n).size === 0), 'removeAll');

    // Connected, not suspect: a member whose heartbeat (every 200 ms) came late on a loaded
    // machine shows as suspect for that moment, as it should; a check of one moment failed so.
    await until(
      () => a.peers().length === 3 && a.peers().every((peer) => peer.state === 'connected'),
      'two members seen by a, each connected',
    );
    const [line, ...members] = a.peers();
    expect(line).toMatchObject({ id: 'backplane', foundBy: 'backplane', state: 'connected' });
    expect(line?.backplane).toMatchObject({
      type: 'redis',
      state: 'connected',
      stream: 'meshcache:{gateways}:changes',
    });
    expect(line?.backplane?.lastId).toMatch(/^\d+-\d+$/);
    expect(typeof line?.backplane?.lag).toBe('number');
    expect(members.map((m) => m.id).sort()).toEqual(['b', 'c']);
    expect(members.every((m) => m.url.startsWith('ws://'))).toBe(true);
    expect(a.replicationStatistics(CACHE)).toMatchObject({ backplane: { type: 'redis' } });

    const registry = new Registry();
    registerMeshcacheMetrics(a, registry);
    const families = parsePrometheusText(await registry.metrics());
    expect(sampleValue(families, 'meshcache_backplane_state', { state: 'connected' })).toBe(1);
    expect(sampleValue(families, 'meshcache_backplane_state', { state: 'down' })).toBe(0);
    expect(sampleValue(families, 'meshcache_backplane_members')).toBe(2);
    const info = backplaneOf(a);
    expect(sampleValue(families, 'meshcache_backplane_entries_total', { direction: 'written' })).toBe(
      info.entriesWritten,
    );
    expect(info.entriesWritten).toBeGreaterThan(0);
    expect(sampleValue(families, 'meshcache_backplane_entries_total', { direction: 'read' })).toBe(info.entriesRead);
    expect(sampleValue(families, 'meshcache_backplane_entries_refused_total', { reason: 'replayed' })).toBe(0);
    // The peer families list what peers() lists (docs/observability.md): the backplane, then the members.
    expect(sampleValue(families, 'meshcache_peer_info', { peer: 'backplane', found_by: 'backplane' })).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_state', { peer: 'backplane', state: 'connected' })).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_info', { peer: 'b', found_by: 'backplane' })).toBe(1);
  });

  it('peers() and /metrics show the changes queued for the stream (they showed 0 whatever was queued)', async () => {
    const other = await node('other', server);
    await other.ready();
    const slow = await node('slow', server, {}, {}, { asynchronousReplicationIntervalMillis: 60_000 });
    await slow.ready(); // after a repair from other: messages to its inbox
    for (const key of ['q1', 'q2', 'q3']) cacheOf(slow).put(key, key);
    const [line] = slow.peers();
    expect(line).toMatchObject({ id: 'backplane', queuedChanges: 3 });
    expect(line?.queuedBytes).toBeGreaterThan(0);
    const registry = new Registry();
    registerMeshcacheMetrics(slow, registry);
    expect(
      sampleValue(parsePrometheusText(await registry.metrics()), 'meshcache_peer_queued_changes', {
        peer: 'backplane',
      }),
    ).toBe(3);
    // Sent: three changes in one entry of the changes stream; what its start-up repair wrote to
    // inboxes counts in neither (it did: 1 change sent showed as 3).
    await slow.settle();
    expect(slow.peers()[0]).toMatchObject({ queuedChanges: 0, changesSent: 3 });
    expect(backplaneOf(slow).entriesWritten).toBe(1);
  });

  it('synchronous mode: settle() resolves once Redis has the change, and names the backplane', async () => {
    const sync = { replicateAsynchronously: false };
    const [a, b] = [await node('a', server, {}, {}, sync), await node('b', server, {}, {}, sync)];
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('revoked-token', 'gone soon');
    expect(await a.settle()).toEqual({ [CACHE]: { acknowledged: ['(backplane)'], timedOut: [] } });
    await until(() => cacheOf(b).has('revoked-token'), 'the put on b');
    cacheOf(b).remove('revoked-token');
    await b.settle();
    await until(() => !cacheOf(a).has('revoked-token'), 'the removal on a');
  });

  it('reads ahead the keys of a batch read from the stream before applying it, and applies every change', async () => {
    const [a, b] = [await node('ahead-a', server), await node('ahead-b', server)];
    await Promise.all([a.ready(), b.ready()]);
    const prefetched = recordPrefetches(cacheOf(b));
    const keys = Array.from({ length: 100 }, (_, i) => `ahead:${i}`);
    for (const key of keys) cacheOf(a).put(key, key.length);
    await until(() => keys.every((key) => cacheOf(b).get(key) === key.length), 'the batch on b');
    expect(prefetched.flat()).toEqual(keys);
  });

  it("shows the backplane's lag, and each member's, for a minute after the last batch read, then none", async () => {
    let ahead = 0; // how far b's clock has moved on, as if the stream had sat idle that long
    const a = await node('lag-a', server);
    const b = await node('lag-b', server, {}, { clock: () => Date.now() + ahead });
    await Promise.all([a.ready(), b.ready()]);
    const member = () => b.peers().find((peer) => peer.id === 'lag-a');
    await until(() => member() !== undefined, 'a seen by b');
    cacheOf(a).put('lag', 1);
    await until(() => cacheOf(b).get('lag') === 1, 'the put on b');
    expect(backplaneOf(b).lagMillis).toEqual(expect.any(Number));
    expect(member()?.lagMillis).toEqual(expect.any(Number));
    ahead = LAG_HELD_MILLIS + 1000;
    expect(backplaneOf(b).lagMillis).toBeNull();
    expect(member()?.lagMillis).toBeNull();
    // Absent from /metrics too, as its help says, not a healthy-looking 0 (found by the outside review).
    const registry = new Registry();
    registerMeshcacheMetrics(b, registry);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE meshcache_backplane_lag_seconds gauge');
    expect(text).not.toMatch(/^meshcache_backplane_lag_seconds /m);
    expect(text).not.toMatch(/^meshcache_peer_lag_seconds\{peer="lag-a"\}/m);
    // Their help said only "absent before the first": a dashboard's reader took the gap for a fault.
    for (const family of ['meshcache_backplane_lag_seconds', 'meshcache_peer_lag_seconds']) {
      expect(text).toMatch(new RegExp(`^# HELP ${family} .*absent before the first, and a minute after the last`, 'm'));
    }
  });

  it('TTL counts from the writer’s createdAt on every node, and an expiry found on one node reaches the others', async () => {
    const clock = new ManualClock(Date.now());
    const options = { clock: clock.now };
    const [a, b] = [await node('a', server, {}, options), await node('b', server, {}, options)];
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('ttl', 'short-lived', { timeToLiveSeconds: 2 });
    cacheOf(a).put('tti', 'idle', { timeToIdleSeconds: 1 });
    await until(() => cacheOf(b).has('ttl') && cacheOf(b).has('tti'), 'both on b');
    expect(cacheOf(b).peekEntry('ttl')?.createdAt).toBe(cacheOf(a).peekEntry('ttl')?.createdAt);
    clock.advance(800);
    expect(cacheOf(b).get('tti')).toBe('idle'); // read on b: idle there since now, not on a
    clock.advance(600);
    expect(cacheOf(a).get('tti')).toBeUndefined(); // a finds it expired, and says so
    await until(() => !cacheOf(b).has('tti'), 'the expiry on b');
    clock.advance(700);
    expect(cacheOf(a).get('ttl')).toBeUndefined();
    expect(cacheOf(b).get('ttl')).toBeUndefined(); // the same moment on both, no message needed
  });

  it('concurrent writes to the same keys converge on every node', async () => {
    const all = [await node('a', server), await node('b', server), await node('c', server)];
    await Promise.all(all.map((n) => n.ready()));
    for (let round = 0; round < 5; round++) {
      for (const [i, n] of all.entries()) {
        for (let k = 0; k < 100; k++) cacheOf(n).put(`key-${k}`, `${n.id}-${round}-${i}`);
        if (round === 3) cacheOf(n).remove(`key-${i}`);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await converged(all, 'the same contents everywhere');
    expect(cacheOf(all[0] as ClusterNode).size).toBeGreaterThan(90);
  });

  it(`a late joiner gets ${FULL ? '100,000' : '20,000'} entries by repair, and then the live changes`, async () => {
    const count = FULL ? 100_000 : 20_000;
    const a = await node('a', server);
    const b = await node('b', server);
    await Promise.all([a.ready(), b.ready()]);
    for (let i = 0; i < count; i++) cacheOf(a).put(`entry-${i}`, { i, body: 'x'.repeat(100) });
    await until(() => cacheOf(b).size === count, 'b holds every entry', 60_000);
    const joiner = await node('joiner', server);
    await joiner.ready();
    await until(() => cacheOf(joiner).size === count, 'the joiner holds every entry', 120_000);
    cacheOf(b).put('after', 'live');
    await until(() => cacheOf(joiner).get('after') === 'live', 'a live change on the joiner');
    expect(backplaneOf(joiner).repairs).toBeGreaterThan(0);
    await converged([a, b, joiner], 'the joiner equal to the others', 60_000);
  }, 180_000);
});

describe('Redis comes and goes', () => {
  it('restarted empty mid-stream: the nodes find the gap, repair, and converge', async () => {
    const server = await redisServer();
    const all = [await node('a', server), await node('b', server), await node('c', server)];
    await Promise.all(all.map((n) => n.ready()));
    for (let i = 0; i < 300; i++) cacheOf(all[i % 3] as ClusterNode).put(`before-${i}`, i);
    await server.stop();
    for (let i = 0; i < 300; i++) cacheOf(all[i % 3] as ClusterNode).put(`during-${i}`, i); // served locally
    expect(cacheOf(all[0] as ClusterNode).get('during-0')).toBe(0);
    await server.start();
    for (let i = 0; i < 300; i++) cacheOf(all[i % 3] as ClusterNode).put(`after-${i}`, i);
    await converged(all, 'every node equal after the restart', 30_000);
    expect(cacheOf(all[1] as ClusterNode).size).toBe(900);
    expect(all.every((n) => backplaneOf(n).gaps >= 1)).toBe(true); // a new stream: a gap, not a replay
  }, 60_000);

  it('restarted with its data (AOF): the nodes read on from their last id, no gap', async () => {
    const server = await redisServer({ appendonly: true });
    const all = [await node('a', server), await node('b', server)];
    await Promise.all(all.map((n) => n.ready()));
    for (let i = 0; i < 200; i++) cacheOf(all[i % 2] as ClusterNode).put(`before-${i}`, i);
    await converged(all, 'equal before');
    await server.stop();
    for (let i = 0; i < 200; i++) cacheOf(all[i % 2] as ClusterNode).put(`during-${i}`, i);
    await server.start();
    await converged(all, 'equal after the restart', 30_000);
    expect(cacheOf(all[0] as ClusterNode).size).toBe(400);
    expect(all.map((n) => backplaneOf(n).gaps)).toEqual([0, 0]);
  }, 60_000);

  it('down when a node starts: the node starts and serves, and joins once Redis comes', async () => {
    const server = await redisServer();
    const a = await node('a', server);
    await a.ready();
    cacheOf(a).put('from-a', 1);
    await server.stop();
    const b = await node('b', server);
    await b.ready(); // does not wait for a Redis that does not answer
    expect(backplaneOf(b).state).not.toBe('connected');
    cacheOf(b).put('from-b', 2);
    expect(cacheOf(b).get('from-b')).toBe(2);
    await server.start();
    await until(() => backplaneOf(b).state === 'connected', 'b connected', 20_000);
    await converged([a, b], 'a and b equal', 30_000);
    expect(cacheOf(b).get('from-a')).toBe(1);
    expect(cacheOf(a).get('from-b')).toBe(2);
  }, 60_000);

  it(`unreachable for ${FULL ? 30 : 5} s while every node keeps writing and reading locally; then they converge`, async () => {
    const server = await redisServer();
    const all = [await node('a', server), await node('b', server), await node('c', server)];
    await Promise.all(all.map((n) => n.ready()));
    cacheOf(all[0] as ClusterNode).put('before', 1);
    await until(() => all.every((n) => cacheOf(n).has('before')), 'before');
    server.pause();
    const outage = Date.now() + (FULL ? 30_000 : 5_000);
    let written = 0;
    for (let round = 0; round < 100_000 && Date.now() < outage; round++) {
      for (const n of all) {
        cacheOf(n).put(`${n.id}-${round}`, round);
        expect(cacheOf(n).get(`${n.id}-${round}`)).toBe(round); // served locally
        expect(cacheOf(n).get('before')).toBe(1);
        written++;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await until(() => all.every((n) => backplaneOf(n).state === 'down'), 'the backplane shown down');
    server.resume();
    await until(() => all.every((n) => backplaneOf(n).state === 'connected'), 'connected again', 20_000);
    await converged(all, 'every node holds every write', 60_000);
    expect(cacheOf(all[2] as ClusterNode).size).toBe(written + 1);
  }, 120_000);
});

describe('connecting', () => {
  it('rediss:// with an ACL user and password, and the CA of the server’s certificate', async () => {
    const pki = await makeTestPki();
    try {
      const server = await redisServer({
        user: { name: 'meshcache', password: 'a-redis-password' },
        tls: { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile },
      });
      expect(server.url).toMatch(/^rediss:\/\/meshcache:a-redis-password@127\.0\.0\.1:\d+$/);
      const backplane = { type: 'redis' as const, url: server.url, caFile: pki.caFile, heartbeatMillis: 200 };
      const a = await node('a', server, { backplane });
      const b = await node('b', server, { backplane });
      await Promise.all([a.ready(), b.ready()]);
      cacheOf(a).put('over tls', 'yes');
      await until(() => cacheOf(b).get('over tls') === 'yes', 'the put on b, through TLS');
      expect(backplaneOf(a).url).toMatch(/^rediss:\/\/meshcache:\*\*\*@127\.0\.0\.1:\d+/); // no password shown
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  it('redis:// with the password of the default user; a wrong password leaves the node serving, shown down', async () => {
    const server = await redisServer({ password: 'the default password' });
    const a = await node('a', server);
    const b = await node('b', server);
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('authed', 1);
    await until(() => cacheOf(b).get('authed') === 1, 'the put on b');
    const wrong = server.url.replace('the%20default%20password', 'wrong');
    const c = await node('c', server, { backplane: { type: 'redis', url: wrong, heartbeatMillis: 200 } });
    await c.ready();
    cacheOf(c).put('local', 'still served');
    expect(cacheOf(c).get('local')).toBe('still served');
    await until(() => backplaneOf(c).state === 'down', "the backplane shown down (not 'connecting' for ever)");
  });
});

describe('a wrong password, as the log says it', () => {
  it('one error naming backplane.url and what Redis said (WRONGPASS, NOAUTH), not "unreachable"', async () => {
    const server = await redisServer({ password: 'the right one' });
    const urls = {
      wrong: `redis://:hunter2@127.0.0.1:${server.port}/0`,
      none: `redis://127.0.0.1:${server.port}/0`,
    };
    for (const [name, url] of Object.entries(urls)) {
      const { lines, logger } = memoryLogger();
      const c = await node(name, server, { backplane: { type: 'redis', url, heartbeatMillis: 200 } }, { logger });
      await c.ready();
      await until(() => backplaneOf(c).state === 'down', `${name}: the backplane shown down`);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // a few retries, said once
      const said = lines.filter((line) => line.msg.startsWith('backplane: Redis'));
      expect(said.map((line) => [line.level, line.msg])).toEqual([
        [
          'error',
          expect.stringMatching(
            /^backplane: Redis refused the user or password of backplane\.url \((WRONGPASS|NOAUTH) .*\); serving from local caches and retrying: correct the password/,
          ),
        ],
      ]);
    }
  });
});

describe('a password rotated while Redis was away', () => {
  it('is said as refused once Redis is back, after "unreachable" while it was away', async () => {
    const server = await redisServer({ password: 'before' });
    const { lines, logger } = memoryLogger();
    const a = await node('a', server, {}, { logger });
    await a.ready();
    await until(() => backplaneOf(a).state === 'connected', 'the backplane connected');
    await server.stop();
    const said = () => lines.filter((line) => line.msg.startsWith('backplane: Redis')).map((line) => line.level);
    await until(() => said().length === 1, 'Redis said unreachable');
    // Back on the same port, its password changed meanwhile.
    const rotated = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(server.port),
        '--dir',
        server.dir,
        '--save',
        '',
        '--requirepass',
        'after',
      ],
      { stdio: 'ignore' },
    );
    try {
      await until(() => said().length === 2, 'Redis said refusing the password', 10_000);
      expect(lines.filter((line) => line.msg.startsWith('backplane: Redis')).map((line) => line.msg)).toEqual([
        'backplane: Redis unreachable; serving from local caches and retrying',
        expect.stringMatching(/^backplane: Redis refused the user or password of backplane\.url \(WRONGPASS /),
      ]);
      expect(backplaneOf(a).state).toBe('down');
    } finally {
      await a.stop();
      rotated.kill('SIGTERM');
      await new Promise((resolve) => (rotated.exitCode === null ? rotated.once('exit', resolve) : resolve(undefined)));
    }
  });
});

describe('the error a log line carries', () => {
  it("never holds AUTH's password: ioredis puts the command's arguments on the error, and pino prints them", async () => {
    const server = await redisServer({ password: 'the right one' });
    const { lines, logger } = memoryLogger();
    const url = `redis://:hunter2@127.0.0.1:${server.port}/0`;
    const c = await node('c', server, { backplane: { type: 'redis', url, heartbeatMillis: 200 } }, { logger });
    await c.ready();
    await until(() => backplaneOf(c).state === 'down', 'the backplane shown down');
    const said = lines.find((line) => line.msg.startsWith('backplane: Redis refused'));
    // What pino's err serializer keeps: every enumerable field (JSON.stringify keeps the same).
    expect(JSON.stringify(said?.obj)).toMatch(/"command":"auth"/);
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect((said?.obj as { err?: Error } | undefined)?.err?.message).toMatch(/^WRONGPASS/);
  });
});

describe('an ACL user with the commands docs/backplane.md lists, and no more', () => {
  it('replicates, in database 3, and no heartbeat or read is refused', async () => {
    const server = await redisServer({ password: 'admin' });
    const docs = readFileSync(new URL('../../../docs/backplane.md', import.meta.url), 'utf8');
    const line = docs.split('\n').find((text) => text.trim().startsWith('ACL SETUSER meshcache on >PASSWORD'));
    expect(line).toBeDefined();
    const [, , ...rules] = (line ?? '').trim().replace('>PASSWORD', '>acl-password').split(/\s+/);
    const admin = new Redis(server.url);
    clients.push(admin);
    await admin.call('ACL', 'SETUSER', ...rules);
    const url = `redis://meshcache:acl-password@127.0.0.1:${server.port}/3`;
    const { lines, logger } = memoryLogger();
    const a = await node('a', server, { backplane: { type: 'redis', url, heartbeatMillis: 200 } }, { logger });
    const b = await node('b', server, { backplane: { type: 'redis', url, heartbeatMillis: 200 } });
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('through the ACL user', 1);
    await until(() => cacheOf(b).get('through the ACL user') === 1, 'the put on b');
    await until(() => backplaneOf(b).members === 1, 'a seen live by b');
    expect(lines.filter((said) => said.level !== 'info').map((said) => said.msg)).toEqual([]);
    expect(await admin.select(3).then(() => admin.exists('meshcache:{gateways}:changes'))).toBe(1);
  });
});

describe('a mesh node that lists a backplane node', () => {
  it('is refused with one warning a minute, and backs off instead of redialling at once', async () => {
    const server = await redisServer();
    const b = memoryLogger();
    const onBackplane = await node('b', server, {}, { logger: b.logger });
    await onBackplane.ready();
    const a = memoryLogger();
    const mesh = await ClusterNode.start(
      {
        name: 'a',
        cluster: 'gateways',
        secret: SECRET,
        peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
        peerDiscovery: { mode: 'manual', peers: [onBackplane.url] },
        caches: { [CACHE]: { replication: {} } },
      },
      { logger: a.logger },
    );
    nodes.push(mesh);
    const connects = () => a.lines.filter((line) => line.msg === 'peer connected').length;
    await until(() => connects() >= 3, 'a few dials');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // Backing off from 100 ms doubling, about 6 dials in 3 s (fewer on a slow machine, never
    // more); redialled at once, as it was, about 30.
    expect(connects()).toBeLessThanOrEqual(12);
    expect(
      b.lines.filter(
        (line) =>
          line.level === 'warn' && line.msg.startsWith('a peer dialled a node that replicates through a backplane'),
      ),
    ).toHaveLength(1);
  });
});

describe('what the node shows of its Redis URL', () => {
  it('a password with # / ? in it: refused without showing it, and connects once percent-encoded as the error says', async () => {
    const password = 'hunter2#with/slash?and';
    const server = await redisServer({ password });
    // Written in the URL as it is: new URL() refuses it, and the error printed the whole URL.
    for (const url of [
      `redis://:${password}@127.0.0.1:${server.port}/0`,
      `redis://meshcache:${password}@127.0.0.1:${server.port}`,
      `redis://127.0.0.1:99999/0?password=hunter2`,
    ]) {
      const refused = await node('raw', server, { backplane: { type: 'redis', url } }).then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/option "backplane\.url" is not a URL: .*percent-encode # \/ \? @ : % and spaces/);
      expect(refused).not.toContain('hunter2');
    }
    // Percent-encoded (server.url does so), it is the password Redis asks for.
    expect(server.url).toContain('hunter2%23with%2Fslash%3Fand');
    const a = await node('a', server);
    const b = await node('b', server);
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('encoded', 1);
    await until(() => cacheOf(b).get('encoded') === 1, 'the put on b');
  });

  it('a password given as ?password= (ioredis takes it) is masked in peers(), /metrics and every log line', async () => {
    const password = 'hunter2 query password';
    const server = await redisServer({ password });
    const url = `redis://127.0.0.1:${server.port}/0?password=${encodeURIComponent(password)}&family=4`;
    const { lines, logger } = memoryLogger();
    const a = await node('a', server, { backplane: { type: 'redis', url, heartbeatMillis: 200 } }, { logger });
    await a.ready();
    cacheOf(a).put('k', 1);
    await until(() => backplaneOf(a).state === 'connected', 'the backplane to connect');
    const registry = new Registry();
    registerMeshcacheMetrics(a, registry);
    const shown = [JSON.stringify(a.peers()), await registry.metrics(), JSON.stringify(lines)].join('\n');
    expect(shown).not.toContain('hunter2');
    expect(a.peers()[0]?.url).toBe(`redis://127.0.0.1:${server.port}/0?password=***&family=***`);
  });
});

describe('Redis out of memory', () => {
  it('the heartbeat warning says OOM, not only that a transaction was discarded', async () => {
    const server = await redisServer();
    const { lines, logger } = memoryLogger();
    const a = await node('a', server, {}, { logger });
    await a.ready();
    const admin = new Redis(server.url);
    clients.push(admin);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    await until(() => lines.some((line) => line.level === 'warn' && /OOM/.test(line.msg)), 'a warning that names OOM');
    // A write refused: its warning's err says OOM too, and carries no command's arguments.
    cacheOf(a).put('refused for memory', 'x'.repeat(100));
    const failed = await until(
      () => lines.find((line) => line.msg.startsWith('backplane: a write to Redis failed')),
      'the write warning',
    );
    const err = (failed.obj as { err?: Error }).err;
    expect(err?.message).toMatch(/OOM/);
    expect(JSON.stringify(failed.obj)).not.toMatch(/"args"|refused for memory/);
    await admin.config('SET', 'maxmemory', '0');
  });
});

/**
 * Two nodes on a stream of 1,000 entries at most and without anti-entropy, so that only a gap's
 * repair brings back what one missed: `a` writes synchronously, `b` reads (its log watched).
 */
async function gapPair(server: RedisServer, aUrl: string, bUrl: string) {
  const watched = memoryLogger();
  const backplane = { type: 'redis' as const, heartbeatMillis: 200, replayWindowSeconds: 60, maxLength: 1000 };
  const repairOff = { repairIntervalMillis: 0 };
  const a = await node(
    'a',
    server,
    { backplane: { ...backplane, url: aUrl } },
    {},
    { ...repairOff, replicateAsynchronously: false },
  );
  const b = await node('b', server, { backplane: { ...backplane, url: bUrl } }, { logger: watched.logger }, repairOff);
  await Promise.all([a.ready(), b.ready()]);
  cacheOf(a).put('before', 'seen');
  await until(() => cacheOf(b).get('before') === 'seen', 'b reading');
  return { a, b, watched };
}

/** `b`'s link cut while `a` writes past maxLength (an entry each): back, `b` finds a gap. */
async function missPastMaxLength(a: ClusterNode, b: ClusterNode, bLink: RedisLink): Promise<void> {
  bLink.cut();
  await until(() => backplaneOf(b).state !== 'connected', 'b away');
  for (let i = 0; i < 3000; i++) cacheOf(a).put(`away:${i}`, i);
  await a.settle();
}

describe('what a Redis user without the secret can do', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await redisServer();
  });

  it('the generation key rewritten (SET) over the same stream: no gap, nothing read again, no replay counted', async () => {
    const own = await redisServer();
    const a = await node('a', own);
    const b = await node('b', own);
    await Promise.all([a.ready(), b.ready()]);
    for (let i = 0; i < 200; i++) cacheOf(a).put(`k${i}`, i);
    await until(() => cacheOf(b).size === 200, 'the writes on b');
    let seen = -1;
    await until(async () => {
      const read = backplaneOf(b).entriesRead + backplaneOf(a).entriesRead;
      const settled = read === seen;
      seen = read;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return settled;
    }, 'both nodes to have read what there is');
    const before = [a, b].map((n) => ({ ...backplaneOf(n) }));
    const intruder = new Redis(own.url);
    clients.push(intruder);
    for (let i = 0; i < 3; i++) {
      await intruder.set('meshcache:{gateways}:generation', `attacker-${i}`);
      // a heartbeat (200 ms) or two, so that each node probes the rewritten key
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    cacheOf(b).put('after', 'the SETs');
    await until(() => cacheOf(a).get('after') === 'the SETs', 'a write after the SETs');
    for (const [i, n] of [a, b].entries()) {
      const now = backplaneOf(n);
      expect(now.gaps).toBe(before[i]?.gaps);
      expect(now.refused).toEqual(before[i]?.refused);
      // Read: the one write after the SETs, and the heartbeats' own entries if any; not the stream again.
      expect(now.entriesRead - (before[i]?.entriesRead ?? 0)).toBeLessThan(20);
    }
  });

  it('after a generation key SET, a node away past maxLength finds an ordinary trim, not a new stream', async () => {
    const own = await redisServer();
    const link = await RedisLink.start(own);
    links.push(link);
    const { a, b, watched } = await gapPair(own, own.url, link.url);
    const intruder = new Redis(own.url);
    clients.push(intruder);
    await intruder.set('meshcache:{gateways}:generation', 'rewritten');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // heartbeats probe the new key (and take it)
    cacheOf(a).put('after-set', 'seen');
    await until(() => cacheOf(b).get('after-set') === 'seen', 'b reading on after the SET');
    await missPastMaxLength(a, b, link);
    link.mend();
    await until(() => cacheOf(b).size === cacheOf(a).size, 'b repaired', 30_000);
    const gaps = watched.lines.filter((line) => line.msg.startsWith('backplane: a gap in the stream'));
    expect(gaps.map((line) => (line.obj as { why?: string }).why)).toEqual([
      'entries this node had not read were trimmed',
    ]);
  }, 60_000);

  it('a gap found while its only member does not answer is repaired once that member is back', async () => {
    const own = await redisServer();
    const [linkA, linkB] = [await RedisLink.start(own), await RedisLink.start(own)];
    links.push(linkA, linkB);
    const { a, b, watched } = await gapPair(own, linkA.url, linkB.url);
    await missPastMaxLength(a, b, linkB);
    linkA.cut();
    await until(() => backplaneOf(a).state !== 'connected', 'a away');
    linkB.mend();
    // b's repair from a (live by the records it wrote while b was away) stalls: a hears nothing.
    const owed = 'backplane: no member could repair this node now; repairing from the first member seen live';
    await until(() => watched.lines.some((line) => line.msg === owed), 'the repair owed', 20_000);
    expect(cacheOf(b).size).toBeLessThan(cacheOf(a).size);
    expect(backplaneOf(b).repairOwed).toBe(true);
    const registry = new Registry();
    registerMeshcacheMetrics(b, registry);
    expect(await registry.metrics()).toMatch(/^meshcache_backplane_repair_owed 1$/m);
    linkA.mend();
    await until(() => cacheOf(b).size === cacheOf(a).size, 'b repaired from a, back', 30_000);
    await until(() => !backplaneOf(b).repairOwed, 'the repair given');
    expect(watched.lines.filter((line) => line.msg === owed)).toHaveLength(1);
  }, 60_000);

  it('a node that starts while its only member is away is repaired from it once it is back, anti-entropy off', async () => {
    const own = await redisServer();
    const link = await RedisLink.start(own);
    links.push(link);
    const repairOff = { repairIntervalMillis: 0 };
    const a = await node(
      'a',
      own,
      { backplane: { type: 'redis', url: link.url, heartbeatMillis: 200 } },
      {},
      repairOff,
    );
    await a.ready();
    cacheOf(a).put('before', 'kept');
    await a.settle();
    link.cut();
    await until(() => backplaneOf(a).state !== 'connected', 'a away');
    await new Promise((resolve) => setTimeout(resolve, 2000)); // a's record is old: known, not live
    const b = await node('b', own, {}, {}, repairOff);
    await b.ready();
    expect(cacheOf(b).get('before')).toBeUndefined();
    link.mend();
    // Before, a start that found no member live owed nothing, though it knew of one.
    await until(() => cacheOf(b).get('before') === 'kept', 'b repaired from a, back', 15_000);
  }, 30_000);

  it('a node that starts while the members cannot be read is repaired once they can, anti-entropy off', async () => {
    const own = await redisServer();
    const repairOff = { repairIntervalMillis: 0 };
    const a = await node('a', own, {}, {}, repairOff);
    await a.ready();
    cacheOf(a).put('before', 'kept');
    await a.settle();
    const intruder = new Redis(own.url);
    clients.push(intruder);
    await intruder.del('meshcache:{gateways}:members');
    await intruder.set('meshcache:{gateways}:members', 'not a hash');
    const b = await node('b', own, {}, {}, repairOff);
    await b.ready();
    expect(cacheOf(b).get('before')).toBeUndefined();
    // Before, a start that could not read the members took itself for alone, and owed nothing.
    await intruder.del('meshcache:{gateways}:members');
    await until(() => cacheOf(b).get('before') === 'kept', 'b repaired from a', 15_000);
  }, 30_000);

  it('nodes started together: none asks a repair of one that does not read its inbox yet (it stalled 2 s, and was owed)', async () => {
    // A node's record appeared at its first heartbeat, before its reader took its first position
    // (the inbox's last id): a member starting at the same moment offered it a repair there, the
    // offer was skipped, the repair stalled and was owed, never asked of it again (it stayed live).
    // Started one after another (start() does not wait for Redis), as the fault test does: before
    // the fix, two runs in three had a stall.
    const own = await redisServer();
    const watched = memoryLogger();
    const repairOff = { repairIntervalMillis: 0 };
    const all: ClusterNode[] = [];
    for (const name of ['a', 'b', 'c']) all.push(await node(name, own, {}, { logger: watched.logger }, repairOff));
    await Promise.all(all.map((n) => n.ready()));
    await until(() => all.every((n) => backplaneOf(n).members === 2), 'every node sees the two others');
    expect(watched.lines.filter((line) => line.level !== 'info').map((line) => line.msg)).toEqual([]);
  });

  it('a repair owed to a member live by its records that never answers is not asked of it again at every heartbeat', async () => {
    const own = await redisServer();
    // A member that writes its presence record and reads nothing (its inbox is never answered).
    const { beating } = await ghostMember(own);
    try {
      const watched = memoryLogger();
      const b = await node('b', own, {}, { logger: watched.logger }, { repairIntervalMillis: 0 });
      const stalled = () =>
        watched.lines.filter((line) => line.msg.startsWith('backplane: repair from a member stalled'));
      await until(() => stalled().length === 1, 'the repair from the ghost stalls', 10_000);
      await b.ready();
      // Before, the repair owed was given again at the next heartbeat's read of the members, every
      // 2.2 s for ever: a warning each time, and every cache's digest written to the ghost's inbox.
      await new Promise((resolve) => setTimeout(resolve, 7000));
      expect(stalled()).toHaveLength(1);
    } finally {
      clearInterval(beating);
    }
  }, 30_000);

  it('a repair that took in a second digest from a member while the first listing came asks that member for its digest again, anti-entropy off', async () => {
    const own = await redisServer();
    // A member played by the test: it writes repair messages to b's inbox and reads b's from its
    // own, sealed with the cluster's secret.
    const ghost = await ghostMember(own);
    try {
      const b = await node('b', own, {}, {}, { repairIntervalMillis: 0 });
      await b.ready(); // its repair from the ghost stalls: the ghost answers nothing of its own
      cacheOf(b).put('held', 'by b'); // so that b lists the ghost's keys rather than takes whole buckets
      const send = (message: Message) => ghost.send('b', message);
      /** What b wrote to the ghost since the test began. */
      const after = await ghost.lastReceived();
      const fromB = () => ghost.received(after);
      const sent = async (what: (m: unknown) => boolean) => (await fromB()).filter(what).length;
      const isType = (type: number) => (m: unknown) => (m as { type?: unknown }).type === type;
      const digest = (fill: number): Message => ({
        type: MessageType.Digest,
        cache: CACHE,
        bucketCount: 1,
        digest: new Uint8Array(8).fill(fill),
        clearVersion: undefined,
      });
      const version = { time: Date.now(), counter: 0, node: 'ghost' };
      await send(digest(1));
      await until(async () => (await sent(isType(MessageType.RepairRequest))) === 1, "b's RepairRequest");
      await send({
        type: MessageType.Keys,
        cache: CACHE,
        items: [{ key: 'missed', version, removed: false }],
        last: false,
      });
      // The ghost's second digest comes while its listing does: b takes it into the repair.
      await send(digest(2));
      await until(async () => (await sent(isType(MessageType.RepairRequest))) === 2, "b's second RepairRequest");
      await send({ type: MessageType.Keys, cache: CACHE, items: [], last: true });
      await until(async () => (await sent(isType(MessageType.Pull))) === 1, "b's Pull of what it lacked");
      const offers = () => sent((m) => (m as { op?: unknown }).op === 'offer');
      expect(await offers()).toBe(0);
      await send({
        type: MessageType.Entries,
        changes: [
          {
            type: MessageType.Put,
            cache: CACHE,
            key: 'missed',
            value: 'by the ghost',
            version,
            createdAt: version.time,
            timeToLiveSeconds: 0,
            timeToIdleSeconds: 0,
          },
        ],
      });
      await send({ type: MessageType.BootstrapDone, cache: CACHE });
      await until(() => cacheOf(b).get('missed') === 'by the ghost', 'b to take what it pulled');
      // The listing may have been read before the ghost learned what its second digest showed:
      // b asks for its digest again, an offer of that one cache.
      await until(async () => (await offers()) === 1, 'b to ask the ghost for its digest again');
      expect((await fromB()).find((m) => (m as { op?: unknown }).op === 'offer')).toEqual({
        op: 'offer',
        caches: [CACHE],
      });
    } finally {
      clearInterval(ghost.beating);
    }
  }, 30_000);

  it("a member that asked for a node's digests while the node was repairing gets them again once the node is repaired, anti-entropy off", async () => {
    const own = await redisServer();
    // The member the test plays is b's only one: b's start repairs from it, and stalls (it answers
    // nothing of its own), while the member asks b for its digests meanwhile (an offer).
    const ghost = await ghostMember(own);
    try {
      const b = await node(
        'b',
        own,
        { peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 5000 } },
        {},
        { repairIntervalMillis: 0 },
      );
      const digestsFromB = async () =>
        (await ghost.received()).filter((m) => (m as { type?: unknown }).type === MessageType.Digest).length;
      await until(async () => (await digestsFromB()) === 1, "b's digest, as its start repair offers it");
      await ghost.offer('b', [CACHE]);
      await until(async () => (await digestsFromB()) === 2, "b's digest, in answer to the member's offer");
      // What b learns while its repair is under way (here, a write of its own): the member that
      // asked had b's digest from before it.
      cacheOf(b).put('learned', 'while repairing');
      await b.ready(); // the repair stalled, and is over
      await until(async () => (await digestsFromB()) === 3, 'b to send the member its digest again');
    } finally {
      clearInterval(ghost.beating);
    }
  }, 30_000);

  it("a member's offers of a cache are answered at most once a second, the last of a burst at the end of the second (each was answered by a digest)", async () => {
    const own = await redisServer();
    const ghost = await ghostMember(own);
    try {
      const b = await node('b', own, {}, {}, { repairIntervalMillis: 0 });
      await b.ready(); // its repair from the ghost stalls: the ghost answers nothing of its own
      cacheOf(b).put('held', 'by b');
      const digests = async (after: string) =>
        (await ghost.received(after)).filter((m) => (m as { type?: unknown }).type === MessageType.Digest).length;
      const after = await ghost.lastReceived();
      const started = Date.now();
      await ghost.offer('b', [CACHE]);
      await until(async () => (await digests(after)) === 1, 'the first offer answered at once');
      // Twenty more, a read of the inbox each (20 ms apart), all within the second.
      for (let i = 0; i < 20 && Date.now() - started < 800; i++) {
        await ghost.offer('b', [CACHE]);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await digests(after)).toBeLessThanOrEqual(2); // the burst's answer may have gone by now on a slow machine
      await until(async () => (await digests(after)) === 2, 'the burst answered once, at the end of the second');
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(await digests(after)).toBe(2);
    } finally {
      clearInterval(ghost.beating);
    }
  }, 30_000);

  it('entries injected into the stream are ignored and logged', async () => {
    const watched = memoryLogger();
    const a = await node('a', server);
    const b = await node('b', server, {}, { logger: watched.logger });
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('token', 'genuine');
    await until(() => cacheOf(b).get('token') === 'genuine', 'the genuine value');
    const intruder = new Redis(server.url);
    clients.push(intruder);
    const stream = 'meshcache:{gateways}:changes';
    const forged = new WireCodec().encode({
      type: MessageType.Batch,
      changes: [
        {
          type: MessageType.Put,
          cache: CACHE,
          key: 'token',
          value: 'forged',
          version: { time: Date.now() + 1000, counter: 0, node: 'a' },
          createdAt: Date.now(),
          timeToLiveSeconds: 0,
          timeToIdleSeconds: 0,
        },
      ],
    });
    // Plain bytes, an entry sealed with another secret under a's name, and a field of another name.
    await intruder.xadd(stream, '*', 'm', forged);
    const otherKey = await derivePsk('not the cluster secret, but as long as one');
    const sealer = new EntrySealer({ cluster: 'gateways', writer: 'a', psks: [otherKey] });
    await intruder.xadd(stream, '*', 'm', sealer.seal(KIND_MESSAGE, forged, stream, Date.now()));
    await intruder.xadd(stream, '*', 'x', 'y');
    await until(() => backplaneOf(b).refused.unauthenticated >= 3, 'three refusals on b');
    cacheOf(a).put('later', 'still replicating');
    await until(() => cacheOf(b).get('later') === 'still replicating', 'replication goes on');
    expect(cacheOf(b).get('token')).toBe('genuine');
    expect(cacheOf(a).get('token')).toBe('genuine');
    expect(watched.lines.some((line) => line.level === 'warn' && /refused/.test(line.msg))).toBe(true);
    // Nor can it read them: no value appears in the stream in clear.
    const raw = await intruder.xrangeBuffer(stream, '-', '+');
    expect(raw.some(([, fields]) => fields.some((f) => f.includes(Buffer.from('still replicating'))))).toBe(false);
  });

  it('a change this release does not know, sealed by a member (a newer release), is counted and answered with a repair', async () => {
    const own = await redisServer();
    const a = await node('a', own, {}, {}, { repairIntervalMillis: 0 });
    const b = await node('b', own, {}, {}, { repairIntervalMillis: 0 });
    await Promise.all([a.ready(), b.ready()]);
    // What a's newer release wrote in that batch beside the change b does not know: b missed it.
    replicaPortOf(cacheOf(a)).applyPut('known-1', 'v', { time: Date.now(), counter: 0, node: 'a' }, Date.now(), 0, 0);
    const stream = 'meshcache:{gateways}:changes';
    const now = Date.now();
    const put = (key: string) => [1, CACHE, key, 'v', now, 0, 'a', now, 0, 0];
    const batch = new Packr({ useRecords: false }).pack([5, [put('known-1'), [40, CACHE, 'future', now, 0, 'a']]]);
    const sealer = new EntrySealer({ cluster: 'gateways', writer: 'a', psks: [await derivePsk(SECRET)] });
    const writer = new Redis(own.url);
    clients.push(writer);
    const repairsBefore = backplaneOf(b).repairs;
    await writer.xadd(stream, '*', 'm', sealer.seal(KIND_MESSAGE, batch, stream, now));
    await until(() => backplaneOf(b).refused.undecodable === 1, 'b to count the entry it cannot decode');
    await until(() => cacheOf(b).get('known-1') === 'v', 'the repair to bring what the batch carried');
    // Counted at its BootstrapDone, which comes after the entries it brought.
    await until(() => backplaneOf(b).repairs > repairsBefore, 'the repair counted');
  });

  it('a second change not known within the minute is repaired at its end, not dropped', async () => {
    const own = await redisServer();
    const a = await node('a', own, {}, {}, { repairIntervalMillis: 0 });
    const b = await node('b', own, {}, { scheduler: hurried(), clock: () => Date.now() }, { repairIntervalMillis: 0 });
    await Promise.all([a.ready(), b.ready()]);
    const stream = 'meshcache:{gateways}:changes';
    const sealer = new EntrySealer({ cluster: 'gateways', writer: 'a', psks: [await derivePsk(SECRET)] });
    const writer = new Redis(own.url);
    clients.push(writer);
    // What a's newer release wrote in a batch beside a change b does not know: b missed it.
    const unknown = async (key: string) => {
      const now = Date.now();
      replicaPortOf(cacheOf(a)).applyPut(key, 'v', { time: now, counter: 0, node: 'a' }, now, 0, 0);
      const put = [1, CACHE, key, 'v', now, 0, 'a', now, 0, 0];
      const batch = new Packr({ useRecords: false }).pack([5, [put, [40, CACHE, 'future', now, 0, 'a']]]);
      await writer.xadd(stream, '*', 'm', sealer.seal(KIND_MESSAGE, batch, stream, now));
    };
    await unknown('known-1');
    await until(() => cacheOf(b).get('known-1') === 'v', 'the first repair');
    await unknown('known-2');
    await until(() => backplaneOf(b).refused.undecodable === 2, 'b to count the second');
    await until(() => cacheOf(b).get('known-2') === 'v', 'the second repair, the minute skipped');
  });

  it("a stream trimmed past a node's position while it was away is a gap it repairs, anti-entropy off", async () => {
    // Redis 7.0 records only XDEL in max-deleted-entry-id, not XTRIM nor XADD's MAXLEN: the node
    // that came back read the entries the trim left and never knew of the rest.
    const link = await RedisLink.start(server);
    links.push(link);
    const backplane = { type: 'redis' as const, heartbeatMillis: 200, replayWindowSeconds: 60, maxLength: 1000 };
    const a = await node(
      'a',
      server,
      { backplane: { ...backplane, url: server.url } },
      {},
      {
        replicateAsynchronously: false,
        repairIntervalMillis: 0,
      },
    );
    const b = await node('b', server, { backplane: { ...backplane, url: link.url } }, {}, { repairIntervalMillis: 0 });
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('before', 'seen');
    await until(() => cacheOf(b).get('before') === 'seen', 'b reading');
    const gapsBefore = backplaneOf(b).gaps;
    link.cut();
    await until(() => backplaneOf(b).state !== 'connected', 'b away');
    for (let i = 0; i < 3000; i++) cacheOf(a).put(`away:${i}`, i); // one entry each (synchronous)
    await a.settle();
    const intruder = new Redis(server.url);
    clients.push(intruder);
    expect(await intruder.xlen('meshcache:{gateways}:changes')).toBeLessThan(2000);
    link.mend();
    await until(() => backplaneOf(b).gaps > gapsBefore, 'b finds the gap');
    await until(() => cacheOf(b).size === cacheOf(a).size, 'b repaired', 30_000);
    expect(cacheOf(b).get('away:0')).toBe(0);
  }, 60_000); // its own deadlines add up past the default 20 s: 3,000 synchronous writes, then the repair

  it('a changes key deleted while a node was away, and given more entries than it had read: found at its return, nothing read twice', async () => {
    // The entries-added counter of the new stream (40) is past b's position (a few), so the counter
    // alone said nothing: b read the new stream on from its old position, found out near its end,
    // read it all again from its start and refused every entry as replayed.
    const link = await RedisLink.start(server);
    links.push(link);
    const watched = memoryLogger();
    const backplane = { type: 'redis' as const, heartbeatMillis: 200 };
    const a = await node(
      'a',
      server,
      { backplane: { ...backplane, url: server.url } },
      {},
      { replicateAsynchronously: false, repairIntervalMillis: 0 },
    );
    const b = await node(
      'b',
      server,
      { backplane: { ...backplane, url: link.url } },
      { logger: watched.logger },
      { repairIntervalMillis: 0 },
    );
    await Promise.all([a.ready(), b.ready()]);
    cacheOf(a).put('before', 'seen');
    await until(() => cacheOf(b).get('before') === 'seen', 'b reading');
    link.cut();
    await until(() => backplaneOf(b).state !== 'connected', 'b away');
    cacheOf(a).put('lost', 'with the old stream'); // only a repair brings it to b
    await a.settle();
    const intruder = new Redis(server.url);
    clients.push(intruder);
    await intruder.del('meshcache:{gateways}:changes');
    for (let i = 0; i < 40; i++) cacheOf(a).put(`new:${i}`, i); // one entry each (synchronous)
    await a.settle();
    expect(await intruder.xlen('meshcache:{gateways}:changes')).toBe(40);
    link.mend();
    await until(() => cacheOf(b).get('lost') === 'with the old stream', 'b repaired', 30_000);
    await until(() => cacheOf(b).size === cacheOf(a).size, 'b holds the new stream too');
    expect(
      watched.lines.some((line) => (line.obj as { why?: string }).why === 'the stream was deleted and made anew'),
    ).toBe(true);
    expect(backplaneOf(b).refused.replayed).toBe(0);
    expect(backplaneOf(b).gaps).toBe(1);
  }, 60_000); // past the default 20 s: the repair's own deadline

  it('a changes key deleted under nodes reading along: found at a heartbeat, what they read of the new stream not handed on again', async () => {
    // Both read on into the new stream (its ids all come after their positions) until a heartbeat
    // found the counter behind their positions; they read it again from its start to count, and
    // refused each entry read before as replayed.
    const backplane = { type: 'redis' as const, url: server.url, heartbeatMillis: 200 };
    const replication = { replicateAsynchronously: false, repairIntervalMillis: 0 };
    const a = await node('a', server, { backplane }, {}, replication);
    const b = await node('b', server, { backplane }, {}, replication);
    await Promise.all([a.ready(), b.ready()]);
    for (let i = 0; i < 30; i++) cacheOf(a).put(`old:${i}`, i); // one entry each (synchronous)
    await until(() => cacheOf(b).size === 30, 'b reading');
    const intruder = new Redis(server.url);
    clients.push(intruder);
    await intruder.del('meshcache:{gateways}:changes');
    for (let i = 0; i < 5; i++) cacheOf(a).put(`new:${i}`, i);
    await until(() => cacheOf(b).size === 35, 'b reads the new stream');
    await until(() => backplaneOf(a).gaps === 1 && backplaneOf(b).gaps === 1, 'both find the deletion');
    cacheOf(a).put('after', 'read once');
    await until(() => cacheOf(b).get('after') === 'read once', 'b reads on');
    expect(backplaneOf(a).refused.replayed).toBe(0);
    expect(backplaneOf(b).refused.replayed).toBe(0);
    expect(contents(b)).toBe(contents(a));
  });

  it("a key of another type as a node's inbox: it reads the changes stream alone, writers drop its repair messages, until the key is deleted", async () => {
    const watchedA = memoryLogger();
    const watchedB = memoryLogger();
    const a = await node('a', server, {}, { logger: watchedA.logger });
    const b = await node('b', server, {}, { logger: watchedB.logger });
    await Promise.all([a.ready(), b.ready()]);
    const intruder = new Redis(server.url);
    clients.push(intruder);
    const inbox = 'meshcache:{gateways}:inbox:b';
    await intruder.set(inbox, 'not a stream');
    // One XREAD read the changes stream and the inbox together, and failed whole: b read nothing.
    cacheOf(a).put('live', 'still replicated');
    await until(() => cacheOf(b).get('live') === 'still replicated', 'b reads the changes stream');
    await until(
      () => watchedB.lines.some((line) => line.level === 'warn' && line.msg.includes(`${inbox} is not a stream`)),
      'b says why, naming the key',
    );
    // a's anti-entropy sends b's inbox its digest: refused for good, so dropped, not written
    // again every 250 ms with everything queued behind it (which grew Redis by 16 MB a second).
    await until(() => backplaneOf(a).writesDropped > 0, 'a drops what b cannot receive');
    cacheOf(a).put('behind', 'not stuck');
    await until(() => cacheOf(b).get('behind') === 'not stuck', 'a writes on');
    await until(() => backplaneOf(a).pendingBytes === 0, 'nothing left queued on a');
    expect(watchedA.lines.filter((line) => line.msg.includes(`DEL ${inbox}`))).toHaveLength(1);
    expect(backplaneOf(b).state).toBe('connected');
    await intruder.del(inbox);
    await until(
      () => watchedB.lines.some((line) => line.msg.includes('inbox is a stream again')),
      'b reads its inbox again',
    );
  });

  it('a database Redis does not have: the node says so as an error, stops the backplane and writes nothing to database 0 (found by the outside review)', async () => {
    const own = await redisServer();
    const watched = memoryLogger();
    const url = `${own.url.replace(/\/\d*$/, '')}/99`;
    const a = await node(
      'a',
      own,
      { backplane: { type: 'redis', url, heartbeatMillis: 200 } },
      { logger: watched.logger },
    );
    await a.ready();
    cacheOf(a).put('k', 'served locally');
    const said = () =>
      watched.lines.filter(
        (line) => line.level === 'error' && /refused database 99 \(ERR DB index is out of range\)/.test(line.msg),
      );
    await until(() => said().length === 1, 'a says Redis refused database 99');
    await until(() => backplaneOf(a).state === 'down', 'the backplane shown down');
    const zero = new Redis(own.url.replace(/\/\d*$/, '/0'));
    clients.push(zero);
    // Heartbeats would have written the members hash by now (200 ms each), changes the stream.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await zero.keys('*')).toEqual([]);
    expect(cacheOf(a).get('k')).toBe('served locally');
    expect(said()).toHaveLength(1);
  });

  it('two processes with one node name: each says so, once, as an error (found by the outside review)', async () => {
    const first = memoryLogger();
    const second = memoryLogger();
    const a1 = await node('twin', server, {}, { logger: first.logger });
    const a2 = await node('twin', server, {}, { logger: second.logger });
    await Promise.all([a1.ready(), a2.ready()]);
    cacheOf(a1).put('one', 1);
    cacheOf(a2).put('two', 2);
    const said = (lines: typeof first.lines) =>
      lines.filter((line) => line.level === 'error' && /another process runs as node "twin"/.test(line.msg));
    await until(() => said(first.lines).length === 1 && said(second.lines).length === 1, 'both twins say so');
    await new Promise((resolve) => setTimeout(resolve, 600)); // three more heartbeats: still once each
    expect([said(first.lines).length, said(second.lines).length]).toEqual([1, 1]);
  });

  it('a node restarted under its name does not take its former self for another process', async () => {
    const watched = memoryLogger();
    const before = await node('phoenix', server);
    await before.ready();
    cacheOf(before).put('k', 1);
    await before.settle();
    await before.stop();
    nodes.splice(nodes.indexOf(before), 1);
    const after = await node('phoenix', server, {}, { logger: watched.logger });
    await after.ready();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(watched.lines.filter((line) => /another process runs as node/.test(line.msg))).toEqual([]);
  });

  it("a node started with another secret than the cluster's says so, once, as an error", async () => {
    const watched = memoryLogger();
    const a = await node('a', server);
    await a.ready();
    const b = await node(
      'b',
      server,
      { secret: 'not the cluster secret, but as long as one' },
      { logger: watched.logger },
    );
    await b.ready();
    for (let i = 0; i < 20; i++) cacheOf(a).put(`k${i}`, i);
    const island = () =>
      watched.lines.filter((line) => line.level === 'error' && /secret is not the cluster's/.test(line.msg));
    await until(() => island().length === 1, "b says its secret is not the cluster's");
    for (let i = 20; i < 40; i++) cacheOf(a).put(`k${i}`, i);
    await until(() => backplaneOf(b).refused.unauthenticated >= 30, 'b refuses more');
    expect(island()).toHaveLength(1);
    expect(cacheOf(b).size).toBe(0);
  });

  it('an id far in the future at the end of the changes stream is said, once, naming the key', async () => {
    const watched = memoryLogger();
    const server = await redisServer(); // a stream of its own: the far-future id stays in it
    const a = await node('a', server, {}, { logger: watched.logger });
    await a.ready();
    const intruder = new Redis(server.url);
    clients.push(intruder);
    await intruder.xadd('meshcache:{gateways}:changes', '99999999999999-0', 'x', 'y');
    const said = () => watched.lines.filter((line) => line.level === 'warn' && /last id is \d+ s ahead/.test(line.msg));
    await until(() => said().length === 1, 'a warns about the far-future id');
    cacheOf(a).put('after', 'still replicated'); // heartbeats probe on, and say it no more
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(said()).toHaveLength(1);
    expect(said()[0]?.msg).toMatch(/delete meshcache:\{gateways\}:changes/);
  });

  it('junk in the members hash is opened once, not at every heartbeat', async () => {
    const a = await node('a', server);
    await a.ready();
    const intruder = new Redis(server.url);
    clients.push(intruder);
    const members = 'meshcache:{gateways}:members';
    const junk: Record<string, Buffer> = {};
    for (let i = 0; i < 2000; i++) junk[`junk-${i}`] = Buffer.from(`not a sealed record ${i}`.padEnd(64, '.'));
    await intruder.hset(members, junk);
    const refused = () => backplaneOf(a).refused.unauthenticated;
    const before = refused();
    await until(() => refused() >= before + 2000, 'the junk read once');
    // Five more heartbeats (200 ms each) read the hash again: the unchanged junk costs nothing more.
    const once = refused();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(refused()).toBe(once);
    // A field that changes is looked at again.
    await intruder.hset(members, 'junk-0', 'changed, and still not sealed');
    await until(() => refused() === once + 1, 'the changed field refused');
    await intruder.hdel(members, ...Object.keys(junk));
  });

  it('a key of another type as the members hash: the heartbeat says so, naming it', async () => {
    const watched = memoryLogger();
    const a = await node('a', server, {}, { logger: watched.logger });
    await a.ready();
    const intruder = new Redis(server.url);
    clients.push(intruder);
    await intruder.del('meshcache:{gateways}:members');
    await intruder.set('meshcache:{gateways}:members', 'not a hash');
    await until(
      () =>
        watched.lines.some(
          (line) => line.level === 'warn' && /answers the heartbeat with an error \(WRONGTYPE.*members/.test(line.msg),
        ),
      'a warns, naming the members hash',
    );
    await intruder.del('meshcache:{gateways}:members');
    await until(() => backplaneOf(a).state === 'connected', 'a connected again');
  });

  it('while down for the heartbeat, the reason shown is its newest failure: an error, then no answer in time (Redis paused)', async () => {
    const a = await node('a', server);
    await a.ready();
    const intruder = new Redis(server.url);
    clients.push(intruder);
    const members = 'meshcache:{gateways}:members';
    await intruder.del(members);
    await intruder.set(members, 'not a hash');
    const reason = () => backplaneOf(a).reason ?? '';
    await until(() => /^Redis answers the heartbeat with an error: WRONGTYPE/.test(reason()), 'down for WRONGTYPE');
    // It kept saying WRONGTYPE while Redis did not answer at all: the reason was set as the
    // backplane went down, and only then.
    server.pause();
    try {
      await until(
        () => /^Redis does not answer the heartbeat in time \(.*Command timed out/.test(reason()),
        'the reason to become the timeout',
        20_000,
      );
      expect(backplaneOf(a).state).toBe('down');
    } finally {
      server.resume();
    }
    await intruder.del(members);
    await until(() => backplaneOf(a).state === 'connected', 'a connected again', 20_000);
    expect(backplaneOf(a).reason).toBeNull();
  }, 60_000);

  it("an inbox pushed past its node's position, then deleted, is read again", async () => {
    const a = await node('a', server);
    const b = await node('b', server);
    await Promise.all([a.ready(), b.ready()]);
    const intruder = new Redis(server.url);
    clients.push(intruder);
    const inbox = 'meshcache:{gateways}:inbox:b';
    const refused = () => backplaneOf(b).refused.unauthenticated;
    const before = refused();
    await intruder.xadd(inbox, '99999999999999-0', 'x', 'y');
    await until(() => refused() > before, 'b reads the far-future entry');
    await intruder.del(inbox);
    // What peers send b for its repairs goes here: b must read it again, not wait past that id.
    await intruder.xadd(inbox, '*', 'x', 'y');
    await until(() => refused() > before + 1, 'b reads its inbox again');
  });

  it('an old entry replayed after its key was removed is ignored, also where no tombstone is left', async () => {
    const a = await node('a', server);
    const b = await node('b', server);
    await Promise.all([a.ready(), b.ready()]);
    const intruder = new Redis(server.url);
    clients.push(intruder);
    const stream = 'meshcache:{gateways}:changes';
    const before = (await intruder.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    cacheOf(a).put('revoked', 'secret value');
    await until(() => cacheOf(b).has('revoked'), 'the put on b');
    const [captured] = (await intruder.xrangeBuffer(stream, `(${before}`, '+')).map(([, fields]) => fields[1]);
    if (captured === undefined) throw new Error('the put was not in the stream');
    cacheOf(a).remove('revoked');
    await until(() => !cacheOf(b).has('revoked'), 'the removal on b');

    // At once, to a node that read the original: refused by its sequence number.
    await intruder.xadd(stream, '*', 'm', captured);
    await until(() => backplaneOf(b).refused.replayed >= 1, 'b refuses the copy');
    expect(cacheOf(b).has('revoked')).toBe(false);

    // Later, on a new node alone with the stream (no tombstone anywhere to repair from): its clock
    // is past the replay window, as it would be after the tombstone expired everywhere.
    await a.stop();
    await b.stop();
    const later = new ManualClock(Date.now() + 2 * 60_000 + 5000);
    const c = await node('c', server, {}, { clock: later.now });
    await c.ready();
    await until(() => backplaneOf(c).lastId !== null, 'c reading');
    const gaps = backplaneOf(c).gaps;
    await intruder.xadd(stream, '*', 'm', captured);
    // Sealed before the window but added within it: a copy, refused as replayed. Taken for a sign
    // that c fell behind, it made c repair from a member at every copy.
    await until(() => backplaneOf(c).refused.replayed >= 1, 'c refuses the old copy');
    expect(cacheOf(c).has('revoked')).toBe(false);
    expect(backplaneOf(c).gaps).toBe(gaps);
    expect(backplaneOf(c).refused.stale).toBe(0);
  });
});

describe('inbox messages addressed to one run of a node', () => {
  /** The incarnation of `name`'s run, from its presence record. */
  const incarnationOf = async (server: RedisServer, name: string) => {
    const reader = new Redis(server.url);
    clients.push(reader);
    const sealed = await reader.hgetBuffer('meshcache:{gateways}:members', name);
    const incarnation = sealed === null ? undefined : EntrySealer.peek(sealed)?.incarnation;
    if (incarnation === undefined) throw new Error(`no presence record of ${name}`);
    return Buffer.from(incarnation, 'hex');
  };
  const version = () => ({ time: Date.now(), counter: 0, node: 'ghost' });
  const entries = (key: string): Message => ({
    type: MessageType.Entries,
    changes: [
      {
        type: MessageType.Put,
        cache: CACHE,
        key,
        value: `${key} by the ghost`,
        version: version(),
        createdAt: Date.now(),
        timeToLiveSeconds: 0,
        timeToIdleSeconds: 0,
      },
    ],
  });

  /**
   * b, on a Redis of its own with a ghost member that says it reads addressed messages, in a repair
   * from the ghost (anti-entropy off) asked for by the ghost's digest, addressed to b's run, up to
   * b's Pull of the key 'pulled'. Stop `ghost.beating` at the end.
   */
  async function pullingFromGhost() {
    const own = await redisServer();
    const ghost = await ghostMember(own, { addressed: true });
    try {
      const b = await node('b', own, {}, {}, { repairIntervalMillis: 0 });
      await b.ready(); // its repair from the ghost stalls: the ghost answers nothing of its own
      const run = await incarnationOf(own, 'b');
      const after = await ghost.lastReceived();
      const sent = async (type: number) =>
        (await ghost.received(after)).filter((m) => (m as { type?: unknown }).type === type).length;
      const digest = new Uint8Array(8).fill(1);
      await ghost.send(
        'b',
        { type: MessageType.Digest, cache: CACHE, bucketCount: 1, digest, clearVersion: undefined },
        run,
      );
      await until(async () => (await sent(MessageType.RepairRequest)) === 1, "b's RepairRequest");
      const items = [{ key: 'pulled', version: version(), removed: false }];
      await ghost.send('b', { type: MessageType.Keys, cache: CACHE, items, last: true }, run);
      await until(async () => (await sent(MessageType.Pull)) === 1, "b's Pull");
      return { own, ghost, b, run, repairs: backplaneOf(b).repairs };
    } catch (error) {
      clearInterval(ghost.beating);
      throw error;
    }
  }

  it("what a member still sends a node's former run (a listing's tail, its BootstrapDone) is dropped; its own run's, and an earlier release's, taken", async () => {
    const { ghost, b, run, repairs } = await pullingFromGhost();
    try {
      const formerRun = randomBytes(16); // b's run before a restart under its name
      // The former run's listing, still on its way: its entries and its end.
      await ghost.send('b', entries('former'), formerRun);
      await ghost.send('b', { type: MessageType.BootstrapDone, cache: CACHE }, formerRun);
      // This run's answer, and a message of a release that does not address them (read in order, after the former's).
      await ghost.send('b', entries('pulled'), run);
      await ghost.send('b', entries('unaddressed'));
      await until(() => cacheOf(b).get('unaddressed') !== undefined, 'b to take the unaddressed entries');
      expect(cacheOf(b).get('pulled')).toBe('pulled by the ghost');
      expect(cacheOf(b).get('former')).toBeUndefined();
      expect(backplaneOf(b).repairs).toBe(repairs); // the former run's BootstrapDone did not end this run's repair
      await ghost.send('b', { type: MessageType.BootstrapDone, cache: CACHE }, run);
      await until(() => backplaneOf(b).repairs === repairs + 1, "b's repair to end with its own BootstrapDone");
    } finally {
      clearInterval(ghost.beating);
    }
  }, 30_000);

  it("a member's message from a run before the one whose record was read is dropped: it does not end the repair under way with the live run", async () => {
    const { own, ghost, b, run, repairs } = await pullingFromGhost();
    const writer = new Redis(own.url);
    clients.push(writer);
    try {
      // The ghost's run before this one, read late: sealed before the live run's records.
      const former = new EntrySealer({ cluster: 'gateways', writer: 'ghost', psks: [await derivePsk(SECRET)] });
      const inbox = 'meshcache:{gateways}:inbox:b';
      await writer.xadd(
        inbox,
        '*',
        'm',
        former.seal(KIND_MESSAGE, encodeEntry(entries('stale')), inbox, Date.now() - 5000, run),
      );
      await ghost.send('b', entries('pulled'), run);
      await ghost.send('b', { type: MessageType.BootstrapDone, cache: CACHE }, run);
      await until(() => backplaneOf(b).repairs === repairs + 1, "b's repair from the live run to end");
      expect(cacheOf(b).get('pulled')).toBe('pulled by the ghost');
      expect(cacheOf(b).get('stale')).toBeUndefined();
    } finally {
      clearInterval(ghost.beating);
    }
  }, 30_000);

  it('a node addresses what it sends a member to the run whose records say it reads addressed messages, and to no run a member of an earlier release', async () => {
    for (const addressed of [true, false]) {
      const own = await redisServer();
      const ghost = await ghostMember(own, { addressed });
      try {
        const b = await node('b', own, {}, {}, { repairIntervalMillis: 0 });
        await b.ready(); // its start repair wrote to the ghost's inbox, and stalled
        await ghost.offer('b', [CACHE]); // b answers with its digest
        await until(
          async () =>
            (await ghost.received()).filter((m) => (m as { type?: unknown }).type === MessageType.Digest).length >= 2,
          "b's digests",
        );
        const addresses = await ghost.addresses();
        expect(new Set(addresses)).toEqual(new Set([addressed ? ghost.incarnation : undefined]));
      } finally {
        clearInterval(ghost.beating);
      }
    }
  }, 60_000);

  it('a run heard of in an addressed message, before any record of it is read, is answered addressed: it writes them, so it reads them', async () => {
    // A node's start repair offers before its members read its first record (every heartbeat):
    // the listing that answers it went out unaddressed, for the next run of its name to take
    // when it restarted at once (a crash at start), and so may the repair of a run that restarted.
    const own = await redisServer();
    const b = await node('b', own, {}, {}, { repairIntervalMillis: 0 });
    await b.ready();
    const to = await incarnationOf(own, 'b');
    const writer = new Redis(own.url);
    clients.push(writer);
    const psks = [await derivePsk(SECRET)];
    const offer = new Packr({ useRecords: false }).pack({ op: 'offer', caches: [CACHE] });
    const bInbox = 'meshcache:{gateways}:inbox:b';
    const answers = async (name: string, sealer: EntrySealer) => {
      const inbox = `meshcache:{gateways}:inbox:${name}`;
      let found: Array<string | undefined> = [];
      await until(async () => {
        const entries = await writer.xrangeBuffer(inbox, '-', '+');
        found = entries.map(([, fields]) => sealer.open(fields[1] as Buffer, inbox).to);
        return found.length > 0;
      }, `b's answer to ${name}`);
      return found;
    };
    // A run of this release: its offer is addressed to b's run (it read b's record).
    const fresh = new EntrySealer({ cluster: 'gateways', writer: 'fresh', psks });
    await writer.xadd(bInbox, '*', 'm', fresh.seal(KIND_CONTROL, offer, bInbox, Date.now(), to));
    expect(new Set(await answers('fresh', fresh))).toEqual(new Set([fresh.incarnationHex]));
    // A run of an earlier release (its offer unaddressed) is answered unaddressed, as before.
    const elder = new EntrySealer({ cluster: 'gateways', writer: 'elder', psks });
    await writer.xadd(bInbox, '*', 'm', elder.seal(KIND_CONTROL, offer, bInbox, Date.now()));
    expect(new Set(await answers('elder', elder))).toEqual(new Set([undefined]));
  }, 30_000);
});

describe('clocks past the drift bound', () => {
  it('a member whose clock is 90 s ahead shows as skewed on the other node, the other on it, and each says so once, as an error', async () => {
    const server = await redisServer();
    const watchedA = memoryLogger();
    const watchedC = memoryLogger();
    const a = await node('a', server, {}, { logger: watchedA.logger });
    const c = await node('c', server, {}, { logger: watchedC.logger, clock: () => Date.now() + 90_000 });
    const member = (of: ClusterNode, id: string) => of.peers().find((peer) => peer.id === id);
    // Before, a showed c 'connected' while refusing every entry of c's as from the future, and c
    // showed a 'down' with a repair owed for ever; neither said a word about the clocks.
    await until(
      () => member(a, 'c')?.state === 'skewed' && member(c, 'a')?.state === 'skewed',
      'each node to show the other skewed',
    );
    expect(member(a, 'c')?.clockOffsetMillis).toBeGreaterThan(60_000);
    expect(member(c, 'a')?.clockOffsetMillis).toBeLessThan(-60_000);
    const registry = new Registry();
    registerMeshcacheMetrics(a, registry);
    expect(
      sampleValue(parsePrometheusText(await registry.metrics()), 'meshcache_peer_state', {
        peer: 'c',
        state: 'skewed',
      }),
    ).toBe(1);
    // Many records later, still one line on each side.
    const seenAt = member(a, 'c')?.lastSeen ?? 0;
    await until(() => (member(a, 'c')?.lastSeen ?? 0) > seenAt + 1000, 'more records of c read by a');
    const said = (lines: typeof watchedA.lines) =>
      lines.filter((line) => line.level === 'error' && /clock is \d+ s (ahead of|behind) this node's/.test(line.msg));
    expect(said(watchedA.lines).map((line) => line.msg)).toEqual([
      expect.stringMatching(/^backplane: member c's clock is 9\d s ahead of this node's/),
    ]);
    expect(said(watchedC.lines).map((line) => line.msg)).toEqual([
      expect.stringMatching(/^backplane: member a's clock is 9\d s behind this node's/),
    ]);
  });
});

describe('repair sources', () => {
  it('a joiner never repairs from a member whose clock is past the drift bound: it takes the in-step member', async () => {
    const server = await redisServer();
    const noRounds = { repairIntervalMillis: 0 }; // only the bootstrap's repair, no anti-entropy
    const a = await node('a', server, {}, {}, noRounds);
    const c = await node('c', server, {}, { clock: () => Date.now() + 90_000 }, noRounds);
    await Promise.all([a.ready(), c.ready()]);
    cacheOf(a).put('from-a', 'kept by the in-step member');
    cacheOf(c).put('from-c', 'refused everywhere else as from the future');
    // Two joiners in turn, one drawing the first live member and one the last, whatever order
    // a and c are read in (each joiner stops before the next starts, so neither repairs from the
    // other). Before, one of them offered c a repair: c refuses the joiner's entries (90 s in its
    // past), so the offer went unanswered; the joiner waited out a stall and warned that the
    // repair from c stalled, and at times counted itself repaired without a's entries.
    const watched = memoryLogger();
    for (const [id, at] of [
      ['first', 0],
      ['last', 0.999],
    ] as const) {
      const joiner = await node(
        id,
        server,
        {},
        { logger: watched.logger, scheduler: { ...systemScheduler, random: () => at } },
        noRounds,
      );
      await joiner.ready();
      expect(joiner.peers().find((peer) => peer.id === 'c')?.state, id).toBe('skewed');
      expect(cacheOf(joiner).get('from-a'), id).toBe('kept by the in-step member');
      expect(cacheOf(joiner).get('from-c'), id).toBeUndefined();
      await joiner.stop(); // its record leaves the members hash
    }
    expect(watched.lines.filter((line) => line.level === 'warn').map((line) => line.msg)).toEqual([]);
  });
});

describe('single flight over the backplane', () => {
  it('one origin call for a key missed on every node at once', async () => {
    const server = await redisServer();
    const flight = { clusterSingleFlight: true, singleFlightLeaseMillis: 5000 };
    const all = [
      await node('a', server, {}, {}, flight),
      await node('b', server, {}, {}, flight),
      await node('c', server, {}, {}, flight),
    ];
    await Promise.all(all.map((n) => n.ready()));
    let calls = 0;
    const loads = all.map((n) =>
      cacheOf(n).getOrLoad('svc/orders', async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 300));
        return `token-from-${n.id}`;
      }),
    );
    const values = await Promise.all(loads);
    expect(calls).toBe(1);
    expect(new Set(values).size).toBe(1);
    const counters = all.map((n) => n.replicationStatistics(CACHE)?.singleFlight);
    expect(counters.reduce((sum, c) => sum + (c?.waitedForPeers ?? 0), 0)).toBe(2);
  });

  it('a Redis user writing a new holder into a lease again and again delays a load two leases at most', async () => {
    const server = await redisServer();
    const flight = { clusterSingleFlight: true, singleFlightLeaseMillis: 400 };
    const a = await node('a', server, {}, {}, flight);
    const b = await node('b', server, {}, {}, flight);
    await Promise.all([a.ready(), b.ready()]);
    const intruder = new Redis(server.url);
    clients.push(intruder);
    // The lease's name is an HMAC under the secret, but it can be seen while b holds it.
    let release: () => void = () => {};
    const slow = cacheOf(b).getOrLoad(
      'svc/orders',
      () => new Promise<string>((resolve) => (release = () => resolve('v1'))),
    );
    let lease: string | undefined;
    await until(async () => {
      [lease] = (await intruder.scan('0', 'MATCH', 'meshcache:{gateways}:lease:*', 'COUNT', 1000))[1];
      return lease !== undefined;
    }, 'the lease in Redis');
    release();
    await slow;
    cacheOf(b).remove('svc/orders');
    await until(() => !cacheOf(a).has('svc/orders'), 'the removal on a');
    let rewriting = true;
    const rewrites = (async () => {
      for (let i = 0; rewriting && i < 500; i++) {
        await intruder.set(lease as string, `intruder:${i}`, 'PX', 400);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      let loaded = false;
      const load = cacheOf(a).getOrLoad('svc/orders', async () => {
        loaded = true;
        return 'v2';
      });
      // Two leases of 400 ms and a little: far less than this bound (it waited for hours before).
      await until(() => loaded, 'a loads by itself', 8000);
      expect(await load).toBe('v2');
    } finally {
      rewriting = false;
      await rewrites;
    }
  });
});
