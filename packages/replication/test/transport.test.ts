import { createHash } from 'node:crypto';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { until } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ChaosTransport } from '../src/transport/chaos.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { type Connection, MAX_SCOPE_PATH_BYTES, scopedAddress, scopeOfPath } from '../src/transport/transport.js';
import { listenPort, WebSocketTransport } from '../src/transport/websocket.js';
import { describeTransportConformance } from './transport-conformance.js';

let next = 0;
describeTransportConformance('MemoryNetwork', () => ({ transport: new MemoryNetwork(), address: `node-${++next}` }));
describeTransportConformance('WebSocketTransport', () => ({
  transport: new WebSocketTransport(),
  address: 'ws://127.0.0.1:0',
}));
describeTransportConformance('WebSocketTransport dialling with a zero mask (maskFrames: false)', () => ({
  transport: new WebSocketTransport({ maskFrames: false }),
  address: 'ws://127.0.0.1:0',
}));
describeTransportConformance('ChaosTransport with no chaos', () => ({
  transport: new ChaosTransport(new MemoryNetwork()),
  address: 'chaos',
}));

describe('scoped addresses', () => {
  it('name the caches in the path, each encoded; none, for a list a path would not carry whole', () => {
    expect(scopedAddress('ws://b:1', undefined)).toBe('ws://b:1');
    expect(scopedAddress('ws://b:1', ['Response Cache', 'a/b'])).toBe('ws://b:1/Response%20Cache/a%2Fb');
    // URL parsing resolves dot segments away (encoded too), and a listener takes heads of 8 KiB at most
    expect(scopedAddress('ws://b:1', ['R', '..'])).toBe('ws://b:1');
    expect(scopedAddress('ws://b:1', ['R', '.'])).toBe('ws://b:1');
    const many = Array.from({ length: 200 }, (_, i) => `cache-${i}-${'x'.repeat(40)}`);
    expect(scopedAddress('ws://b:1', many)).toBe('ws://b:1');
    expect(scopedAddress('ws://b:1', many.slice(0, 10)).length).toBeLessThan(MAX_SCOPE_PATH_BYTES);
    expect(scopeOfPath(new URL(scopedAddress('ws://b:1', many.slice(0, 10))).pathname)).toEqual(many.slice(0, 10));
  });

  it('a memory network dials the listener whose address prefixes the most of what was dialled', async () => {
    const network = new MemoryNetwork();
    const reached: string[] = [];
    const outer = await network.listen('mem://x', (c) => reached.push(`x ${JSON.stringify(c.scope)}`));
    const inner = await network.listen('mem://x/y', (c) => reached.push(`x/y ${JSON.stringify(c.scope)}`));
    await network.dial('mem://x/y/R');
    await network.dial('mem://x/R');
    expect(reached).toEqual(['x/y ["R"]', 'x ["R"]']);
    await outer.close();
    await inner.close();
  });
});

