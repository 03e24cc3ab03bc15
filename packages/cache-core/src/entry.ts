/**
 * What a quiet read (Cache.peekEntry) or replication (the replica port) sees of an entry: a copy,
 * so changing it changes nothing. Entries themselves are not objects: the memory store keeps
 * them in slot arrays (memory/memory-store.ts).
 */
import type { Version } from './version.js';

export interface EntrySnapshot<V = unknown> {
  readonly key: string;
  readonly value: V;
  readonly createdAt: number;
  readonly lastAccessedAt: number;
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
  /** When the entry expires if not read again; Infinity for never. */
  readonly expiresAt: number;
  readonly version: Version | undefined;
}
