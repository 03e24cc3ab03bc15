import { DeferredValue } from '@meshcache/core/internal';
import { until } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChangeMessage, MessageType } from '../src/internals.js';
import { encodeHello, frame, HELLO, PROLOGUE } from '../src/security/handshake-messages.js';
import { derivePsk } from '../src/security/keyring.js';
import { generateEphemeral, initialState, writeFirst } from '../src/security/noise.js';
import {
  OwnEphemerals,
  PROTOCOL_VERSIONS,
  READ_ONLY_MAX_FRAME_BYTES,
  type Session,
  type SessionMessage,
} from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { type Connection, delegatingConnection, type Listener, type Transport } from '../src/transport/transport.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { sessionOf, TEST_SECRET, type TestIdentity } from './sessions.js';

const listeners: Listener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

/** Connects a dialler and a listener over `transport` and starts the handshake on both. */
/**
 * The handshake timeout of a session whose test is not about the timeout: long, so that a loaded
 * machine (CI's two cores, a sibling test file beside) never turns a refusal into E_TIMEOUT. The
 * tests of the timeout give their own, short ones.
 */
const PATIENT = 10_000;

async function connect(
  dialler: TestIdentity,
  listener: TestIdentity,
  transport: Transport = new MemoryNetwork(),
  timeout = PATIENT,
) {
  let resolveServer: (session: Promise<Session>) => void = () => {};
  const server = new Promise<Session>((resolve) => {
    resolveServer = (session) => resolve(session);
  });
  const open = await transport.listen(transport instanceof MemoryNetwork ? 'b' : 'ws://127.0.0.1:0', (connection) =>
    resolveServer(sessionOf(connection, 'listener', listener, timeout)),
  );
  listeners.push(open);
  const connection = await transport.dial(open.address);
  const closed = new Promise<number>((resolve) => connection.onClose((code) => resolve(code)));
  const client = await sessionOf(connection, 'dialler', dialler, timeout);
  return { dialler: client, server: await server, closed };
}

/** A raw connection to a listener session: the test speaks for the dialler, byte by byte. */
async function rawToListener(listener: TestIdentity = { node: 'gw-2' }, timeout = PATIENT) {
  const network = new MemoryNetwork();
  let session: Promise<Session> | undefined;
  listeners.push(
    await network.listen('b', (connection) => (session = sessionOf(connection, 'listener', listener, timeout))),
  );
  const raw = await network.dial('b');
  const received: Uint8Array[] = [];
  raw.onFrame((frame) => received.push(frame));
  const closed = new Promise<[number, string]>((resolve) => raw.onClose((code, reason) => resolve([code, reason])));
  while (session === undefined) await tick();
  return { raw, session: await session, received, closed };
}

