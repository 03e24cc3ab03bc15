/**
 * A peer link: one authenticated session with one peer, carrying every cache the two share.
 * It routes the peer's messages to the replicator of their cache, answers Syncs, settles Acks,
 * and keeps the figures `peers()` shows (last seen, changes received, lag).
 *
 * Acknowledgements: a Sync asks the peer to answer with an Ack once it has applied everything
 * sent before it (frames are ordered on a link). Every acknowledged() call of one turn shares one
 * Sync, whose Ack covers them all. An Ack that does not come within the timeout, or a link that
 * closes first, settles as false: a timeout, never an error.
 *
 * Lag is measured on live batches only (not on repair answers, which carry old versions): the
 * receiver's wall clock minus the newest version time in the batch. Clocks of different hosts
 * differ, so it is an estimate; the HLC keeps versions from running ahead of it.
 *
 * Versions: the link speaks the protocol version the handshake agreed on, and sends only the
 * message types that version has (protocol/versions.ts): a feature of a newer version is off on
 * a link to an older node. From protocol 3, each end sends the other its wall clock when the
 * link comes up and every CLOCK_SAMPLE_MILLIS, so both see a clock past the drift bound at once
 * (the peer's changes would be refused): the link's state says 'skewed' and both log it. A
 * message of a type this node does not know is counted (unknownMessages: peers() shows it) and
 * logged once per type, and skipped.
 *
 * Large frames are applied a slice at a time (APPLY_SLICE changes), yielding to the event loop
 * between slices; the session holds back the messages after it meanwhile (session.ts, Handling),
 * so the order the peer sent in is the order things apply in (a Sync's Ack still follows every
 * change sent before it). Why: applied in one go, a frame of a megabyte held the event loop for
 * some ten milliseconds, during which nothing read the socket; a joiner then waited, frame after
 * frame, for the next one's bytes, which only began to flow once it read again. Between slices
 * the connection is read (what arrives waits, undecoded), a gateway's requests are served, and
 * timers run. A link that closes stops applying at the next slice: what was not applied comes
 * back by repair.
 *
 * Bootstrap progress. A joiner taking a million entries from a peer takes tens of seconds, and
 * only its end was logged ('bootstrap from peer done'): an operator watching the log could not
 * tell a bootstrap moving from one stuck. So while a cache of the link has not finished its first
 * repair from the peer, the link counts the entries its Entries frames bring for such caches, and
 * the keys the peer lists (Keys) for them, a frame at a time (one addition per frame, nothing per
 * entry), and says at info how far it got when a frame comes BOOTSTRAP_PROGRESS_MILLIS or more
 * after the bootstrap began or after the last such line. No timer: a bootstrap that moves says so
 * at most once per period, one that does not move says nothing (ready() stops waiting for it
 * after socketTimeoutMillis of silence, bootstrapSettled). The total is not said: the peer's
 * digest carries no count, so a joiner does not know how many entries are coming.
 *
 * Which caches a link carries. Each end starts with its own list (the caches it replicates, or
 * those the dialled path named), and the two can differ: a node not yet given a cache its peers
 * have (a configuration rolled out node by node), or a path naming a cache the listener does not
 * replicate. From protocol 4 each end sends its list first thing (LinkCaches), and each then
 * carries only the caches both named: a cache the peer does not carry leaves this link, so that
 * neither ready() waits for its bootstrap nor settle() counts the peer as acknowledging it (both
 * did, while the peer dropped what it was sent). Below protocol 4 each end keeps its own list.
 */
import {
  type Cancel,
  compareVersions,
  type Logger,
  type Scheduler,
  systemScheduler,
  type Version,
} from '@meshcache/core';
import type { CacheReplicator, ReplicationPeer } from './cache-replicator.js';
import { HeldLag } from './held-lag.js';
import type { HybridLogicalClock } from './hlc.js';
import { OncePerWindow } from './once-per-window.js';
import { applyInRuns, newestTime } from './prefetch-runs.js';
import { type ChangeMessage, MessageType } from './protocol/messages.js';
import { messagesOf } from './protocol/versions.js';
import type { Session, SessionMessage } from './session.js';
import { CloseCode } from './transport/transport.js';

