import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ADMIN_SESSIONS } from '../src/admin/admin-sessions.js';
import { AdminClient, AdminError } from '../src/index.js';
import { MessageType } from '../src/protocol/messages.js';
import type { Session } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { SECRET, startNode, until } from './nodes.js';
import { sessionOf } from './sessions.js';

const clients: AdminClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function start(name: string, peers: string[] = []) {
  return startNode(name, peers, {
    caches: {
      'Response Cache': { replication: { asynchronousReplicationIntervalMillis: 10 } },
      tokens: { maxElementsInMemory: 10 },
    },
  });
}

async function connect(url: string, secret = SECRET) {
  const client = await AdminClient.connect(url, { secret, timeoutMillis: 2000 });
  clients.push(client);
  return client;
}

/** An admin session made by hand (not AdminClient), established. */
async function adminSession(url: string, node: string): Promise<Session> {
  const session = await sessionOf(await new WebSocketTransport().dial(url), 'dialler', {
    node,
    url: '',
    role: 'admin',
    secret: SECRET,
  });
  await session.established;
  return session;
}

async function failure(call: Promise<unknown>): Promise<AdminError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof AdminError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/**
 * An AdminClient connected to a stand-in for a node of an older release, on the in-memory network:
 * it answers every request with `answer(op, args)`, as that node's admin service would.
 */
async function olderNode(answer: (op: string, args: readonly unknown[]) => unknown): Promise<AdminClient> {
  const network = new MemoryNetwork();
  await network.listen('ws://older:1', (connection) => {
    void sessionOf(connection, 'listener', { node: 'older', secret: SECRET }).then((session) =>
      session.onMessage((message) => {
        if (message.type !== MessageType.AdminRequest) return;
        const result = answer(message.op, message.args);
        session.send({ type: MessageType.AdminResponse, id: message.id, ok: true, result });
      }),
    );
  });
  const client = await AdminClient.connect('ws://older:1', { secret: SECRET, timeoutMillis: 2000, transport: network });
  clients.push(client);
  return client;
}

