/**
 * The Noise Protocol Framework (revision 34, https://noiseprotocol.org/noise.html), as much of it
 * as meshcache's handshake needs: Noise_NNpsk0_25519_AESGCM_SHA256.
 *
 *   NNpsk0:
 *     -> psk, e
 *     <- e, ee
 *
 * Why this pattern. Nodes share a secret and have no long-term key pairs, which is what the psk
 * patterns are for. In NNpsk0 the pre-shared key is mixed in before the first message, so the
 * dialler's first message is already encrypted and authenticated under it: the listener learns
 * whether the dialler knows the secret before it sends a single byte, and sends nothing to a
 * dialler that does not (no oracle to reflect or relay). The ephemeral Diffie-Hellman gives the
 * session keys forward secrecy: a secret stolen later does not decrypt recorded sessions. Every
 * byte of both messages, and the prologue, is in the transcript hash that the keys depend on, so
 * a change anywhere makes the other side's decryption fail.
 *
 * What NNpsk0 does not give by itself, and the session adds: the listener knows the dialler
 * holds the secret only once a frame encrypted with the session keys arrives (a replayed first
 * message decrypts, but its replayer has no ephemeral private key), so the listener counts a
 * session as established only on the dialler's first transport frame.
 *
 * This file is the framework's state machine and nothing else: CipherState, SymmetricState and
 * the two roles' message functions, with X25519, AES-256-GCM and SHA-256 from node:crypto. The
 * names follow the specification so that it can be read side by side with it.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';

export const NOISE_PROTOCOL_NAME = 'Noise_NNpsk0_25519_AESGCM_SHA256';
export const DHLEN = 32;
export const TAGLEN = 16;
const HASHLEN = 32;
const EMPTY = Buffer.alloc(0);
/** DER prefix of an X25519 SubjectPublicKeyInfo; the raw key follows. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export class NoiseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoiseError';
  }
}

function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

/** The specification's HKDF: two or three outputs of HASHLEN bytes. */
function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, outputs: 2 | 3): Buffer[] {
  const tempKey = hmac(chainingKey, inputKeyMaterial);
  const output1 = hmac(tempKey, Buffer.of(0x01));
  const output2 = hmac(tempKey, output1, Buffer.of(0x02));
  if (outputs === 2) return [output1, output2];
  return [output1, output2, hmac(tempKey, output2, Buffer.of(0x03))];
}

/**
 * A key and a nonce counter. The nonce is the counter as 64 bits big-endian after 32 zero bits
 * (AESGCM in the specification); it never repeats under one key because the counter only grows.
 */
export class CipherState {
  #key: Buffer | undefined;
  #n = 0;
  readonly #nonce = Buffer.alloc(12);

  constructor(key?: Buffer) {
    this.#key = key;
  }

  hasKey(): boolean {
    return this.#key !== undefined;
  }

  /** Messages encrypted (or decrypted) under this state so far. */
  get nonce(): number {
    return this.#n;
  }

  initializeKey(key: Buffer): void {
    this.#key = key;
    this.#n = 0;
  }

  /** `allocate` gives the buffer the ciphertext and its tag are written into (of the size asked). */
  encryptWithAd(
    ad: Uint8Array,
    plaintext: Uint8Array,
    allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
  ): Buffer {
    const key = this.#key;
    if (key === undefined) return Buffer.from(plaintext);
    const cipher = createCipheriv('aes-256-gcm', key, this.#nextNonce(), { authTagLength: TAGLEN });
    if (ad.length > 0) cipher.setAAD(ad);
    const head = cipher.update(plaintext);
    cipher.final();
    const out = allocate(head.length + TAGLEN);
    head.copy(out, 0);
    cipher.getAuthTag().copy(out, head.length);
    return out;
  }

  /** @throws NoiseError when the ciphertext is not authentic (the counter does not move then). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    const key = this.#key;
    if (key === undefined) return Buffer.from(ciphertext);
    if (ciphertext.length < TAGLEN) throw new NoiseError('ciphertext shorter than its tag');
    const body = ciphertext.subarray(0, ciphertext.length - TAGLEN);
    const decipher = createDecipheriv('aes-256-gcm', key, this.#nonceFor(this.#n), { authTagLength: TAGLEN });
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAGLEN));
    if (ad.length > 0) decipher.setAAD(ad);
    const plaintext = decipher.update(body);
    try {
      decipher.final();
    } catch {
      throw new NoiseError('not authentic');
    }
    this.#n++;
    return plaintext;
  }

  /**
   * The specification's Rekey(): the new key is the first 32 bytes of encrypting 32 zero bytes
   * under the old key with the largest nonce, which ordinary messages never use. The counter
   * goes on, so nonces stay unique across the change.
   */
  rekey(): void {
    const key = this.#key;
    if (key === undefined) return;
    const nonce = Buffer.alloc(12, 0xff);
    nonce.fill(0, 0, 4);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAGLEN });
    this.#key = cipher.update(Buffer.alloc(32)).subarray(0, 32);
    cipher.final();
  }

  #nextNonce(): Buffer {
    return this.#nonceFor(this.#n++);
  }

  #nonceFor(n: number): Buffer {
    if (n >= Number.MAX_SAFE_INTEGER) throw new NoiseError('nonce exhausted');
    this.#nonce.writeUInt32BE(Math.floor(n / 2 ** 32), 4);
    this.#nonce.writeUInt32BE(n >>> 0, 8);
    return this.#nonce;
  }
}

export class SymmetricState {
  #chainingKey: Buffer;
  #h: Buffer;
  readonly cipher: CipherState;

