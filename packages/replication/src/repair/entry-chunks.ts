/**
 * A repair's changes (the entries it sends whole, its removals) gathered as columns
 * (protocol/change-log.ts) and sent as Entries a chunk at a time, each chunk bounded in bytes and
 * in count.
 *
 * Why columns. A bootstrap sends every entry of the cache, a million of them. Gathered as a Put
 * object per entry, in an array that the codec then walked twice (to size the frame, to write
 * it), they were a third of what the serving node spent an entry beyond the bare pipeline's
 * (issue 20). Here an entry's fields are copied from where the cache holds them (EntryCursor)
 * into the chunk's columns, and the chunk's frame is written from those (codec.ts's
 * entriesOfLog), with no object made for an entry. Change objects are made only if something
 * reads the message's changes (a session halving a chunk past a frame).
 *
 * A chunk's columns are its own: a message, once sent, may be read later (its changes made from
 * its columns), so the next chunk starts new ones, sized for as many records as the last.
 */
import type { EntrySnapshot, Version } from '@meshcache/core';
import type { EntryCursor } from '@meshcache/core/internal';
import { type ChangeLog, changesOfLog, type KeyChangeType } from '../protocol/change-log.js';
import { entriesOfLog } from '../protocol/codec.js';
import { type EntriesMessage, MessageType } from '../protocol/messages.js';
import { recordBytes } from '../replication-queue.js';

const FIRST_RECORDS = 256;

export class EntryChunks {
  #log: Columns;
  #count = 0;
  #bytes = 0;
  /** A removeAll to send first, before any record (a bootstrap's, when the cache was cleared). */
  #clear: Version | undefined;

  constructor(
    private readonly cache: string,
    private readonly maxBytes: number,
    private readonly maxCount: number,
    private readonly send: (message: EntriesMessage) => void,
  ) {
    this.#log = new Columns(cache, FIRST_RECORDS);
  }

  /** Sends a removeAll of `version` first, in the first chunk (call before anything is added). */
  clearFirst(version: Version): void {
    this.#clear = version;
    this.#bytes = recordBytes(MessageType.Remove, this.cache, version.node, '', undefined);
  }

  /** The versioned entry `entries` is at, as a Put; true when that first sent the chunk that was full. */
  put(entries: EntryCursor<unknown>): boolean {
    const at = this.#next();
    this.#log.put(at, entries.key, entries.value(), entries, entries);
    return this.#added(at);
  }

  /** `entry` as a Put of `version`; true when that first sent the chunk that was full. */
  putEntry(entry: EntrySnapshot<unknown>, version: Version): boolean {
    const at = this.#next();
    this.#log.put(at, entry.key, entry.value, version, entry);
    return this.#added(at);
  }

  /** A Remove of `key` at `version`; true when that first sent the chunk that was full. */
  remove(key: string, version: Version): boolean {
    const at = this.#next();
    this.#log.keyChange(at, MessageType.Remove, key, version);
    return this.#added(at);
  }

  /** Sends what is gathered (nothing when nothing is). */
  end(): void {
    const count = this.#count;
    const clear = this.#clear;
    if (count === 0 && clear === undefined) return;
    const log = this.#log;
    this.send(entriesOfLog(log, count, clear, () => changesOfLog(log, 0, count, clear)));
    // Room for a chunk like this one and the record carried over into it (#added): no growing.
    this.#log = new Columns(this.cache, Math.max(count + 1, FIRST_RECORDS));
    this.#count = 0;
    this.#bytes = 0;
    this.#clear = undefined;
  }

  /** Where the next record goes, room made for it. */
  #next(): number {
    if (this.#count === this.#log.capacity) this.#log = this.#log.grown(this.#count);
    return this.#count;
  }

  /**
   * Counts record `at`, just written. One that does not fit the chunk starts the next: the
   * records before it are sent first (true then). Written before anything is sent, an entry's
   * fields are all read in its cursor's step, whatever a send lets happen meanwhile.
   */
  #added(at: number): boolean {
    const log = this.#log;
    const type = log.types[at] as KeyChangeType;
    const bytes = recordBytes(type, this.cache, log.nodes[at] as string, log.keys[at] as string, log.values[at]);
    const gathered = this.#count + (this.#clear === undefined ? 0 : 1);
    let sent = false;
    if (gathered > 0 && (this.#bytes + bytes > this.maxBytes || gathered >= this.maxCount)) {
      this.end();
      this.#log.copy(0, log, at);
      sent = true;
    }
    this.#count++;
    this.#bytes += bytes;
    return sent;
  }
}

/** An entry's creation time and lifespan, as a snapshot and a cursor both read them. */
type Life = Pick<EntrySnapshot<unknown>, 'createdAt' | 'timeToLiveSeconds' | 'timeToIdleSeconds'>;

/** A chunk's columns, growing by doubling. */
class Columns implements ChangeLog {
  types: Uint8Array;
  keys: Array<string | undefined>;
  values: unknown[];
  nodes: Array<string | undefined>;
  times: Float64Array;
  counters: Uint32Array;
  lives: Float64Array;

  constructor(
    readonly cache: string,
    readonly capacity: number,
  ) {
    this.types = new Uint8Array(capacity);
    this.keys = new Array<string | undefined>(capacity);
    this.values = new Array<unknown>(capacity);
    this.nodes = new Array<string | undefined>(capacity);
    this.times = new Float64Array(capacity);
    this.counters = new Uint32Array(capacity);
    this.lives = new Float64Array(3 * capacity);
  }

  /** Twice the room, holding the first `count` records. */
  grown(count: number): Columns {
    const wider = new Columns(this.cache, 2 * this.capacity);
    wider.types.set(this.types.subarray(0, count));
    wider.times.set(this.times.subarray(0, count));
    wider.counters.set(this.counters.subarray(0, count));
    wider.lives.set(this.lives.subarray(0, 3 * count));
    for (let i = 0; i < count; i++) {
      wider.keys[i] = this.keys[i];
      wider.values[i] = this.values[i];
      wider.nodes[i] = this.nodes[i];
    }
    return wider;
  }

  put(i: number, key: string, value: unknown, version: Version, life: Life): void {
    this.types[i] = MessageType.Put;
    this.keys[i] = key;
    this.values[i] = value;
    this.times[i] = version.time;
    this.counters[i] = version.counter;
    this.nodes[i] = version.node;
    this.lives[3 * i] = life.createdAt;
    this.lives[3 * i + 1] = life.timeToLiveSeconds;
    this.lives[3 * i + 2] = life.timeToIdleSeconds;
  }

  /** Record `at` of `from` as record `i`. */
  copy(i: number, from: Columns, at: number): void {
    this.types[i] = from.types[at] as number;
    this.keys[i] = from.keys[at];
    this.values[i] = from.values[at];
    this.nodes[i] = from.nodes[at];
    this.times[i] = from.times[at] as number;
    this.counters[i] = from.counters[at] as number;
    this.lives.set(from.lives.subarray(3 * at, 3 * at + 3), 3 * i);
  }

  keyChange(i: number, type: KeyChangeType, key: string, version: Version): void {
    this.types[i] = type;
    this.keys[i] = key;
    this.times[i] = version.time;
    this.counters[i] = version.counter;
    this.nodes[i] = version.node;
  }
}
