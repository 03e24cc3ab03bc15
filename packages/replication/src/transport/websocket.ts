/**
 * The real transport: WebSockets (ws) carrying binary frames. Addresses are `ws://host:port`, or
 * `wss://host:port` with TLS (port 0 picks a free port; the listener's address has the real one).
 *
 * TLS: the listener serves the given certificate; a dialler verifies the listener's certificate
 * against `ca` (or the system's roots) and its host name. With `mutual`, the listener also
 * demands a client certificate signed by `ca`, and a dialler presents its own.
 *
 * Limits are first-class: `maxPayload` bounds a frame (ws closes a connection that sends a
 * bigger one with 1009), permessage-deflate is off (compression bombs and CPU are not worth a
 * cache's small frames), and a text frame is a protocol error: meshcache speaks binary only.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { CloseCode, type Connection, type Listener, type Transport } from './transport.js';

export interface WebSocketTransportOptions {
  /** Largest frame accepted, in bytes. @default 16 MiB */
  maxPayload?: number;
  /**
   * Each side pings every this many ms; a peer that has not answered the previous ping by the
   * next one is dropped (its process may be hung, or the network gone without a FIN). 0 = off.
   * @default 1000
   */
  heartbeatMillis?: number;
  /** Serve wss:// and present this certificate when dialling; required for wss:// listeners. */
  tls?: TlsOptions;
}

export interface TlsOptions {
  /** PEM certificate (chain) of this node; required to listen, and to dial with mutual TLS. */
  readonly cert?: string | Buffer;
  /** PEM private key of the certificate. */
  readonly key?: string | Buffer;
  /** PEM CA certificate(s) that peers' certificates must chain to; the system roots when absent. */
  readonly ca?: string | Buffer;
  /** Require and verify a client certificate on accepted connections. @default false */
  readonly mutual?: boolean;
}

export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

class WebSocketConnection implements Connection {
  readonly remoteAddress: string;
  readonly #socket: WebSocket;
  readonly #frameListeners: Array<(frame: Uint8Array) => void> = [];
  /** Frames that arrived before anyone listened. */
  #early: Uint8Array[] = [];

  constructor(socket: WebSocket, remoteAddress: string, heartbeatMillis: number) {
    this.#socket = socket;
    this.remoteAddress = remoteAddress;
    if (heartbeatMillis > 0) this.#heartbeat(heartbeatMillis);
    socket.on('message', (data, isBinary) => {
      if (this.#socket.readyState !== WebSocket.OPEN) return; // closing: nothing is delivered after close()
      if (!isBinary) {
        this.close(CloseCode.ProtocolError, 'text frames are not part of the protocol');
        return;
      }
      const frame = toBytes(data);
      if (this.#frameListeners.length === 0) this.#early.push(frame);
      for (const listener of this.#frameListeners) listener(frame);
    });
    // A socket error is always followed by close; the close listeners report it.
    socket.on('error', () => {});
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /**
   * The ws README's pattern: ping, and terminate a peer that did not answer since the last ping.
   * Any frame counts as an answer, not only a pong: a peer busy sending a large repair is plainly
   * alive even when its pong is queued behind the data.
   */
  #heartbeat(intervalMillis: number): void {
    let alive = true;
    const heard = () => {
      alive = true;
    };
    this.#socket.on('pong', heard);
    this.#socket.on('message', heard);
    const timer = setInterval(() => {
      if (!alive) {
        this.#socket.terminate(); // close listeners see 1006
        return;
      }
      alive = false;
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.ping();
    }, intervalMillis);
    timer.unref();
    this.#socket.once('close', () => clearInterval(timer));
  }

  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  send(frame: Uint8Array): void {
    if (this.open) this.#socket.send(frame, { binary: true });
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.#socket.readyState === WebSocket.CLOSED || this.#socket.readyState === WebSocket.CLOSING) return;
    this.#socket.close(code, reason.slice(0, 120)); // a close reason is limited to 123 bytes
  }

  onFrame(listener: (frame: Uint8Array) => void): void {
    this.#frameListeners.push(listener);
    const early = this.#early;
    this.#early = [];
    for (const frame of early) listener(frame);
  }

  onClose(listener: (code: number, reason: string) => void): void {
    this.#socket.once('close', (code, reason) => listener(code, reason.toString()));
  }
}

export class WebSocketTransport implements Transport {
  readonly #maxPayload: number;
  readonly #heartbeatMillis: number;
  readonly #tls: TlsOptions | undefined;

  constructor(options: WebSocketTransportOptions = {}) {
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#heartbeatMillis = options.heartbeatMillis ?? 1000;
    this.#tls = options.tls;
  }

  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const url = new URL(address);
    const secure = url.protocol === 'wss:';
    if (url.protocol !== 'ws:' && !secure) throw new Error(`listen: ${address} is not a ws:// or wss:// address`);
    const tls = this.#tls;
    if (secure && (tls?.cert === undefined || tls.key === undefined)) {
      throw new Error(`listen: ${address} needs TLS options with a certificate and its key`);
    }
    const upgradeRequired = (_request: unknown, response: ServerResponse) => {
      response.writeHead(426, { 'content-type': 'text/plain' }).end('meshcache speaks WebSocket here\n');
    };
    const server: Server =
      secure && tls !== undefined
        ? createTlsServer(
            {
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca === undefined ? {} : { ca: tls.ca }),
              requestCert: tls.mutual === true,
              rejectUnauthorized: tls.mutual === true,
            },
            upgradeRequired,
          )
        : createServer(upgradeRequired);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(url.port || 80), host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Only once listening: ws re-emits the server's errors on itself, and a listen error (port
    // taken) must reach the caller as a rejection, not as an unhandled 'error' event.
    const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: this.#maxPayload });
    wss.on('connection', (socket, request) => {
      const remote = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
      onConnection(new WebSocketConnection(socket, remote, this.#heartbeatMillis));
    });
    const { port } = server.address() as AddressInfo;
    const shown = host.includes(':') ? `[${host}]` : host;
    return {
      address: `${secure ? 'wss' : 'ws'}://${shown}:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          for (const client of wss.clients) client.terminate();
          wss.close(() => server.close(() => resolve()));
        }),
    };
  }

  dial(address: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const tls = this.#tls;
      const secure = address.startsWith('wss:');
      const socket = new WebSocket(address, {
        perMessageDeflate: false,
        maxPayload: this.#maxPayload,
        ...(secure && tls !== undefined
          ? { ca: tls.ca, ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}) }
          : {}),
      });
      const failed = (error: Error) => reject(new Error(`cannot reach ${address}: ${error.message}`, { cause: error }));
      socket.once('error', failed);
      socket.once('open', () => {
        socket.off('error', failed);
        resolve(new WebSocketConnection(socket, address, this.#heartbeatMillis));
      });
    });
  }
}
