/**
 * Values a cache holds as the bytes they arrived in, decoded the first time each is read.
 *
 * Why. A replica decoded every value a peer sent the moment it arrived: a string per value, made
 * in V8's young generation and copied by the collector on its way to the old one, for entries most
 * replicas never read (a gateway instance serves a part of what the cluster caches). In the
 * bootstrap of a million 200-byte responses those strings were a quarter of the joiner's time.
 *
 * The model. A DeferredValues is a set of values that share their bytes (replication's
 * frame-values.ts: the put values of one received frame), each known by its index in the set. The
 * memory store keeps the set in the value's slot and the index in a typed array beside it: a value
 * held unread costs no object of its own, which is what the collector's time is spent on (a
 * scavenge copies objects, and a 60-byte one costs about what a 216-byte string does). A
 * DeferredValue is the short-lived pair handed from the decoder to the store.
 *
 * The contract the memory store relies on:
 * - resolve(i) answers the value the eager decoder would have made of the same bytes, once: the
 *   store keeps the result in the slot in place of the set, and never asks again (a set may then
 *   let the value go, and throw an internal error if asked for it anyway, or for one released);
 * - estimatedBytes(i) is known before decoding and is at least maxBytesLocalHeap's estimate of the
 *   decoded value, so a byte-bounded store counts it without decoding it;
 * - hold(i) says a store holds value i now, unread; release(i) that it no longer does
 *   (overwritten, removed, evicted): what keeps the bytes may let them go.
 *
 * Guaranteed: no deferred value leaves the store: every read of a value (get, peek, snapshots,
 * records for the disk, events that are heard) resolves it first. A cache with a disk tier, with
 * listeners of puts or updates, or whose byte bound the value's bytes would pass, takes it resolved
 * at once (engine.ts #decodesNow). Not guaranteed: the first read of a deferred value allocates
 * (the decode), where every later hit does not.
 */
export abstract class DeferredValues<V = unknown> {
  /** Value `index`, decoded. */
  abstract resolve(index: number): V;
  /** maxBytesLocalHeap's estimate of value `index` decoded, or more; known without decoding. */
  abstract estimatedBytes(index: number): number;
  /** A store holds value `index` now, unread. */
  abstract hold(index: number): void;
  /** The store no longer holds value `index` unread: what keeps its bytes may let them go. */
  abstract release(index: number): void;
}

/** One value of a DeferredValues, on its way from the decoder to a store. */
export class DeferredValue<V = unknown> {
  constructor(
    readonly values: DeferredValues<V>,
    readonly index: number,
  ) {}

  resolve(): V {
    return this.values.resolve(this.index);
  }

  get estimatedBytes(): number {
    return this.values.estimatedBytes(this.index);
  }

  /** Not taken by a store after all (stale): its bytes need not be kept for it. */
  release(): void {
    this.values.release(this.index);
  }
}
