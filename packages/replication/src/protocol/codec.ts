/**
 * Messages to bytes and back, with msgpackr. One codec per connection: record structures are
 * defined the first time they are sent on that connection and referenced afterwards
 * (`sequential`), so they never outlive it, and a peer that restarts starts a new connection and
 * cannot garble decoding with stale structures.
 *
 * Layout: each message is one msgpack array whose first element is the type number.
 *
 *   Put        [1, cache, key, value, versionTime, versionCounter, versionNode, createdAt, ttl, tti]
 *   Remove     [2, cache, key, versionTime, versionCounter, versionNode]
 *   Expire     [3, cache, key, versionTime, versionCounter, versionNode]
 *   RemoveAll  [4, cache, versionTime, versionCounter, versionNode]
 *   Batch      [5, [change, change, ...]]            (each change laid out as above)
 *   (6 and 7, protocol 1's Hello and Proof, are retired: the handshake is not made of messages)
 *   BootstrapDone [8, cache]
 *   Digest     [9, cache, bucketCount, digest (8 bytes per bucket), clearVersion null | [time, counter, node]]
 *   RepairRequest [10, cache, bucketCount, keyBuckets[], fullBuckets[]]
 *   Keys       [11, cache, [[key, time, counter, node, removed 0|1], ...], last]
 *   Pull       [12, cache, [key, ...], last]
 *   Sync       [13, id]
 *   Ack        [14, id]
 *   Entries    [15, [change, change, ...]]           (a batch sent in answer to a repair)
 *   AdminRequest  [16, id, op, [arg, ...]]
 *   AdminResponse [17, id, ok, result]
 *   Lease      [18, cache, key, versionTime, versionCounter, versionNode, leaseMillis, state 0 claim | 1 withdraw | 2 release]
 *   ClockSample [19, wallMillis]                      (protocol 3)
 *   LinkCaches [20, [cache, ...]]                     (protocol 4)
 *   SkipRounds [21, cache, rounds]                    (protocol 5)
 *   AskDigest  [22, cache]                            (protocol 6)
 *   Repaired   [23, cache, digestNumber]              (protocol 7)
 *
 * Batches and Entries whose values are strings, numbers, booleans, null or Buffers are written straight to these
 * bytes by change-writer.ts (no array built per change); every other message is laid out as arrays
 * and packed whole. Either way a frame is
 * the layout above, so how a frame was written is never visible to its reader.
 *
 * A top-level message whose type number is above every number this release knows decodes as
 * Unknown (versions.ts says why that is safe to skip); anything else that does not validate is
 * an error.
 *
 * Versions: time is a whole number of epoch milliseconds, counter a whole number below 2^32.
 *
 * Safety: decoding never builds class instances. Before msgpackr sees a frame, MsgpackGuard
 * walks its bytes and refuses every type meshcache does not carry (Errors, RegExps, BigInts,
 * ArrayBuffers, structured-clone references: msgpackr would build them whatever its options);
 * what it lets through decodes to plain objects, arrays, strings, numbers, Buffers, Uint8Arrays,
 * Dates, Maps and Sets. Then every field of every decoded message is checked before use.
 * Anything else is a ProtocolError (E_PROTOCOL) naming what was wrong; the caller closes the
 * connection and changes nothing. A Batch or Entries frame made only of ASCII strings, numbers,
 * booleans and null (what most frames of a cache of strings are) is read in one pass by
 * ChangeReader instead, which takes a subset of what the guard lets through, runs the same field
 * checks, and hands anything else to the full path (change-reader.ts says why that is the same).
 */
import { MeshcacheError, type Version } from '@meshcache/core';
import { Packr, Unpackr } from 'msgpackr';
import { fitsHandshake, MAX_NAME_BYTES } from '../security/handshake-messages.js';
import { DEFAULT_MAX_PAYLOAD } from '../transport/websocket.js';
import type { ChangeLog } from './change-log.js';
import { type ChangeBuilder, ChangeReader } from './change-reader.js';
import { ChangeWriter } from './change-writer.js';
import type { FrameValues } from './frame-values.js';
import {
  type AdminOperation,
  type BatchMessage,
  type ChangeMessage,
  type EntriesMessage,
  type LeaseState,
  type Message,
  MessageType,
  type PutMessage,
  RETIRED_MESSAGE_TYPES,
} from './messages.js';
import { GuardError, MAX_DEPTH, MsgpackGuard } from './msgpack-guard.js';
import { HIGHEST_MESSAGE_TYPE } from './versions.js';

