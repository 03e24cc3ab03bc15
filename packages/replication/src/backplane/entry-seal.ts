/**
 * Sealing of what travels through Redis: every stream entry, inbox message and presence record is
 * authenticated and encrypted with the cluster secret, so a Redis user without the secret can
 * neither read a value (a token, a response) nor make a node apply anything.
 *
 * A stream has no handshake and many writers, so the scheme is the stream's own:
 * - A key per writer and incarnation: HKDF-SHA256 over the secret's 32-byte key (the one the
 *   handshake uses, scrypt-stretched once per process), salted with the incarnation (16 random
 *   bytes drawn when the node starts), with info naming the scheme, the cluster and the writer.
 *   Nodes of one cluster share the secret, so any of them could derive any writer's key: the key
 *   separates writers' nonce spaces and clusters, it does not make nodes distrust each other.
 * - The nonce is the writer's sequence number in that incarnation (4 zero bytes, then 8 bytes
 *   big-endian), which only grows. A restart draws a new incarnation and so a new key: a (key,
 *   nonce) pair never repeats across restarts, with no state kept on disk. Past 2^48 entries an
 *   incarnation would have to end; a node writes far fewer in its life.
 * - AES-256-GCM, with the cleartext header and the Redis key the entry was written to as
 *   associated data: an entry moved to another stream, another cluster's stream or another
 *   inbox does not open.
 * - The header carries the time of sealing; replay-guard.ts turns it and the sequence number into
 *   the replay rule.
 *
 * - An inbox message can be addressed to one incarnation of the node whose inbox it is in (kinds 3
 *   and 4): its plaintext then opens with that incarnation's 16 bytes, under the seal like the
 *   rest, and the node drops a message addressed to another incarnation, its former self's. A
 *   node restarted under its name reads the inbox it read before; without the address it took
 *   what a member still sent its former self (the tail of a listing for the old run, and its
 *   BootstrapDone, as the end of its own repair). A writer addresses its messages only to members
 *   whose presence records say they read addressed ones (members.ts), or that sent it addressed
 *   ones (a release writes kinds 3 and 4 only if it drops misaddressed ones): a node of an
 *   earlier release gets kinds 1 and 2, as before.
 *
 * Layout (integers big-endian):
 *
 *   0       1   format (1)
 *   1       1   kind: 1 a protocol message (protocol/codec.ts), 2 a backplane control message;
 *               3 and 4 the same, addressed (the plaintext opens with the incarnation addressed)
 *   2       1   n, the writer's name length in UTF-8 bytes (1..255)
 *   3       n   the writer's name
 *   3+n    16   incarnation
 *   19+n    8   sequence number (below 2^48)
 *   27+n    8   sealed at, epoch milliseconds (below 2^48)
 *   35+n    …   ciphertext, then the 16-byte GCM tag
 *
 * During a secret rotation (`acceptedSecrets`), entries are sealed with the current secret and
 * opened with whichever accepted secret works (trial decryption, the current one first).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const SEAL_FORMAT = 1;
const INCARNATION_BYTES = 16;
const TAG_BYTES = 16;
const MAX_48 = 2 ** 48;
const INFO_PREFIX = 'meshcache/backplane/1';
const EMPTY = Buffer.alloc(0);

/** What a sealed entry is: a protocol message, or one of the backplane's own control messages. */
export type SealedKind = 1 | 2;
export const KIND_MESSAGE: SealedKind = 1;
export const KIND_CONTROL: SealedKind = 2;
/** Added to a kind on the wire when the entry is addressed to one incarnation of its recipient. */
const ADDRESSED = 2;

/** The cleartext header of an entry: authenticated, not secret. */
export interface SealHeader {
  readonly kind: SealedKind;
  readonly writer: string;
  /** 16 bytes, hex. */
  readonly incarnation: string;
  readonly sequence: number;
  readonly sealedAt: number;
  /** Whether the plaintext is addressed to one incarnation of its recipient (opened: `to`). */
  readonly addressed: boolean;
}

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

/** Keys derived per (secret, writer, incarnation), kept for the writers a node hears from. */
const MAX_KEYS = 4096;

export class EntrySealer {
  readonly writer: string;
  readonly incarnation: Buffer;
  readonly #cluster: string;
  readonly #psks: readonly Buffer[];
  readonly #ownKey: Buffer;
  readonly #nameBytes: Buffer;
  readonly #keys = new Map<string, Buffer[]>();
  #sequence = 0;

