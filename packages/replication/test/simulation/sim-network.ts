/**
 * The simulator's network: the in-memory network with faults a test schedules, on virtual time.
 * Each node gets its own view (a Transport), so every connection knows the two nodes it joins and
 * every frame can be judged by the link it travels on.
 *
 * Every frame takes a little time (0 to LATENCY_MILLIS, drawn per frame, keeping each
 * connection's order), so frames on different links interleave as on a real network.
 *
 * Faults, as a real network and the real transport would show them:
 * - delay (per node: a slow host, or a slow link): frames of one connection keep their order;
 * - partition (both ways or one way): frames across it vanish; after DETECT_MILLIS the
 *   connection closes (1006), as the WebSocket heartbeat closes a connection that went quiet;
 *   dials across it fail;
 * - cut: connections between two nodes close at once (4004), and may be redialled;
 * - frame loss, duplication: a frame vanishes, or arrives twice. Frames are encrypted with a
 *   counter nonce, so the next frame (or the duplicate) fails authentication and the session
 *   closes: loss becomes a cut, as TCP's would be a reset;
 * - crash: every connection of the node closes (1006) and its listener goes.
 */
import type { Scheduler } from '@meshcache/core';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { type Connection, delegatingConnection, type Listener, type Transport } from '../../src/transport/transport.js';

/** How long a connection that hears nothing stays open: the WebSocket heartbeat's window. */
export const DETECT_MILLIS = 2000;
/** The most a frame takes on a healthy link. */
export const LATENCY_MILLIS = 3;

interface Link {
  readonly from: string;
  readonly to: string;
  readonly connection: Connection;
}

export class SimNetwork {
  readonly #inner = new MemoryNetwork();
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  /** Node by listener address. */
  readonly #nodeAt = new Map<string, string>();
  readonly #listeners = new Map<string, Listener[]>();
  /** Open connection ends, with the node that holds each and the node at the other end. */
  readonly #links = new Set<Link>();
  /** Directions that drop every frame: "a>b". */
  readonly #blocked = new Set<string>();
  readonly #delay = new Map<string, number>();
  #lossRate = 0;
  #duplicateRate = 0;
  #dialling: string | undefined;

  constructor(scheduler: Scheduler, random: () => number) {
    this.#scheduler = scheduler;
    this.#random = random;
  }

  /** The transport node `name` uses. */
  view(name: string): Transport {
    return {
      listen: async (address, onConnection) => {
        this.#nodeAt.set(address, name);
        const listener = await this.#inner.listen(address, (connection) => {
          const from = this.#dialling ?? '?';
          onConnection(this.#wrap(connection, name, from));
        });
        this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), listener]);
        return listener;
      },
      dial: async (address) => {
        const to = this.#nodeAt.get(address);
        if (to === undefined || this.#blocked.has(`${name}>${to}`) || this.#blocked.has(`${to}>${name}`)) {
          throw new Error(`sim: ${address} is unreachable from ${name}`);
        }
        this.#dialling = name;
        try {
          return this.#wrap(await this.#inner.dial(address), name, to);
        } finally {
          this.#dialling = undefined;
        }
      },
    };
  }

  /** Frames from `a` to `b` (and back, unless oneWay) vanish; connections between them close after DETECT_MILLIS. */
  partition(a: string, b: string, oneWay = false): void {
    this.#blocked.add(`${a}>${b}`);
    if (!oneWay) this.#blocked.add(`${b}>${a}`);
    this.#scheduler.setTimeout(() => {
      if (!this.#blocked.has(`${a}>${b}`)) return; // healed before anyone noticed
      this.#closeBetween(a, b, 1006, '');
    }, DETECT_MILLIS);
  }

  /** Closes every connection between `a` and `b` now. */
  cut(a: string, b: string): void {
    this.#closeBetween(a, b, 4004, 'cut by the simulator');
  }

  /** Frames to and from `node` take `millis` longer (0 to undo). */
  slow(node: string, millis: number): void {
    this.#delay.set(node, millis);
  }

  /** Each frame is lost, or arrives twice, with these probabilities (0 to undo). */
  lossy(lossRate: number, duplicateRate: number): void {
    this.#lossRate = lossRate;
    this.#duplicateRate = duplicateRate;
  }

  /** The node's process is gone: every connection closes, its listener with it. */
  async crash(node: string): Promise<void> {
    for (const link of [...this.#links]) {
      if (link.from === node || link.to === node) link.connection.close(1006, '');
    }
    for (const listener of this.#listeners.get(node) ?? []) await listener.close();
    this.#listeners.delete(node);
  }

  /** Every fault undone: no partition, no delay, no loss. */
  heal(): void {
    this.#blocked.clear();
    this.#delay.clear();
    this.#lossRate = 0;
    this.#duplicateRate = 0;
  }

  #closeBetween(a: string, b: string, code: number, reason: string): void {
    for (const link of [...this.#links]) {
      if ((link.from === a && link.to === b) || (link.from === b && link.to === a)) link.connection.close(code, reason);
    }
  }

  /** `connection` is held by `self`, and leads to `other`. */
  #wrap(connection: Connection, self: string, other: string): Connection {
    const link: Link = { from: self, to: other, connection };
    this.#links.add(link);
    connection.onClose(() => this.#links.delete(link));
    let lastAt = 0;
    const scheduler = this.#scheduler;
    const send = (frame: Uint8Array) => {
      if (this.#blocked.has(`${self}>${other}`)) return;
      if (this.#lossRate > 0 && this.#random() < this.#lossRate) return;
      const copies = this.#duplicateRate > 0 && this.#random() < this.#duplicateRate ? 2 : 1;
      const delay =
        Math.floor(this.#random() * (LATENCY_MILLIS + 1)) +
        (this.#delay.get(self) ?? 0) +
        (this.#delay.get(other) ?? 0);
      for (let i = 0; i < copies; i++) {
        // One connection's frames keep their order, whatever the delay does meanwhile.
        const at = Math.max(lastAt, scheduler.now() + delay);
        lastAt = at;
        const copy = Uint8Array.from(frame);
        scheduler.setTimeout(() => connection.send(copy), at - scheduler.now());
      }
    };
    return delegatingConnection(connection, { send });
  }
}