  constructor(protocolName: string, from?: SymmetricState) {
    if (from !== undefined) {
      this.#chainingKey = Buffer.from(from.#chainingKey);
      this.#h = Buffer.from(from.#h);
      this.cipher = new CipherState();
      return;
    }
    const name = Buffer.from(protocolName, 'ascii');
    this.#h = name.length <= HASHLEN ? Buffer.concat([name, Buffer.alloc(HASHLEN - name.length)]) : hash(name);
    this.#chainingKey = Buffer.from(this.#h);
    this.cipher = new CipherState();
  }

  /** A copy before any key is set: trying several pre-shared keys against one first message. */
  fork(): SymmetricState {
    if (this.cipher.hasKey()) throw new NoiseError('fork() is for a state without a key');
    return new SymmetricState('', this);
  }

  /** The transcript hash so far. */
  get handshakeHash(): Buffer {
    return this.#h;
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [chainingKey, tempKey] = hkdf(this.#chainingKey, inputKeyMaterial, 2) as [Buffer, Buffer];
    this.#chainingKey = chainingKey;
    this.cipher.initializeKey(tempKey);
  }

  mixHash(data: Uint8Array): void {
    this.#h = hash(this.#h, data);
  }

  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [chainingKey, tempHash, tempKey] = hkdf(this.#chainingKey, inputKeyMaterial, 3) as [Buffer, Buffer, Buffer];
    this.#chainingKey = chainingKey;
    this.mixHash(tempHash);
    this.cipher.initializeKey(tempKey);
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    const ciphertext = this.cipher.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer {
    const plaintext = this.cipher.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** The two transport keys: the first protects the dialler's messages, the second the listener's. */
  split(): [CipherState, CipherState] {
    const [first, second] = hkdf(this.#chainingKey, EMPTY, 2) as [Buffer, Buffer];
    return [new CipherState(first), new CipherState(second)];
  }
}

/** An X25519 key pair with its raw public key. */
export interface EphemeralKey {
  readonly privateKey: KeyObject;
  readonly publicKey: Buffer;
}

export function generateEphemeral(): EphemeralKey {
  const pair = generateKeyPairSync('x25519');
  const der = pair.publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey: pair.privateKey, publicKey: Buffer.from(der.subarray(der.length - DHLEN)) };
}

/** X25519. @throws NoiseError for a key that is not a point, or one of low order (all-zero result). */
function dh(own: EphemeralKey, theirs: Uint8Array): Buffer {
  try {
    const publicKey = createPublicKey({
      key: Buffer.concat([X25519_SPKI_PREFIX, theirs]),
      format: 'der',
      type: 'spki',
    });
    return diffieHellman({ privateKey: own.privateKey, publicKey });
  } catch {
    throw new NoiseError('the peer’s ephemeral key is not usable');
  }
}

/** The state both roles start from: the protocol name and the prologue, hashed. */
export function initialState(prologue: Uint8Array): SymmetricState {
  const state = new SymmetricState(NOISE_PROTOCOL_NAME);
  state.mixHash(prologue);
  return state;
}

/** Dialler, message 1 (-> psk, e): the ephemeral public key, then the encrypted payload. */
export function writeFirst(
  state: SymmetricState,
  psk: Uint8Array,
  ephemeral: EphemeralKey,
  payload: Uint8Array,
): Buffer {
  state.mixKeyAndHash(psk);
  state.mixHash(ephemeral.publicKey);
  state.mixKey(ephemeral.publicKey); // psk handshakes mix e into the key too
  return Buffer.concat([ephemeral.publicKey, state.encryptAndHash(payload)]);
}

/**
 * Listener, message 1: the dialler's ephemeral key and payload.
 * @throws NoiseError when the payload does not decrypt (another pre-shared key, or tampering)
 */
export function readFirst(
  state: SymmetricState,
  psk: Uint8Array,
  message: Uint8Array,
): { re: Buffer; payload: Buffer } {
  if (message.length < DHLEN + TAGLEN) throw new NoiseError('first message too short');
  const re = Buffer.from(message.subarray(0, DHLEN));
  state.mixKeyAndHash(psk);
  state.mixHash(re);
  state.mixKey(re);
  return { re, payload: state.decryptAndHash(message.subarray(DHLEN)) };
}

/** Listener, message 2 (<- e, ee). Returns the message and the transport states (receive, send). */
export function writeSecond(
  state: SymmetricState,
  re: Uint8Array,
  ephemeral: EphemeralKey,
  payload: Uint8Array,
): { message: Buffer; receive: CipherState; send: CipherState } {
  state.mixHash(ephemeral.publicKey);
  state.mixKey(ephemeral.publicKey);
  state.mixKey(dh(ephemeral, re));
  const message = Buffer.concat([ephemeral.publicKey, state.encryptAndHash(payload)]);
  const [fromDialler, fromListener] = state.split();
  return { message, receive: fromDialler, send: fromListener };
}

/**
 * Dialler, message 2. Returns the listener's payload and the transport states (send, receive).
 * @throws NoiseError when the message is not authentic
 */
export function readSecond(
  state: SymmetricState,
  ephemeral: EphemeralKey,
  message: Uint8Array,
): { payload: Buffer; send: CipherState; receive: CipherState } {
  if (message.length < DHLEN + TAGLEN) throw new NoiseError('second message too short');
  const re = message.subarray(0, DHLEN);
  state.mixHash(re);
  state.mixKey(re);
  state.mixKey(dh(ephemeral, re));
  const payload = state.decryptAndHash(message.subarray(DHLEN));
  const [fromDialler, fromListener] = state.split();
  return { payload, send: fromDialler, receive: fromListener };
}
