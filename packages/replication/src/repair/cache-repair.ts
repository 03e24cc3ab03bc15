/**
 * Bootstrap and repair, one mechanism: a node brings itself in step with a peer by comparing
 * digests and pulling only what differs.
 *
 * The exchange, for one cache, between a node that repairs (R) and a peer that serves (S):
 *   1. S sends Digest: its last removeAll and 8 bytes per bucket of its (key, version) pairs.
 *      Both sides send one when a link comes up; a node whose queue for a peer overflowed sends
 *      one to make that peer repair itself.
 *   2. R applies the removeAll (by version), computes its own digest with S's bucket count and,
 *      if buckets differ, sends RepairRequest: for buckets where R holds something, the key
 *      lists; for buckets where R holds nothing (a new node), the entries themselves.
 *   3. S answers with Entries batches for the empty buckets and Keys chunks of (key, version,
 *      removed) for the others, the last chunk flagged.
 *   4. R applies removals straight from the Keys (a key and a version are all a removal is) and
 *      pulls the keys where S's version is newer than anything R knows, in Pull chunks; S answers
 *      with Entries batches and, after the last Pull, BootstrapDone.
 *   R is repaired from S when the digests match, when nothing is worth pulling, or at
 *   BootstrapDone. Either side only ever pulls; each side repairs itself from the other.
 *   5. (Protocol 7.) R then tells S so: Repaired, naming the Digest its repair began from by its
 *      number among S's Digests on the link (RepairPeer.repaired). Only R can: when the digests
 *      match, or nothing is worth pulling, S hears nothing else. S's settle() waits for it after
 *      an overflow (cache-replicator.ts). A repair begun while another's listing was awaited
 *      (went on from it, or took its place when stale) names that one's Digest (its last Keys
 *      may have been that listing's); one that met a bound on the keys it pulls (cut), or a push
 *      that answered R's own empty Digest, sends none. For a push, S knows itself when it is
 *      over: it sent BootstrapDone, and R answers a Sync sent after it only once it applied
 *      every frame before (RepairPeer.pushing).
 *
 * One shortcut: a digest that is all zeros says its sender holds nothing. Its receiver then has
 * nothing to pull (it does not read its own cache to find that out), and if its own digest for
 * that peer is still being built (a big node, a new joiner), it stops building it and pushes
 * every entry at once, ending with BootstrapDone: the joiner would have asked for all of it.
 *
 * What a repair takes. Until a node has finished its first repair (its bootstrap, from whichever
 * peer answers first), it takes everything, as Ehcache's bootstrap does. Afterwards it always takes
 * newer versions of the keys it holds and removals, whatever its options (replicateUpdates and
 * replicateRemovals say what a node sends live; repair is what keeps a node from serving a value
 * older than one a peer holds, or one a peer removed, whoever missed what), and keys it does not
 * hold only while it has room for them (its `room`: a bounded cache that is full takes none) and
 * its replicatePuts is on with replicatePutsViaCopy (in invalidate mode a peer drops the keys a
 * node writes; a repair does not hand it their values instead). So repair never evicts what a node
 * keeps to hold what its peer keeps (it used to, every round: a hot key out for a cold one the node
 * had just evicted). For bounded caches the contents of two nodes may differ for good: eviction
 * stays each node's own, as in Ehcache. The room of a cache bounded by bytes is an estimate (from
 * the average entry it holds): pulled entries larger than that can still evict.
 *
 * Rounds skipped. Two full bounded caches rarely hold the same set of keys (each evicts by its own
 * reads), so their digests differ: every anti-entropy round listed one's keys to the other, which
 * pulled nothing, megabytes each way per round for good. So a cache that takes no keys it lacks
 * (full, or replicatePuts or replicatePutsViaCopy off) and whose repair from a peer took nothing
 * asks that peer (SkipRounds, protocol 5) to skip its next anti-entropy round to it, its next three
 * after two such repairs in a row, and its next seven after three or more: the peer neither reads
 * its cache for those rounds nor sends them, and this node still repairs from it at least once
 * every eight rounds. A repair that takes something, or finds the two in step, tells the peer to
 * skip no more (rounds: 0). A repair took something if it found a newer version of a key held, or a
 * removal, older than inFlightMillis before it began by this node's hybrid clock, or brought a
 * removeAll; a younger one may only have overtaken its live change, which a busy cache always has
 * on the wire. The peer (CacheReplicator) skips only rounds, and not even those to a node that
 * missed changes (its queue overflowed, or its connection is backed up in synchronous mode), nor
 * any if a replicate* option of its own is off (then some of its changes travel only by repair). A
 * round skipped does not count as sent: the round after the skipped ones goes even if the peer's
 * cache did not change since, and a departure's Digest still goes. A repair that began while
 * another from the same peer was still listing its keys is not judged (its Keys may be that
 * listing's end), and one that met its bound on keys to pull (cut) found something. Only a link's
 * peer is asked (RepairPeer.sendsRounds): a backplane's members run no rounds. The cost: a change a
 * full cache missed with no Digest to cover it (a writer that crashed before sending it, a change
 * refused while a clock was skewed, a writer not linked to this node) is repaired within eight
 * rounds, not one; a cache that gets room back takes keys it lacks from the next round it is sent.
 * A peer of protocol 4 is asked nothing.
 *
 * Guarantees: everything is applied through the same version check as live changes, so a live
 * change that crosses the repair on the wire is never overwritten by an older value (the race
 * Ehcache's bootstrap has), and a repair that runs twice does no harm. Every message is bounded:
 * batches by maximumChunkSizeBytes, key lists and pulls by MAX_BATCH_CHANGES.
 *
 * A peer, even one holding the secret, cannot make a node do unbounded work:
 * - a RepairRequest is served only in answer to this node's own latest Digest to that peer, with
 *   its bucket count, and only one at a time (no Digest goes to a peer while it is listed to: it
 *   waits, one, for the listing's end: offerTo, #onRepairRequest); a Pull only in answer to this
 *   node's last Keys, for keys of the buckets those listed, each key answered once in the repair,
 *   one Pull at a time, its answer paced like any other (each chunk waits for the socket to
 *   drain). Anything else is ignored and logged once per link;
 * - digests from one peer are handled one at a time, a newer one waiting for the current;
 * - an AskDigest is answered only once per listing to the peer, and not once a digest went to it
 *   after that listing (askedForDigest);
 * - the keys a repair wants to pull are at most MAX_WANTED, and MAX_WANTED_BYTES of them; past
 *   either the repair pulls those and the rest waits for the next repair (logged);
 * - Keys and Pull messages carry at most KEYS_PER_MESSAGE keys and about chunkBytes of them (a
 *   longer key goes alone), as Entries do: 10,000 keys of 2,000 characters made a frame past the
 *   16 MiB a peer reads, which was never sent, and the repair finished without those keys.
 *
 * Reading the whole cache (to build a digest, or to answer a RepairRequest) is done in slices of
 * SLICE entries per event-loop turn: a node holding a million entries keeps answering heartbeats
 * and live traffic while it serves a repair (done in one go, it would stall for seconds and its
 * peers would drop it as hung).
 *
 * A cache held in memory keeps its digest up to date as it is written (the port's digest(): kept
 * from the moment this repair is made, while the cache is new to replication), so a link-up or
 * an anti-entropy round costs a fold of that table (65,536 buckets), not a read of the cache. A
 * cache with a disk tier still has its digest read from it, in slices, once per change of its
 * generation whoever asks, one read at a time, and each read waits for READ_PAUSE_FACTOR times
 * the length of the last one to have passed since it ended: however many peers send Digests and
 * however often the cache changes, such reads take at most a quarter of the time (a peer sending
 * a Digest a second while the cache took a put a second kept one core reading 200,000 entries
 * from disk). Answering a RepairRequest reads the buckets asked for.
 *
 * A repair that took in a second Digest while its listing came (two nodes that repair from each
 * other at once send each other two: one for each repair) is compared with that one listing, which
 * the peer may have read before it learned what its second Digest showed. So once it is over, the
 * peer is asked for its digest again (askDigest: AskDigest on a link of protocol 6, an offer to a
 * backplane member's inbox); a link's peer of protocol 5 shows it at its next anti-entropy round.
 *
 * Not guaranteed: a 64-bit bucket collision hides a difference until the bucket changes again.
 */
