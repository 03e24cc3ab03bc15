import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, type Message, MessageType, WireCodec } from '../src/internals.js';
import { ChangeWriter } from '../src/protocol/change-writer.js';
import { fitsHandshake } from '../src/security/handshake-messages.js';
import { wholePacker } from './whole-packed.js';

/**
 * Differential fuzz of ChangeWriter against the previous release's sender (the whole message laid
 * out as codec.ts's arrays and packed by one Packr per connection with the codec's options): random
 * batches of every kind of change, with strings, numbers, booleans, null and Buffers that sit on
 * msgpack's size boundaries, sent frame after frame on one connection, mixed with batches that
 * must be packed whole. Every frame must be the very same bytes, and decode to the same message.
 */

/** FUZZ_RUNS=5000 for a longer hunt; the default keeps the file to a few seconds. */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 100);

const around = (n: number) => [n - 1, n, n + 1];
const LENGTHS = [0, 1, ...around(31), ...around(32), 63, 64, 65, ...around(255), ...around(256), 1000];
const BIG_LENGTHS = [...around(65_535), 65_537, 70_000];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const piece = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'binary-ascii', maxLength: 8 }),
  loneSurrogate,
  fc.constantFrom('é', '中', '😀', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff', '\ud83d', '\ude00'),
);
/** Strings of about the given length in UTF-16 units, made of pieces of every UTF-8 width. */
const sizedString = (lengths: number[]) =>
  fc.tuple(fc.constantFrom(...lengths), fc.array(piece, { minLength: 1, maxLength: 6 })).map(([length, pieces]) => {
    let text = '';
    for (let i = 0; text.length < length; i++) text += pieces[i % pieces.length] || 'x';
    return text.slice(0, length);
  });
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 70, size: 'max' }) },
  { weight: 2, arbitrary: fc.array(piece, { maxLength: 12, size: 'max' }).map((p) => p.join('')) },
  { weight: 3, arbitrary: sizedString(LENGTHS) },
  { weight: 1, arbitrary: fc.oneof({ weight: 9, arbitrary: fc.constant('') }, sizedString(BIG_LENGTHS)) },
);
const nonEmptyText = text.map((t) => t || 'n');

const specialNumbers = [
  0,
  -0,
  1,
  31,
  32,
  63,
  64,
  127,
  128,
  255,
  256,
  65_535,
  65_536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53 - 1,
  2 ** 53,
  -1,
  -31,
  -32,
  -33,
  -127,
  -128,
  -129,
  -32_768,
  -32_769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 32),
  0.5,
  -0.5,
  1e-300,
  Number.MIN_VALUE,
  Number.MAX_VALUE,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1_700_000_000_000,
];
const anyNumber = fc.oneof(
  fc.constantFrom(...specialNumbers),
  fc.integer(),
  fc.integer({ min: -(2 ** 40), max: 2 ** 53 - 1 }),
  fc.double(),
  fc.nat(),
);
const time = fc.oneof(fc.constantFrom(0, 1, 63, 64, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1), fc.maxSafeNat());
const counter = fc.oneof(fc.constantFrom(0, 63, 64, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1), fc.nat());
const seconds = fc.oneof(
  fc.constantFrom(0, 0.25, 300, 2 ** 32, 2 ** 40),
  fc.double({ min: 0, noNaN: true, max: 1e15 }),
);

/** Buffers, views into bigger ones (a byteOffset) included. */
const buffer = fc
  .tuple(
    fc.oneof(fc.constantFrom(0, 1, 255, 256, 257), fc.nat({ max: 300 }), fc.constantFrom(65_535, 65_536, 65_537)),
    fc.nat({ max: 16 }),
    fc.nat({ max: 255 }),
  )
  .map(([length, offset, fill]) => {
    const whole = Buffer.alloc(length + offset + 3, fill);
    for (let i = 0; i < whole.length; i += 97) whole[i] = i & 0xff;
    return offset === 0 ? whole.subarray(0, length) : whole.subarray(offset, offset + length);
  });

const simpleValue = fc.oneof(text, anyNumber, fc.boolean(), fc.constant(null), buffer);
const objectValue = fc.oneof(
  fc.record({ status: fc.nat(), body: fc.string() }),
  fc.dictionary(fc.string({ maxLength: 4 }), simpleValue, { maxKeys: 3 }),
  fc.array(simpleValue, { maxLength: 3 }),
  fc.uint8Array({ maxLength: 10 }),
  fc.date({ noInvalidDate: true }),
);

const version = fc.record({ time, counter, node: nonEmptyText });
const change = (value: fc.Arbitrary<unknown>) =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        type: fc.constant(MessageType.Put),
        cache: nonEmptyText,
        key: text,
        value,
        version,
        createdAt: time,
        timeToLiveSeconds: seconds,
        timeToIdleSeconds: seconds,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constantFrom(MessageType.Remove, MessageType.Expire),
        cache: nonEmptyText,
        key: text,
        version,
      }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constant(MessageType.RemoveAll), cache: nonEmptyText, version }) },
  ) as fc.Arbitrary<ChangeMessage>;

