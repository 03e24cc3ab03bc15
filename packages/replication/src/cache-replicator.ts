/**
 * A cache replicator: the bridge between one cache and the peers that hold a cache of the same
 * name. It turns the cache's local events into change messages, queues them per peer (coalesced by
 * key, bounded in bytes) and sends one batch frame per peer per interval (a change after a quiet
 * interval at once: #armFlush); it applies the changes peers send, through the cache's replica
 * port (@meshcache/core/internal); and it repairs (repair/cache-repair.ts).
 *
 * Guarantees:
 * - Only events with origin 'local' are sent. A change applied from a peer fires its events
 *   with origin 'remote', so nothing ever ping-pongs between nodes.
 * - Every change carries the version the cache stamped (the node's hybrid logical clock), and
 *   the receiver applies it only if it is newer than what it knows: peers converge whatever the
 *   order of arrival, and coalescing loses nothing that matters.
 * - A peer's version moves this node's clock forward (so later local writes win over it), unless
 *   it is implausibly far in the future, in which case the change is refused and logged.
 * - Memory stays bounded: a peer whose queue passes its byte bound, or whose connection has that
 *   many bytes unsent (ws bufferedAmount), loses its queue and is sent a digest instead, so it
 *   repairs itself by pulling what differs. Nothing stays lost.
 * - Synchronous mode sends each change at once, followed by a Sync; the change's replication is
 *   settled when every connected peer acknowledged it or socketTimeoutMillis passed for that peer
 *   (see settle()). A slow peer never delays another.
 * - An Ack covers what was sent, and a peer whose queue overflowed was not sent what was dropped:
 *   settle() counts it only once it also said (Repaired, protocol 7) that its repair from a Digest
 *   offered after the overflow is over. Only the repairing side knows that (it may find the two
 *   in step and send nothing else at all), so it says so, naming the Digest by its number on the
 *   link; this side counts the Digests it sends each peer (PeerState.digests). A peer of protocol
 *   6 or before says nothing of the kind, and counts once it acknowledged, as it did then.
 * - A link that comes up (a peer restarted, holding what its disk tier kept; a link that was down)
 *   was sent nothing of what this cache changed while it was away: settle() counts its peer the
 *   same way, once a repair from a Digest of the link is over, unless this cache holds nothing it
 *   could lack (no entry, tombstone or removeAll). A peer that held nothing is pushed everything
 *   instead of that Digest (repair/cache-repair.ts), names no Digest, and counts once it
 *   acknowledged a Sync sent after the push's end: the push's own, or a later settle()'s (#pushed).
 *
 * Peers come in three roles (ReplicationPeer.role). A 'link' is one peer over one session: it gets
 * live changes, acknowledgements, lease messages, repairs and anti-entropy. A 'broadcast' peer
 * stands for every node at once (the Redis backplane's stream): it gets live changes and
 * acknowledgements only, and when its queue overflows every 'repair' peer is sent the digest,
 * since every node missed the changes. A 'repair' peer is a node reached only for the repair
 * exchange (the backplane's inboxes): it gets nothing else. So the backplane reuses the versions,
 * coalescing, queues and repair of the mesh rather than being a second engine.
 *
 * Evictions are never replicated (each node sizes its own memory).
 */
import {
  type CacheEventType,
  type Cancel,
  ConfigError,
  compareVersions,
  isNewer,
  type Logger,
  MeshcacheError,
  type Scheduler,
  systemScheduler,
  type Version,
} from '@meshcache/core';
import type { ApplyOutcome, RemoteChange, ReplicaPort } from '@meshcache/core/internal';
import type { HybridLogicalClock } from './hlc.js';
import { type ClusterLoadCoordinator, LoadLeases } from './load-leases.js';
import { OncePerWindow } from './once-per-window.js';
import { NO_KEYS, PREFETCH_FROM, PREFETCH_RUN } from './prefetch-runs.js';
import type { KeyChangeType } from './protocol/change-log.js';
import { MAX_VALUE_BYTES, MAX_VALUE_DEPTH } from './protocol/codec.js';
import {
  type ChangeMessage,
  type EntriesMessage,
  type LeaseMessage,
  MessageType,
  type PutMessage,
  type RemoveAllMessage,
  type RepairMessage,
} from './protocol/messages.js';
import { CacheRepair, IN_FLIGHT_MILLIS, MAX_ROUNDS_SKIPPED, type RepairPeer } from './repair/cache-repair.js';
import { type QueueMark, ReplicationQueue } from './replication-queue.js';
import type { SessionMessage } from './session.js';
import type { ResolvedReplicationConfig } from './settings.js';

/** What a replicator needs of a peer link. */
export interface ReplicationPeer {
  readonly node: string;
  /**
   * 'link': one peer over one session; 'broadcast': every node at once (the backplane's stream:
   * live changes and acknowledgements only); 'repair': a node reached for the repair exchange only.
   * @default 'link'
   */
  readonly role?: 'link' | 'broadcast' | 'repair';
  /**
   * Sends `message` now. A Batch's frame is written already (the codec answers it), and its
   * `changes` are made from the queue's log when read: read them during the call, not after
   * (they throw then, the log having moved on).
   */
  send(message: SessionMessage): void;
  /** Bytes written to the connection and not yet on the network. */
  bufferedAmount(): number;
  /** Asks the peer to acknowledge everything sent so far: true when it did, false on timeout or loss. */
  acknowledged(): Promise<boolean>;
  /**
   * The peer says when its repair from this node's Digest is over (Repaired: a link of protocol 7),
   * so that settle() counts it acknowledged after an overflow only then; without it, settle()
   * counts such a peer as soon as it acknowledges what it was still sent. @default false
   */
  readonly confirmsRepairs?: boolean;
}

export interface CacheReplicatorOptions {
  readonly hlc: HybridLogicalClock;
  readonly logger: Logger;
  /** Bound on the bytes queued (or unsent on the connection) for one peer. @default 64 MiB */
  readonly maxQueueBytes?: number;
  /** Bound on one batch of a repair (bootstrap maximumChunkSizeBytes). @default 5000000 */
  readonly repairChunkBytes?: number;
  /** This cache finished a repair from `node` (ready() waits for the first). */
  readonly onRepaired?: (node: string) => void;
  /** Asks `node` to send this cache's digest again, where something can (CacheRepairOptions.askDigest). */
  readonly askDigest?: (node: string) => void;
  /**
   * How long settle() waits for a peer whose queue overflowed to say its repair is over, as it
   * waits for an Ack (socketTimeoutMillis). @default 2000
   */
  readonly ackTimeoutMillis?: number;
  /** Timers: the replication interval, waits for acknowledgements, repair pacing. @default system */
  readonly scheduler?: Scheduler;
  /**
   * Where cluster-wide single flight comes from, when the cache asks for it. @default LoadLeases
   * (claims over the peer links); the Redis backplane passes a lease in Redis (SET NX PX).
   */
  readonly singleFlight?: SingleFlightFactory;
}