export interface PeerLinkOptions {
  readonly session: Session;
  readonly node: string;
  readonly url: string;
  readonly dialledByUs: boolean;
  /** The caches this link carries (both sides must replicate them). */
  readonly caches: readonly string[];
  readonly replicators: ReadonlyMap<string, CacheReplicator>;
  readonly hlc: HybridLogicalClock;
  readonly logger: Logger;
  /** How long an acknowledgement may take (socketTimeoutMillis). */
  readonly ackTimeoutMillis: number;
  /** The protocol version the handshake agreed on. */
  readonly protocol: number;
  /** Timers and the clock of lastSeen. @default system */
  readonly scheduler?: Scheduler;
  /**
   * Bytes the connection may hold unsent before the link is closed (4008) rather than queue
   * more: a peer that does not read must not grow this node's memory. @default 256 MiB
   */
  readonly maxUnsentBytes?: number;
  /** The most changes of a frame applied in one turn of the event loop. @default APPLY_SLICE */
  readonly applySlice?: number;
  /**
   * The bound on what every link of the node holds unsent together (a peer with many names, each
   * link at its own bound, had no bound at all); the link holding the most goes when it is passed.
   */
  readonly unsentBudget?: UnsentBudget;
}

/**
 * Unsent bytes a link holds before the links' shared budget is looked at (one that reads holds
 * next to none). Not more than a repair holds a link to before it waits (2 MiB): at 16 MiB, 800
 * links under different names that read nothing each held a repair's 2 MiB, 6 GB in all, and the
 * budget was never looked at.
 */
const BUDGET_CHECKED_FROM = 1024 * 1024;
/** What every peer link of a node may hold unsent together. */
export const MAX_TOTAL_UNSENT_BYTES = 1024 * 1024 * 1024;

/** The unsent bytes of a node's links together, and which link gives way when they pass the bound. */
export class UnsentBudget {
  readonly #links = new Set<PeerLink>();
  /** The bound on what the links hold unsent together. */
  readonly maxBytes: number;

  constructor(maxBytes = MAX_TOTAL_UNSENT_BYTES) {
    this.maxBytes = maxBytes;
  }

  add(link: PeerLink): void {
    this.#links.add(link);
  }

  delete(link: PeerLink): void {
    this.#links.delete(link);
  }

  /** The link holding the most, when all together hold more than the bound; else undefined. */
  overdrawn(): PeerLink | undefined {
    let total = 0;
    let heaviest: PeerLink | undefined;
    let most = 0;
    for (const link of this.#links) {
      const unsent = link.session.connection.bufferedAmount;
      total += unsent;
      if (unsent > most) {
        most = unsent;
        heaviest = link;
      }
    }
    return total > this.maxBytes ? heaviest : undefined;
  }
}

export const DEFAULT_MAX_UNSENT_BYTES = 256 * 1024 * 1024;
/** How often each end of a protocol 3 link tells the other its wall clock. */
export const CLOCK_SAMPLE_MILLIS = 10_000;
/** Each change of a peer's clock state (skewed, in step again) is logged loud at most once in this long. */
const SKEW_LOG_MILLIS = 60_000;
/** While a bootstrap from the peer moves, a line at most this often says how far it got (see the top of this file). */
export const BOOTSTRAP_PROGRESS_MILLIS = 5000;
/** Unknown cache names remembered (and logged) per link; past it, one more line and silence. */
const MAX_IGNORED_CACHES = 64;
/**
 * The most changes of a frame applied in one turn of the event loop (see the top of this file):
 * about a millisecond's work. A frame of at most this many is applied at once.
 */
export const APPLY_SLICE = 1024;