export class ProtocolError extends MeshcacheError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super('E_PROTOCOL', `bad message from peer: ${problem}`, options);
    this.name = 'ProtocolError';
  }
}

/** The Packr's options (exported for the tests that pack as a previous release did). */
export const OPTIONS = {
  moreTypes: true,
  structuredClone: false,
  useRecords: true,
  mapsAsObjects: false,
  sequential: true,
};
/**
 * Binary values are copied out of the frame: a Buffer that a cache keeps must not be a slice
 * that keeps the whole incoming frame alive.
 */
const DECODE_OPTIONS = { ...OPTIONS, copyBuffers: true };

/** Most changes one batch may carry; a bigger batch is a protocol error, not a memory bomb. */
export const MAX_BATCH_CHANGES = 100_000;
/**
 * The most a value of a replicated cache may take encoded (a put of a larger one is refused): a
 * change travels in one frame, and a receiver closes a link whose frame passes its maxPayload
 * (1009). The mebibyte left over is for the key, the version and the frame's own bytes.
 */
export const MAX_VALUE_BYTES = DEFAULT_MAX_PAYLOAD - 1024 * 1024;
/**
 * The most containers deep a value of a replicated cache may nest (a put of a deeper one is
 * refused): a receiver's guard refuses a frame nested past MAX_DEPTH (4002, the link closed), and
 * the batch, its list of changes and the change itself are three levels around the value.
 */
export const MAX_VALUE_DEPTH = MAX_DEPTH - 4;
/**
 * The largest encoded message a session sends: a peer refuses a frame past its maxPayload
 * (1009), and sealing adds a tag; a kibibyte is left for it.
 */
export const MAX_SENT_FRAME_BYTES = DEFAULT_MAX_PAYLOAD - 1024;
/** A version's counter is below this (the HLC moves its time on rather than pass it). */
export const MAX_VERSION_COUNTER = 2 ** 32;

/**
 * Frames ChangeWriter wrote, by the message they were written for. What it writes depends on the
 * changes alone (it never touches the record state a connection's Packr keeps, and never writes
 * over a frame it handed out), so a batch sent to every peer of a cache (a flush makes one message
 * for them all) is written once and each session only seals it: with N peers, N - 1 encodings
 * fewer for every change. Weak: the frame goes with the message. A message is not to be changed
 * once sent (none is: a batch split in halves is two new messages).
 */
const WRITTEN = new WeakMap<Message, Buffer>();

/** Writes the batches of queues' logs (batchOfLog): one for the process, as frames are handed out as views. */
const LOG_WRITER = new ChangeWriter();

/** Records `from` to `to` of `log`, a removeAll of `clear` first: what a frame of a log is written from. */
interface LogRecords {
  readonly log: ChangeLog;
  readonly from: number;
  readonly to: number;
  readonly clear: Version | undefined;
  readonly bytes: number;
}

/**
 * Entries of a log (entriesOfLog) whose frame is not written yet: it is written when the message is
 * first encoded, into the process's one transient buffer when a session seals it at once
 * (encodeTransient). Written when made, as a batch's is, a repair's every chunk took a buffer of
 * its own, and the transient buffer served none of them.
 */
const UNWRITTEN = new WeakMap<Message, LogRecords>();

/**
 * A Batch a replication queue's log holds (ChangeLog), made for sending: its frame written now,
 * straight from the log, with no change object (those were 229 of the 495 bytes a replicated put
 * allocated on the sending node, issue 20); its `changes` made from the log only when read, which
 * must be while the log still holds them (a flush's sends, synchronous: a session halving a batch
 * past a frame, a backplane writing its entry). Read later, they throw. A log holding a value
 * ChangeWriter does not write is a batch of changes made at once, as before.
 */
export function batchOfLog(
  log: ChangeLog,
  from: number,
  to: number,
  clear: Version | undefined,
  changes: () => ChangeMessage[],
  current: () => boolean,
): BatchMessage & { readonly count: number } {
  return loggedMessage(MessageType.Batch, log, from, to, clear, changes, current);
}

/**
 * Entries of the first `count` records of `log`, a removeAll of `clear` first when given (a
 * repair's chunk, repair/entry-chunks.ts), its frame written from the log when first encoded
 * (UNWRITTEN); `changes` makes them as objects, when read, or at once for values ChangeWriter does
 * not write. The log is the message's own: it is never written again, so the frame is the same
 * whenever it is written.
 */
