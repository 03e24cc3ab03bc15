/**
 * What an outsider needs to attack a node over plain sockets, written from RFC 6455 with nothing
 * of meshcache's own code: WebSocket frames built and read by hand, a raw client that opens the
 * upgrade itself (any headers, any source address on 127.0.0.0/8) and records every byte the
 * node sends back, and a TCP relay that sits between two nodes and can alter, inject or replay
 * frames. Every socket made here is tracked and destroyed by `closeAll`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';

export const OPCODE = Object.freeze({ continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 });

export interface WsFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked. */
  readonly payload: Buffer;
}

/** One WebSocket frame; clients mask (RFC 6455 5.3), servers do not. */
export function encodeFrame(opcode: number, payload: Uint8Array, masked: boolean, fin = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) head.writeUInt16BE(length, 2);
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2);
  const body = Buffer.from(payload);
  if (masked) {
    const key = randomBytes(4);
    key.copy(head, 2 + lengthBytes);
    for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number);
  }
  return Buffer.concat([head, body]);
}

/** A close frame's payload: the code, then the reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** Reads frames out of a byte stream, however it is chunked. */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WsFrame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: WsFrame[] = [];
    for (;;) {
      const buffer = this.#buffer;
      if (buffer.length < 2) break;
      const masked = ((buffer[1] as number) & 0x80) !== 0;
      let length = (buffer[1] as number) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) break;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) break;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const keyAt = offset;
      if (masked) offset += 4;
      if (buffer.length < offset + length) break;
      const payload = Buffer.from(buffer.subarray(offset, offset + length));
      if (masked)
        for (let i = 0; i < payload.length; i++)
          payload[i] = (payload[i] as number) ^ (buffer[keyAt + (i & 3)] as number);
      frames.push({ fin: ((buffer[0] as number) & 0x80) !== 0, opcode: (buffer[0] as number) & 0x0f, masked, payload });
      this.#buffer = buffer.subarray(offset + length);
    }
    return frames;
  }
}

/**
 * Just enough msgpack, from its specification, to say what an outsider would say: null, booleans,
 * small integers, strings, binary and arrays.
 */
export function msgpack(value: unknown): Buffer {
  if (value === null) return Buffer.of(0xc0);
  if (value === true || value === false) return Buffer.of(value ? 0xc3 : 0xc2);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 0x10000) {
    if (value < 0x80) return Buffer.of(value);
    if (value < 0x100) return Buffer.of(0xcc, value);
    return Buffer.of(0xcd, value >> 8, value & 0xff);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length < 32) return Buffer.concat([Buffer.of(0xa0 | bytes.length), bytes]);
    if (bytes.length < 0x100) return Buffer.concat([Buffer.of(0xd9, bytes.length), bytes]);
    return Buffer.concat([Buffer.of(0xda, bytes.length >> 8, bytes.length & 0xff), bytes]);
  }
  if (Buffer.isBuffer(value) && value.length < 0x100) return Buffer.concat([Buffer.of(0xc4, value.length), value]);
  if (Array.isArray(value) && value.length < 16) {
    return Buffer.concat([Buffer.of(0x90 | value.length), ...value.map((item) => msgpack(item))]);
  }
  throw new Error(`msgpack: ${String(value)} is not supported here`);
}

const sockets = new Set<Socket>();
const servers = new Set<Server>();

/**
 * A 'data' handler for a raw WebSocket connection: gathers the HTTP head (up to and including
 * the blank line) and hands it to `onHead`, then every byte after it to `onRest`. When `onHead`
 * returns false, the rest of the chunk that ended the head is dropped (later chunks are not).
 */