export class PeerLink {
  readonly session: Session;
  readonly node: string;
  readonly url: string;
  readonly dialledByUs: boolean;
  /** The caches this link carries: this end's list, less what the peer said it does not carry. */
  #caches: readonly string[];
  /** The caches the peer said it carries on this link (LinkCaches); undefined before it says (or below protocol 4). */
  #peerCaches: ReadonlySet<string> | undefined;
  /** Resolves when every shared cache has been repaired from this peer once. */
  readonly bootstrapped: Promise<void>;
  /** Epoch ms of the last frame from the peer, or null if none yet. */
  lastSeen: number | null = null;
  /**
   * When a message of a repair this node takes from the peer (Digest, Keys, Entries,
   * BootstrapDone) last came: what bootstrapSettled counts as progress. Any message counted
   * before, and a peer that sent a Sync every 500 ms and no repair kept ready() waiting for good.
   */
  #lastRepairAt: number | null = null;
  /** Live changes received from the peer. */
  changesReceived = 0;
  /** The lag of the last live batch from the peer. */
  readonly #lag = new HeldLag();
  /** Repairs of a shared cache from the peer that finished. */
  repairs = 0;
  /** The protocol version this link speaks. */
  readonly protocol: number;
  /** The peer's wall clock minus this node's, from its last ClockSample (ms); null before one (or below protocol 3). */
  clockOffsetMillis: number | null = null;
  /** Messages of types this node does not know, received on this link. */
  unknownMessages = 0;
  readonly #options: PeerLinkOptions;
  readonly #awaitingBootstrap: Set<string>;
  /** What the bootstrap took so far (entries, keys listed), when it began, and when it was last said. */
  readonly #bootstrapProgress = { entries: 0, keys: 0, startedAt: 0, saidAt: 0 };
  readonly #acks = new Map<number, (acknowledged: boolean) => void>();
  #bootstrapDone: () => void = () => {};
  #nextSync: Promise<boolean> | undefined;
  /** This link as the replicators know it (one object, so detach removes only this link's registration). */
  readonly #asPeer: ReplicationPeer;
  readonly #ignoredCaches = new Set<string>();
  /** The message types this link's version carries. */
  readonly #speaks: ReadonlySet<number>;
  readonly #unknownLogged = new Set<number>();
  #clockTimer: Cancel | undefined;
  readonly #scheduler: Scheduler;
  #skewLogged = false;
  /** Which clock-state changes (skewed, in step again) are logged loud now: each once per SKEW_LOG_MILLIS. */
  readonly #clockStateLogs: OncePerWindow;
  #syncIds = 0;
  readonly #maxUnsent: number;
  /** The backlog warning was written (#closeForBacklog). */
  #backlogWarned = false;