export function entriesOfLog(
  log: ChangeLog,
  count: number,
  clear: Version | undefined,
  changes: () => ChangeMessage[],
): EntriesMessage {
  return loggedMessage(MessageType.Entries, log, 0, count, clear, changes, ALWAYS_CURRENT);
}

const ALWAYS_CURRENT = () => true;

/** A Batch or Entries (`type`) of records `from` to `to` of `log`: batchOfLog's and entriesOfLog's. */
function loggedMessage<T extends typeof MessageType.Batch | typeof MessageType.Entries>(
  type: T,
  log: ChangeLog,
  from: number,
  to: number,
  clear: Version | undefined,
  changes: () => ChangeMessage[],
  current: () => boolean,
): { readonly type: T; readonly changes: readonly ChangeMessage[]; readonly count: number } {
  const count = to - from + (clear === undefined ? 0 : 1);
  const bytes = ChangeWriter.bytesForLog(log, from, to, clear);
  if (bytes < 0) return { type, changes: changes(), count };
  const message = new LoggedChanges(type, count, changes, current);
  // A batch's log moves on: its frame is written now. An Entries' log is its own: written when sent.
  if (type === MessageType.Entries) UNWRITTEN.set(message as Message, { log, from, to, clear, bytes });
  else WRITTEN.set(message as Message, LOG_WRITER.writeLog(type, log, from, to, clear, bytes));
  return message;
}

/** A Batch or Entries whose frame is written from a log: its change objects are made only when read. */
class LoggedChanges<T extends typeof MessageType.Batch | typeof MessageType.Entries> {
  #changes: readonly ChangeMessage[] | undefined;
  readonly #make: () => ChangeMessage[];
  readonly #current: () => boolean;

  constructor(
    readonly type: T,
    readonly count: number,
    make: () => ChangeMessage[],
    current: () => boolean,
  ) {
    this.#make = make;
    this.#current = current;
  }

  get changes(): readonly ChangeMessage[] {
    if (this.#changes === undefined) {
      if (!this.#current()) throw new Error('a batch of a replication queue read after its log moved on');
      this.#changes = this.#make();
    }
    return this.#changes;
  }
}

export class WireCodec {
  readonly #packr = new Packr({ ...OPTIONS });
  readonly #unpackr = new Unpackr({ ...DECODE_OPTIONS });
  readonly #guard = new MsgpackGuard();
  /** Batches and Entries of strings, numbers, booleans, null and Buffers are written without the arrays of toWire. */
  readonly #changes = new ChangeWriter();
  /** And those of ASCII strings, numbers, booleans and null are read without msgpackr (change-reader.ts). */
  readonly #reader: ChangeReader | undefined;

  /**
   * @param options.readChanges false: every frame is decoded the full way (tests compare the two). @default true
   * @param options.deferValues put values a frame of ChangeReader's carries are FrameValues
   *   (frame-values.ts), decoded when first read; the caller settles each message's (takeDeferred)
   *   once it has handled it. @default false
   */
  constructor(options: { readonly readChanges?: boolean; readonly deferValues?: boolean } = {}) {
    this.#reader =
      options.readChanges === false ? undefined : new ChangeReader(MAX_BATCH_CHANGES, options.deferValues === true);
  }

  /**
   * The put values the message decoded last left undecoded (deferValues), to settle() once the
   * message has been handled; undefined when there are none.
   */
  takeDeferred(): FrameValues | undefined {
    return this.#reader?.take();
  }

  /**
   * The message's bytes. A batch ChangeWriter writes is written once, whichever codec is asked
   * first, and that frame is the answer for the same message object on every codec (see WRITTEN).
   */
  encode(message: Message): Buffer {
    if (message.type === MessageType.Batch || message.type === MessageType.Entries) {
      const written = WRITTEN.get(message);
      if (written !== undefined) return written;
      const records = UNWRITTEN.get(message);
      if (records !== undefined) {
        const { log, from, to, clear, bytes } = records;
        const frame = LOG_WRITER.writeLog(message.type, log, from, to, clear, bytes);
        UNWRITTEN.delete(message);
        WRITTEN.set(message, frame);
        return frame;
      }
      const bytes = ChangeWriter.bytesFor(message.changes);
      if (bytes >= 0) {
        const frame = this.#changes.write(message.type, message.changes, bytes);
        WRITTEN.set(message, frame);
        return frame;
      }
    }
    return this.#packr.pack(toWire(message));
  }