function afterHttpHead(onHead: (head: Buffer) => boolean, onRest: (rest: Buffer) => void): (chunk: Buffer) => void {
  let head: Buffer | undefined = Buffer.alloc(0);
  return (chunk) => {
    if (head === undefined) return onRest(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const rest = head.subarray(end + 4);
    const complete = head.subarray(0, end + 4);
    head = undefined;
    if (onHead(complete)) onRest(rest);
  };
}

/** A close frame's code and reason (1005 when it carries none). */
/** A close frame's code (1005 when it has none, as RFC 6455 7.1.5 says) and reason. */
export function closeOf(payload: Buffer): { code: number; reason: string } {
  return { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') };
}

function track(socket: Socket): Socket {
  sockets.add(socket);
  socket.on('error', () => {});
  socket.once('close', () => sockets.delete(socket));
  return socket;
}

/** Destroys every socket and server made here that is still open. */
export async function closeAll(): Promise<void> {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all([...servers].map((server) => new Promise((resolve) => server.close(resolve))));
  servers.clear();
}

export interface RawClientOptions {
  /** Extra request headers, e.g. { Origin: 'https://evil.example' }. */
  readonly headers?: Record<string, string>;
  /** The source address: anything on 127.0.0.0/8 reaches a loopback listener. */
  readonly localAddress?: string;
  /** Answer the node's pings, as a patient attacker would (so only the handshake timeout applies). @default true */
  readonly answerPings?: boolean;
}

/**
 * A WebSocket client that is nothing but a socket: it sends the upgrade request, then whatever
 * the test writes, and records the status, every data frame and the close frame the node sends.
 */
export class RawClient {
  readonly socket: Socket;
  status: number | undefined;
  /** Binary and text frames from the node, in order. */
  readonly frames: WsFrame[] = [];
  /** The node's close frame, if it sent one (a dropped socket sends none). */
  closeFrame: { code: number; reason: string } | undefined;
  /** Every byte the node sent after the response head. */
  bytesAfterHead = 0;
  readonly ended: Promise<void>;
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.ended = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        resolve();
      }),
    );
  }

  get isEnded(): boolean {
    return this.#ended;
  }

  /** Connects, sends the upgrade, and resolves with the status the node answered (0: no answer before the socket ended). */
  static open(port: number, options: RawClientOptions = {}): Promise<RawClient> {
    const socket = track(
      connect({
        host: '127.0.0.1',
        port,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      }),
    );
    const client = new RawClient(socket);
    return new Promise((resolve) => {
      const reader = new FrameReader();
      let inHead = true;
      const onHead = (head: Buffer) => {
        inHead = false;
        client.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1'))?.[1] ?? 0);
        resolve(client);
        return true;
      };
      socket.on(
        'data',
        afterHttpHead(onHead, (rest) => {
          client.bytesAfterHead += rest.length;
          for (const frame of reader.push(rest)) {
            if (frame.opcode === OPCODE.close) {
              client.closeFrame = closeOf(frame.payload);
              socket.end();
            } else if (frame.opcode === OPCODE.ping) {
              if (options.answerPings !== false && !socket.destroyed)
                socket.write(encodeFrame(OPCODE.pong, frame.payload, true));
            } else if (frame.opcode !== OPCODE.pong) {
              client.frames.push(frame);
            }
          }
        }),
      );
      socket.once('close', () => {
        if (inHead) {
          client.status = 0;
          resolve(client);
        }
      });
      socket.once('connect', () => {
        const headers = {
          Host: `127.0.0.1:${port}`,
          Upgrade: 'websocket',
          Connection: 'Upgrade',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
          'Sec-WebSocket-Version': '13',
          ...options.headers,
        };
        socket.write(
          `GET / HTTP/1.1\r\n${Object.entries(headers)
            .map(([name, value]) => `${name}: ${value}\r\n`)
            .join('')}\r\n`,
        );
      });
    });
  }

  /** A frame as a client sends it (masked). */
  send(payload: Uint8Array, opcode: number = OPCODE.binary): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(opcode, payload, true));
  }

  /** Bytes as they are, no framing. */
  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A plain TCP connection that records whether and when the other side ended it. */
export function rawTcp(
  port: number,
  localAddress?: string,
): Promise<{ socket: Socket; received: Buffer[]; ended: () => boolean }> {
  const socket = track(connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) }));
  const received: Buffer[] = [];
  let ended = false;
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.once('close', () => {
    ended = true;
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve({ socket, received, ended: () => ended }));
    socket.once('error', reject);
  });
}

