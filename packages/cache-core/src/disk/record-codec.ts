/**
 * How a DiskRecord is stored: an object with short field names, encoded by msgpackr with
 * `moreTypes` (so Sets, Maps, Dates and Buffers come back as themselves) and without structured
 * cloning (so decoding never builds class instances or cycles from bytes).
 *
 *   { v: value, c: createdAt, a: lastAccessedAt, l: timeToLiveSeconds, i: timeToIdleSeconds,
 *     t: version time, n: version counter, o: version node,       (t, n, o only when versioned)
 *     d: 1 }                                                         (only when it uses the cache's lifespan)
 *
 * `d` came later within format 1: a release before it reads such a record as it did (it ignores
 * the field), and this one reads a record without it as keeping its own lifespan.
 *
 * The lmdb store encodes with its database's own encoder, whose record structures lmdb keeps in
 * the same database, committed with the data; the in-memory store keeps them in memory. Bytes
 * that do not decode to this shape are reported as corrupt, never returned as something else.
 */
import { MeshcacheError } from '../errors.js';
import type { DiskRecord } from './disk-store.js';

export interface RecordEncoder {
  encode(value: unknown): Buffer;
  decode(bytes: Uint8Array): unknown;
}

/** The msgpackr options every record encoder uses. */
export const RECORD_ENCODER_OPTIONS = Object.freeze({ moreTypes: true, structuredClone: false });

interface StoredRecord {
  v: unknown;
  c: number;
  a: number;
  l: number;
  i: number;
  t?: number;
  n?: number;
  o?: string;
  d?: 1;
}

export class CorruptRecordError extends MeshcacheError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super('E_DISK_CORRUPT', `disk record is corrupt: ${problem}`, options);
    this.name = 'CorruptRecordError';
  }
}

export function encodeRecord(encoder: RecordEncoder, record: DiskRecord): Buffer {
  const stored: StoredRecord = {
    v: record.value,
    c: record.createdAt,
    a: record.lastAccessedAt,
    l: record.timeToLiveSeconds,
    i: record.timeToIdleSeconds,
  };
  if (record.version !== undefined) {
    stored.t = record.version.time;
    stored.n = record.version.counter;
    stored.o = record.version.node;
  }
  if (record.usesDefaults === true) stored.d = 1;
  try {
    return encoder.encode(stored);
  } catch (error) {
    throw new MeshcacheError('E_VALUE_NOT_ENCODABLE', `the value cannot be encoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export function decodeRecord<V>(encoder: RecordEncoder, bytes: Uint8Array): DiskRecord<V> {
  let stored: unknown;
  try {
    stored = encoder.decode(bytes);
  } catch (error) {
    throw new CorruptRecordError('not msgpack', { cause: error });
  }
  return fromStored<V>(stored);
}

export function fromStored<V>(stored: unknown): DiskRecord<V> {
  if (stored === null || typeof stored !== 'object') throw new CorruptRecordError('not a record');
  const { v, c, a, l, i, t, n, o, d } = stored as Partial<StoredRecord>;
  if (typeof c !== 'number' || typeof a !== 'number' || typeof l !== 'number' || typeof i !== 'number') {
    throw new CorruptRecordError('its times are not numbers');
  }
  const version =
    typeof t === 'number' && typeof n === 'number' && typeof o === 'string'
      ? { time: t, counter: n, node: o }
      : undefined;
  const record = {
    value: v as V,
    createdAt: c,
    lastAccessedAt: a,
    timeToLiveSeconds: l,
    timeToIdleSeconds: i,
    version,
  };
  return d === 1 ? { ...record, usesDefaults: true } : record;
}