import { isNewer, type Logger, type Scheduler, systemScheduler, type Version } from '@meshcache/core';
import { BucketDigest, type FoldedDigest, type ReplicaPort } from '@meshcache/core/internal';
import { NO_KEYS, prefetchEveryRun } from '../prefetch-runs.js';
import { MAX_BATCH_CHANGES } from '../protocol/codec.js';
import {
  type ChangeMessage,
  type DigestMessage,
  type EntriesMessage,
  type KeysMessage,
  MessageType,
  type PullMessage,
  type RepairMessage,
  type RepairRequestMessage,
} from '../protocol/messages.js';
import type { SessionMessage } from '../session.js';
import { bucketCountFor, bucketOf, bucketOfHash, differingBuckets, type KeyVersion, keysInBuckets } from './digest.js';
import { EntryChunks } from './entry-chunks.js';

/** Where repair messages for one peer go. */
export interface RepairPeer {
  readonly node: string;
  /**
   * The peer sends this node anti-entropy rounds it may ask it to skip (a link's peer; a Redis
   * backplane's members run none, and nodes of the release before would not read SkipRounds there).
   */
  readonly sendsRounds: boolean;
  send(message: SessionMessage): void;
  /**
   * Tells the peer that this node's repair from its `digest`-th Digest (counted on this link, from
   * 1) is over, and this node holds what that Digest showed it lacked (Repaired, on a link of
   * protocol 7: the peer's settle() waits for it after an overflow). Absent where nothing carries
   * it (a backplane's members).
   */
  readonly repaired?: (digest: number) => void;
  /**
   * This node is about to push the peer every entry (its Digest said it holds nothing), in place
   * of a Digest of this node's that it would have named in a Repaired: what to call once the
   * push's BootstrapDone went, if anything (the peer's settle() side counts it by an Ack then).
   * Absent where nothing waits for it.
   */
  readonly pushing?: () => (() => void) | undefined;
  /**
   * Resolves once the connection has few enough bytes waiting to be written: a large repair
   * waits on it between chunks, so it never piles up in memory, and heartbeats and live changes
   * are not stuck behind hundreds of megabytes.
   */
  drained(): Promise<void>;
}

export interface CacheRepairOptions {
  /** Bound on one batch of entries (bootstrap maximumChunkSizeBytes). */
  readonly chunkBytes: number;
  /**
   * Applies a peer's change through the replicator (clock check, version check, counters);
   * 'applied' when it changed the cache. `taught`: brought by this repair, not heard live.
   */
  readonly apply: (change: ChangeMessage, from: string, taught?: boolean) => unknown;
  /** This cache is now in step with `node` (a repair from it finished). */
  readonly onRepaired: (node: string) => void;
  /**
   * Asks `node` to send this cache's digest again (AskDigest on a link of protocol 6, a
   * backplane's offer). A repair that took in a second Digest while its listing came was compared
   * with that listing, which the peer may have read before it learned what its second Digest
   * showed: once such a repair is over, the peer is asked again, and what it learned meanwhile is
   * compared then. Where nothing can ask (not given; a link of protocol 5), the next anti-entropy
   * round compares it.
   */
  readonly askDigest?: (node: string) => void;
  readonly logger: Logger;
  /** Most keys one repair collects to pull. @default MAX_WANTED */
  readonly maxWanted?: number;
  /** Most bytes of keys (two a character) one repair collects to pull. @default MAX_WANTED_BYTES */
  readonly maxWantedBytes?: number;
  /**
   * Whether a bootstrapped node takes keys it does not hold (replicatePuts, and
   * replicatePutsViaCopy: in invalidate mode peers drop keys, never receive values); a node not yet
   * bootstrapped takes everything, as Ehcache's bootstrap does. @default true
   */
  readonly takesNewKeys?: boolean;
  /** Where the turns between slices come from. @default system */
  readonly scheduler?: Scheduler;
  /** Epoch ms: the node's hybrid clock's time (HybridLogicalClock.time), what versions are compared to. @default the scheduler's now */
  readonly clock?: () => number;
  /**
   * How long a live change may take to reach this node from a peer's write: a repair that takes a
   * change younger than that may only have overtaken it, and does not count as having found
   * anything (see the essay, on rounds skipped). @default IN_FLIGHT_MILLIS
   */
  readonly inFlightMillis?: number;
}

/** A repair from one peer under way: the keys worth pulling, and how many more not held it may pull. */
interface Wanted {
  readonly keys: string[];
  /** The keys' bytes in memory, about (two a character). */
  bytes: number;
  /** A bound was met: no more keys are collected in this repair. */
  cut?: boolean;
  room: number;
  /** The cache had no room for keys it does not hold as the repair began. */
  readonly full: boolean;
  /**
   * It began while another repair from the peer was listing its keys: it goes on collecting into
   * that one's keys, and the Keys it gets may be the end of that listing, so whether it took
   * something is not judged.
   */
  readonly overlapped: boolean;
  /** Changes of versions older than this (epoch ms) were missed, not merely still in flight. */
  readonly missedBefore: number;
  /** It took a missed change: a key's newer version to pull, or a removal. */
  found: boolean;
  /** When it began, or its last Keys came (this node's clock): a repair silent longer is given up (STALE_WANTED_MILLIS). */
  heardAt: number;
  /**
   * The number of the peer's Digest it began from (#digestsFrom): one begun while another's
   * listing was awaited keeps that one's number, overlapped or not (stale), as that listing may be
   * the one it ends with.
   */
  readonly digest: number;
}

