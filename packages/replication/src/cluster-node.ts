/**
 * A ClusterNode is one process's member of a cluster: its CacheManager, a peer listener, links to
 * peers and a replicator per replicated cache, composed from one configuration object.
 *
 * Links. One authenticated session per pair of nodes carries every cache. The node dials each
 * configured peer and accepts whoever dials it. When two nodes dial each other at once, both
 * keep the connection dialled by the node whose name sorts first and close the other, so both
 * sides agree without a message. A dialled peer that is down, or whose link drops, is redialled
 * with exponential backoff (100 ms to 5 s) and jitter.
 *
 * A peer URL with a path (`ws://host:port/Response%20Cache`) links to that peer for that cache
 * only; without a path, for every replicated cache.
 *
 * Liveness comes from the transport's heartbeat: a hung peer's link closes, and it is redialled.
 *
 * Bootstrap and repair: when a link comes up, each side sends the other a digest of every shared
 * cache, and each repairs itself by pulling what differs (repair/cache-repair.ts); ready() waits
 * for the repairs from the peers reachable at start. So a node that starts, restarts or
 * reconnects catches up, and only what differs crosses the wire.
 *
 * With a `backplane` in the configuration the node replicates through Redis instead
 * (backplane/redis-backplane.ts): it dials no peer and refuses peer sessions, and its listener
 * serves admin clients only.
 */
import {
  CacheManager,
  type Cancel,
  type Clock,
  type Logger,
  type Scheduler,
  silentLogger,
  systemScheduler,
} from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import {
  cachesOf,
  createPeerProvider,
  type DiscoveredPeer,
  type DiscoveryMode,
  type PeerProvider,
  sameCaches,
} from '@meshcache/discovery';
import { serveAdmin } from './admin/admin-service.js';
import { AdminSessions } from './admin/admin-sessions.js';
import { backplanePeers } from './backplane/backplane-peers.js';
import { type BackplaneInfo, RedisBackplane } from './backplane/redis-backplane.js';
import { CacheReplicator, type SettleResult } from './cache-replicator.js';
import {
  type ClusterConfig,
  insecureExposures,
  type ResolvedClusterConfig,
  resolveClusterConfig,
} from './cluster-config.js';
import { peerChannel, repairChannel } from './diagnostics.js';
import { HybridLogicalClock } from './hlc.js';
import { hostOf, OncePerWindow } from './once-per-window.js';
import { PeerLink, UnsentBudget } from './peer-link.js';
import { namesWildcard, reachableUrl } from './reachable-url.js';
import { Keyring } from './security/keyring.js';
import { HandshakeError, OwnEphemerals, type PeerIdentity, PROTOCOL_VERSIONS, Session } from './session.js';
import type { Connection, Listener, Transport } from './transport/transport.js';
import { CloseCode, scopedAddress } from './transport/transport.js';
import { listenPort, WebSocketTransport } from './transport/websocket.js';

/**
 * 'connecting' and 'down' for a peer this node dials and has no link with; 'refused' for one
 * whose last dial was answered, then refused for its key (E_AUTH: another secret or cluster
 * name), which redialling will not mend, unlike an outage: it is redialled as a 'down' peer is,
 * and shown apart so that an operator looks at the configuration, not the network; 'connected'
 * for a link; 'suspect' for a link that has heard nothing for two heartbeats (a busy or hung peer:
 * it is dropped after five); 'skewed' for a link whose peer's clock is past the drift bound from
 * this node's (its changes, or this node's, are refused until the clocks agree: protocol 3).
 */
export type PeerState = 'connecting' | 'connected' | 'suspect' | 'skewed' | 'down' | 'refused';

/** How long after a link goes down the survivors are offered digests (departures meanwhile join in). */
const SURVIVOR_REPAIR_DELAY_MILLIS = 500;
/** Handshakes a node runs at once as a dialler. */
const MAX_CONCURRENT_DIALS = 4;
/**
 * Connections (TCP and the WebSocket upgrade) a node waits for at once. Not the handshake slots:
 * a dial to an address that never answers waits socketTimeoutMillis, and with four slots for both,
 * 24 dead addresses in a DNS answer kept a live peer's link 12 s away.
 */
const MAX_CONCURRENT_CONNECTS = 64;

/** A link quiet this long is 'suspect' (two heartbeats of the WebSocket transport). */
const SUSPECT_AFTER_MILLIS = 2000;

export interface PeerInfo {
  /** The peer's configured name; its dial URL until it has answered. */
  readonly id: string;
  readonly url: string;
  readonly state: PeerState;
  readonly caches: readonly string[];
  /** Epoch ms of the last frame from the peer, or null if never. */
  readonly lastSeen: number | null;
  /**
   * How the peer was found: by this node's discovery ('manual', 'dns', 'automatic'), 'inbound' (it
   * dialled us), or 'backplane' (a member of the Redis backplane; the first entry of a backplane
   * node's list, with id 'backplane', is the backplane itself, with its figures in `backplane`).
   */
  readonly foundBy: DiscoveryMode | 'inbound' | 'backplane';
  /** On the backplane's own entry: its connection state, stream, last id, lag and repairs. */
  readonly backplane?: BackplaneInfo;
  /** Changes waiting to be sent to the peer, and their estimated bytes, over every cache. */
  readonly queuedChanges: number;
  readonly queuedBytes: number;
  /** Live changes sent to and received from the peer over this link. */
  readonly changesSent: number;
  readonly changesReceived: number;
  /** Replication lag of the last live batch from the peer (ms); null before the first, and a minute after the last (held-lag.ts). */
  readonly lagMillis: number | null;
  /** Repairs of a cache from the peer that finished over this link. */
  readonly repairs: number;
  /** The protocol version the link speaks; null without a link. */
  readonly protocol: number | null;
  /** The peer's wall clock minus this node's (ms), from the peer's last sample; null before one. */
  readonly clockOffsetMillis: number | null;
  /**
   * Messages of types this node does not know (a newer release's) that the peer sent over this
   * link, skipped. Not 0 during a rolling upgrade means the peer runs a release this one does not
   * speak all of; each type is logged once per link, and this says whether they keep coming.
   * On a backplane's own entry: the entries refused as not understood (`refused.undecodable`).
   */
  readonly unknownMessages: number;
}

