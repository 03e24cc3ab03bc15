/**
 * A TCP proxy for fault tests, between two nodes on 127.0.0.1: the dialling node is given the
 * proxy's URL instead of its peer's, and the proxy forwards to the peer's real port. Faults are
 * set and healed while connections live:
 *
 * - delay: every chunk is held `delayMs` plus up to `jitterMs` (at random), in order;
 * - bandwidth: each direction of each connection paced to `bytesPerSecond`;
 * - cut: every connection closed, and new ones closed as soon as they arrive;
 * - halfOpen: nothing forwarded and nothing closed: reads stop (bytes wait in the kernel, as on a
 *   path that blackholes packets), new connections are accepted and wait; healing delivers
 *   everything that waited, in order, as TCP would after a short outage;
 * - healing any fault also sends at once, in order, what a delay or a bandwidth limit still holds;
 * - reset: every connection reset (RST) now, and again every `everyMs` while the fault holds.
 *
 * Links are authenticated and encrypted (docs/security.md), so a proxy can only forward, delay,
 * cut or drop bytes: it never changes one (a changed byte closes the link, which the adversarial
 * suite tests). Memory is bounded: a direction that holds more than 1 MiB not yet written stops
 * reading until it drains.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type Fault =
  | { readonly kind: 'none' }
  | { readonly kind: 'delay'; readonly delayMs: number; readonly jitterMs: number }
  | { readonly kind: 'bandwidth'; readonly bytesPerSecond: number }
  | { readonly kind: 'cut' }
  | { readonly kind: 'halfOpen' }
  | { readonly kind: 'reset'; readonly everyMs: number };

const HELD_MOST = 1024 * 1024;

/**
 * One direction of one connection: reads from `from`, writes to `to`, when each chunk is due.
 * Chunks wait in one queue, in arrival order, drained by one timer: one timer per chunk would not
 * keep them in order (Node orders timers by its cached loop time, not by the due time computed
 * here, so two chunks due a millisecond apart could swap), and a TCP stream with two chunks
 * swapped is a corrupted stream, which the receiver rightly refuses.
 */
class Direction {
  #dueAt = 0;
  #held = 0;
  readonly #queue: Array<{ readonly due: number; readonly chunk: Buffer }> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly from: Socket,
    readonly to: Socket,
    readonly proxy: ChaosProxy,
  ) {
    from.on('data', (chunk: Buffer) => this.#forward(chunk));
  }

  #forward(chunk: Buffer): void {
    this.proxy.bytes += chunk.length;
    const fault = this.proxy.fault;
    const now = Date.now();
    let due = now;
    if (fault.kind === 'delay') due = now + fault.delayMs + Math.random() * fault.jitterMs;
    if (fault.kind === 'bandwidth') due = Math.max(now, this.#dueAt) + (chunk.length / fault.bytesPerSecond) * 1000;
    due = Math.max(due, this.#dueAt); // in order, always
    this.#dueAt = due;
    if (due <= now && this.#queue.length === 0) {
      this.#write(chunk);
      return;
    }
    this.#queue.push({ due, chunk });
    this.#held += chunk.length;
    if (this.#held > HELD_MOST) this.from.pause();
    if (this.#timer === undefined) this.#schedule();
  }

  #schedule(): void {
    const next = this.#queue[0];
    if (next === undefined) return;
    this.#timer = setTimeout(() => this.#drain(), Math.max(0, next.due - Date.now()));
  }

  #drain(): void {
    this.#timer = undefined;
    const now = Date.now();
    while (this.#queue.length > 0 && (this.#queue[0] as { due: number }).due <= now) {
      const { chunk } = this.#queue.shift() as { chunk: Buffer };
      this.#held -= chunk.length;
      this.#write(chunk);
    }
    if (this.#held <= HELD_MOST && this.proxy.fault.kind !== 'halfOpen') this.from.resume();
    this.#schedule();
  }

  #write(chunk: Buffer): void {
    if (this.to.destroyed) return;
    if (!this.to.write(chunk)) {
      this.from.pause();
      this.to.once('drain', () => {
        if (this.proxy.fault.kind !== 'halfOpen') this.from.resume();
      });
    }
  }

  /** Healed: what the fault still holds goes now, in order, at full speed. */
  release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAt = 0;
    this.#queue.splice(0, this.#queue.length, ...this.#queue.map(({ chunk }) => ({ due: 0, chunk })));
    this.#drain();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}

interface Connection {
  readonly client: Socket;
  upstream: Socket | undefined;
  directions: Direction[];
}

export class ChaosProxy {
  fault: Fault = { kind: 'none' };
  /** Bytes forwarded (or held) so far, both directions. */
  bytes = 0;
  /** Connections accepted so far. */
  accepted = 0;
  readonly #server: Server;
  readonly #target: number;
  readonly #connections = new Set<Connection>();
  #resetTimer: NodeJS.Timeout | undefined;

  private constructor(server: Server, target: number) {
    this.#server = server;
    this.#target = target;
  }

  /** A proxy on 127.0.0.1, a free port, forwarding to 127.0.0.1:targetPort. */
  static async start(targetPort: number): Promise<ChaosProxy> {
    const server = createServer();
    const proxy = new ChaosProxy(server, targetPort);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.#connections.size;
  }

  set(fault: Fault): void {
    this.fault = fault;
    clearInterval(this.#resetTimer);
    this.#resetTimer = undefined;
    if (fault.kind === 'cut') for (const connection of [...this.#connections]) this.#end(connection, false);
    if (fault.kind === 'reset') {
      this.#resetAll();
      this.#resetTimer = setInterval(() => this.#resetAll(), fault.everyMs);
    }
    if (fault.kind === 'halfOpen') {
      for (const connection of this.#connections) {
        connection.client.pause();
        connection.upstream?.pause();
      }
    }
  }

  heal(): void {
    this.set({ kind: 'none' });
    for (const connection of this.#connections) {
      if (connection.upstream === undefined) this.#connect(connection);
      for (const direction of connection.directions) direction.release();
      connection.client.resume();
      connection.upstream?.resume();
    }
  }

  async close(): Promise<void> {
    this.set({ kind: 'none' });
    for (const connection of [...this.#connections]) this.#end(connection, true);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const connection: Connection = { client, upstream: undefined, directions: [] };
    this.#connections.add(connection);
    client.on('error', () => this.#end(connection, true));
    client.on('close', () => this.#end(connection, false));
    if (this.fault.kind === 'cut') {
      this.#end(connection, false);
      return;
    }
    if (this.fault.kind === 'halfOpen') {
      client.pause(); // accepted, and nothing happens: the dial waits, then gives up
      return;
    }
    this.#connect(connection);
  }

  #connect(connection: Connection): void {
    const upstream = connect({ port: this.#target, host: '127.0.0.1', noDelay: true });
    connection.upstream = upstream;
    upstream.on('error', () => this.#end(connection, true));
    upstream.on('close', () => this.#end(connection, false));
    connection.directions = [
      new Direction(connection.client, upstream, this),
      new Direction(upstream, connection.client, this),
    ];
  }

  #resetAll(): void {
    for (const connection of [...this.#connections]) this.#end(connection, true);
  }

  /** Ends both sides: with a reset (RST) or a plain close (FIN). */
  #end(connection: Connection, reset: boolean): void {
    if (!this.#connections.delete(connection)) return;
    for (const direction of connection.directions) direction.stop();
    for (const socket of [connection.client, connection.upstream]) {
      if (socket === undefined || socket.destroyed) continue;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