  constructor(options: PeerLinkOptions) {
    this.#options = options;
    this.session = options.session;
    this.node = options.node;
    this.protocol = options.protocol;
    this.#scheduler = options.scheduler ?? systemScheduler;
    const scheduler = this.#scheduler;
    this.#clockStateLogs = new OncePerWindow(() => scheduler.now(), SKEW_LOG_MILLIS);
    this.#speaks = messagesOf(options.protocol);
    this.#maxUnsent = options.maxUnsentBytes ?? DEFAULT_MAX_UNSENT_BYTES;
    this.#asPeer = {
      node: options.node,
      send: (message) => {
        if (!this.#speaks.has(message.type)) return; // the peer's version does not have it
        this.#send(message);
      },
      bufferedAmount: () => this.session.connection.bufferedAmount,
      acknowledged: () => this.acknowledged(),
      confirmsRepairs: this.#speaks.has(MessageType.Repaired),
    };
    this.url = options.url;
    this.dialledByUs = options.dialledByUs;
    this.#caches = options.caches.filter((cache) => options.replicators.has(cache));
    const budget = options.unsentBudget;
    if (budget !== undefined) {
      budget.add(this);
      this.session.connection.onClose(() => budget.delete(this));
    }
    this.#awaitingBootstrap = new Set(this.#caches);
    this.bootstrapped = new Promise((resolve) => {
      this.#bootstrapDone = resolve;
    });
    if (this.#awaitingBootstrap.size === 0) this.#bootstrapDone();
  }

  /**
   * Resolves when every shared cache has been repaired from this peer once, or the link closed,
   * or no repair message came from the peer for `silenceMillis` (a stalled repair is not waited
   * for, however much else the peer sends).
   */
  bootstrapSettled(silenceMillis: number): Promise<void> {
    if (this.#awaitingBootstrap.size === 0 || !this.session.connection.open) return Promise.resolve();
    return new Promise((resolve) => {
      const scheduler = this.#scheduler;
      const started = scheduler.now();
      const cancel = scheduler.setInterval(
        () => {
          const heard = this.#lastRepairAt ?? started;
          if (!this.session.connection.open || scheduler.now() - Math.max(heard, started) > silenceMillis) done();
        },
        Math.max(10, silenceMillis / 4),
      );
      const done = () => {
        cancel();
        resolve();
      };
      void this.bootstrapped.then(done);
    });
  }

  get caches(): readonly string[] {
    return this.#caches;
  }

  /** Joins the replicators and starts the repair of every shared cache, both ways. */
  attach(): void {
    // First on the link, so that the peer knows before any repair message which caches this end carries.
    if (this.#speaks.has(MessageType.LinkCaches)) this.#send({ type: MessageType.LinkCaches, caches: this.#caches });
    this.#bootstrapProgress.startedAt = this.#bootstrapProgress.saidAt = this.#scheduler.now();
    for (const cache of this.caches) this.#options.replicators.get(cache)?.addPeer(this.#asPeer);
    // After the replicators know the peer: messages that arrived early are handed over now.
    this.session.onMessage((message) => {
      try {
        const handling = this.#receive(message);
        return handling?.catch((error: unknown) => this.#couldNotHandle(message, error));
      } catch (error) {
        this.#couldNotHandle(message, error);
        return undefined;
      }
    });
    for (const cache of this.caches) this.#options.replicators.get(cache)?.requestRepair(this.node);
    if (this.#speaks.has(MessageType.ClockSample)) {
      this.#sendClock();
      this.#clockTimer = this.#scheduler.setInterval(() => this.#sendClock(), CLOCK_SAMPLE_MILLIS);
    }
  }

  /** The peer's clock is further from this node's than the drift bound: its changes are refused. */
  get skewed(): boolean {
    return this.clockOffsetMillis !== null && Math.abs(this.clockOffsetMillis) > this.#options.hlc.maxDriftMillis;
  }

  #sendClock(): void {
    this.#send({ type: MessageType.ClockSample, wallMillis: Math.round(this.#options.hlc.wallClock()) });
  }

  #onClockSample(wallMillis: number): void {
    const offset = wallMillis - this.#options.hlc.wallClock();
    this.clockOffsetMillis = offset;
    // A peer's samples may flip between skewed and in step as fast as it sends them: the state
    // changes are logged at most once a minute each (155,000 lines in 5 s before), at debug between.
    if (this.skewed && !this.#skewLogged) {
      this.#skewLogged = true;
      this.#options.logger[this.#clockStateLogs.first('skewed') ? 'error' : 'debug'](
        { peer: this.node, offsetMillis: Math.round(offset), maxDriftMillis: this.#options.hlc.maxDriftMillis },
        `the clock of peer ${this.node} is ${Math.abs(Math.round(offset / 1000))} s ${offset > 0 ? 'ahead of' : 'behind'} this node's, past the drift bound: changes from whichever clock is ahead are refused (E_CLOCK_DRIFT) until the clocks agree; check NTP on both hosts`,
      );
    } else if (!this.skewed && this.#skewLogged) {
      this.#skewLogged = false;
      this.#options.logger[this.#clockStateLogs.first('agree') ? 'info' : 'debug'](
        { peer: this.node, offsetMillis: Math.round(offset) },
        'the clocks of this node and its peer agree again',
      );
    }
  }

  /**
   * The peer said which caches it carries on this link: those it does not leave this end's list
   * (the peer drops what it is sent for them), said once. A later list (a peer sends one) is
   * taken the same way; a cache once left is not taken up again on this link.
   */
  #onPeerCaches(caches: readonly string[]): void {
    const named = new Set(caches);
    this.#peerCaches = named;
    const left = this.#caches.filter((cache) => !named.has(cache));
    if (left.length === 0) return;
    this.#caches = this.#caches.filter((cache) => named.has(cache));
    for (const cache of left) {
      this.#options.replicators.get(cache)?.removePeer(this.node, this.#asPeer, true);
      this.#awaitingBootstrap.delete(cache);
    }
    if (this.#awaitingBootstrap.size === 0) this.#bootstrapDone();
    this.#options.logger.info(
      { peer: this.node, caches: left },
      'the peer does not carry these caches on this link (it does not replicate them, or was not asked to); not replicated with it',
    );
  }

