/**
 * An in-process network: listeners are registered under any address string, and a dial makes a
 * pair of connected ends. Frames are delivered on a later microtask, so sends never re-enter the
 * sender, as on a real socket. For tests that need a cluster without sockets.
 */
import { CloseCode, type Connection, closeReason, type Listener, scopeOfPath, type Transport } from './transport.js';

type FrameListener = (frame: Uint8Array) => void;
type CloseListener = (code: number, reason: string) => void;

class MemoryConnection implements Connection {
  readonly remoteAddress: string;
  readonly scope: readonly string[] | undefined;
  peer: MemoryConnection | undefined;
  #open = true;
  readonly #frameListeners: FrameListener[] = [];
  /** Frames that arrived before anyone listened. */
  #early: Uint8Array[] = [];
  readonly #closeListeners: CloseListener[] = [];
  /** While reading is paused: the frames that arrived, delivered on resumeReading. */
  #paused = false;
  #held: Uint8Array[] = [];

  constructor(remoteAddress: string, scope?: readonly string[]) {
    this.remoteAddress = remoteAddress;
    this.scope = scope;
  }

  get bufferedAmount(): number {
    return 0;
  }

  get open(): boolean {
    return this.#open;
  }

  send(frame: Uint8Array, written?: () => void): void {
    if (!this.#open) return;
    const copy = Uint8Array.from(frame); // the sender may reuse its buffer
    written?.();
    const peer = this.peer;
    queueMicrotask(() => peer?.deliver(copy));
  }

  authenticated(): void {}

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    // A listener that pauses again meanwhile holds the rest, in order.
    for (const frame of held) this.deliver(frame);
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    if (!this.#open) return;
    const cut = closeReason(reason);
    this.#closed(code, cut);
    const peer = this.peer;
    queueMicrotask(() => peer?.closedByPeer(code, cut));
  }

  onFrame(listener: FrameListener): void {
    this.#frameListeners.push(listener);
    const early = this.#early;
    this.#early = [];
    for (const frame of early) listener(frame);
  }

  onClose(listener: CloseListener): void {
    this.#closeListeners.push(listener);
  }

  deliver(frame: Uint8Array): void {
    if (!this.#open) return;
    if (this.#paused) {
      this.#held.push(frame);
      return;
    }
    if (this.#frameListeners.length === 0) this.#early.push(frame);
    for (const listener of this.#frameListeners) listener(frame);
  }

  closedByPeer(code: number, reason: string): void {
    this.#closed(code, reason);
  }

  #closed(code: number, reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    for (const listener of this.#closeListeners) listener(code, reason);
  }
}

export class MemoryNetwork implements Transport {
  readonly #listeners = new Map<string, (connection: Connection) => void>();
  #dials = 0;

  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    if (this.#listeners.has(address)) throw new Error(`memory network: ${address} is already listening`);
    this.#listeners.set(address, onConnection);
    return {
      address,
      close: async () => {
        this.#listeners.delete(address);
      },
    };
  }

  async dial(address: string): Promise<Connection> {
    let accept = this.#listeners.get(address);
    let scope: readonly string[] | undefined;
    if (accept === undefined) {
      // A path after a listener's address names caches, as on a WebSocket (a query is no part of
      // it); the longest address that prefixes it is the listener dialled.
      let longest = '';
      for (const [listening, onConnection] of this.#listeners) {
        if (!address.startsWith(`${listening}/`) || listening.length <= longest.length) continue;
        longest = listening;
        accept = onConnection;
      }
      if (accept !== undefined) scope = scopeOfPath(address.slice(longest.length).split('?')[0] as string);
    }
    if (accept === undefined) throw new Error(`memory network: nothing listens at ${address}`);
    const dialer = new MemoryConnection(address);
    const accepted = new MemoryConnection(`memory-client-${++this.#dials}`, scope);
    dialer.peer = accepted;
    accepted.peer = dialer;
    accept(accepted);
    return dialer;
  }
}