/** The frames a dialler session sends to a listener that never answers. */
async function framesOfDialler(identity: TestIdentity): Promise<Uint8Array[]> {
  const network = new MemoryNetwork();
  const frames: Uint8Array[] = [];
  listeners.push(await network.listen('sink', (connection) => connection.onFrame((frame) => frames.push(frame))));
  const session = await sessionOf(await network.dial('sink'), 'dialler', identity, 200);
  await session.established.catch(() => {});
  return frames;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
/** Versions no release speaks yet: a node of a release two ahead. */
const beyond = { min: PROTOCOL_VERSIONS.max + 1, max: PROTOCOL_VERSIONS.max + 2 };

const change: ChangeMessage = {
  type: MessageType.Remove,
  cache: 'tokens',
  key: 'prod/orders',
  version: { time: 1, counter: 0, node: 'a' },
};

describe('Session handshake (Noise NNpsk0)', () => {
  it('establishes both ends with the same secret, each learning who the other is', async () => {
    const { dialler, server } = await connect({ node: 'gw-1' }, { node: 'gw-2' });
    const common = { role: 'peer', grant: 'peer', cluster: 'gateways', protocol: PROTOCOL_VERSIONS.max };
    expect(await dialler.established).toEqual({ node: 'gw-2', url: 'ws://127.0.0.1/gw-2', ...common });
    expect(await server.established).toEqual({ node: 'gw-1', url: 'ws://127.0.0.1/gw-1', ...common });
  });

  it('then carries messages both ways, encrypted, none lost before a handler is set', async () => {
    const { dialler, server } = await connect({ node: 'gw-1' }, { node: 'gw-2' });
    await Promise.all([dialler.established, server.established]);
    dialler.send(change);
    dialler.send({ type: MessageType.Batch, changes: [change, change] });
    await tick();
    const got: SessionMessage[] = [];
    server.onMessage((message) => {
      got.push(message);
    });
    server.send(change);
    const back: SessionMessage[] = [];
    dialler.onMessage((message) => {
      back.push(message);
    });
    await tick();
    expect(got).toEqual([change, { type: MessageType.Batch, changes: [change, change] }]);
    expect(back).toEqual([change]);
  });

  it('closes the session (4002) when handling a message that arrived before the handler throws, never the process (found by an attack)', async () => {
    const { dialler, server } = await connect({ node: 'gw-1' }, { node: 'gw-2' });
    await Promise.all([dialler.established, server.established]);
    dialler.send(change);
    await tick();
    const closed = new Promise<number>((resolve) => server.connection.onClose((code) => resolve(code)));
    expect(() =>
      server.onMessage(() => {
        throw new RangeError('an answer that cannot be encoded');
      }),
    ).not.toThrow();
    expect(await closed).toBe(4002);
  });

  it('hands no early message on once one has closed the session (a later put was applied after the 4002; found by a review)', async () => {
    const { dialler, server } = await connect({ node: 'gw-1' }, { node: 'gw-2' });
    await Promise.all([dialler.established, server.established]);
    dialler.send(change);
    dialler.send({ ...change, key: 'second' });
    await tick();
    const handled: string[] = [];
    server.onMessage((message) => {
      handled.push((message as ChangeMessage & { key: string }).key);
      throw new RangeError('an answer that cannot be encoded');
    });
    expect(handled).toEqual(['prod/orders']);
  });

  it('fails at once on a connection already closed, instead of waiting out its timer (found by a review)', async () => {
    const network = new MemoryNetwork();
    listeners.push(await network.listen('b', () => {}));
    const connection = await network.dial('b');
    connection.close();
    // Its timer is a minute: the test's own timeout would end first.
    const session = await sessionOf(connection, 'dialler', { node: 'gw-1' }, 60_000);
    await expect(session.established).rejects.toMatchObject({ code: 'E_PROTOCOL' });
  });

  it('speaks the highest version both ends speak: 2 with a node held to protocol 2', async () => {
    const { dialler, server } = await connect({ node: 'gw-1' }, { node: 'gw-2', protocols: { min: 2, max: 2 } });
    expect(await dialler.established).toMatchObject({ protocol: 2 });
    expect(await server.established).toMatchObject({ protocol: 2 });
  });

  it('rekeys every rekeyInterval frames on both sides, losing nothing', async () => {
    const { dialler, server } = await connect({ node: 'gw-1', rekeyInterval: 3 }, { node: 'gw-2', rekeyInterval: 3 });
    await Promise.all([dialler.established, server.established]);
    const got: SessionMessage[] = [];
    server.onMessage((message) => {
      got.push(message);
    });
    for (let i = 0; i < 20; i++) dialler.send({ type: MessageType.Sync, id: i });
    await tick();
    expect(got.map((message) => (message as { id: number }).id)).toEqual([...Array(20).keys()]);
  });

  it('can leave frames unencrypted for a benchmark when both ends say so, and fails when they disagree', async () => {
    const plain = await connect({ node: 'gw-1', protectFrames: false }, { node: 'gw-2', protectFrames: false });
    await Promise.all([plain.dialler.established, plain.server.established]);
    const got: SessionMessage[] = [];
    plain.server.onMessage((message) => {
      got.push(message);
    });
    plain.dialler.send(change);
    await tick();
    expect(got).toEqual([change]);
    const mixed = await connect({ node: 'gw-1', protectFrames: false }, { node: 'gw-2' });
    await expect(mixed.server.established).rejects.toMatchObject({ code: 'E_AUTH' });
  });

  it('admits an admin client by the cluster secret when no admin secret is set', async () => {
    const { dialler, server } = await connect({ node: 'admin-1', role: 'admin', cluster: '' }, { node: 'gw-2' });
    expect(await dialler.established).toMatchObject({
      node: 'gw-2',
      role: 'admin',
      grant: 'admin',
      cluster: 'gateways',
    });
    expect(await server.established).toMatchObject({ node: 'admin-1', role: 'admin', grant: 'admin' });
  });

  describe('with an admin secret and a read-only secret', () => {
    const node = {
      node: 'gw-2',
      adminSecret: 'the admin secret, thirty-two bytes!',
      readOnlySecret: 'the read-only secret, 32 bytes or more',
    };

    it('grants every operation to the admin secret and reading to the read-only secret', async () => {
      const admin = await connect({ node: 'admin-1', role: 'admin', secret: node.adminSecret }, node);
      expect(await admin.server.established).toMatchObject({ role: 'admin', grant: 'admin' });
      const reader = await connect({ node: 'admin-2', role: 'admin', secret: node.readOnlySecret }, node);
      expect(await reader.server.established).toMatchObject({ role: 'admin', grant: 'read-only' });
      expect(await reader.dialler.established).toMatchObject({ grant: 'read-only' });
    });

    it('reads at most 64 KiB a frame from a read-only client, before decrypting it; the admin secret may send more (found by an outside audit)', async () => {
      const request = (key: string) =>
        ({ type: MessageType.AdminRequest, id: 1, op: 'get', args: ['c', key] }) as const;
      const bigKey = 'k'.repeat(READ_ONLY_MAX_FRAME_BYTES);
      const reader = await connect({ node: 'admin-2', role: 'admin', secret: node.readOnlySecret }, node);
      await reader.dialler.established;
      await expect(reader.server.established).resolves.toMatchObject({ grant: 'read-only' });
      const read: unknown[] = [];
      reader.server.onMessage((message) => {
        read.push(message);
      });
      expect(reader.dialler.send(request('small'))).toBe(true);
      await until(() => read.length === 1, 'the small request to be read');
      expect(reader.dialler.send(request(bigKey))).toBe(true);
      await until(() => read.length > 1 || !reader.server.connection.open, 'the large request to be read or refused');
      expect(read).toHaveLength(1);
      expect(await reader.closed).toBe(1009);
      const admin = await connect({ node: 'admin-1', role: 'admin', secret: node.adminSecret }, node);
      await admin.dialler.established;
      const taken: unknown[] = [];
      admin.server.onMessage((message) => {
        taken.push(message);
      });
      expect(admin.dialler.send(request(bigKey))).toBe(true);
      await until(() => taken.length === 1, "the admin secret's large request to be read");
      expect(admin.server.connection.open).toBe(true);
    });

    it('no longer admits admin clients by the cluster secret, and admits no peer by an admin secret', async () => {
      const byCluster = await connect({ node: 'admin-1', role: 'admin' }, node);
      await expect(byCluster.server.established).rejects.toMatchObject({ code: 'E_AUTH' });
      const peerByAdmin = await connect({ node: 'gw-1', secret: node.adminSecret }, node);
      await expect(peerByAdmin.server.established).rejects.toMatchObject({ code: 'E_AUTH' });
      const peer = await connect({ node: 'gw-1' }, node);
      await expect(peer.server.established).resolves.toMatchObject({ grant: 'peer' });
    });
  });

  it('accepts a dialler with an older secret listed in acceptedSecrets (a rotation)', async () => {
    const older = 'the secret before the rotation, 32+ bytes';
    const { server } = await connect({ node: 'gw-1', secret: older }, { node: 'gw-2', acceptedSecrets: [older] });
    await expect(server.established).resolves.toMatchObject({ node: 'gw-1', grant: 'peer' });
  });

  it.each([
    ['a wrong secret', { node: 'gw-1', secret: 'a guess that is long enough to be allowed' }, 'E_AUTH', 4003],
    ['no secret against a secret', { node: 'gw-1', secret: undefined }, 'E_AUTH', 4003],
    ['another cluster', { node: 'gw-1', cluster: 'payments' }, 'E_PROTOCOL', 4002],
    ['no common protocol version', { node: 'gw-1', protocols: beyond }, 'E_PROTOCOL', 4002],
    ['the listener’s own name', { node: 'gw-2' }, 'E_PROTOCOL', 4002],
  ] as const)('refuses %s, closing both ends', async (_name, dialler, code, closeCode) => {
    const { dialler: client, server, closed } = await connect(dialler, { node: 'gw-2' });
    await expect(server.established).rejects.toMatchObject({ code });
    await expect(client.established).rejects.toBeDefined();
    expect(await closed).toBe(closeCode);
    expect(server.connection.open).toBe(false);
  });

  it('says which versions each side speaks when they share none (the other side is told only that)', async () => {
    const { dialler: client, server, closed } = await connect({ node: 'gw-1', protocols: beyond }, { node: 'gw-2' });
    await expect(server.established).rejects.toMatchObject({
      message: expect.stringMatching(
        new RegExp(
          `^no common protocol version: this node speaks \\d+( to \\d+)?, the other ${beyond.min} to ${beyond.max}$`,
        ),
      ),
    });
    // The dialler is told the fixed reason, which it says (it said only 4002, as for a dead node).
    await expect(client.established).rejects.toMatchObject({
      message: 'the other side closed the connection during the handshake (4002 no common protocol version)',
    });
    expect(await closed).toBe(4002);
  });

  it('a dialler says a fixed reason of the handshake it was refused with, and no other text', async () => {
    const other = await connect({ node: 'gw-1', cluster: 'payments' }, { node: 'gw-2' });
    await expect(other.dialler.established).rejects.toMatchObject({
      message: 'the other side closed the connection during the handshake (4002 cluster mismatch)',
    });
    const wrong = await connect(
      { node: 'gw-1', secret: 'a guess that is long enough to be allowed' },
      { node: 'gw-2' },
    );
    await expect(wrong.dialler.established).rejects.toMatchObject({
      code: 'E_AUTH',
      message: 'the other side closed the connection during the handshake (4003 authentication failed)',
    });
    // A listener that closes with a text of its own choosing: not repeated into this node's logs.
    const network = new MemoryNetwork();
    listeners.push(
      await network.listen('b', (connection) => connection.onFrame(() => connection.close(4002, 'run rm -rf /\n'))),
    );
    const told = await sessionOf(await network.dial('b'), 'dialler', { node: 'gw-1' }, 1000);
    await expect(told.established).rejects.toMatchObject({
      message: 'the other side closed the connection during the handshake (4002)',
    });
  });

  it('takes a close with the self code for a refusal, not for a dial of itself: anyone could send it (found by an attack)', async () => {
    const network = new MemoryNetwork();
    listeners.push(await network.listen('b', (connection) => connection.onFrame(() => connection.close(4005, ''))));
    const told = await sessionOf(await network.dial('b'), 'dialler', { node: 'gw-1' }, 1000);
    await expect(told.established).rejects.toMatchObject({ code: 'E_PROTOCOL' });
  });

  it('two nodes without a secret accept each other (loopback development)', async () => {
    const { dialler, server } = await connect({ node: 'gw-1', secret: undefined }, { node: 'gw-2', secret: undefined });
    await expect(dialler.established).resolves.toMatchObject({ node: 'gw-2' });
    await expect(server.established).resolves.toMatchObject({ node: 'gw-1' });
  });

  it('a node that dials its own listener learns it (E_SELF); another process with its name is refused', async () => {
    const own = new OwnEphemerals();
    const self = await connect({ node: 'gw-1', ownEphemerals: own }, { node: 'gw-1', ownEphemerals: own });
    await expect(self.dialler.established).rejects.toMatchObject({ code: 'E_SELF' });
    await expect(self.server.established).rejects.toMatchObject({ code: 'E_SELF' });
    const twin = await connect({ node: 'gw-1' }, { node: 'gw-1', ownEphemerals: new OwnEphemerals() });
    await expect(twin.server.established).rejects.toMatchObject({
      code: 'E_PROTOCOL',
      message: 'another node uses this node name',
    });
  });

  it('works over real WebSockets on 127.0.0.1', async () => {
    const { dialler, server } = await connect({ node: 'gw-1' }, { node: 'gw-2' }, new WebSocketTransport());
    expect(await dialler.established).toMatchObject({ node: 'gw-2' });
    expect(await server.established).toMatchObject({ node: 'gw-1' });
    dialler.close();
  });
});

describe('Session before authentication: the listener says nothing to whoever lacks the key', () => {
  it('closes on garbage with 4002 and a fixed reason, having sent nothing', async () => {
    const { raw, session, received, closed } = await rawToListener();
    raw.send(Buffer.from([0xc1, 0x00]));
    await expect(session.established).rejects.toMatchObject({ code: 'E_PROTOCOL' });
    expect(await closed).toEqual([4002, 'bad handshake message']);
    expect(received).toEqual([]);
  });

  it('closes on a Hello under another key with 4003, having sent nothing', async () => {
    const [hello] = await framesOfDialler({ node: 'intruder', secret: 'not the cluster secret, but long enough' });
    const { raw, session, received, closed } = await rawToListener();
    raw.send(hello as Uint8Array);
    await expect(session.established).rejects.toMatchObject({ code: 'E_AUTH' });
    expect(await closed).toEqual([4003, 'authentication failed']);
    expect(received).toEqual([]);
  });

  it('refuses a keyed Hello whose ephemeral key is of low order as a bad message, not an internal error (found by an attack)', async () => {
    const psk = await derivePsk(TEST_SECRET);
    const lowOrder = { ...generateEphemeral(), publicKey: Buffer.alloc(32) };
    const payload = encodeHello({
      minProtocol: 2,
      maxProtocol: 5,
      role: 'peer',
      cluster: 'gateways',
      node: 'x',
      url: '',
    });
    const { raw, session, received, closed } = await rawToListener();
    raw.send(frame(HELLO, writeFirst(initialState(PROLOGUE), psk, lowOrder, payload)));
    await expect(session.established).rejects.toMatchObject({ code: 'E_PROTOCOL' });
    expect(await closed).toEqual([4002, 'bad handshake message']);
    expect(received).toEqual([]);
  });

  it('judges an oversized first frame by its length alone', async () => {
    const { raw, session, received, closed } = await rawToListener();
    const big = Buffer.alloc(4096, 0x80);
    big.write('mc\u0001\u0001', 0, 'latin1');
    raw.send(big);
    await expect(session.established).rejects.toMatchObject({ code: 'E_PROTOCOL' });
    expect((await closed)[0]).toBe(4002);
    expect(received).toEqual([]);
  });

  it('answers a replayed Hello but never establishes: the replayer cannot confirm', async () => {
    const [hello] = await framesOfDialler({ node: 'gw-1' }); // recorded from a real dialler
    const { raw, session, received } = await rawToListener({ node: 'gw-2' }, 200);
    raw.send(hello as Uint8Array);
    await expect(session.established).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    expect(received).toHaveLength(1); // the Welcome, useless without gw-1's ephemeral key
    raw.send(Buffer.alloc(16)); // a guessed confirmation
    expect(session.connection.open).toBe(false);
  });

  it('seals the Confirm also when frames are left unencrypted: a replayed Hello and an empty frame established a peer without the secret (found by an outside audit)', async () => {
    const [hello] = await framesOfDialler({ node: 'gw-1', protectFrames: false }); // recorded from a real dialler
    for (const guess of [Buffer.alloc(0), Buffer.of(0), Buffer.alloc(17)]) {
      const { raw, session, received } = await rawToListener({ node: 'gw-2', protectFrames: false });
      raw.send(hello as Uint8Array);
      await until(() => received.length === 1, 'the Welcome');
      raw.send(guess);
      await expect(session.established).rejects.toMatchObject({ code: 'E_AUTH' });
      expect(session.connection.open).toBe(false);
    }
  });

  it('refuses a confirmation that does not decrypt, with 4003', async () => {
    const [hello] = await framesOfDialler({ node: 'gw-1' });
    const { raw, session, closed } = await rawToListener();
    raw.send(hello as Uint8Array);
    await tick();
    raw.send(Buffer.alloc(16, 7));
    await expect(session.established).rejects.toMatchObject({ code: 'E_AUTH' });
    expect(await closed).toEqual([4003, 'authentication failed']);
  });

  it('gives up on a peer that never speaks, and on a listener that never answers, after the timeout', async () => {
    const { session } = await rawToListener({ node: 'gw-2' }, 100);
    await expect(session.established).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const network = new MemoryNetwork();
    listeners.push(await network.listen('mute', () => {}));
    const dialler = await sessionOf(await network.dial('mute'), 'dialler', { node: 'gw-1' }, 100);
    await expect(dialler.established).rejects.toMatchObject({ code: 'E_TIMEOUT' });
  });
});

describe('Session after authentication', () => {
  /** An established pair whose dialler→listener frames pass through `tamper` first. */
  async function pairThrough(tamper: (frame: Uint8Array) => Uint8Array | undefined) {
    const network = new MemoryNetwork();
    let listenerEnd: Promise<Session> | undefined;
    listeners.push(await network.listen('b', (c) => (listenerEnd = sessionOf(c, 'listener', { node: 'gw-2' }))));
    const inner = await network.dial('b');
    let armed = false;
    const wrapped = delegatingConnection(inner, {
      send: (frame) => {
        const out = armed ? tamper(frame) : frame;
        if (out !== undefined) inner.send(out);
      },
    });
    const dialler = await sessionOf(wrapped, 'dialler', { node: 'gw-1' });
    while (listenerEnd === undefined) await tick();
    const server = await listenerEnd;
    await Promise.all([dialler.established, server.established]);
    armed = true;
    const got: SessionMessage[] = [];
    server.onMessage((message) => {
      got.push(message);
    });
    const closed = new Promise<[number, string]>((resolve) => server.connection.onClose((c, r) => resolve([c, r])));
    return { dialler, server, got, closed };
  }

  it.each([
    ['a flipped bit', (frame: Uint8Array) => Buffer.from(frame).fill(frame[0] === 0 ? 1 : 0, 0, 1)],
    ['a frame injected in the middle', () => Buffer.alloc(64, 1)],
  ])('closes on %s (frame authentication), applying nothing', async (_name, tamper) => {
    const { dialler, got, closed } = await pairThrough(tamper);
    dialler.send(change);
    expect(await closed).toEqual([4002, 'frame failed authentication']);
    expect(got).toEqual([]);
  });

  it('closes when a frame is dropped or replayed: the next one fails its nonce', async () => {
    let seen = 0;
    let first: Uint8Array | undefined;
    const { dialler, got, closed } = await pairThrough((frame) => {
      seen++;
      if (seen === 1) {
        first = frame;
        return frame;
      }
      return first; // the first frame again instead of the second
    });
    dialler.send(change);
    dialler.send({ ...change, key: 'second' });
    expect(await closed).toEqual([4002, 'frame failed authentication']);
    expect(got).toEqual([change]);
  });

  it('closes on a well-encrypted message that is not one (4002), changing nothing', async () => {
    const { dialler, got, closed } = await pairThrough((frame) => frame);
    dialler.send({ type: MessageType.Sync, id: -1 } as never);
    expect(await closed).toEqual([4002, 'bad message']);
    expect(got).toEqual([]);
  });

  describe('frames of a repair over real WebSockets, while the reader is paused and after', () => {
    /**
     * A dialler that sends two waves of Entries (each ~300 KB, every value naming its frame) to a
     * listener that reads none of the first until all are sent; the frames the dialler hands its
     * connection are seen on the way.
     */
    async function twoWaves(protectFrames: boolean) {
      const transport = new WebSocketTransport();
      let listenerSide: Promise<Session> | undefined;
      let paused: Connection | undefined;
      const open = await transport.listen('ws://127.0.0.1:0', (connection) => {
        paused = connection;
        listenerSide = sessionOf(connection, 'listener', { node: 'gw-2', protectFrames }, PATIENT);
      });
      listeners.push(open);
      const inner = await transport.dial(open.address);
      const handed: Uint8Array[] = [];
      const connection = delegatingConnection(inner, {
        send: (frame, written) => {
          handed.push(frame);
          inner.send(frame, written);
        },
      });
      const dialler = await sessionOf(connection, 'dialler', { node: 'gw-1', protectFrames }, PATIENT);
      await until(async () => listenerSide !== undefined, 'the listener side');
      const server = await (listenerSide as Promise<Session>);
      await Promise.all([dialler.established, server.established]);
      const values = new Map<string, string>();
      server.onMessage((message) => {
        if (message.type !== MessageType.Entries) return;
        for (const change of message.changes) {
          if (change.type !== MessageType.Put) continue;
          const value = change.value instanceof DeferredValue ? change.value.resolve() : change.value;
          values.set(change.key, value as string);
        }
      });
      const entries = (frame: number): SessionMessage => ({
        type: MessageType.Entries,
        changes: Array.from({ length: 100 }, (_, i) => ({
          type: MessageType.Put,
          cache: 'c',
          key: `${frame}:${i}`,
          value: `${frame}:${i}:`.padEnd(3000, String.fromCharCode(97 + (frame % 26))),
          version: { time: 1, counter: 0, node: 'gw-1' },
          createdAt: 1,
          timeToLiveSeconds: 0,
          timeToIdleSeconds: 0,
        })),
      });
      const expectAll = async (frames: number[]) => {
        await until(async () => frames.every((f) => values.has(`${f}:99`)), `frames ${frames.join(',')}`, 30_000);
        for (const f of frames) {
          for (let i = 0; i < 100; i++) {
            expect(values.get(`${f}:${i}`)).toBe(`${f}:${i}:`.padEnd(3000, String.fromCharCode(97 + (f % 26))));
          }
        }
      };
      const before = handed.length;
      (paused as Connection).pauseReading();
      const first = Array.from({ length: 30 }, (_, i) => i);
      for (const f of first) expect(dialler.send(entries(f))).toBe(true);
      const firstWave = handed.slice(before);
      await new Promise((resolve) => setTimeout(resolve, 50));
      (paused as Connection).resumeReading();
      await expectAll(first);
      const afterFirst = handed.length;
      const second = Array.from({ length: 30 }, (_, i) => 30 + i);
      for (const f of second) expect(dialler.send(entries(f))).toBe(true);
      await expectAll(second);
      dialler.close();
      return { firstWave, secondWave: handed.slice(afterFirst) };
    }

    /** Whether two of `frames` share bytes. */
    const overlapping = (frames: Uint8Array[]) =>
      frames.some((a, i) =>
        frames.some(
          (b, j) =>
            i < j &&
            a.buffer === b.buffer &&
            a.byteOffset < b.byteOffset + b.length &&
            b.byteOffset < a.byteOffset + a.length,
        ),
      );

    it('seals into buffers used again only once the socket has written them, every frame intact', async () => {
      const { firstWave, secondWave } = await twoWaves(true);
      // Sent while nothing was read: no buffer served two frames still unwritten.
      expect(new Set(firstWave.map((frame) => frame.buffer)).size).toBe(firstWave.length);
      // Written since: the second wave was sealed into the first wave's buffers.
      const first = new Set(firstWave.map((frame) => frame.buffer));
      expect(secondWave.some((frame) => first.has(frame.buffer))).toBe(true);
    }, 60_000);

    it('sends frames left unencrypted as they were written, none sharing bytes with another, every frame intact', async () => {
      const { firstWave } = await twoWaves(false);
      expect(firstWave).toHaveLength(30);
      expect(overlapping(firstWave)).toBe(false);
    }, 60_000);
  });

  it('sends a batch past a frame in halves, and one change past a frame not at all, over real WebSockets, the link kept', async () => {
    // The peer's ws refuses a frame past 16 MiB (1009). Estimates keep batches and values under
    // it; this is the check on the real bytes, for whatever the estimates missed.
    const errors: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (_details: object, message: string) => errors.push(message),
    };
    const { dialler, server, closed } = await connect(
      { node: 'gw-1', logger },
      { node: 'gw-2' },
      new WebSocketTransport({ maxPayload: 16 * 1024 * 1024 }),
    );
    await Promise.all([dialler.established, server.established]);
    const got: SessionMessage[] = [];
    server.onMessage((message) => {
      got.push(message);
    });
    const put = (key: string, bytes: number): ChangeMessage => ({
      type: MessageType.Put,
      cache: 'c',
      key,
      value: 'v'.repeat(bytes),
      version: { time: 1, counter: 0, node: 'gw-1' },
      createdAt: 1,
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    });
    const mib = 1024 * 1024;
    dialler.send({ type: MessageType.Batch, changes: [put('a', 7 * mib), put('b', 7 * mib), put('c', 7 * mib)] });
    dialler.send({ type: MessageType.Batch, changes: [put('too large', 17 * mib)] });
    dialler.send({ type: MessageType.Batch, changes: [put('after', 10)] });
    const keys = () =>
      got.flatMap((m) => (m.type === MessageType.Batch ? m.changes.map((c) => (c as { key: string }).key) : []));
    // 21 MiB sealed, sent and opened: seconds on a loaded machine.
    await until(async () => keys().includes('after'), 'the change sent after the one too large', 30_000);
    expect(keys()).toEqual(['a', 'b', 'c', 'after']);
    expect(got.length).toBeGreaterThanOrEqual(3); // the first batch arrived as two frames or more
    expect(errors).toEqual(['a change too large for one frame was not sent to the peer']);
    const open = await Promise.race([closed.then(() => false), new Promise((r) => setTimeout(() => r(true), 50))]);
    expect(open).toBe(true);
    dialler.close();
  }, 60_000);
});
