/**
 * Everything a node writes to Redis Streams goes through one writer: live batches to the changes
 * stream, repair messages to other nodes' inboxes. Messages wait in one FIFO as plaintext and are
 * sealed at the moment they are written (so a message that waited out an outage leaves with a
 * fresh seal time and passes the replay window), then written with XADD, several per round trip
 * (a pipeline), in order.
 *
 * Guarantees: order per key while writes succeed (one connection, one pipeline at a time);
 * nothing is dropped while the node runs, with one exception below: a write that failed (Redis
 * down, a connection cut mid-pipeline, Redis out of memory) is written again once Redis answers,
 * sealed anew (a copy that did reach Redis before the cut is harmless: its versions are the same).
 * What a round did write is never written again, even after an item of it failed (a pipeline runs
 * every command): a message behind a failing one waits for nothing. `pendingBytes` is what the
 * replicator's overflow bound reads, so an outage long enough to fill it turns into a repair
 * rather than unbounded memory.
 *
 * The exception: a message for an inbox that Redis refuses for good (the key is not a stream, its
 * last id is the largest there is, the user may not write it: someone with access to Redis made it
 * so) is dropped, counted and logged once per inbox; the repair it belonged to stalls, and the
 * node it was for tries another member. A change for the changes stream refused so is kept and
 * tried again (every node needs it), with an error naming the key to delete.
 *
 * Trimming (the retention of docs/backplane.md): each XADD to the changes stream trims it to about
 * `maxLength` entries (MAXLEN ~), and every few seconds the writer drops entries older than the
 * replay window (XTRIM MINID ~), which no node would accept anyway. Inboxes are trimmed to
 * INBOX_MAX_LENGTH entries and expire INBOX_TTL_MILLIS after their last write, so a departed
 * node's inbox goes away by itself.
 */
import type { Logger, Scheduler } from '@meshcache/core';
import type { Redis } from 'ioredis';
import type { EntrySealer, SealedKind } from './entry-seal.js';
import { loggedError } from './logged-error.js';

export const INBOX_MAX_LENGTH = 10_000;
export const INBOX_TTL_MILLIS = 10 * 60_000;
/** Messages written per round trip, and their bytes at most (past one message): a round trip must
 * finish well within the command timeout even when repair chunks of a megabyte are queued. */
const PIPELINE = 64;
const PIPELINE_BYTES = 4 * 1024 * 1024;
/** How often the changes stream is trimmed by age. */
const TRIM_EVERY_MILLIS = 5000;
/** Wait before writing again after a failed round. */
const RETRY_MILLIS = 250;

interface Pending {
  readonly where: string;
  readonly kind: SealedKind;
  readonly plaintext: Buffer;
  /** The incarnation of the inbox's node the message is addressed to (entry-seal.ts), if any. */
  readonly to: Buffer | undefined;
  /** For the changes stream: the replicator's acknowledgement waits on this. */
  readonly live: boolean;
}

export interface StreamWriterOptions {
  readonly redis: Redis;
  readonly sealer: EntrySealer;
  readonly changesKey: string;
  readonly maxLength: number;
  readonly windowMillis: number;
  /** This node's wall clock, epoch ms: seal times. */
  readonly clock: () => number;
  /** Redis's clock minus this node's, ms (MINID is in Redis's time). */
  readonly serverOffset: () => number;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
}

export class StreamWriter {
  readonly #options: StreamWriterOptions;
  readonly #queue: Pending[] = [];
  #bytes = 0;
  #writing = false;
  #stopped = false;
  /** Messages handed in so far, and written so far (the writer's own numbering, for waiters). */
  #enqueued = 0;
  #written = 0;
  readonly #waiters: Array<{ upTo: number; resolve: (written: boolean) => void }> = [];
  #lastTrim = 0;
  /** The last round failed; logged once until a round succeeds. */
  #failing = false;
  #retry: (() => void) | undefined;
  #logged = false;
  /** The id of the last entry written to the changes stream. */
  lastChangesId: string | undefined;
  /** Entries written since start, writes that failed (then retried), and inbox messages dropped (above). */
  entriesWritten = 0;
  writeFailures = 0;
  dropped = 0;
  /** Keys whose permanent refusal was logged, until a write to them succeeds. */
  readonly #refusedKeys = new Set<string>();

  constructor(options: StreamWriterOptions) {
    this.#options = options;
  }

  /** Bytes handed in and not yet written. */
  get pendingBytes(): number {
    return this.#bytes;
  }

  get pendingMessages(): number {
    return this.#queue.length;
  }

