/**
 * A dialler built from the session's own pieces (Noise NNpsk0 and FrameProtection) instead of a
 * Session, so that a test holding the key can send any plaintext at all, correctly encrypted:
 * what a compromised member, or a fuzzer, sends. It reads the node's frames in order with the
 * session keys and decodes them with a WireCodec.
 */

import { Packr } from 'msgpackr';
import { WireCodec } from '../src/protocol/codec.js';
import type { Message } from '../src/protocol/messages.js';
import { MessageType } from '../src/protocol/messages.js';
import { FrameProtection } from '../src/security/frame-protection.js';
import { decodeWelcome, frame, HELLO, PROLOGUE, unframe, WELCOME } from '../src/security/handshake-messages.js';
import { derivePsk } from '../src/security/keyring.js';
import { generateEphemeral, initialState, readSecond, writeFirst } from '../src/security/noise.js';
import type { Connection } from '../src/transport/transport.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { SECRET } from './nodes.js';

/** A Hello frame under `psk` carrying `payload` (any bytes, decrypted by the listener before it is judged). */
export function keyedHello(psk: Buffer, payload: Uint8Array) {
  const noise = initialState(PROLOGUE);
  const ephemeral = generateEphemeral();
  return { bytes: frame(HELLO, writeFirst(noise, psk, ephemeral, payload)), noise, ephemeral };
}

export class RawPeer {
  readonly connection: Connection;
  readonly codec = new WireCodec();
  readonly received: Message[] = [];
  /** Set: every message the node sends is kept in `received`, its repair traffic too. */
  keepAll = false;
  closed: [number, string] | undefined;
  readonly #protection: FrameProtection;
  readonly #waiters = new Set<() => void>();

  private constructor(connection: Connection, protection: FrameProtection) {
    this.connection = connection;
    this.#protection = protection;
  }

  /**
   * Runs the handshake as a dialler with `psk` and the Hello payload given (msgpack bytes), and
   * sends Confirm. Resolves with the peer, or with the close the listener answered.
   */
  static handshake(connection: Connection, psk: Buffer, helloPayload: Uint8Array): Promise<RawPeer | [number, string]> {
    const hello = keyedHello(psk, helloPayload);
    return new Promise((resolve, reject) => {
      let peer: RawPeer | undefined;
      connection.onClose((code, reason) => {
        if (peer === undefined) resolve([code, reason]);
        else peer.#closed(code, reason);
      });
      connection.onFrame((bytes) => {
        if (peer !== undefined) {
          peer.#receive(bytes);
          return;
        }
        const message = unframe(WELCOME, bytes);
        if (typeof message === 'string') {
          reject(new Error(`not a Welcome: ${message}`));
          return;
        }
        const second = readSecond(hello.noise, hello.ephemeral, message);
        if (typeof decodeWelcome(second.payload) === 'string') {
          reject(new Error('the Welcome does not decode'));
          return;
        }
        const protection = new FrameProtection(second.send, second.receive);
        connection.send(protection.seal(Buffer.alloc(0))); // Confirm
        peer = new RawPeer(connection, protection);
        resolve(peer);
      });
      connection.send(hello.bytes);
    });
  }

  /** Seals a plaintext as the next frame (the counter moves on even if the frame is then spoiled). */
  seal(plaintext: Uint8Array): Buffer {
    return this.#protection.seal(plaintext);
  }

  sendPlaintext(plaintext: Uint8Array): void {
    this.connection.send(this.seal(plaintext));
  }

  send(message: Message): void {
    this.sendPlaintext(this.codec.encode(message));
  }

  /**
   * Sends a Sync and resolves true when its Ack arrives (everything sent before it was handled),
   * false when the node closes the session first. Fails after `timeoutMillis`.
   */
  async settled(id: number, timeoutMillis: number): Promise<boolean> {
    if (this.closed !== undefined) return false;
    this.send({ type: MessageType.Sync, id });
    const deadline = Date.now() + timeoutMillis;
    for (;;) {
      if (this.received.some((m) => m.type === MessageType.Ack && m.id === id)) return true;
      if (this.closed !== undefined) return false;
      if (Date.now() > deadline) throw new Error(`no Ack ${id} and no close within ${timeoutMillis} ms`);
      await this.#next(50);
    }
  }

  /** Resolves on the next frame or close, or after `millis`. */
  #next(millis: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, millis);
      this.#waiters.add(done);
    });
  }

  /** Resolves with the AdminResponse of `id`, or undefined when the node closes first. Fails after `timeoutMillis`. */
  async response(id: number, timeoutMillis: number): Promise<(Message & { type: 17 }) | undefined> {
    const deadline = Date.now() + timeoutMillis;
    for (;;) {
      const found = this.received.find((m) => m.type === MessageType.AdminResponse && m.id === id);
      if (found !== undefined) return found as Message & { type: 17 };
      if (this.closed !== undefined) return undefined;
      if (Date.now() > deadline) throw new Error(`no answer to ${id} and no close within ${timeoutMillis} ms`);
      await this.#next(50);
    }
  }

  #receive(bytes: Uint8Array): void {
    const message = this.codec.decode(this.#protection.open(bytes));
    // Keep only what a test waits for: Acks and admin responses (a node's repair traffic is dropped).
    if (this.keepAll || message.type === MessageType.Ack || message.type === MessageType.AdminResponse) {
      this.received.push(message);
    }
    this.#wake();
  }

  #closed(code: number, reason: string): void {
    this.closed = [code, reason];
    this.#wake();
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }
}

/**
 * A RawPeer of cluster "gateways" (nodes.ts's) named `name`, linked over real WebSockets to the
 * node at `url`, speaking protocol `protocol` (the link's, as the node speaks it too).
 */
export async function linkedRawPeer(url: string, name: string, protocol = 2): Promise<RawPeer> {
  const psk = await derivePsk(SECRET);
  const payload = new Packr({ useRecords: false, moreTypes: true }).pack([2, protocol, 'peer', 'gateways', name, '']);
  const peer = await RawPeer.handshake(await new WebSocketTransport({}).dial(url), psk, payload);
  if (!(peer instanceof RawPeer)) throw new Error(`the node refused the raw peer: ${peer.join(' ')}`);
  return peer;
}