/** A peer's digest being handled (#queueDigest): the newest one waiting for it, with its number. */
interface DigestSlot {
  next: { readonly message: DigestMessage; readonly number: number } | undefined;
}

/** What a peer may pull after this node's last Keys to it (see #pullsExpected). */
interface PullsExpected {
  readonly bucketCount: number;
  readonly buckets: ReadonlySet<number>;
  readonly answered: Set<string>;
  /** The Pulls being answered, one after the other. */
  answering: Promise<void>;
  /** Keys, and their bytes, of the Pulls received and not answered yet (bounded as a repair's wanted keys are). */
  queuedKeys: number;
  queuedBytes: number;
  /** The link went down (forget): Pulls still queued are not answered. */
  cancelled: boolean;
  /** The last Pull came: any later one is unsolicited. */
  ended: boolean;
}

const keyOfItem = (item: KeyVersion): string => item.key;
const keyOfPull = (key: string): string => key;

/** See CacheRepairOptions.inFlightMillis. */
export const IN_FLIGHT_MILLIS = 5_000;
/**
 * A repair whose Keys have not come for this long is not carried into the next one from that peer
 * (#onDigest): its listing was lost (inbox entries gone with a Redis that restarted empty, say),
 * and its bound met or its room spent would shape the next repair. A listing in progress sends a
 * chunk at least every few seconds, however large: the session drops a silent peer sooner.
 */
export const STALE_WANTED_MILLIS = 30_000;
/**
 * A full cache asks a peer to skip at most this many anti-entropy rounds in a row (1 after one
 * repair that took nothing, 3 after two, then 7): it still repairs from it every eighth round.
 */
export const MAX_ROUNDS_SKIPPED = 7;

/** Repairs of one peer's whose BootstrapDone is awaited, remembered at most (CacheRepair.#pulling). */
const MAX_PULLING = 64;
/** Keys per Keys or Pull message. */
const KEYS_PER_MESSAGE = 10_000;
/** Most keys one repair collects to pull. */
export const MAX_WANTED = 1_000_000;
/** Most bytes of keys one repair collects to pull: a million keys of 32 characters. */
export const MAX_WANTED_BYTES = 64 * 1024 * 1024;

/**
 * A key's bytes in memory, about (two a character): what a repair's wanted keys and the Pulls
 * waiting to be answered are both bounded by, in the same measure, so that a Pull an honest node
 * sends within its bound is never refused by the other's.
 */
function heldKeyBytes(key: string): number {
  return 2 * key.length;
}

/** A key and its version on the wire, at most (three bytes a UTF-16 unit, and the version's numbers and headers). */
function keyVersionBytes(key: string, version: Version): number {
  return 3 * (key.length + version.node.length) + 32;
}
/**
 * After a read of the whole cache for a digest, the next waits this many times as long as it
 * took, so that such reads take at most 1 / (1 + READ_PAUSE_FACTOR) of the time.
 */
export const READ_PAUSE_FACTOR = 3;
/** The longest a read counts as for its pause (so a pause is at most 30 s): a read of 200,000 entries takes about a second. */
const MAX_COUNTED_READ_MILLIS = 10_000;
/** Entries read per event-loop turn when reading the whole cache. */
const SLICE = 2_000;

/** What a digest is built for: cancelled once no one wants it; told when its read of the whole cache starts. */
interface DigestOffer {
  readonly cancelled: boolean;
  reading?(): void;
}

export class CacheRepair {
  readonly #port: ReplicaPort<unknown>;
  readonly #options: CacheRepairOptions;
  /** Per peer being repaired from: the keys worth pulling, gathered until the last Keys chunk. */
  readonly #wanted = new Map<string, Wanted>();
  /** Digests being built for a peer, which a peer that turns out to be empty cancels. */
  readonly #offers = new Map<string, { cancelled: boolean }>();
  /** The bucket count of the last digest sent to each peer: a RepairRequest must answer it. */
  readonly #offered = new Map<string, number>();
  /** Peers being listed to now (a RepairRequest served, or a push to an empty peer), each with a token of that serve. */
  readonly #serving = new Map<string, { cancelled: boolean }>();
  /** Per peer, the listings to it that ended (#serveAlone): a digest read across one's end is read again. */
  readonly #listingsEnded = new Map<string, number>();
  /**
   * Peers owed a digest once the listing to them is over: one came due meanwhile (offerTo), or a
   * RepairRequest of theirs came then (#onRepairRequest).
   */
  readonly #offerAfterServing = new Set<string>();
  /**
   * Peers this node sent its last Keys to, whose Pulls it answers until the last one: only keys of
   * the buckets it listed, each at most once, one Pull at a time (a peer that sent Pulls for keys
   * never offered, again and again without reading, got 2 GB for 14 MB and held 1.7 GB here).
   */
  readonly #pullsExpected = new Map<string, PullsExpected>();
  /** Per peer: the digest being handled, and the newest one waiting for it. */
  readonly #digests = new Map<string, DigestSlot>();
  /** Unsolicited kinds of message already logged, per peer (once per link). */
  readonly #logged = new Map<string, Set<string>>();
  /**
   * Per peer, the Digests of it received since its link came up (forget): the number each repair
   * says it began from when it tells the peer it is over (RepairPeer.repaired).
   */
  readonly #digestsFrom = new Map<string, number>();
  /**
   * Per peer, the repairs whose Pulls went and whose BootstrapDone has not come yet, oldest first:
   * the Digest each began from, and whether it left keys for the next repair (cut). A
   * BootstrapDone ends the oldest (the peer answers Pulls in order).
   */
  readonly #pulling = new Map<string, Array<{ readonly digest: number; readonly cut: boolean }>>();
  /** Peers to ask for their digest again (askDigest) once the entries this node pulls from them came. */
  readonly #askAfterPulls = new Set<string>();
  /**
   * Peers a listing from this node ended to since the last digest it sent them: an AskDigest of
   * theirs is answered, once (askedForDigest). Only such a listing is what an ask is about.
   */
  readonly #askable = new Set<string>();
  /** Per peer, while this cache is full: its repairs from the peer in a row that took nothing (see the essay). */
  readonly #fruitless = new Map<string, number>();
  #repairs = 0;
  /**
   * Digests built at the port's current generation (a count that moves whenever the cache
   * changes), by bucket count: reused while the count stays, so links that come and go, and peers
   * that ask at once, cost one read of an unchanged cache, not one each.
   */
  readonly #built = new Map<number, FoldedDigest>();
  #builtAt: number | undefined;
  /** The read of the whole cache under way (the last one started), and when the next may start. */
  #reading: Promise<void> = Promise.resolve();
  #readableAt = Number.NEGATIVE_INFINITY;
  #readPause = 0;