/** What a single-flight source is given to work with. */
export interface SingleFlightContext {
  /** The cache's replica port: its name, and a quiet read of whether the value arrived. */
  readonly port: ReplicaPort<unknown>;
  readonly hlc: HybridLogicalClock;
  readonly logger: Logger;
  readonly settings: ResolvedReplicationConfig;
  /** Sends every queued change now (a loaded value must leave before its lease ends). */
  readonly flush: () => void;
  /** Resolves once every peer that carries changes accepted what was sent so far (or after maxMillis). */
  readonly settle: (maxMillis: number) => Promise<void>;
  readonly scheduler: Scheduler;
}

export type SingleFlightFactory = (context: SingleFlightContext) => ClusterLoadCoordinator;

/** What settle() reports: which peers acknowledged everything, and which did not in time. */
export interface SettleResult {
  readonly acknowledged: string[];
  readonly timedOut: string[];
}

interface PeerState {
  readonly peer: ReplicationPeer;
  /** Where the peer starts in the cache's queue: it joined after what was queued before. */
  readonly queued: QueueMark;
  /** The queue overflowed: the peer needs a repair before it is in step again. */
  needsRepair: boolean;
  /** Changes sent to this peer (live; repairs not counted). */
  sent: number;
  /** Anti-entropy rounds the peer asked this node to skip (SkipRounds), still to skip. */
  roundsToSkip: number;
  /** Digests of this cache sent to the peer over this registration (its link): the numbers Repaired names. */
  digests: number;
  /**
   * The peer missed changes (its queue overflowed, or its connection was backed up) and has not
   * said it repaired since (a peer that confirmsRepairs): the number of the first Digest whose
   * repair covers them, Infinity until that Digest is offered (#repairDue). settle() counts the
   * peer acknowledged only once a Repaired of that number or later came. Undefined otherwise.
   */
  repairDue: number | undefined;
  /** settle() calls waiting for the Repaired that ends repairDue: each told true when it came, false when the peer left. */
  readonly repairWaiters: Set<(repaired: boolean) => void>;
  /** Times its queue overflowed (or its connection backed up): a push to it ends repairDue only if none came since it began (#pushed). */
  overflows: number;
  /**
   * A push that ends repairDue once acknowledged ended (its BootstrapDone sent): `overflows` as
   * it began. Kept until repairDue ends, so that a settle()'s Ack counts for it when the push's
   * own did not come in time (#settled). Undefined otherwise.
   */
  pushEnded: number | undefined;
}

/**
 * The largest frame of changes this node sends, by the estimate of its changes' sizes: a repair
 * frame whatever maximumChunkSizeBytes allows (it can only lower it), and a live batch whatever
 * asynchronousReplicationMaximumBatchSize allows. A receiver decrypts, checks and decodes a frame
 * in one go (a bigger one stalls its event loop), and closes a link whose frame passes 16 MiB.
 * One change larger than this goes alone in its frame; values are held to MAX_VALUE_BYTES.
 */
export const MAX_FRAME_BYTES = 1 << 20;
/** The mark of a peer sent no live change (a 'repair' peer). */
const NOT_QUEUED: QueueMark = Object.freeze({ epoch: -1, from: 0 });
/** A peer's refused changes are logged at warn at most once in this long. */
const REFUSAL_WARN_MILLIS = 60_000;
/**
 * How soon a repair waiting for its link to drain looks again: 1 ms, then twice as long each time
 * it is still backed up, up to MAX_DRAIN_POLL_MILLIS. A joiner that takes a megabyte of entries in
 * a few milliseconds (values left undecoded) drained the link during a fixed 5 ms wait and sat idle
 * for the rest (the bootstrap of a million entries: 1,567-1,573 ms with 1 ms, 1,650-1,680 with 5,
 * taking turns); a link that stays backed up (a peer reading slowly) is not looked at a thousand
 * times a second per cache repairing to it.
 */
const DRAIN_POLL_MILLIS = 1;
const MAX_DRAIN_POLL_MILLIS = 16;
/** Peers remembered as gone with a repair due (CacheReplicator.#missedWhileAway): a peer holding the secret may link under many names. */
const MAX_AWAY_REMEMBERED = 1024;
/** Remote removeAlls applied in one second before the next waits (#deferRemoveAll): none is ever that frequent by intent. */
export const REMOVE_ALLS_PER_SECOND = 10;

export class CacheReplicator {
  readonly port: ReplicaPort<unknown>;
  readonly settings: ResolvedReplicationConfig;
  readonly #hlc: HybridLogicalClock;
  /** The keys of the run applyRun reads ahead; the port copies what it keeps of them. */
  readonly #runKeys: string[] = new Array<string>(PREFETCH_RUN).fill('');
  readonly #logger: Logger;
  readonly #maxQueueBytes: number;
  /** Peers (links) that said they do not carry this cache: never counted by a settle() under way. */
  readonly #notCarried = new WeakSet<ReplicationPeer>();
  readonly #peers = new Map<string, PeerState>();
  /** The changes not sent yet, for every peer that gets live changes (async mode). */
  readonly #queue: ReplicationQueue;
  /** Peers that get live changes ('link' and 'broadcast'): with none, nothing is queued. */
  #livePeers = 0;
  /** Stop hearing the cache's local changes, and (with single flight) the values peers send. */
  readonly #unlisten: Array<() => void> = [];
  /** The batch's beat (async mode): runs while changes keep coming (see #armFlush). */
  #beat: Cancel | undefined;
  /** The flush of a change made after a quiet interval, due at once. */
  #leading: Cancel | undefined;
  readonly #scheduler: Scheduler;
  /** Remote removeAlls applied in the current second, and the newest waiting for the next (#deferRemoveAll). */
  readonly #removeAlls = { startedAt: Number.NEGATIVE_INFINITY, count: 0 };
  #waitingRemoveAll: { readonly change: RemoveAllMessage; readonly from: string } | undefined;
  #removeAllTimer: Cancel | undefined;
  /** Settles once the removeAll waiting is applied (or this replicator closes): the Acks that wait for it (removeAllApplied). */
  #removeAllWaiters: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;
  readonly #repair: CacheRepair;
  /** Cluster-wide single flight, when the cache asks for it. */
  readonly #leases: ClusterLoadCoordinator | undefined;
  readonly #repairChunkBytes: number;
  /** How long settle() waits for a Repaired (CacheReplicatorOptions.ackTimeoutMillis). */
  readonly #ackTimeoutMillis: number;
  /** Synchronous mode: acknowledgements not yet settled, so settle() can wait for them. */
  readonly #pendingAcks = new Set<Promise<boolean>>();
  /** The port's generation when this node last sent each peer its digest: anti-entropy sends one only after a change. */
  readonly #offeredAt = new Map<string, number>();
  /**
   * Peers whose link went (or was replaced) while they had a repair due after an overflow
   * (PeerState.repairDue): their next link's settle() waits for its first repair too
   * (#missedWhileAway's use in addPeer). At most MAX_AWAY_REMEMBERED, the oldest forgotten first.
   */
  readonly #missedWhileAway = new Set<string>();
  #antiEntropy: Cancel | undefined;
  #sent = 0;
  #applied = 0;
  /** Changes refused: their version past the drift bound (the peer's clock is ahead), or one this node cannot hold. */
  #refused = 0;
  /** Peers whose refusal was logged, until a change from them is accepted again: one line, not one per change. */
  readonly #refusing = new Set<string>();
  /** Peers a change of which this node could not apply, said once each. */
  readonly #failedFrom = new Set<string>();
  /**
   * Which peers' refusals are logged at warn now: a peer whose changes alternate
   * between refused and accepted (a version past the drift bound, then one within) got a warning
   * for every other change, 100,000 from 4.8 MB; now once a minute, at debug between.
   */
  readonly #refusalWarnings: OncePerWindow;
  #acknowledged = 0;
  #timedOut = 0;
  /** Anti-entropy rounds not sent to a peer that asked to skip them. */
  #roundsSkipped = 0;
  /** Puts, updates and removals all go to peers live: a round is not the only way any of them travels. */
  readonly #sendsEveryChange: boolean;