describe('admin calls over the replication protocol', () => {
  it('gets, puts (with a ttl), removes and clears on a live node, and the writes replicate', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    const admin = await connect(a.url);

    expect(await admin.get('Response Cache', 'GET /a')).toEqual({ found: false });
    await admin.put('Response Cache', 'GET /a', { status: 200, body: 'hello' }, { ttlSeconds: 60 });
    expect(await admin.get('Response Cache', 'GET /a')).toEqual({ found: true, value: { status: 200, body: 'hello' } });
    expect(a.manager.getCache('Response Cache')?.peekEntry('GET /a')?.timeToLiveSeconds).toBe(60);
    await a.settle();
    expect(b.manager.getCache('Response Cache')?.get('GET /a')).toEqual({ status: 200, body: 'hello' });

    expect(await admin.remove('Response Cache', 'GET /a')).toBe(true);
    expect(await admin.remove('Response Cache', 'GET /a')).toBe(false);
    await admin.put('Response Cache', 'x', 1);
    await admin.clear('Response Cache');
    expect(a.manager.getCache('Response Cache')?.size).toBe(0);
    await a.settle();
    expect(b.manager.getCache('Response Cache')?.size).toBe(0);
  });

  it('puts values past the pre-authentication byte bound from a new connection each time (the first request can share a read with the Confirm)', async () => {
    const a = await start('gw-1');
    // 16 KiB is what an unauthenticated connection may send; a request right after the
    // handshake was counted against it when it arrived in the same read as the Confirm.
    const value = 'a'.repeat(30_000);
    for (let i = 0; i < 30; i++) {
      const admin = await connect(a.url);
      await admin.put('Response Cache', `k${i}`, value);
      admin.close();
    }
    expect(a.manager.getCache('Response Cache')?.size).toBe(30);
  });

  it('lists peers with their replication figures, and reports statistics per cache', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    a.manager.getCache('Response Cache')?.put('k', 'v');
    await a.settle();
    const admin = await connect(a.url);

    const peers = await admin.peers();
    expect(peers).toEqual([
      expect.objectContaining({
        id: 'gw-2',
        url: b.url,
        state: 'connected',
        caches: ['Response Cache'],
        foundBy: 'inbound',
        changesSent: 1,
        queuedChanges: 0,
        repairs: 1,
      }),
    ]);
    expect(typeof peers[0]?.lastSeen).toBe('number');

    const all = await admin.stats();
    expect(all.map((report) => report.name)).toEqual(['Response Cache', 'tokens']);
    const [responses] = await admin.stats('Response Cache');
    expect(responses?.statistics).toEqual(expect.objectContaining({ puts: 1, memorySize: 1 }));
    expect(responses?.replication).toEqual(
      expect.objectContaining({ sent: 1, peers: [expect.objectContaining({ node: 'gw-2' })] }),
    );
    const [tokens] = await admin.stats('tokens');
    expect(tokens?.replication).toBeNull();
  });

  it('answers a failed request with a code and a message that say what was wrong, and keeps serving', async () => {
    const a = await start('gw-1');
    const admin = await connect(a.url);
    const unknown = await failure(admin.get('Nope', 'k'));
    expect(unknown.code).toBe('E_UNKNOWN_CACHE');
    expect(unknown.message).toMatch(/no cache named "Nope".*"Response Cache", "tokens"/);
    expect((await failure(admin.put('Response Cache', 'k', 1, { ttlSeconds: -1 }))).code).toBe('E_INVALID_ARGUMENT');
    expect((await failure(admin.put('Response Cache', 'k', undefined))).code).toBe('E_INVALID_ARGUMENT');
    // What msgpack would not carry as it is is refused before it is sent, naming where (the session serves on).
    const surrogate = await failure(admin.put('Response Cache', 'k', { a: ['\ud800'] }));
    expect([surrogate.code, surrogate.message]).toEqual([
      'E_VALUE_NOT_ENCODABLE',
      expect.stringMatching(
        /^cannot put key "k" into "Response Cache": value\.a\[0\] is a string with a lone surrogate/,
      ),
    ]);
    // A key with a lone surrogate went as U+FFFD: a remove could take another key's entry.
    await admin.put('Response Cache', '\ufffd', 'another key');
    for (const call of [
      () => admin.put('Response Cache', '\udc00', 1),
      () => admin.get('Response Cache', '\udc00'),
      () => admin.remove('Response Cache', '\udc00'),
    ]) {
      const refused = await failure(call());
      expect([refused.code, refused.message]).toEqual([
        'E_INVALID_ARGUMENT',
        expect.stringMatching(/: the key is a string with a lone surrogate/),
      ]);
    }
    expect(await admin.get('Response Cache', '\ufffd')).toEqual({ found: true, value: 'another key' });
    expect((await failure(admin.get('Response Cache', 42 as unknown as string))).message).toMatch(
      /key must be a string/,
    );
    expect(await admin.get('Response Cache', 'k')).toEqual({ found: false });
  });

  it('refuses a wrong secret (E_AUTH) and says when nothing listens (E_UNREACHABLE)', async () => {
    const a = await start('gw-1');
    expect((await failure(AdminClient.connect(a.url, { secret: 'wrong' }))).code).toBe('E_AUTH');
    expect((await failure(AdminClient.connect('ws://127.0.0.1:9', { secret: 's' }))).code).toBe('E_UNREACHABLE');
    expect(a.peers()).toEqual([]); // an admin client is never a peer
  });

  it('a node that stops closes its admin sessions saying so (a watch ended on "1006" with no reason; found by the outside review)', async () => {
    const a = await start('gw-1');
    const admin = await connect(a.url);
    expect(await admin.peers()).toEqual([]);
    await a.stop();
    const error = await failure(admin.peers());
    expect(error.code).toBe('E_CLOSED');
    expect(error.message).toBe('the node closed the connection (1001 node stopping)');
  });

  it('keeps at most MAX_ADMIN_SESSIONS admin sessions open; one more is closed with 4008 (found by the outside attack)', async () => {
    const a = await start('gw-1');
    const open: Session[] = [];
    try {
      for (let i = 0; i < MAX_ADMIN_SESSIONS; i++) {
        const session = await adminSession(a.url, `dashboard-${i}`);
        open.push(session);
      }
      const admin = await connect(a.url).catch((error: unknown) => error);
      // Established, then closed at once: the next call fails, the node keeps serving the others.
      if (admin instanceof AdminClient) await expect(admin.peers()).rejects.toBeInstanceOf(AdminError);
      else expect(admin).toBeInstanceOf(AdminError);
      // A session that ends makes room.
      const closed = new Promise<void>((resolve) => open[0]?.connection.onClose(() => resolve()));
      open.shift()?.close();
      await closed;
      await until(async () => {
        try {
          return Array.isArray(await (await connect(a.url)).peers());
        } catch {
          return false;
        }
      }, 'room for one more admin session');
    } finally {
      for (const session of open) session.close();
    }
  });

  it('answers a burst of large gets whose answers pass the unsent bound, reading the rest as the client reads (the session was dropped; found by an attack)', async () => {
    const a = await start('gw-1');
    const big = 'x'.repeat(12 * 1024 * 1024);
    a.manager.getCache('tokens')?.put('big', big);
    const admin = await AdminClient.connect(a.url, { secret: SECRET, timeoutMillis: 20_000 });
    clients.push(admin);
    const answers = await Promise.all(Array.from({ length: 10 }, () => admin.get('tokens', 'big')));
    expect(answers.every((answer) => answer.found && answer.value === big)).toBe(true);
    expect(Array.isArray(await admin.peers())).toBe(true);
  }, 60_000); // past the client's own 20 s deadline, so a slow answer fails as the client's timeout, naming it

  it('answers E_VALUE_NOT_ENCODABLE for a value msgpack cannot carry (a local cache may hold a cycle), and keeps serving', async () => {
    const a = await start('gw-1');
    const user: Record<string, unknown> = { name: 'ann' };
    user['self'] = user;
    a.manager.getCache('tokens')?.put('u1', user);
    const admin = await connect(a.url);
    const error = await failure(admin.get('tokens', 'u1'));
    expect(error.code).toBe('E_VALUE_NOT_ENCODABLE');
    expect(Array.isArray(await admin.peers())).toBe(true); // the same session serves on
  });

  it('answers E_VALUE_NOT_ENCODABLE for a value past one frame (a local cache may hold one), instead of leaving the client to its timeout', async () => {
    const a = await start('gw-1');
    a.manager.getCache('tokens')?.put('huge', 'x'.repeat(17 * 1024 * 1024));
    const admin = await AdminClient.connect(a.url, { secret: SECRET, timeoutMillis: 20_000 });
    clients.push(admin);
    const error = await failure(admin.get('tokens', 'huge'));
    expect(error.code).toBe('E_VALUE_NOT_ENCODABLE');
    expect(error.message).toMatch(/larger than one frame carries/);
    expect(Array.isArray(await admin.peers())).toBe(true);
  }, 60_000); // past the client's own 20 s deadline, as above

  it('logs a well-encrypted bad message at warn once a minute per host, however often its sender reconnects (a line per reconnection before)', async () => {
    const lines: Array<[string, string]> = [];
    const log = (level: string) => (_: unknown, message: string) => lines.push([level, message]);
    const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
    const a = await startNode('gw-1', [], {}, { logger });
    for (let i = 0; i < 5; i++) {
      const session = await adminSession(a.url, `dashboard-${i}`);
      const closed = new Promise<number>((resolve) => session.connection.onClose((code) => resolve(code)));
      session.send({ type: MessageType.Sync, id: -1 } as never); // encrypted, but not a message
      expect(await closed).toBe(4002);
    }
    const bad = lines.filter(([, message]) => message === 'a bad message; closing the session');
    expect(bad.map(([level]) => level)).toEqual(['warn', 'debug', 'debug', 'debug', 'debug']);
  });

  it('a node answers E_VALUE_NOT_ENCODABLE for a value msgpack would not bring back as it is (a BigInt closed the session; found by the outside review)', async () => {
    const a = await start('gw-1');
    const tokens = a.manager.getCache('tokens');
    const admin = await connect(a.url);
    for (const [value, said] of [
      [{ n: 10n }, /value\.n is a bigint/],
      [[new Date(Number.NaN)], /value\[0\] is an invalid Date/],
      [new Map([['m', { f: () => 1 }]]), /value\.get\(m\)\.f is a function/],
    ] as const) {
      tokens?.put('k', value);
      const error = await failure(admin.get('tokens', 'k'));
      expect(error.code).toBe('E_VALUE_NOT_ENCODABLE');
      expect(error.message).toMatch(said);
    }
    expect(Array.isArray(await admin.peers())).toBe(true); // the same session serves on
  });

  it('says an answer it would not read was refused by this side, not closed by the node (a node from before that check sent a BigInt)', async () => {
    // An older node: it answers a get with whatever the cache holds.
    const admin = await olderNode(() => ({ found: true, value: 10n }));
    const error = await failure(admin.get('tokens', 'k'));
    expect(error.code).toBe('E_PROTOCOL');
    expect(error.message).toMatch(/^could not read the node's answer, so the connection was closed: .*BigInt/);
  });

  it('remove and clear say how the cache’s removals reach the other nodes; a node older than that answer says nothing of it', async () => {
    const a = await startNode('gw-1', [], {
      caches: {
        'Response Cache': { replication: {} },
        'by repair': { replication: { replicateRemovals: false } },
        tokens: {},
      },
    });
    const admin = await connect(a.url);
    a.manager.getCache('tokens')?.put('k', 1);
    expect(await admin.removeEntry('tokens', 'k')).toEqual({ removed: true, removals: 'none' });
    expect(await admin.removeEntry('Response Cache', 'k')).toEqual({ removed: false, removals: 'sent' });
    expect(await admin.removeEntry('by repair', 'k')).toEqual({ removed: false, removals: 'repair' });
    expect(await admin.clear('by repair')).toEqual({ removals: 'repair' });
    expect(await admin.clear('tokens')).toEqual({ removals: 'none' });
    expect(await admin.remove('Response Cache', 'k')).toBe(false); // as before: whether it was held

    const older = await olderNode((op) => (op === 'remove' ? { removed: true } : {}));
    expect(await older.removeEntry('tokens', 'k')).toEqual({ removed: true, removals: undefined });
    expect(await older.clear('tokens')).toEqual({ removals: undefined });
  });

  it('closes an admin session that sends anything but admin requests', async () => {
    const a = await start('gw-1');
    const session = await adminSession(a.url, 'admin-x');
    const closed = new Promise<number>((resolve) => session.connection.onClose((code) => resolve(code)));
    session.send({
      type: 1,
      cache: 'Response Cache',
      key: 'k',
      value: 1,
      version: { time: Date.now(), counter: 0, node: 'x' },
      createdAt: Date.now(),
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    });
    expect(await closed).toBe(4002);
    expect(a.manager.getCache('Response Cache')?.has('k')).toBe(false);
  });
});
