import { afterEach, describe, expect, it } from 'vitest';
import { type ChangeMessage, MessageType, WireCodec } from '../src/index.js';
import { type LocalIdentity, Session, type SessionMessage } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import type { Connection, Listener, Transport } from '../src/transport/transport.js';
import { WebSocketTransport } from '../src/transport/websocket.js';

const listeners: Listener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

const node = (name: string, overrides: Partial<LocalIdentity> = {}): LocalIdentity => ({
  cluster: 'gateways',
  node: name,
  url: `ws://127.0.0.1/${name}`,
  secret: 's3cret',
  ...overrides,
});

/** Connects two nodes over `transport` and runs the handshake on both ends. */
async function connect(a: LocalIdentity, b: LocalIdentity, transport: Transport = new MemoryNetwork(), timeout = 2000) {
  let accepted: Session | undefined;
  const ready = new Promise<Session>((resolve) => {
    void transport
      .listen(transport instanceof MemoryNetwork ? 'b' : 'ws://127.0.0.1:0', (connection) => {
        accepted = new Session(connection, b, timeout);
        resolve(accepted);
      })
      .then((listener) => {
        listeners.push(listener);
        return transport.dial(listener.address);
      })
      .then((connection) => {
        dialer = new Session(connection, a, timeout);
      });
  });
  let dialer: Session | undefined;
  const server = await ready;
  while (dialer === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
  return { dialer, server, both: Promise.allSettled([dialer.established, server.established]) };
}

const change: ChangeMessage = {
  type: MessageType.Remove,
  cache: 'tokens',
  key: 'prod/orders',
  version: { time: 1, counter: 0, node: 'a' },
};

describe('Session handshake', () => {
  it('establishes both ends with the same secret, each learning who the other is', async () => {
    const { dialer, server } = await connect(node('gw-1'), node('gw-2'));
    const peer = { role: 'peer', cluster: 'gateways' };
    expect(await dialer.established).toEqual({ node: 'gw-2', url: 'ws://127.0.0.1/gw-2', ...peer });
    expect(await server.established).toEqual({ node: 'gw-1', url: 'ws://127.0.0.1/gw-1', ...peer });
  });

  it('admits an admin client that knows the secret but not the cluster name, and says it is one', async () => {
    const admin = { ...node('admin-1'), cluster: '*', role: 'admin' as const };
    const { dialer, server } = await connect(admin, node('gw-2'));
    expect(await dialer.established).toEqual(
      expect.objectContaining({ node: 'gw-2', role: 'peer', cluster: 'gateways' }),
    );
    expect(await server.established).toEqual(expect.objectContaining({ node: 'admin-1', role: 'admin' }));
    const wrong = await connect({ ...admin, secret: 'guess' }, node('gw-2'));
    await expect(wrong.server.established).rejects.toMatchObject({ code: 'E_AUTH' });
  });

  it('then carries changes both ways, none lost before a handler is set', async () => {
    const { dialer, server } = await connect(node('gw-1'), node('gw-2'));
    await Promise.all([dialer.established, server.established]);
    dialer.send(change);
    dialer.send({ type: MessageType.Batch, changes: [change, change] });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const got: SessionMessage[] = [];
    server.onMessage((message) => got.push(message));
    server.send(change);
    const back: SessionMessage[] = [];
    dialer.onMessage((message) => back.push(message));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toEqual([change, { type: MessageType.Batch, changes: [change, change] }]);
    expect(back).toEqual([change]);
  });

  it.each([
    ['a wrong secret', node('gw-2', { secret: 'guess' }), 'E_AUTH', /did not prove the cluster secret/],
    ['no secret against a secret', node('gw-2', { secret: undefined }), 'E_AUTH', /did not prove/],
    ['another cluster', node('gw-2', { cluster: 'payments' }), 'E_PROTOCOL', /cluster "(payments|gateways)" is not/],
  ])('refuses %s on both ends, closing with a reason', async (_name, other, code, reason) => {
    const { dialer, server } = await connect(node('gw-1'), other);
    const results = await Promise.allSettled([dialer.established, server.established]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const reasons = results.map((r) => (r as PromiseRejectedResult).reason as { code: string; message: string });
    expect(reasons.some((r) => r.code === code && reason.test(r.message))).toBe(true);
    expect(dialer.connection.open).toBe(false);
    expect(server.connection.open).toBe(false);
  });

  it('two nodes without a secret accept each other (loopback development)', async () => {
    const { dialer, server } = await connect(node('gw-1', { secret: undefined }), node('gw-2', { secret: undefined }));
    await expect(dialer.established).resolves.toMatchObject({ node: 'gw-2' });
    await expect(server.established).resolves.toMatchObject({ node: 'gw-1' });
  });

  async function rawPeer(onFrame?: (raw: Connection) => void) {
    const network = new MemoryNetwork();
    let session: Session | undefined;
    const listener = await network.listen('b', (connection) => {
      session = new Session(connection, node('gw-2'), 200);
    });
    listeners.push(listener);
    const raw = await network.dial('b');
    onFrame?.(raw);
    while (session === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
    return { raw, session };
  }

  it('closes a connection that sends garbage, with 4002, and never hands it on', async () => {
    const { raw, session } = await rawPeer();
    const closed: Array<[number, string]> = [];
    raw.onClose((code, reason) => closed.push([code, reason]));
    raw.send(Buffer.from([0xc1, 0x00]));
    await expect(session.established).rejects.toMatchObject({ code: 'E_PROTOCOL' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(closed[0]?.[0]).toBe(4002);
    expect(closed[0]?.[1]).toMatch(/bad message from peer: not msgpack/);
  });

  it('closes with 4003 when the proof does not check out', async () => {
    const { raw, session } = await rawPeer();
    const closed: Array<[number, string]> = [];
    raw.onClose((code, reason) => closed.push([code, reason]));
    const codec = new WireCodec();
    raw.send(
      codec.encode({
        type: MessageType.Hello,
        protocol: 1,
        cluster: 'gateways',
        node: 'intruder',
        url: '',
        nonce: new Uint8Array(32),
      }),
    );
    raw.send(codec.encode({ type: MessageType.Proof, mac: new Uint8Array(32) }));
    await expect(session.established).rejects.toMatchObject({ code: 'E_AUTH' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(closed).toEqual([[4003, 'node "intruder" did not prove the cluster secret']]);
  });

  it('refuses a change sent before the handshake', async () => {
    const { raw, session } = await rawPeer();
    raw.send(new WireCodec().encode(change));
    await expect(session.established).rejects.toMatchObject({
      code: 'E_PROTOCOL',
      message: expect.stringContaining('before the handshake'),
    });
  });

  it('gives up on a peer that never says hello, after the timeout', async () => {
    const { session } = await rawPeer();
    await expect(session.established).rejects.toMatchObject({ code: 'E_TIMEOUT' });
  });

  it('works over real WebSockets on 127.0.0.1', async () => {
    const { dialer, server } = await connect(node('gw-1'), node('gw-2'), new WebSocketTransport());
    expect(await dialer.established).toMatchObject({ node: 'gw-2' });
    expect(await server.established).toMatchObject({ node: 'gw-1' });
    dialer.close();
  });
});