  constructor(port: ReplicaPort<unknown>, settings: ResolvedReplicationConfig, options: CacheReplicatorOptions) {
    this.port = port;
    this.settings = settings;
    this.#hlc = options.hlc;
    this.#logger = options.logger;
    this.#sendsEveryChange = settings.replicatePuts && settings.replicateUpdates && settings.replicateRemovals;
    this.#scheduler = options.scheduler ?? systemScheduler;
    const scheduler = this.#scheduler;
    this.#refusalWarnings = new OncePerWindow(() => scheduler.now(), REFUSAL_WARN_MILLIS);
    this.#maxQueueBytes = options.maxQueueBytes ?? 64 * 1024 * 1024;
    this.#ackTimeoutMillis = options.ackTimeoutMillis ?? 2000;
    this.#queue = new ReplicationQueue(port.cacheName, this.#maxQueueBytes);
    const onRepaired = options.onRepaired ?? (() => {});
    // A frame is decrypted, guarded and decoded in one go, blocking the event loop meanwhile; past
    // a megabyte that costs tens of milliseconds, and a loaded machine's heartbeats start to miss.
    this.#repairChunkBytes = Math.min(options.repairChunkBytes ?? 5_000_000, MAX_FRAME_BYTES);
    this.#repair = new CacheRepair(port, {
      chunkBytes: this.#repairChunkBytes,
      apply: (change, from, taught) => this.apply(change, from, taught),
      onRepaired,
      ...(options.askDigest === undefined ? {} : { askDigest: options.askDigest }),
      logger: options.logger,
      scheduler: this.#scheduler,
      // Invalidate mode too: a peer that is told to drop the keys this node writes must not be
      // handed their values by a repair once its tombstones age out, or after a link was down.
      takesNewKeys: settings.replicatePuts && settings.replicatePutsViaCopy,
      clock: () => options.hlc.time(),
      // A live change waits up to an interval in its queue before it is sent.
      inFlightMillis: IN_FLIGHT_MILLIS + 2 * settings.asynchronousReplicationIntervalMillis,
    });
    port.requireEncodableValues('replicates to peers', MAX_VALUE_BYTES, MAX_VALUE_DEPTH);
    // A read's expiry goes to no peer: its version stays in the digest until the sweep, when the
    // peers' copies go too (engine.ts, lingerReadExpiries).
    if (!settings.replicateExpiries) port.lingerReadExpiries();
    if (settings.clusterSingleFlight) {
      if (!settings.replicatePuts || !settings.replicatePutsViaCopy) {
        throw new ConfigError(
          port.cacheName,
          'replication.clusterSingleFlight',
          'needs replicatePuts and replicatePutsViaCopy: peers wait for the loaded value to arrive',
        );
      }
      const confirm = async (maxMillis: number, role: 'link' | 'carrier') => {
        let cancel: Cancel | undefined;
        const peers = [...this.#peers.values()].filter((state) =>
          role === 'link' ? roleOf(state) === 'link' : roleOf(state) !== 'repair',
        );
        const acknowledged = Promise.all(peers.map((state) => state.peer.acknowledged()));
        const bound = new Promise<void>((resolve) => {
          cancel = this.#scheduler.setTimeout(resolve, maxMillis);
        });
        await Promise.race([acknowledged, bound]);
        cancel?.();
      };
      this.#leases =
        options.singleFlight?.({
          port,
          hlc: options.hlc,
          logger: options.logger,
          settings,
          flush: () => this.flush(),
          settle: (maxMillis) => confirm(maxMillis, 'carrier'),
          scheduler: this.#scheduler,
        }) ??
        new LoadLeases({
          port,
          hlc: options.hlc,
          logger: options.logger,
          leaseMillis: settings.singleFlightLeaseMillis,
          claimMillis: settings.singleFlightClaimMillis,
          broadcast: (message) => {
            let reached = 0;
            for (const state of this.#peers.values()) {
              if (roleOf(state) === 'link' && this.#send(state, message)) reached++;
            }
            return reached;
          },
          flush: () => this.flush(),
          confirm: (maxMillis) => confirm(maxMillis, 'link'),
          scheduler: this.#scheduler,
        });
      port.setLoadCoordinator(this.#leases);
      // A peer's value arriving wakes whoever waits for it.
      const leases = this.#leases;
      this.#unlisten.push(port.onRemoteValue((key) => leases.valueArrived(key)));
    }
    // Local changes only, each with the entry's metadata: no event object, no read of the entry.
    this.#unlisten.push(port.onLocalChange(this.#onLocalChange));
    if (settings.repairIntervalMillis > 0) this.#scheduleAntiEntropy();
  }

  addPeer(peer: ReplicationPeer): void {
    // A registration this one replaces (a new link while the old one's close is still on its way:
    // its removePeer, later, names a registration no longer held, and is ignored) takes its
    // repair's state with it: the peer numbers its Digests from 1 on the new link, and a repair
    // still running for the old one answers a link that is gone. Kept, the Repaired this node
    // says named the new link's Digests counting on from the old one's, which the peer ignored
    // (its settle() timed this node out after every overflow) or took for a later Digest's.
    if (this.#peers.has(peer.node)) {
      this.#offeredAt.delete(peer.node);
      this.#repair.forget(peer.node);
    }
    this.#forget(peer.node);
    const live = (peer.role ?? 'link') !== 'repair';
    this.#peers.set(peer.node, {
      peer,
      // A 'repair' peer is sent no live change: it does not hold back the queue's coalescing.
      queued: live ? this.#queue.mark() : NOT_QUEUED,
      needsRepair: false,
      sent: 0,
      roundsToSkip: 0,
      digests: 0,
      repairDue: undefined,
      repairWaiters: new Set(),
      overflows: 0,
      pushEnded: undefined,
    });
    if (live) this.#livePeers++;
    // What this cache changed while the peer was not linked (it restarted, holding what its disk
    // tier kept; its link was down) was never sent to it, nor were the changes its old link's
    // queue dropped: it holds them once a repair from a Digest of this link is over, the first of
    // which (number 1) attach() offers now, or once the push that takes that Digest's place is
    // applied (#pushed). Counted at once, settle() called as the link came back said the peer held
    // a token revoked meanwhile while it still served it. A cache holding nothing (no entry, no
    // tombstone, no removeAll) has nothing a peer could lack, and waits for nothing: settle()
    // right after start counts its peers as soon as they acknowledge.
    const state = this.#peers.get(peer.node) as PeerState;
    const missed = this.#missedWhileAway.delete(peer.node);
    if (peer.confirmsRepairs === true && (missed || this.#holdsAnything())) state.repairDue = 1;
  }

  /** The cache holds something a peer could lack: an entry, a tombstone, or a removeAll's version. */
  #holdsAnything(): boolean {
    const port = this.port;
    return port.size > 0 || port.tombstoneCount > 0 || port.clearVersion !== undefined;
  }

  /** Takes the peer out of #peers, and out of the count of live peers. */
  #forget(node: string): void {
    const state = this.#peers.get(node);
    if (state === undefined) return;
    this.#peers.delete(node);
    if (roleOf(state) !== 'repair') this.#livePeers--;
    if (state.repairDue !== undefined) {
      if (this.#missedWhileAway.size >= MAX_AWAY_REMEMBERED) {
        this.#missedWhileAway.delete(this.#missedWhileAway.values().next().value as string);
      }
      this.#missedWhileAway.add(node);
    }
    this.#endRepairWait(state, false); // gone before it said so: a settle() waiting counts it timed out
  }

  /**
   * Forgets a peer. With `peer`, only if that is the registration still held: a link to the same
   * node that closes after a newer link replaced it must not unregister the newer one.
   */
  removePeer(node: string, peer?: ReplicationPeer, notCarried = false): void {
    if (peer !== undefined && this.#peers.get(node)?.peer !== peer) return;
    if (notCarried && peer !== undefined) this.#notCarried.add(peer);
    this.#forget(node);
    if (notCarried) this.#missedWhileAway.delete(node); // it does not hold this cache at all
    this.#offeredAt.delete(node);
    this.#repair.forget(node);
    this.#leases?.forgetNode(node);
  }

  /** A peer's single-flight claim or release for a key of this cache. */
  receiveLease(message: LeaseMessage, from: string): void {
    this.#leases?.receive(message, from);
  }

  /** Per peer: queued changes and bytes, whether it needs a repair, and live changes sent to it. */
  peerStates(): Array<{ node: string; queued: number; queuedBytes: number; needsRepair: boolean; sent: number }> {
    const queue = this.#queue;
    return [...this.#peers.values()].map(({ peer, queued, needsRepair, sent }) => {
      const live = peer.role !== 'repair' && !needsRepair;
      const from = queue.fromOf(queued);
      return {
        node: peer.node,
        queued: live ? queue.sizeFrom(from) : 0,
        queuedBytes: live ? queue.bytesFrom(from) : 0,
        needsRepair,
        sent,
      };
    });
  }

  /**
   * Since start: changes sent and applied, synchronous acknowledgements and timeouts, repairs
   * finished, and with single flight, loads answered by a peer's value and loads run here.
   */
  get counters(): {
    sent: number;
    applied: number;
    refused: number;
    acknowledged: number;
    timedOut: number;
    repairs: number;
    roundsSkipped: number;
    singleFlight: { waitedForPeers: number; loadedHere: number; claimedKeys: number } | null;
  } {
    return {
      sent: this.#sent,
      applied: this.#applied,
      refused: this.#refused,
      acknowledged: this.#acknowledged,
      timedOut: this.#timedOut,
      repairs: this.#repair.repairs,
      roundsSkipped: this.#roundsSkipped,
      singleFlight: this.#leases?.counters ?? null,
    };
  }

  /**
   * Sends every queued change now, in batches of at most asynchronousReplicationMaximumBatchSize.
   * A peer whose queue overflowed, or whose connection is backed up past the byte bound, is sent
   * a digest instead of the queue, and repairs itself from it. (When the timers call it:
   * #armFlush.)
   */
  flush(): void {
    const queue = this.#queue;
    const max = this.settings.asynchronousReplicationMaximumBatchSize;
    const recorded = queue.recorded;
    // Peers sent the whole queue (all but those that joined since the last flush) get each batch
    // in turn, made once for them all, as one message: its frame is then written once too (the
    // codec's WRITTEN), and each peer's session only seals it.
    const everyone: PeerState[] = [];
    for (const state of this.#peers.values()) {
      if (roleOf(state) === 'repair') continue;
      const from = queue.fromOf(state.queued);
      if (!state.needsRepair && queue.sizeFrom(from) > 0 && state.peer.bufferedAmount() > this.#maxQueueBytes) {
        this.#overflowed(state, 'connection backed up');
      }
      if (state.needsRepair) {
        state.needsRepair = false;
        this.#repairDue(state);
        this.requestRepair(state.peer.node);
        continue;
      }
      if (queue.sizeFrom(from) === 0) continue;
      if (from === 0) everyone.push(state);
      else for (const range of queue.ranges(from, max, MAX_FRAME_BYTES)) this.#send(state, queue.batchOf(range));
    }
    if (everyone.length > 0) {
      for (const range of queue.ranges(0, max, MAX_FRAME_BYTES)) {
        const batch = queue.batchOf(range);
        for (const state of everyone) this.#send(state, batch);
      }
    }
    // A change made while the batches went (by something a send set off) would go with them
    // unsent: the queue is then kept whole, and goes again at the next flush (a change a peer
    // already holds is refused there as not newer).
    if (queue.recorded === recorded) queue.clear();
  }

  /**
   * The batch timer (async mode), armed by a change queued. While changes keep coming, batches
   * leave on a fixed beat, an interval apart, as many changes a batch (coalesced by key) as the
   * interval gathers; a slow batch does not push the next one back. The beat stops at a tick that
   * finds nothing to send (giving back the queue's room: ReplicationQueue.trim), so an idle cache
   * keeps no batch timer, and a change made after that has seen no batch of the timer's leave for
   * at least an interval: it has nothing to wait for, and goes at once (on the next timer tick,
   * with whatever the same turn changed), the beat starting again from it. Ehcache's thread
   * slept the interval whenever its queue was empty: at the default of a second, a lone
   * revocation waited half a second on average, and up to a whole one, while peers went on
   * serving what it revoked. Of the timer's frames, peers get at most two an interval per cache:
   * the change that went at once, and the batch an interval after it. A flush asked for (a
   * settle(), a single-flight load) goes besides, whenever it is asked.
   */
  #armFlush(): void {
    // Only a local change arms it, and close() stops hearing those: a closed replicator never re-arms.
    if (this.#beat !== undefined || !this.settings.replicateAsynchronously) return;
    this.#leading = this.#scheduler.setTimeout(() => {
      this.#leading = undefined;
      this.flush();
    }, 0);
    this.#beat = this.#scheduler.setInterval(() => this.#onBeat(), this.settings.asynchronousReplicationIntervalMillis);
  }

  #onBeat(): void {
    const queue = this.#queue;
    let idle = queue.size === 0 && !queue.overflowed;
    for (const state of this.#peers.values()) if (state.needsRepair) idle = false;
    if (!idle) {
      this.flush();
      return;
    }
    queue.trim();
    this.#beat?.();
    this.#beat = undefined;
  }

  /**
   * Sends what is queued, then waits until every connected peer acknowledged everything sent so
   * far, or socketTimeoutMillis passed for it. A peer whose queue overflowed since its last repair
   * (it was sent a Digest instead of the changes dropped) is acknowledged only once it also said
   * its repair from a Digest sent after the overflow is over (#settled), on a link that says so
   * (ReplicationPeer.confirmsRepairs); else it is timed out. Never rejects.
   */
  async settle(): Promise<SettleResult> {
    this.flush();
    await Promise.all([...this.#pendingAcks]);
    const states = [...this.#peers.values()].filter((state) => roleOf(state) !== 'repair');
    const peers = states.map((state) => state.peer);
    const outcomes = await Promise.all(states.map((state) => this.#settled(state)));
    // A peer that said meanwhile it does not carry this cache (LinkCaches, one round trip after its
    // link came up: before its Ack) acknowledged nothing of it, nor timed out: it is neither.
    const counted = (peer: ReplicationPeer) => !this.#notCarried.has(peer);
    return {
      acknowledged: peers.filter((peer, i) => outcomes[i] && counted(peer)).map((peer) => peer.node),
      timedOut: peers.filter((peer, i) => !outcomes[i] && counted(peer)).map((peer) => peer.node),
    };
  }

  /**
   * Whether `state`'s peer holds every change made before the settle() that asks: it acknowledged
   * everything sent so far, and, if its queue overflowed since its last repair, it said that a
   * repair from a Digest offered after the overflow is over (Repaired), within ackTimeoutMillis.
   * Acknowledging what it was still sent is not enough then: the changes dropped from its queue
   * were never sent, and it holds them (or something newer) only once that repair has pulled them.
   */
  async #settled(state: PeerState): Promise<boolean> {
    // A push whose own Ack did not come in time (a peer slow to apply it) ended before this Sync
    // goes: this Ack shows it applied. Else nothing would end the wait (its peer names no Digest)
    // until a Digest that is offered only after another overflow, or at an anti-entropy round.
    const pushEnded = state.pushEnded;
    const acknowledging = state.peer.acknowledged().then((acknowledged) => {
      if (acknowledged && pushEnded !== undefined) this.#pushAcknowledged(state, pushEnded);
      return acknowledged;
    });
    const [acknowledged, repaired] = await Promise.all([acknowledging, this.#repaired(state)]);
    const settled = acknowledged && repaired;
    if (settled) this.#acknowledged++;
    else this.#timedOut++;
    return settled;
  }

  /** Resolves true at once unless a repair of `state`'s peer is due; then true once it said it is over, false on timeout or loss. */
  #repaired(state: PeerState): Promise<boolean> {
    if (state.repairDue === undefined) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (repaired: boolean) => {
        cancel();
        state.repairWaiters.delete(done);
        resolve(repaired);
      };
      const cancel = this.#scheduler.setTimeout(() => done(false), this.#ackTimeoutMillis);
      state.repairWaiters.add(done);
    });
  }

  /**
   * Live changes go to the peer again: the Digest offered now (requestRepair, which cancels any
   * offer still being built) is the first read after every change it missed, so a repair from it,
   * or from any later one, covers them.
   */
  #repairDue(state: PeerState): void {
    if (state.repairDue !== undefined) state.repairDue = state.digests + 1;
  }

  /** The peer's repair from this node's `digest`-th Digest on its link is over (Repaired). */
  #onRepaired(state: PeerState, digest: number): void {
    // A number past the Digests sent names none of them: ignored, as any message not asked for.
    const due = state.repairDue;
    if (due === undefined || digest < due || digest > state.digests) return;
    this.#endRepairWait(state, true);
  }

  /**
   * This node pushed the peer everything it holds (its BootstrapDone sent: the peer's own Digest
   * said it held nothing, and the push took the place of this node's Digest, so the peer names no
   * Digest of it in a Repaired). The peer handles frames in order, and acknowledges a Sync only
   * once every frame before it is applied (session.ts, peer-link.ts): its Ack to a Sync sent now
   * shows it holds what was pushed, read after any overflow that came before the push (RepairPeer.
   * pushing). The repair due is over then, unless the queue overflowed again since the push began
   * (`overflows`): what that dropped may be of entries the push had read already. An Ack to any
   * later Sync shows it as well: a settle()'s counts if this one's does not come (#settled).
   */
  async #pushed(state: PeerState, overflows: number): Promise<void> {
    if (state.repairDue === undefined) return;
    state.pushEnded = overflows;
    if (await state.peer.acknowledged()) this.#pushAcknowledged(state, overflows);
  }

  /** The peer acknowledged a Sync sent after a push begun with `overflows` ended (#pushed). */
  #pushAcknowledged(state: PeerState, overflows: number): void {
    if (state.repairDue === undefined || state.overflows !== overflows || this.#peers.get(state.peer.node) !== state) {
      return;
    }
    this.#endRepairWait(state, true);
  }

  /** The repair due is over (`repaired`), or the peer left (false): every settle() waiting on it is told. */
  #endRepairWait(state: PeerState, repaired: boolean): void {
    state.repairDue = undefined;
    state.pushEnded = undefined;
    for (const done of [...state.repairWaiters]) done(repaired);
  }

  /**
   * Sends `node` a digest of this cache, so that it repairs itself from this node. For a
   * 'broadcast' peer, every 'repair' peer gets the digest (read from the cache once): each of the
   * nodes behind the broadcast may have missed what its queue dropped.
   */
  /** requestRepair, unless this cache has not changed since the peer's last digest (it would get the same one). */
  requestRepairIfChanged(node: string): void {
    if (this.#offeredAt.get(node) === this.port.generation) return;
    this.requestRepair(node);
  }

  requestRepair(node: string): void {
    const state = this.#peers.get(node);
    if (state === undefined) return;
    const generation = this.port.generation;
    if (roleOf(state) === 'broadcast') {
      const everyone = [...this.#peers.values()].filter((other) => roleOf(other) === 'repair');
      for (const other of everyone) this.#offeredAt.set(other.peer.node, generation);
      if (everyone.length > 0) this.#repair.offerTo(everyone.map((other) => this.#repairPeer(other)));
      return;
    }
    this.#offeredAt.set(node, generation);
    this.#repair.offer(this.#repairPeer(state));
  }

  /**
   * One round of anti-entropy: every linked peer that has not had this cache's digest since the
   * cache last changed gets one now, unless it asked to skip this round (a full cache whose last
   * repair from here took nothing: repair/cache-repair.ts, "Rounds skipped"). One read of the
   * cache serves them all; a cache that did not change, or whose peers all skip, costs nothing.
   */
  antiEntropyRound(): void {
    const generation = this.port.generation;
    const behind = [...this.#peers.values()].filter((state) => {
      if (roleOf(state) !== 'link') return false;
      // A peer that has not said its repair after an overflow is over gets a round even if this
      // cache did not change since its last Digest: that repair may have stopped short (a bound
      // on the keys it pulls met), or never happened (the link's Pulls lost to a newer listing).
      if (state.repairDue !== undefined && Number.isFinite(state.repairDue)) return true;
      if (this.#offeredAt.get(state.peer.node) === generation) return false;
      // A peer that missed changes (its queue overflowed, or its connection backed up in
      // synchronous mode) gets every round: a skipped one does not set #offeredAt, so the round
      // after the skipped ones goes to it even if this cache did not change meanwhile.
      if (state.roundsToSkip === 0 || state.needsRepair) return true;
      state.roundsToSkip--;
      this.#roundsSkipped++;
      return false;
    });
    for (const state of behind) this.#offeredAt.set(state.peer.node, generation);
    const peers = behind.map((state) => this.#repairPeer(state));
    if (peers.length > 0) this.#repair.offerTo(peers);
  }

  /** A round every repairIntervalMillis, give or take a fifth (so nodes do not all read at once). */
  #scheduleAntiEntropy(): void {
    const every = this.settings.repairIntervalMillis;
    this.#antiEntropy = this.#scheduler.setTimeout(
      () => {
        this.antiEntropyRound();
        this.#scheduleAntiEntropy();
      },
      every * (0.8 + 0.4 * this.#scheduler.random()),
    );
  }

  /** Handles a peer's repair message for this cache (Entries are applied like any change). */
  receiveRepair(message: Exclude<RepairMessage, EntriesMessage>, from: string): void {
    const state = this.#peers.get(from);
    if (state === undefined) return;
    if (message.type === MessageType.Repaired) this.#onRepaired(state, message.digestNumber);
    else if (message.type === MessageType.AskDigest) {
      // Only an ask a listing to that peer earned (CacheRepair.askedForDigest): once per listing.
      if (this.#repair.askedForDigest(this.#repairPeer(state))) this.requestRepair(from);
    } else if (message.type !== MessageType.SkipRounds) this.#repair.receive(this.#repairPeer(state), message);
    // However many a peer asks for, a round still goes to it every eighth (it only skips its own
    // repairs). A node that sends some changes only by repair (a replicate* option off) skips none.
    else if (this.#sendsEveryChange) state.roundsToSkip = Math.min(message.rounds, MAX_ROUNDS_SKIPPED);
  }

  /**
   * Applies a run of a peer's changes: those from `from` on that are this cache's, up to
   * PREFETCH_RUN of them and none from `until` on, but the ones `skip` names (removeAlls a later one overtakes). The cache
   * reads ahead where their keys are held first (ReplicaPort.prefetch), when there are
   * PREFETCH_FROM of them or more, and lets them go when the run is over. Returns where the run
   * ended (the first change of another cache, or PREFETCH_RUN on): the caller goes on from there.
   * Throws only E_CACHE_CLOSED, as apply().
   */
  applyRun(
    changes: readonly ChangeMessage[],
    from: number,
    node: string,
    skip?: ReadonlySet<number>,
    until = changes.length,
    taught = false,
  ): number {
    const cache = this.port.cacheName;
    const end = Math.min(changes.length, until, from + PREFETCH_RUN);
    // One array for every run, its first `count` the run's keys: a new array a run was about 29
    // bytes a change for the collector (issue 20).
    const keys = this.#runKeys;
    let count = 0;
    let at = from;
    for (; at < end; at++) {
      const change = changes[at] as ChangeMessage;
      if (change.cache !== cache) break;
      if (change.type !== MessageType.RemoveAll && skip?.has(at) !== true) keys[count++] = change.key;
    }
    const ahead = count >= PREFETCH_FROM;
    if (ahead) this.port.prefetch(keys, count);
    try {
      for (let i = from; i < at; i++) if (skip?.has(i) !== true) this.apply(changes[i] as ChangeMessage, node, taught);
    } finally {
      if (ahead) this.port.prefetch(NO_KEYS);
      keys.fill('', 0, count); // the keys are the cache's now, not this array's to keep alive
    }
    return Math.max(at, from + 1);
  }

  /**
   * Applies a change a peer sent for this cache; `taught` when a repair brought it (an entries
   * batch, a key list), not a live batch: a removal's tombstone then ages from its version.
   */
  apply(change: ChangeMessage, from: string, taught = false): ApplyOutcome | 'refused' {
    try {
      this.#hlc.receive(change.version);
    } catch (error) {
      return this.#refuse(
        this.#refusing,
        from,
        error,
        'change refused: the peer clock is too far ahead (logged once until its changes are accepted again; replicationStatistics().refused counts them)',
      );
    }
    if (this.#refusing.size > 0) this.#refusing.delete(from);
    if (change.type === MessageType.RemoveAll && this.#deferRemoveAll(change, from)) return 'applied';
    return this.#applyToPort(change, from, taught);
  }

  /**
   * Applies a change whose clock was checked to the cache, counting it; what the cache cannot
   * take is refused alone. Throws only E_CACHE_CLOSED (the cache is gone: nothing more applies).
   */
  #applyToPort(change: ChangeMessage, from: string, taught = false): ApplyOutcome | 'refused' {
    let outcome: ApplyOutcome;
    try {
      outcome =
        change.type === MessageType.Put
          ? this.port.applyPut(
              change.key,
              change.value,
              change.version,
              change.createdAt,
              change.timeToLiveSeconds,
              change.timeToIdleSeconds,
            )
          : this.port.applyRemote(toRemoteChange(change, taught));
    } catch (error) {
      // This node cannot hold what the peer could (a key too long for this cache's disk tier): the
      // change is refused, alone. Thrown out of here it ended the handling of its whole batch,
      // and every change behind it in the batch was lost without a word.
      if (error instanceof MeshcacheError && error.code === 'E_CACHE_CLOSED') throw error;
      return this.#refuse(
        this.#failedFrom,
        from,
        error,
        'change refused: this node cannot apply it (logged once per peer; replicationStatistics().refused counts them)',
      );
    }
    if (outcome === 'applied') this.#applied++;
    return outcome;
  }

  /** Counts a refused change; says why once per peer in `said` (until the caller forgets it there). */
  #refuse(said: Set<string>, from: string, error: unknown, why: string): 'refused' {
    this.#refused++;
    if (!said.has(from)) {
      said.add(from);
      const level = this.#refusalWarnings.first(from) ? 'warn' : 'debug';
      this.#logger[level]({ cache: this.port.cacheName, peer: from, err: error }, why);
    }
    return 'refused';
  }

  /**
   * Remote removeAlls walk the whole cache and its tombstones, each: past REMOVE_ALLS_PER_SECOND in
   * a second, the next waits for the second to end, only the newest of those waiting is applied
   * (it clears all the others would), and meanwhile this node still holds what it clears. A peer
   * holding the secret sent a removeAll a frame, each newer by a counter and clearing nothing:
   * 100,000 frames of 1.7 MB in all kept the node walking for 80 s. True when `change` waits.
   */
  #deferRemoveAll(change: RemoveAllMessage, from: string): boolean {
    // One this cache already knows (every Digest carries its sender's last) walks nothing: it
    // neither waits nor counts, or ten peers' digests would hold back a real one.
    if (!isNewer(change.version, this.port.clearVersion)) return false;
    const now = this.#scheduler.now();
    const window = this.#removeAlls;
    if (this.#waitingRemoveAll === undefined && (now - window.startedAt >= 1000 || now < window.startedAt)) {
      window.startedAt = now;
      window.count = 0;
    }
    if (this.#waitingRemoveAll === undefined && window.count < REMOVE_ALLS_PER_SECOND) {
      window.count++;
      return false;
    }
    const waiting = this.#waitingRemoveAll;
    if (waiting === undefined || compareVersions(change.version, waiting.change.version) > 0)
      this.#waitingRemoveAll = { change, from };
    if (this.#removeAllTimer === undefined) {
      const wait = Math.max(0, Math.min(1000, window.startedAt + 1000 - now));
      this.#removeAllTimer = this.#scheduler.setTimeout(() => {
        this.#removeAllTimer = undefined;
        const newest = this.#waitingRemoveAll;
        this.#waitingRemoveAll = undefined;
        this.#removeAlls.startedAt = this.#scheduler.now();
        this.#removeAlls.count = 1;
        if (newest !== undefined) this.#applyWaiting(newest.change, newest.from);
        this.#releaseRemoveAllWaiters();
      }, wait);
    }
    return true;
  }

  /**
   * Resolves once no removeAll of a peer waits here (#deferRemoveAll); undefined when none does.
   * A link answers a Sync only then: settle() is where a synchronous change counts as applied on
   * the peer, and a waiting removeAll has not cleared yet what it clears.
   */
  removeAllApplied(): Promise<void> | undefined {
    if (this.#waitingRemoveAll === undefined) return undefined;
    if (this.#removeAllWaiters === undefined) {
      let resolve = () => {};
      const promise = new Promise<void>((settle) => {
        resolve = settle;
      });
      this.#removeAllWaiters = { promise, resolve };
    }
    return this.#removeAllWaiters.promise;
  }

  #releaseRemoveAllWaiters(): void {
    const waiters = this.#removeAllWaiters;
    this.#removeAllWaiters = undefined;
    waiters?.resolve();
  }

  /** A removeAll that waited, applied from a timer: refused as in apply(), and never the process's end. */
  #applyWaiting(change: RemoveAllMessage, from: string): void {
    try {
      this.#applyToPort(change, from);
    } catch {
      // E_CACHE_CLOSED: the cache went while it waited, and there is nothing left to clear.
    }
  }

  /** Stops listening and sending; queued changes are dropped (a later repair covers them). */
  close(): void {
    this.#beat?.();
    this.#leading?.();
    this.#removeAllTimer?.();
    this.#releaseRemoveAllWaiters(); // the links close too: an Ack they still send goes nowhere
    this.#antiEntropy?.();
    this.#leases?.close();
    if (this.#leases !== undefined) this.port.setLoadCoordinator(undefined);
    for (const unlisten of this.#unlisten.splice(0)) unlisten();
    for (const state of this.#peers.values()) this.#endRepairWait(state, false);
    this.#peers.clear();
    this.#missedWhileAway.clear();
    this.#livePeers = 0;
    this.#queue.clear(); // lets go of the keys and values it held
  }

  readonly #onLocalChange = (
    type: CacheEventType,
    key: string | undefined,
    value: unknown,
    version: Version | undefined,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
    slot: number,
  ): void => {
    // Not replicated, though a change of the key may be queued: an eviction (each node sizes its
    // own memory), nor an expiry the sweep found by the entry's TTL (it says so with a TTL): every
    // node's sweep removes that entry at the same moment (core's sweeper.ts), and each sent every
    // peer an Expire of it, which found nothing there to expire.
    if (type === 'evict' || (type === 'expire' && timeToLiveSeconds > 0)) {
      if (key !== undefined) this.#queue.release(key, slot);
      return;
    }
    if (version === undefined || this.#livePeers === 0) return;
    if (!this.settings.replicateAsynchronously) {
      const change = this.#changeFor(type, key, value, version, createdAt, timeToLiveSeconds, timeToIdleSeconds);
      if (change !== undefined) this.#sendNow(change);
      return;
    }
    // Queued as fields, not as a change object (replication-queue.ts says why).
    const as = this.#sentAs(type, key);
    if (as === undefined) return;
    let queued: boolean;
    if (as === MessageType.RemoveAll) queued = this.#queue.removeAll(version);
    else {
      const withValue = as === MessageType.Put;
      queued = this.#queue.add(
        as,
        key as string,
        withValue ? value : undefined,
        version,
        withValue ? createdAt : 0,
        withValue ? timeToLiveSeconds : 0,
        withValue ? timeToIdleSeconds : 0,
        slot,
      );
    }
    // A change arms the batch's timer if it is not running; a full queue too (the flush repairs the peers).
    if (this.#beat === undefined) this.#armFlush();
    if (queued) return;
    for (const state of this.#peers.values()) {
      if (roleOf(state) !== 'repair' && !state.needsRepair) this.#overflowed(state, 'queue full');
    }
  };

  /** Synchronous mode: the change goes to every live peer at once, followed by a Sync (see settle()). */
  #sendNow(change: ChangeMessage): void {
    for (const state of this.#peers.values()) {
      if (roleOf(state) === 'repair') continue;
      // The byte bound holds here too: a peer whose connection (or the backplane's writer,
      // while Redis is away) has not taken what it was sent is repaired instead, once it has.
      if (this.#backedUpSynchronously(state)) continue;
      this.#send(state, { type: MessageType.Batch, changes: [change] });
      const ack = this.#acknowledgement(state.peer);
      this.#pendingAcks.add(ack);
      void ack.then(() => this.#pendingAcks.delete(ack));
    }
  }

  /**
   * What a local change goes to peers as, by the settings: a put, a remove (a put or update in
   * invalidate mode, or a removal), an expiry, a removeAll; undefined when they send nothing of it.
   */
  #sentAs(type: CacheEventType, key: string | undefined): KeyChangeType | typeof MessageType.RemoveAll | undefined {
    const { settings } = this;
    if (type === 'removeAll') return settings.replicateRemovals ? MessageType.RemoveAll : undefined;
    if (key === undefined) return undefined;
    switch (type) {
      case 'put':
        if (!settings.replicatePuts) return undefined;
        return settings.replicatePutsViaCopy ? MessageType.Put : MessageType.Remove;
      case 'update':
        if (!settings.replicateUpdates) return undefined;
        return settings.replicateUpdatesViaCopy ? MessageType.Put : MessageType.Remove;
      case 'remove':
        return settings.replicateRemovals ? MessageType.Remove : undefined;
      case 'expire':
        return settings.replicateExpiries ? MessageType.Expire : undefined;
      default:
        return undefined;
    }
  }

  /**
   * Synchronous mode's bound: true while the change is not to be sent to the peer. A peer with
   * more than the bound unsent is marked for repair and sent nothing more; once it is down to
   * half, it is sent a digest (which covers every change it missed, this one included) and live
   * changes again. A peer that sits backed up with no change coming is caught by anti-entropy.
   */
  #backedUpSynchronously(state: PeerState): boolean {
    const unsent = state.peer.bufferedAmount();
    if (!state.needsRepair) {
      if (unsent <= this.#maxQueueBytes) return false;
      this.#overflowed(state, 'connection backed up');
      return true;
    }
    if (unsent > this.#maxQueueBytes / 2) return true;
    state.needsRepair = false;
    this.#repairDue(state);
    this.requestRepair(state.peer.node);
    return true;
  }

  /** The peer as a repair sees it: sends go through the counters, and drained() paces the chunks. */
  #repairPeer(state: PeerState): RepairPeer {
    const limit = Math.max(2 * this.#repairChunkBytes, 1 << 20);
    return {
      node: state.peer.node,
      sendsRounds: roleOf(state) === 'link',
      send: (message) => this.#send(state, message),
      // Over links only (a link of protocol 6 or before drops it: it does not have it), and once
      // a peer's removeAll this repair brought is applied, as a Sync's Ack waits for it.
      ...(roleOf(state) === 'link'
        ? {
            repaired: (digest: number) => {
              const message = { type: MessageType.Repaired, cache: this.port.cacheName, digestNumber: digest } as const;
              const waiting = this.removeAllApplied();
              if (waiting === undefined) this.#send(state, message);
              else void waiting.then(() => this.#send(state, message));
            },
            pushing: () => {
              // Changes the queue dropped before the push began may be of entries it reads early.
              if (state.needsRepair) return undefined;
              const overflows = state.overflows;
              return () => void this.#pushed(state, overflows);
            },
          }
        : {}),
      drained: async () => {
        // Polls: ws has no drain event. Gives up when the peer is gone (its link closed).
        let wait = DRAIN_POLL_MILLIS;
        while (state.peer.bufferedAmount() > limit && this.#peers.get(state.peer.node) === state) {
          await new Promise<void>((resolve) => this.#scheduler.setTimeout(resolve, wait));
          wait = Math.min(2 * wait, MAX_DRAIN_POLL_MILLIS);
        }
      },
    };
  }

  #overflowed(state: PeerState, why: string): void {
    state.needsRepair = true;
    state.overflows++;
    // No repair counts until the Digest offered once live changes go to the peer again (#repairDue).
    if (state.peer.confirmsRepairs === true) state.repairDue = Number.POSITIVE_INFINITY;
    this.#logger.warn(
      { cache: this.port.cacheName, peer: state.peer.node, why },
      'replication to peer overflowed; the peer will repair itself from a digest instead of receiving every change',
    );
  }

  async #acknowledgement(peer: ReplicationPeer): Promise<boolean> {
    const acknowledged = await peer.acknowledged();
    if (acknowledged) this.#acknowledged++;
    else this.#timedOut++;
    return acknowledged;
  }

  #changeFor(
    type: CacheEventType,
    key: string | undefined,
    value: unknown,
    version: Version,
    createdAt: number,
    timeToLiveSeconds: number,
    timeToIdleSeconds: number,
  ): ChangeMessage | undefined {
    const cache = this.port.cacheName;
    const as = this.#sentAs(type, key);
    if (as === undefined) return undefined;
    if (as === MessageType.RemoveAll) return { type: as, cache, version };
    if (as !== MessageType.Put) return { type: as, cache, key: key as string, version };
    return { type: as, cache, key: key as string, value, version, createdAt, timeToLiveSeconds, timeToIdleSeconds };
  }

  /** Sends, counting live changes; false (and logged) when the send threw. */
  #send(state: PeerState, message: SessionMessage): boolean {
    try {
      state.peer.send(message);
    } catch (error) {
      this.#logger.error({ cache: this.port.cacheName, peer: state.peer.node, err: error }, 'could not send to peer');
      return false;
    }
    if (message.type === MessageType.Digest) state.digests++;
    if (message.type === MessageType.Batch) {
      const count = 'count' in message ? (message.count as number) : message.changes.length;
      this.#sent += count;
      state.sent += count;
    }
    return true;
  }
}

/** The core's form of a change other than a put (puts go through applyRemotePut). */
function toRemoteChange(change: Exclude<ChangeMessage, PutMessage>, taught: boolean): RemoteChange<unknown> {
  switch (change.type) {
    case MessageType.Remove:
      return { type: 'remove', key: change.key, version: change.version, taught };
    case MessageType.Expire:
      return { type: 'expire', key: change.key, version: change.version };
    case MessageType.RemoveAll:
      return { type: 'removeAll', version: change.version };
  }
}

function roleOf(state: PeerState): 'link' | 'broadcast' | 'repair' {
  return state.peer.role ?? 'link';
}
