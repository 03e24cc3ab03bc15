/**
 * Cluster-wide single flight for one replicated cache (`clusterSingleFlight`): when getOrLoad
 * misses a key on several nodes at once, one node calls the origin and the others wait for its
 * value to arrive by replication.
 *
 * The model. A node that must load a key sends every peer a Lease claim stamped with a version
 * from its hybrid logical clock, then asks every peer to acknowledge it (Sync/Ack). A peer that
 * claimed the key before it saw this claim sent its own claim first on the same ordered link, so
 * once the acknowledgements are in, every competing claim is known: no timing guess is involved.
 * (singleFlightClaimMillis bounds the wait for a slow peer.) Of the live claims for a key, the
 * oldest version wins, on every node alike, so exactly one of several simultaneous claimants
 * loads; the others withdraw their claims and wait. A node that misses while a peer's claim is
 * live waits without claiming. The winner loads, its put replicates (the waiters return that
 * value, already stored), and it releases the claim either way.
 *
 * Withdrawn is not released. A waiter may be waiting on a claim that then loses to an older one
 * (it saw the younger claim first: claims travel on different links). The loser's withdrawal says
 * nothing about the load, so the waiter decides again: it takes the value if it has arrived,
 * waits on another live claim if it knows one, and otherwise claims itself, which, through the
 * acknowledgements, makes it learn the winner's claim even if that is still on its way. (Treating
 * a withdrawal as "the load ended without a value" let two nodes call the origin: the race behind
 * a flaky gateway test.)
 *
 * Never worse than without coordination: a waiter loads itself as soon as the claim it waits on
 * ends without a value, which happens when the holder's load failed (it releases), when the
 * holder's link drops (killed, partitioned: its claims are forgotten), or when the lease runs
 * out (a hung holder). A node that cannot reach the holder never hears its claim and loads
 * itself. So the origin sees one call per key per cluster when all goes well, and at most one
 * per node when it does not.
 *
 * Not guaranteed: one call when claims cross a partition, or when a peer does not acknowledge
 * within singleFlightClaimMillis: then two nodes may load, and versions decide which value stays.
 */
import {
  type Clock,
  compareVersions,
  type Logger,
  type Scheduler,
  systemScheduler,
  type Version,
} from '@meshcache/core';
import type { LoadCoordinator, ReplicaPort } from '@meshcache/core/internal';
import type { HybridLogicalClock } from './hlc.js';
import { type LeaseMessage, type LeaseState, MessageType } from './protocol/messages.js';

/**
 * What a replicator needs of a cluster-wide single-flight source: LoadLeases (claims over the
 * peer links) or the backplane's lease in Redis.
 */
export interface ClusterLoadCoordinator extends LoadCoordinator<unknown> {
  /** Loads answered by a peer's value and loads this node ran, since start; keys under a live claim now. */
  readonly counters: { waitedForPeers: number; loadedHere: number; claimedKeys: number };
  /** A peer's Lease message (links only). */
  receive(message: LeaseMessage, from: string): void;
  /** A peer is gone: its claims end. */
  forgetNode(node: string): void;
  /** A peer's value for the key was just applied: wake whoever waits for it. */
  valueArrived(key: string): void;
  close(): void;
}

/** Why a claim stopped being live. */
type ClaimEnd = 'withdrawn' | 'released' | 'expired' | 'gone';

interface Claim {
  readonly node: string;
  readonly version: Version;
  readonly expiresAt: number;
  /** Set when the claim leaves the table, so whoever waits on it learns why. */
  ended?: ClaimEnd;
}

export interface LoadLeasesOptions {
  /** The cache's replica port: its name, and a quiet read of whether the value arrived. */
  readonly port: ReplicaPort<unknown>;
  readonly hlc: HybridLogicalClock;
  readonly logger: Logger;
  readonly leaseMillis: number;
  readonly claimMillis: number;
  /** Sends a lease message to every connected peer of this cache; how many peers it reached. */
  readonly broadcast: (message: LeaseMessage) => number;
  /** Sends every queued change now (so a loaded value leaves before the release). */
  readonly flush: () => void;
  /** Resolves once every connected peer acknowledged what was sent so far, or after `maxMillis`. */
  readonly confirm: (maxMillis: number) => Promise<void>;
  /** Timers. @default system */
  readonly scheduler?: Scheduler;
}

