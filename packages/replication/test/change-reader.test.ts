import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, MAX_BATCH_CHANGES, MessageType, WireCodec } from '../src/internals.js';
import { ChangeReader } from '../src/protocol/change-reader.js';
import { receivers, UNCHECKED } from './decode-paths.js';

/**
 * ChangeReader (the codec's fast path for batches of plain values) must be invisible: for any
 * bytes, a codec that reads with it decodes to what a codec that decodes everything the full way
 * (guard, msgpackr, field checks) decodes to, or fails with the same ProtocolError; and it must
 * leave the connection's state (msgpackr's record structures, the guard's) as the full path does,
 * so frames with records that follow decode the same too.
 */

const ascii = fc.string({ unit: fc.constantFrom(...'abcxyz:/-_09 .'), maxLength: 40 });
const anyText = fc.oneof(
  { weight: 4, arbitrary: ascii },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20, size: 'max' }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20, size: 'max' }) }, // lone surrogates among them
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(255), 'w'.repeat(256)) },
);
const number = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
  fc.constantFrom(0, -0, 63, 64, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32, 2 ** 53 - 1, -1, -32, -33),
  fc.double(),
);
const value = fc.oneof(anyText, number, fc.boolean(), fc.constant(null), fc.constant(Buffer.from([1, 2, 3])));
const time = fc.oneof(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.constant(1_700_000_000_000), fc.double());
const counter = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constant(2 ** 32), fc.constant(-1));
const versionOf = fc.record({ time, counter, node: fc.oneof(fc.constant('node-a'), anyText) });
const cache = fc.oneof(fc.constant('sessions'), anyText);

const change: fc.Arbitrary<ChangeMessage> = fc.oneof(
  fc
    .record({
      cache,
      key: anyText,
      value,
      version: versionOf,
      createdAt: time,
      timeToLiveSeconds: number,
      timeToIdleSeconds: number,
    })
    .map((c) => ({ type: MessageType.Put, ...c }) as ChangeMessage),
  fc
    .record({ type: fc.constantFrom(MessageType.Remove, MessageType.Expire), cache, key: anyText, version: versionOf })
    .map((c) => c as ChangeMessage),
  fc.record({ cache, version: versionOf }).map((c) => ({ type: MessageType.RemoveAll, ...c }) as ChangeMessage),
);
const batch = fc.record({
  type: fc.constantFrom(MessageType.Batch, MessageType.Entries),
  // Up to 20: a session leaves long put values undecoded only in frames of 16 changes or more.
  changes: fc.array(change, { maxLength: 20, size: 'max' }),
});
/**
 * Batches of what a gateway sends (ASCII keys and plain values, well-formed versions), which the
 * fast path takes: drawn from `batch` alone, a frame of 20 changes is rarely all plain, and how
 * many were then depended on the run's seed (about a tenth of the frames; one run in many, fewer).
 */
const plainVersion = fc.record({
  time: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
  counter: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  node: fc.constant('node-a'),
});
const plainChange: fc.Arbitrary<ChangeMessage> = fc.oneof(
  fc
    .record({
      cache: fc.constant('sessions'),
      key: ascii,
      value: fc.oneof(ascii, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.boolean(), fc.constant(null)),
      version: plainVersion,
      createdAt: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
      timeToLiveSeconds: fc.nat({ max: 86_400 }),
      timeToIdleSeconds: fc.nat({ max: 86_400 }),
    })
    .map((c) => ({ type: MessageType.Put, ...c }) as ChangeMessage),
  fc
    .record({
      type: fc.constantFrom(MessageType.Remove, MessageType.Expire),
      cache: fc.constant('sessions'),
      key: ascii,
      version: plainVersion,
    })
    .map((c) => c as ChangeMessage),
);
const plainBatch = fc.record({
  type: fc.constantFrom(MessageType.Batch, MessageType.Entries),
  changes: fc.array(plainChange, { minLength: 1, maxLength: 20, size: 'max' }),
});

