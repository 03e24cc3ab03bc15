/**
 * The Redis Streams backplane: a cluster's replication through one Redis instead of a full mesh
 * of peer links (docs/backplane.md). A writer sends each change once, whatever the number of
 * nodes, and every node reads every change from Redis.
 *
 * The model. One stream per cluster carries every cache's changes: the same versioned, coalesced
 * batches the mesh sends (protocol/codec.ts), sealed (entry-seal.ts). To the cache replicators the
 * stream is one peer of role 'broadcast': their queues, coalescing, byte bounds and synchronous
 * acknowledgements (an XADD Redis answered) work unchanged. Every node reads the stream with
 * XREAD BLOCK from the last id it read, together with its own inbox stream, and skips its own
 * entries. Presence is a hash of sealed heartbeats; the nodes it lists are the replicators' peers
 * of role 'repair', reached through their inboxes, so repair is the mesh's own digest exchange
 * (repair/cache-repair.ts), carried by Redis.
 *
 * Gaps. On start, and whenever the connection to Redis comes back, the reader checks its position
 * against the stream: a stream whose generation changed (Redis lost its data and the key was
 * made anew), whose last id is behind the node's (entries lost), or whose trimming passed entries
 * the node had not read (MAXLEN, MINID, XDEL), is a gap; so is an entry refused as older than the
 * replay window (a reader too far behind). A gap, and a fresh start, are repaired the same way: the
 * node reads on (after a trim or a deletion from its last id, skipping nothing the stream still
 * holds; a new stream from its start; else from the end: stream-reader.ts) and runs a two-way
 * digest exchange with one live member (trying up to three), by the same version rules as the
 * mesh. A short outage is no gap: the
 * reader goes on from its last id, and writers write what waited. Nothing is lost, nothing is
 * cleared.
 *
 * Anti-entropy. Every repairIntervalMillis (jittered), a node whose cache changed sends its digest
 * to one live member picked at random, which pulls what it lacks: constant work per node whatever
 * the cluster's size, and a change that reached one node reaches all in a few rounds.
 *
 * While Redis is down the node serves from its caches as always; writes queue (bounded by the
 * replicator's byte bound, past which the cache's digest is sent to every member once Redis is
 * back), and the reader waits for Redis.
 *
 * This file composes: backplane-config.ts (options), entry-seal.ts and replay-guard.ts (what may
 * be applied), stream-writer.ts and stream-reader.ts (the two connections), stream-probe.ts (the
 * gap rule), members.ts (presence), redis-leases.ts (single flight), keys.ts (key names).
 *
 * Not guaranteed: that a repair source is itself up to date (anti-entropy covers what it lacked);
 * order between caches beyond one writer's; anything while a gap is being repaired beyond what
 * versions give (an entry applied during repair is applied by version, so repair and stream can
 * overlap harmlessly).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Cancel, Logger, Scheduler } from '@meshcache/core';
import { Redis, type RedisOptions } from 'ioredis';
import { Packr, Unpackr } from 'msgpackr';
import type { CacheReplicator, ReplicationPeer, SingleFlightFactory } from '../cache-replicator.js';
import { HeldLag } from '../held-lag.js';
import type { HybridLogicalClock } from '../hlc.js';
import { OncePerWindow } from '../once-per-window.js';
import { applyInRuns, newestTime } from '../prefetch-runs.js';
import { ProtocolError, WireCodec } from '../protocol/codec.js';
import { type ChangeMessage, type Message, MessageType } from '../protocol/messages.js';
import type { ResolvedBackplaneConfig } from './backplane-config.js';
import {
  EntrySealer,
  KIND_CONTROL,
  KIND_MESSAGE,
  type SealError,
  type SealedKind,
  type SealHeader,
} from './entry-seal.js';
import { BackplaneKeys, parseStreamId } from './keys.js';
import { loggedError } from './logged-error.js';
import { decodePresence, encodePresence, Members, type PresenceRecord } from './members.js';
import { RedisLeases } from './redis-leases.js';
import { ReplayGuard } from './replay-guard.js';
import { NOT_A_STREAM, type Probe, probeStream } from './stream-probe.js';
import { type EntryOutcome, StreamReader } from './stream-reader.js';
import { StreamWriter } from './stream-writer.js';

export type BackplaneState = 'connecting' | 'connected' | 'down';

/** What `meshcache peers` and the statistics show of the backplane. */
export interface BackplaneInfo {
  readonly type: 'redis';
  /** The Redis URL, without its password. */
  readonly url: string;
  readonly state: BackplaneState;
  /** The changes stream's key. */
  readonly stream: string;
  /** The id of the last changes entry this node read; null before the first position. */
  readonly lastId: string | null;
  /** Entries of the stream this node has not read yet (from the last probe); null before one. */
  readonly lag: number | null;
  /** Wall clock minus the newest version of the last batch read (ms); null before one. */
  readonly lagMillis: number | null;
  /** Live members (presence seen within five heartbeats), this node not counted. */
  readonly members: number;
  /** Repairs of a cache from a member that finished. */
  readonly repairs: number;
  /** Gaps found (fresh starts not counted): each repaired by digest, at once or once a member can (repairOwed). */
  readonly gaps: number;
  /**
   * A repair is due (a start, a gap) that no member could give yet (none live, or each stalled):
   * the next member seen live gives it. What a node missed meanwhile is not held here.
   */
  readonly repairOwed: boolean;
  /** Entries this node wrote to the changes stream, and read from it, since start. */
  readonly entriesWritten: number;
  readonly entriesRead: number;
  /** Bytes waiting to be written to Redis. */
  readonly pendingBytes: number;
  /** Repair messages for an inbox that Redis refuses for good (someone made it another type): dropped, and logged. */
  readonly writesDropped: number;
  /**
   * Entries refused: not sealed with the cluster secret, replayed, older than the replay window, or
   * sealed with it but not understood (a change of a newer release, or damaged: undecodable).
   */
  readonly refused: {
    readonly unauthenticated: number;
    readonly replayed: number;
    readonly stale: number;
    readonly undecodable: number;
  };
  /** Epoch ms of the last change of state. */
  readonly since: number;
  /**
   * Why the backplane is not connected, as the log said it: Redis unreachable (`connect
   * ECONNREFUSED ...`), refusing the password (`WRONGPASS ...`), answering the heartbeat with an
   * error (`OOM ...`; the newest while it keeps failing) or not in time (`Command timed out`),
   * refusing the URL's database, or the connection lost. null while connected, and before the
   * first failure.
   */
  readonly reason: string | null;
  /**
   * The last gap found in the changes stream (each repaired by digest): why (`the stream is a new
   * one (Redis lost its data)`, entries trimmed or deleted before this node read them...) and when
   * (epoch ms). null before one. A gap passes while the backplane is connected: this says what
   * happened to the stream after the state came back.
   */
  readonly lastGap: { readonly why: string; readonly at: number } | null;
}

/** A member as `peers()` lists it. */
export interface BackplaneMember {
  readonly id: string;
  readonly url: string;
  /** 'skewed': its clock is past the drift bound from this node's (Members.skewed). */
  readonly state: 'connected' | 'skewed' | 'down';
  readonly caches: readonly string[];
  readonly lastSeen: number;
  /** Its clock minus this node's, from its newest presence record; null before one was read. */
  readonly clockOffsetMillis: number | null;
  readonly changesReceived: number;
  readonly lagMillis: number | null;
  readonly repairs: number;
}

