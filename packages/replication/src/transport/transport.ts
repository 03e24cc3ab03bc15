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
 *   so a peer that speaks first (both sides send hello at once) is never lost.
 */

export interface Connection {
  /** Who is on the other end, for logs (an address, not an identity: the handshake proves that). */
  readonly remoteAddress: string;
  /** Bytes queued but not yet handed to the network. */
  readonly bufferedAmount: number;
  readonly open: boolean;
  send(frame: Uint8Array): void;
  close(code?: number, reason?: string): void;
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
  /** @throws when nothing listens there or the connection fails. */
  dial(address: string): Promise<Connection>;
}

/** Close codes meshcache uses (the WebSocket range 4000-4999 is for applications). */
export const CloseCode = Object.freeze({
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 4002,
  AuthFailed: 4003,
  Lost: 4004,
} as const);
