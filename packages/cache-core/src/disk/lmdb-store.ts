/**
 * A cache's disk tier on lmdb: one named database per cache inside the manager's environment
 * (lmdb-environment.ts).
 *
 * Write path. put() encodes the record at once (so an unencodable value fails at the caller)
 * and parks the bytes in a pending map that reads consult first. The pending writes are
 * committed together in one lmdb transaction on the next turn of the event loop, so the spool
 * window (what a kill -9 can lose) is one event-loop turn plus a commit, well under a second on
 * a live process. When the pending bytes would pass the spool bound (diskSpoolBufferSizeMB), the
 * write commits everything pending first, on the writer's time: writers are slowed while the
 * disk accepts writes, and memory never grows past the bound by more than one record. Each key
 * has at most one pending write (a later write replaces it), so the order in which different
 * keys are committed does not matter.
 *
 * A failing disk (full, a file-size limit, an I/O error). A commit that fails turns the store
 * 'degraded', with one error line; it never reaches the writer, and no write commits on the
 * writer's time any more: a failing disk never fails or slows a put. What was pending stays
 * pending (reads still see it). A write that would take the spool past its bound drops the
 * oldest pending records instead; a dropped record is no longer held, and if an older version
 * of its key was committed, that key becomes a pending removal, so the older record is never
 * served again (the put returns what it dropped; the disk tier tells memory). Pending removals
 * hold no bytes and are never dropped: there are at most as many as keys already in the file.
 * In the background the store retries with backoff (250 ms doubling to 5 s): removals first, then
 * the puts, in transactions of at most 1 MiB, so a disk with some room takes what it can. Once
 * nothing is pending it turns 'ok' again, with one line. lmdb's transactions are atomic: a failed
 * commit leaves the file as it was.
 *
 * Why own batching instead of lmdb's asynchronous put: lmdb's async writes are invisible to
 * reads until committed and cannot be forced synchronously without reordering against later
 * writes of the same key, which would let an older value win on disk. One synchronous
 * transaction per turn keeps reads, order and the bound exact.
 *
 * Not guaranteed: a record whose bytes lmdb returns but that does not decode is logged, removed
 * and treated as absent. Removals that could not be committed by close() leave the older records
 * in the file, which a restart reads again (close() reports how many).
 */
import { asBinary, type Database } from 'lmdb';
import { MeshcacheError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  type DiskCloseReport,
  type DiskRecord,
  type DiskState,
  type DiskStore,
  type DroppedRecord,
  fitsOnDisk,
  keyTooLongForDisk,
} from './disk-store.js';
import { lmdbKey } from './lmdb-keys.js';
import { decodeRecord, encodeRecord, fromStored, type RecordEncoder } from './record-codec.js';

export interface LmdbStoreOptions {
  readonly cacheName: string;
  readonly path: string;
  readonly spoolBytes: number;
  readonly logger: Logger;
  /** Called when the store is closed, so the environment can forget it. */
  readonly onClose: () => void;
}

/**
 * The store's database, with lmdb's database-scoped msgpackr encoder (it keeps record structures
 * in the database itself). Keys go in as strings or, where lmdb's encoding of the string would not
 * read back, as bytes (lmdb-keys.ts); they come out as strings either way.
 */
type EncodingDatabase = Database<unknown, string | Buffer> & { readonly encoder: RecordEncoder };

const NOTHING_DROPPED: readonly DroppedRecord<never>[] = Object.freeze([]);
const RETRY_FIRST_MS = 250;
const RETRY_MOST_MS = 5000;
/** Bytes of puts in one transaction of a retry: a disk with some room left takes what fits. */
const RETRY_CHUNK_BYTES = 1024 * 1024;
/** Removals in one transaction of a retry. */
const RETRY_CHUNK_REMOVALS = 1000;