export type Direction = 'toListener' | 'toDialler';

/**
 * What the relay does to one relayed connection: to the `frame`-th binary frame of a direction
 * (0 is the Hello towards the listener and the Welcome towards the dialler, 1 towards the
 * listener is the Confirm; data frames follow), 'flip' one bit of it, or 'duplicate' it.
 */
export interface Tamper {
  readonly direction: Direction;
  readonly frame: number;
  readonly action: 'flip' | 'duplicate';
}

export interface CloseSeen {
  /** Who sent the close frame. */
  readonly from: 'dialler' | 'listener';
  readonly code: number;
  readonly reason: string;
}

/** One connection through the relay: the dialler's socket and the relay's own to the listener. */
export class RelayedConnection {
  /** Binary payloads that went each way (as sent on, after any tampering), in order. */
  readonly binary: Record<Direction, Buffer[]> = { toListener: [], toDialler: [] };
  readonly closes: CloseSeen[] = [];
  ended = false;
  readonly #dialler: Socket;
  readonly #listener: Socket;

  constructor(dialler: Socket, listener: Socket) {
    this.#dialler = dialler;
    this.#listener = listener;
  }

  /** The handshake went through (Hello, Welcome, Confirm) and the connection is still open. */
  get established(): boolean {
    return !this.ended && this.binary.toListener.length >= 2 && this.binary.toDialler.length >= 1;
  }

  /** Writes a frame of the relay's own into the stream, framed as the real sender would frame it. */
  inject(direction: Direction, payload: Uint8Array): void {
    const target = direction === 'toListener' ? this.#listener : this.#dialler;
    if (!target.destroyed) target.write(encodeFrame(OPCODE.binary, payload, direction === 'toListener'));
  }

  /** Cuts both sockets, as a network failure would. */
  cut(): void {
    this.#dialler.destroy();
    this.#listener.destroy();
  }
}

/**
 * A TCP relay between a dialler and a listener. The HTTP upgrade passes through untouched; then
 * every WebSocket frame is read, recorded and sent on, or tampered with as `plan` says (a plan
 * applies to the next connection only).
 */
export class Relay {
  readonly connections: RelayedConnection[] = [];
  plan: Tamper | undefined;
  readonly #server: Server;
  readonly port: number;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get latest(): RelayedConnection | undefined {
    return this.connections[this.connections.length - 1];
  }