export interface RedisBackplaneOptions {
  readonly config: ResolvedBackplaneConfig;
  readonly node: string;
  readonly cluster: string;
  /** Stretched keys of the cluster secret, the current one first, then those still accepted. */
  readonly psks: readonly Buffer[];
  readonly hlc: HybridLogicalClock;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  /** Connect timeout, repair silence, and how long ready() waits for Redis. */
  readonly socketTimeoutMillis: number;
}

/** The name the stream goes by among a replicator's peers. */
export const STREAM_PEER = '(backplane)';
/** Members tried, one after another, for one repair. */
const REPAIR_TRIES = 3;
/** Most log lines about refused entries per minute. */
const REFUSAL_LOGS_PER_MINUTE = 5;

/** A member's offers of one cache are answered at most once this often (#answerOffer). */
const OFFER_EVERY_MILLIS = 1000;
/** A members hash with more fields than this is said in the log (no cluster has that many nodes). */
const MANY_MEMBER_FIELDS = 10_000;
/** Refusals of what other nodes sealed, none ever opened, before this node says its secret is not the cluster's. */
const ISLAND_AFTER = 10;

const control = { packr: new Packr({ useRecords: false }), unpackr: new Unpackr({ useRecords: false }) };

export class RedisBackplane {
  readonly #options: RedisBackplaneOptions;
  readonly #keys: BackplaneKeys;
  readonly #inbox: string;
  readonly #sealer: EntrySealer;
  readonly #guard: ReplayGuard;
  /** Which members' clock states (skewed, in step again) are logged loud now. */
  readonly #clockLogs: OncePerWindow;
  readonly #command: Redis;
  readonly #reader: Redis;
  readonly #stream: StreamReader;
  readonly #writer: StreamWriter;
  readonly #members: Members;
  readonly #replicators = new Map<string, CacheReplicator>();
  readonly #streamPeer: ReplicationPeer;
  readonly #repairPeers = new Map<string, ReplicationPeer>();
  readonly #leaseNameKey: Buffer;
  readonly #timers: Cancel[] = [];
  #url = '';
  #state: BackplaneState = 'connecting';
  #since: number;
  /** When this node started (its clock): a record or entry of its name sealed since is another process's. */
  readonly #startedAt: number;
  /** Another process under this node's name was said (#sameName). */
  #sameNameSaid = false;
  #serverOffset = 0;
  /** The lag of the last batch read. */
  readonly #lag = new HeldLag();
  #repairs = 0;
  #refused = { unauthenticated: 0, replayed: 0, stale: 0, undecodable: 0 };
  /** When an undecodable change last started a repair (at most one a minute). */
  #undecodableRepairAt: number | undefined;
  /** An undecodable change came within that minute: its repair waits for the minute's end. */
  #undecodableRepairDue = false;
  #refusalLogs = { minute: 0, count: 0 };
  #stopped = false;
  #bootstrapping: Promise<void> | undefined;
  #bootstrapAgain = false;
  /** A repair no member could give when it was due (#bootstrap): given by the next member seen live. */
  #repairOwed: 'start' | 'gap' | undefined;
  /**
   * Members a repair stalled on since this node was last repaired. onLive comes at every read of
   * the presence hash, so a member live by its records that never answers was asked the owed
   * repair again every few seconds, for ever: a warning and every cache's digest each time. It is
   * asked again once it went silent or restarted (#memberAway) and came back.
   */
  readonly #stalled = new Set<string>();
  readonly #repairWaits = new Map<string, { caches: Set<string>; done: () => void }>();
  /** Repairs that stalled, by member: the caches not repaired from it yet, should it answer late (#repairedLate). */
  readonly #lateRepairs = new Map<string, Set<string>>();
  /**
   * Members that asked for this node's digests (an offer) while its own repair was under way, and
   * the caches they asked for. What they got showed this node before that repair. When every node
   * finds a gap at once, a member that repaired from this node, and finished first, missed what
   * this node was still to learn (an entry only a third node had read); with anti-entropy off
   * nothing showed it to them later. So once the repair is over, each gets the digest again of
   * every such cache that changed since (#offerAgain).
   */
  readonly #askedWhileRepairing = new Map<string, Set<string>>();
  /** Per member and cache, when its last offer was answered, and whether one waits (#answerOffer). */
  readonly #offersAnswered = new Map<string, Map<string, { at: number; waiting: boolean }>>();
  readonly #ready: Promise<void>;
  #resolveReady: () => void = () => {};
  /**
   * What the log said of Redis failing since the backplane was last connected: said once per kind,
   * so that a Redis back, but refusing the password (rotated while it was away), is said as such
   * after "unreachable" (it was not: the last line said unreachable for as long as it refused).
   */
  #downLogged: false | 'unreachable' | 'refused' = false;
  /**
   * Why the backplane is down, for `peers` and /status (info().reason): only the log said it, so
   * an operator saw `down` and had to find the node's log for WRONGPASS or a refused connection.
   * Set where the log line is written; cleared once connected.
   */
  #downReason: string | undefined;
  #lastGap: BackplaneInfo['lastGap'] = null;
  /** The last heartbeat had an answer (a connection can be open to a Redis that does not answer). */
  #answering = true;