describe('WebSocketTransport masking', () => {
  /**
   * A bare TCP server that answers a dial's upgrade (then `upgraded(socket)`), and keeps every
   * byte the dial sends after it, as on the wire.
   */
  async function bareServer(upgraded: (socket: Socket) => void = () => {}) {
    let received = Buffer.alloc(0);
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      let open = false;
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (open) return;
        const head = received.indexOf('\r\n\r\n');
        if (head < 0) return;
        const key = /sec-websocket-key: *(\S+)/i.exec(received.subarray(0, head).toString('latin1'))?.[1] ?? '';
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        open = true;
        received = received.subarray(head + 4);
        upgraded(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      address: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
      received: () => received,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** The first frame a dialled connection sends, as bytes on the wire. */
  async function firstFrame(transport: WebSocketTransport, payload: Buffer): Promise<Buffer> {
    const server = await bareServer();
    try {
      const connection = await transport.dial(server.address);
      connection.send(payload);
      // binary, final, masked, 7-bit length: 2 header bytes, 4 of mask, then the payload
      await until(() => server.received().length >= 6 + payload.length, 'the first frame to arrive', 5000);
      connection.close(1000, 'done');
      return server.received().subarray(0, 6 + payload.length);
    } finally {
      await server.close();
    }
  }

  it('dials with a zero mask when maskFrames is false (the payload crosses as it is), and with a mask by default', async () => {
    const payload = Buffer.from('sealed frame bytes');
    const unmasked = await firstFrame(new WebSocketTransport({ maskFrames: false }), payload);
    expect(unmasked[1]).toBe(0x80 | payload.length); // the mask bit is still set, as RFC 6455 requires of a client
    expect([...unmasked.subarray(2, 6)]).toEqual([0, 0, 0, 0]);
    expect(unmasked.subarray(6)).toEqual(payload);
    const masked = await firstFrame(new WebSocketTransport(), payload);
    expect(masked[1]).toBe(0x80 | payload.length);
    expect(masked.subarray(6)).not.toEqual(payload);
  });

  it('answers a ping with an empty pong: whoever a node dials cannot have it echo bytes in clear (found by an attack)', async () => {
    const chosen = Buffer.from('GET /poison HTTP/1.1\r\nHost: victim.example\r\n\r\n');
    const server = await bareServer((socket) => socket.write(Buffer.concat([Buffer.of(0x89, chosen.length), chosen])));
    try {
      const connection = await new WebSocketTransport({ maskFrames: false }).dial(server.address);
      // A pong (0x8a), masked with a zero mask as every frame of such a dial, and empty.
      await until(() => server.received().length >= 6, 'the pong', 5000);
      expect([...server.received().subarray(0, 6)]).toEqual([0x8a, 0x80, 0, 0, 0, 0]);
      expect(server.received().includes(chosen)).toBe(false);
      connection.close(1000, 'done');
    } finally {
      await server.close();
    }
  });
});

describe('WebSocketTransport limits', () => {
  async function server(maxPayload?: number) {
    const transport = new WebSocketTransport(maxPayload === undefined ? {} : { maxPayload });
    const accepted: Connection[] = [];
    const listener = await transport.listen('ws://127.0.0.1:0', (connection) => accepted.push(connection));
    return { transport, listener, accepted };
  }

  it('listens on a real port when asked for port 0', async () => {
    const { listener } = await server();
    expect(listener.address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(listener.address).not.toBe('ws://127.0.0.1:0');
    await listener.close();
  });

  it('closes a connection that sends a frame over maxPayload, and the server keeps serving', async () => {
    const { transport, listener, accepted } = await server(1024);
    const client = await transport.dial(listener.address);
    const closed: number[] = [];
    client.onClose((code) => closed.push(code));
    client.send(Buffer.alloc(4096, 1));
    await until(() => closed.length === 1, 'the close');
    expect(closed[0]).toBe(1009);
    const again = await transport.dial(listener.address);
    const got: number[] = [];
    await until(() => accepted.length === 2, 'both connections accepted');
    accepted[1]?.onFrame((frame) => got.push(frame.length));
    again.send(Buffer.alloc(100));
    await until(() => got.length === 1, 'the frame');
    again.close();
    await listener.close();
  });

  it('closes a connection that sends a text frame with 4002', async () => {
    const { listener } = await server();
    const raw = new WebSocket(listener.address);
    await new Promise((resolve) => raw.once('open', resolve));
    const code = new Promise<number>((resolve) => raw.once('close', (c) => resolve(c)));
    raw.send('hello?');
    expect(await code).toBe(4002);
    await listener.close();
  });

  it('does not hold the silence of a paused connection against the other side (its heartbeat would end it)', async () => {
    const transport = new WebSocketTransport({ heartbeatMillis: 50, heartbeatTolerance: 2 });
    const accepted: Connection[] = [];
    const listener = await transport.listen('ws://127.0.0.1:0', (connection) => accepted.push(connection));
    const client = await transport.dial(listener.address);
    await until(() => accepted.length === 1, 'the connection accepted');
    const connection = accepted[0] as Connection;
    connection.pauseReading();
    await new Promise((resolve) => setTimeout(resolve, 400)); // four times the tolerance
    expect(connection.open).toBe(true);
    connection.resumeReading();
    const got: number[] = [];
    connection.onFrame((frame) => got.push(frame.length));
    client.send(Buffer.alloc(10));
    await until(() => got.length === 1, 'a frame after the resume');
    client.close();
    await listener.close();
  });

  it('drops at once a connection closed with 4008 while bytes wait unsent (ws held them for 30 s behind the close frame)', async () => {
    const { listener, accepted } = await server();
    const raw = new WebSocket(listener.address);
    await new Promise((resolve) => raw.once('open', resolve));
    const rawClosed = new Promise<number>((resolve) => raw.once('close', (c) => resolve(c)));
    // The client stops reading: what the server sends stays in its buffers.
    (raw as unknown as { _socket: Socket })._socket.pause();
    await until(() => accepted.length === 1, 'the connection accepted');
    const connection = accepted[0] as Connection;
    const closed = new Promise<[number, string]>((resolve) =>
      connection.onClose((code, reason) => resolve([code, reason])),
    );
    for (let i = 0; i < 8 && connection.bufferedAmount === 0; i++) connection.send(Buffer.alloc(8 * 1024 * 1024));
    expect(connection.bufferedAmount).toBeGreaterThan(0);
    connection.close(4008, 'too many unsent bytes');
    expect(await closed).toEqual([4008, 'too many unsent bytes']);
    expect(connection.bufferedAmount).toBe(0);
    (raw as unknown as { _socket: Socket })._socket.resume();
    expect(await rawClosed).toBe(1006);
    await listener.close();
  });

  it('drops at once on 4008 a connection whose close is already under way behind unsent bytes (a client held 60 MiB so, found by an attack)', async () => {
    const { listener, accepted } = await server();
    const raw = new WebSocket(listener.address);
    await new Promise((resolve) => raw.once('open', resolve));
    (raw as unknown as { _socket: Socket })._socket.pause();
    await until(() => accepted.length === 1, 'the connection accepted');
    const connection = accepted[0] as Connection;
    const closed = new Promise<number>((resolve) => connection.onClose((code) => resolve(code)));
    for (let i = 0; i < 8 && connection.bufferedAmount === 0; i++) connection.send(Buffer.alloc(8 * 1024 * 1024));
    connection.close(4002, 'bad message'); // its close frame waits behind what the client does not read
    connection.close(4008, 'too many unsent bytes');
    expect(await closed).toBe(4008);
    expect(connection.bufferedAmount).toBe(0);
    raw.terminate();
    await listener.close();
  });

  it('says an address that answers HTTP without upgrading is not a peer port (an operator endpoint given as --node)', async () => {
    const http = createServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n')),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const port = (http.address() as AddressInfo).port;
      await expect(new WebSocketTransport().dial(`ws://127.0.0.1:${port}`)).rejects.toThrow(
        /answered HTTP 200 instead of a WebSocket upgrade: not a meshcache peer port/,
      );
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("gives up a dial whose upgrade answer drips in a byte at a time within its timeout: ws's timeout is an idle one (found by an outside audit)", async () => {
    const drips: NodeJS.Timeout[] = [];
    const dripping = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\n');
        let sent = 0;
        const drip = setInterval(() => {
          // A header byte every 50 ms, far inside the 300 ms timeout; 400 at most (20 s).
          if (socket.destroyed || sent++ > 400) clearInterval(drip);
          else socket.write('X');
        }, 50);
        drips.push(drip);
      });
    });
    await new Promise<void>((resolve) => dripping.listen(0, '127.0.0.1', resolve));
    try {
      const port = (dripping.address() as AddressInfo).port;
      await expect(new WebSocketTransport({ dialTimeoutMillis: 300 }).dial(`ws://127.0.0.1:${port}`)).rejects.toThrow(
        /the WebSocket upgrade did not finish within 300 ms/,
      );
    } finally {
      for (const drip of drips) clearInterval(drip);
      dripping.close();
    }
  }, 30_000);

  it('answers a plain HTTP request with 426 and nothing else', async () => {
    const { listener } = await server();
    const port = Number(new URL(listener.address).port);
    const answer = await new Promise<string>((resolve) => {
      const socket = createConnection(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
    });
    expect(answer).toMatch(/^HTTP\/1.1 426/);
    await listener.close();
  });
});

describe('WebSocketTransport: connections waiting for authentication', () => {
  /** Opens a raw WebSocket from `localAddress`; resolves with it and the HTTP status it got. */
  function open(address: string, localAddress: string): Promise<{ socket: WebSocket; status: number }> {
    return new Promise((resolve) => {
      const socket = new WebSocket(address, { localAddress });
      socket.on('error', () => {});
      socket.once('open', () => resolve({ socket, status: 101 }));
      socket.once('unexpected-response', (_request, response) => resolve({ socket, status: response.statusCode ?? 0 }));
    });
  }

  it('drops a connection it closed before authentication that never answers the close frame, freeing its place (ws waited 30 s; found by an outside audit)', async () => {
    const transport = new WebSocketTransport({ preAuth: { maxConnections: 4, maxPerAddress: 1 }, heartbeatMillis: 0 });
    // Every connection is refused at once, as a handshake that failed or timed out is.
    const listener = await transport.listen('ws://127.0.0.1:0', (connection) =>
      connection.close(4002, 'handshake timed out'),
    );
    const port = Number(new URL(listener.address).port);
    const pings: NodeJS.Timeout[] = [];
    // A raw client that reads everything, never answers the close frame, and keeps sending pings.
    const stubborn = () => {
      const socket = createConnection(port, '127.0.0.1', () =>
        socket.write(
          `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      let head = '';
      let ended = false;
      const status = new Promise<string>((resolve) => {
        socket.on('data', (chunk) => {
          head += chunk.toString('latin1');
          if (head.includes('\r\n\r\n')) resolve(head.slice(9, 12));
        });
        socket.once('close', () => {
          ended = true;
          resolve('closed');
        });
      });
      socket.on('error', () => {});
      let sent = 0;
      const ping = setInterval(() => {
        // An empty masked ping every 200 ms, 150 at most (30 s).
        if (socket.destroyed || sent++ > 150) clearInterval(ping);
        else socket.write(Buffer.of(0x89, 0x80, 1, 2, 3, 4));
      }, 200);
      pings.push(ping);
      return { socket, status, ended: () => ended };
    };
    try {
      const first = stubborn();
      expect(await first.status).toBe('101');
      // A deadline far short of ws's 30 s close timeout.
      await until(() => first.ended(), 'the refused connection to be dropped', 15_000);
      const second = stubborn();
      expect(await second.status).toBe('101'); // its address's one place was given back
      second.socket.destroy();
    } finally {
      for (const ping of pings) clearInterval(ping);
      await listener.close();
    }
  }, 30_000);

  it('holds maxPerAddress per address; when all places are taken, a newcomer takes the oldest place of the address that holds the most', async () => {
    const transport = new WebSocketTransport({ preAuth: { maxConnections: 4, maxPerAddress: 3 }, heartbeatMillis: 0 });
    const listener = await transport.listen('ws://127.0.0.1:0', () => {}); // never authenticates anyone
    const opened: WebSocket[] = [];
    const from = async (localAddress: string) => {
      const { socket, status } = await open(listener.address, localAddress);
      opened.push(socket);
      return { socket, status };
    };
    const closed = (socket: WebSocket) => socket.readyState === WebSocket.CLOSED;
    try {
      const a = [await from('127.0.0.2'), await from('127.0.0.2'), await from('127.0.0.2')];
      expect(a.map((c) => c.status)).toEqual([101, 101, 101]);
      expect((await from('127.0.0.2')).status).toBe(503); // its own cap
      expect((await from('127.0.0.3')).status).toBe(101); // the last free place
      // Full: 127.0.0.4 holds none, 127.0.0.2 holds three, so 127.0.0.2's oldest goes.
      expect((await from('127.0.0.4')).status).toBe(101);
      await until(() => closed(a[0]?.socket as WebSocket), 'connection a[0] closed');
      expect(closed(a[1]?.socket as WebSocket) || closed(a[2]?.socket as WebSocket)).toBe(false);
      // 127.0.0.2 (two) may take from no one holding more than it: refused.
      expect((await from('127.0.0.2')).status).toBe(503);
      // 127.0.0.5 (none) takes 127.0.0.2's oldest again; then 127.0.0.6 finds every address at one,
      // and takes the place of the oldest of them (127.0.0.2's last).
      expect((await from('127.0.0.5')).status).toBe(101);
      await until(() => closed(a[1]?.socket as WebSocket), 'connection a[1] closed');
      expect((await from('127.0.0.6')).status).toBe(101);
      await until(() => closed(a[2]?.socket as WebSocket), 'connection a[2] closed');
    } finally {
      for (const socket of opened) socket.terminate();
      await listener.close();
    }
  });
});

describe('ChaosTransport', () => {
  async function chaosPair(options: ConstructorParameters<typeof ChaosTransport>[1]) {
    const chaos = new ChaosTransport(new MemoryNetwork(), options);
    const received: number[] = [];
    const listener = await chaos.listen('x', (connection) =>
      connection.onFrame((frame) => received.push(frame[0] as number)),
    );
    const client = await chaos.dial(listener.address);
    return { chaos, client, received };
  }

  it('drops, duplicates and reorders frames, repeatably for a seed', async () => {
    const runs: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const { client, received } = await chaosPair({ drop: 0.2, duplicate: 0.2, reorder: 0.2, seed: 42 });
      for (let i = 0; i < 100; i++) client.send(Uint8Array.of(i));
      // The in-memory network delivers on microtasks, which all run before the next macrotask.
      await new Promise((resolve) => setImmediate(resolve));
      runs.push(received);
    }
    expect(runs[0]).toEqual(runs[1]);
    const got = runs[0] as number[];
    expect(new Set(got).size).toBeLessThan(100); // some dropped
    expect(got.length).toBeGreaterThan(new Set(got).size); // some duplicated
    expect(got).not.toEqual([...got].sort((a, b) => a - b)); // some reordered
  });

  it('cuts every connection like a partition', async () => {
    const { chaos, client } = await chaosPair({});
    const closed: number[] = [];
    client.onClose((code) => closed.push(code));
    chaos.cutAll();
    await until(() => closed.length === 1, 'the close');
    expect(closed).toEqual([4004]);
  });
});

describe('the port a listener address names', () => {
  it("is the scheme's default where the address leaves it out, as URL does: 443 for wss, not 80 (found by a review)", () => {
    expect(listenPort(new URL('wss://127.0.0.1:443'))).toBe(443);
    expect(listenPort(new URL('wss://gw.internal'))).toBe(443);
    expect(listenPort(new URL('ws://127.0.0.1:80'))).toBe(80);
    expect(listenPort(new URL('ws://[::1]:7400'))).toBe(7400);
    expect(listenPort(new URL('ws://127.0.0.1:0'))).toBe(0);
  });
});
