/**
 * The bytes of the handshake, before any session key exists. Nothing here is msgpack until the
 * pre-shared key has authenticated it: an unauthenticated frame is judged by its length and its
 * first four bytes, and then by AEAD decryption, never by a general-purpose decoder.
 *
 *   Hello    (dialler -> listener)  'm' 'c' 0x01 0x01 | ephemeral (32) | encrypted payload (+16)
 *   Welcome  (listener -> dialler)  'm' 'c' 0x01 0x02 | ephemeral (32) | encrypted payload (+16)
 *   Confirm  (dialler -> listener)  the first transport frame: an empty plaintext, encrypted (16)
 *
 * The third byte is the handshake format (1); a later format gets another number, never the same
 * one with other contents. Payloads, once decrypted, are small msgpack arrays:
 *
 *   Hello payload    [minProtocol, maxProtocol, role 'peer'|'admin', cluster, node, url]
 *   Welcome payload  [protocol, minProtocol, maxProtocol, grant 'peer'|'admin'|'read-only', cluster, node, url]
 *
 * An admin client sends cluster '' (it need not know the name); the listener answers with its own.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { SessionGrant, SessionRole } from './keyring.js';
import { DHLEN, TAGLEN } from './noise.js';

export const HANDSHAKE_FORMAT = 1;
export const HELLO = 1;
export const WELCOME = 2;
export const HEADER_LENGTH = 4;
/** Largest Hello or Welcome frame; anything bigger before authentication closes the connection. */
export const MAX_HANDSHAKE_FRAME = 1024;
/** The prologue both sides hash first: it binds the handshake format into every key. */
export const PROLOGUE = Buffer.from(`meshcache/handshake/${HANDSHAKE_FORMAT}`, 'ascii');
/** Longest node or cluster name, and listener URL, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 256;
export const MAX_URL_BYTES = 512;

export interface HelloPayload {
  readonly minProtocol: number;
  readonly maxProtocol: number;
  readonly role: SessionRole;
  readonly cluster: string;
  readonly node: string;
  readonly url: string;
}

export interface WelcomePayload {
  readonly protocol: number;
  readonly minProtocol: number;
  readonly maxProtocol: number;
  readonly grant: SessionGrant;
  readonly cluster: string;
  readonly node: string;
  readonly url: string;
}

/** Plain msgpack for the payloads: no records, no extensions expected. */
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Frames a handshake message: the header, then Noise's bytes. */
export function frame(kind: typeof HELLO | typeof WELCOME, noiseMessage: Buffer): Buffer {
  return Buffer.concat([Buffer.of(0x6d, 0x63, HANDSHAKE_FORMAT, kind), noiseMessage]);
}

/**
 * Noise's bytes of a Hello or Welcome frame, or a reason it is not one: judged on the raw bytes
 * only (length and header).
 */
export function unframe(kind: typeof HELLO | typeof WELCOME, bytes: Uint8Array): Uint8Array | string {
  if (bytes.length > MAX_HANDSHAKE_FRAME) return 'handshake frame too large';
  if (bytes.length < HEADER_LENGTH + DHLEN + TAGLEN) return 'handshake frame too short';
  if (bytes[0] !== 0x6d || bytes[1] !== 0x63) return 'not a meshcache handshake';
  if (bytes[2] !== HANDSHAKE_FORMAT) return 'unknown handshake format';
  if (bytes[3] !== kind) return 'handshake message out of order';
  return bytes.subarray(HEADER_LENGTH);
}

export function encodeHello(hello: HelloPayload): Buffer {
  return packr.pack([hello.minProtocol, hello.maxProtocol, hello.role, hello.cluster, hello.node, hello.url]);
}

export function encodeWelcome(welcome: WelcomePayload): Buffer {
  return packr.pack([
    welcome.protocol,
    welcome.minProtocol,
    welcome.maxProtocol,
    welcome.grant,
    welcome.cluster,
    welcome.node,
    welcome.url,
  ]);
}

/** @returns the payload, or what is wrong with it */
export function decodeHello(bytes: Uint8Array): HelloPayload | string {
  const wire = decode(bytes);
  if (!Array.isArray(wire) || wire.length !== 6) return 'hello payload must be a list of 6';
  const [minProtocol, maxProtocol, role, cluster, node, url] = wire;
  if (!isVersion(minProtocol) || !isVersion(maxProtocol) || minProtocol > maxProtocol) {
    return 'hello protocol range is not a range of versions';
  }
  if (role !== 'peer' && role !== 'admin') return 'hello role must be peer or admin';
  if (!isName(cluster, role === 'admin')) return 'hello cluster is not a name';
  if (!isName(node, false)) return 'hello node is not a name';
  if (!isUrl(url)) return 'hello url is not a URL';
  return { minProtocol, maxProtocol, role, cluster, node, url };
}

/** @returns the payload, or what is wrong with it */
export function decodeWelcome(bytes: Uint8Array): WelcomePayload | string {
  const wire = decode(bytes);
  if (!Array.isArray(wire) || wire.length !== 7) return 'welcome payload must be a list of 7';
  const [protocol, minProtocol, maxProtocol, grant, cluster, node, url] = wire;
  if (!isVersion(protocol) || !isVersion(minProtocol) || !isVersion(maxProtocol) || minProtocol > maxProtocol) {
    return 'welcome protocol is not a version';
  }
  if (grant !== 'peer' && grant !== 'admin' && grant !== 'read-only') return 'welcome grant is not one of the grants';
  if (!isName(cluster, false)) return 'welcome cluster is not a name';
  if (!isName(node, false)) return 'welcome node is not a name';
  if (!isUrl(url)) return 'welcome url is not a URL';
  return { protocol, minProtocol, maxProtocol, grant, cluster, node, url };
}

function decode(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch {
    return undefined;
  }
}

const isVersion = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535;

function isName(value: unknown, mayBeEmpty: boolean): value is string {
  if (typeof value !== 'string') return false;
  if (value === '') return mayBeEmpty;
  return fitsHandshake(value);
}

/**
 * Whether a node or cluster name can cross the handshake: at most MAX_NAME_BYTES of UTF-8, no
 * control characters. The configuration checks it too, so a node is never started under a name
 * every peer would refuse.
 */
export function fitsHandshake(name: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: names with control characters are refused
  return Buffer.byteLength(name) <= MAX_NAME_BYTES && !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}

function isUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: URLs with control characters are refused
  return Buffer.byteLength(value) <= MAX_URL_BYTES && !/[\u0000-\u001f\u007f-\u009f]/.test(value);
}
