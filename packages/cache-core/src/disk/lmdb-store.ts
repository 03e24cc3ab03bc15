/**
 * A cache's disk tier on lmdb: one named database per cache inside the manager's environment
 * (lmdb-environment.ts).
 *
 * Write path. put() encodes the record at once (so an unencodable value fails at the caller)
 * and parks the bytes in a pending map that reads consult first. The pending writes are
 * committed together in one lmdb transaction on the next turn of the event loop, in the order
 * they were made, so the spool window (what a kill -9 can lose) is one event-loop turn plus a
 * commit, well under a second on a live process. When the pending bytes would pass the spool
 * bound (diskSpoolBufferSizeMB), the write commits everything pending first, on the writer's
 * time: writers are slowed, memory never grows past the bound by more than one record.
 *
 * Why own batching instead of lmdb's asynchronous put: lmdb's async writes are invisible to
 * reads until committed and cannot be forced synchronously without reordering against later
 * writes of the same key, which would let an older value win on disk. One synchronous
 * transaction per turn keeps reads, order and the bound exact.
 *
 * Not guaranteed: a record whose bytes lmdb returns but that does not decode is logged, removed
 * and treated as absent.
 */
import { asBinary, type Database } from 'lmdb';
import { MeshcacheError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DiskRecord, DiskStore } from './disk-store.js';
import { decodeRecord, encodeRecord, fromStored, type RecordEncoder } from './record-codec.js';

export interface LmdbStoreOptions {
  readonly cacheName: string;
  readonly path: string;
  readonly spoolBytes: number;
  readonly logger: Logger;
  /** Called when the store is closed, so the environment can forget it. */
  readonly onClose: () => void;
}

/** A pending write: the encoded record, or null for a pending removal. */
type Pending = Buffer | null;

/** lmdb's database-scoped msgpackr encoder (it keeps record structures in the database itself). */
type EncodingDatabase = Database<unknown, string> & { readonly encoder: RecordEncoder };

export class LmdbDiskStore<V = unknown> implements DiskStore<V> {
  readonly #db: EncodingDatabase;
  readonly #options: LmdbStoreOptions;
  readonly #pending = new Map<string, Pending>();
  #pendingBytes = 0;
  #size: number;
  #commitScheduled = false;
  #closed: Promise<void> | undefined;

  /** @internal Made by LmdbEnvironment.openStore. */
  constructor(db: Database<unknown, string>, options: LmdbStoreOptions) {
    this.#db = db as EncodingDatabase;
    this.#options = options;
    this.#size = (db.getStats() as { entryCount: number }).entryCount;
  }

  get size(): number {
    return this.#size;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  get(key: string): DiskRecord<V> | undefined {
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending === null ? undefined : decodeRecord<V>(this.#db.encoder, pending);
    try {
      const stored = this.#db.get(key);
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
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending !== null;
    return this.#db.doesExist(key);
  }

  put(key: string, record: DiskRecord<V>, known?: boolean): void {
    this.#checkOpen();
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
    if (this.#pendingBytes + bytes.length > this.#options.spoolBytes) this.#commit();
    this.#forgetPending(key);
    this.#pending.set(key, bytes);
    this.#pendingBytes += bytes.length;
    if (!held) this.#size++;
    this.#scheduleCommit();
  }

  remove(key: string): boolean {
    this.#checkOpen();
    const held = this.has(key);
    if (!held) return false;
    this.#forgetPending(key);
    this.#pending.set(key, null);
    this.#size--;
    this.#scheduleCommit();
    return true;
  }

  clear(): void {
    this.#checkOpen();
    this.#pending.clear();
    this.#pendingBytes = 0;
    this.#db.clearSync();
    this.#size = 0;
  }

  *keys(): IterableIterator<string> {
    for (const key of this.#db.getKeys()) if (!this.#pending.has(key)) yield key;
    for (const [key, pending] of [...this.#pending]) if (pending !== null) yield key;
  }

  *entries(): IterableIterator<[string, DiskRecord<V>]> {
    for (const key of this.keys()) {
      const record = this.get(key);
      if (record !== undefined) yield [key, record];
    }
  }

  scan(after: string | undefined, limit: number): Array<[string, DiskRecord<V>]> {
    this.#commit(); // so that the key order on disk includes every write
    const found: Array<[string, DiskRecord<V>]> = [];
    for (const key of this.#db.getKeys(
      after === undefined ? { limit: limit + 1 } : { start: after, limit: limit + 1 },
    )) {
      if (key === after || found.length === limit) continue;
      const record = this.get(key);
      if (record !== undefined) found.push([key, record]);
    }
    return found;
  }

  async flush(): Promise<void> {
    this.#commit();
    await this.#db.flushed;
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.#options.onClose();
    }
  }

  /** Commits every pending write in one transaction, in the order they were made. */
  #commit(): void {
    if (this.#pending.size === 0) return;
    const db = this.#db;
    const pending = this.#pending;
    try {
      db.transactionSync(() => {
        for (const [key, bytes] of pending) {
          if (bytes === null) db.removeSync(key);
          else db.putSync(key, asBinary(bytes));
        }
      });
    } catch (error) {
      throw new MeshcacheError(
        'E_DISK_WRITE',
        `cache "${this.#options.cacheName}": could not commit ${pending.size} writes to ${this.#options.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    pending.clear();
    this.#pendingBytes = 0;
  }

  #scheduleCommit(): void {
    if (this.#commitScheduled) return;
    this.#commitScheduled = true;
    setImmediate(() => {
      this.#commitScheduled = false;
      if (this.#closed !== undefined) return;
      try {
        this.#commit();
      } catch (error) {
        // Kept pending: the next write or flush tries again, and reads still see the writes.
        this.#options.logger.error(
          { cache: this.#options.cacheName, path: this.#options.path, err: error },
          'disk commit failed',
        );
      }
    });
  }

  #forgetPending(key: string): void {
    const previous = this.#pending.get(key);
    if (previous === undefined) return;
    if (previous !== null) this.#pendingBytes -= previous.length;
    // Delete, so the next write goes to the end of the batch, after anything written meanwhile.
    this.#pending.delete(key);
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
