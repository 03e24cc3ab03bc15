/**
 * Cluster-wide single flight over the backplane: the lease is a Redis key, taken with
 * SET NX PX, instead of LoadLeases' claim round over peer links.
 *
 * The model. A node that misses a key sets the key's lease to its own token, only if no lease
 * exists (NX), for singleFlightLeaseMillis (PX). Redis answers one node OK: that node loads. The
 * others wait for the value to arrive through the stream. When the load succeeds, the holder
 * flushes the value to the stream, waits until Redis has it, and then replaces its lease (only if
 * it is still its own: a compare-and-set script) with "done <stream id of the value's entry>" for
 * a short while: a waiter that sees it waits until its reader has passed that id, so it never
 * mistakes "released" for "the value is lost" just because its reader is a moment behind. A
 * failed load deletes the lease (compare-and-delete), and a waiter then claims in its turn.
 *
 * Never worse than without coordination: when the lease ends with no value (the holder's load
 * failed, or the holder died and the lease ran out, which is how a killed holder is survived) the
 * waiters claim again and one of them loads; a waiter loads by itself when a lease it waits on
 * outlives leaseMillis (Redis's clock and ours disagree), after MAX_ROUNDS rounds, or when Redis
 * does not answer: a node never waits on a Redis that is down.
 *
 * Not guaranteed: one call to the origin per key when the holder's lease runs out while it is
 * still loading (a load slower than singleFlightLeaseMillis), or when Redis is unreachable.
 * Lease keys are named by an HMAC of the cache and key under the cluster secret, so Redis never
 * sees a key of a cache; a Redis user can still take a lease (they cannot forge a value), or write
 * a new holder into one again and again, and so delay a load by at most two leases: a waiter
 * follows a lease that changes holder (the first holder failed, another waiter took over) only
 * until WAIT_LEASES leases from its first look, then loads by itself.
 */
import { createHmac } from 'node:crypto';
import type { Logger, Scheduler } from '@meshcache/core';
import type { ReplicaPort } from '@meshcache/core/internal';
import type { Redis } from 'ioredis';
import type { ClusterLoadCoordinator } from '../load-leases.js';
import type { LeaseMessage } from '../protocol/messages.js';
import { compareStreamIds } from './keys.js';

export interface RedisLeasesOptions {
  /** The cache's replica port: its name, and a quiet read of whether the value arrived. */
  readonly port: ReplicaPort<unknown>;
  readonly redis: Redis;
  /** The lease key of a digest. */
  readonly leaseKey: (digest: string) => string;
  /** Key for naming leases (derived from the cluster secret). */
  readonly nameKey: Buffer;
  /** Unique per node incarnation. */
  readonly holder: string;
  readonly leaseMillis: number;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  /** Sends every queued change now. */
  readonly flush: () => void;
  /** Resolves once what was sent is in Redis (or after maxMillis). */
  readonly settle: (maxMillis: number) => Promise<void>;
  /** The id of the last entry this node wrote to the changes stream. */
  readonly lastWrittenId: () => string | undefined;
  /** The id of the last changes entry this node's reader has read. */
  readonly readPosition: () => string | undefined;
}

/** How often a waiter looks at the lease, at most (it is also woken when a value arrives). */
const POLL_MILLIS = 50;
/** Rounds of "the lease ended without a value; claim again" before loading regardless. */
const MAX_ROUNDS = 8;
/** The longest a caller waits on other nodes' leases, in leases, whatever they do meanwhile. */
const WAIT_LEASES = 2;