export interface ClusterNodeOptions {
  readonly logger?: Logger;
  /** Epoch ms: the node's wall clock (its versions, its caches' expiry). For tests. @default the scheduler's */
  readonly clock?: Clock;
  /**
   * Every timer and random draw of the node (replication intervals, handshakes, acknowledgements,
   * redial backoff and its jitter, leases, sweeps). The cluster simulator runs nodes on one
   * VirtualScheduler (`@meshcache/core/testing`). @default the system's timers
   */
  readonly scheduler?: Scheduler;
  /** For tests and the simulator: where peers come from, instead of the config's peerDiscovery. */
  readonly peerProvider?: PeerProvider;
  /** For tests: another transport (an in-memory network). */
  readonly transport?: Transport;
  /**
   * The protocol versions this node speaks. For tests of mixed-version clusters: a node held to
   * an older version than its release speaks. @default PROTOCOL_VERSIONS
   */
  readonly protocols?: { readonly min: number; readonly max: number };
  /**
   * false: frames travel unencrypted after the (still authenticated) handshake. Only to measure
   * what frame protection costs (bench/src/replication.ts); never in service, and every node of
   * the cluster must say the same. Not a configuration-file field. @default true
   */
  readonly protectFrames?: boolean;
  /**
   * false: a value a peer sends is decoded as it arrives, not by its first read here (core's
   * deferred-value.ts). To measure what deferring saves (bench/src/replication.ts), or for a node
   * that would rather pay each decode on arrival than on a first read. Not a configuration-file
   * field. @default true
   */
  readonly deferValues?: boolean;
  /**
   * The most changes of a peer's frame applied in one turn of the event loop (peer-link.ts,
   * APPLY_SLICE). For tests: the cluster simulator makes it small, so that its frames of a few
   * changes are applied in slices too. Not a configuration-file field. @default 1024
   */
  readonly applySlice?: number;
  /**
   * The bound on the bytes each replicator queues for one peer (or leaves unsent on its
   * connection) before the peer's queue overflows and it is sent a Digest instead
   * (cache-replicator.ts). For tests: an overflow without queuing 64 MiB. Not a
   * configuration-file field. @default 64 MiB
   */
  readonly maxQueueBytes?: number;
  /**
   * Called once the node listens and has dialed its peers, before start() waits for a synchronous
   * bootstrap: what must run while the caches warm (an operator endpoint whose /healthz answers and
   * whose /readyz says `starting` meanwhile). An error it throws stops the node, and start() throws it.
   */
  readonly onStarted?: (node: ClusterNode) => void | Promise<void>;
  /**
   * Where MESHCACHE_SECRET is read from when the config gives no secret (and named so in an error
   * about it). @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
}

interface Dialer {
  readonly url: string;
  /** The caches this peer is for (paths in its configured URLs), told to it in the path dialled; undefined for all. */
  readonly scope: readonly string[] | undefined;
  readonly caches: readonly string[];
  readonly foundBy: DiscoveryMode;
  /** The address answered as this very node (DNS answers include it): dialled again only every SELF_RECHECK_MILLIS. */
  self: boolean;
  /** Discovery said the peer went away: not redialled. */
  retired: boolean;
  node: string | undefined;
  state: PeerState;
  attempt: number;
  /** When its last link came up (undefined when it has none): see STABLE_LINK_MILLIS. */
  linkedAt: number | undefined;
  cancelRedial: Cancel | undefined;
  /** When 'peer unreachable' was last logged at warn; undefined: not since the last link. */
  warnedAt: number | undefined;
  /** What failed then (failureKind): a dial that fails otherwise is logged at warn at once. */
  warnedFor: string | undefined;
  /**
   * When its last link last heard from it, kept once that link closed: a peer that went down
   * showed "last seen never", and its last-seen series left /metrics just when an alert on it
   * should fire.
   */
  lastSeen: number | null;
}

/**
 * How often an address that answered as this very node is dialled again. Once was never: an
 * address is this node's for as long as the DNS name includes it, but a verdict that lasts
 * forever is one an on-path attacker who relays a dial back to its own node need cause only
 * once. Ten minutes: a handshake with itself costs a node nothing worth counting at that rate.
 */
const SELF_RECHECK_MILLIS = 10 * 60_000;
/**
 * A peer that stays unreachable is logged at warn once, then once a minute (debug between), and
 * at once whenever it fails for another reason (failureKind).
 */
const UNREACHABLE_WARN_MILLIS = 60_000;
/**
 * Links made and lost with one remote host logged at info in a minute (a restart is two, a
 * rolling upgrade of a few nodes behind one address a few more); past that, at debug.
 */
export const LINK_LOGS_PER_MINUTE = 10;
/**
 * A link that lived this long went down for a reason of its own, and its peer is redialled from
 * the shortest backoff again; one closed sooner (refused as soon as made) keeps backing off.
 */
const STABLE_LINK_MILLIS = 1000;