  readonly #scheduler: Scheduler;
  readonly #takesNewKeys: boolean;

  constructor(port: ReplicaPort<unknown>, options: CacheRepairOptions) {
    this.#port = port;
    this.#options = options;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#takesNewKeys = options.takesNewKeys ?? true;
    // Starts the port keeping its digest now, while the cache is new to replication (and small).
    port.digest(1);
  }

  /** Repairs of this cache from a peer that finished, since start. */
  get repairs(): number {
    return this.#repairs;
  }

  /** Sends `peer` this cache's state, summarised, so that it repairs itself from this node. */
  offer(peer: RepairPeer): void {
    this.offerTo([peer]);
  }

  /** offer() to several peers, reading the cache once for all of them. */
  offerTo(peers: readonly RepairPeer[]): void {
    const offers = peers.map((peer) => {
      const previous = this.#offers.get(peer.node);
      if (previous !== undefined) previous.cancelled = true; // only the newest state is worth sending
      const offer = { cancelled: false };
      this.#offers.set(peer.node, offer);
      return { peer, offer, listingsEnded: this.#listingsEnded.get(peer.node) ?? 0 };
    });
    const everyoneLeft = {
      get cancelled() {
        return offers.every(({ offer }) => offer.cancelled);
      },
      // The digest is of the cache from when its read starts: a listing that ended before then
      // (while the read waited for the one before it, or for the read pause) is in it already, and
      // counted against it, earned another read and pause, the cache having changed meanwhile.
      reading: () => {
        for (const entry of offers) entry.listingsEnded = this.#listingsEnded.get(entry.peer.node) ?? 0;
      },
    };
    void this.#digest(everyoneLeft).then(
      (digest) => {
        for (const { peer, offer, listingsEnded } of offers) {
          if (this.#offers.get(peer.node) === offer) this.#offers.delete(peer.node);
          if (digest === undefined || offer.cancelled) continue;
          // Never while a listing to that peer goes on: the peer would take the rest of that
          // listing for its repair from this digest, and a digest it is asked for meanwhile
          // (askDigest) would meet the next listing the same way, one after another for as long
          // as the caches differ. It goes, built afresh, once the listing is over.
          if (this.#serving.has(peer.node)) {
            this.#offerAfterServing.add(peer.node);
            continue;
          }
          // Nor one read partly before a listing to that peer ended (a disk tier's digest is read
          // in slices): the peer takes a digest that comes after a listing for newer than it, and
          // asks for none more (#askAfterPulls). Offered again, it is: read afresh if the cache
          // changed while it was read, else the same (then it is the cache as it is).
          if ((this.#listingsEnded.get(peer.node) ?? 0) !== listingsEnded) {
            this.offer(peer);
            continue;
          }
          this.#offered.set(peer.node, digest.bucketCount);
          this.#askable.delete(peer.node); // read after the listing: what an ask would bring
          peer.send(digest);
        }
      },
      (error: unknown) => {
        for (const { peer } of offers) this.#failed(peer, 'digest', error);
      },
    );
  }

  /** Handles a repair message from `peer`. */
  receive(peer: RepairPeer, message: Exclude<RepairMessage, EntriesMessage>): void {
    switch (message.type) {
      case MessageType.Digest:
        // A digest the peer sent after the listing it would be asked about is already newer
        // than that listing: the repair from it compares what the ask would have. (One the peer
        // held back while it listed, offerTo, comes right after that listing, so before the
        // pulled entries: asking too would only cost one more digest and listing.)
        this.#askAfterPulls.delete(peer.node);
        this.#queueDigest(peer, message, this.#countDigest(peer.node));
        break;
      case MessageType.RepairRequest:
        this.#onRepairRequest(peer, message);
        break;
      case MessageType.Keys:
        this.#onKeys(peer, message);
        break;
      case MessageType.Pull: {
        const expected = this.#pullsExpected.get(peer.node);
        if (expected === undefined || expected.ended) {
          this.#unsolicited(peer, 'pull');
          break;
        }
        // Pulls wait behind the one being answered (its chunks wait for the socket): no more of
        // them than one repair may ask for. A peer that read nothing queued 1.5 GB of Pulls, then
        // closed its link and left the node answering nine million keys in one go.
        const bytes = message.keys.reduce((sum, key) => sum + heldKeyBytes(key), 0);
        if (expected.queuedKeys + message.keys.length > MAX_WANTED || expected.queuedBytes + bytes > MAX_WANTED_BYTES) {
          this.#unsolicited(peer, 'pull past what one repair may ask');
          break;
        }
        expected.queuedKeys += message.keys.length;
        expected.queuedBytes += bytes;
        // Kept until the last is answered, so that a link going down meanwhile cancels what is queued.
        if (message.last) expected.ended = true;
        expected.answering = expected.answering
          .then(() => this.#onPull(peer, message, expected))
          .catch((error: unknown) => this.#failed(peer, 'pull', error))
          .finally(() => {
            expected.queuedKeys -= message.keys.length;
            expected.queuedBytes -= bytes;
            if (message.last && this.#pullsExpected.get(peer.node) === expected) this.#pullsExpected.delete(peer.node);
          });
        break;
      }
      case MessageType.BootstrapDone: {
        this.#repaired(peer.node);
        // The end of this node's Pulls (the entries they brought are applied: they came before it
        // on the link), or of a push to this node when its own Digest said it held nothing, which
        // answered no Digest of the peer's: nothing to tell the peer then.
        const pulled = this.#pulling.get(peer.node)?.shift();
        if (pulled !== undefined && !pulled.cut) peer.repaired?.(pulled.digest);
        if (this.#askAfterPulls.delete(peer.node)) this.#options.askDigest?.(peer.node);
        break;
      }
    }
  }

  /** Forgets a peer's repair in progress (its link went down; the next link-up starts again). */
  forget(node: string): void {
    this.#wanted.delete(node);
    const offer = this.#offers.get(node);
    if (offer !== undefined) offer.cancelled = true;
    this.#offers.delete(node);
    this.#offered.delete(node);
    const serve = this.#serving.get(node);
    if (serve !== undefined) serve.cancelled = true; // what it has left to send goes to no one
    this.#serving.delete(node);
    this.#listingsEnded.delete(node);
    this.#offerAfterServing.delete(node);
    const pulls = this.#pullsExpected.get(node);
    if (pulls !== undefined) pulls.cancelled = true; // the Pulls it queued are not answered
    this.#pullsExpected.delete(node);
    this.#digests.delete(node);
    this.#logged.delete(node);
    this.#fruitless.delete(node);
    this.#askAfterPulls.delete(node);
    this.#askable.delete(node);
    this.#digestsFrom.delete(node);
    this.#pulling.delete(node);
  }

  /** Counts a Digest from `node` on its link; its number (from 1). */
  #countDigest(node: string): number {
    const count = (this.#digestsFrom.get(node) ?? 0) + 1;
    this.#digestsFrom.set(node, count);
    return count;
  }

  /**
   * Whether `peer`'s AskDigest is to be answered (with offer(): the caller's, which keeps its own
   * count of digests sent): once a listing from this node to it ended, and only once for it, and
   * not if a digest went to it since (that one was read after the listing: it is what the ask
   * would bring). A peer asks only after a repair from this node, which this node listed; an ask
   * of any other time is ignored (logged once per link if no listing went to the peer). Answered
   * every time, a flood of asks of a few bytes each was answered by as many digests, up to 512 KiB
   * each; and two nodes whose caches differ for good could keep each other at it: the digest this
   * node owes once a listing is over (offerAfterServing) and the one an ask brought reached the
   * peer one after the other, the second while the first one's listing came, which made the peer
   * ask again.
   */
  askedForDigest(peer: RepairPeer): boolean {
    if (this.#askable.delete(peer.node)) return true;
    // An honest peer asks after a digest it was sent meanwhile (the two crossed): quietly ignored.
    if ((this.#listingsEnded.get(peer.node) ?? 0) === 0) this.#unsolicited(peer, 'ask for a digest');
    return false;
  }

  /** This cache's digest; undefined when the offer was cancelled while it was being built. */
  async #digest(offer: DigestOffer): Promise<DigestMessage | undefined> {
    const bucketCount = bucketCountFor(this.#port.size + this.#port.tombstoneCount);
    const built = await this.#build(bucketCount, offer);
    if (built === undefined) return undefined;
    const { digest } = built;
    return {
      type: MessageType.Digest,
      cache: this.#port.cacheName,
      bucketCount,
      digest,
      clearVersion: this.#port.clearVersion,
    };
  }

  async #build(bucketCount: number, offer?: DigestOffer): Promise<FoldedDigest | undefined> {
    const reused = this.#builtNow(bucketCount);
    if (reused !== undefined) return reused;
    const kept = this.#port.digest(bucketCount);
    if (kept !== undefined) {
      this.#built.set(bucketCount, kept);
      return kept;
    }
    // A read of the whole cache (a disk tier's): one at a time, and paced (see the essay).
    const previous = this.#reading;
    let done = () => {};
    this.#reading = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await previous;
      // A read that waited may find its digest read meanwhile, for the cache as it is now: before
      // the pause and after it.
      const before = this.#builtNow(bucketCount);
      if (before !== undefined) return before;
      // Never longer than the pause itself: a clock stepped back meanwhile does not lengthen it.
      const wait = Math.min(this.#readPause, this.#readableAt - this.#scheduler.now());
      if (wait > 0) await new Promise<void>((resolve) => this.#scheduler.setTimeout(resolve, wait));
      if (offer?.cancelled === true) return undefined;
      const after = this.#builtNow(bucketCount);
      if (after !== undefined) return after;
      offer?.reading?.();
      const started = this.#scheduler.now();
      const read = await this.#read(bucketCount, offer);
      const ended = this.#scheduler.now();
      // The clock is the wall's: a step forward during the read (a VM resumed, NTP) must not stop
      // digests for three times the step, so a read counts for MAX_COUNTED_READ_MILLIS at most.
      this.#readPause = READ_PAUSE_FACTOR * Math.min(Math.max(0, ended - started), MAX_COUNTED_READ_MILLIS);
      this.#readableAt = ended + this.#readPause;
      return read;
    } finally {
      done();
    }
  }

  /** The digest at `bucketCount` already built for the cache as it is now, if any. */
  #builtNow(bucketCount: number): FoldedDigest | undefined {
    const generation = this.#port.generation;
    if (generation !== this.#builtAt) {
      this.#built.clear();
      this.#builtAt = generation;
    }
    return this.#built.get(bucketCount);
  }

  /** Reads the whole cache, in slices, into a digest at `bucketCount`; kept if nothing changed meanwhile. */
  async #read(bucketCount: number, offer: { cancelled: boolean } | undefined): Promise<FoldedDigest | undefined> {
    const generation = this.#port.generation;
    const builder = new BucketDigest(bucketCount);
    let n = 0;
    for (const item of this.#items()) {
      builder.add(item.key, item.version, item.removed);
      if (++n % SLICE === 0) {
        await this.#scheduler.nextTurn();
        if (offer?.cancelled === true) return undefined;
      }
    }
    const built = builder.fold(bucketCount);
    // Kept only if nothing changed while it was read in slices: then it is the cache as it is.
    if (this.#port.generation === generation && this.#builtAt === generation) {
      this.#built.set(bucketCount, built);
    }
    return built;
  }

  /** One digest per peer at a time: a digest that arrives meanwhile waits, and only the newest. */
  #queueDigest(peer: RepairPeer, message: DigestMessage, number: number): void {
    const current = this.#digests.get(peer.node);
    if (current !== undefined) {
      current.next = { message, number };
      return;
    }
    const slot: DigestSlot = { next: undefined };
    this.#digests.set(peer.node, slot);
    const run = async (digest: DigestMessage, numbered: number): Promise<void> => {
      try {
        await this.#onDigest(peer, digest, numbered);
      } catch (error) {
        this.#failed(peer, 'digest', error);
      }
      if (this.#digests.get(peer.node) !== slot) return; // the peer left meanwhile
      const next = slot.next;
      slot.next = undefined;
      if (next === undefined) this.#digests.delete(peer.node);
      else await run(next.message, next.number);
    };
    void run(message, number);
  }

  /** Handles the peer's `number`-th Digest (#digestsFrom). */
  async #onDigest(peer: RepairPeer, message: DigestMessage, number: number): Promise<void> {
    const cache = this.#port.cacheName;
    // Until its first repair finishes (its bootstrap, from whichever peer answers first, empty or
    // not, as Ehcache bootstraps once from one peer), a node takes everything, whatever its options.
    const fresh = this.#repairs === 0;
    const cleared =
      message.clearVersion !== undefined &&
      this.#options.apply({ type: MessageType.RemoveAll, cache, version: message.clearVersion }, peer.node) ===
        'applied';
    if (message.digest.every((byte) => byte === 0)) {
      // The peer holds nothing (no entries, no tombstones): nothing to pull, and no need to
      // read this whole cache to find that out (a node joining a big one would pay it).
      this.#repaired(peer.node);
      peer.repaired?.(number);
      // And if this node's digest for it is still being built, it need not be: an empty peer
      // wants everything, so send everything now (it counts as repaired at BootstrapDone). Not
      // while a listing to it goes on (a RepairRequest of before it emptied): a second listing
      // beside it would take its place in #serving, leaving that one running untracked (forget
      // would not stop it, and a digest could go while it still lists). The digest being built
      // then goes once that listing is over (offerTo), and the peer asks for what it lacks.
      const offer = this.#offers.get(peer.node);
      if (offer !== undefined && !this.#serving.has(peer.node)) {
        offer.cancelled = true;
        this.#offers.delete(peer.node);
        const pushed = peer.pushing?.();
        if (await this.#serveAlone(peer, 1, [], [0], 'bootstrapDone')) pushed?.();
      }
      return;
    }
    const built = await this.#build(message.bucketCount);
    if (built === undefined) return;
    const { digest, counts } = built;
    const differing = differingBuckets(digest, message.digest);
    // Keys this node does not hold, it takes only as far as it has room (and replicatePuts with
    // replicatePutsViaCopy let it): a bounded cache that pulled back what it evicted would evict
    // what it uses to make room for what a peer uses, every round, and nodes of different sizes
    // would never agree anyway.
    // Read after the build, which may have waited for a read of a disk tier meanwhile.
    const room = fresh ? Number.POSITIVE_INFINITY : this.#takesNewKeys ? this.#port.room : 0;
    const holds = (bucket: number) => (counts[bucket] ?? 0) > 0;
    // Whole buckets only when everything in them may come; else their keys, to choose from.
    const fullBuckets = room === Number.POSITIVE_INFINITY ? differing.filter((bucket) => !holds(bucket)) : [];
    const keyBuckets = room === Number.POSITIVE_INFINITY || room === 0 ? differing.filter(holds) : differing;
    if (fullBuckets.length === 0 && keyBuckets.length === 0) {
      this.#skipNoMore(peer); // in step
      this.#repaired(peer.node);
      peer.repaired?.(number);
      return;
    }
    const now = this.#now();
    const missedBefore = now - (this.#options.inFlightMillis ?? IN_FLIGHT_MILLIS);
    // A repair from this peer still listing its keys goes on into this one: the Keys still to come
    // may be that listing's (the peer ignores this RepairRequest while it serves that one), and
    // what it collected so far is kept. Started afresh, its keys were dropped, and its listing's
    // last Keys ended the repair with only those listed after this digest: both nodes of a
    // backplane repairing from each other at once each sent the other two digests, and one
    // counted itself repaired without the keys it lacked (backplane-faults.test.ts, the changes
    // key deleted, in a full-suite run; peer-bounds.test.ts replays the order of messages).
    const kept = this.#wanted.get(peer.node);
    const before = kept !== undefined && now - kept.heardAt < STALE_WANTED_MILLIS ? kept : undefined;
    this.#wanted.set(peer.node, {
      keys: before?.keys ?? [],
      bytes: before?.bytes ?? 0,
      ...(before?.cut === true ? { cut: true } : {}),
      room: before === undefined ? room : Math.min(room, before.room),
      full: room === 0,
      overlapped: before !== undefined,
      missedBefore,
      found: cleared || before?.found === true,
      heardAt: now,
      // Named after the Digest of the repair kept even when that one is stale: the peer ignores
      // this RepairRequest while it still lists for that one, so the Keys that end this repair may
      // be that listing's, which compared only the buckets its Digest showed apart. Named after
      // this one, a Digest sent after an overflow, the peer's settle() counted this node as
      // holding what the overflow dropped though nothing here had compared it (at worst, the peer
      // sends one Digest more).
      digest: kept?.digest ?? number,
    });
    peer.send({
      type: MessageType.RepairRequest,
      cache,
      bucketCount: message.bucketCount,
      keyBuckets,
      fullBuckets,
    });
    // Whole buckets come as they are: room for about as many entries as they hold, made at once
    // (after the request: the peer starts on its answer meanwhile).
    if (fullBuckets.length > 0) this.#port.reserve(keysInBuckets(fullBuckets.length));
  }

  /**
   * Served only in answer to this node's latest digest to the peer, and one at a time. No digest
   * goes to a peer while a listing to it goes on (offerTo: it waits for the listing's end): the
   * peer could not tell two listings apart (Keys name no request), and its repair from the later
   * digest took the end of the older listing for its own. Sent at once instead, with the peer
   * asking for digests (askDigest, nothing to pull), each listing ended with two digests in
   * flight, the second overlapping the next listing: the two nodes kept each other at it for as
   * long as their caches differed (two full bounded caches: for good).
   *
   * A request that comes while a listing to its peer goes on is not served, then, but earns the
   * peer one fresh digest once the listing is over. An honest peer sends one when two digests
   * reached it before its first request did (a link-up's and a round's, say): the first request
   * took the latest digest's place, and the second, its repair from the second digest, was
   * dropped with a warning, to wait for the next round (the mesh) or an ask (a backplane). Checked
   * before the digest it answers, which is gone by then. At most one digest a listing, whatever
   * the peer sends, and a listing only ever answers a digest this node sent.
   */
  #onRepairRequest(peer: RepairPeer, message: RepairRequestMessage): void {
    if (this.#serving.has(peer.node)) {
      this.#offerAfterServing.add(peer.node);
      return;
    }
    if (this.#offered.get(peer.node) !== message.bucketCount) {
      this.#unsolicited(peer, 'repair request');
      return;
    }
    this.#offered.delete(peer.node);
    void this.#serveAlone(peer, message.bucketCount, message.keyBuckets, message.fullBuckets, 'lastKeys').catch(
      (error: unknown) => this.#failed(peer, 'repair request', error),
    );
  }

  /**
   * #serve, as the one listing to `peer` under way (#serving): a digest due meanwhile waits for
   * its end, and the link going down (forget) stops it at its next wait.
   */
  async #serveAlone(
    peer: RepairPeer,
    bucketCount: number,
    keyBuckets: readonly number[],
    fullBuckets: readonly number[],
    end: 'lastKeys' | 'bootstrapDone',
  ): Promise<boolean> {
    const serve = { cancelled: false };
    this.#serving.set(peer.node, serve);
    try {
      return await this.#serve(peer, serve, bucketCount, keyBuckets, fullBuckets, end);
    } finally {
      // A link that went down meanwhile (forget) owes nothing, and one that came up again may
      // be serving anew: that serve is not this one's to end.
      if (this.#serving.get(peer.node) === serve) {
        this.#serving.delete(peer.node);
        this.#listingsEnded.set(peer.node, (this.#listingsEnded.get(peer.node) ?? 0) + 1);
        this.#askable.add(peer.node);
        if (this.#offerAfterServing.delete(peer.node)) this.offer(peer);
      }
    }
  }

  /**
   * Sends the entries of `fullBuckets` and the (key, version) lists of `keyBuckets`, then ends
   * with the last Keys chunk (the answer to a RepairRequest) or BootstrapDone (a push to an
   * empty peer, which has nothing to pull afterwards). Stops, sending nothing more, at the first
   * wait after `serve` is cancelled: a joiner that went away halfway through a bootstrap of a
   * million entries had the rest read, written and sealed for no one, and on a backplane, where
   * a member that restarts is the same name, the tail of a listing meant for its previous run.
   * True when it sent its end, false when it stopped.
   */
  async #serve(
    peer: RepairPeer,
    serve: { readonly cancelled: boolean },
    bucketCount: number,
    keyBuckets: readonly number[],
    fullBuckets: readonly number[],
    end: 'lastKeys' | 'bootstrapDone',
  ): Promise<boolean> {
    const cache = this.#port.cacheName;
    const full = new Set(fullBuckets);
    const listed = new Set(keyBuckets);
    // A bootstrap, or a peer that differs everywhere, is sent every entry: no key is hashed then.
    const everyEntry = full.size === bucketCount;
    const batches = this.#batcher(peer);
    const keys = new Chunker<KeyVersion>(this.#options.chunkBytes, KEYS_PER_MESSAGE, (items) =>
      peer.send({ type: MessageType.Keys, cache, items, last: false }),
    );
    let n = 0;
    const clear = this.#port.clearVersion;
    if (end === 'bootstrapDone' && clear !== undefined) batches.clearFirst(clear);
    // Values are read (a peer's, decoded) only for the entries sent whole.
    // Each entry is read in the turn it is stepped to (entry-cursor.ts).
    const entries = this.#port.liveEntries();
    for (;;) {
      if (++n % SLICE === 0) {
        await this.#scheduler.nextTurn();
        if (serve.cancelled) return false;
      }
      if (!entries.next()) break;
      if (!entries.versioned) continue;
      let sent = false;
      if (everyEntry) sent = batches.put(entries);
      else {
        const bucket = bucketOfHash(entries.keyHash, bucketCount);
        if (full.has(bucket)) sent = batches.put(entries);
        else if (listed.has(bucket)) {
          const key = entries.key;
          const version = entries.version() as Version;
          sent = keys.add({ key, version, removed: false }, keyVersionBytes(key, version));
        }
      }
      if (sent) {
        await peer.drained();
        if (serve.cancelled) return false;
      }
    }
    for (const { key, version } of this.#port.tombstones()) {
      const bucket = bucketOf(key, bucketCount);
      if (full.has(bucket)) batches.remove(key, version);
      else if (listed.has(bucket)) keys.add({ key, version, removed: true }, keyVersionBytes(key, version));
    }
    batches.end();
    keys.end();
    if (end === 'lastKeys') {
      this.#pullsExpected.set(peer.node, {
        bucketCount,
        buckets: listed,
        answered: new Set(),
        answering: Promise.resolve(),
        queuedKeys: 0,
        queuedBytes: 0,
        cancelled: false,
        ended: false,
      });
      peer.send({ type: MessageType.Keys, cache, items: [], last: true });
    } else peer.send({ type: MessageType.BootstrapDone, cache });
    return true;
  }

  #onKeys(peer: RepairPeer, message: KeysMessage): void {
    const wanted = this.#wanted.get(peer.node);
    if (wanted === undefined) return; // not repairing from this peer (any more): nothing to pull
    wanted.heardAt = this.#now();
    try {
      this.#compare(peer, wanted, message.items);
    } finally {
      this.#port.prefetch(NO_KEYS); // the run is over: the cache lets the keys go
    }
    if (!message.last) return;
    this.#wanted.delete(peer.node);
    this.#judge(peer, wanted);
    const keys = wanted.keys;
    if (keys.length === 0) {
      this.#repaired(peer.node);
      if (wanted.cut !== true) peer.repaired?.(wanted.digest);
      if (wanted.overlapped) this.#options.askDigest?.(peer.node);
      return;
    }
    const pulling = this.#pulling.get(peer.node) ?? [];
    // An honest peer answers every Pull (one BootstrapDone a repair); one that does not must not
    // grow this list: past the bound the oldest goes (misnumbering only what that peer is told).
    if (pulling.push({ digest: wanted.digest, cut: wanted.cut === true }) > MAX_PULLING) pulling.shift();
    this.#pulling.set(peer.node, pulling);
    if (wanted.overlapped) this.#askAfterPulls.add(peer.node);
    // Chunked by count and bytes as Keys are; the last chunk says it is the last.
    const cache = this.#port.cacheName;
    const chunks: string[][] = [];
    const pulls = new Chunker<string>(this.#options.chunkBytes, KEYS_PER_MESSAGE, (chunk) => chunks.push(chunk));
    for (const key of keys) pulls.add(key, 3 * key.length + 8);
    pulls.end();
    chunks.forEach((chunk, i) => {
      peer.send({ type: MessageType.Pull, cache, keys: chunk, last: i === chunks.length - 1 });
    });
  }

  /**
   * Compares a peer's (key, version) list with what this cache knows: removals newer than it are
   * applied, keys newer than it are collected to pull (within the repair's bounds). The keys are
   * read ahead a run at a time.
   */
  #compare(peer: RepairPeer, wanted: Wanted, items: readonly KeyVersion[]): void {
    const cache = this.#port.cacheName;
    const clear = this.#port.clearVersion;
    const maxWanted = this.#options.maxWanted ?? MAX_WANTED;
    const maxWantedBytes = this.#options.maxWantedBytes ?? MAX_WANTED_BYTES;
    const keys = wanted.keys;
    for (let i = 0; i < items.length; i++) {
      prefetchEveryRun(this.#port, items, i, keyOfItem);
      const { key, version, removed } = items[i] as KeyVersion;
      if (clear !== undefined && !isNewer(version, clear)) continue;
      if (removed) {
        const outcome = this.#options.apply({ type: MessageType.Remove, cache, key, version }, peer.node, true);
        if (outcome === 'applied' && version.time < wanted.missedBefore) wanted.found = true;
      } else {
        const known = this.#port.knownVersion(key);
        if (!isNewer(version, known)) continue;
        // A key held is brought up to date; one not held (nothing known, or only its removal)
        // is taken only while there is room.
        if (known === undefined || this.#port.peekEntry(key) === undefined) {
          if (wanted.room <= 0) continue;
          wanted.room--;
        }
        if (version.time < wanted.missedBefore) wanted.found = true;
        if (wanted.cut) continue;
        if (keys.length < maxWanted && wanted.bytes + heldKeyBytes(key) <= maxWantedBytes) {
          keys.push(key);
          wanted.bytes += heldKeyBytes(key);
        } else {
          wanted.cut = true;
          this.#options.logger.warn(
            { cache, peer: peer.node, limit: maxWanted, limitBytes: maxWantedBytes },
            'repair wants more keys than it collects at once; the rest waits for the next repair',
          );
        }
      }
    }
  }

