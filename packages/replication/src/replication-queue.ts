/**
 * What one peer has yet to receive of this node's changes: coalesced by key, bounded in bytes.
 *
 * Coalescing is safe because every change carries its version and a receiver applies a change
 * only if it is newer than what it holds: the order in which changes of different keys arrive
 * does not matter, and of several changes to one key only the last can matter. A removeAll of
 * a cache replaces every pending change of that cache (they are all older than it).
 *
 * The bound: when the estimated bytes pending would pass `maxBytes`, the queue drops everything,
 * refuses further changes and reports `overflowed`: the link is then repaired by comparing
 * digests with the peer (bootstrap and repair are one mechanism), instead of memory growing
 * while a peer is slow or gone. `reset()` re-opens the queue once the repair has started.
 */
import { MAX_VALUE_DEPTH } from './protocol/codec.js';
import { type ChangeMessage, MessageType } from './protocol/messages.js';

export class ReplicationQueue {
  readonly #maxBytes: number;
  /** Per cache, per key, the last change; keys are not joined with the cache name (no string built per change). */
  #changes = new Map<string, Map<string, Queued>>();
  /** Per cache, a pending removeAll: older than every change queued after it, so sent first. */
  #clears = new Map<string, Queued>();
  #size = 0;
  #bytes = 0;
  #overflowed = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#size;
  }

  /** Estimated bytes pending. */
  get bytes(): number {
    return this.#bytes;
  }

  get overflowed(): boolean {
    return this.#overflowed;
  }

  /**
   * Queues a change; false when the queue has overflowed (the link needs repair instead).
   * `bytes` is estimateBytes(change), for a caller that queues one change for several peers.
   */
  enqueue(change: ChangeMessage, bytes = estimateBytes(change)): boolean {
    if (this.#overflowed) return false;
    let keys = this.#changes.get(change.cache);
    if (change.type === MessageType.RemoveAll) {
      if (keys !== undefined) {
        for (const queued of keys.values()) this.#bytes -= queued.bytes;
        this.#size -= keys.size;
        keys.clear();
      }
      const previous = this.#clears.get(change.cache);
      if (previous !== undefined) {
        this.#bytes -= previous.bytes;
        this.#size--;
      }
      if (!this.#fits(bytes)) return false;
      this.#clears.set(change.cache, { change, bytes });
    } else {
      if (keys === undefined) {
        keys = new Map();
        this.#changes.set(change.cache, keys);
      }
      const previous = keys.get(change.key);
      if (previous !== undefined) {
        // delete, then set: the key moves to the end, so batches keep the order of last changes
        keys.delete(change.key);
        this.#bytes -= previous.bytes;
        this.#size--;
      }
      if (!this.#fits(bytes)) return false;
      keys.set(change.key, { change, bytes });
    }
    this.#bytes += bytes;
    this.#size++;
    return true;
  }

  /**
   * Takes everything, split into batches of at most `max` changes and, by their estimates, about
   * `maxBytes` (a change larger than that alone goes in a batch of its own): each cache's
   * removeAll first, then the changes in the order of their last change. One pass: draining a
   * large queue `max` at a time would copy the remainder on every call.
   */
  drainAll(max: number, maxBytes = Number.POSITIVE_INFINITY): ChangeMessage[][] {
    const batches: ChangeMessage[][] = [];
    let batch: ChangeMessage[] = [];
    let bytes = 0;
    const close = () => {
      batches.push(batch);
      batch = [];
      bytes = 0;
    };
    const add = ({ change, bytes: size }: Queued) => {
      if (batch.length > 0 && bytes + size > maxBytes) close();
      batch.push(change);
      bytes += size;
      if (batch.length === max) close();
    };
    for (const queued of this.#clears.values()) add(queued);
    for (const keys of this.#changes.values()) for (const queued of keys.values()) add(queued);
    if (batch.length > 0) batches.push(batch);
    this.#empty();
    return batches;
  }

  /** Re-opens an overflowed queue, empty. */
  reset(): void {
    this.#empty();
    this.#overflowed = false;
  }

  /** False, and the queue emptied and marked overflowed, when `bytes` more would pass the bound. */
  #fits(bytes: number): boolean {
    if (this.#bytes + bytes <= this.#maxBytes) return true;
    this.#overflowed = true;
    this.#empty();
    return false;
  }

  #empty(): void {
    this.#changes = new Map();
    this.#clears = new Map();
    this.#size = 0;
    this.#bytes = 0;
  }
}

interface Queued {
  readonly change: ChangeMessage;
  readonly bytes: number;
}

/** A cheap estimate of a change's encoded size: exact for strings and bytes, close for the rest. */
export function estimateBytes(change: ChangeMessage): number {
  let bytes = 32 + change.cache.length + change.version.node.length;
  if (change.type !== MessageType.RemoveAll) bytes += change.key.length;
  if (change.type === MessageType.Put) bytes += valueBytes(change.value, 0);
  return bytes;
}

function valueBytes(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  if (value instanceof Uint8Array) return value.length + 5;
  if (depth > MAX_VALUE_DEPTH) return 64; // a put refuses deeper values; a peer's guard, deeper frames
  // Walked without building entry arrays: this runs for every change queued, for every peer.
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