  enqueue(where: string, kind: SealedKind, plaintext: Buffer, to?: Buffer): void {
    if (this.#stopped) return;
    this.#queue.push({ where, kind, plaintext, to, live: where === this.#options.changesKey });
    this.#bytes += plaintext.length;
    this.#enqueued++;
    this.kick();
  }

  /** Resolves true once everything handed in before the call is in Redis; false after `maxMillis`. */
  written(maxMillis: number): Promise<boolean> {
    if (this.#written >= this.#enqueued) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        upTo: this.#enqueued,
        resolve: (ok: boolean) => {
          cancel();
          resolve(ok);
        },
      };
      const cancel = this.#options.scheduler.setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(false);
      }, maxMillis);
      this.#waiters.push(waiter);
    });
  }

  /** Writes what is queued, if Redis is there and no write is under way. */
  kick(): void {
    if (this.#writing || this.#stopped || this.#queue.length === 0) return;
    if (this.#options.redis.status !== 'ready') return; // the connection's 'ready' kicks again
    this.#writing = true;
    void this.#drain().finally(() => {
      this.#writing = false;
      if (!this.#failing) this.kick();
      else if (this.#retry === undefined && !this.#stopped) {
        // Redis refused (OOM, a script error) or the connection broke: try again a little later;
        // the connection's 'ready' kicks sooner when it was a disconnection.
        this.#retry = this.#options.scheduler.setTimeout(() => {
          this.#retry = undefined;
          this.kick();
        }, RETRY_MILLIS);
      }
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#retry?.();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(false);
  }

  async #drain(): Promise<void> {
    const { redis, sealer, changesKey, maxLength, clock } = this.#options;
    while (this.#queue.length > 0 && !this.#stopped) {
      let count = 0;
      let bytes = 0;
      for (const item of this.#queue) {
        if (count >= PIPELINE || (count > 0 && bytes + item.plaintext.length > PIPELINE_BYTES)) break;
        count++;
        bytes += item.plaintext.length;
      }
      const batch = this.#queue.slice(0, count);
      const pipeline = redis.pipeline();
      const now = clock();
      for (const item of batch) {
        const sealed = sealer.seal(item.kind, item.plaintext, item.where, now, item.to);
        if (item.live) pipeline.xadd(changesKey, 'MAXLEN', '~', maxLength, '*', 'm', sealed);
        else {
          pipeline.xadd(item.where, 'MAXLEN', '~', INBOX_MAX_LENGTH, '*', 'm', sealed);
          pipeline.pexpire(item.where, INBOX_TTL_MILLIS);
        }
      }
      const trim = now - this.#lastTrim >= TRIM_EVERY_MILLIS;
      if (trim) {
        const minId = Math.max(0, Math.floor(now + this.#options.serverOffset() - this.#options.windowMillis));
        pipeline.xtrim(changesKey, 'MINID', '~', minId);
      }
      let results: Array<[Error | null, unknown]> | null;
      try {
        results = await pipeline.exec();
      } catch (error) {
        results = null;
        this.#failed(error);
      }
      if (results === null) {
        this.#failing = true;
        return;
      }
      // Results come in order, one per command (Redis ran them all): what was written, or
      // dropped, leaves the queue; what failed stays, in its order, to go again.
      const kept: Pending[] = [];
      let done = 0;
      let at = 0;
      for (const item of batch) {
        const [error, id] = results[at] ?? [new Error('no reply'), null];
        if (!item.live) at++; // the PEXPIRE's reply; its failure does not matter
        at++;
        if (error === null) {
          if (item.live) {
            this.lastChangesId = String(id);
            this.entriesWritten++; // of the changes stream, as they are read (a repair's inbox entries are not)
          }
          if (this.#refusedKeys.size > 0) this.#refusedKeys.delete(item.where);
        } else if (!item.live && refusedForGood(error)) {
          this.#refusedForGood(item, error, 'dropped (the repair it belongs to will be tried again)');
        } else {
          if (refusedForGood(error)) this.#refusedForGood(item, error, 'kept, and tried again');
          else this.#failed(error);
          kept.push(item);
          continue;
        }
        this.#bytes -= item.plaintext.length;
        done++;
      }
      if (trim && kept.length === 0) this.#lastTrim = now;
      this.#queue.splice(0, batch.length, ...kept);
      this.#written += done;
      this.#settleWaiters();
      if (kept.length > 0) {
        this.#failing = true;
        return;
      }
      if (this.#failing) {
        this.#failing = false;
        this.#options.logger.info({}, 'backplane: writing to Redis again');
      }
      this.#logged = false;
    }
  }

  /** Called when the connection is ready again. */
  resume(): void {
    this.kick();
  }

  #settleWaiters(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i];
      if (waiter !== undefined && waiter.upTo <= this.#written) {
        this.#waiters.splice(i, 1);
        waiter.resolve(true);
      }
    }
  }

  #refusedForGood(item: Pending, error: Error, what: string): void {
    if (!item.live) this.dropped++;
    else this.writeFailures++;
    if (this.#refusedKeys.has(item.where)) return;
    this.#refusedKeys.add(item.where);
    const log = item.live ? this.#options.logger.error : this.#options.logger.warn;
    log.call(
      this.#options.logger,
      { key: item.where, err: loggedError(error) },
      `backplane: Redis refuses every write to ${item.where} (${error.message}); ${what}. Someone with access to Redis wrote that key: delete it (DEL ${item.where}) and the nodes carry on`,
    );
  }

  #failed(error: unknown): void {
    this.writeFailures++;
    if (!this.#logged) {
      this.#logged = true;
      this.#options.logger.warn(
        { err: loggedError(error), pending: this.#queue.length },
        'backplane: a write to Redis failed; it is kept and written again when Redis answers',
      );
    }
  }
}

/** Redis's answers to a write that no retry can change (a key of another type, an exhausted id, no permission). */
function refusedForGood(error: Error): boolean {
  return /^(WRONGTYPE|NOPERM)|exhausted the last possible ID|equal or smaller than the target stream top item/.test(
    error.message,
  );
}
