/**
 * The real transport: WebSockets (ws) carrying binary frames. Addresses are `ws://host:port`, or
 * `wss://host:port` with TLS (port 0 picks a free port; the listener's address has the real one).
 *
 * TLS: the listener serves the given certificate; a dialler verifies the listener's certificate
 * against `ca` (or the system's roots) and its host name. With `mutual`, the listener also
 * demands a client certificate signed by `ca`, and a dialler presents its own.
 *
 * Limits are first-class, and tightest before the other side has authenticated, because anyone
 * who can reach the port gets that far:
 * - the HTTP request that opens a WebSocket has small header limits and short timeouts, and one
 *   with an `Origin` header (a web page) is refused unless its origin is listed;
 * - at most `maxConnections` connections wait for authentication at once, and `maxPerAddress`
 *   from one remote address. Past `maxPerAddress` the upgrade is answered 503. When all
 *   `maxConnections` places are taken, the oldest waiting connection of the address that holds
 *   the most is dropped to make room, provided that address holds more than the newcomer's
 *   (else 503): so a flood from many addresses cannot keep a peer or the CLI out, whose
 *   handshake takes milliseconds while a flood's connections wait for their timeout;
 * - until `authenticated()`, a connection may receive at most `maxBytes` in all (counted on the
 *   socket: ws buffers at most one read of it beyond), which bounds the memory an
 *   unauthenticated peer costs;
 * - afterwards `maxPayload` bounds a frame (ws closes with 1009 past it).
 * Permessage-deflate is off (compression bombs and CPU are not worth a cache's frames), and a
 * text frame is a protocol error: meshcache speaks binary only.
 *
 * Nothing a peer sends can throw out of a socket callback: errors are swallowed into a close, and
 * close() itself never throws (reasons are cut by UTF-8 bytes).
 */
