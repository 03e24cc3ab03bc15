/**
 * What this node has yet to send of one cache's changes: those made here since the last flush,
 * coalesced by key, bounded in bytes; one log for every peer of the cache.
 *
 * Coalescing is safe because every change carries its version and a receiver applies a change
 * only if it is newer than what it holds: the order in which changes of different keys arrive
 * does not matter, and of several changes to one key only the last can matter. A removeAll
 * replaces every pending change (they are all older than it) and is sent first.
 *
 * Why one log, and why no object per change. A queue per peer held a change object, a wrapper
 * and a Map entry per change per peer, for up to an interval: the Map's hashing and growth, and
 * the collector copying what was queued when a scavenge caught it, were about a third of what a
 * sending node spent a change beyond its own write (issue 20). Every async peer of a cache is sent
 * the same changes at the same flush, so here they share one log, kept as arrays of fields (key,
 * value, version as numbers, lifespan), reused from flush to flush. At the flush each batch's
 * frame is written straight from these arrays (ranges(), ChangeWriter.writeLog), once for every
 * peer, with no change object at all: those were 229 of the 495 bytes a replicated put allocated
 * (issue 20). Change objects are made only for a log holding values ChangeWriter leaves to
 * msgpackr, or when something reads a batch's changes while it is sent (changesOf).
 *
 * How a key's earlier change is found without hashing the key again: the cache hands each change
 * the memory slot its key is held in (-1 when none: a disk tier's key, a removeAll), and the log
 * keeps, per slot, the last record made for it. Slots are reused, so that record is the key's only
 * if it holds the same key. A key that leaves its slot with a change pending (evicted, or moved to
 * the disk tier: the cache says so, `release`; or found gone when another key's change names its
 * slot) has that record kept by key, in a Map that only such keys enter, so its next change still
 * finds it. What is left uncoalesced: a value too large for memory altogether (no slot), whose
 * key's changes are appended; each copy carries its version, and the receiver keeps the newest.
 *
 * Peers that join mid-interval start at the log's end (mark()): what was queued before them
 * reaches them through the repair every new link runs. A record below the latest such start is
 * never rewritten in place (that would hide a newer change from the peer that starts after it);
 * a later change of its key is appended instead.
 *
 * The bound: when the estimated bytes pending would pass `maxBytes`, the log drops everything,
 * refuses further changes until the flush and reports `overflowed`: the peers are then repaired by
 * comparing digests (bootstrap and repair are one mechanism), instead of memory growing while
 * peers are slow or gone. `clear()` at the flush re-opens it.
 */
import type { Version } from '@meshcache/core';
import { type ChangeLog, changesOfLog, type KeyChangeType } from './protocol/change-log.js';
import { batchOfLog, MAX_VALUE_DEPTH } from './protocol/codec.js';
import { type BatchMessage, type ChangeMessage, MessageType } from './protocol/messages.js';

/** Where a peer added now starts in the log: `from` in the log of this `epoch` (a later one starts at 0). */
export interface QueueMark {
  readonly epoch: number;
  readonly from: number;
}

/** A batch of the log, as ranges() says it: records `from` to `to`, after a removeAll of `clear` when given. */
export interface QueueRange {
  readonly from: number;
  readonly to: number;
  readonly clear: Version | undefined;
}

const FIRST_RECORDS = 64;
/** Bytes of a change besides its names and value (type, version, times, msgpack headers). */
const CHANGE_OVERHEAD = 32;

export class ReplicationQueue {
  readonly #cache: string;
  readonly #maxBytes: number;
  #length = 0;
  #types = new Uint8Array(FIRST_RECORDS);
  #keys = new Array<string | undefined>(FIRST_RECORDS).fill(undefined);
  #values = new Array<unknown>(FIRST_RECORDS).fill(undefined);
  #nodes = new Array<string | undefined>(FIRST_RECORDS).fill(undefined);
  #times = new Float64Array(FIRST_RECORDS);
  #counters = new Uint32Array(FIRST_RECORDS);
  /** createdAt, timeToLiveSeconds and timeToIdleSeconds of record i at 3i, 3i + 1, 3i + 2. */
  #lives = new Float64Array(3 * FIRST_RECORDS);
  #sizes = new Float64Array(FIRST_RECORDS);
  /** Per memory slot, the last record made for the key held there (if that record still holds that key). */
  #bySlot = new Int32Array(0);
  /** The last record of keys that left their slot with a change pending (see above): few, and only those. */
  readonly #detached = new Map<string, number>();
  /** Records below this are not in every peer's range (a peer started after them): never rewritten. */
  #floor = 0;
  /** A removeAll pending: older than every change recorded after it, so sent first. */
  #clear: Version | undefined;
  #clearBytes = 0;
  #bytes = 0;
  #overflowed = false;
  /** Counts the log's restarts (flush, removeAll, overflow): a mark of an earlier one starts at 0. */
  #epoch = 0;
  #recorded = 0;