export class ClusterNode {
  readonly manager: CacheManager;
  readonly id: string;
  readonly #config: ResolvedClusterConfig;
  readonly #logger: Logger;
  readonly #transport: Transport;
  readonly #hlc: HybridLogicalClock;
  readonly #replicators = new Map<string, CacheReplicator>();
  readonly #links = new Map<string, PeerLink>();
  readonly #dialers: Dialer[] = [];
  /** What is logged at most once a minute: a refusal by a remote host, a peer's backplane trouble, an admin host's failures. */
  readonly #oncePerMinute: OncePerWindow;
  /** Links made and lost, logged at info LINK_LOGS_PER_MINUTE times a minute per remote host, at debug past that. */
  readonly #linkLogs: OncePerWindow;
  readonly #adminSessions: AdminSessions;
  readonly #ownEphemerals = new OwnEphemerals();
  readonly #dialSlots = new Slots(MAX_CONCURRENT_DIALS);
  readonly #connectSlots = new Slots(MAX_CONCURRENT_CONNECTS);
  readonly #unsentBudget = new UnsentBudget();
  /** Caches shared with links that went down since the last repair among the survivors (#repairAmongSurvivors). */
  readonly #survivorRepairs = new Set<string>();
  #survivorRepairTimer: Cancel | undefined;
  readonly #protocols: { readonly min: number; readonly max: number } | undefined;
  readonly #protectFrames: boolean;
  readonly #deferValues: boolean;
  readonly #applySlice: number | undefined;
  readonly #maxQueueBytes: number | undefined;
  readonly #scheduler: Scheduler;
  readonly #peerProvider: PeerProvider | undefined;
  /** The dialer each link this node dialled came from (a peer listed for other caches since is relinked). */
  readonly #dialledBy = new WeakMap<PeerLink, Dialer>();
  #keyring: Keyring | undefined;
  #backplane: RedisBackplane | undefined;
  #listener: Listener | undefined;
  #discovery: PeerProvider | undefined;
  #firstDials: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;