describe('ChangeReader, the fast path for batches of plain values', () => {
  it('decodes any batch as the full path does, frame after frame on one connection', () => {
    let taken = 0;
    let frames = 0;
    const reader = new ChangeReader(MAX_BATCH_CHANGES);
    fc.assert(
      fc.property(fc.array(fc.oneof(batch, plainBatch), { minLength: 1, maxLength: 6 }), (batches) => {
        const sender = new WireCodec();
        const receive = receivers();
        for (const message of batches) {
          const bytes = Buffer.from(sender.encode(message));
          receive(bytes);
          frames++;
          if (reader.read(bytes, UNCHECKED) !== undefined) taken++;
        }
      }),
      { numRuns: 300 },
    );
    // Both paths are exercised: the fast one takes the frames of ASCII text and plain values.
    expect(taken).toBeGreaterThan(frames / 10);
    expect(taken).toBeLessThan(frames);
  });

  it('refuses or decodes any mutated, cut or extended frame exactly as the full path does', () => {
    fc.assert(
      fc.property(
        batch,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.oneof(fc.constant(undefined), fc.nat()),
        fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ minLength: 1, maxLength: 4 }).map(Buffer.from)),
        (message, flips, cut, tail) => {
          const bytes = Buffer.from(new WireCodec().encode(message));
          for (const [at, byte] of flips) if (bytes.length > 0) bytes[at % bytes.length] = byte;
          const cutBytes = cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
          receivers()(Buffer.concat([cutBytes, tail]));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('leaves msgpackr record structures as the full path does: object values after plain ones decode the same', () => {
    const sender = new WireCodec();
    const receive = receivers();
    const put = (key: string, value: unknown): ChangeMessage => ({
      type: MessageType.Put,
      cache: 'c',
      key,
      value,
      version: { time: 1_700_000_000_000, counter: 1, node: 'n' },
      createdAt: 1_700_000_000_000,
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    });
    const frames = [
      [put('a', 'plain')],
      [put('b', { status: 200, body: 'x' })],
      [put('c', 'plain again')],
      [put('d', { status: 404, body: 'y' }), put('e', { status: 200, body: 'z' })],
      [put('f', 7)],
      [put('g', { status: 500, body: 'w', extra: true })],
    ];
    const decoded = frames.map((changes) => receive(Buffer.from(sender.encode({ type: MessageType.Batch, changes }))));
    expect(decoded.map((d) => ('ok' in d ? (d.ok as { changes: ChangeMessage[] }).changes.length : d.error))).toEqual([
      1, 1, 1, 2, 1, 1,
    ]);
    expect(decoded[3]).toEqual({ ok: { type: MessageType.Batch, changes: frames[3] } });
  });

  it('takes a frame packed whole by a previous release (no records) and one with a record alike', () => {
    const packr = new Packr({
      moreTypes: true,
      structuredClone: false,
      useRecords: true,
      mapsAsObjects: false,
      sequential: true,
    });
    const receive = receivers();
    const time = 1_700_000_000_000;
    expect(receive(packr.pack([5, [[1, 'c', 'k', 'v', time, 0, 'n', time, 0, 0]]]))).toEqual({
      ok: {
        type: MessageType.Batch,
        changes: [
          {
            type: MessageType.Put,
            cache: 'c',
            key: 'k',
            value: 'v',
            version: { time, counter: 0, node: 'n' },
            createdAt: time,
            timeToLiveSeconds: 0,
            timeToIdleSeconds: 0,
          },
        ],
      },
    });
    receive(packr.pack([5, [[1, 'c', 'k', { a: 1 }, time, 0, 'n', time, 0, 0]]]));
    receive(packr.pack([5, [[1, 'c', 'k', { a: 2 }, time, 1, 'n', time, 0, 0]]]));
  });
});
