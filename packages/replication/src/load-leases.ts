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
 * loads; the others withdraw their claims and wait. A node that misses
 * while a peer's claim is live waits without claiming. The winner loads, its put replicates (the
 * waiters return that value, already stored), and it releases the claim either way.
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
import { type Cache, compareVersions, type Logger, type Version } from '@meshcache/core';
import type { HybridLogicalClock } from './hlc.js';
import { type LeaseMessage, MessageType } from './protocol/messages.js';

interface Claim {
  readonly node: string;
  readonly version: Version;
  readonly expiresAt: number;
}

export interface LoadLeasesOptions {
  readonly cache: Cache<unknown>;
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
}

export class LoadLeases {
  readonly #options: LoadLeasesOptions;
  /** Live claims per key, by node (this node's included). */
  readonly #claims = new Map<string, Map<string, Claim>>();
  /** Waiters per key, woken when a claim on the key ends or a value arrives. */
  readonly #wakers = new Map<string, Set<() => void>>();
  #waitedForPeers = 0;
  #loadedHere = 0;

  constructor(options: LoadLeasesOptions) {
    this.#options = options;
  }

  /** Loads answered by a peer's value and loads this node ran, since start; keys under a live claim now. */
  get counters(): { waitedForPeers: number; loadedHere: number; claimedKeys: number } {
    return { waitedForPeers: this.#waitedForPeers, loadedHere: this.#loadedHere, claimedKeys: this.#claims.size };
  }

  async coordinate(key: string, loadHere: () => Promise<unknown>): Promise<{ value: unknown; fromPeer: boolean }> {
    const self = this.#options.hlc.node;
    let winner = this.#winner(key);
    if (winner === undefined) {
      const version = this.#options.hlc.now();
      const reached = this.#announce(key, version, false);
      if (reached === 0) return this.#loadHere(loadHere); // alone: nobody to coordinate with
      this.#note(key, { node: self, version, expiresAt: Date.now() + this.#options.leaseMillis });
      await this.#options.confirm(this.#options.claimMillis);
      winner = this.#winner(key);
      if (winner === undefined || winner.node === self) {
        let loaded = false;
        try {
          const outcome = await this.#loadHere(loadHere);
          loaded = true;
          return outcome;
        } finally {
          this.#forget(key, self);
          if (loaded) {
            // The release must reach peers after the value, or they would stop waiting a moment
            // too soon and call the origin themselves: getOrLoad stores the value once this
            // returns, so on the next turn flush what is queued, then release (frames keep order).
            setImmediate(() => {
              this.#options.flush();
              this.#announce(key, version, true);
            });
          } else {
            this.#announce(key, version, true);
          }
        }
      }
      this.#forget(key, self); // lost to an older claim: withdraw, and wait for the winner
      this.#announce(key, version, true);
    }
    const arrived = await this.#waitFor(key, winner);
    if (arrived !== undefined) {
      this.#waitedForPeers++;
      return { value: arrived, fromPeer: true };
    }
    this.#options.logger.info(
      { cache: this.#options.cache.name, key, holder: winner.node },
      'single flight: the lease ended without a value; loading here',
    );
    return this.#loadHere(loadHere);
  }

  /** A claim or release from a peer. */
  receive(message: LeaseMessage, from: string): void {
    if (message.released) {
      const held = this.#claims.get(message.key)?.get(from);
      if (held !== undefined && compareVersions(held.version, message.version) === 0) this.#forget(message.key, from);
      return;
    }
    this.#note(message.key, { node: from, version: message.version, expiresAt: Date.now() + message.leaseMillis });
  }

  /** A peer's link dropped: its claims end now (its loads will never replicate over that link). */
  forgetNode(node: string): void {
    for (const key of [...this.#claims.keys()]) this.#forget(key, node);
  }

  /** Wakes waiters on a key whose value just arrived from a peer. */
  valueArrived(key: string): void {
    this.#wake(key);
  }

  close(): void {
    for (const key of [...this.#wakers.keys()]) this.#wake(key);
    this.#claims.clear();
  }

  async #loadHere(loadHere: () => Promise<unknown>): Promise<{ value: unknown; fromPeer: boolean }> {
    this.#loadedHere++;
    return { value: await loadHere(), fromPeer: false };
  }

  #announce(key: string, version: Version, released: boolean): number {
    const { cache, leaseMillis } = this.#options;
    return this.#options.broadcast({ type: MessageType.Lease, cache: cache.name, key, version, leaseMillis, released });
  }

  /** The oldest live claim on a key. Expired claims are dropped on the way (a hung holder's). */
  #winner(key: string): Claim | undefined {
    const claims = this.#claims.get(key);
    if (claims === undefined) return undefined;
    const now = Date.now();
    let winner: Claim | undefined;
    for (const claim of [...claims.values()]) {
      if (claim.expiresAt <= now) claims.delete(claim.node);
      else if (winner === undefined || compareVersions(claim.version, winner.version) < 0) winner = claim;
    }
    if (claims.size === 0) this.#claims.delete(key);
    return winner;
  }

  #note(key: string, claim: Claim): void {
    let claims = this.#claims.get(key);
    if (claims === undefined) {
      claims = new Map();
      this.#claims.set(key, claims);
    }
    claims.set(claim.node, claim);
  }

  #forget(key: string, node: string): void {
    const claims = this.#claims.get(key);
    if (claims?.delete(node) !== true) return;
    if (claims.size === 0) this.#claims.delete(key);
    this.#wake(key);
  }

  #wake(key: string): void {
    const wakers = this.#wakers.get(key);
    if (wakers === undefined) return;
    this.#wakers.delete(key);
    for (const wake of wakers) wake();
  }

  /**
   * Resolves with the key's value once it is held (it arrived), or undefined once `claim` is no
   * longer live (released, its node gone, or expired).
   */
  async #waitFor(key: string, claim: Claim): Promise<unknown> {
    const { cache } = this.#options;
    for (;;) {
      const held = cache.peekEntry(key);
      if (held !== undefined) return held.value;
      const live = this.#claims.get(key)?.get(claim.node);
      if (live === undefined || live.expiresAt <= Date.now()) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, live.expiresAt - Date.now()) + 1);
        let wakers = this.#wakers.get(key);
        if (wakers === undefined) {
          wakers = new Set();
          this.#wakers.set(key, wakers);
        }
        wakers.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