/**
 * Rounds of "the claim I waited on was withdrawn; decide again" before a node loads by itself.
 * Each round needs a newer, competing claim that lost, so more than a few means something is
 * wrong; loading here is then the safe answer.
 */
const MAX_ROUNDS = 8;
/**
 * A waiter decides again after a withdrawal for at most this many leases from its first look
 * (then it waits out the claim it holds to, at most one lease more, and loads here): a peer
 * renewing its claim just before it ran out made a getOrLoad wait 75 s on a 10 s lease (each
 * renewal stands for the claim before, which counts as withdrawn).
 */
const MAX_WAIT_LEASES = 2;
/** Live claims one peer may hold; past it its claims are ignored (a gateway loads a few keys at a time). */
export const MAX_CLAIMS_PER_PEER = 10_000;
/**
 * Characters of key one peer's live claims may hold in all; past it its claims are ignored too.
 * The count alone bounded nothing: a member sending claims with keys of 8 MiB ran a node out of
 * memory in 134 claims (found by an attack). 4 Mi characters is 10,000 keys of 400; a claim
 * ignored costs only the single flight (the waiter loads the key itself).
 */
export const MAX_CLAIM_KEY_CHARS_PER_PEER = 4 * 1024 * 1024;

export class LoadLeases implements ClusterLoadCoordinator {
  readonly #options: LoadLeasesOptions;
  readonly #clock: Clock;
  readonly #scheduler: Scheduler;
  /** Live claims per key, by node (this node's included). */
  readonly #claims = new Map<string, Map<string, Claim>>();
  /** Waiters per key, woken when a claim on the key ends or a value arrives. */
  readonly #wakers = new Map<string, Set<() => void>>();
  #waitedForPeers = 0;
  #loadedHere = 0;
  #farClaimLogged = false;
  #tooManyLogged = false;
  /** Live claims per peer, and the characters of their keys (MAX_CLAIMS_PER_PEER, MAX_CLAIM_KEY_CHARS_PER_PEER). */
  readonly #claimsOf = new Map<string, { count: number; chars: number }>();
  /** Drops expired claims while any are held: a claim is otherwise dropped only when its key is looked up (2,000,000 held 1 GB). */
  #sweep: (() => void) | undefined;

  constructor(options: LoadLeasesOptions) {
    this.#options = options;
    this.#scheduler = options.scheduler ?? systemScheduler;
    // Lease times follow the clock the versions follow: one injected clock drives both.
    this.#clock = () => options.hlc.wallClock();
  }