  /** Answers a Pull: keys of the buckets listed, each once, in chunks that wait for the socket to drain. */
  async #onPull(peer: RepairPeer, message: PullMessage, expected: PullsExpected): Promise<void> {
    if (expected.cancelled) return;
    const cache = this.#port.cacheName;
    const batches = this.#batcher(peer);
    let strays = 0;
    const keys = message.keys;
    try {
      for (let i = 0; i < keys.length; i++) {
        if ((i + 1) % SLICE === 0) {
          await this.#scheduler.nextTurn();
          if (expected.cancelled) return;
        }
        prefetchEveryRun(this.#port, keys, i, keyOfPull);
        const key = keys[i] as string;
        if (expected.answered.has(key)) continue;
        if (!expected.buckets.has(bucketOf(key, expected.bucketCount))) {
          strays++;
          continue;
        }
        expected.answered.add(key);
        const entry = this.#port.peekEntry(key);
        let sent = false;
        if (entry?.version !== undefined) sent = batches.putEntry(entry, entry.version);
        else {
          const removedAt = this.#port.knownVersion(key); // a tombstone, when the entry is gone
          if (removedAt !== undefined) sent = batches.remove(key, removedAt);
        }
        if (sent) {
          await peer.drained();
          // The link went down while the socket drained: the rest, and BootstrapDone, go to no one
          // (on a backplane, to a member restarted under the same name, which took it as its bootstrap).
          if (expected.cancelled) return;
        }
      }
    } finally {
      this.#port.prefetch(NO_KEYS); // the run is over (or cancelled): the cache lets the keys go
    }
    batches.end();
    if (strays > 0) this.#unsolicited(peer, 'pull of keys not listed');
    if (message.last) peer.send({ type: MessageType.BootstrapDone, cache });
  }

