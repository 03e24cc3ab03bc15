/**
 * A DiskStore that keeps its "disk" in a Map of encoded records: the same encoding, the same
 * errors and the same spool accounting as the lmdb store, with nothing on disk. For tests of the
 * cache engine that need a disk tier but not a file system, and as the second implementation
 * that keeps the conformance suite honest.
 */
import { Packr } from 'msgpackr';
import { MeshcacheError } from '../errors.js';
import {
  type DiskCloseReport,
  type DiskRecord,
  type DiskState,
  type DiskStore,
  type DroppedRecord,
  fitsOnDisk,
  keyTooLongForDisk,
} from './disk-store.js';
import { decodeRecord, encodeRecord, RECORD_ENCODER_OPTIONS, type RecordEncoder } from './record-codec.js';

const NOTHING_DROPPED: readonly DroppedRecord<never>[] = Object.freeze([]);
const CLEAN_CLOSE: DiskCloseReport = Object.freeze({ notPersisted: 0, removalsNotPersisted: 0, reason: undefined });

export class MemoryDiskStore<V = unknown> implements DiskStore<V> {
  readonly #records = new Map<string, Buffer>();
  /** Record structures shared across this store's records, kept in memory as lmdb keeps them in the database. */
  readonly #encoder: RecordEncoder = new Packr({ ...RECORD_ENCODER_OPTIONS, structures: [] });
  readonly #spoolBytes: number;
  /** For errors, as the real store names its cache. */
  readonly #cacheName: string;
  #pendingBytes = 0;
  #closed = false;
  /** How many times writes were committed because the spool was full (for tests). */
  spoolFlushes = 0;

  constructor(options: { spoolBytes?: number; cacheName?: string } = {}) {
    this.#spoolBytes = options.spoolBytes ?? 30 * 1024 * 1024;
    this.#cacheName = options.cacheName ?? 'memory disk store';
  }

  get size(): number {
    return this.#records.size;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Writes are "committed" as they are made. */
  get pendingWrites(): number {
    return 0;
  }

  /** Memory never fails. */
  get state(): DiskState {
    return 'ok';
  }

  get(key: string): DiskRecord<V> | undefined {
    const bytes = this.#records.get(key);
    return bytes === undefined ? undefined : decodeRecord<V>(this.#encoder, bytes);
  }

  has(key: string): boolean {
    return this.#records.has(key);
  }

  put(key: string, record: DiskRecord<V>): readonly DroppedRecord<V>[] {
    this.#checkOpen();
    // As lmdb refuses it: the stand-in keeps the real store's bound, so tests meet it here too.
    if (!fitsOnDisk(key)) throw keyTooLongForDisk(this.#cacheName, key);
    const bytes = encodeRecord(this.#encoder, record);
    if (this.#pendingBytes + bytes.length > this.#spoolBytes) {
      this.#pendingBytes = 0;
      this.spoolFlushes++;
    }
    this.#records.delete(key);
    this.#records.set(key, bytes);
    this.#pendingBytes += bytes.length;
    return NOTHING_DROPPED;
  }

  remove(key: string): boolean {
    this.#checkOpen();
    return this.#records.delete(key);
  }

  clear(): void {
    this.#checkOpen();
    this.#records.clear();
    this.#pendingBytes = 0;
  }

  *keys(): IterableIterator<string> {
    yield* [...this.#records.keys()];
  }

  *entries(): IterableIterator<[string, DiskRecord<V>]> {
    for (const key of this.keys()) {
      const record = this.get(key);
      if (record !== undefined) yield [key, record];
    }
  }

  scan(after: string | undefined, limit: number): Array<[string, DiskRecord<V>]> {
    const keys = [...this.#records.keys()].filter((key) => after === undefined || key > after).sort();
    return keys.slice(0, limit).map((key) => [key, this.get(key) as DiskRecord<V>]);
  }

  async flush(): Promise<boolean> {
    this.#pendingBytes = 0;
    return true;
  }

  async close(): Promise<DiskCloseReport> {
    this.#pendingBytes = 0;
    this.#closed = true;
    return CLEAN_CLOSE;
  }

  #checkOpen(): void {
    if (this.#closed) throw new MeshcacheError('E_CACHE_CLOSED', 'the disk store is closed');
  }
}
