/**
 * The replay rule of the backplane. Anyone who can write to Redis can copy an authentic entry
 * and add it again, later, to any stream: sealing (entry-seal.ts) cannot tell the copy from the
 * original. Versions already make most replays harmless (an older put loses to what a node
 * holds), except one: a put replayed after its key was removed and the tombstone forgotten
 * would bring the key back. Two rules close that, checked after an entry has authenticated:
 *
 * 1. Freshness: an entry sealed more than `windowMillis` before this node's clock (or further
 *    than the drift bound ahead of it) is refused. Tombstones live longer than the window plus
 *    the drift bound (the configuration checks it), so a put that is still fresh enough to be
 *    accepted is older than any removal that followed it, and that removal's tombstone is still
 *    held: the put loses by version. A put older than the window never gets that far.
 * 2. Order: per (Redis key, writer, incarnation), the sequence numbers a node accepts only grow
 *    (a writer writes a key in order over one connection). A copy of an entry already read is
 *    refused, even inside the window. Bounded: the incarnations heard from most recently.
 *
 * What follows for reading: a node can replay the stream only within the window. A node that
 * was away longer (or finds its entries refused as stale) stops replaying and repairs by digest
 * instead, which carries the same versions and tombstones. The stream's retention therefore
 * needs to be no longer than the window (MINID trimming: redis-backplane.ts).
 *
 * Not guaranteed: rule 2 starts empty when a node starts; a replayed entry that is fresh is then
 * handled by versions alone (rule 1's argument). Clocks: the window is measured on this node's
 * clock against the writer's, so drift between them widens or narrows it by at most the drift
 * bound.
 */
import type { Clock } from '@meshcache/core';
import type { SealHeader } from './entry-seal.js';

export type ReplayVerdict = 'fresh' | 'replayed' | 'stale' | 'future';

export interface ReplayGuardOptions {
  readonly windowMillis: number;
  /** How far ahead of this node's clock a writer's seal time may be (the HLC's drift bound). */
  readonly maxDriftMillis: number;
  readonly clock: Clock;
  /** Most (key, writer, incarnation) high-water marks kept. @default 65536 */
  readonly maxTracked?: number;
}

export class ReplayGuard {
  readonly #options: ReplayGuardOptions;
  /** High-water sequence by `key \0 writer \0 incarnation`, least recently used first. */
  readonly #highest = new Map<string, number>();

  constructor(options: ReplayGuardOptions) {
    this.#options = options;
  }

  /** How an authenticated entry read from `where` stands; a 'fresh' one is recorded. */
  check(where: string, header: SealHeader): ReplayVerdict {
    const now = this.#options.clock();
    if (header.sealedAt < now - this.#options.windowMillis) return 'stale';
    if (header.sealedAt > now + this.#options.maxDriftMillis) return 'future';
    const id = `${where}\u0000${header.writer}\u0000${header.incarnation}`;
    const held = this.#highest.get(id);
    if (held !== undefined && header.sequence <= held) return 'replayed';
    this.#highest.delete(id); // re-inserted at the young end
    this.#highest.set(id, header.sequence);
    if (this.#highest.size > (this.#options.maxTracked ?? 65_536)) {
      this.#highest.delete(this.#highest.keys().next().value as string);
    }
    return 'fresh';
  }
}