  constructor(cache: string, maxBytes: number) {
    this.#cache = cache;
    this.#maxBytes = maxBytes;
  }

  /** Records the log has room for now (it grows by doubling, and gives back what a burst needed). */
  get capacity(): number {
    return this.#types.length;
  }

  /** Changes pending, a removeAll included. */
  get size(): number {
    return this.#length + (this.#clear === undefined ? 0 : 1);
  }

  /** Estimated bytes pending. */
  get bytes(): number {
    return this.#bytes;
  }

  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Where a peer added now starts: it is sent what is recorded from here on (and a removeAll). */
  mark(): QueueMark {
    this.#floor = this.#length;
    return { epoch: this.#epoch, from: this.#length };
  }

  /** The first record a peer that was given `mark` is sent. */
  fromOf(mark: QueueMark): number {
    return mark.epoch === this.#epoch ? mark.from : 0;
  }

  /** Changes pending for a peer that starts at `from`, and their estimated bytes. */
  sizeFrom(from: number): number {
    return this.size - Math.min(from, this.#length);
  }

  bytesFrom(from: number): number {
    let bytes = this.#bytes;
    for (let i = 0; i < Math.min(from, this.#length); i++) bytes -= this.#sizes[i] as number;
    return bytes;
  }

  /**
   * Records a change of `key` (a put carries the value and its lifespan; the others zeros), made
   * while the key is held in memory slot `slot` (-1: none). False when the log has overflowed.
   */
  add(
    type: KeyChangeType,
    key: string,
    value: unknown,
    version: Version,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
    slot: number,
  ): boolean {
    if (this.#overflowed) return false;
    const size = recordBytes(type, this.#cache, version.node, key, value);
    let at = this.#recordOf(key, slot);
    const replaced = at < 0 ? 0 : (this.#sizes[at] as number);
    if (this.#bytes - replaced + size > this.#maxBytes) return this.#overflow();
    if (at < 0) {
      if (this.#length === this.#types.length) this.#grow();
      at = this.#length++;
    }
    if (slot >= 0) this.#slotRecord(slot, at);
    this.#types[at] = type;
    this.#keys[at] = key;
    this.#values[at] = type === MessageType.Put ? value : undefined;
    this.#nodes[at] = version.node;
    this.#times[at] = version.time;
    this.#counters[at] = version.counter;
    this.#lives[3 * at] = createdAt;
    this.#lives[3 * at + 1] = timeToLiveSeconds;
    this.#lives[3 * at + 2] = timeToIdleSeconds;
    this.#sizes[at] = size;
    this.#bytes += size - replaced;
    this.#recorded++;
    return true;
  }

  /**
   * `key` left memory slot `slot` (evicted, or moved to the disk tier): a change of it pending
   * stays findable by the key, wherever the key is held next.
   */
  release(key: string, slot: number): void {
    const at = this.#bySlotRecord(slot);
    if (at >= 0 && this.#keys[at] === key) this.#detached.set(key, at);
  }

  /** Records a removeAll: every change pending is older, and goes. False when the log has overflowed. */
  removeAll(version: Version): boolean {
    if (this.#overflowed) return false;
    const size = namesBytes(this.#cache, version.node, '');
    this.#restart();
    if (size > this.#maxBytes) return this.#overflow();
    this.#clear = version;
    this.#clearBytes = size;
    this.#bytes = size;
    this.#recorded++;
    return true;
  }

  /** Changes recorded since the log was made (add and removeAll calls that took one): a flush sees whether any came meanwhile. */
  get recorded(): number {
    return this.#recorded;
  }

  /**
   * The changes for a peer that starts at `from`, in batches of at most `max` changes and, by
   * their estimates, about `maxBytes` (a change larger than that alone goes in a batch of its
   * own): the removeAll first, then the others, up to what the log held when the first batch was
   * asked for. Each batch is made as it is asked for, so that only one batch of change objects
   * lives at a time (the collector copies what is live when it runs, and a flush is where a
   * sender allocates most). The log is unchanged.
   */
  *batches(from: number, max: number, maxBytes = Number.POSITIVE_INFINITY): Generator<ChangeMessage[]> {
    for (const range of this.ranges(from, max, maxBytes)) yield this.changesOf(range);
  }

  /**
   * batches(), each batch said as the records it holds rather than made: the log's records
   * `range.from` to `range.to`, after a removeAll of `range.clear` when that is given. A range is
   * good only until the log next changes (the generator ends at a restart); read it before.
   */
  *ranges(from: number, max: number, maxBytes = Number.POSITIVE_INFINITY): Generator<QueueRange> {
    const end = this.#length;
    // A restart while a batch is out (a removeAll, an overflow, a flush set off by a send) ends
    // the batches: the records they would read are gone or another log's.
    const epoch = this.#epoch;
    let clear = this.#clear;
    let bytes = clear === undefined ? 0 : this.#clearBytes;
    let first = from;
    for (let i = from; i < end; i++) {
      const size = this.#sizes[i] as number;
      const count = i - first + (clear === undefined ? 0 : 1);
      if (count === max || (count > 0 && bytes + size > maxBytes)) {
        yield { from: first, to: i, clear };
        if (this.#epoch !== epoch) return;
        clear = undefined;
        first = i;
        bytes = 0;
      }
      bytes += size;
    }
    if (end > first || clear !== undefined) yield { from: first, to: end, clear };
  }

  /** The changes of a range ranges() gave, as objects (read before the log changes). */
  changesOf(range: QueueRange): ChangeMessage[] {
    return changesOfLog(this.log, range.from, range.to, range.clear);
  }

  /**
   * A batch of a range ranges() gave, its frame written from the log now (codec.ts's batchOfLog);
   * its changes are made only if read, and throw once the log has moved on.
   */
  batchOf(range: QueueRange): BatchMessage & { readonly count: number } {
    const epoch = this.#epoch;
    return batchOfLog(
      this.log,
      range.from,
      range.to,
      range.clear,
      () => this.changesOf(range),
      () => this.#epoch === epoch,
    );
  }

  /** Counts the log's restarts: a range of an earlier epoch names records no longer there. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The log's records as columns, for ChangeWriter.writeLog (good until the log next changes). */
  get log(): ChangeLog {
    return {
      cache: this.#cache,
      types: this.#types,
      keys: this.#keys,
      values: this.#values,
      nodes: this.#nodes,
      times: this.#times,
      counters: this.#counters,
      lives: this.#lives,
    };
  }

  /** Empties the log (everything was sent, or is to be repaired) and re-opens it. */
  clear(): void {
    this.#restart();
    this.#overflowed = false;
  }

  /**
   * Gives back all the room a burst needed, when nothing is pending: the replicator calls it as
   * its batch timer stops (a whole interval went by with no change). clear() gives room back
   * only half at a time, flush by flush, and an idle cache flushes no more: the room of a million
   * changes' burst stayed for as long as the cache did.
   */
  trim(): void {
    if (this.size === 0 && this.#types.length > FIRST_RECORDS) this.#resize(FIRST_RECORDS);
  }

  /** The record `key`'s next change replaces, or -1: by its slot, else (few keys) by its key. */
  #recordOf(key: string, slot: number): number {
    const at = this.#bySlotRecord(slot);
    if (at >= 0) {
      if (this.#keys[at] === key) return at;
      // The key recorded there left the slot unheard of (another key holds it now): kept by key.
      this.#detached.set(this.#keys[at] as string, at);
    }
    if (this.#detached.size === 0) return -1;
    const detached = this.#detached.get(key);
    if (detached === undefined) return -1;
    this.#detached.delete(key);
    return detached >= this.#floor && detached < this.#length && this.#keys[detached] === key ? detached : -1;
  }

  /** The record `slot` names, if it is one that may still be rewritten; else -1. */
  #bySlotRecord(slot: number): number {
    if (slot < 0 || slot >= this.#bySlot.length) return -1;
    const at = this.#bySlot[slot] as number;
    return at >= this.#floor && at < this.#length ? at : -1;
  }

  /** Drops every record (letting go of their keys and values) and the removeAll; a new epoch. */
  #restart(): void {
    this.#keys.fill(undefined, 0, this.#length);
    this.#values.fill(undefined, 0, this.#length);
    this.#nodes.fill(undefined, 0, this.#length);
    const used = this.#length;
    this.#length = 0;
    // Room a burst needed is given back, half at a time, once a log uses less than a quarter of it.
    if (this.#types.length > FIRST_RECORDS && 4 * used < this.#types.length) this.#resize(this.#types.length / 2);
    this.#floor = 0;
    this.#clear = undefined;
    this.#bytes = 0;
    this.#detached.clear();
    this.#epoch++;
  }

  /** False, with the log emptied and marked overflowed. */
  #overflow(): false {
    this.#restart();
    this.#overflowed = true;
    this.#recorded++; // a flush under way must not re-open it: its peers are repaired first
    return false;
  }

  #slotRecord(slot: number, record: number): void {
    if (slot >= this.#bySlot.length) {
      const wider = new Int32Array(Math.max(2 * this.#bySlot.length, slot + 1, FIRST_RECORDS)).fill(-1);
      wider.set(this.#bySlot);
      this.#bySlot = wider;
    }
    this.#bySlot[slot] = record;
  }

  #grow(): void {
    this.#resize(2 * this.#types.length);
  }

  /** Room for `records` records, keeping the first #length (fewer than `records`). */
  #resize(records: number): void {
    const length = this.#length;
    this.#types = moved(this.#types, new Uint8Array(records), length);
    this.#times = moved(this.#times, new Float64Array(records), length);
    this.#counters = moved(this.#counters, new Uint32Array(records), length);
    this.#lives = moved(this.#lives, new Float64Array(3 * records), 3 * length);
    this.#sizes = moved(this.#sizes, new Float64Array(records), length);
    for (const fields of [this.#keys, this.#values, this.#nodes]) {
      fields.length = records;
      fields.fill(undefined, length);
    }
  }
}

/** `to`, holding the first `count` items of `from`. */
function moved<T extends Uint8Array | Uint32Array | Float64Array>(from: T, to: T, count: number): T {
  to.set(from.subarray(0, count));
  return to;
}

/** A cheap estimate of a change's encoded size: exact for strings and bytes, close for the rest. */
export function estimateBytes(change: ChangeMessage): number {
  const bytes = namesBytes(change.cache, change.version.node, change.type === MessageType.RemoveAll ? '' : change.key);
  return change.type === MessageType.Put ? bytes + valueBytes(change.value, 0) : bytes;
}

/** estimateBytes of a change given by its fields (a ChangeLog's record). */
export function recordBytes(type: KeyChangeType, cache: string, node: string, key: string, value: unknown): number {
  return namesBytes(cache, node, key) + (type === MessageType.Put ? valueBytes(value, 0) : 0);
}

/** A change's estimated bytes but its value's: its names and what every change carries. */
function namesBytes(cache: string, node: string, key: string): number {
  return CHANGE_OVERHEAD + cache.length + node.length + key.length;
}

function valueBytes(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  if (value instanceof Uint8Array) return value.length + 5;
  if (depth > MAX_VALUE_DEPTH) return 64; // a put refuses deeper values; a peer's guard, deeper frames
  // Walked without building entry arrays: this runs for every change queued.
  let bytes = 5;
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) bytes += valueBytes(value[i], depth + 1);
  else if (value instanceof Set) for (const item of value) bytes += valueBytes(item, depth + 1);
  else if (value instanceof Map) {
    value.forEach((v, k) => {
      bytes += valueBytes(k, depth + 1) + valueBytes(v, depth + 1);
    });
  } else {
    const object = value as Record<string, unknown>;
    for (const k in object) if (Object.hasOwn(object, k)) bytes += k.length + 1 + valueBytes(object[k], depth + 1);
  }
  return bytes;
}