const RELEASE_DONE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end`;
const RELEASE_FAILED = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class RedisLeases implements ClusterLoadCoordinator {
  readonly #options: RedisLeasesOptions;
  readonly #wakers = new Map<string, Set<() => void>>();
  #tokens = 0;
  #waitedForPeers = 0;
  #loadedHere = 0;
  #holding = 0;
  #closed = false;

  constructor(options: RedisLeasesOptions) {
    this.#options = options;
  }

  get counters(): { waitedForPeers: number; loadedHere: number; claimedKeys: number } {
    return { waitedForPeers: this.#waitedForPeers, loadedHere: this.#loadedHere, claimedKeys: this.#holding };
  }

  async coordinate(key: string, loadHere: () => Promise<unknown>): Promise<{ value: unknown; fromPeer: boolean }> {
    const { redis, port, leaseMillis } = this.#options;
    const lease = this.#options.leaseKey(
      createHmac('sha256', this.#options.nameKey).update(port.cacheName).update('\u0000').update(key).digest('hex'),
    );
    const giveUpAt = this.#options.scheduler.now() + WAIT_LEASES * leaseMillis + 4 * POLL_MILLIS;
    for (let round = 1; round <= MAX_ROUNDS && !this.#closed; round++) {
      if (redis.status !== 'ready') break;
      const token = `${this.#options.holder}:${++this.#tokens}`;
      let won: boolean;
      try {
        won = (await redis.set(lease, token, 'PX', leaseMillis, 'NX')) === 'OK';
      } catch {
        break; // Redis did not answer: load here
      }
      if (won) return this.#loadAsHolder(lease, token, loadHere);
      const outcome = await this.#waitFor(key, lease, giveUpAt);
      if (outcome.arrived) {
        this.#waitedForPeers++;
        return { value: outcome.value, fromPeer: true };
      }
      if (outcome.why !== 'ended') break;
    }
    this.#loadedHere++;
    return { value: await loadHere(), fromPeer: false };
  }

  receive(_message: LeaseMessage, _from: string): void {
    // Leases live in Redis: no lease messages travel between nodes.
  }

  forgetNode(_node: string): void {
    // A departed holder's lease runs out in Redis (PX).
  }

  valueArrived(key: string): void {
    const wakers = this.#wakers.get(key);
    if (wakers === undefined) return;
    this.#wakers.delete(key);
    for (const wake of wakers) wake();
  }

  close(): void {
    this.#closed = true;
    for (const key of [...this.#wakers.keys()]) this.valueArrived(key);
  }

  async #loadAsHolder(
    lease: string,
    token: string,
    loadHere: () => Promise<unknown>,
  ): Promise<{ value: unknown; fromPeer: boolean }> {
    const { redis, leaseMillis, scheduler } = this.#options;
    this.#loadedHere++;
    this.#holding++;
    let value: unknown;
    try {
      value = await loadHere();
    } catch (error) {
      this.#holding--;
      redis.eval(RELEASE_FAILED, 1, lease, token).catch(() => {}); // the lease runs out otherwise
      throw error;
    }
    // getOrLoad stores the value once this returns: on the next turn it is queued; send it, wait
    // until Redis has it, then say where it is.
    scheduler.setTimeout(() => {
      this.#options.flush();
      void this.#options
        .settle(leaseMillis)
        .then(() => {
          const at = this.#options.lastWrittenId() ?? '0-0';
          return redis.eval(RELEASE_DONE, 1, lease, token, `done ${at}`, String(Math.min(leaseMillis, 10_000)));
        })
        .catch(() => {})
        .finally(() => {
          this.#holding--;
        });
    }, 0);
    return { value, fromPeer: false };
  }

  /**
   * Waits for the value, or for the lease to end without one. A lease is never extended, so one
   * holder's lease ends within leaseMillis of when this node first saw it: past that (and a little
   * more), the wait gives up on it. Another waiter that takes the lease over in the same instant
   * is a new holder, with a new deadline, but never past `giveUpAt` (a Redis user rewriting the
   * lease would otherwise hold every waiter for as long as they kept at it).
   */
  async #waitFor(
    key: string,
    lease: string,
    giveUpAt: number,
  ): Promise<{ arrived: true; value: unknown } | { arrived: false; why: 'ended' | 'deadline' | 'redis' }> {
    const { port, redis, scheduler, leaseMillis } = this.#options;
    let holder: string | null | undefined;
    let deadline = Math.min(giveUpAt, scheduler.now() + leaseMillis + 4 * POLL_MILLIS);
    for (let polls = 0; polls < 1_000_000; polls++) {
      const held = port.peekEntry(key);
      if (held !== undefined) return { arrived: true, value: held.value };
      if (this.#closed || scheduler.now() >= deadline) return { arrived: false, why: 'deadline' };
      let state: string | null;
      try {
        state = await redis.get(lease);
      } catch {
        return { arrived: false, why: 'redis' };
      }
      const again = port.peekEntry(key);
      if (again !== undefined) return { arrived: true, value: again.value };
      if (state === null) return { arrived: false, why: 'ended' };
      if (holder !== undefined && state !== holder && !state.startsWith('done ')) {
        deadline = Math.min(giveUpAt, scheduler.now() + leaseMillis + 4 * POLL_MILLIS);
      }
      holder = state;
      if (state.startsWith('done ')) {
        // The value is in the stream at or before that id: once this node has read that far,
        // it has it, unless something newer removed it (then load).
        const read = this.#options.readPosition();
        if (read !== undefined && compareStreamIds(read, state.slice(5)) >= 0) {
          const now = port.peekEntry(key);
          return now === undefined ? { arrived: false, why: 'ended' } : { arrived: true, value: now.value };
        }
      }
      await new Promise<void>((resolve) => {
        let wakers = this.#wakers.get(key);
        if (wakers === undefined) {
          wakers = new Set();
          this.#wakers.set(key, wakers);
        }
        const set = wakers;
        const wake = () => {
          cancel();
          resolve();
        };
        const cancel = scheduler.setTimeout(() => {
          set.delete(wake);
          if (set.size === 0 && this.#wakers.get(key) === set) this.#wakers.delete(key);
          resolve();
        }, POLL_MILLIS);
        set.add(wake);
      });
    }
    return { arrived: false, why: 'deadline' };
  }
}