  constructor(options: RedisBackplaneOptions) {
    this.#options = options;
    this.#since = options.scheduler.now();
    this.#startedAt = options.hlc.wallClock();
    const { config } = options;
    this.#keys = new BackplaneKeys(config.keyPrefix, options.cluster);
    this.#inbox = this.#keys.inbox(options.node);
    this.#sealer = new EntrySealer({ cluster: options.cluster, writer: options.node, psks: options.psks });
    this.#clockLogs = new OncePerWindow(() => options.scheduler.now());
    this.#guard = new ReplayGuard({
      windowMillis: config.replayWindowMillis,
      maxDriftMillis: options.hlc.maxDriftMillis,
      clock: () => options.hlc.wallClock(),
    });
    this.#leaseNameKey = createHmac('sha256', options.psks[0] as Buffer)
      .update(`meshcache/backplane/lease-names\u0000${options.cluster}`)
      .digest();
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.socketTimeoutMillis,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 1000),
      ...(config.tls ? { tls: config.ca === undefined ? {} : { ca: config.ca } } : {}),
    };
    // Commands time out (a Redis that stopped answering without closing the connection); the
    // reader's blocking XREAD cannot, and simply waits.
    this.#command = new Redis(config.url, {
      ...redisOptions,
      commandTimeout: Math.max(1000, options.socketTimeoutMillis),
      connectionName: `meshcache:${options.node}`,
    });
    this.#reader = new Redis(config.url, { ...redisOptions, connectionName: `meshcache:${options.node}:reader` });
    this.#url = redact(config.url);
    this.#writer = new StreamWriter({
      redis: this.#command,
      sealer: this.#sealer,
      changesKey: this.#keys.changes,
      maxLength: config.maxLength,
      windowMillis: config.replayWindowMillis,
      clock: () => options.hlc.wallClock(),
      serverOffset: () => this.#serverOffset,
      logger: options.logger,
      scheduler: options.scheduler,
    });
    this.#streamPeer = {
      node: STREAM_PEER,
      role: 'broadcast',
      send: (message) => {
        if (message.type === MessageType.Batch) {
          this.#writer.enqueue(this.#keys.changes, KIND_MESSAGE, encodeEntry(message));
        }
      },
      bufferedAmount: () => this.#writer.pendingBytes,
      acknowledged: () => this.#writer.written(options.socketTimeoutMillis),
    };
    this.#ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
    this.#stream = new StreamReader({
      redis: this.#reader,
      changesKey: this.#keys.changes,
      inboxKey: this.#inbox,
      logger: options.logger,
      scheduler: options.scheduler,
      probe: (client, at) => this.#probe(client, at),
      onEntry: (key, changes, sealed, id) => this.#onEntry(key, changes, sealed, id),
      onFirstPosition: () => void this.#bootstrap('start'),
      onGap: (why) => {
        this.#lastGap = { why, at: options.scheduler.now() };
        void this.#bootstrap('gap');
      },
    });
    this.#members = new Members({
      heartbeatMillis: config.heartbeatMillis,
      clock: () => options.hlc.wallClock(),
      maxDriftMillis: options.hlc.maxDriftMillis,
      onRestarted: (name) => this.#memberAway(name),
      onLive: (name) => {
        this.#ensureRepairPeer(name);
        const canRepair = this.#members.isSource(name) && !this.#stalled.has(name);
        if (this.#repairOwed !== undefined && this.#bootstrapping === undefined && canRepair) {
          void this.#bootstrap(this.#repairOwed);
        }
      },
      onGone: (name) => this.#memberAway(name),
      // As a mesh link says it (peer-link.ts): when it happens and when it is over, each at most
      // once a minute per member (a clock near the bound may flip at every record), debug between.
      onClock: (name, skewed, offset) => {
        const seconds = Math.round(Math.abs(offset) / 1000);
        const loud = this.#clockLogs.first(`${skewed ? 'skewed' : 'agree'} ${name}`);
        if (skewed) {
          options.logger[loud ? 'error' : 'debug'](
            { member: name, clockOffsetMillis: offset, maxDriftMillis: options.hlc.maxDriftMillis },
            `backplane: member ${name}'s clock is ${seconds} s ${offset > 0 ? 'ahead of' : 'behind'} this node's, past the drift bound: ${offset > 0 ? 'its entries are refused here as from the future' : 'it refuses this node’s entries as from the future'}; run NTP on both hosts`,
          );
        } else {
          options.logger[loud ? 'info' : 'debug'](
            { member: name, clockOffsetMillis: offset },
            `backplane: member ${name}'s clock is within the drift bound of this node's again`,
          );
        }
      },
    });
  }

  /** Cluster-wide single flight for the replicators: a lease in Redis (SET NX PX). */
  readonly singleFlight: SingleFlightFactory = (context) =>
    new RedisLeases({
      port: context.port,
      redis: this.#command,
      leaseKey: (digest) => this.#keys.lease(digest),
      nameKey: this.#leaseNameKey,
      holder: `${this.#options.node}:${this.#sealer.incarnationHex}`,
      leaseMillis: context.settings.singleFlightLeaseMillis,
      logger: this.#options.logger,
      scheduler: context.scheduler,
      flush: context.flush,
      settle: context.settle,
      lastWrittenId: () => this.#writer.lastChangesId,
      readPosition: () => this.#stream.lastId ?? undefined,
    });

  /** Joins the replicators, connects, and starts reading, writing and the first repair. */
  start(replicators: ReadonlyMap<string, CacheReplicator>, url: string): void {
    this.#url = redact(this.#options.config.url);
    for (const [name, replicator] of replicators) {
      this.#replicators.set(name, replicator);
      replicator.addPeer(this.#streamPeer);
    }
    this.#listenerUrl = url;
    for (const client of [this.#command, this.#reader]) {
      client.on('ready', () => this.#connectionChanged());
      client.on('close', () => this.#connectionChanged());
      client.on('error', (error: Error) => {
        if ((error as { command?: { name?: string } }).command?.name === 'select') {
          this.#refusedDatabase(error);
          return;
        }
        // Never connected, and failing (unreachable, a wrong password): down, not 'connecting' for
        // ever, where an alert on 'down' never fired.
        if (this.#state === 'connecting') {
          this.#state = 'down';
          this.#since = this.#options.scheduler.now();
        }
        const kind = AUTH_REFUSED.test(error.message) ? 'refused' : 'unreachable';
        // The newest error is the reason shown, even when the log does not say it again.
        this.#downReason =
          kind === 'refused'
            ? `Redis refused the user or password of backplane.url: ${error.message}`
            : `Redis unreachable: ${error.message}`;
        if (this.#downLogged !== kind) {
          this.#downLogged = kind;
          // Reached, but refusing the URL's user or password: not "unreachable" (what it said).
          if (kind === 'refused') {
            this.#options.logger.error(
              { url: this.#url, err: loggedError(error) },
              `backplane: Redis refused the user or password of backplane.url (${error.message}); serving from local caches and retrying: correct the password in backplane.url (percent-encoded), or Redis's (requirepass, ACL user)`,
            );
          } else {
            this.#options.logger.warn(
              { url: this.#url, err: loggedError(error) },
              'backplane: Redis unreachable; serving from local caches and retrying',
            );
          }
        }
      });
      client.connect().catch(() => {}); // retried by the retry strategy; 'error' logs it
    }
    const { scheduler } = this.#options;
    this.#timers.push(scheduler.setInterval(() => void this.#heartbeat(), this.#options.config.heartbeatMillis));
    for (const replicator of this.#replicators.values()) {
      const every = replicator.settings.repairIntervalMillis;
      if (every > 0) this.#scheduleAntiEntropy(replicator, every, new Map());
    }
    // ready() does not wait for a Redis that does not answer (once it answers, ready() waits for
    // the first repair however long it streams, as on the mesh).
    this.#timers.push(
      scheduler.setTimeout(() => {
        if (this.#stream.lastId === null) this.#resolveReady();
      }, this.#options.socketTimeoutMillis),
    );
    this.#stream.start();
  }

  #listenerUrl = '';

  /** Resolves once the first repair from a member has finished (at once when alone), or Redis did not answer. */
  ready(): Promise<void> {
    return this.#ready;
  }

  info(): BackplaneInfo {
    return {
      type: 'redis',
      url: this.#url,
      state: this.#state,
      stream: this.#keys.changes,
      lastId: this.#stream.lastId,
      lag: this.#stream.lag,
      lagMillis: this.#lag.shownAt(this.#options.hlc.wallClock()),
      members: this.#members.live().length,
      repairs: this.#repairs,
      gaps: this.#stream.gaps,
      repairOwed: this.#repairOwed !== undefined,
      entriesWritten: this.#writer.entriesWritten,
      entriesRead: this.#stream.entriesRead,
      pendingBytes: this.#writer.pendingBytes,
      writesDropped: this.#writer.dropped,
      refused: { ...this.#refused },
      since: this.#since,
      reason: this.#state === 'connected' ? null : (this.#downReason ?? null),
      lastGap: this.#lastGap,
    };
  }

  members(): BackplaneMember[] {
    return [...this.#members.entries()].map(([id, member]) => ({
      id,
      url: member.url,
      state: this.#members.skewed(member) ? 'skewed' : this.#members.alive(member) ? 'connected' : 'down',
      caches: member.caches,
      clockOffsetMillis: member.clockOffsetMillis,
      // When this node last heard from it, by its own clock (as on the mesh), not the writer's.
      lastSeen: member.advancedAt > 0 ? member.advancedAt : member.lastSeen,
      changesReceived: member.changesReceived,
      lagMillis: member.lag.shownAt(this.#options.hlc.wallClock()),
      repairs: member.repairs,
    }));
  }

  /** A cache finished a repair from `node` (the replicator's onRepaired). */
  repaired(node: string, cache: string): void {
    this.#repairs++;
    const member = this.#members.get(node);
    if (member !== undefined) member.repairs++;
    const wait = this.#repairWaits.get(node);
    if (wait?.caches.delete(cache) && wait.caches.size === 0) wait.done();
    const late = this.#lateRepairs.get(node);
    if (late?.delete(cache) && late.size === 0) this.#repairedLate(node);
  }

  /**
   * Asks member `node` for its digest of `cache` again (an offer of that cache, to its inbox): a
   * repair from it took in its second digest while the first one's keys came (CacheRepair's
   * askDigest). Not a member (a link's peer): nothing to do.
   */
  askDigest(node: string, cache: string): void {
    if (this.#stopped || this.#members.get(node) === undefined) return;
    this.#offer(node, [cache]);
  }

  /** Asks member `node` to send its digests of `caches` to this node (answered by #onInbox). */
  #offer(node: string, caches: readonly string[]): void {
    const offer = control.packr.pack({ op: 'offer', caches }) as Buffer;
    this.#toInbox(node, this.#members.get(node)?.incarnation, KIND_CONTROL, offer);
  }

  /**
   * Writes a message to `node`'s inbox for its incarnation `incarnation` (undefined: whichever
   * reads it): addressed to that incarnation once its records say it reads addressed messages
   * (entry-seal.ts), so that a restart of `node` under its name drops it. Not written when `node`
   * is known to have restarted since: it was for the former self, and would reach the new one.
   */
  #toInbox(node: string, incarnation: string | undefined, kind: SealedKind, plaintext: Buffer): void {
    const member = this.#members.get(node);
    if (incarnation !== undefined && member?.incarnation !== incarnation) return;
    const to = incarnation !== undefined && member?.addressed === true ? Buffer.from(incarnation, 'hex') : undefined;
    this.#writer.enqueue(this.#keys.inbox(node), kind, plaintext, to);
  }

  /** Writes what waits (up to socketTimeoutMillis), leaves the members, disconnects. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const cancel of this.#timers) cancel();
    for (const wait of this.#repairWaits.values()) wait.done();
    this.#resolveReady();
    const timeout = this.#options.socketTimeoutMillis;
    if (this.#command.status === 'ready') {
      await this.#writer.written(timeout);
      await withTimeout(this.#command.hdel(this.#keys.members, this.#options.node), timeout, this.#options.scheduler);
    }
    this.#writer.stop();
    const reading = this.#stream.stop();
    this.#reader.disconnect();
    this.#command.disconnect();
    await reading;
  }

  /**
   * Redis refused the URL's database (it has fewer, or the user may not SELECT): ioredis only
   * emitted the error, and went on with the connection in database 0, where another cluster's
   * keys may be, or another environment's. The backplane stops instead, saying why; the node
   * serves from its local caches (and its mesh links, if any), shown down, until it is restarted
   * with a database Redis has and allows.
   */
  #refusedDatabase(error: Error): void {
    if (this.#wrongDatabase !== undefined || this.#stopped) return;
    const { db } = this.#options.config;
    this.#wrongDatabase = `Redis refused database ${db} (${error.message})`;
    this.#answerError = this.#wrongDatabase;
    this.#downReason = `${this.#wrongDatabase}: the backplane stopped until the node restarts`;
    this.#answering = false;
    this.#options.logger.error(
      { url: this.#url, database: db, err: loggedError(error) },
      `backplane: Redis refused database ${db} (${error.message}); stopped rather than use database 0 (serving from local caches until restarted with a database Redis has and allows)`,
    );
    this.#writer.stop();
    void this.#stream.stop();
    this.#reader.disconnect();
    this.#command.disconnect();
    if (this.#state !== 'down') {
      this.#state = 'down';
      this.#since = this.#options.scheduler.now();
    }
    this.#resolveReady();
  }

  /** Set when Redis refused the URL's database: the backplane stopped (#refusedDatabase). */
  #wrongDatabase: string | undefined;

  #connectionChanged(): void {
    if (this.#wrongDatabase !== undefined) return;
    const up = this.#command.status === 'ready' && this.#reader.status === 'ready' && this.#answering;
    const state: BackplaneState = up ? 'connected' : this.#state === 'connecting' ? 'connecting' : 'down';
    if (this.#command.status === 'ready') this.#writer.resume();
    if (state === this.#state) return;
    const was = this.#state;
    this.#state = up ? 'connected' : 'down';
    this.#since = this.#options.scheduler.now();
    if (up) {
      this.#downLogged = false;
      this.#downReason = undefined;
      this.#options.logger.info({ url: this.#url, was }, 'backplane: connected to Redis');
      void this.#heartbeat();
    } else if (!this.#stopped) {
      const connected = this.#command.status === 'ready' && this.#reader.status === 'ready';
      if (connected && this.#answerError !== undefined) {
        // Redis is there but refuses (out of memory, no permission, a key of the wrong type), or
        // does not answer in time (paused, swapping).
        this.#downReason = heartbeatFailure(this.#answerError);
        const said = TIMED_OUT.test(this.#answerError)
          ? `does not answer the heartbeat in time (${this.#answerError})`
          : `answers the heartbeat with an error (${this.#answerError})`;
        this.#options.logger.warn(
          { url: this.#url, err: this.#answerError },
          `backplane: Redis ${said}; serving from local caches`,
        );
      } else {
        // An error said before the close (ECONNRESET, a refused reconnection) says more.
        this.#downReason ??= 'connection to Redis lost';
        this.#options.logger.warn({ url: this.#url }, 'backplane: connection to Redis lost; serving from local caches');
      }
    }
  }

  // ---- entries -----------------------------------------------------------------------------

  async #probe(client: Redis, at: string): Promise<Probe> {
    const probe = await probeStream(
      client,
      { changes: this.#keys.changes, generation: this.#keys.generation, inbox: this.#inbox },
      randomBytes(12).toString('hex'),
      at,
    );
    this.#serverOffset = probe.serverNow - this.#options.hlc.wallClock();
    this.#checkFutureIds(probe);
    return probe;
  }

  /**
   * Stream ids are Redis's clock at XADD, and trimming by age (MINID) keeps every entry after an id
   * far in the future: one entry added with such an id (someone with access to Redis; a server
   * whose clock jumped) turns the replay window's trimming off, leaving only maxLength (and every
   * id after it is one more than the last, so it stays ahead). Said once while it lasts, naming the key.
   */
  #checkFutureIds(probe: Probe): void {
    const last = probe.lastGeneratedId;
    if (last === NOT_A_STREAM) return;
    const [lastAt] = parseStreamId(last);
    const ahead = lastAt - probe.serverNow;
    if (ahead <= this.#options.config.replayWindowMillis) {
      this.#futureIdsSaid = false;
      return;
    }
    if (this.#futureIdsSaid) return;
    this.#futureIdsSaid = true;
    this.#options.logger.warn(
      { key: this.#keys.changes, lastId: last, aheadMillis: ahead },
      `backplane: the changes stream's last id is ${Math.round(ahead / 1000)} s ahead of Redis's clock (an entry added with an id in the future): trimming by age keeps everything after it, only maxLength bounds the stream; to clear it, delete ${this.#keys.changes} (nodes repair the gap)`,
    );
  }

  /** One entry; 'stale' when refused for age. */
  #onEntry(key: string, changes: boolean, sealed: Buffer | undefined, id: string): EntryOutcome {
    if (sealed === undefined) {
      this.#refuse('unauthenticated', key, undefined, 'an entry without a sealed message');
      return 'refused';
    }
    const header = EntrySealer.peek(sealed);
    if (header === undefined) {
      this.#refuse('unauthenticated', key, undefined, 'not a sealed entry');
      return 'refused';
    }
    if (header.writer === this.#options.node && header.incarnation === this.#sealer.incarnationHex) return 'ok';
    let plaintext: Buffer;
    let to: string | undefined;
    try {
      ({ plaintext, to } = this.#sealer.open(sealed, key));
    } catch (error) {
      this.#refuse('unauthenticated', key, header.writer, (error as SealError).message);
      this.#sealedByOthers(false);
      return 'refused';
    }
    this.#sealedByOthers(true);
    if (header.writer === this.#options.node) this.#sameName(header);
    let verdict = this.#guard.check(key, header);
    // Sealed before the window, but added to the stream within it (a stream id is Redis's clock
    // at XADD): an old entry copied back in, not a sign that this node fell behind. Refused as a
    // replay, not answered with a repair (ten copies made every node repair ten times).
    if (verdict === 'stale' && this.#addedWithinWindow(id)) verdict = 'replayed';
    if (verdict !== 'fresh') {
      this.#refuse(verdict === 'stale' ? 'stale' : 'replayed', key, header.writer, `${verdict} entry`);
      return verdict === 'stale' ? 'stale' : 'refused';
    }
    try {
      if (changes) this.#onChanges(header, plaintext);
      else this.#onInbox(header, plaintext, to);
    } catch (error) {
      // Sealed by a member, so not an intruder's: a change this release does not know (a newer
      // release's) or a damaged entry. Its whole batch is lost here, as a link's would be, where
      // the link closes and the relink repairs: so this node repairs (once a minute at most).
      this.#refuse('undecodable', key, header.writer, (error as Error).message);
      if (changes) this.#repairUndecodable();
    }
    return 'ok';
  }

  /**
   * At most one repair a minute for undecodable changes (a newer release's writer may send them
   * all along); one that comes within the minute is repaired at its end. It was dropped: the batch
   * it came in was lost here until an anti-entropy round, or for ever with anti-entropy off.
   */
  #repairUndecodable(): void {
    if (this.#undecodableRepairDue) return;
    const { scheduler } = this.#options;
    const repair = () => {
      this.#undecodableRepairDue = false;
      this.#undecodableRepairAt = scheduler.now();
      void this.#bootstrap('gap');
    };
    const wait = this.#undecodableRepairAt === undefined ? 0 : this.#undecodableRepairAt + 60_000 - scheduler.now();
    if (wait <= 0) {
      repair();
      return;
    }
    this.#undecodableRepairDue = true;
    this.#timer(repair, wait);
  }

  #addedWithinWindow(id: string): boolean {
    const [addedAt] = parseStreamId(id);
    const serverNow = this.#options.hlc.wallClock() + this.#serverOffset;
    return serverNow - addedAt < this.#options.config.replayWindowMillis;
  }

  #onChanges(header: SealHeader, plaintext: Buffer): void {
    // Addressed messages are an inbox's: one in the changes stream was not written there by a node.
    if (header.kind !== KIND_MESSAGE || header.addressed) return;
    const message = decode(plaintext);
    if (message.type !== MessageType.Batch) return;
    this.#applyAll(message.changes, header.writer);
    const newest = newestTime(message.changes);
    const now = this.#options.hlc.wallClock();
    this.#lag.record(newest, now);
    const member = this.#members.get(header.writer);
    if (member !== undefined) {
      member.changesReceived += message.changes.length;
      member.lag.record(newest, now);
    }
  }

  /** A message from this node's inbox; `to`: the incarnation it is addressed to, if it is. */
  #onInbox(header: SealHeader, plaintext: Buffer, to: string | undefined): void {
    const from = header.writer;
    const member = this.#members.heardFrom(header);
    if (member === undefined) {
      this.#options.logger.debug(
        { from, incarnation: header.incarnation },
        'backplane: an inbox message from a former run of a member was dropped',
      );
      return;
    }
    member.lastHeard = this.#options.hlc.wallClock();
    // A run that addresses what it writes drops what is addressed to another run of its name (a
    // release writes kinds 3 and 4 only if it does): it is sent addressed ones from now on, not
    // only once its first record is read. A start repair's offer comes before that read (up to a
    // heartbeat, more in a large cluster), and the listing that answered it went out unaddressed,
    // for the next run of its name to take when it restarted at once.
    if (header.addressed) member.addressed = true;
    if (to !== undefined && to !== this.#sealer.incarnationHex) {
      // Sent to this node's former self (before a restart under its name) and still on its way:
      // the tail of a listing for that run, or its BootstrapDone, is not this run's.
      this.#options.logger.debug(
        { from, to, kind: header.kind },
        'backplane: an inbox message addressed to a former run of this node was dropped',
      );
      return;
    }
    if (header.kind === KIND_CONTROL) {
      const request = control.unpackr.unpack(plaintext) as { op?: unknown; caches?: unknown };
      if (request.op !== 'offer' || !Array.isArray(request.caches)) return;
      for (const name of request.caches) {
        const replicator = typeof name === 'string' ? this.#replicators.get(name) : undefined;
        if (replicator === undefined) continue;
        this.#ensureRepairPeer(from);
        this.#answerOffer(from, name as string, replicator);
        if (this.#bootstrapping !== undefined) {
          const caches = this.#askedWhileRepairing.get(from) ?? new Set<string>();
          caches.add(name as string);
          this.#askedWhileRepairing.set(from, caches);
        }
      }
      return;
    }
    const message = decode(plaintext);
    switch (message.type) {
      case MessageType.Entries:
        this.#applyAll(message.changes, from, true);
        return;
      case MessageType.Digest:
      case MessageType.RepairRequest:
      case MessageType.Keys:
      case MessageType.Pull:
      case MessageType.BootstrapDone:
        this.#ensureRepairPeer(from);
        this.#replicators.get(message.cache)?.receiveRepair(message, from);
        return;
      default:
        return;
    }
  }

  /** A batch of the changes stream, or (`taught`) a repair's entries from this node's inbox. */
  #applyAll(changes: readonly ChangeMessage[], from: string, taught = false): void {
    applyInRuns(changes, from, (cache) => this.#replicators.get(cache), undefined, 0, changes.length, taught);
  }

  /**
   * Counts what other nodes sealed, by whether it opened here. Nothing ever opened and many did
   * not is what a node started with another secret than the cluster's sees: it shares nothing, and
   * said so only in the refusal lines. Said once, as an error.
   */
  #sealedByOthers(opened: boolean): void {
    if (opened) {
      this.#othersOpened++;
      return;
    }
    if (this.#othersOpened > 0 || ++this.#othersRefused !== ISLAND_AFTER) return;
    this.#options.logger.error(
      { key: this.#keys.members, refused: this.#othersRefused },
      `backplane: none of what other nodes sealed (${ISLAND_AFTER} entries and member records so far) opens with this node's secret, and nothing ever did: this node's secret is not the cluster's (or someone writes junk to Redis); it shares nothing with the other nodes`,
    );
  }

  #refuse(kind: keyof BackplaneInfo['refused'], stream: string, writer: string | undefined, why: string) {
    this.#refused[kind]++;
    const minute = Math.floor(this.#options.scheduler.now() / 60_000);
    if (this.#refusalLogs.minute !== minute) this.#refusalLogs = { minute, count: 0 };
    if (this.#refusalLogs.count++ >= REFUSAL_LOGS_PER_MINUTE) return;
    this.#options.logger.warn(
      { stream, writer, kind, why, refused: { ...this.#refused } },
      'backplane: an entry was refused and ignored (at most 5 such lines a minute)',
    );
  }

  // ---- members, repair ----------------------------------------------------------------------

  #ensureRepairPeer(node: string): void {
    if (this.#repairPeers.has(node)) return;
    // The peer is one incarnation of `node`'s (a restart removes it: #memberAway).
    const incarnation = this.#members.get(node)?.incarnation;
    const peer: ReplicationPeer = {
      node,
      role: 'repair',
      send: (message) => this.#toInbox(node, incarnation, KIND_MESSAGE, encodeEntry(message)),
      bufferedAmount: () => this.#writer.pendingBytes,
      acknowledged: () => this.#writer.written(this.#options.socketTimeoutMillis),
    };
    this.#repairPeers.set(node, peer);
    for (const replicator of this.#replicators.values()) replicator.addPeer(peer);
  }

  /**
   * Answers member `from`'s offer of `cache` (it asks for this node's digest): at once, unless one
   * was answered less than OFFER_EVERY_MILLIS ago; then once at the end of that wait, however many
   * came meanwhile. Answered every time, a member's offers of a few bytes each were answered by as
   * many digests of up to 512 KiB, sealed and written to Redis (the mesh's AskDigest is bounded
   * the same way, by listing). An honest member offers at its start, at a gap and after a repair
   * that took in a second digest: never twice in a second for one cache.
   */
  #answerOffer(from: string, cache: string, replicator: CacheReplicator): void {
    const { scheduler } = this.#options;
    let caches = this.#offersAnswered.get(from);
    if (caches === undefined) {
      caches = new Map();
      this.#offersAnswered.set(from, caches);
    }
    const last = caches.get(cache);
    const now = scheduler.now();
    if (last === undefined || now - last.at >= OFFER_EVERY_MILLIS) {
      caches.set(cache, { at: now, waiting: false });
      replicator.requestRepair(from);
      return;
    }
    if (last.waiting) return;
    last.waiting = true;
    this.#timer(
      () => {
        if (this.#offersAnswered.get(from)?.get(cache) !== last) return; // the member went away meanwhile
        last.waiting = false;
        last.at = scheduler.now();
        replicator.requestRepair(from);
      },
      last.at + OFFER_EVERY_MILLIS - now,
    );
  }

  /** `node` restarted or went silent: what was under way with it is over. */
  #memberAway(node: string): void {
    this.#offersAnswered.delete(node);
    this.#stalled.delete(node);
    this.#lateRepairs.delete(node);
    this.#askedWhileRepairing.delete(node);
    const peer = this.#repairPeers.get(node);
    if (peer === undefined) return;
    this.#repairPeers.delete(node);
    for (const replicator of this.#replicators.values()) replicator.removePeer(node, peer);
  }

  /**
   * One heartbeat at a time: the timer's beat is skipped while one is in flight (a slow Redis must
   * not pile beats up). A bootstrap's (`fresh`) waits the one in flight out and beats again: it
   * needs the members as Redis has them now, and the beat the reconnection set off was sent before
   * the bootstrap began, so it may not have read the presence hash yet. Returning at once there
   * left the members as they were before the outage, none live, and the gap went unrepaired.
   * True when this one read the presence hash.
   */
  async #heartbeat(fresh = false): Promise<boolean> {
    if (this.#beating !== undefined && !fresh) return false;
    while (this.#beating !== undefined) await this.#beating;
    if (this.#stopped || this.#command.status !== 'ready') return false;
    const beating = this.#beat().finally(() => {
      this.#beating = undefined;
    });
    this.#beating = beating;
    return beating;
  }

  /** The heartbeat in flight (#heartbeat). */
  #beating: Promise<boolean> | undefined;
  /** A far-future last id was said in the log, and the stream's last id is still ahead (#checkFutureIds). */
  #futureIdsSaid = false;
  /** Entries and member records of other nodes that opened here, and that did not, while none had (#sealedByOthers). */
  #othersOpened = 0;
  #othersRefused = 0;
  /** Members-hash fields whose record did not authenticate, as they were then (see #onMembers). */
  readonly #refusedRecords = new Map<string, Buffer>();
  #manyFieldsWarnedAt = Number.NEGATIVE_INFINITY;
  /** The last heartbeat's error, said when Redis answers but with errors. */
  #answerError: string | undefined;

  /** True when it read the presence hash. */
  async #beat(): Promise<boolean> {
    const { hlc, node } = this.#options;
    const now = hlc.wallClock();
    const record = encodePresence({
      incarnation: this.#sealer.incarnationHex,
      url: this.#listenerUrl,
      caches: [...this.#replicators.keys()],
      heartbeatMillis: this.#options.config.heartbeatMillis,
      addressed: true,
    });
    let read = false;
    try {
      const sealed = this.#sealer.seal(KIND_CONTROL, record, this.#keys.members, now);
      // A node announces itself only once its reader took its first position: the inbox is read
      // from its last id then, so a repair a member offered on seeing the record earlier (nodes
      // started together) was skipped, stalled for 2 * socketTimeoutMillis, and was owed.
      const announce = this.#stream.lastId !== null;
      // Every node writes its record each heartbeat; a large cluster reads them every few (members.ts).
      if (this.#members.readsThisBeat() || this.#bootstrapping !== undefined) {
        const transaction = this.#command.multi().hgetBuffer(this.#keys.members, node);
        if (announce) transaction.hset(this.#keys.members, node, sealed);
        const replies = (await transaction.hgetallBuffer(this.#keys.members).exec()) as Array<[Error | null, unknown]>;
        // A transaction answers each command: an error there (the members key made another type)
        // is the heartbeat's failure, not an empty membership.
        const failed = replies.find(([error]) => error !== null)?.[0];
        if (failed) throw new Error(`${failed.message} (the members hash ${this.#keys.members})`);
        this.#checkOwnRecord((replies[0]?.[1] ?? null) as Buffer | null);
        this.#onMembers((replies.at(-1)?.[1] ?? {}) as Record<string, Buffer>);
        read = true;
      } else if (announce) {
        await this.#command.hset(this.#keys.members, node, sealed);
      }
      this.#stream.noteProbe(await this.#probe(this.#command, this.#stream.at));
      if (!this.#answering) {
        this.#answering = true;
        this.#connectionChanged();
      }
    } catch (error) {
      this.#options.logger.debug({ err: loggedError(error) }, 'backplane: heartbeat failed');
      this.#answerError = whyFailed(error as Error);
      if (this.#answering && !this.#stopped) {
        this.#answering = false;
        this.#connectionChanged();
      } else if (
        this.#state === 'down' &&
        this.#wrongDatabase === undefined &&
        this.#command.status === 'ready' &&
        this.#reader.status === 'ready'
      ) {
        // Down with both connections up: for the heartbeat. Its newest failure is the reason
        // shown (an OOM that became a timeout), as the newest connection error is.
        this.#downReason = heartbeatFailure(this.#answerError);
      }
    }
    return read;
  }

  /** What stood in this node's presence field before it wrote its own: another process's record? */
  #checkOwnRecord(sealed: Buffer | null): void {
    if (sealed === null || this.#sameNameSaid) return;
    const header = EntrySealer.peek(sealed);
    if (header === undefined || header.writer !== this.#options.node) return; // another's, copied in: not a twin
    if (header.incarnation === this.#sealer.incarnationHex) return;
    try {
      this.#sealer.open(sealed, this.#keys.members); // a record forged in Redis says nothing
    } catch {
      return;
    }
    this.#sameName(header);
  }

  /**
   * A record or entry sealed under this node's name by another incarnation, since this one
   * started: not this node's former self (a restart), but another process with the same name.
   * The two share one presence field and one inbox, take each other's changes for their own,
   * and never converge; nothing else names the cause. Said once, as an error.
   */
  #sameName(header: SealHeader): void {
    if (this.#sameNameSaid || header.incarnation === this.#sealer.incarnationHex) return;
    if (header.sealedAt < this.#startedAt) return;
    this.#sameNameSaid = true;
    this.#options.logger.error(
      { node: this.#options.node, key: this.#keys.members },
      `backplane: another process runs as node "${this.#options.node}" (it sealed a record of this name since this one started); two nodes of one name do not replicate to each other: give each process its own name`,
    );
  }

  #onMembers(records: Record<string, Buffer>): void {
    const opened = new Map<string, { header: SealHeader; record: Omit<PresenceRecord, 'incarnation'> }>();
    const names = Object.keys(records);
    if (names.length > MANY_MEMBER_FIELDS && this.#options.scheduler.now() - this.#manyFieldsWarnedAt > 600_000) {
      this.#manyFieldsWarnedAt = this.#options.scheduler.now();
      this.#options.logger.warn(
        { key: this.#keys.members, fields: names.length },
        `backplane: the members hash holds ${names.length} fields, more than a cluster has nodes; someone with access to Redis may be filling it (records that do not authenticate are skipped until they change)`,
      );
    }
    for (const name of names) {
      if (name === this.#options.node) continue;
      const sealed = records[name] as Buffer;
      // A record refused before and unchanged since is refused again without the work: opening
      // each of 100,000 junk fields every read pinned a core (a key derivation and a decryption each).
      if (this.#refusedRecords.get(name)?.equals(sealed)) continue;
      try {
        const { header, plaintext } = this.#sealer.open(sealed, this.#keys.members);
        opened.set(name, { header, record: decodePresence(plaintext) });
        this.#refusedRecords.delete(name);
      } catch (error) {
        if (this.#refusedRecords.size >= MANY_MEMBER_FIELDS * 4) this.#refusedRecords.clear();
        this.#refusedRecords.set(name, sealed);
        this.#refuse('unauthenticated', this.#keys.members, name, (error as Error).message);
        this.#sealedByOthers(false);
        continue;
      }
      this.#sealedByOthers(true);
    }
    for (const name of this.#refusedRecords.keys()) if (records[name] === undefined) this.#refusedRecords.delete(name);
    for (const name of this.#members.update(opened)) this.#command.hdel(this.#keys.members, name).catch(() => {});
  }

  /** Repairs every cache from one live member, trying up to REPAIR_TRIES; one at a time. */
  #bootstrap(reason: 'start' | 'gap'): Promise<void> {
    if (this.#bootstrapping !== undefined) {
      this.#bootstrapAgain = true;
      return this.#bootstrapping;
    }
    const owedAlready = this.#repairOwed !== undefined;
    this.#repairOwed = undefined;
    this.#bootstrapping = (async () => {
      let repaired = false;
      let read = false;
      let tried = new Set<string>();
      try {
        for (let round = 0; round < 4 && !this.#stopped; round++) {
          this.#bootstrapAgain = false;
          repaired = false;
          read = await this.#heartbeat(true);
          // None live, but a member read whose first record was old (its clock behind, or it
          // died): its next record, a heartbeat on, tells which (members.ts).
          if (round === 0 && this.#members.live().length === 0 && this.#members.hasUnconfirmed()) {
            await sleep(this.#options.scheduler, this.#options.config.heartbeatMillis);
            await this.#heartbeat(true);
          }
          tried = new Set<string>();
          for (let attempt = 0; attempt < REPAIR_TRIES && !this.#stopped; attempt++) {
            const live = this.#members.sources(tried);
            if (live.length === 0) break;
            const source = live[Math.floor(this.#options.scheduler.random() * live.length)] as string;
            tried.add(source);
            if (await this.#repairFrom(source)) {
              repaired = true;
              this.#stalled.clear();
              break;
            }
            this.#stalled.add(source);
            this.#options.logger.warn(
              { member: source, reason },
              'backplane: repair from a member stalled; trying another',
            );
          }
          if (!this.#bootstrapAgain) break;
        }
        // A repair is owed even when no member could give it now (none live yet, or each
        // stalled): the first member seen live gives it (onLive). Before, it waited for a
        // member's anti-entropy round, or for ever with anti-entropy off. A node that read the
        // members and knows of none owes nothing: it is alone, and whoever comes repairs from it.
        // One that could not read them (the command connection not ready yet when the reader took
        // its position, or the heartbeat refused) does not know that, nor does a start that knows
        // of members none of which is live (away for now, as likely as gone).
        if (!repaired && !this.#stopped && (this.#members.size > 0 || !read)) {
          this.#repairOwed = reason;
          if (!owedAlready)
            this.#options.logger.warn(
              {
                reason,
                tried: [...tried],
                skewed: this.#members.live().filter((name) => !this.#members.isSource(name)),
              },
              'backplane: no member could repair this node now; repairing from the first member seen live',
            );
        } else if (this.#bootstrapAgain && !this.#stopped) {
          // A gap found during the last round allowed: owed too, not dropped.
          this.#repairOwed = 'gap';
        }
      } finally {
        this.#bootstrapping = undefined;
        this.#resolveReady();
        this.#offerAgain();
      }
    })();
    return this.#bootstrapping;
  }

  /** Digests again, to the members that asked for them while this node was repairing (#askedWhileRepairing). */
  #offerAgain(): void {
    const asked = [...this.#askedWhileRepairing];
    this.#askedWhileRepairing.clear();
    if (this.#stopped) return;
    for (const [member, caches] of asked) {
      for (const name of caches) this.#replicators.get(name)?.requestRepairIfChanged(member);
    }
  }

  /** A two-way digest exchange with `source`: true once every cache was repaired from it. */
  async #repairFrom(source: string): Promise<boolean> {
    const { scheduler, socketTimeoutMillis, hlc } = this.#options;
    const caches = [...this.#replicators.keys()];
    if (caches.length === 0) return true;
    this.#ensureRepairPeer(source);
    let finished = false;
    this.#lateRepairs.delete(source); // this exchange replaces the one that stalled
    const done = new Promise<void>((resolve) => {
      this.#repairWaits.get(source)?.done();
      this.#repairWaits.set(source, {
        caches: new Set(caches),
        done: () => {
          finished = true;
          resolve();
        },
      });
    });
    this.#offer(source, caches);
    for (const replicator of this.#replicators.values()) replicator.requestRepair(source);
    const silence = 2 * socketTimeoutMillis;
    // Waits while the source answers (a large repair streams for a long time), or while this
    // node's side is still being written; gives up after `silence` without either.
    let progress = hlc.wallClock();
    for (let checks = 0; !finished && !this.#stopped && checks < 1_000_000; checks++) {
      await Promise.race([done, sleep(scheduler, 100)]);
      if (this.#writer.pendingMessages > 0 || this.#state !== 'connected') progress = hlc.wallClock();
      progress = Math.max(progress, this.#members.get(source)?.lastHeard ?? 0);
      if (!finished && hlc.wallClock() - progress > silence) break;
    }
    const left = this.#repairWaits.get(source)?.caches;
    this.#repairWaits.delete(source);
    // Stalled, the exchange may still finish: a member that was away reads this node's offer and
    // digests from its inbox when it is back, and answers. That answer is the repair owed; before,
    // the node went on owing it (and kept the member as stalled) though it was repaired.
    if (!finished && !this.#stopped && left !== undefined && left.size > 0) this.#lateRepairs.set(source, left);
    return finished;
  }

  /** A stalled repair from `node` finished after all: nothing is owed any more, and `node` does not stall. */
  #repairedLate(node: string): void {
    this.#lateRepairs.delete(node);
    this.#stalled.delete(node);
    if (this.#repairOwed !== undefined && this.#bootstrapping === undefined) {
      this.#repairOwed = undefined;
      this.#options.logger.info(
        { member: node },
        'backplane: a stalled repair from a member finished; nothing is owed',
      );
    }
  }

  /**
   * Every `every` ms (jittered), one live member that has not had this cache's digest since the
   * cache last changed gets it, and repairs itself from it: constant work per node and interval,
   * and each member hears of a change within as many intervals as there are members.
   */
  #scheduleAntiEntropy(replicator: CacheReplicator, every: number, offeredAt: Map<string, number>): void {
    const { scheduler } = this.#options;
    this.#timer(
      () => {
        if (this.#state === 'connected') {
          const changes = replicator.port.generation;
          for (const name of offeredAt.keys()) if (!this.#members.has(name)) offeredAt.delete(name);
          const behind = this.#members.sources().filter((name) => offeredAt.get(name) !== changes);
          if (behind.length > 0) {
            const target = behind[Math.floor(scheduler.random() * behind.length)] as string;
            offeredAt.set(target, changes);
            this.#ensureRepairPeer(target);
            replicator.requestRepair(target);
          }
        }
        if (!this.#stopped) this.#scheduleAntiEntropy(replicator, every, offeredAt);
      },
      every * (0.8 + 0.4 * scheduler.random()),
    );
  }

  /** A timer that stop() cancels, and that leaves #timers once it ran. */
  #timer(task: () => void, millis: number): void {
    const cancel = this.#options.scheduler.setTimeout(() => {
      const at = this.#timers.indexOf(cancel);
      if (at >= 0) this.#timers.splice(at, 1);
      task();
    }, millis);
    this.#timers.push(cancel);
  }
}

/**
 * One message alone: a fresh codec, so that every entry decodes by itself, from any position. The
 * bytes are its own, exactly: a codec's frame is a view of the chunk it writes in (8 KiB at the
 * least, up to a MiB for a batch written once for every peer), and the stream writer holds its
 * entries while Redis is away, counting only their own bytes (a frame of 34 bytes held 8 KiB).
 */
export function encodeEntry(message: Message): Buffer {
  const frame = new WireCodec().encode(message);
  if (frame.buffer.byteLength === frame.length) return frame;
  const own = Buffer.allocUnsafeSlow(frame.length);
  frame.copy(own);
  return own;
}

function decode(bytes: Buffer): Message {
  const message = new WireCodec().decode(bytes);
  if (message.type === MessageType.Unknown) throw new ProtocolError(`unknown message type ${message.number}`);
  return message;
}

/** Redis's answers to a wrong password or user (AUTH, HELLO), or to none where one is needed. */
const AUTH_REFUSED = /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i;

/**
 * What an error from Redis says: a transaction refused whole (EXECABORT) by the errors of the
 * commands queued in it (out of memory, a key of another type) says those, which ioredis keeps
 * beside it; its own message named none ("Transaction discarded because of previous errors").
 */
/** ioredis's error for a command Redis did not answer within commandTimeout. */
const TIMED_OUT = /Command timed out/;

/**
 * Why the heartbeat failed, as `peers` and /status say it: no answer in time (a paused
 * or swapping Redis; ioredis's "Command timed out" read as an error Redis gave), or Redis's error.
 */
function heartbeatFailure(why: string): string {
  return TIMED_OUT.test(why)
    ? `Redis does not answer the heartbeat in time (${why})`
    : `Redis answers the heartbeat with an error: ${why}`;
}

function whyFailed(error: Error): string {
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  if (!Array.isArray(previous) || previous.length === 0) return error.message;
  const causes = [...new Set(previous.map((cause) => (cause instanceof Error ? cause.message : String(cause))))];
  return `${causes.join('; ')} (${error.message})`;
}

/**
 * The Redis URL as logs, metrics and `peers()` show it: the password masked, and every query
 * parameter's value too (ioredis takes any of its options from the query, `?password=` among them:
 * shown whole on the unauthenticated /metrics, and in every log line that named the URL).
 */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const name of new Set(parsed.searchParams.keys())) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return '(a URL that does not parse)';
  }
}

function sleep(scheduler: Scheduler, millis: number): Promise<void> {
  return new Promise((resolve) => scheduler.setTimeout(resolve, millis));
}

async function withTimeout(promise: Promise<unknown>, millis: number, scheduler: Scheduler): Promise<void> {
  let cancel: Cancel | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise<void>((resolve) => {
      cancel = scheduler.setTimeout(resolve, millis);
    }),
  ]);
  cancel?.();
}
