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
import { type ChangeMessage, MessageType } from './protocol/messages.js';

export class ReplicationQueue {
  readonly #maxBytes: number;
  #changes = new Map<string, { change: ChangeMessage; bytes: number }>();
  #bytes = 0;
  #overflowed = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#changes.size;
  }

  /** Estimated bytes pending. */
  get bytes(): number {
    return this.#bytes;
  }

  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Queues a change; false when the queue has overflowed (the link needs repair instead). */
  enqueue(change: ChangeMessage): boolean {
    if (this.#overflowed) return false;
    if (change.type === MessageType.RemoveAll) {
      for (const [slot, queued] of this.#changes) {
        if (queued.change.cache === change.cache) {
          this.#changes.delete(slot);
          this.#bytes -= queued.bytes;
        }
      }
    }
    const slot =
      change.type === MessageType.RemoveAll ? `${change.cache}\u0000*` : `${change.cache}\u0000${change.key}`;
    const bytes = estimateBytes(change);
    const previous = this.#changes.get(slot);
    if (previous !== undefined) {
      this.#changes.delete(slot);
      this.#bytes -= previous.bytes;
    }
    if (this.#bytes + bytes > this.#maxBytes) {
      this.#overflowed = true;
      this.#changes = new Map();
      this.#bytes = 0;
      return false;
    }
    this.#changes.set(slot, { change, bytes });
    this.#bytes += bytes;
    return true;
  }

  /**
   * Takes everything, split into batches of at most `max`, oldest first. One pass: draining a
   * large queue `max` at a time would copy the remainder on every call.
   */
  drainAll(max: number): ChangeMessage[][] {
    const batches: ChangeMessage[][] = [];
    let batch: ChangeMessage[] = [];
    for (const { change } of this.#changes.values()) {
      batch.push(change);
      if (batch.length === max) {
        batches.push(batch);
        batch = [];
      }
    }
    if (batch.length > 0) batches.push(batch);
    this.#changes = new Map();
    this.#bytes = 0;
    return batches;
  }

  /** Re-opens an overflowed queue, empty. */
  reset(): void {
    this.#changes = new Map();
    this.#bytes = 0;
    this.#overflowed = false;
  }
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
  if (depth > 32) return 64; // deep enough to be unusual; the codec still encodes it
  let bytes = 5;
  if (Array.isArray(value) || value instanceof Set) for (const item of value) bytes += valueBytes(item, depth + 1);
  else if (value instanceof Map)
    for (const [k, v] of value) bytes += valueBytes(k, depth + 1) + valueBytes(v, depth + 1);
  else for (const [k, v] of Object.entries(value)) bytes += k.length + 1 + valueBytes(v, depth + 1);
  return bytes;
}