  /** Leaves the replicators; pending acknowledgements settle as false. */
  detach(): void {
    this.#clockTimer?.();
    for (const cache of this.caches) this.#options.replicators.get(cache)?.removePeer(this.node, this.#asPeer);
    for (const settle of [...this.#acks.values()]) settle(false);
  }

  /**
   * Asks the peer for its digest of `cache` again (AskDigest): on a link of protocol 6 or later,
   * for a cache the link carries; nothing otherwise (the peer's next anti-entropy round shows it).
   */
  askDigest(cache: string): void {
    if (this.caches.includes(cache)) this.#asPeer.send({ type: MessageType.AskDigest, cache });
  }

  /** A shared cache finished a repair from this peer (counted). True when that was its first. */
  repaired(cache: string): boolean {
    this.repairs++;
    if (!this.#awaitingBootstrap.delete(cache)) return false;
    if (this.#awaitingBootstrap.size === 0) this.#bootstrapDone();
    return true;
  }

  /** Resolves true once the peer acknowledged everything sent before this turn ended. */
  acknowledged(): Promise<boolean> {
    if (this.#nextSync !== undefined) return this.#nextSync;
    if (!this.session.connection.open) return Promise.resolve(false);
    const id = ++this.#syncIds;
    const promise = new Promise<boolean>((resolve) => {
      const settle = (acknowledged: boolean) => {
        cancel();
        this.#acks.delete(id);
        resolve(acknowledged);
      };
      const cancel = this.#scheduler.setTimeout(() => settle(false), this.#options.ackTimeoutMillis);
      this.#acks.set(id, settle);
    });
    this.#nextSync = promise;
    queueMicrotask(() => {
      this.#nextSync = undefined;
      try {
        this.#send({ type: MessageType.Sync, id });
      } catch {
        this.#acks.get(id)?.(false);
      }
    });
    return promise;
  }

  /**
   * Every message this link sends goes through here: past maxUnsentBytes unsent, the link is
   * closed instead (4008). An Ack is sent for each Sync, whatever the link carries: answered past
   * the bound, a peer that sent Syncs and read nothing grew a node by 25 MB a second.
   */
  #send(message: SessionMessage): void {
    const unsent = this.session.connection.bufferedAmount;
    if (unsent > this.#maxUnsent) {
      this.#closeForBacklog(this.#maxUnsent);
      return;
    }
    const budget = this.#options.unsentBudget;
    if (unsent > BUDGET_CHECKED_FROM && budget !== undefined) {
      const heaviest = budget.overdrawn();
      if (heaviest !== undefined) {
        // The bound said in its warning is the one it passed: the budget's, not its own.
        heaviest.#closeForBacklog(budget.maxBytes);
        if (heaviest === this) return;
      }
    }
    this.session.send(message);
  }

  #closeForBacklog(limit: number): void {
    // Said once: a link closing still holds its bytes for a moment, and every send meanwhile came
    // here again (a node dropping 289 such links wrote 6,876 warnings). Closed every time: a link
    // already closing for another reason (4002) keeps its bytes through ws's close timeout, and
    // only a close with 4008 drops them at once.
    const warned = this.#backlogWarned;
    this.#backlogWarned = true;
    if (!warned)
      this.#options.logger.warn(
        { peer: this.node, unsent: this.session.connection.bufferedAmount, limit },
        'peer does not read what it is sent; closing the link (it repairs when it comes back)',
      );
    this.session.close(CloseCode.Backlog, 'too many unsent bytes');
  }

  /**
   * Replication lag of the last live batch from the peer, in ms: null before the first, and once
   * none has come for LAG_HELD_MILLIS (held-lag.ts: an idle link is not a peer behind).
   */
  get lagMillis(): number | null {
    return this.#lag.shownAt(this.#options.hlc.wallClock());
  }

  /**
   * Counts what a frame brought a bootstrap, and says how far it got when BOOTSTRAP_PROGRESS_MILLIS
   * passed since it began or was last said (see the top of this file). Once per frame.
   */
  #tookForBootstrap(entries: number, keys: number): void {
    const progress = this.#bootstrapProgress;
    progress.entries += entries;
    progress.keys += keys;
    const now = this.#scheduler.now();
    if (now - progress.saidAt < BOOTSTRAP_PROGRESS_MILLIS) return;
    progress.saidAt = now;
    this.#options.logger.info(
      {
        peer: this.node,
        caches: [...this.#awaitingBootstrap],
        entries: progress.entries,
        // Only a joiner that holds something compares the peer's keys with its own (then pulls).
        keysCompared: progress.keys === 0 ? undefined : progress.keys,
        seconds: Math.round((now - progress.startedAt) / 1000),
      },
      'bootstrap from peer under way',
    );
  }

  /** A peer's frame must never take the process down: log it, keep serving. */
  #couldNotHandle(message: SessionMessage, error: unknown): void {
    this.#options.logger.error(
      { peer: this.node, type: message.type, err: error },
      'could not handle a message from peer',
    );
  }

  /** Handles a message: at once, or (a large frame of changes) a slice at a time, the promise settling once it is. */
  #receive(message: SessionMessage): Promise<void> | undefined {
    this.lastSeen = this.#scheduler.now();
    switch (message.type) {
      case MessageType.Sync: {
        // Every change before the Sync is applied by now, but a removeAll that waits for the next
        // second (cache-replicator.ts, #deferRemoveAll): the Ack waits for it, and the link does not.
        const waiting: Promise<void>[] = [];
        for (const cache of this.caches) {
          const applied = this.#options.replicators.get(cache)?.removeAllApplied();
          if (applied !== undefined) waiting.push(applied);
        }
        if (waiting.length === 0) this.#send({ type: MessageType.Ack, id: message.id });
        else void Promise.all(waiting).then(() => this.#send({ type: MessageType.Ack, id: message.id }));
        return;
      }
      case MessageType.Ack:
        this.#acks.get(message.id)?.(true);
        return;
      case MessageType.Batch:
        return this.#applyAll(message.changes, () => {
          this.changesReceived += message.changes.length;
          this.#lag.record(newestTime(message.changes), this.#options.hlc.wallClock());
        });
      case MessageType.Entries: {
        this.#lastRepairAt = this.lastSeen;
        // A repair's Entries frame holds one cache's entries: its first change names the cache.
        const cache = message.changes[0]?.cache;
        const bootstrapping = cache !== undefined && this.#awaitingBootstrap.has(cache);
        const counted = bootstrapping ? () => this.#tookForBootstrap(message.changes.length, 0) : undefined;
        return this.#applyAll(message.changes, counted, true);
      }
      case MessageType.Digest:
      case MessageType.Keys:
      case MessageType.BootstrapDone:
        this.#lastRepairAt = this.lastSeen;
        this.#replicatorFor(message.cache)?.receiveRepair(message, this.node);
        if (message.type === MessageType.Keys && this.#awaitingBootstrap.has(message.cache)) {
          this.#tookForBootstrap(0, message.items.length);
        }
        return;
      case MessageType.RepairRequest:
      case MessageType.Pull:
      case MessageType.SkipRounds:
      case MessageType.AskDigest:
      case MessageType.Repaired:
        this.#replicatorFor(message.cache)?.receiveRepair(message, this.node);
        return;
      case MessageType.Lease:
        this.#replicatorFor(message.cache)?.receiveLease(message, this.node);
        return;
      case MessageType.ClockSample:
        this.#onClockSample(message.wallMillis);
        return;
      case MessageType.LinkCaches:
        this.#onPeerCaches(message.caches);
        return;
      case MessageType.Unknown:
        this.unknownMessages++;
        if (!this.#unknownLogged.has(message.number) && this.#unknownLogged.size < 64) {
          this.#unknownLogged.add(message.number);
          this.#options.logger.warn(
            { peer: this.node, type: message.number, protocol: this.protocol },
            'a message of a type this release does not know (a newer peer?); skipped (logged once per type)',
          );
        }
        return;
      case MessageType.AdminRequest:
      case MessageType.AdminResponse:
        this.#options.logger.warn({ peer: this.node }, 'admin message on a peer link; closing it');
        this.session.close(CloseCode.ProtocolError, 'admin messages belong on an admin session');
        return;
      default:
        this.#replicatorFor(message.cache)?.apply(message, this.node);
        this.changesReceived++;
        this.#lag.record(message.version.time, this.#options.hlc.wallClock());
    }
  }

  /**
   * Applies a frame's changes (a batch, a repair's entries), then runs `applied`: at once when
   * they are at most APPLY_SLICE, else a slice at a time (see the top of this file), answering
   * the promise of when they are. A link closed meanwhile applies no further slice.
   */
  #applyAll(changes: readonly ChangeMessage[], applied?: () => void, taught = false): Promise<void> | undefined {
    const replicatorFor = (cache: string) => this.#replicatorFor(cache);
    const skip = overtakenRemoveAlls(changes);
    const slice = this.#options.applySlice ?? APPLY_SLICE;
    if (changes.length <= slice) {
      applyInRuns(changes, this.node, replicatorFor, skip, 0, changes.length, taught);
      applied?.();
      return undefined;
    }
    const slices = async () => {
      for (let at = 0; at < changes.length; ) {
        if (at > 0) {
          await this.#scheduler.nextTurn();
          if (!this.session.connection.open) return;
        }
        at = applyInRuns(changes, this.node, replicatorFor, skip, at, at + slice, taught);
      }
      applied?.();
    };
    return slices();
  }

  #replicatorFor(cache: string): CacheReplicator | undefined {
    const replicator = this.#caches.includes(cache) ? this.#options.replicators.get(cache) : undefined;
    // A cache the peer said it carries and this end does not: its first messages crossed the
    // LinkCaches that leaves it out on the peer's end. Expected, so not logged.
    if (replicator === undefined && this.#peerCaches?.has(cache) === true) return undefined;
    // Once per cache and link: a batch of 100,000 such changes must not become 100,000 log lines,
    // and a peer inventing names must not grow memory: past MAX_IGNORED_CACHES, one last line.
    if (replicator === undefined && !this.#ignoredCaches.has(cache) && this.#ignoredCaches.size <= MAX_IGNORED_CACHES) {
      const last = this.#ignoredCaches.size === MAX_IGNORED_CACHES;
      this.#ignoredCaches.add(last ? '' : cache);
      this.#options.logger.warn(
        { peer: this.node, cache: last ? undefined : cache },
        last
          ? `messages for more than ${MAX_IGNORED_CACHES} caches not replicated with this peer; no longer logged on this link`
          : 'messages for a cache not replicated with this peer; ignored (logged once per link)',
      );
    }
    return replicator;
  }
}