const simpleBatch = fc.array(change(simpleValue), { maxLength: 20 });
const mixedBatch = fc.tuple(simpleBatch, change(objectValue)).map(([changes, extra]) => [...changes, extra]);
const frame = fc.record({
  type: fc.constantFrom(MessageType.Batch, MessageType.Entries),
  changes: fc.oneof({ weight: 3, arbitrary: simpleBatch }, { weight: 1, arbitrary: mixedBatch }),
}) as fc.Arbitrary<{ type: typeof MessageType.Batch | typeof MessageType.Entries; changes: ChangeMessage[] }>;

/**
 * What a receiver makes of a frame, as text: the message, or the problem it names (compared as
 * text because comparing big Buffers element by element is slow; -0, NaN and classes kept).
 */
function decoded(codec: WireCodec, bytes: Uint8Array): string {
  try {
    return canonical(codec.decode(bytes));
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

function canonical(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  if (value instanceof Uint8Array) return `${value.constructor.name}<${Buffer.from(value).toString('hex')}>`;
  if (value instanceof Date) return `Date(${value.getTime()})`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value instanceof Map) return `Map{${[...value].map(([k, v]) => `${canonical(k)}=>${canonical(v)}`).join(',')}}`;
  if (value instanceof Set) return `Set{${[...value].map(canonical).join(',')}}`;
  const prototype: unknown = Object.getPrototypeOf(value);
  const proto = prototype === Object.prototype || prototype === null ? '' : '?';
  return `${proto}{${Object.entries(value)
    .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
    .join(',')}}`;
}

describe('ChangeWriter, fuzzed against the previous release sender', () => {
  it('writes the very same bytes, frame after frame on one connection, and they decode alike', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 5 }), (frames) => {
        const sender = new WireCodec();
        const whole = wholePacker();
        const fromWriter = new WireCodec();
        const fromWhole = new WireCodec();
        const sent: Buffer[] = [];
        const copies: Buffer[] = [];
        for (const message of frames) {
          const bytes = sender.encode(message);
          const before = whole(message.type, message.changes);
          if (!bytes.equals(before)) expect(bytes.toString('hex')).toBe(before.toString('hex'));
          expect(decoded(fromWriter, bytes)).toEqual(decoded(fromWhole, before));
          sent.push(bytes);
          copies.push(Buffer.from(bytes));
        }
        // frames handed out earlier are never written over (the transport may still hold them)
        for (let i = 0; i < sent.length; i++) expect((sent[i] as Buffer).equals(copies[i] as Buffer)).toBe(true);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('round-trips valid changes (but for lone surrogates and -0, which neither release carries, and nodes no handshake takes)', () => {
    const LONE = /\p{Cs}/u;
    const wellFormed = (change: ChangeMessage): boolean =>
      !LONE.test(change.cache) &&
      !LONE.test(change.version.node) &&
      fitsHandshake(change.version.node) && // a version's node is a node name (at most 256 bytes, no control characters)
      (change.type === MessageType.RemoveAll || !LONE.test(change.key)) &&
      (change.type !== MessageType.Put ||
        ((typeof change.value !== 'string' || !LONE.test(change.value)) && !Object.is(change.value, -0)));
    fc.assert(
      fc.property(fc.array(change(simpleValue), { maxLength: 30 }), (changes) => {
        const valid = changes.filter(wellFormed);
        const sender = new WireCodec();
        const receiver = new WireCodec();
        for (const type of [MessageType.Batch, MessageType.Entries] as const) {
          const message: Message = { type, changes: valid };
          expect(ChangeWriter.writes(valid)).toBe(true);
          expect(decoded(receiver, sender.encode(message))).toBe(canonical(message));
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('does not write over a frame it handed out while it writes the next ones, across chunk changes', () => {
    const sender = new WireCodec();
    const sizes = [1, 5000, 10, 200_000, 3, 1_200_000, 2, 50];
    const frames = sizes.map((size, i) => {
      const message: Message = {
        type: MessageType.Batch,
        changes: [
          {
            type: MessageType.Put,
            cache: 'c',
            key: `k${i}`,
            value: Buffer.alloc(size, i + 1),
            version: { time: 1, counter: i, node: 'n' },
            createdAt: 1,
            timeToLiveSeconds: 0,
            timeToIdleSeconds: 0,
          },
        ],
      };
      const bytes = sender.encode(message);
      return { message, bytes, copy: Buffer.from(bytes) };
    });
    const receiver = new WireCodec();
    for (const { message, bytes, copy } of frames) {
      expect(bytes.equals(copy)).toBe(true);
      const back = receiver.decode(bytes);
      if (back.type !== MessageType.Batch || back.changes[0]?.type !== MessageType.Put) throw new Error('not a put');
      const sentPut = message.type === MessageType.Batch ? message.changes[0] : undefined;
      if (sentPut?.type !== MessageType.Put) throw new Error('not a put');
      expect((back.changes[0].value as Buffer).equals(sentPut.value as Buffer)).toBe(true);
      expect({ ...back.changes[0], value: null }).toEqual({ ...sentPut, value: null });
    }
  });
});