  /** Loads answered by a peer's value and loads this node ran, since start; keys under a live claim now. */
  get counters(): { waitedForPeers: number; loadedHere: number; claimedKeys: number } {
    return { waitedForPeers: this.#waitedForPeers, loadedHere: this.#loadedHere, claimedKeys: this.#claims.size };
  }

  async coordinate(key: string, loadHere: () => Promise<unknown>): Promise<{ value: unknown; fromPeer: boolean }> {
    const self = this.#options.hlc.node;
    const decideUntil = this.#clock() + MAX_WAIT_LEASES * this.#options.leaseMillis;
    for (let round = 1; ; round++) {
      let winner = this.#winner(key);
      if (winner === undefined) {
        const version = this.#options.hlc.now();
        const reached = this.#announce(key, version, 'claim');
        if (reached === 0) return this.#loadHere(loadHere); // alone: nobody to coordinate with
        this.#note(key, { node: self, version, expiresAt: this.#clock() + this.#options.leaseMillis });
        await this.#options.confirm(this.#options.claimMillis);
        winner = this.#winner(key);
        if (winner === undefined || winner.node === self) return this.#loadAsWinner(key, version, loadHere);
        this.#forget(key, self, 'withdrawn'); // lost to an older claim: withdraw, and wait for the winner
        this.#announce(key, version, 'withdraw');
      }
      const outcome = await this.#waitFor(key, winner);
      if (outcome.arrived) {
        this.#waitedForPeers++;
        return { value: outcome.value, fromPeer: true };
      }
      if (outcome.ended === 'withdrawn' && round < MAX_ROUNDS && this.#clock() < decideUntil) continue;
      this.#options.logger.info(
        { cache: this.#options.port.cacheName, key, holder: winner.node, why: outcome.ended },
        'single flight: the claim ended without a value; loading here',
      );
      return this.#loadHere(loadHere);
    }
  }

  /**
   * A claim, withdrawal or release from a peer. A claim lasts no longer than this node's own
   * lease, and one whose version is further from this node's clock than the drift bound is
   * ignored: an old version would win every contest, for as long as it lasted.
   */
  receive(message: LeaseMessage, from: string): void {
    if (message.state === 'claim') {
      const now = this.#clock();
      const drift = this.#options.hlc.maxDriftMillis;
      if (Math.abs(message.version.time - now) > drift) {
        if (!this.#farClaimLogged) {
          this.#farClaimLogged = true;
          this.#options.logger.warn(
            { cache: this.#options.port.cacheName, peer: from, drift: message.version.time - now },
            'single flight: a claim whose version is too far from this clock; ignored (logged once)',
          );
        }
        return;
      }
      const held = this.#claims.get(message.key)?.has(from) === true;
      const of = this.#claimsOf.get(from);
      if (
        !held &&
        of !== undefined &&
        (of.count >= MAX_CLAIMS_PER_PEER || of.chars + message.key.length > MAX_CLAIM_KEY_CHARS_PER_PEER)
      ) {
        if (!this.#tooManyLogged) {
          this.#tooManyLogged = true;
          this.#options.logger.warn(
            {
              cache: this.#options.port.cacheName,
              peer: from,
              limit: MAX_CLAIMS_PER_PEER,
              keyCharsLimit: MAX_CLAIM_KEY_CHARS_PER_PEER,
            },
            'single flight: a peer holds too many claims, or claims of too long keys; its further claims are ignored (logged once)',
          );
        }
        return;
      }
      this.#note(message.key, {
        node: from,
        version: message.version,
        expiresAt: now + Math.min(message.leaseMillis, this.#options.leaseMillis),
      });
      return;
    }
    const held = this.#claims.get(message.key)?.get(from);
    if (held !== undefined && compareVersions(held.version, message.version) === 0) {
      this.#forget(message.key, from, message.state === 'withdraw' ? 'withdrawn' : 'released');
    }
  }

