/**
 * A transport that misbehaves on purpose, wrapped around another: frames can be delayed, dropped,
 * duplicated or reordered, and connections cut. Decisions come from a seeded generator, so a
 * failing test replays the same way. Dropping or reordering breaks the transport promise on
 * purpose: it stands for a peer that lost frames and must repair.
 */
import { type Scheduler, systemScheduler } from '@meshcache/core';
import { type Connection, delegatingConnection, type Listener, type Transport } from './transport.js';

export interface ChaosOptions {
  /** Extra delay per frame, in ms (delivered with setTimeout). @default 0 */
  delayMillis?: number;
  /** Probability that a frame is dropped. @default 0 */
  drop?: number;
  /** Probability that a frame is sent twice. @default 0 */
  duplicate?: number;
  /** Probability that a frame is held back and sent after the next one. @default 0 */
  reorder?: number;
  /** Seed of the generator. @default 1 */
  seed?: number;
  /** Where delays are timed. @default system */
  scheduler?: Scheduler;
}

export class ChaosTransport implements Transport {
  readonly #inner: Transport;
  readonly #options: Required<Omit<ChaosOptions, 'scheduler'>>;
  readonly #scheduler: Scheduler;
  readonly #connections = new Set<Connection>();
  #seed: number;

  constructor(inner: Transport, options: ChaosOptions = {}) {
    this.#inner = inner;
    const { scheduler, ...rest } = options;
    this.#options = { delayMillis: 0, drop: 0, duplicate: 0, reorder: 0, seed: 1, ...rest };
    this.#scheduler = scheduler ?? systemScheduler;
    this.#seed = this.#options.seed;
  }

  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    return this.#inner.listen(address, (connection) => onConnection(this.#wrap(connection)));
  }

  async dial(address: string): Promise<Connection> {
    return this.#wrap(await this.#inner.dial(address));
  }

  /** Cuts every connection made through this transport, as a network partition would. */
  cutAll(reason = 'cut by chaos'): void {
    for (const connection of this.#connections) connection.close(4004, reason);
    this.#connections.clear();
  }

  #random(): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2 ** 31;
    return this.#seed / 2 ** 31;
  }

  #wrap(inner: Connection): Connection {
    this.#connections.add(inner);
    inner.onClose(() => this.#connections.delete(inner));
    let held: Uint8Array | undefined;
    const options = this.#options;
    const deliver = (frame: Uint8Array, written?: () => void) => {
      if (options.delayMillis > 0) this.#scheduler.setTimeout(() => inner.send(frame, written), options.delayMillis);
      else inner.send(frame, written);
    };
    const send = (frame: Uint8Array, written?: () => void): void => {
      if (this.#random() < options.drop) return;
      if (held === undefined && this.#random() < options.reorder) {
        held = frame;
        return;
      }
      const twice = this.#random() < options.duplicate;
      // Said written only of a frame sent once (and not held back): the bytes of a duplicate may
      // still wait behind the first copy's.
      deliver(frame, twice ? undefined : written);
      if (twice) deliver(frame);
      if (held !== undefined) {
        const late = held;
        held = undefined;
        deliver(late);
      }
    };
    return delegatingConnection(inner, { send });
  }
}
