/**
 * Walks over every live entry of a cache, read quietly, for bootstrap and repair
 * (ReplicaPort.liveEntries).
 *
 * Why a cursor and not an object per entry. A bootstrap reads a million entries, and the reader
 * it had (a generator yielding the key, the version and a snapshot of each) made three objects an
 * entry, which the repair then copied into a Put of its own: a third of what the serving node
 * spent an entry (issue 20). A cursor reads each field where the cache holds it, so nothing is
 * made for an entry the repair only lists, and a Put is written from the fields straight into its
 * frame (change-writer.ts).
 *
 * What is promised: every entry held throughout the walk is stepped to exactly once, also when
 * the walk spans turns of the event loop (a repair reads in slices); an entry removed meanwhile is
 * skipped, one written meanwhile is read as it is when reached, or not at all. The fields read
 * the entry last stepped to, as it is when read: read them before the next step, and in the same
 * turn as the step. Nothing counts as an access.
 */
import type { DiskTier } from './disk/disk-tier.js';
import type { EntrySnapshot } from './entry.js';
import type { MemoryStore } from './memory/memory-store.js';
import { fnv1a } from './replica-digest.js';
import type { Version } from './version.js';

export interface EntryCursor<V> {
  /** Steps to the next live entry; false when none is left. */
  next(): boolean;
  readonly key: string;
  /** The digest's hash of the key (fnv1a, replica-digest.ts): its bucket's low bits; kept by a replicated memory store. */
  readonly keyHash: number;
  /** Whether the entry has a version: every entry written while the cache was replicated has one. */
  readonly versioned: boolean;
  /** Its version's time, counter and node (when versioned), read without making the version. */
  readonly time: number;
  readonly counter: number;
  readonly node: string;
  /** Its version as an object; undefined when unversioned. */
  version(): Version | undefined;
  /** Its value. A peer's value not decoded yet is decoded now (deferred-value.ts): read it only where it is sent. */
  value(): V;
  readonly createdAt: number;
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
  /** The entry as a snapshot (ReplicaPort.entries, which makes one an entry). */
  snapshot(): EntrySnapshot<V>;
}

/**
 * The memory store's entries, slot by slot with no copy of the key list: held slots never move,
 * so a walk that spans turns sees every key held throughout exactly once.
 */
export class StoreCursor<V> implements EntryCursor<V> {
  #slot = -1;

  constructor(
    private readonly store: MemoryStore<V>,
    private readonly clock: () => number,
  ) {}

  next(): boolean {
    const store = this.store;
    const now = this.clock();
    for (let slot = this.#slot + 1; slot < store.top; slot++) {
      if (!store.holds(slot) || store.isExpired(slot, now)) continue;
      this.#slot = slot;
      return true;
    }
    this.#slot = store.top;
    return false;
  }

  get key(): string {
    return this.store.key(this.#slot);
  }
  get keyHash(): number {
    return this.store.keyHash(this.#slot);
  }
  get versioned(): boolean {
    return this.store.isVersioned(this.#slot);
  }
  get time(): number {
    return this.store.versionTime(this.#slot);
  }
  get counter(): number {
    return this.store.versionCounter(this.#slot);
  }
  get node(): string {
    return this.store.versionNode(this.#slot);
  }
  version(): Version | undefined {
    return this.store.version(this.#slot);
  }
  value(): V {
    return this.store.value(this.#slot);
  }
  get createdAt(): number {
    return this.store.createdAt(this.#slot);
  }
  get timeToLiveSeconds(): number {
    return this.store.timeToLiveSeconds(this.#slot);
  }
  get timeToIdleSeconds(): number {
    return this.store.timeToIdleSeconds(this.#slot);
  }
  snapshot(): EntrySnapshot<V> {
    return this.store.snapshot(this.#slot);
  }
}

/**
 * A cache with a disk tier: its keys listed once at the start (the disk's, and those held in
 * memory only), each read as a snapshot when stepped to. A disk read makes a record anyway, so a
 * snapshot here costs little besides; a key gone by the time it is reached is skipped.
 */
export class SnapshotCursor<V> implements EntryCursor<V> {
  #at = -1;
  #entry: EntrySnapshot<V> | undefined;

  constructor(
    private readonly keys: readonly string[],
    private readonly read: (key: string) => EntrySnapshot<V> | undefined,
  ) {}

  next(): boolean {
    while (++this.#at < this.keys.length) {
      const entry = this.read(this.keys[this.#at] as string);
      if (entry === undefined) continue;
      this.#entry = entry;
      return true;
    }
    this.#entry = undefined;
    return false;
  }

  get #current(): EntrySnapshot<V> {
    if (this.#entry === undefined) throw new Error('EntryCursor read before next() or after the last entry');
    return this.#entry;
  }
  get key(): string {
    return this.#current.key;
  }
  get keyHash(): number {
    return fnv1a(this.#current.key);
  }
  get versioned(): boolean {
    return this.#current.version !== undefined;
  }
  get time(): number {
    return this.#entry?.version?.time ?? 0;
  }
  get counter(): number {
    return this.#entry?.version?.counter ?? 0;
  }
  get node(): string {
    return this.#entry?.version?.node ?? '';
  }
  version(): Version | undefined {
    return this.#current.version;
  }
  value(): V {
    return this.#current.value;
  }
  get createdAt(): number {
    return this.#current.createdAt;
  }
  get timeToLiveSeconds(): number {
    return this.#current.timeToLiveSeconds;
  }
  get timeToIdleSeconds(): number {
    return this.#current.timeToIdleSeconds;
  }
  snapshot(): EntrySnapshot<V> {
    return this.#current;
  }
}

/** Every key a cache with a disk tier holds: the disk's, and those held in memory only. */
export function heldKeys(disk: DiskTier<unknown>): string[] {
  const keys = [...disk.keys()];
  if (disk.memoryOnlySize > 0) keys.push(...disk.memoryOnlyKeys());
  return keys;
}