  /**
   * @param psks the stretched keys of the cluster secret (first: the one to seal with) and of the
   *   secrets still accepted
   */
  constructor(options: { cluster: string; writer: string; psks: readonly Buffer[]; incarnation?: Buffer }) {
    this.writer = options.writer;
    this.#cluster = options.cluster;
    this.#psks = options.psks;
    if (this.#psks.length === 0) throw new SealError('at least one key is needed');
    this.#nameBytes = Buffer.from(options.writer, 'utf8');
    if (this.#nameBytes.length < 1 || this.#nameBytes.length > 255) {
      throw new SealError('a writer name must have 1 to 255 UTF-8 bytes');
    }
    this.incarnation = options.incarnation ?? randomBytes(INCARNATION_BYTES);
    this.#ownKey = derive(this.#psks[0] as Buffer, this.#cluster, options.writer, this.incarnation);
  }

  /** The incarnation as hex: how headers name it. */
  get incarnationHex(): string {
    return this.incarnation.toString('hex');
  }

  /** Entries sealed so far by this incarnation. */
  get sequence(): number {
    return this.#sequence;
  }

  /**
   * Seals `plaintext` for the Redis key `where`, now (`sealedAt`, epoch ms); addressed to the
   * incarnation `to` (16 bytes) of the node whose inbox `where` is, if given.
   */
  seal(kind: SealedKind, plaintext: Uint8Array, where: string, sealedAt: number, to?: Buffer): Buffer {
    if (to !== undefined && to.length !== INCARNATION_BYTES) {
      throw new SealError(`an address is an incarnation of ${INCARNATION_BYTES} bytes`);
    }
    const sequence = ++this.#sequence;
    if (sequence >= MAX_48) throw new SealError('this incarnation has sealed 2^48 entries; restart the node');
    const n = this.#nameBytes.length;
    const header = Buffer.allocUnsafe(35 + n);
    header[0] = SEAL_FORMAT;
    header[1] = to === undefined ? kind : kind + ADDRESSED;
    header[2] = n;
    this.#nameBytes.copy(header, 3);
    this.incarnation.copy(header, 3 + n);
    writeUint48(header, 19 + n, sequence);
    writeUint48(header, 27 + n, Math.max(0, Math.floor(sealedAt)));
    const cipher = createCipheriv('aes-256-gcm', this.#ownKey, nonceOf(sequence));
    cipher.setAAD(Buffer.concat([header, Buffer.from(where, 'utf8')]));
    const address = to === undefined ? EMPTY : cipher.update(to);
    const body = cipher.update(plaintext);
    const final = cipher.final();
    return Buffer.concat([header, address, body, final, cipher.getAuthTag()]);
  }

  /**
   * The header of a sealed entry, read without opening it (so a node can skip its own entries
   * for nothing). Undefined when the bytes are not an entry of this format.
   */
  static peek(sealed: Uint8Array): SealHeader | undefined {
    if (sealed.length < 3 || sealed[0] !== SEAL_FORMAT) return undefined;
    const wireKind = sealed[1] as number;
    const addressed = wireKind > ADDRESSED;
    const kind = addressed ? wireKind - ADDRESSED : wireKind;
    if (kind !== KIND_MESSAGE && kind !== KIND_CONTROL) return undefined;
    const n = sealed[2] as number;
    if (n === 0 || sealed.length < 35 + n + (addressed ? INCARNATION_BYTES : 0) + TAG_BYTES) return undefined;
    const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const sequence = readUint48(bytes, 19 + n);
    const sealedAt = readUint48(bytes, 27 + n);
    if (Number.isNaN(sequence) || Number.isNaN(sealedAt)) return undefined;
    return {
      kind,
      writer: bytes.toString('utf8', 3, 3 + n),
      incarnation: bytes.toString('hex', 3 + n, 19 + n),
      sequence,
      sealedAt,
      addressed,
    };
  }

  /**
   * Authenticates and decrypts an entry read from the Redis key `where`; `to` is the incarnation
   * it is addressed to (hex), if it is.
   * @throws SealError when no accepted secret opens it (forged, changed, moved, or another secret)
   */
  open(sealed: Uint8Array, where: string): { header: SealHeader; plaintext: Buffer; to: string | undefined } {
    const header = EntrySealer.peek(sealed);
    if (header === undefined) throw new SealError('not a sealed entry of format 1');
    const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const n = bytes[2] as number;
    const headerBytes = bytes.subarray(0, 35 + n);
    const body = bytes.subarray(35 + n, bytes.length - TAG_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    const aad = Buffer.concat([headerBytes, Buffer.from(where, 'utf8')]);
    const incarnation = bytes.subarray(3 + n, 19 + n);
    for (const key of this.#keysFor(header.writer, header.incarnation, incarnation)) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(header.sequence));
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        const opened = Buffer.concat([decipher.update(body), decipher.final()]);
        if (!header.addressed) return { header, plaintext: opened, to: undefined };
        const to = opened.toString('hex', 0, INCARNATION_BYTES);
        return { header, plaintext: opened.subarray(INCARNATION_BYTES), to };
      } catch {
        // another accepted secret may open it
      }
    }
    throw new SealError(`an entry claiming writer "${header.writer}" did not authenticate with the cluster secret`);
  }

  #keysFor(writer: string, hex: string, incarnation: Buffer): Buffer[] {
    const id = `${writer}\u0000${hex}`;
    let keys = this.#keys.get(id);
    if (keys === undefined) {
      keys = this.#psks.map((psk) => derive(psk, this.#cluster, writer, incarnation));
      if (this.#keys.size >= MAX_KEYS) this.#keys.delete(this.#keys.keys().next().value as string);
      this.#keys.set(id, keys);
    }
    return keys;
  }
}

/** HKDF-SHA256(psk, salt = incarnation, info = scheme, cluster, writer) → the AES-256 key. */
export function derive(psk: Buffer, cluster: string, writer: string, incarnation: Buffer): Buffer {
  const info = Buffer.from(`${INFO_PREFIX}\u0000${cluster}\u0000${writer}`, 'utf8');
  return Buffer.from(hkdfSync('sha256', psk, incarnation, info, 32));
}

function nonceOf(sequence: number): Buffer {
  const nonce = Buffer.alloc(12);
  writeUint48(nonce, 4, sequence);
  return nonce;
}

/** Writes a whole number below 2^48 as 8 bytes big-endian (the first two zero). */
function writeUint48(into: Buffer, offset: number, value: number): void {
  into.writeUInt16BE(0, offset);
  into.writeUIntBE(value, offset + 2, 6);
}

function readUint48(from: Buffer, offset: number): number {
  if (from.readUInt16BE(offset) !== 0) return Number.NaN;
  return from.readUIntBE(offset + 2, 6);
}