  static async start(listenerPort: number): Promise<Relay> {
    let relay: Relay | undefined;
    const server = createServer((dialler) => relay?.accept(track(dialler), listenerPort));
    servers.add(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    relay = new Relay(server, typeof address === 'object' && address !== null ? address.port : 0);
    return relay;
  }

  /** Stops accepting; open connections stay until cut. */
  close(): Promise<void> {
    servers.delete(this.#server);
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  accept(dialler: Socket, listenerPort: number): void {
    const listener = track(connect({ host: '127.0.0.1', port: listenerPort }));
    const connection = new RelayedConnection(dialler, listener);
    const plan = this.plan;
    this.plan = undefined;
    this.connections.push(connection);
    const end = () => {
      connection.ended = true;
      dialler.destroy();
      listener.destroy();
    };
    dialler.once('close', end);
    listener.once('close', end);
    this.#pipe(dialler, listener, 'toListener', connection, plan);
    this.#pipe(listener, dialler, 'toDialler', connection, plan);
  }

  #pipe(from: Socket, to: Socket, direction: Direction, connection: RelayedConnection, plan: Tamper | undefined): void {
    const reader = new FrameReader();
    const masked = direction === 'toListener';
    const onHead = (head: Buffer) => {
      if (!to.destroyed) to.write(head);
      return true;
    };
    from.on(
      'data',
      afterHttpHead(onHead, (rest) => {
        for (const frame of reader.push(rest)) {
          if (to.destroyed) return;
          if (frame.opcode === OPCODE.close) {
            connection.closes.push({
              from: direction === 'toListener' ? 'dialler' : 'listener',
              ...closeOf(frame.payload),
            });
          }
          if (frame.opcode !== OPCODE.binary) {
            to.write(encodeFrame(frame.opcode, frame.payload, masked, frame.fin));
            continue;
          }
          let payload = frame.payload;
          const index = connection.binary[direction].length;
          const tamper = plan?.direction === direction && plan.frame === index ? plan.action : undefined;
          if (tamper === 'flip') {
            payload = Buffer.from(payload);
            const at = payload.length >> 1;
            payload[at] = (payload[at] as number) ^ 0x01;
          }
          connection.binary[direction].push(payload);
          to.write(encodeFrame(OPCODE.binary, payload, masked, frame.fin));
          if (tamper === 'duplicate') to.write(encodeFrame(OPCODE.binary, payload, masked, frame.fin));
        }
      }),
    );
  }
}

/**
 * A listener that a node dials and that never completes a handshake: 'mute' accepts TCP and
 * answers nothing; 'upgrade' answers the WebSocket upgrade, then nothing (it answers pings, so
 * only the handshake timeout applies); 'garbage' answers each Hello with a Welcome-shaped frame
 * of random bytes; 'bomb' answers it with a 2 MiB frame; 'headers' answers the upgrade with
 * 64 KiB of header lines; 'drip' answers it a byte every 500 ms (each within the dialler's idle
 * timeout), never finishing. It records what the dialler sent and how it ended each connection.
 */
export type FakeMode = 'mute' | 'upgrade' | 'garbage' | 'bomb' | 'headers' | 'drip';

export class FakeListener {
  readonly port: number;
  /** Per connection: the binary frames the dialler sent, its close frame, and whether it ended. */
  readonly connections: Array<{
    frames: Buffer[];
    close: { code: number; reason: string } | undefined;
    ended: boolean;
  }> = [];

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  static async start(mode: FakeMode): Promise<FakeListener> {
    let fake: FakeListener | undefined;
    const server = createServer((socket) => fake?.accept(track(socket), mode));
    servers.add(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    fake = new FakeListener(typeof address === 'object' && address !== null ? address.port : 0);
    return fake;
  }

  accept(socket: Socket, mode: FakeMode): void {
    const record: FakeListener['connections'][number] = { frames: [], close: undefined, ended: false };
    this.connections.push(record);
    socket.once('close', () => {
      record.ended = true;
    });
    if (mode === 'mute') {
      socket.resume(); // reads (and ignores) everything, so that the dialler's end is seen
      return;
    }
    const reader = new FrameReader();
    const onHead = (head: Buffer) => {
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (mode === 'drip') {
        socket.write('HTTP/1.1 101 Switching Protocols\r\n');
        const drip = setInterval(() => {
          if (socket.destroyed) clearInterval(drip);
          else socket.write('X');
        }, 500);
        socket.once('close', () => clearInterval(drip));
        return false;
      }
      if (mode === 'headers') {
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\n${'X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(1800)}`,
        );
        return false;
      }
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      return true;
    };
    socket.on(
      'data',
      afterHttpHead(onHead, (rest) => {
        for (const frame of reader.push(rest)) {
          if (frame.opcode === OPCODE.ping) socket.write(encodeFrame(OPCODE.pong, frame.payload, false));
          if (frame.opcode === OPCODE.close) {
            record.close = closeOf(frame.payload);
            socket.end();
          }
          if (frame.opcode !== OPCODE.binary) continue;
          record.frames.push(frame.payload);
          if (mode === 'bomb') socket.write(encodeFrame(OPCODE.binary, Buffer.alloc(2 << 20, 0x80), false));
          if (mode === 'garbage') {
            socket.write(
              encodeFrame(OPCODE.binary, Buffer.concat([Buffer.from([0x6d, 0x63, 1, 2]), randomBytes(120)]), false),
            );
          }
        }
      }),
    );
  }
}