export class LmdbDiskStore<V = unknown> implements DiskStore<V> {
  readonly #db: EncodingDatabase;
  readonly #options: LmdbStoreOptions;
  /** Pending puts, oldest first (a rewrite of a key moves it to the end). */
  readonly #puts = new Map<string, Buffer>();
  /** Pending removals of keys that are (or may be) in the file. */
  readonly #removals = new Set<string>();
  #pendingBytes = 0;
  #size: number;
  /** Set by a clear() the disk refused: the file's records are gone as far as readers know. */
  #clearPending = false;
  #commitScheduled = false;
  #closed: Promise<DiskCloseReport> | undefined;
  #state: DiskState = 'ok';
  #lastError: Error | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = RETRY_FIRST_MS;
  /** Records dropped since the store turned degraded (for the recovery line). */
  #droppedWhileDegraded = 0;
  #degradedSince = 0;

  /** @internal Made by LmdbEnvironment.openStore. */
  constructor(db: Database<unknown, string>, options: LmdbStoreOptions) {
    this.#db = db as unknown as EncodingDatabase;
    this.#options = options;
    this.#size = (db.getStats() as { entryCount: number }).entryCount;
  }

  get size(): number {
    return this.#size;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  get pendingWrites(): number {
    return this.#puts.size + this.#removals.size;
  }

  get state(): DiskState {
    return this.#state;
  }