  /** A repair message this node did not ask for: ignored, and logged once per kind and link. */
  #unsolicited(peer: RepairPeer, kind: string): void {
    let logged = this.#logged.get(peer.node);
    if (logged === undefined) {
      logged = new Set();
      this.#logged.set(peer.node, logged);
    }
    if (logged.has(kind)) return;
    logged.add(kind);
    this.#options.logger.warn(
      { cache: this.#port.cacheName, peer: peer.node, kind },
      'a repair message this node did not ask for; ignored (logged once per link)',
    );
  }

  #failed(peer: RepairPeer, stage: string, error: unknown): void {
    this.#options.logger.error(
      { cache: this.#port.cacheName, peer: peer.node, stage, err: error },
      'repair step failed',
    );
  }

  /** This node's clock, as the repair reads it (the one given, else the scheduler's). */
  #now(): number {
    return this.#options.clock?.() ?? this.#scheduler.now();
  }

  #repaired(node: string): void {
    this.#repairs++;
    this.#options.onRepaired(node);
  }

  /**
   * A repair from `peer` has listed all it differs by: if the cache was full and the repair found
   * nothing missed, the peer is asked to skip its next rounds, more of them the longer that lasts;
   * otherwise a peer asked to skip some is told to skip none left (rounds: 0).
   */
  #judge(peer: RepairPeer, wanted: Wanted): void {
    if (!peer.sendsRounds || wanted.overlapped) return;
    // A repair that met a bound (wanted.cut) left keys for the next: it found something.
    if (!wanted.full || wanted.found || wanted.cut === true) {
      this.#skipNoMore(peer);
      return;
    }
    const fruitless = (this.#fruitless.get(peer.node) ?? 0) + 1;
    this.#fruitless.set(peer.node, fruitless);
    const rounds = Math.min(2 ** Math.min(fruitless, 8) - 1, MAX_ROUNDS_SKIPPED);
    peer.send({ type: MessageType.SkipRounds, cache: this.#port.cacheName, rounds });
  }

  /** A peer this cache asked to skip rounds is told to skip none left (rounds: 0), and the run of repairs that took nothing ends. */
  #skipNoMore(peer: RepairPeer): void {
    if (this.#fruitless.delete(peer.node) && peer.sendsRounds) {
      peer.send({ type: MessageType.SkipRounds, cache: this.#port.cacheName, rounds: 0 });
    }
  }

  /** Live entries and tombstones, as (key, version, removed). */
  *#items(): IterableIterator<KeyVersion> {
    const entries = this.#port.liveEntries();
    while (entries.next()) {
      if (entries.versioned) yield { key: entries.key, version: entries.version() as Version, removed: false };
    }
    for (const { key, version } of this.#port.tombstones()) yield { key, version, removed: true };
  }

  /** Chunks of changes sent as Entries. */
  #batcher(peer: RepairPeer): EntryChunks {
    return new EntryChunks(this.#port.cacheName, this.#options.chunkBytes, MAX_BATCH_CHANGES, (message) =>
      peer.send(message),
    );
  }
}

/** Collects items into chunks bounded in bytes and count, handing each full chunk on. */
class Chunker<T> {
  #items: T[] = [];
  #bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxCount: number,
    private readonly emit: (items: T[]) => void,
  ) {}

  /** Adds an item; true when that first sent the chunk that was full. */
  add(item: T, bytes: number): boolean {
    let sent = false;
    if (this.#items.length > 0 && (this.#bytes + bytes > this.maxBytes || this.#items.length >= this.maxCount)) {
      this.end();
      sent = true;
    }
    this.#items.push(item);
    this.#bytes += bytes;
    return sent;
  }

  end(): void {
    if (this.#items.length === 0) return;
    this.emit(this.#items);
    this.#items = [];
    this.#bytes = 0;
  }
}
