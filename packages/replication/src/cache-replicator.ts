/**
 * A cache replicator: the bridge between one cache and the peers that hold a cache of the same
 * name. It turns the cache's local events into change messages, queues them per peer (coalesced
 * by key, bounded in bytes) and sends one batch frame per peer per interval; and it applies the
 * changes peers send, through the cache's applyRemote door.
 *
 * Guarantees:
 * - Only events with origin 'local' are sent. A change applied from a peer fires its events
 *   with origin 'remote', so nothing ever ping-pongs between nodes.
 * - Every change carries the version the cache stamped (the node's hybrid logical clock), and
 *   the receiver applies it only if it is newer than what it knows: peers converge whatever the
 *   order of arrival, and coalescing loses nothing that matters.
 * - A peer's version moves this node's clock forward (so later local writes win over it), unless
 *   it is implausibly far in the future, in which case the change is refused and logged.
 *
 * A queue that overflows (a slow or absent peer) is dropped, and at the next flush the peer gets
 * the whole snapshot instead: memory stays bounded and nothing stays lost.
 *
 * Not yet: synchronous mode sends each change at once but does not wait for acknowledgements;
 * repair sends the whole snapshot where digests would send only what differs. Evictions are
 * never replicated (each node sizes its own memory).
 */
import type { ApplyOutcome, Cache, CacheEvent, EntrySnapshot, Logger, RemoteChange, Version } from '@meshcache/core';
import type { HybridLogicalClock } from './hlc.js';
import { MAX_BATCH_CHANGES } from './protocol/codec.js';
import { type ChangeMessage, MessageType, type PutMessage } from './protocol/messages.js';
import { estimateBytes, ReplicationQueue } from './replication-queue.js';
import type { SessionMessage } from './session.js';
import type { ResolvedReplicationConfig } from './settings.js';

/** What a replicator needs of a peer link. */
export interface ReplicationPeer {
  readonly node: string;
  send(message: SessionMessage): void;
}

export interface CacheReplicatorOptions {
  readonly hlc: HybridLogicalClock;
  readonly logger: Logger;
  /** Bound on the bytes queued for one peer. @default 64 MiB */
  readonly maxQueueBytes?: number;
  /** Chunk size of the snapshot that repairs a peer whose queue overflowed. @default 5000000 */
  readonly repairChunkBytes?: number;
}

interface PeerState {
  readonly peer: ReplicationPeer;
  readonly queue: ReplicationQueue;
  /** The queue overflowed: the peer needs a repair before it is in step again. */
  needsRepair: boolean;
}

const EVENTS = ['put', 'update', 'remove', 'removeAll', 'expire'] as const;

export class CacheReplicator {
  readonly cache: Cache<unknown>;
  readonly settings: ResolvedReplicationConfig;
  readonly #hlc: HybridLogicalClock;
  readonly #logger: Logger;
  readonly #maxQueueBytes: number;
  readonly #repairChunkBytes: number;
  readonly #peers = new Map<string, PeerState>();
  readonly #listener = (event: CacheEvent<unknown>) => this.#onLocalEvent(event);
  readonly #timer: NodeJS.Timeout | undefined;
  #sent = 0;
  #applied = 0;