  get(key: string): DiskRecord<V> | undefined {
    const pending = this.#puts.get(key);
    if (pending !== undefined) return decodeRecord<V>(this.#db.encoder, pending);
    if (this.#clearPending || this.#removals.has(key) || !fitsOnDisk(key)) return undefined;
    try {
      const stored = this.#db.get(lmdbKey(key));
      return stored === undefined ? undefined : fromStored<V>(stored);
    } catch (error) {
      this.#options.logger.error(
        { cache: this.#options.cacheName, path: this.#options.path, key, err: error },
        'corrupt disk record removed',
      );
      this.remove(key);
      return undefined;
    }
  }

  has(key: string): boolean {
    if (this.#puts.has(key)) return true;
    if (this.#clearPending || this.#removals.has(key) || !fitsOnDisk(key)) return false;
    return this.#db.doesExist(lmdbKey(key));
  }

  put(key: string, record: DiskRecord<V>, known?: boolean): readonly DroppedRecord<V>[] {
    this.#checkOpen();
    if (!fitsOnDisk(key)) throw keyTooLongForDisk(this.#options.cacheName, key);
    const held = known ?? this.has(key);
    let bytes: Buffer;
    try {
      bytes = encodeRecord(this.#db.encoder, record);
    } catch (error) {
      throw new MeshcacheError(
        'E_VALUE_NOT_ENCODABLE',
        `cache "${this.#options.cacheName}": cannot write key "${key}" to disk at ${this.#options.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (this.#pendingBytes + bytes.length > this.#options.spoolBytes && this.#state === 'ok') this.#tryCommit();
    this.#forgetPending(key);
    this.#removals.delete(key);
    this.#puts.set(key, bytes);
    this.#pendingBytes += bytes.length;
    if (!held) this.#size++;
    const dropped = this.#state === 'degraded' ? this.#dropToBound() : NOTHING_DROPPED;
    this.#scheduleCommit();
    return dropped;
  }

  remove(key: string): boolean {
    this.#checkOpen();
    const held = this.has(key);
    if (!held) return false;
    this.#forgetPending(key);
    if (!this.#clearPending) this.#removals.add(key);
    this.#size--;
    this.#scheduleCommit();
    return true;
  }

  clear(): void {
    this.#checkOpen();
    this.#puts.clear();
    this.#removals.clear();
    this.#pendingBytes = 0;
    this.#size = 0;
    try {
      this.#db.clearSync();
      this.#clearPending = false;
    } catch (error) {
      // The file's records are gone as far as readers know; the retry clears the file.
      this.#clearPending = true;
      this.#degrade(error);
    }
  }

  *keys(): IterableIterator<string> {
    if (!this.#clearPending) {
      for (const key of this.#db.getKeys() as Iterable<string>)
        if (!this.#puts.has(key) && !this.#removals.has(key)) yield key;
    }
    for (const key of [...this.#puts.keys()]) yield key;
  }

  *entries(): IterableIterator<[string, DiskRecord<V>]> {
    for (const key of this.keys()) {
      const record = this.get(key);
      if (record !== undefined) yield [key, record];
    }
  }

  scan(after: string | undefined, limit: number): Array<[string, DiskRecord<V>]> {
    // So that the key order in the file includes every write; a degraded disk is read around.
    if (this.#state === 'ok') this.#tryCommit();
    const keys: string[] = [];
    if (!this.#clearPending) {
      const range = {
        limit: limit + 1 + this.#removals.size,
        ...(after === undefined ? {} : { start: lmdbKey(after) }),
      };
      for (const key of this.#db.getKeys(range) as Iterable<string>) {
        if (key !== after && !this.#removals.has(key) && !this.#puts.has(key)) keys.push(key);
      }
    }
    for (const key of this.#puts.keys()) if (after === undefined || key > after) keys.push(key);
    if (this.#puts.size > 0) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const found: Array<[string, DiskRecord<V>]> = [];
    for (const key of keys) {
      if (found.length === limit) break;
      const record = this.get(key);
      if (record !== undefined) found.push([key, record]);
    }
    return found;
  }

  async flush(): Promise<boolean> {
    if (this.#state === 'degraded') this.#retry();
    else this.#tryCommit();
    if (this.pendingWrites > 0 || this.#clearPending) return false;
    try {
      await this.#db.flushed;
      return true;
    } catch (error) {
      this.#degrade(error);
      return false;
    }
  }

  close(): Promise<DiskCloseReport> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<DiskCloseReport> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    try {
      let notPersisted = 0;
      if (!(await this.flush())) notPersisted = this.#removeOlderRecords();
      notPersisted += this.#puts.size;
      const removalsNotPersisted = this.#removals.size + (this.#clearPending ? 1 : 0);
      return {
        notPersisted,
        removalsNotPersisted,
        reason: notPersisted + removalsNotPersisted > 0 ? this.#lastError?.message : undefined,
      };
    } finally {
      try {
        this.#options.onClose();
      } catch (error) {
        this.#options.logger.error(
          { cache: this.#options.cacheName, path: this.#options.path, err: error },
          'could not empty the temporary disk tier at close',
        );
      }
    }
  }

  /**
   * At a close the disk refused: a put that could not be committed must not leave the key's older
   * record to be read after a restart. Each such key becomes a removal, and removals (small
   * transactions, which a full disk often still takes) are tried once more. Returns how many puts
   * were turned into removals (not persisted either way).
   */
  #removeOlderRecords(): number {
    let turned = 0;
    if (!this.#clearPending) {
      for (const [key, bytes] of [...this.#puts]) {
        if (!this.#db.doesExist(lmdbKey(key))) continue;
        this.#puts.delete(key);
        this.#pendingBytes -= bytes.length;
        this.#removals.add(key);
        turned++;
      }
    }
    try {
      for (let removals = this.#take(this.#removals, RETRY_CHUNK_REMOVALS); removals.length > 0; ) {
        this.#commit(removals, []);
        removals = this.#take(this.#removals, RETRY_CHUNK_REMOVALS);
      }
      if (this.#clearPending) this.#commit([], []);
    } catch (error) {
      this.#lastError = error instanceof Error ? error : new Error(String(error));
    }
    return turned;
  }

  /** Commits every pending write in one transaction; a failure turns the store degraded. */
  #tryCommit(): void {
    if (this.pendingWrites === 0 && !this.#clearPending) return;
    try {
      this.#commit(this.#removals, this.#puts.keys());
      this.#recovered();
    } catch (error) {
      this.#degrade(error);
    }
  }

  /** Commits the given removals and puts (keys of #puts) in one transaction, and forgets them. */
  #commit(removals: Iterable<string>, puts: Iterable<string>): void {
    const db = this.#db;
    const removing = [...removals];
    const putting = [...puts];
    if (this.#clearPending) {
      db.clearSync();
      this.#clearPending = false;
    }
    db.transactionSync(() => {
      for (const key of removing) db.removeSync(lmdbKey(key));
      for (const key of putting) db.putSync(lmdbKey(key), asBinary(this.#puts.get(key) as Buffer));
    });
    for (const key of removing) this.#removals.delete(key);
    for (const key of putting) {
      this.#pendingBytes -= (this.#puts.get(key) as Buffer).length;
      this.#puts.delete(key);
    }
  }

  /**
   * A degraded store's retry: removals first (they free room and keep older records from
   * being served after a restart), then puts, in transactions of bounded size, oldest first,
   * stopping at the first failure.
   */
  #retry(): void {
    try {
      for (let removals = this.#take(this.#removals, RETRY_CHUNK_REMOVALS); removals.length > 0; ) {
        this.#commit(removals, []);
        removals = this.#take(this.#removals, RETRY_CHUNK_REMOVALS);
      }
      for (let puts = this.#takePuts(); puts.length > 0; puts = this.#takePuts()) this.#commit([], puts);
      if (this.#clearPending) this.#commit([], []);
      this.#recovered();
    } catch (error) {
      this.#degrade(error);
    }
  }

  #take(from: Set<string>, most: number): string[] {
    const taken: string[] = [];
    for (const key of from) {
      if (taken.length === most) break;
      taken.push(key);
    }
    return taken;
  }

  #takePuts(): string[] {
    const taken: string[] = [];
    let bytes = 0;
    for (const [key, record] of this.#puts) {
      if (taken.length > 0 && bytes + record.length > RETRY_CHUNK_BYTES) break;
      taken.push(key);
      bytes += record.length;
    }
    return taken;
  }

  /** Drops the oldest pending puts until the spool is within its bound; returns them. */
  #dropToBound(): DroppedRecord<V>[] {
    const dropped: Array<DroppedRecord<V>> = [];
    for (const [key, bytes] of this.#puts) {
      if (this.#pendingBytes <= this.#options.spoolBytes) break;
      this.#puts.delete(key);
      this.#pendingBytes -= bytes.length;
      // An older record of the key in the file must not be served in place of the dropped one.
      if (!this.#clearPending && this.#db.doesExist(lmdbKey(key))) this.#removals.add(key);
      this.#size--;
      this.#droppedWhileDegraded++;
      dropped.push([key, decodeRecord<V>(this.#db.encoder, bytes)]);
    }
    return dropped;
  }

  #degrade(error: unknown): void {
    this.#lastError = error instanceof Error ? error : new Error(String(error));
    if (this.#state === 'ok') {
      this.#state = 'degraded';
      this.#degradedSince = Date.now();
      this.#droppedWhileDegraded = 0;
      this.#retryDelay = RETRY_FIRST_MS;
      this.#options.logger.error(
        {
          code: 'E_DISK_WRITE',
          cache: this.#options.cacheName,
          path: this.#options.path,
          pendingWrites: this.pendingWrites,
          err: error,
        },
        'disk tier degraded: writes are not reaching the disk (disk full?); the cache keeps serving from memory, and retries in the background',
      );
      // Our own spool-bound checks now skip committing; drop what is past the bound already.
    }
    this.#scheduleRetry();
  }

  #recovered(): void {
    if (this.#state === 'ok') return;
    this.#state = 'ok';
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#options.logger.warn(
      {
        cache: this.#options.cacheName,
        path: this.#options.path,
        degradedMillis: Date.now() - this.#degradedSince,
        dropped: this.#droppedWhileDegraded,
      },
      'disk tier recovered: every pending write is on disk again',
    );
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed !== undefined) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MOST_MS);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed !== undefined || this.#state === 'ok') return;
      this.#retry();
    }, delay);
    this.#retryTimer.unref();
  }

  #scheduleCommit(): void {
    if (this.#commitScheduled || this.#state === 'degraded') return;
    this.#commitScheduled = true;
    setImmediate(() => {
      this.#commitScheduled = false;
      if (this.#closed !== undefined || this.#state === 'degraded') return;
      this.#tryCommit();
    });
  }

  #forgetPending(key: string): void {
    const previous = this.#puts.get(key);
    if (previous === undefined) return;
    this.#pendingBytes -= previous.length;
    // Delete, so the next write goes to the end of the batch, after anything written meanwhile.
    this.#puts.delete(key);
  }

  #checkOpen(): void {
    if (this.#closed !== undefined) {
      throw new MeshcacheError(
        'E_CACHE_CLOSED',
        `cache "${this.#options.cacheName}": the disk store at ${this.#options.path} is closed`,
      );
    }
  }
}
