/**
 * A replica port with no cache behind it: a Map of entries, a list of tombstones, and a record of
 * every call, so CacheReplicator, CacheRepair and LoadLeases can be tested on their own (what
 * they ask of the port, and what they do with its answers), without a CacheManager.
 *
 * It keeps the port's rules that the callers rely on (a change is applied only when newer than
 * what is known of the key; the generation moves with every applied change) and nothing else: no
 * expiry, no eviction, no events.
 */
import { compareVersions, type EntrySnapshot, isNewer, type Version } from '@meshcache/core';
import {
  type ApplyOutcome,
  type EntryCursor,
  type LoadCoordinator,
  type LocalChangeListener,
  type RemoteChange,
  type ReplicaPort,
  SnapshotCursor,
  type Tombstone,
} from '@meshcache/core/internal';

export class FakePort implements ReplicaPort<unknown> {
  readonly cacheName: string;
  readonly held = new Map<string, EntrySnapshot<unknown>>();
  readonly removed = new Map<string, Version>();
  clearVersion: Version | undefined;
  generation = 0;
  coordinator: LoadCoordinator<unknown> | undefined;
  encodableReason: string | undefined;
  /** Every call the code under test made, by method name, in order. */
  readonly calls: string[] = [];
  localListeners: LocalChangeListener<unknown>[] = [];
  remoteValueListeners: Array<(key: string) => void> = [];

  constructor(cacheName = 'c') {
    this.cacheName = cacheName;
  }

  get size(): number {
    return this.held.size;
  }

  /** Unbounded unless a test bounds it: what repair may pull that the port does not hold. */
  room = Number.POSITIVE_INFINITY;

  /** What each reserve() was asked for, in order. */
  reserved: number[] = [];

  reserve(entries: number): void {
    this.reserved.push(entries);
  }

  /** The keys of each prefetch(), in order; and how many runs were ended (prefetch([])). */
  prefetched: string[][] = [];
  prefetchesEnded = 0;

  prefetch(keys: readonly string[], count = keys.length): void {
    if (count === 0) this.prefetchesEnded++;
    else this.prefetched.push(keys.slice(0, count));
  }

  get tombstoneCount(): number {
    return this.removed.size;
  }

  /** As if a user had put the value on this node: held, and heard by the local listeners. */
  localPut(key: string, value: unknown, version: Version, createdAt: number, ttl = 0, tti = 0): void {
    this.#hold(key, value, version, createdAt, ttl, tti);
    for (const listener of this.localListeners) listener('put', key, value, version, createdAt, ttl, tti, -1);
  }

  /** As if a user had removed the key on this node. */
  localRemove(key: string, version: Version): void {
    this.held.delete(key);
    this.removed.set(key, version);
    this.generation++;
    for (const listener of this.localListeners) listener('remove', key, undefined, version, 0, 0, 0, -1);
  }

  applyPut(key: string, value: unknown, version: Version, createdAt: number, ttl: number, tti: number): ApplyOutcome {
    this.calls.push(`applyPut ${key}`);
    if (!isNewer(version, this.knownVersion(key)) || !this.#newerThanClear(version)) return 'stale';
    this.#hold(key, value, version, createdAt, ttl, tti);
    for (const listener of this.remoteValueListeners) listener(key);
    return 'applied';
  }

  applyRemote(change: RemoteChange<unknown>): ApplyOutcome {
    this.calls.push(`applyRemote ${change.type}${'key' in change ? ` ${change.key}` : ''}`);
    switch (change.type) {
      case 'put':
        return this.applyPut(
          change.key,
          change.value,
          change.version,
          change.createdAt,
          change.timeToLiveSeconds,
          change.timeToIdleSeconds,
        );
      case 'remove':
        if (!isNewer(change.version, this.knownVersion(change.key)) || !this.#newerThanClear(change.version)) {
          return 'stale';
        }
        this.held.delete(change.key);
        this.removed.set(change.key, change.version);
        break;
      case 'expire': {
        const entry = this.held.get(change.key);
        if (entry === undefined || compareVersions(entry.version, change.version) !== 0) return 'stale';
        this.held.delete(change.key);
        break;
      }
      case 'removeAll':
        if (!this.#newerThanClear(change.version)) return 'stale';
        this.clearVersion = change.version;
        for (const [key, entry] of this.held)
          if (!isNewer(entry.version as Version, change.version)) this.held.delete(key);
        break;
    }
    this.generation++;
    return 'applied';
  }

  peekEntry(key: string): EntrySnapshot<unknown> | undefined {
    this.calls.push(`peekEntry ${key}`);
    return this.held.get(key);
  }

  knownVersion(key: string): Version | undefined {
    const held = this.held.get(key)?.version;
    const removed = this.removed.get(key);
    if (held === undefined) return removed;
    return removed !== undefined && isNewer(removed, held) ? removed : held;
  }

  *entries(): IterableIterator<EntrySnapshot<unknown>> {
    this.calls.push('entries');
    yield* [...this.held.values()];
  }

  liveEntries(): EntryCursor<unknown> {
    this.calls.push('liveEntries');
    return new SnapshotCursor([...this.held.keys()], (key) => this.held.get(key));
  }

  tombstones(): Tombstone[] {
    return [...this.removed].map(([key, version]) => ({ key, version }));
  }

  /** As a cache with a disk tier: no kept digest, so repair reads entries() and tombstones(). */
  digest(): undefined {
    return undefined;
  }
  /** Its digest is never kept (digest() answers undefined): nothing lingers. */
  lingerReadExpiries(): void {}

  onLocalChange(listener: LocalChangeListener<unknown>): () => void {
    this.localListeners.push(listener);
    return () => {
      this.localListeners = this.localListeners.filter((l) => l !== listener);
    };
  }

  onRemoteValue(listener: (key: string) => void): () => void {
    this.remoteValueListeners.push(listener);
    return () => {
      this.remoteValueListeners = this.remoteValueListeners.filter((l) => l !== listener);
    };
  }

  setLoadCoordinator(coordinator: LoadCoordinator<unknown> | undefined): void {
    this.coordinator = coordinator;
  }

  requireEncodableValues(reason: string): void {
    this.encodableReason = reason;
  }

  #hold(key: string, value: unknown, version: Version, createdAt: number, ttl: number, tti: number): void {
    this.removed.delete(key);
    this.generation++;
    this.held.set(key, {
      key,
      value,
      createdAt,
      lastAccessedAt: createdAt,
      timeToLiveSeconds: ttl,
      timeToIdleSeconds: tti,
      expiresAt: Number.POSITIVE_INFINITY,
      version,
    });
  }

  #newerThanClear(version: Version): boolean {
    return this.clearVersion === undefined || isNewer(version, this.clearVersion);
  }
}