import { type ClientRequest, createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { hostOf } from '../once-per-window.js';
import { ConnectionPlaces } from './connection-places.js';
import { CloseCode, type Connection, closeReason, type Listener, scopeOfPath, type Transport } from './transport.js';

export interface WebSocketTransportOptions {
  /** Largest frame accepted from an authenticated peer, in bytes. @default 16 MiB */
  maxPayload?: number;
  /**
   * Each side pings every this many ms, and any frame or pong counts as a sign of life. 0 = off.
   * @default 1000
   */
  heartbeatMillis?: number;
  /**
   * A peer silent for this many heartbeats is dropped (its process hung, or the network gone
   * without a FIN); one silent for two shows as 'suspect' in peers(). A busy event loop (a
   * repair, a loaded host) answers late, not never: dropping it at the first missed beat made
   * loaded clusters flap (relink, repair, busier still). @default 5
   */
  heartbeatTolerance?: number;
  /** Serve wss:// and present this certificate when dialling; required for wss:// listeners. */
  tls?: TlsOptions;
  /** Limits on connections that have not authenticated yet. */
  preAuth?: PreAuthLimits;
  /**
   * Origins (as a browser sends them, e.g. 'https://ops.example.com') whose WebSocket requests
   * are accepted. A request with any other Origin header is refused (403). @default []
   */
  allowedOrigins?: readonly string[];
  /** How long a dial may take to open the WebSocket (the HTTP upgrade). @default 5000 */
  dialTimeoutMillis?: number;
  /**
   * false: frames this side dials with carry a zero mask, so neither side makes a pass over every
   * byte to mask and unmask it. RFC 6455's masking keeps a script in a browser from putting bytes
   * of its choosing on the wire, where a proxy might read them as HTTP; it protects nothing when
   * no frame carries plaintext an outsider chose. ClusterNode turns it off when every frame after
   * the handshake is encrypted (the handshake's frames carry keys and ciphertext only); with
   * protectFrames: false, cached values would cross in clear, and frames stay masked.
   * @default true
   */
  maskFrames?: boolean;
}

export interface PreAuthLimits {
  /** Connections waiting for authentication, in all. @default 64 */
  readonly maxConnections?: number;
  /** Connections waiting for authentication from one remote address. @default 8 */
  readonly maxPerAddress?: number;
  /** Bytes a connection may receive before it authenticates. @default 16384 */
  readonly maxBytes?: number;
}

/** ws's mask generator for maskFrames: false (a zero mask: ws then skips masking, and its receiver unmasking). */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/**
 * How long a connection that never authenticated is given, once this side closed it, to answer
 * its close frame before it is dropped (ws would wait 30 s, holding its place among those waiting).
 */
const PRE_AUTH_CLOSE_GRACE_MILLIS = 1000;

export const PRE_AUTH_DEFAULTS = Object.freeze({ maxConnections: 64, maxPerAddress: 8, maxBytes: 16 * 1024 });

export interface TlsOptions {
  /** PEM certificate (chain) of this node; required to listen, and to dial with mutual TLS. */
  readonly cert?: string | Buffer;
  /** PEM private key of the certificate. */
  readonly key?: string | Buffer;
  /** PEM CA certificate(s) that peers' certificates must chain to; the system roots when absent. */
  readonly ca?: string | Buffer;
  /** Require and verify a client certificate on accepted connections. @default false */
  readonly mutual?: boolean;
  /** The name a dialled peer's certificate is checked against (and SNI), instead of the address dialled. */
  readonly serverName?: string | undefined;
}

export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;
/**
 * HTTP limits of the listener: the only thing an unauthenticated client talks to before ws.
 * Node enforces headersTimeout and requestTimeout only when it checks its connections, every
 * connectionsCheckingInterval (30 s by default): without the tighter interval, a TCP connection
 * that sends nothing, or drips header lines, was held for 30 s instead of 5.
 */
const HTTP_LIMITS = Object.freeze({
  maxHeaderSize: 8 * 1024,
  headersTimeout: 5000,
  requestTimeout: 10_000,
  connectionsCheckingInterval: 1000,
});
/**
 * On a wss:// listener, the TLS handshake comes before any of HTTP_LIMITS applies (the request's
 * clock starts once it is done), and Node gives it 120 s by default: a TCP connection that sent
 * nothing, or half a ClientHello, was held two minutes where a ws:// one goes in 5 s (found by an
 * outside audit).
 */
const TLS_HANDSHAKE_TIMEOUT_MILLIS = 5000;

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

class WebSocketConnection implements Connection {
  readonly remoteAddress: string;
  readonly scope: readonly string[] | undefined;
  readonly #socket: WebSocket;
  readonly #frameListeners: Array<(frame: Uint8Array) => void> = [];
  /** Frames that arrived before anyone listened. */
  #early: Uint8Array[] = [];
  /** Called once, when the connection authenticates or closes first. */
  #leavePending: (() => void) | undefined;

  #lastHeard = Date.now();
  /** Reading paused (pauseReading): the other side's silence meanwhile is not held against it. */
  #paused = false;
  /** Why this side dropped the connection without a close frame (close with CloseCode.Backlog). */
  #droppedWith: { readonly code: number; readonly reason: string } | undefined;
  /** authenticated() was called: the other side proved a key. */
  #authenticated = false;

  constructor(
    socket: WebSocket,
    remoteAddress: string,
    heartbeat: { millis: number; tolerance: number },
    preAuth: { rawSocket: Socket | undefined; maxBytes: number; release?: () => void },
    scope?: readonly string[],
  ) {
    this.#socket = socket;
    this.remoteAddress = remoteAddress;
    this.scope = scope;
    if (heartbeat.millis > 0) this.#heartbeat(heartbeat.millis, heartbeat.tolerance, preAuth.rawSocket);
    // A ping is answered with an empty pong, not ws's echo of the ping's payload: with the dial's
    // zero mask, an echo put up to 125 bytes that whoever the node dialled chose on the wire in
    // clear, before either side had proved a key (RFC 6455's masking exists against exactly that;
    // found by an attack). Nothing here sends a ping with a payload, so no side waits for one back.
    socket.on('ping', () => {
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.pong();
    });
    this.#limitUntilAuthenticated(preAuth);
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

  /**
   * Counts what arrives on the raw socket until authenticated(); past the bound, the socket goes.
   * ws's own listener parses a read before this one sees it, so a read that carries the Confirm
   * and the first request after it (a CLI put of 30 KB) has authenticated the connection by then.
   * `left` is checked because an emit runs a copy of its listener list: the off() that
   * authentication does comes too late for the read being emitted, which was counted in full
   * (such a put failed about half the time with 1006).
   */
  #limitUntilAuthenticated(preAuth: { rawSocket: Socket | undefined; maxBytes: number; release?: () => void }): void {
    const raw = preAuth.rawSocket;
    let received = 0;
    let left = false;
    const count = (chunk: Buffer) => {
      if (left) return;
      received += chunk.length;
      if (received > preAuth.maxBytes) raw?.destroy();
    };
    raw?.on('data', count);
    this.#leavePending = () => {
      if (left) return;
      left = true;
      raw?.off('data', count);
      preAuth.release?.();
    };
    this.#socket.once('close', () => this.#leavePending?.());
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  get quietMillis(): number {
    return Date.now() - this.#lastHeard;
  }

  /**
   * The ws README's pattern, made tolerant: ping every interval, and terminate a peer heard from
   * neither by pong nor by any byte for `tolerance` intervals. Any byte counts, not only a pong
   * or a whole message: a peer busy sending a large repair is plainly alive even when its pong is
   * queued behind the data, and a frame of a megabyte arrives over many reads.
   *
   * A verdict of silence is checked again after one turn of I/O. When this process's own event
   * loop was stalled (a burst of work, a loaded host), the timer fires first on waking, before
   * the poll phase has read what the peer sent meanwhile: without the second look, our own stall
   * would be blamed on the peer, and a fleet of busy nodes would drop each other's links.
   */
  #heartbeat(intervalMillis: number, tolerance: number, rawSocket: Socket | undefined): void {
    const heard = () => {
      this.#lastHeard = Date.now();
    };
    this.#socket.on('pong', heard);
    this.#socket.on('message', heard);
    rawSocket?.on('data', heard);
    const silent = () => !this.#paused && Date.now() - this.#lastHeard >= intervalMillis * tolerance;
    const timer = setInterval(() => {
      if (silent()) {
        setImmediate(() => {
          if (silent()) this.#socket.terminate(); // close listeners see 1006
        });
        return;
      }
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.ping();
    }, intervalMillis);
    timer.unref();
    this.#socket.once('close', () => {
      clearInterval(timer);
      rawSocket?.off('data', heard);
    });
  }

  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  send(frame: Uint8Array, written?: () => void): void {
    // ws calls back once, when the socket has written the frame or failed to.
    if (this.open) this.#socket.send(frame, { binary: true }, written);
  }

  authenticated(): void {
    this.#authenticated = true;
    this.#leavePending?.();
  }

  pauseReading(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
  }

  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#lastHeard = Date.now(); // the silence was this side's
    this.#socket.resume();
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    if (code === CloseCode.Backlog && this.#socket.bufferedAmount > 0) {
      // The close frame would queue behind the bytes the other side does not read, and ws would
      // hold them for its 30 s close timeout: they are dropped now, and listeners here see 4008.
      // Also when a close is already under way: its frame is queued behind the same bytes (a
      // client that made the node close with 4002 behind 60 MiB of answers held them so).
      this.#droppedWith ??= { code, reason: closeReason(reason) };
      this.#socket.terminate();
      return;
    }
    if (this.#socket.readyState === WebSocket.CLOSING) return;
    try {
      this.#socket.close(code, closeReason(reason));
    } catch {
      this.#socket.terminate(); // a code ws refuses: close without a reason rather than throw
      return;
    }
    if (!this.#authenticated) {
      // ws waits 30 s for the other side's close frame, and a connection that never proved a key
      // kept its place among those waiting to authenticate all that time: after a handshake that
      // timed out in 2 s, a client that kept sending pings held its address's 8 places for 30 s
      // (found by an outside audit). Its close frame gets a moment to go out, then it is dropped.
      const drop = setTimeout(() => this.#socket.terminate(), PRE_AUTH_CLOSE_GRACE_MILLIS);
      drop.unref();
      this.#socket.once('close', () => clearTimeout(drop));
    }
  }

  onFrame(listener: (frame: Uint8Array) => void): void {
    this.#frameListeners.push(listener);
    const early = this.#early;
    this.#early = [];
    for (const frame of early) listener(frame);
  }

  onClose(listener: (code: number, reason: string) => void): void {
    this.#socket.once('close', (code, reason) => {
      const dropped = this.#droppedWith;
      listener(dropped?.code ?? code, dropped?.reason ?? reason.toString());
    });
  }
}

