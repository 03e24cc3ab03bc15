import { DeferredValue } from '@meshcache/core/internal';
import { expect } from 'vitest';
import { type ChangeMessage, ProtocolError, type PutMessage, WireCodec } from '../src/internals.js';
import type { ChangeBuilder } from '../src/protocol/change-reader.js';

/**
 * The two ways a frame can be decoded, side by side: a codec with ChangeReader (the fast path for
 * batches of plain values) and one without (`readChanges: false`, the full path). The reader's
 * tests feed both the same frames and require the same answer, compared with Object.is at the
 * leaves, or the same ProtocolError.
 */

/** Deep equality with Object.is at the leaves (toEqual would let -0 pass for 0). */
export function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([k, v], i) => same(k, [...b][i]?.[0]) && same(v, [...b][i]?.[1]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export type Outcome = { ok: unknown } | { error: string };
export function outcome(codec: WireCodec, bytes: Uint8Array): Outcome {
  try {
    return { ok: codec.decode(bytes) };
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return { error: (error as Error).message };
  }
}

/**
 * Three receiving codecs (with the reader, with it leaving put values undecoded as a session's
 * does, and without it) fed the same frames; each answer compared. A value left undecoded is
 * compared as its first read decodes it; where that shows U+FFFD the frame's bytes were not UTF-8,
 * which it decodes as Buffer does and msgpackr may not (frame-values.ts), so it may differ there.
 */
export function receivers() {
  const fast = new WireCodec();
  const deferring = new WireCodec({ deferValues: true });
  const full = new WireCodec({ readChanges: false });
  return (bytes: Uint8Array): Outcome => {
    const a = outcome(fast, Buffer.from(bytes));
    const b = outcome(full, Buffer.from(bytes));
    if (!same(a, b)) expect.fail(`fast and full paths differ on ${Buffer.from(bytes).toString('hex')}`);
    const c = outcome(deferring, Buffer.from(bytes));
    // Read as the frame is handled (a cache with listeners does), then settled as a session does.
    const read = resolved(c, b);
    deferring.takeDeferred()?.settle();
    if (!same(read, b)) expect.fail(`deferring and full paths differ on ${Buffer.from(bytes).toString('hex')}`);
    return a;
  };
}

/** The outcome with each undecoded put value decoded; one showing U+FFFD taken as the full path's (see above). */
function resolved(deferred: Outcome, full: Outcome): Outcome {
  if (!('ok' in deferred) || !('ok' in full)) return deferred;
  const message = deferred.ok as { changes?: Array<{ value?: unknown }> };
  if (message.changes === undefined) return deferred;
  const fullChanges = (full.ok as { changes?: Array<{ value?: unknown }> }).changes ?? [];
  const changes = message.changes.map((change, i) => {
    if (!(change.value instanceof DeferredValue)) return change;
    const value: unknown = change.value.resolve();
    const invalid = typeof value === 'string' && value.includes('\ufffd');
    return { ...change, value: invalid ? fullChanges[i]?.value : value };
  });
  return { ok: { ...message, changes } };
}

/** A builder for a lone ChangeReader that checks nothing: whether the reader takes a frame, the codec's checks left out. */
export const UNCHECKED: ChangeBuilder = { change: () => ({}) as ChangeMessage, put: () => ({}) as PutMessage };