  constructor(cache: Cache<unknown>, settings: ResolvedReplicationConfig, options: CacheReplicatorOptions) {
    this.cache = cache;
    this.settings = settings;
    this.#hlc = options.hlc;
    this.#logger = options.logger;
    this.#maxQueueBytes = options.maxQueueBytes ?? 64 * 1024 * 1024;
    this.#repairChunkBytes = options.repairChunkBytes ?? 5_000_000;
    cache.requireEncodableValues('replicates to peers');
    for (const type of EVENTS) cache.on(type, this.#listener);
    if (settings.replicateAsynchronously) {
      this.#timer = setInterval(() => this.flush(), settings.asynchronousReplicationIntervalMillis);
      this.#timer.unref();
    }
  }

  addPeer(peer: ReplicationPeer): void {
    this.#peers.set(peer.node, { peer, queue: new ReplicationQueue(this.#maxQueueBytes), needsRepair: false });
  }

  removePeer(node: string): void {
    this.#peers.delete(node);
  }

  /** Per peer: queued changes and bytes, and whether it needs a repair. */
  peerStates(): Array<{ node: string; queued: number; queuedBytes: number; needsRepair: boolean }> {
    return [...this.#peers.values()].map(({ peer, queue, needsRepair }) => ({
      node: peer.node,
      queued: queue.size,
      queuedBytes: queue.bytes,
      needsRepair,
    }));
  }

  /** Changes sent to peers and changes applied from peers, since start. */
  get counters(): { sent: number; applied: number } {
    return { sent: this.#sent, applied: this.#applied };
  }

  /**
   * Sends every queued change now, in batches of at most asynchronousReplicationMaximumBatchSize.
   * A peer whose queue overflowed gets the whole snapshot instead (the interim repair).
   */
  flush(): void {
    for (const state of this.#peers.values()) {
      if (state.needsRepair) {
        state.queue.reset();
        state.needsRepair = false;
        this.sendSnapshot(state.peer.node, this.#repairChunkBytes);
        continue;
      }
      for (const changes of state.queue.drainAll(this.settings.asynchronousReplicationMaximumBatchSize)) {
        this.#send(state.peer, { type: MessageType.Batch, changes });
      }
    }
  }

  /**
   * Sends a peer everything this cache holds: the last removeAll, every live entry and every
   * tombstone, as batches of at most `maxChunkBytes` (estimated), then BootstrapDone. The peer
   * applies them by version, so it keeps whatever it holds that is newer, and live changes that
   * cross the snapshot on the wire are resolved the same way (no Ehcache-style race where
   * bootstrap overwrites a newer value).
   *
   * Interim: the whole snapshot goes both ways each time a link comes up. Comparing digests per
   * bucket and sending only what differs is the planned repair.
   */
  sendSnapshot(node: string, maxChunkBytes: number): void {
    const state = this.#peers.get(node);
    if (state === undefined) return;
    const cache = this.cache.name;
    let batch: ChangeMessage[] = [];
    let bytes = 0;
    const add = (change: ChangeMessage) => {
      const size = estimateBytes(change);
      if (batch.length > 0 && (bytes + size > maxChunkBytes || batch.length >= MAX_BATCH_CHANGES)) {
        this.#send(state.peer, { type: MessageType.Batch, changes: batch });
        batch = [];
        bytes = 0;
      }
      batch.push(change);
      bytes += size;
    };
    const clear = this.cache.clearVersion;
    if (clear !== undefined) add({ type: MessageType.RemoveAll, cache, version: clear });
    for (const entry of this.cache.snapshot()) {
      if (entry.version === undefined) continue; // written before replication stamped versions
      add(putOf(cache, entry, entry.version));
    }
    for (const tombstone of this.cache.tombstones()) {
      add({ type: MessageType.Remove, cache, key: tombstone.key, version: tombstone.version });
    }
    if (batch.length > 0) this.#send(state.peer, { type: MessageType.Batch, changes: batch });
    this.#send(state.peer, { type: MessageType.BootstrapDone, cache });
  }

  /** Applies a change a peer sent for this cache. */
  apply(change: ChangeMessage, from: string): ApplyOutcome | 'refused' {
    try {
      this.#hlc.receive(change.version);
    } catch (error) {
      this.#logger.warn(
        { cache: this.cache.name, peer: from, err: error },
        'change refused: the peer clock is too far ahead',
      );
      return 'refused';
    }
    const outcome = this.cache.applyRemote(toRemoteChange(change));
    if (outcome === 'applied') this.#applied++;
    return outcome;
  }

  /** Stops listening and sending; queued changes are dropped (a later repair covers them). */
  close(): void {
    clearInterval(this.#timer);
    for (const type of EVENTS) this.cache.off(type, this.#listener);
    this.#peers.clear();
  }

  #onLocalEvent(event: CacheEvent<unknown>): void {
    if (event.origin !== 'local' || event.version === undefined) return;
    const change = this.#changeFor(event);
    if (change === undefined || this.#peers.size === 0) return;
    for (const state of this.#peers.values()) {
      if (!this.settings.replicateAsynchronously) {
        this.#send(state.peer, { type: MessageType.Batch, changes: [change] });
      } else if (!state.queue.enqueue(change) && !state.needsRepair) {
        state.needsRepair = true;
        this.#logger.warn(
          { cache: this.cache.name, peer: state.peer.node },
          'replication queue overflowed; the peer will be repaired instead of sent every change',
        );
      }
    }
  }

  #changeFor(event: CacheEvent<unknown>): ChangeMessage | undefined {
    const { settings } = this;
    const cache = this.cache.name;
    const version = event.version;
    const key = event.key;
    if (version === undefined) return undefined;
    switch (event.type) {
      case 'put':
      case 'update': {
        const wanted = event.type === 'put' ? settings.replicatePuts : settings.replicateUpdates;
        if (!wanted || key === undefined) return undefined;
        const viaCopy = event.type === 'put' ? settings.replicatePutsViaCopy : settings.replicateUpdatesViaCopy;
        const entry = viaCopy ? this.cache.peekEntry(key) : undefined;
        if (entry === undefined) return { type: MessageType.Remove, cache, key, version }; // invalidate
        return putOf(cache, entry, version);
      }
      case 'remove':
        return settings.replicateRemovals && key !== undefined
          ? { type: MessageType.Remove, cache, key, version }
          : undefined;
      case 'removeAll':
        return settings.replicateRemovals ? { type: MessageType.RemoveAll, cache, version } : undefined;
      case 'expire':
        return settings.replicateExpiries && key !== undefined
          ? { type: MessageType.Expire, cache, key, version }
          : undefined;
      default:
        return undefined;
    }
  }

  #send(peer: ReplicationPeer, message: SessionMessage): void {
    try {
      peer.send(message);
      if (message.type === MessageType.Batch) this.#sent += message.changes.length;
      else if (message.type !== MessageType.BootstrapDone) this.#sent++;
    } catch (error) {
      this.#logger.error({ cache: this.cache.name, peer: peer.node, err: error }, 'could not send changes to peer');
    }
  }
}

/** A Put carrying an entry as it is held: its value, creation time and lifespan. */
function putOf(cache: string, entry: EntrySnapshot<unknown>, version: Version): PutMessage {
  return {
    type: MessageType.Put,
    cache,
    key: entry.key,
    value: entry.value,
    version,
    createdAt: entry.createdAt,
    timeToLiveSeconds: entry.timeToLiveSeconds,
    timeToIdleSeconds: entry.timeToIdleSeconds,
  };
}

function toRemoteChange(change: ChangeMessage): RemoteChange<unknown> {
  switch (change.type) {
    case MessageType.Put:
      return {
        type: 'put',
        key: change.key,
        value: change.value,
        version: change.version,
        createdAt: change.createdAt,
        timeToLiveSeconds: change.timeToLiveSeconds,
        timeToIdleSeconds: change.timeToIdleSeconds,
      };
    case MessageType.Remove:
      return { type: 'remove', key: change.key, version: change.version };
    case MessageType.Expire:
      return { type: 'expire', key: change.key, version: change.version };
    case MessageType.RemoveAll:
      return { type: 'removeAll', version: change.version };
  }
}