export class WebSocketTransport implements Transport {
  readonly #maxPayload: number;
  readonly #heartbeat: { millis: number; tolerance: number };
  readonly #tls: TlsOptions | undefined;
  readonly #preAuth: Required<PreAuthLimits>;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #dialTimeoutMillis: number;
  readonly #maskFrames: boolean;

  constructor(options: WebSocketTransportOptions = {}) {
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#heartbeat = { millis: options.heartbeatMillis ?? 1000, tolerance: options.heartbeatTolerance ?? 5 };
    this.#tls = options.tls;
    this.#preAuth = { ...PRE_AUTH_DEFAULTS, ...options.preAuth };
    this.#allowedOrigins = new Set(options.allowedOrigins ?? []);
    this.#dialTimeoutMillis = options.dialTimeoutMillis ?? 5000;
    this.#maskFrames = options.maskFrames !== false;
  }

  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const url = new URL(address);
    const secure = url.protocol === 'wss:';
    if (url.protocol !== 'ws:' && !secure) throw new Error(`listen: ${address} is not a ws:// or wss:// address`);
    const tls = this.#tls;
    if (secure && (tls?.cert === undefined || tls.key === undefined)) {
      throw new Error(`listen: ${address} needs TLS options with a certificate and its key`);
    }
    const upgradeRequired = (_request: IncomingMessage, response: import('node:http').ServerResponse) => {
      response.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      response.end('meshcache speaks WebSocket here\n');
    };
    const server: Server =
      secure && tls !== undefined
        ? createTlsServer(
            {
              ...HTTP_LIMITS,
              handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MILLIS,
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca === undefined ? {} : { ca: tls.ca }),
              requestCert: tls.mutual === true,
              rejectUnauthorized: tls.mutual === true,
            },
            upgradeRequired,
          )
        : createServer(HTTP_LIMITS, upgradeRequired);
    server.headersTimeout = HTTP_LIMITS.headersTimeout;
    server.requestTimeout = HTTP_LIMITS.requestTimeout;
    server.on('clientError', (_error, socket) => socket.destroy());
    const host = url.hostname.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort(url), host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // noServer: this listener decides which upgrades ws may take (Origin, pending limits).
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: this.#maxPayload,
      autoPong: false, // answered empty: see WebSocketConnection's constructor
    });
    wss.on('error', () => {});
    const pending = new ConnectionPlaces(this.#preAuth);
    server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => {});
      const origin = request.headers.origin;
      if (origin !== undefined && !this.#allowedOrigins.has(origin)) {
        refuse(socket, 403, 'Forbidden');
        return;
      }
      const remote = request.socket.remoteAddress ?? '?';
      // Counted by host, an IPv6 /64 as one (as the operator endpoint counts): whoever holds a
      // /64 has 2^64 addresses, and counted by address maxPerAddress bounded nothing for them.
      const release = pending.admit(hostOf(`${remote}:${request.socket.remotePort ?? '?'}`), socket);
      if (release === undefined) {
        refuse(socket, 503, 'Service Unavailable');
        return;
      }
      socket.once('close', release);
      if (head.length > this.#preAuth.maxBytes) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        const connection = new WebSocketConnection(
          ws,
          `${remote}:${request.socket.remotePort ?? '?'}`,
          this.#heartbeat,
          {
            rawSocket: socket,
            // Not less head.length: ws unshifts the head back into the socket, and the count sees it there.
            maxBytes: this.#preAuth.maxBytes,
            release,
          },
          scopeOf(request.url),
        );
        onConnection(connection);
      });
    });
    const { port } = server.address() as AddressInfo;
    const shown = host.includes(':') ? `[${host}]` : host;
    return {
      address: `${secure ? 'wss' : 'ws'}://${shown}:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          for (const client of wss.clients) client.terminate();
          wss.close(() => server.close(() => resolve()));
          server.closeAllConnections();
        }),
    };
  }

  dial(address: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const tls = this.#tls;
      const secure = address.startsWith('wss:');
      let socket: WebSocket;
      try {
        socket = new WebSocket(address, {
          perMessageDeflate: false,
          maxPayload: this.#maxPayload,
          handshakeTimeout: this.#dialTimeoutMillis,
          autoPong: false, // answered empty: see WebSocketConnection's constructor
          ...(this.#maskFrames ? {} : { generateMask: zeroMask }),
          ...(secure && tls !== undefined
            ? {
                ca: tls.ca,
                ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
                ...(tls.serverName === undefined ? {} : { servername: tls.serverName }),
              }
            : {}),
        });
      } catch (error) {
        reject(new Error(`cannot reach ${address}: ${(error as Error).message}`, { cause: error }));
        return;
      }
      let raw: Socket | undefined;
      socket.once('upgrade', (response: IncomingMessage) => {
        raw = response.socket;
      });
      const failed = (error: Error) => {
        clearTimeout(deadline);
        reject(new Error(`cannot reach ${address}: ${error.message}`, { cause: error }));
      };
      // ws's handshakeTimeout is the socket's idle timeout: a listener that sends its answer a
      // byte at a time, each within it, held the dial (and one of the node's places for
      // connecting) for hours (found by an outside audit). This bounds the whole upgrade.
      const deadline = setTimeout(() => {
        failed(new Error(`the WebSocket upgrade did not finish within ${this.#dialTimeoutMillis} ms`));
        socket.terminate();
      }, this.#dialTimeoutMillis);
      socket.once('error', failed);
      // An answer that is not an upgrade: say what it means (ws says "Unexpected server response: 200").
      socket.once('unexpected-response', (request: ClientRequest, response: IncomingMessage) => {
        request.destroy();
        response.resume();
        const status = response.statusCode ?? 0;
        failed(
          new Error(
            status === 503
              ? 'it answered 503: too many connections are waiting to authenticate there; try again'
              : `it answered HTTP ${status} instead of a WebSocket upgrade: not a meshcache peer port (its operator endpoint, or another server?)`,
          ),
        );
      });
      socket.once('open', () => {
        clearTimeout(deadline);
        socket.off('error', failed);
        resolve(
          new WebSocketConnection(socket, address, this.#heartbeat, {
            rawSocket: raw,
            maxBytes: this.#preAuth.maxBytes,
          }),
        );
      });
    });
  }
}

/** The caches an upgrade request's path names (scopeOfPath), without its query. */
function scopeOf(target: string | undefined): readonly string[] | undefined {
  return scopeOfPath((target ?? '/').split('?')[0] as string);
}

/** Answers an upgrade request with a status and closes the socket: the request never reaches ws. */
function refuse(socket: Socket, status: number, text: string): void {
  try {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  } catch {
    socket.destroy();
  }
}

/**
 * The port a ws:// or wss:// address names. URL leaves `port` empty when it is the scheme's
 * default, 443 for wss and 80 for ws: a listener configured on 443 with TLS listened on 80
 * (found by a review).
 */
export function listenPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'wss:' ? 443 : 80;
}
