/**
 * Changes kept as columns, with no object per change: the replication queue's log, and a repair's
 * chunk of entries (repair/entry-chunks.ts). ChangeWriter.writeLog writes a frame straight from
 * them; changeAt and changesOfLog make change objects, only for what reads a message's changes.
 */
import type { Version } from '@meshcache/core';
import { type ChangeMessage, MessageType } from './messages.js';

/**
 * Record i's fields at index i of each column (createdAt, timeToLiveSeconds and
 * timeToIdleSeconds at 3i, 3i + 1, 3i + 2 of `lives`). A record is a Put, a Remove or an Expire;
 * a removeAll is passed on its own.
 */
export interface ChangeLog {
  readonly cache: string;
  readonly types: Uint8Array;
  readonly keys: ReadonlyArray<string | undefined>;
  readonly values: ReadonlyArray<unknown>;
  readonly nodes: ReadonlyArray<string | undefined>;
  readonly times: Float64Array;
  readonly counters: Uint32Array;
  readonly lives: Float64Array;
}

/** The changes a record of a ChangeLog holds: those of one key. */
export type KeyChangeType = typeof MessageType.Put | typeof MessageType.Remove | typeof MessageType.Expire;

/** Record `i` of `log` as a change object. */
function changeAt(log: ChangeLog, i: number): ChangeMessage {
  const type = log.types[i] as KeyChangeType;
  const key = log.keys[i] as string;
  const version = { time: log.times[i] as number, counter: log.counters[i] as number, node: log.nodes[i] as string };
  if (type !== MessageType.Put) return { type, cache: log.cache, key, version };
  return {
    type,
    cache: log.cache,
    key,
    value: log.values[i],
    version,
    createdAt: log.lives[3 * i] as number,
    timeToLiveSeconds: log.lives[3 * i + 1] as number,
    timeToIdleSeconds: log.lives[3 * i + 2] as number,
  };
}

/** Records `from` to `to` of `log` as change objects, after a removeAll of `clear` when given. */
export function changesOfLog(log: ChangeLog, from: number, to: number, clear: Version | undefined): ChangeMessage[] {
  const changes: ChangeMessage[] = [];
  if (clear !== undefined) changes.push({ type: MessageType.RemoveAll, cache: log.cache, version: clear });
  for (let i = from; i < to; i++) changes.push(changeAt(log, i));
  return changes;
}