  /**
   * encode(), for a caller done with the bytes before the next encode of the process (a session
   * that seals them at once): an Entries frame (a repair's chunk, sent to one peer) is written
   * into the buffer ChangeWriter keeps for the process, not into one of its own, and not kept for
   * other codecs.
   */
  encodeTransient(message: Message): Buffer {
    if (message.type === MessageType.Entries && !WRITTEN.has(message)) {
      const records = UNWRITTEN.get(message);
      if (records !== undefined) {
        const { log, from, to, clear, bytes } = records;
        return this.#changes.writeLogTransient(message.type, log, from, to, clear, bytes);
      }
      const bytes = ChangeWriter.bytesFor(message.changes);
      if (bytes >= 0) return this.#changes.writeTransient(message.type, message.changes, bytes);
    }
    return this.encode(message);
  }

  /** @throws ProtocolError */
  decode(bytes: Uint8Array): Message {
    // As a Buffer (no copy), so binary values decode as Buffers whatever the transport hands us.
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const read = this.#reader?.read(buffer, readChange);
    if (read !== undefined) {
      return { type: buffer[1] === MessageType.Batch ? MessageType.Batch : MessageType.Entries, changes: read };
    }
    let wire: unknown;
    try {
      this.#guard.check(bytes);
      wire = this.#unpackr.unpack(buffer);
    } catch (error) {
      if (error instanceof GuardError) throw new ProtocolError(error.message, { cause: error });
      throw new ProtocolError('not msgpack', { cause: error });
    }
    if (!Array.isArray(wire)) throw new ProtocolError('a message must be an array');
    if (RETIRED_MESSAGE_TYPES.has(wire[0] as number)) {
      throw new ProtocolError(`message type ${wire[0] as number} is retired (protocol 1's handshake)`);
    }
    const number = wire[0];
    if (typeof number === 'number' && Number.isInteger(number) && number > HIGHEST_MESSAGE_TYPE && number < 65_536) {
      return { type: MessageType.Unknown, number };
    }
    switch (wire[0]) {
      case MessageType.ClockSample: {
        if (wire.length !== 2 || !isTime(wire[1])) {
          throw new ProtocolError('clockSample must be [19, wall clock in whole epoch milliseconds]');
        }
        return { type: MessageType.ClockSample, wallMillis: wire[1] as number };
      }
      case MessageType.LinkCaches: {
        const caches = wire[1];
        if (wire.length !== 2 || !Array.isArray(caches) || !caches.every(isText)) {
          throw new ProtocolError('linkCaches must be [20, [cache name, ...]]');
        }
        bounded(caches, 'linkCaches: caches');
        return { type: MessageType.LinkCaches, caches: caches as string[] };
      }
      case MessageType.SkipRounds: {
        const [, cache, rounds] = wire;
        if (wire.length !== 3 || !isText(cache) || !isCounter(rounds) || (rounds as number) > 255) {
          throw new ProtocolError('skipRounds must be [21, cache name, rounds from 0 to 255]');
        }
        return { type: MessageType.SkipRounds, cache: cache as string, rounds: rounds as number };
      }
      case MessageType.AskDigest: {
        const cache = wire[1];
        if (wire.length !== 2 || !isText(cache)) throw new ProtocolError('askDigest must be [22, cache name]');
        return { type: MessageType.AskDigest, cache: cache as string };
      }
      case MessageType.Repaired: {
        const [, cache, digestNumber] = wire;
        if (
          wire.length !== 3 ||
          !isText(cache) ||
          !Number.isSafeInteger(digestNumber) ||
          (digestNumber as number) < 1
        ) {
          throw new ProtocolError('repaired must be [23, cache name, digest number from 1]');
        }
        return { type: MessageType.Repaired, cache: cache as string, digestNumber: digestNumber as number };
      }
      case MessageType.Batch:
      case MessageType.Entries: {
        const name = wire[0] === MessageType.Batch ? 'batch' : 'entries';
        const changes = wire[1];
        if (wire.length !== 2 || !Array.isArray(changes)) throw new ProtocolError(`${name}: changes must be an array`);
        bounded(changes, `${name}: changes`);
        const decoded = new Array<ChangeMessage>(changes.length);
        for (let i = 0; i < changes.length; i++) decoded[i] = changeFromWire(changes[i], name, i);
        return { type: wire[0], changes: decoded };
      }
      case MessageType.BootstrapDone:
      case MessageType.Digest:
      case MessageType.RepairRequest:
      case MessageType.Keys:
      case MessageType.Pull:
      case MessageType.Sync:
      case MessageType.Ack:
        return controlFromWire(wire);
      case MessageType.AdminRequest:
      case MessageType.AdminResponse:
        return adminFromWire(wire);
      case MessageType.Lease: {
        if (wire.length !== 8) throw new ProtocolError(`lease has ${wire.length} fields, expected 8`);
        const [, cache, key, , , , leaseMillis, state] = wire;
        if (!isText(cache)) throw new ProtocolError('lease: cache must be a non-empty string');
        if (!isKey(key)) throw new ProtocolError('lease: key must be a string');
        if (!isCounter(leaseMillis) || (leaseMillis as number) > 3_600_000) {
          throw new ProtocolError('lease: leaseMillis must be a whole number of ms up to 3600000');
        }
        const leaseState = LEASE_STATES[state as number];
        if (!Number.isInteger(state) || leaseState === undefined) {
          throw new ProtocolError('lease: state must be 0 (claim), 1 (withdraw) or 2 (release)');
        }
        return {
          type: MessageType.Lease,
          cache: cache as string,
          key: key as string,
          version: versionFromWire(wire, 3, 'lease'),
          leaseMillis: leaseMillis as number,
          state: leaseState,
        };
      }
      default:
        return changeFromWire(wire, undefined, 0);
    }
  }
}

function toWire(message: Message): unknown[] {
  switch (message.type) {
    case MessageType.Batch:
    case MessageType.Entries:
      return [message.type, message.changes.map(changeToWire)];
    case MessageType.AdminRequest:
      return [MessageType.AdminRequest, message.id, message.op, message.args];
    case MessageType.Lease: {
      const { time, counter, node } = message.version;
      return [
        MessageType.Lease,
        message.cache,
        message.key,
        time,
        counter,
        node,
        message.leaseMillis,
        LEASE_STATES.indexOf(message.state),
      ];
    }
    case MessageType.AdminResponse:
      return [MessageType.AdminResponse, message.id, message.ok, message.result ?? null];
    case MessageType.BootstrapDone:
      return [MessageType.BootstrapDone, message.cache];
    case MessageType.Digest: {
      const clear = message.clearVersion;
      const wireClear = clear === undefined ? null : [clear.time, clear.counter, clear.node];
      return [MessageType.Digest, message.cache, message.bucketCount, message.digest, wireClear];
    }
    case MessageType.RepairRequest:
      return [MessageType.RepairRequest, message.cache, message.bucketCount, message.keyBuckets, message.fullBuckets];
    case MessageType.Keys:
      return [
        MessageType.Keys,
        message.cache,
        message.items.map((item) => [
          item.key,
          item.version.time,
          item.version.counter,
          item.version.node,
          item.removed ? 1 : 0,
        ]),
        message.last,
      ];
    case MessageType.Pull:
      return [MessageType.Pull, message.cache, message.keys, message.last];
    case MessageType.Sync:
    case MessageType.Ack:
      return [message.type, message.id];
    case MessageType.ClockSample:
      return [MessageType.ClockSample, message.wallMillis];
    case MessageType.LinkCaches:
      return [MessageType.LinkCaches, message.caches];
    case MessageType.SkipRounds:
      return [MessageType.SkipRounds, message.cache, message.rounds];
    case MessageType.AskDigest:
      return [MessageType.AskDigest, message.cache];
    case MessageType.Repaired:
      return [MessageType.Repaired, message.cache, message.digestNumber];
    case MessageType.Unknown:
      return [message.number]; // a link never sends one (no version has it); tests stand for a newer peer with it
    default:
      return changeToWire(message);
  }
}

/** Repair and acknowledgement messages: everything that is neither a change nor the handshake. */
function controlFromWire(wire: unknown[]): Message {
  const type = wire[0] as number;
  const name = CONTROL_NAMES[type] ?? 'message';
  const arity = (n: number) => {
    if (wire.length !== n) throw new ProtocolError(`${name} has ${wire.length} fields, expected ${n}`);
  };
  const cache = (): string => {
    if (!isText(wire[1])) throw new ProtocolError(`${name}: cache must be a non-empty string`);
    return wire[1] as string;
  };
  const flag = (index: number, field: string): boolean => {
    if (typeof wire[index] !== 'boolean') throw new ProtocolError(`${name}: ${field} must be true or false`);
    return wire[index] as boolean;
  };
  const bucketCount = (): number => {
    const count = wire[2];
    if (!isCounter(count) || (count as number) < 1 || (count as number) > 65_536 || !isPowerOfTwo(count as number)) {
      throw new ProtocolError(`${name}: bucketCount must be a power of two from 1 to 65536`);
    }
    return count as number;
  };
  switch (type) {
    case MessageType.BootstrapDone:
      arity(2);
      return { type: MessageType.BootstrapDone, cache: cache() };
    case MessageType.Digest: {
      arity(5);
      const count = bucketCount();
      const digest = wire[3];
      if (!(digest instanceof Uint8Array) || digest.length !== count * 8) {
        throw new ProtocolError(`${name}: digest must be ${count * 8} bytes (8 per bucket)`);
      }
      const clear = wire[4];
      let clearVersion: Version | undefined;
      if (clear !== null) {
        if (!Array.isArray(clear) || clear.length !== 3)
          throw new ProtocolError(`${name}: clearVersion must be null or [time, counter, node]`);
        clearVersion = versionFromWire(clear, 0, name);
      }
      return { type: MessageType.Digest, cache: cache(), bucketCount: count, digest, clearVersion };
    }
    case MessageType.RepairRequest: {
      arity(5);
      const count = bucketCount();
      const buckets = (index: number, field: string): number[] => {
        const list = wire[index];
        if (!Array.isArray(list) || list.length > count || !list.every((b) => isCounter(b) && (b as number) < count)) {
          throw new ProtocolError(`${name}: ${field} must be a list of bucket numbers below ${count}`);
        }
        return list as number[];
      };
      return {
        type: MessageType.RepairRequest,
        cache: cache(),
        bucketCount: count,
        keyBuckets: buckets(3, 'keyBuckets'),
        fullBuckets: buckets(4, 'fullBuckets'),
      };
    }
    case MessageType.Keys: {
      arity(4);
      const items = wire[2];
      if (!Array.isArray(items)) throw new ProtocolError(`${name}: items must be an array`);
      bounded(items, `${name}: items`);
      return {
        type: MessageType.Keys,
        cache: cache(),
        items: items.map((item, i) => {
          const where = `${name}.items[${i}]`;
          if (!Array.isArray(item) || item.length !== 5)
            throw new ProtocolError(`${where} must be [key, time, counter, node, removed]`);
          if (!isKey(item[0])) throw new ProtocolError(`${where}: key must be a string`);
          if (item[4] !== 0 && item[4] !== 1) throw new ProtocolError(`${where}: removed must be 0 or 1`);
          return { key: item[0] as string, version: versionFromWire(item, 1, where), removed: item[4] === 1 };
        }),
        last: flag(3, 'last'),
      };
    }
    case MessageType.Pull: {
      arity(4);
      const keys = wire[2];
      if (!Array.isArray(keys) || !keys.every(isKey))
        throw new ProtocolError(`${name}: keys must be a list of strings`);
      bounded(keys, `${name}: keys`);
      return { type: MessageType.Pull, cache: cache(), keys: keys as string[], last: flag(3, 'last') };
    }
    default: {
      arity(2);
      if (!isCounter(wire[1])) throw new ProtocolError(`${name}: id must be a whole number >= 0`);
      return { type: type as typeof MessageType.Sync | typeof MessageType.Ack, id: wire[1] as number };
    }
  }
}

/** A lease's state by its wire number. */
const LEASE_STATES: readonly LeaseState[] = ['claim', 'withdraw', 'release'];

const ADMIN_OPERATIONS: readonly string[] = ['peers', 'stats', 'get', 'put', 'remove', 'clear'];

/** Admin messages; the arguments of each operation are checked by the node that serves it. */
function adminFromWire(wire: unknown[]): Message {
  const name = wire[0] === MessageType.AdminRequest ? 'adminRequest' : 'adminResponse';
  if (wire.length !== 4) throw new ProtocolError(`${name} has ${wire.length} fields, expected 4`);
  if (!isCounter(wire[1])) throw new ProtocolError(`${name}: id must be a whole number >= 0`);
  const id = wire[1] as number;
  if (wire[0] === MessageType.AdminResponse) {
    if (typeof wire[2] !== 'boolean') throw new ProtocolError(`${name}: ok must be true or false`);
    return { type: MessageType.AdminResponse, id, ok: wire[2], result: wire[3] };
  }
  if (typeof wire[2] !== 'string' || !ADMIN_OPERATIONS.includes(wire[2])) {
    throw new ProtocolError(`${name}: op must be one of ${ADMIN_OPERATIONS.join(', ')}`);
  }
  if (!Array.isArray(wire[3])) throw new ProtocolError(`${name}: args must be an array`);
  return { type: MessageType.AdminRequest, id, op: wire[2] as AdminOperation, args: wire[3] };
}

const CONTROL_NAMES: Record<number, string> = {
  [MessageType.BootstrapDone]: 'bootstrapDone',
  [MessageType.Digest]: 'digest',
  [MessageType.RepairRequest]: 'repairRequest',
  [MessageType.Keys]: 'keys',
  [MessageType.Pull]: 'pull',
  [MessageType.Sync]: 'sync',
  [MessageType.Ack]: 'ack',
};

function versionFromWire(wire: readonly unknown[], at: number, where: string): Version {
  const [time, counter, node] = [wire[at], wire[at + 1], wire[at + 2]];
  if (!isTime(time)) throw new ProtocolError(`${where}: version time must be whole epoch milliseconds`);
  if (!isVersionCounter(counter)) {
    throw new ProtocolError(`${where}: version counter must be a whole number from 0 to 2^32 - 1`);
  }
  if (!isNodeName(node)) throw new ProtocolError(`${where}: ${NODE_NAME_RULE}`);
  return { time: time as number, counter: counter as number, node: node as string };
}

function bounded(list: readonly unknown[], what: string): void {
  if (list.length > MAX_BATCH_CHANGES)
    throw new ProtocolError(`${what}: ${list.length} items, at most ${MAX_BATCH_CHANGES}`);
}

const isPowerOfTwo = (n: number): boolean => (n & (n - 1)) === 0;

/** A change laid out as the arrays above (exported for the tests that compare ChangeWriter with packing whole). */
export function changeToWire(change: ChangeMessage): unknown[] {
  const { time, counter, node } = change.version;
  switch (change.type) {
    case MessageType.Put:
      return [
        MessageType.Put,
        change.cache,
        change.key,
        change.value,
        time,
        counter,
        node,
        change.createdAt,
        change.timeToLiveSeconds,
        change.timeToIdleSeconds,
      ];
    case MessageType.Remove:
    case MessageType.Expire:
      return [change.type, change.cache, change.key, time, counter, node];
    case MessageType.RemoveAll:
      return [MessageType.RemoveAll, change.cache, time, counter, node];
  }
}

/**
 * Validates one change. Written out field by field, with no closure or string built per change:
 * this runs for every change of every batch, and the error text is only built for a bad one.
 * `batch` names the enclosing batch ('batch', 'entries') or is undefined for a lone message.
 */
function changeFromWire(wire: unknown, batch: string | undefined, index: number): ChangeMessage {
  if (!Array.isArray(wire)) return badChange(batch, index, 'a change must be an array');
  const type = wire[0];
  if (type === MessageType.Put) {
    if (wire.length !== 10) return badChange(batch, index, `put has ${wire.length} fields, expected 10`);
    return putChange(wire[1], wire[2], wire[3], wire[4], wire[5], wire[6], wire[7], wire[8], wire[9], batch, index);
  }
  if (type === MessageType.Remove || type === MessageType.Expire) {
    const name = type === MessageType.Remove ? 'remove' : 'expire';
    if (wire.length !== 6) return badChange(batch, index, `${name} has ${wire.length} fields, expected 6`);
    const cache = wire[1];
    const key = wire[2];
    if (!isText(cache)) return badChange(batch, index, 'cache must be a non-empty string');
    if (typeof key !== 'string') return badChange(batch, index, 'key must be a string');
    return { type, cache: cache as string, key, version: versionAt(wire, 3, batch, index) };
  }
  if (type === MessageType.RemoveAll) {
    if (wire.length !== 5) return badChange(batch, index, `removeAll has ${wire.length} fields, expected 5`);
    const cache = wire[1];
    if (!isText(cache)) return badChange(batch, index, 'cache must be a non-empty string');
    return { type: MessageType.RemoveAll, cache: cache as string, version: versionAt(wire, 2, batch, index) };
  }
  return badChange(batch, index, `unknown message type ${shortly(type)}`);
}

/**
 * A value a peer sent, said in an error in a few words: the value itself when short, else its
 * kind and size. An error quoted it whole, and a 1 MiB string in a change's type slot made a 1 MiB
 * log line (found by an attack).
 */
function shortly(value: unknown): string {
  if (typeof value === 'string')
    return value.length <= 32 ? JSON.stringify(value) : `(a string of ${value.length} characters)`;
  if (Array.isArray(value)) return `(an array of ${value.length} items)`;
  if (value === null || typeof value !== 'object') return String(value);
  return `(${value.constructor?.name ?? 'an object'})`;
}

/**
 * A put's fields, in the order the wire carries them, checked and made a change: changeFromWire's
 * put, and ChangeReader's, which reads a put's fields from the frame straight into these
 * arguments (no array of fields, no array per change).
 */
export function putChange(
  cache: unknown,
  key: unknown,
  value: unknown,
  time: unknown,
  counter: unknown,
  node: unknown,
  createdAt: unknown,
  ttl: unknown,
  tti: unknown,
  batch: string | undefined,
  index: number,
): PutMessage {
  if (!isText(cache)) return badChange(batch, index, 'cache must be a non-empty string');
  if (typeof key !== 'string') return badChange(batch, index, 'key must be a string');
  if (value === undefined) return badChange(batch, index, 'value must be present');
  const version = versionOf(time, counter, node, batch, index);
  if (!isNonNegative(createdAt)) return badChange(batch, index, 'createdAt must be a time in epoch milliseconds');
  if (!isNonNegative(ttl)) return badChange(batch, index, 'timeToLiveSeconds must be seconds >= 0');
  if (!isNonNegative(tti)) return badChange(batch, index, 'timeToIdleSeconds must be seconds >= 0');
  return {
    type: MessageType.Put,
    cache: cache as string,
    key,
    value,
    version,
    createdAt: createdAt as number,
    timeToLiveSeconds: ttl as number,
    timeToIdleSeconds: tti as number,
  };
}

/** changeFromWire for ChangeReader: a change of a batch, its fields read from the frame. */
const readChange: ChangeBuilder = { change: (fields, index) => changeFromWire(fields, 'batch', index), put: putChange };

function versionAt(wire: readonly unknown[], at: number, batch: string | undefined, index: number): Version {
  return versionOf(wire[at], wire[at + 1], wire[at + 2], batch, index);
}

function versionOf(time: unknown, counter: unknown, node: unknown, batch: string | undefined, index: number): Version {
  if (!isTime(time)) return badChange(batch, index, 'version time must be whole epoch milliseconds');
  if (!isVersionCounter(counter)) {
    return badChange(batch, index, 'version counter must be a whole number from 0 to 2^32 - 1');
  }
  if (!isNodeName(node)) return badChange(batch, index, NODE_NAME_RULE);
  return { time: time as number, counter: counter as number, node: node as string };
}

function badChange(batch: string | undefined, index: number, problem: string): never {
  throw new ProtocolError(`${batch === undefined ? 'message' : `${batch}[${index}]`}: ${problem}`);
}

const isText = (value: unknown): boolean => typeof value === 'string' && value !== '';

const NODE_NAME_RULE = `version node must be a node name: 1 to ${MAX_NAME_BYTES} bytes, no control characters`;
/** The last version node that passed: a batch's changes name the same node, as one string (ChangeReader). */
let lastNodeName = '\u0000';
/**
 * A version's node is a node's name, as the handshake takes one. Any string was taken: a peer
 * holding the secret sent versions naming nodes of 15 MB, which the digest's table of node hashes
 * and the clock's refusal logs kept (1.4 GB held after the peer left; log lines of 180 MB).
 */
function isNodeName(value: unknown): boolean {
  if (value === lastNodeName) return true;
  if (typeof value !== 'string' || value === '' || value.length > MAX_NAME_BYTES || !fitsHandshake(value)) return false;
  lastNodeName = value;
  return true;
}
const isKey = (value: unknown): boolean => typeof value === 'string';
/** Times (epoch ms) and durations (seconds) alike: finite and not negative. */
const isNonNegative = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isCounter = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && value >= 0;
const isTime = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isVersionCounter = (value: unknown): boolean =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < MAX_VERSION_COUNTER;
