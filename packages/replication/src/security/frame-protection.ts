/**
 * Frame protection after the handshake: every frame is AES-256-GCM under the key of its
 * direction (one key each way, from the handshake's Split), with the frame's number as the
 * nonce. Frames arrive in order on a connection, so the number is never sent: a frame that is
 * dropped, replayed, reordered or changed fails to decrypt, and the session closes.
 *
 * Both sides rekey every `rekeyInterval` frames of a direction (Noise's Rekey: the new key is
 * derived from the old one, no message needed), long before any limit of the cipher: with 2^20
 * frames per key, a key protects at most 16 TiB at the 16 MiB frame bound.
 */
import { CipherState, NoiseError } from './noise.js';
import type { SealedFramePool } from './sealed-frame-pool.js';

const NO_AD = Buffer.alloc(0);
export const DEFAULT_REKEY_INTERVAL = 2 ** 20;

export class FrameProtection {
  readonly #send: CipherState;
  readonly #receive: CipherState;
  readonly #rekeyInterval: number;

  /**
   * Frames as they are, unencrypted: only for measuring what protection costs (the replication
   * benchmark), never between nodes in service. The handshake still authenticates both ends.
   */
  static none(): FrameProtection {
    return new UnprotectedFrames();
  }

  constructor(send: CipherState, receive: CipherState, rekeyInterval = DEFAULT_REKEY_INTERVAL) {
    if (!Number.isInteger(rekeyInterval) || rekeyInterval < 1) {
      throw new RangeError(`rekeyInterval must be a whole number >= 1, got ${rekeyInterval}`);
    }
    this.#send = send;
    this.#receive = receive;
    this.#rekeyInterval = rekeyInterval;
  }

  /**
   * The frame's bytes to send, in a buffer from `pool` when given (the caller gives it back once
   * the transport is done with it: sealed-frame-pool.ts).
   */
  seal(plaintext: Uint8Array, pool?: SealedFramePool): Buffer {
    const sealed = this.#send.encryptWithAd(
      NO_AD,
      plaintext,
      pool === undefined ? undefined : (bytes) => pool.take(bytes),
    );
    if (this.#send.nonce % this.#rekeyInterval === 0) this.#send.rekey();
    return sealed;
  }

  /** Whether seal() answers bytes of its own (ciphertext), not the plaintext it was given. */
  get encrypts(): boolean {
    return true;
  }

  /** @throws NoiseError when the frame is not the next authentic frame of this direction */
  open(frame: Uint8Array): Buffer {
    const plaintext = this.#receive.decryptWithAd(NO_AD, frame);
    if (this.#receive.nonce % this.#rekeyInterval === 0) this.#receive.rekey();
    return plaintext;
  }
}

class UnprotectedFrames extends FrameProtection {
  constructor() {
    super(new CipherState(), new CipherState());
  }

  override get encrypts(): boolean {
    return false;
  }

  override seal(plaintext: Uint8Array): Buffer {
    return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  }

  override open(frame: Uint8Array): Buffer {
    return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  }
}

export { NoiseError };
