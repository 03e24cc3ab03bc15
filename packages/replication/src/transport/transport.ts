/**
 * The transport seam: how frames get from one node to another. Replication only ever sees these
 * two small interfaces; websocket.ts is the real one (ws on TCP or TLS) and memory.ts an
 * in-process network for fast cluster tests, with chaos.ts to make it misbehave. Every
 * transport passes test/transport-conformance.ts.
 *
 * Promised by every transport:
 * - Frames arrive whole and in the order they were sent on one connection, or not at all
 *   (a connection that loses a frame is closed).
 * - `close` is idempotent; each side's close listeners run exactly once, with a code and reason.
 * - Nothing is delivered after close.
 * - Frames that arrive before the first frame listener is attached are kept and handed to it,
 *   so a peer that speaks first is never lost.
 * - `close` never throws, whatever the reason's length or characters (a reason is cut to the
 *   123 bytes a WebSocket close frame allows).
 *
 * Before authentication a connection is held to the transport's pre-authentication limits (the
 * WebSocket transport: a few kilobytes in all, a bounded number of such connections overall and
 * per address); the session calls `authenticated()` once the other side has proven the key,
 * which lifts them.
 */

export interface Connection {
  /** Who is on the other end, for logs (an address, not an identity: the handshake proves that). */
  readonly remoteAddress: string;
  /** Bytes queued but not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Milliseconds since anything (a frame, a heartbeat) came from the other side; absent where unknown. */
  readonly quietMillis?: number;
  /**
   * On the listening side: the caches the dialling side named in the path of the address it
   * dialled (`ws://host:port/Response%20Cache`, or `.../Response%20Cache/Tokens` for two; see
   * scopedAddress), decoded; undefined when it named none. Not authenticated by itself: it only
   * narrows what this side sends and waits for on the link.
   */
  readonly scope?: readonly string[] | undefined;
  readonly open: boolean;
  /**
   * `written`, when given, is called (once) when the transport no longer needs the frame's bytes:
   * they were handed to the network, or dropped with the connection. The caller may then use
   * them again. A transport that cannot tell never calls it, and neither does one not open.
   */
  send(frame: Uint8Array, written?: () => void): void;
  close(code?: number, reason?: string): void;
  /** The other side proved the key: pre-authentication limits no longer apply. Idempotent. */
  authenticated(): void;
  /**
   * Stops reading from the other side until resumeReading(): over TCP, what it sends then waits
   * in its own buffers and the kernel's (backpressure, instead of memory on this side). Frames
   * already read may still arrive; none is lost or reordered. Silence while paused is this side's
   * doing, so heartbeats do not count it against the other side. Both are idempotent.
   */
  pauseReading(): void;
  resumeReading(): void;
  onFrame(listener: (frame: Uint8Array) => void): void;
  onClose(listener: (code: number, reason: string) => void): void;
}

export interface Listener {
  /** The address peers dial (with the real port when 0 was asked for). */
  readonly address: string;
  close(): Promise<void>;
}

export interface Transport {
  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener>;
  /**
   * `address` is a listener's address, or one with a path naming caches (scopedAddress; the
   * listening side's connection then has them as its `scope`).
   * @throws when nothing listens there or the connection fails.
   */
  dial(address: string): Promise<Connection>;
}

/** Close codes meshcache uses (the WebSocket range 4000-4999 is for applications). */
export const CloseCode = Object.freeze({
  Normal: 1000,
  GoingAway: 1001,
  /** A frame larger than the other side may send (as ws closes past maxPayload). */
  TooLarge: 1009,
  ProtocolError: 4002,
  AuthFailed: 4003,
  Lost: 4004,
  /** A node dialled its own listener. */
  Self: 4005,
  /**
   * The peer does not read what it is sent: unsent bytes passed their bound (or, for admin
   * sessions, there is no room). The WebSocket transport drops a connection closed so with bytes
   * unsent at once, rather than queue a close frame behind what is not read: this side's close
   * listeners see 4008, the other side 1006.
   */
  Backlog: 4008,
} as const);

/** The longest close reason a WebSocket close frame carries, in UTF-8 bytes. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** A close reason cut to at most 123 UTF-8 bytes, never inside a character. */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let cut = '';
  for (const character of reason) {
    if (Buffer.byteLength(cut + character) > MAX_CLOSE_REASON_BYTES) break;
    cut += character;
  }
  return cut;
}

/**
 * A connection that passes everything to `inner` but what `overrides` replaces: how a wrapper
 * (chaos, a simulator's faulty link, a test's tampering middlebox) changes one behaviour without
 * restating the others.
 */
export function delegatingConnection(
  inner: Connection,
  overrides: { readonly send?: Connection['send']; readonly bufferedAmount?: () => number },
): Connection {
  return {
    get remoteAddress() {
      return inner.remoteAddress;
    },
    get bufferedAmount() {
      return overrides.bufferedAmount?.() ?? inner.bufferedAmount;
    },
    get quietMillis() {
      return inner.quietMillis;
    },
    get scope() {
      return inner.scope;
    },
    get open() {
      return inner.open;
    },
    send: overrides.send ?? ((frame, written) => inner.send(frame, written)),
    close: (code, reason) => inner.close(code, reason),
    authenticated: () => inner.authenticated(),
    pauseReading: () => inner.pauseReading(),
    resumeReading: () => inner.resumeReading(),
    onFrame: (listener) => inner.onFrame(listener),
    onClose: (listener) => inner.onClose(listener),
  };
}

/**
 * The longest path a dial names caches in: a listener takes request heads of at most 8 KiB
 * (websocket.ts), and a longer path failed every dial. Longer lists go without a path.
 */
export const MAX_SCOPE_PATH_BYTES = 4096;

/**
 * The address to dial for a link that carries `caches` alone: one path segment a cache, each
 * percent-encoded (so a `/` in a name is `%2F`, never a separator); the listener's own address
 * for every cache. Several caches in one path, not one connection a cache: a link is one per
 * pair of nodes, and two dials to one node would close each other as duplicates. No path either
 * when the list would not travel whole in one: past MAX_SCOPE_PATH_BYTES, or with a name a URL
 * would take as a dot segment (`.`, `..`, which URL parsing resolves away, encoded or not).
 * Then the link is scoped by LinkCaches alone (protocol 4; a listener of an older release links
 * every cache it has).
 */
export function scopedAddress(address: string, caches: readonly string[] | undefined): string {
  if (caches === undefined || caches.length === 0) return address;
  if (caches.some((cache) => cache === '.' || cache === '..')) return address;
  const path = caches.map(encodeURIComponent).join('/');
  return path.length > MAX_SCOPE_PATH_BYTES ? address : `${address}/${path}`;
}

/**
 * The caches a dialled path names (`/Response%20Cache/Tokens`), decoded; undefined for `/` (every
 * cache). A segment that does not decode names no cache: a malformed path narrows the link (to
 * nothing, when no segment decodes), never widens it to every cache.
 */
export function scopeOfPath(path: string): readonly string[] | undefined {
  const segments = path.split('/').filter((segment) => segment !== '');
  if (segments.length === 0) return undefined;
  const caches = new Set<string>();
  for (const segment of segments) {
    try {
      caches.add(decodeURIComponent(segment));
    } catch {
      // names no cache
    }
  }
  return [...caches];
}