/**
 * The removeAlls of a batch that a later removeAll of the same cache in it overtakes (one at the
 * same version or newer, which clears all they would, and whatever came between them that is
 * older): their places, or undefined when the batch holds fewer than two. Applying only the last
 * leaves the cache as applying each would (unless that last one is refused, its version past the
 * drift bound: only a misbehaving peer sends one, and the Digest of a repair carries the last
 * removeAll of a cache anyway). Each remote removeAll walks the whole cache and its
 * tombstones: a peer holding the secret sent 100,000 in one frame of 1.4 MB, each newer by a
 * counter and clearing nothing, and the node spent 73 s on it.
 */
export function overtakenRemoveAlls(changes: readonly ChangeMessage[]): Set<number> | undefined {
  let count = 0;
  for (const change of changes) if (change.type === MessageType.RemoveAll && ++count > 1) break;
  if (count < 2) return undefined;
  const overtaken = new Set<number>();
  const newestAfter = new Map<string, Version>();
  for (let i = changes.length - 1; i >= 0; i--) {
    const change = changes[i] as ChangeMessage;
    if (change.type !== MessageType.RemoveAll) continue;
    const later = newestAfter.get(change.cache);
    if (later !== undefined && compareVersions(later, change.version) >= 0) overtaken.add(i);
    else newestAfter.set(change.cache, change.version);
  }
  return overtaken;
}