  private constructor(config: ResolvedClusterConfig, options: ClusterNodeOptions) {
    this.#config = config;
    this.id = config.name;
    this.#logger = options.logger ?? silentLogger;
    this.#protocols = options.protocols;
    this.#scheduler = options.scheduler ?? systemScheduler;
    const scheduler = this.#scheduler;
    this.#oncePerMinute = new OncePerWindow(() => scheduler.now(), UNREACHABLE_WARN_MILLIS);
    this.#linkLogs = new OncePerWindow(() => scheduler.now(), 60_000, 1024, LINK_LOGS_PER_MINUTE);
    this.#adminSessions = new AdminSessions({
      scheduler,
      logger: this.#logger,
      oncePerMinute: this.#oncePerMinute,
    });
    this.#peerProvider = options.peerProvider;
    const clock = options.clock ?? (options.scheduler === undefined ? undefined : options.scheduler.now);
    this.#protectFrames = options.protectFrames !== false;
    this.#deferValues = options.deferValues !== false;
    const slice = options.applySlice;
    if (slice !== undefined && !(Number.isInteger(slice) && slice >= 1)) {
      throw new RangeError(`applySlice must be a whole number of changes, at least 1 (got ${String(slice)})`);
    }
    this.#applySlice = slice;
    const queueBytes = options.maxQueueBytes;
    if (queueBytes !== undefined && !(Number.isInteger(queueBytes) && queueBytes >= 1)) {
      throw new RangeError(`maxQueueBytes must be a whole number of bytes, at least 1 (got ${String(queueBytes)})`);
    }
    this.#maxQueueBytes = queueBytes;
    this.#transport =
      options.transport ??
      new WebSocketTransport({
        ...(config.tls === undefined ? {} : { tls: config.tls }),
        preAuth: { maxConnections: config.maxPendingConnections, maxPerAddress: config.maxPendingPerAddress },
        allowedOrigins: config.allowedOrigins,
        dialTimeoutMillis: config.socketTimeoutMillis,
        // Every frame after the handshake is ciphertext: no outsider chooses a byte of it.
        maskFrames: !this.#protectFrames,
      });
    this.#hlc = new HybridLogicalClock({ node: config.name, ...(clock === undefined ? {} : { clock }) });
    this.manager = new CacheManager({
      logger: this.#logger,
      scheduler: this.#scheduler,
      ...(clock === undefined ? {} : { clock }),
      versionClock: (after) => this.#hlc.now(after),
      ...(config.tombstoneRetentionSeconds === undefined
        ? {}
        : { tombstoneRetentionSeconds: config.tombstoneRetentionSeconds }),
      ...(config.maxTombstones === undefined ? {} : { maxTombstones: config.maxTombstones }),
      ...(config.diskStorePath === undefined ? {} : { diskStorePath: config.diskStorePath }),
    });
  }

  /** Validates the configuration, opens the caches, listens, and dials the configured peers. */
  static async start(config: ClusterConfig, options: ClusterNodeOptions = {}): Promise<ClusterNode> {
    const resolved = resolveClusterConfig(config, options.env);
    const node = new ClusterNode(resolved, options);
    try {
      await node.#start();
      await options.onStarted?.(node);
    } catch (error) {
      await node.stop();
      throw error;
    }
    // Said once all of it is up, onStarted's part too (the CLI's operator endpoint): a supervisor
    // reading the log for this line must not take a start that then failed for a successful one.
    node.#logger.info({ node: node.id, url: node.url }, `listening on ${node.url}`);
    for (const exposure of insecureExposures(resolved)) node.#logger.warn({ node: node.id }, exposure);
    // Ehcache's synchronous bootstrap ran inside addCache: the cache was not handed out before it
    // had its peers' entries. Here the caches are created together, so one cache asking for it
    // holds start() until the node is ready. ready() never rejects: as in Ehcache, a bootstrap
    // that fails (a peer that does not answer) leaves the cache starting with what it has.
    if (resolved.caches.some((cache) => cache.replication !== undefined && !cache.bootstrap.bootstrapAsynchronously)) {
      await node.ready();
    }
    return node;
  }

  /** The cluster this node belongs to (the configuration's `cluster`). */
  get cluster(): string {
    return this.#config.cluster;
  }

  /**
   * The configuration's operator endpoint (`http`), resolved; undefined when it has none.
   * ClusterNode opens nothing for it: `meshcache serve` does.
   */
  get http(): { readonly hostname: string; readonly port: number } | undefined {
    return this.#config.http;
  }

  /** The URL peers dial: ws://host:port (wss:// with TLS), with the real port. */
  get url(): string {
    return this.#listener?.address ?? '';
  }

  /** Every node this one has, or is trying to have, a link with (on a backplane: the backplane, then its members). */
  peers(): PeerInfo[] {
    if (this.#backplane !== undefined) {
      return backplanePeers(this.#backplane, [...this.#replicators.keys()], (peer) => this.#figures(peer, undefined));
    }
    const infos: PeerInfo[] = [];
    const listed = new Set<string>();
    for (const dialer of this.#dialers) {
      if (dialer.self) continue;
      // One entry a node: a peer listed under two spellings (or found twice) is one peer.
      if (dialer.node !== undefined && listed.has(dialer.node)) continue;
      const link = dialer.node === undefined ? undefined : this.#links.get(dialer.node);
      if (dialer.node !== undefined) listed.add(dialer.node);
      infos.push({
        id: dialer.node ?? dialer.url,
        url: link?.url || dialer.url,
        state: link !== undefined ? linkState(link) : dialer.state,
        caches: link?.caches ?? dialer.caches,
        lastSeen: link === undefined ? dialer.lastSeen : lastHeard(link, this.#scheduler.now()),
        foundBy: dialer.foundBy,
        ...this.#figures(dialer.node, link),
      });
    }
    for (const link of this.#links.values()) {
      if (listed.has(link.node)) continue;
      infos.push({
        id: link.node,
        url: link.url,
        state: linkState(link),
        caches: link.caches,
        lastSeen: lastHeard(link, this.#scheduler.now()),
        foundBy: 'inbound',
        ...this.#figures(link.node, link),
      });
    }
    return infos;
  }

  /** Replication figures of one cache: its counters, and per peer what is queued and sent. */
  replicationStatistics(
    cache: string,
  ): (CacheReplicator['counters'] & { peers: ReturnType<CacheReplicator['peerStates']> }) | undefined {
    const replicator = this.#replicators.get(cache);
    if (replicator === undefined) return undefined;
    const backplane = this.#backplane?.info();
    return {
      ...replicator.counters,
      peers: replicator.peerStates(),
      ...(backplane === undefined ? {} : { backplane }),
    };
  }

  /** The Redis backplane's state and figures; null for a node on the mesh. */
  backplane(): BackplaneInfo | null {
    return this.#backplane?.info() ?? null;
  }

  #figures(node: string | undefined, link: PeerLink | undefined) {
    let queuedChanges = 0;
    let queuedBytes = 0;
    let changesSent = 0;
    for (const replicator of this.#replicators.values()) {
      for (const state of replicator.peerStates()) {
        if (state.node !== node) continue;
        queuedChanges += state.queued;
        queuedBytes += state.queuedBytes;
        changesSent += state.sent;
      }
    }
    return {
      queuedChanges,
      queuedBytes,
      changesSent,
      changesReceived: link?.changesReceived ?? 0,
      lagMillis: link?.lagMillis ?? null,
      repairs: link?.repairs ?? 0,
      protocol: link?.protocol ?? null,
      clockOffsetMillis: link?.clockOffsetMillis ?? null,
      unknownMessages: link?.unknownMessages ?? 0,
    };
  }

  /**
   * Resolves once every replicated cache has been repaired from every peer reachable at start:
   * at once when there are none. A peer that does not answer the dial within socketTimeoutMillis
   * is not waited for, nor is one whose link drops or goes silent for socketTimeoutMillis during
   * its repair; a large repair that keeps streaming is waited for however long it takes.
   */
  async ready(): Promise<void> {
    await this.#firstDials;
    await this.#backplane?.ready();
    await Promise.all([...this.#links.values()].map((link) => link.bootstrapSettled(this.#config.socketTimeoutMillis)));
  }

  /**
   * Sends every queued change now and resolves once every connected peer acknowledged all changes
   * made before the call, or socketTimeoutMillis passed for it; per cache, who acknowledged and
   * who timed out. In synchronous mode this is how a caller waits for a put's replication.
   */
  async settle(): Promise<Record<string, SettleResult>> {
    const caches = [...this.#replicators.entries()];
    const results = await Promise.all(caches.map(([, replicator]) => replicator.settle()));
    return Object.fromEntries(caches.map(([name], i) => [name, results[i] as SettleResult]));
  }

  /** Closes every link, stops the listener, and shuts the caches down (flushing disk tiers). Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #start(): Promise<void> {
    this.#keyring = await Keyring.from(this.#config);
    if (this.#config.backplane !== undefined) {
      this.#backplane = new RedisBackplane({
        config: this.#config.backplane,
        node: this.id,
        cluster: this.#config.cluster,
        psks: this.#keyring.credentials.filter((c) => c.kind === 'cluster').map((c) => c.psk),
        hlc: this.#hlc,
        logger: this.#logger,
        scheduler: this.#scheduler,
        socketTimeoutMillis: this.#config.socketTimeoutMillis,
      });
    }
    for (const cache of this.#config.caches) {
      const created = this.manager.addCache(cache.name, cache.config);
      if (cache.replication !== undefined) {
        this.#replicators.set(
          cache.name,
          new CacheReplicator(replicaPortOf(created), cache.replication, {
            hlc: this.#hlc,
            logger: this.#logger,
            repairChunkBytes: cache.bootstrap.maximumChunkSizeBytes,
            ackTimeoutMillis: this.#config.socketTimeoutMillis,
            ...(this.#maxQueueBytes === undefined ? {} : { maxQueueBytes: this.#maxQueueBytes }),
            onRepaired: (peer) => {
              this.#backplane?.repaired(peer, cache.name);
              this.#repaired(peer, cache.name);
            },
            askDigest: (peer) => {
              const link = this.#links.get(peer);
              if (link !== undefined) link.askDigest(cache.name);
              else this.#backplane?.askDigest(peer, cache.name);
            },
            scheduler: this.#scheduler,
            ...(this.#backplane === undefined ? {} : { singleFlight: this.#backplane.singleFlight }),
          }),
        );
      }
    }
    const everyCache = [...this.#replicators.keys()];
    const host = this.#config.hostname.includes(':') ? `[${this.#config.hostname}]` : this.#config.hostname;
    const scheme = this.#config.tls === undefined ? 'ws' : 'wss';
    this.#listener = await this.#transport.listen(`${scheme}://${host}:${this.#config.port}`, (connection) => {
      const session = this.#session(connection, 'listener');
      session.established
        .then(
          (peer) => {
            if (peer.role === 'admin') {
              // Bounded: the handshake tables bound only sessions still authenticating, and a
              // read-only key kept 1,000 sessions (a file descriptor each) open from one address.
              const grant = { client: peer.node, readOnly: peer.grant === 'read-only' };
              const bounds = this.#adminSessions.admit(session, grant);
              if (bounds === undefined) return;
              this.#logger.debug({ client: peer.node, grant: peer.grant }, 'admin client connected');
              const target = {
                manager: this.manager,
                peers: () => this.peers(),
                replicationStatistics: (cache: string) => this.replicationStatistics(cache),
                replicationSettings: (cache: string) => this.#replicators.get(cache)?.settings,
              };
              serveAdmin(session, target, grant, bounds);
            } else {
              // A dialler that named caches in the path it dialled gets those caches only, on both sides.
              const scope = connection.scope;
              const caches = scope === undefined ? everyCache : everyCache.filter((cache) => scope.includes(cache));
              // Said at warn once a minute per peer and caches, at debug between: the peer redials,
              // and every connection of a misconfigured peer was a warning.
              const say = (fields: { peer: string; caches: readonly string[] }, message: string) => {
                const first = this.#oncePerMinute.first(`dialled for ${peer.node} ${JSON.stringify(fields.caches)}`);
                this.#logger[first ? 'warn' : 'debug'](fields, message);
              };
              if (caches.length === 0) {
                // A link for caches this node does not replicate would carry nothing: said, and closed.
                say(
                  { peer: peer.node, caches: scope ?? [] },
                  'a peer dialled for a cache this node does not replicate; link closed',
                );
                session.close(CloseCode.Normal, 'no replicated cache of that name here');
                return;
              }
              const unknown = scope?.filter((cache) => !everyCache.includes(cache)) ?? [];
              if (unknown.length > 0) {
                say(
                  { peer: peer.node, caches: unknown },
                  'a peer dialled for caches this node does not replicate; linked the others',
                );
              }
              this.#register(session, peer, reachableUrl(peer.url, connection.remoteAddress), false, caches);
            }
          },
          (error: Error) => {
            // This node dialling itself (its own address in the peer list, or a DNS name that
            // includes it) is expected, not a peer refused: every node of a DNS fleet warned so.
            if (error instanceof HandshakeError && error.code === 'E_SELF') {
              this.#logger.debug({ remote: connection.remoteAddress }, 'this node dialled itself');
            } else if (this.#stopped !== undefined) {
              // This node's stop closed it: a warning that the peer was refused, "the other side
              // closed the connection during the handshake", blamed the peer for it at every stop.
              this.#logger.debug({ remote: connection.remoteAddress, err: error }, 'a handshake cut short by the stop');
            } else this.#logRefusal(connection.remoteAddress, error);
            if (peerChannel.hasSubscribers) {
              const remote = connection.remoteAddress;
              peerChannel.publish({ node: this.id, event: 'refused', peer: remote, url: remote, error });
            }
          },
        )
        .catch((error: unknown) => {
          // Taking an established session in must never end the process (an unhandled rejection).
          this.#logger.error(
            { remote: connection.remoteAddress, err: error },
            'could not take a session in; closing it',
          );
          session.close(CloseCode.ProtocolError, 'internal error');
        });
    });
    this.#backplane?.start(this.#replicators, this.url);
    // Discovery starts once the port is known (mDNS publishes it). Peers it reports before its
    // start resolves are the ones "reachable at start" that ready() waits for.
    const firstDials: Promise<void>[] = [];
    let starting = true;
    const discovery =
      this.#peerProvider ??
      createPeerProvider(
        this.#config.discovery,
        {
          cluster: this.#config.cluster,
          node: this.id,
          // listenPort: URL's `port` is empty for the scheme's default (80, 443), and mDNS
          // published port 0 for a listener on 80, which every peer ignored.
          port: listenPort(new URL(this.url)),
          host: this.#config.hostname,
          scheme,
          protocolVersion: (this.#protocols ?? PROTOCOL_VERSIONS).max,
        },
        this.#logger,
      );
    this.#discovery = discovery;
    discovery.onChange((event) => {
      if (event.type === 'down') {
        this.#retire(event.peer.url);
        return;
      }
      const dial = this.#discovered(event.peer, everyCache);
      if (starting && dial !== undefined) firstDials.push(dial);
    });
    await discovery.start();
    starting = false;
    const settled = Promise.allSettled(firstDials).then(() => undefined);
    const timeout = new Promise<void>((resolve) => {
      this.#scheduler.setTimeout(resolve, this.#config.socketTimeoutMillis);
    });
    this.#firstDials = Promise.race([settled, timeout]);
  }

  /**
   * A refused handshake, at warn once a minute per remote host and at debug between: a peer that
   * keeps redialling (a node of a release this one shares no protocol with, every 5 s) wrote a
   * warning per attempt.
   */
  #logRefusal(remote: string, error: Error): void {
    if (this.#oncePerMinute.first(`refused ${hostOf(remote)}`)) {
      this.#logger.warn({ remote, err: error }, 'peer refused (logged again in a minute if its host keeps trying)');
    } else this.#logger.debug({ remote, err: error }, 'peer refused again');
  }

  /** A peer discovery reported: dial it, unless a dialer for that URL exists. */
  #discovered(peer: DiscoveredPeer, everyCache: readonly string[]): Promise<void> | undefined {
    // A retired dialer has left the list, so a URL in it is one being dialled already.
    if (this.#dialers.some((dialer) => dialer.url === peer.url)) return undefined;
    const scope = cachesOf(peer);
    const dialer: Dialer = {
      url: peer.url,
      scope,
      caches: scope ?? everyCache,
      foundBy: peer.foundBy,
      self: false,
      retired: false,
      // A name from discovery is a hint (an mDNS record can claim any name): only the handshake says who answers.
      node: undefined,
      state: 'connecting',
      attempt: 0,
      linkedAt: undefined,
      cancelRedial: undefined,
      warnedAt: undefined,
      warnedFor: undefined,
      lastSeen: null,
    };
    this.#dialers.push(dialer);
    this.#logDiscovery({ peer: peer.node ?? peer.url, url: peer.url, foundBy: peer.foundBy }, 'peer discovered');
    this.#relinkRescoped(dialer);
    return this.#dial(dialer);
  }

  /**
   * A peer reported again for other caches (a manual list updated: it went down, then came up)
   * may still have the link this node dialled for the old ones: it is closed, so that the dial for
   * the new ones replaces it (it would lose to it as a duplicate link, and the old caches would stay).
   */
  #relinkRescoped(dialer: Dialer): void {
    for (const link of this.#links.values()) {
      const before = this.#dialledBy.get(link);
      if (before === undefined || before === dialer || before.url !== dialer.url) continue;
      if (sameCaches(before.caches, dialer.caches)) continue;
      this.#logger.info(
        { peer: link.node, url: dialer.url, caches: dialer.caches },
        'peer now listed for other caches; relinking',
      );
      link.session.close(CloseCode.Normal, 'peer list changed');
    }
  }

  /** Discovery says the peer went away: stop redialling it (its link, if any, ends by heartbeat). */
  #retire(url: string): void {
    const dialer = this.#dialers.find((d) => d.url === url);
    if (dialer === undefined) return;
    dialer.retired = true;
    dialer.cancelRedial?.();
    this.#dialers.splice(this.#dialers.indexOf(dialer), 1);
    this.#logDiscovery({ peer: dialer.node ?? url, url }, 'peer no longer discovered');
  }

  /**
   * An address found or lost by discovery, at info the first time each a minute per address and
   * at debug past that: a DNS answer that flaps, or a resolver that answers random subsets of a
   * fleet, wrote two info lines per address at every resolution.
   */
  #logDiscovery(
    fields: { readonly peer: string; readonly url: string; readonly foundBy?: DiscoveryMode },
    message: string,
  ): void {
    if (this.#oncePerMinute.first(`${message} ${fields.url}`)) this.#logger.info(fields, message);
    else this.#logger.debug(fields, message);
  }

  #session(connection: Connection, side: 'dialler' | 'listener'): Session {
    return new Session(connection, {
      side,
      local: { cluster: this.#config.cluster, node: this.id, url: this.url },
      keyring: this.#keyring as Keyring,
      timeoutMillis: this.#config.socketTimeoutMillis,
      ownEphemerals: this.#ownEphemerals,
      logger: this.#logger,
      warnNow: (what) => this.#oncePerMinute.first(what),
      ...(this.#protocols === undefined ? {} : { protocols: this.#protocols }),
      ...(this.#protectFrames ? {} : { protectFrames: false }),
      ...(this.#deferValues ? {} : { deferValues: false }),
      scheduler: this.#scheduler,
    });
  }

  async #dial(dialer: Dialer): Promise<void> {
    dialer.cancelRedial = undefined;
    if (this.#stopped !== undefined || dialer.retired) return;
    dialer.state = 'connecting';
    // At most MAX_CONCURRENT_DIALS handshakes at once: when a partition heals, or a node comes
    // back to a large mesh, its dials line up instead of all landing (and repairing) at once.
    // The connection is made first, under a bound of its own: an address that never answers
    // must not hold a handshake's place.
    let handshaking = false;
    try {
      const connection = await this.#connectSlots.while(async () => {
        if (this.#stopped !== undefined || dialer.retired) return undefined;
        return this.#transport.dial(scopedAddress(dialer.url, dialer.scope));
      });
      if (connection === undefined) return;
      await this.#dialSlots.take();
      handshaking = true;
      if (this.#stopped !== undefined || dialer.retired) {
        connection.close(CloseCode.GoingAway, 'node stopping');
        return;
      }
      // The peer's handshake timer ran while this dial waited for its slot: it may have given up.
      if (!connection.open) throw new Error('the connection closed while it waited for a handshake slot');
      const session = this.#session(connection, 'dialler');
      const peer = await session.established;
      dialer.node = peer.node;
      dialer.self = false;
      // The backoff starts again only once the link has lived a while (#redial): a peer that
      // closes every link at once (a node on a backplane, a duplicate) is not redialled 12 times a second.
      dialer.linkedAt = this.#scheduler.now();
      dialer.warnedAt = undefined;
      dialer.warnedFor = undefined;
      // When this link closes, #register's close handler redials the dialers of its node.
      const url = peer.url === '' || namesWildcard(peer.url) ? dialer.url : peer.url;
      const link = this.#register(session, peer, url, true, dialer.caches);
      if (link !== undefined) this.#dialledBy.set(link, dialer);
    } catch (error) {
      if (error instanceof HandshakeError && error.code === 'E_SELF') {
        // The address answered as this very node (a DNS name that includes it): not redialled,
        // only checked again every SELF_RECHECK_MILLIS, in case it was not so for good.
        dialer.node = this.id;
        dialer.self = true;
        dialer.state = 'down';
        if (this.#stopped === undefined) {
          dialer.cancelRedial = this.#scheduler.setTimeout(() => void this.#dial(dialer), SELF_RECHECK_MILLIS);
        }
        return;
      }
      // Checked again (above) and found to be another node's, or none: redialled as any peer.
      dialer.self = false;
      dialer.state = 'down';
      // Every retry logged at warn made a thousand dead peers 8,400 lines in 9 s.
      const now = this.#scheduler.now();
      // Also once a minute per address, node-wide: an address that leaves a DNS answer and comes
      // back gets a new dialer, and a resolver answering random subsets of a fleet made every
      // resolution some ten warnings (found by a review).
      // A new reason is said at once: a peer that went down (ECONNREFUSED) and came back with
      // another secret (E_AUTH) showed the old reason for a minute, while it was the new one
      // the operator had to fix.
      const kind = failureKind(error);
      if (
        (dialer.warnedAt === undefined ||
          now - dialer.warnedAt >= UNREACHABLE_WARN_MILLIS ||
          dialer.warnedFor !== kind) &&
        this.#oncePerMinute.first(`unreachable ${dialer.url} ${kind}`)
      ) {
        dialer.warnedAt = now;
        dialer.warnedFor = kind;
        this.#logger.warn(
          { peer: dialer.url, attempts: dialer.attempt + 1, err: error },
          'peer unreachable; will retry (logged again in a minute if it still is)',
        );
      } else {
        this.#logger.debug({ peer: dialer.url, attempts: dialer.attempt + 1, err: error }, 'peer still unreachable');
      }
      if (peerChannel.hasSubscribers) {
        const { url, foundBy } = dialer;
        peerChannel.publish({ node: this.id, event: 'unreachable', peer: url, url, foundBy, error: error as Error });
      }
      this.#redial(dialer);
      if (kind === 'E_AUTH' && dialer.state === 'down') dialer.state = 'refused';
    } finally {
      if (handshaking) this.#dialSlots.give();
    }
  }

  #redial(dialer: Dialer): void {
    if (this.#stopped !== undefined || dialer.cancelRedial !== undefined || dialer.retired || dialer.self) return;
    // Linked already (the peer's own dial won the tie-break): redial only when that link goes.
    if (dialer.node !== undefined && this.#links.get(dialer.node)?.session.connection.open) return;
    if (dialer.linkedAt !== undefined && this.#scheduler.now() - dialer.linkedAt >= STABLE_LINK_MILLIS)
      dialer.attempt = 0;
    dialer.linkedAt = undefined;
    dialer.state = 'down';
    const backoff = Math.min(5000, 100 * 2 ** dialer.attempt++);
    dialer.cancelRedial = this.#scheduler.setTimeout(
      () => void this.#dial(dialer),
      backoff / 2 + this.#scheduler.random() * (backoff / 2),
    );
  }

  /** Makes the session a link with its peer, unless it loses to one already there; returns the link made. */
  #register(
    session: Session,
    peer: PeerIdentity,
    url: string,
    dialledByUs: boolean,
    caches: readonly string[],
  ): PeerLink | undefined {
    const node = peer.node;
    if (this.#stopped !== undefined) {
      session.close(CloseCode.GoingAway, 'node stopping');
      return undefined;
    }
    if (this.#backplane !== undefined) {
      // Once a minute a peer: a mesh node that lists this one redials it for as long as it runs.
      if (this.#oncePerMinute.first(`backplane ${node}`)) {
        this.#logger.warn(
          { peer: node },
          'a peer dialled a node that replicates through a backplane; refused (logged again in a minute if it keeps dialling)',
        );
      }
      session.close(CloseCode.Normal, 'this node replicates through a backplane, not peer links');
      return undefined;
    }
    const existing = this.#links.get(node);
    // A link that replaces one to the same peer says so at debug only: the peer was connected all
    // along, and a second 'peer connected' with no 'peer left' between read as a leaked link.
    let replaced = false;
    if (existing?.session.connection.open) {
      // The same side dialled twice (a peer listed under two spellings, a DNS answer that
      // flapped): the link in place stays, and the other end, which sees two links from one
      // side too, decides the same. Before, the tie-break below replaced a healthy link, and
      // repaired it, at every flap. (A peer back while its old connection lingers half-open
      // links once the heartbeat has ended that one.)
      const keepExisting =
        existing.dialledByUs === dialledByUs ||
        // Each dialled the other: keep the connection dialled by the node whose name sorts first.
        existing.dialledByUs === this.id < node;
      if (keepExisting) {
        this.#logger.debug({ peer: node, url, dialledByUs }, 'a second link to a linked peer; closed, the first kept');
        session.close(CloseCode.Normal, 'duplicate link');
        return undefined;
      }
      existing.session.close(CloseCode.Normal, 'duplicate link');
      this.#unlink(existing);
      replaced = true;
      this.#logger.debug(
        { peer: node, url, dialledByUs },
        'a second link to a linked peer replaced the first (each dialled the other; the one dialled by the node whose name sorts first stays)',
      );
    }
    const link = new PeerLink({
      session,
      node,
      url,
      dialledByUs,
      caches,
      replicators: this.#replicators,
      hlc: this.#hlc,
      logger: this.#logger,
      ackTimeoutMillis: this.#config.socketTimeoutMillis,
      protocol: peer.protocol,
      scheduler: this.#scheduler,
      unsentBudget: this.#unsentBudget,
      ...(this.#applySlice === undefined ? {} : { applySlice: this.#applySlice }),
    });
    this.#links.set(node, link);
    link.attach();
    // A peer holding the secret that linked and left over and over wrote two lines each time.
    const host = hostOf(session.connection.remoteAddress);
    const level = () => (this.#linkLogs.first(host) ? 'info' : 'debug');
    session.connection.onClose((code, reason) => {
      if (this.#links.get(node) === link) {
        const heard = lastHeard(link, this.#scheduler.now(), true);
        for (const dialer of this.#dialers) if (dialer.node === node) dialer.lastSeen = heard ?? dialer.lastSeen;
        this.#unlink(link);
        this.#logger[level()]({ peer: node, code, reason }, 'peer left');
        if (peerChannel.hasSubscribers)
          peerChannel.publish({ node: this.id, event: 'left', peer: node, url, code, reason });
        for (const dialer of this.#dialers) if (dialer.node === node) this.#redial(dialer);
        this.#repairAmongSurvivors(link);
      } else {
        link.detach();
      }
    });
    this.#logger[replaced ? 'debug' : level()](
      { peer: node, url, dialledByUs, protocol: peer.protocol },
      'peer connected',
    );
    if (peerChannel.hasSubscribers)
      peerChannel.publish({ node: this.id, event: 'connected', peer: node, url, dialledByUs });
    return link;
  }

  #unlink(link: PeerLink): void {
    if (this.#links.get(link.node) === link) this.#links.delete(link.node);
    link.detach();
  }

  /**
   * A peer's link went down: offer every other peer a digest of each cache shared with it. The
   * peer's last changes may have reached some nodes and not others (a process killed between two
   * sends, a link cut mid-batch), and nothing else would ever bring the survivors back in step:
   * their own links stay up, and the peer may come back without those changes (a memory-only
   * cache restarted empty). Found by the kill loop (test/kill-loop.test.ts): in about one round
   * in thirty, two survivors kept different versions of a key the killed node had written last.
   * Each survivor does this when it sees the link go, so the repair runs both ways.
   */
  #repairAmongSurvivors(gone: PeerLink): void {
    if (this.#stopped !== undefined) return;
    // Departures within SURVIVOR_REPAIR_DELAY_MILLIS make one round, and a peer gets a digest only
    // where this node's cache changed since its last one: a link opened and closed 300 times in
    // 10 s sent every other peer 300 digests (and let each ask for a full repair again).
    for (const cache of gone.caches) this.#survivorRepairs.add(cache);
    this.#survivorRepairTimer ??= this.#scheduler.setTimeout(() => {
      this.#survivorRepairTimer = undefined;
      const caches = [...this.#survivorRepairs];
      this.#survivorRepairs.clear();
      if (this.#stopped !== undefined) return;
      for (const other of this.#links.values()) {
        for (const cache of other.caches) {
          if (caches.includes(cache)) this.#replicators.get(cache)?.requestRepairIfChanged(other.node);
        }
      }
    }, SURVIVOR_REPAIR_DELAY_MILLIS);
  }

  #repaired(node: string, cache: string): void {
    const link = this.#links.get(node);
    if (link === undefined) return;
    const first = link.repaired(cache);
    if (first) this.#logger.info({ peer: node, cache }, 'bootstrap from peer done');
    if (repairChannel.hasSubscribers) repairChannel.publish({ node: this.id, peer: node, cache, first });
  }

  async #stop(): Promise<void> {
    await this.#discovery?.stop();
    for (const dialer of this.#dialers) dialer.cancelRedial?.();
    this.#survivorRepairTimer?.();
    for (const replicator of this.#replicators.values()) {
      replicator.flush();
      replicator.close();
    }
    for (const link of [...this.#links.values()]) link.session.close(CloseCode.GoingAway, 'node stopping');
    this.#links.clear();
    this.#adminSessions.closeAll('node stopping');
    await this.#backplane?.stop();
    await this.#listener?.close();
    await this.manager.shutdown();
  }
}

/** A counting semaphore: take() waits for a free slot, give() frees one, first come first served. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(count: number) {
    this.#free = count;
  }

  take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#free++;
  }

  /** Runs `task` in a slot, giving it back however the task ends. */
  async while<T>(task: () => Promise<T>): Promise<T> {
    await this.take();
    try {
      return await task();
    } finally {
      this.give();
    }
  }
}

/**
 * What a failed dial ran into, as a word that stays the same while the cause does: the error's
 * code (E_AUTH, E_PROTOCOL, E_TIMEOUT), or its cause's (ECONNREFUSED, ECONNRESET), else its message.
 */
function failureKind(error: unknown): string {
  const code = (value: unknown) => (value as { code?: unknown } | undefined)?.code;
  const own = code(error);
  if (typeof own === 'string') return own;
  const cause = code((error as { cause?: unknown } | undefined)?.cause);
  if (typeof cause === 'string') return cause;
  return error instanceof Error ? error.message : String(error);
}

/**
 * When anything last came from the peer: a message, or a heartbeat where the transport tells
 * (WebSocket pings and pongs). Messages alone made a healthy idle link look seconds stale in
 * `meshcache peers` and on /metrics, which both call it the last frame.
 */
function lastHeard(link: PeerLink, now: number, closing = false): number | null {
  const { connection } = link.session;
  const quiet = connection.quietMillis;
  // Closing: what the link last heard stays what the peer showed (its last frame alone is up to
  // a clock sample, 10 s, older: the figure jumped back as the peer went down).
  if (quiet === undefined || (!connection.open && !closing)) return link.lastSeen;
  return Math.max(link.lastSeen ?? 0, now - quiet);
}

function linkState(link: PeerLink): PeerState {
  if (link.skewed) return 'skewed';
  return (link.session.connection.quietMillis ?? 0) >= SUSPECT_AFTER_MILLIS ? 'suspect' : 'connected';
}