  /** A peer's link dropped: its claims end now (its loads will never replicate over that link). */
  forgetNode(node: string): void {
    if (!this.#claimsOf.has(node)) return; // most links that drop hold no claim: no scan
    for (const key of [...this.#claims.keys()]) this.#forget(key, node, 'gone');
  }

  /** Wakes waiters on a key whose value just arrived from a peer. */
  valueArrived(key: string): void {
    this.#wake(key);
  }

  close(): void {
    this.#sweep?.();
    this.#sweep = undefined;
    for (const claims of this.#claims.values()) for (const claim of claims.values()) claim.ended = 'gone';
    this.#claims.clear();
    this.#claimsOf.clear();
    for (const key of [...this.#wakers.keys()]) this.#wake(key);
  }

  async #loadAsWinner(
    key: string,
    version: Version,
    loadHere: () => Promise<unknown>,
  ): Promise<{ value: unknown; fromPeer: boolean }> {
    let loaded = false;
    try {
      const outcome = await this.#loadHere(loadHere);
      loaded = true;
      return outcome;
    } finally {
      this.#forget(key, this.#options.hlc.node, 'released');
      if (loaded) {
        // The release must reach peers after the value, or they would stop waiting a moment
        // too soon and call the origin themselves: getOrLoad stores the value once this
        // returns, so on the next turn flush what is queued, then release (frames keep order).
        this.#scheduler.setTimeout(() => {
          this.#options.flush();
          this.#announce(key, version, 'release');
        }, 0);
      } else {
        this.#announce(key, version, 'release');
      }
    }
  }

  async #loadHere(loadHere: () => Promise<unknown>): Promise<{ value: unknown; fromPeer: boolean }> {
    this.#loadedHere++;
    return { value: await loadHere(), fromPeer: false };
  }

  #announce(key: string, version: Version, state: LeaseState): number {
    const { port, leaseMillis } = this.#options;
    return this.#options.broadcast({
      type: MessageType.Lease,
      cache: port.cacheName,
      key,
      version,
      leaseMillis,
      state,
    });
  }

  /** The oldest live claim on a key. Expired claims are dropped on the way (a hung holder's). */
  #winner(key: string): Claim | undefined {
    const claims = this.#claims.get(key);
    if (claims === undefined) return undefined;
    const now = this.#clock();
    let winner: Claim | undefined;
    for (const claim of [...claims.values()]) {
      if (claim.expiresAt <= now) this.#forget(key, claim.node, 'expired');
      else if (winner === undefined || compareVersions(claim.version, winner.version) < 0) winner = claim;
    }
    return winner;
  }

  #note(key: string, claim: Claim): void {
    let claims = this.#claims.get(key);
    if (claims === undefined) {
      claims = new Map();
      this.#claims.set(key, claims);
    }
    const replaced = claims.get(claim.node);
    if (replaced !== undefined)
      replaced.ended = 'withdrawn'; // a node's newer claim stands for its older one
    else {
      const of = this.#claimsOf.get(claim.node);
      if (of === undefined) this.#claimsOf.set(claim.node, { count: 1, chars: key.length });
      else {
        of.count++;
        of.chars += key.length;
      }
    }
    claims.set(claim.node, claim);
    this.#sweep ??= this.#scheduler.setInterval(() => this.#dropExpired(), this.#options.leaseMillis);
  }

  #dropExpired(): void {
    const now = this.#clock();
    for (const [key, claims] of [...this.#claims]) {
      for (const claim of [...claims.values()]) if (claim.expiresAt <= now) this.#forget(key, claim.node, 'expired');
    }
    if (this.#claims.size === 0) {
      this.#sweep?.();
      this.#sweep = undefined;
    }
  }

  #forget(key: string, node: string, why: ClaimEnd): void {
    const claims = this.#claims.get(key);
    const claim = claims?.get(node);
    if (claims === undefined || claim === undefined) return;
    claim.ended = why;
    claims.delete(node);
    const of = this.#claimsOf.get(node);
    if (of !== undefined && --of.count === 0) this.#claimsOf.delete(node);
    else if (of !== undefined) of.chars -= key.length;
    if (claims.size === 0) this.#claims.delete(key);
    this.#wake(key);
  }

  #wake(key: string): void {
    const wakers = this.#wakers.get(key);
    if (wakers === undefined) return;
    this.#wakers.delete(key);
    for (const wake of wakers) wake();
  }

  /** Resolves with the key's value once it is held (it arrived), or with why `claim` ended. */
  async #waitFor(
    key: string,
    claim: Claim,
  ): Promise<{ arrived: true; value: unknown } | { arrived: false; ended: ClaimEnd }> {
    const { port } = this.#options;
    for (;;) {
      const held = port.peekEntry(key);
      if (held !== undefined) return { arrived: true, value: held.value };
      if (claim.ended === undefined && claim.expiresAt <= this.#clock()) this.#forget(key, claim.node, 'expired');
      if (claim.ended !== undefined) return { arrived: false, ended: claim.ended };
      await new Promise<void>((resolve) => {
        const cancel = this.#scheduler.setTimeout(resolve, Math.max(0, claim.expiresAt - this.#clock()) + 1);
        let wakers = this.#wakers.get(key);
        if (wakers === undefined) {
          wakers = new Set();
          this.#wakers.set(key, wakers);
        }
        wakers.add(() => {
          cancel();
          resolve();
        });
      });
    }
  }
}
