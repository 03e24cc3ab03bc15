/**
 * fast-check arbitraries for the fuzzer (fuzz.test.ts): every message type of
 * src/protocol/messages.ts, valid and near-valid, and what an outsider sends before
 * authentication.
 *
 * Frames after authentication are plaintexts (the fuzzer seals them with the session keys):
 * - valid: a Message of any type, encoded by the session's own WireCodec (records and all);
 * - near-valid: a message's wire array with one field replaced, dropped or added, or its type
 *   number changed (retired, unknown), encoded as plain msgpack;
 * - extension bombs: a Put whose value is a msgpack extension (Error, RegExp, BigInt, ...,
 *   structured-clone references, unknown ones) or a 64-bit integer;
 * - mutated: a valid frame's bytes flipped, overwritten, cut, extended, spliced.
 * Before authentication: random bytes, frames with the handshake header, a Hello made with the
 * key whose payload is fuzzed (the listener must judge it after decryption), a real Hello with
 * flipped bits, a replication message in the clear.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { ChangeMessage, Message } from '../src/protocol/messages.js';
import { MessageType } from '../src/protocol/messages.js';

export const CACHES = ['tokens', 'responses'] as const;

/**
 * Bytes up to `max` long: half of them short (fast-check's default size), half of any length up
 * to `max` (size 'max'), so that long frames are as likely as short ones.
 */
function bytes(max: number, min = 0): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ minLength: min, maxLength: max }),
    fc.uint8Array({ minLength: min, maxLength: max, size: 'max' }),
  );
}

/** Plain msgpack for near-valid arrays (the node's decoder reads plain maps and arrays too). */
const plain = new Packr({ useRecords: false, moreTypes: true });

const cacheName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CACHES) },
  { weight: 1, arbitrary: fc.constantFrom('unknown', 'tokens ', 'TOKENS', 'é', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, size: 'max' }) },
);
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('k1', 'k2', 'k3', 'orders/read', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 24, size: 'max', unit: 'binary' }) },
);
const node = fc.oneof(fc.constantFrom('fuzzer', 'gw-1', 'gw-2'), fc.string({ minLength: 1, maxLength: 8 }));

/** A version near this process's clock (mostly acceptable), or far from it. */
export function versionArb(now: number) {
  return fc.record({
    time: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: now - 86_400_000, max: now + 30_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: now + 61_000, max: now + 10 * 86_400_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 1000 }) },
    ),
    counter: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 10 }) },
      { weight: 1, arbitrary: fc.constant(2 ** 32 - 1) },
    ),
    node,
  });
}

/** Values a cache may hold, and some it may not (BigInts encode as 64-bit integers). */
const value = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 2,
    arbitrary: fc.anything({
      maxDepth: 3,
      maxKeys: 5,
      withMap: true,
      withSet: true,
      withDate: true,
      withTypedArray: true,
      withNullPrototype: true,
      withSparseArray: true,
      withBigInt: true,
      withUnicodeString: true,
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64, size: 'max' }).map((bytes) => Buffer.from(bytes)) },
);

/** Durations (s): eternal, or long enough not to expire while the fuzzer runs. */
const seconds = fc.oneof(fc.constant(0), fc.integer({ min: 86_400, max: 10 * 86_400 }));

export function changeArb(now: number): fc.Arbitrary<ChangeMessage> {
  const version = versionArb(now);
  return fc.oneof(
    fc.record({
      type: fc.constant(MessageType.Put),
      cache: cacheName,
      key,
      value,
      version,
      createdAt: fc.integer({ min: now - 60_000, max: now }),
      timeToLiveSeconds: seconds,
      timeToIdleSeconds: seconds,
    }),
    fc.record({ type: fc.constantFrom(MessageType.Remove, MessageType.Expire), cache: cacheName, key, version }),
    fc.record({ type: fc.constant(MessageType.RemoveAll), cache: cacheName, version }),
  ) as fc.Arbitrary<ChangeMessage>;
}

const bucketCount = fc.integer({ min: 0, max: 6 }).map((power) => 2 ** power);

/** Every message of the union, as the protocol allows it (valid). */
export function messageArb(now: number): fc.Arbitrary<Message> {
  const version = versionArb(now);
  const change = changeArb(now);
  return fc.oneof(
    { weight: 6, arbitrary: change },
    {
      weight: 2,
      arbitrary: fc.record({ type: fc.constant(MessageType.Batch), changes: fc.array(change, { maxLength: 8 }) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ type: fc.constant(MessageType.Entries), changes: fc.array(change, { maxLength: 8 }) }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constant(MessageType.BootstrapDone), cache: cacheName }) },
    {
      weight: 1,
      arbitrary: bucketCount.chain((count) =>
        fc.record({
          type: fc.constant(MessageType.Digest),
          cache: cacheName,
          bucketCount: fc.constant(count),
          digest: fc.uint8Array({ minLength: count * 8, maxLength: count * 8 }),
          clearVersion: fc.option(version, { nil: undefined }),
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: bucketCount.chain((count) =>
        fc.record({
          type: fc.constant(MessageType.RepairRequest),
          cache: cacheName,
          bucketCount: fc.constant(count),
          keyBuckets: fc.uniqueArray(fc.integer({ min: 0, max: count - 1 }), { maxLength: count }),
          fullBuckets: fc.uniqueArray(fc.integer({ min: 0, max: count - 1 }), { maxLength: count }),
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.Keys),
        cache: cacheName,
        items: fc.array(fc.record({ key, version, removed: fc.boolean() }), { maxLength: 6 }),
        last: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.Pull),
        cache: cacheName,
        keys: fc.array(key, { maxLength: 6 }),
        last: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constantFrom(MessageType.Sync, MessageType.Ack), id: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.AdminRequest),
        id: fc.nat(),
        op: fc.constantFrom('peers', 'stats', 'get', 'put', 'remove', 'clear'),
        args: fc.array(fc.oneof(cacheName, key, value), { maxLength: 4 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.AdminResponse),
        id: fc.nat(),
        ok: fc.boolean(),
        result: value,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant(MessageType.ClockSample), wallMillis: fc.nat() }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant(MessageType.Unknown), number: fc.integer({ min: 24, max: 70_000 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.LinkCaches),
        caches: fc.array(cacheName, { maxLength: 4 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.SkipRounds),
        cache: cacheName,
        rounds: fc.integer({ min: 0, max: 255 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant(MessageType.AskDigest), cache: cacheName }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        type: fc.constant(MessageType.Repaired),
        cache: cacheName,
        digestNumber: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant(MessageType.Lease),
        cache: cacheName,
        key,
        version,
        leaseMillis: fc.integer({ min: 0, max: 3_600_000 }),
        state: fc.constantFrom('claim', 'withdraw', 'release'),
      }),
    },
  ) as fc.Arbitrary<Message>;
}

/** Admin requests as a client sends them, arguments right and wrong. */
export function adminRequestArb(): fc.Arbitrary<Message> {
  const args = fc.oneof(
    fc.tuple(cacheName, key),
    fc.tuple(cacheName, key, value, fc.oneof(fc.constant(null), fc.integer({ min: -5, max: 86_400 }))),
    fc.tuple(fc.oneof(cacheName, fc.constant(null))),
    fc.array(value, { maxLength: 5 }),
  );
  return fc.record({
    type: fc.constant(MessageType.AdminRequest),
    id: fc.nat(),
    op: fc.constantFrom('peers', 'stats', 'get', 'put', 'remove', 'clear'),
    args,
  }) as fc.Arbitrary<Message>;
}

/** A wire array as the codec lays it out (codec.ts), to be made near-valid. */
function wireOf(message: Message): unknown[] {
  const v = (version: { time: number; counter: number; node: string }) => [version.time, version.counter, version.node];
  switch (message.type) {
    case MessageType.Put:
      return [
        1,
        message.cache,
        message.key,
        message.value,
        ...v(message.version),
        message.createdAt,
        message.timeToLiveSeconds,
        message.timeToIdleSeconds,
      ];
    case MessageType.Remove:
    case MessageType.Expire:
      return [message.type, message.cache, message.key, ...v(message.version)];
    case MessageType.RemoveAll:
      return [4, message.cache, ...v(message.version)];
    case MessageType.Batch:
    case MessageType.Entries:
      return [message.type, message.changes.map((change) => wireOf(change))];
    case MessageType.BootstrapDone:
      return [8, message.cache];
    case MessageType.Digest:
      return [
        9,
        message.cache,
        message.bucketCount,
        message.digest,
        message.clearVersion === undefined ? null : v(message.clearVersion),
      ];
    case MessageType.RepairRequest:
      return [10, message.cache, message.bucketCount, message.keyBuckets, message.fullBuckets];
    case MessageType.Keys:
      return [
        11,
        message.cache,
        message.items.map((item) => [item.key, ...v(item.version), item.removed ? 1 : 0]),
        message.last,
      ];
    case MessageType.Pull:
      return [12, message.cache, message.keys, message.last];
    case MessageType.Sync:
    case MessageType.Ack:
      return [message.type, message.id];
    case MessageType.AdminRequest:
      return [16, message.id, message.op, message.args];
    case MessageType.AdminResponse:
      return [17, message.id, message.ok, message.result];
    case MessageType.Lease:
      return [
        18,
        message.cache,
        message.key,
        ...v(message.version),
        message.leaseMillis,
        ['claim', 'withdraw', 'release'].indexOf(message.state),
      ];
    case MessageType.ClockSample:
      return [19, message.wallMillis];
    case MessageType.LinkCaches:
      return [20, message.caches];
    case MessageType.SkipRounds:
      return [21, message.cache, message.rounds];
    case MessageType.AskDigest:
      return [22, message.cache];
    case MessageType.Repaired:
      return [23, message.cache, message.digestNumber];
    case MessageType.Unknown:
      return [message.number];
  }
}

/** Values that break a field: wrong types, out of range, huge, negative, fractional. */
const wrongField = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    '',
    -1,
    0.5,
    2 ** 32,
    2 ** 53,
    -(2 ** 31),
    Number.NaN,
    Number.POSITIVE_INFINITY,
    'x',
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.array(fc.nat(), { maxLength: 4 }),
  fc.constant(new Map([[1, 2]])),
  fc.constant({ a: 1 }),
);

type Edit =
  | { kind: 'replace'; at: number; with: unknown }
  | { kind: 'drop'; at: number }
  | { kind: 'add'; with: unknown }
  | { kind: 'type'; with: unknown }
  | { kind: 'nested'; at: number; inner: number; with: unknown };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(12), with: wrongField }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fc.nat(12) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), with: wrongField }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('type' as const),
      with: fc.oneof(fc.constantFrom(0, 6, 7, 19, 127, 255, -1, '1', null), fc.integer()),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('nested' as const), at: fc.nat(4), inner: fc.nat(10), with: wrongField }),
  },
);

function applyEdit(wire: unknown[], change: Edit): unknown[] {
  const copy = [...wire];
  switch (change.kind) {
    case 'replace':
      copy[change.at % copy.length] = change.with;
      return copy;
    case 'drop':
      copy.splice(change.at % copy.length, 1);
      return copy;
    case 'add':
      copy.push(change.with);
      return copy;
    case 'type':
      copy[0] = change.with;
      return copy;
    case 'nested': {
      const lists = copy.map((field, i) => [field, i] as const).filter(([field]) => Array.isArray(field));
      const target = lists[change.at % Math.max(1, lists.length)];
      if (target === undefined) {
        copy[1 + (change.at % (copy.length - 1 || 1))] = change.with;
        return copy;
      }
      const inner = [...(target[0] as unknown[])];
      const element = inner[change.inner % Math.max(1, inner.length)];
      if (Array.isArray(element)) {
        const edited = [...element];
        edited[change.inner % Math.max(1, edited.length)] = change.with;
        inner[change.inner % inner.length] = edited;
      } else {
        inner[change.inner % Math.max(1, inner.length)] = change.with;
      }
      copy[target[1]] = inner;
      return copy;
    }
  }
}

/** A message's wire array with one or two edits, encoded as plain msgpack. */
export function nearValidArb(now: number): fc.Arbitrary<Buffer> {
  return fc.tuple(messageArb(now), fc.array(edit, { minLength: 1, maxLength: 2 })).map(([message, edits]) => {
    let wire = wireOf(message);
    for (const change of edits) wire = applyEdit(wire, change);
    try {
      return plain.pack(wire);
    } catch {
      return plain.pack([1, 'tokens', 'k1']); // an unencodable edit: a short Put instead
    }
  });
}

/** msgpack a node never sends inside a value: msgpackr's extensions and 64-bit integers. */
const forbiddenValue = fc.oneof(
  // fixext 1/2/4/8/16, ext 8 with a type byte: Error 0x65, RegExp 0x78, BigInt 0x42, bundled 0x62,
  // structured-clone 0x69/0x70, typed arrays 0x74 with every code, and anything else.
  fc
    .tuple(
      fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8),
      fc.oneof(fc.constantFrom(0x65, 0x78, 0x42, 0x62, 0x69, 0x70, 0x74, 0x72, 0x73, 0x00, 0xff), fc.nat(255)),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
    )
    .map(([head, type, data]) => {
      const length = { 212: 1, 213: 2, 214: 4, 215: 8, 216: 16 }[head] ?? 1;
      return Buffer.concat([Buffer.of(head, type), Buffer.from(data.subarray(0, length))]);
    }),
  fc
    .tuple(
      fc.oneof(fc.constantFrom(0x65, 0x78, 0x42, 0x74), fc.nat(255)),
      fc.uint8Array({ maxLength: 40, size: 'max' }),
    )
    .map(([type, data]) => Buffer.concat([Buffer.of(0xc7, data.length, type), Buffer.from(data)])),
  fc
    .tuple(fc.constantFrom(0xcf, 0xd3), fc.uint8Array({ minLength: 8, maxLength: 8 }))
    .map(([head, data]) => Buffer.concat([Buffer.of(head), Buffer.from(data)])),
  fc.constant(Buffer.of(0xc1)),
  fc.nat(200).map((depth) => Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.of(0xc0)])),
);

/** A Put whose value is forbidden msgpack, spliced in raw. */
export function forbiddenPutArb(now: number): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(...CACHES), key, forbiddenValue, versionArb(now))
    .map(([cache, k, bad, version]) =>
      Buffer.concat([
        Buffer.of(0x9a),
        plain.pack(1),
        plain.pack(cache),
        plain.pack(k),
        bad,
        plain.pack(version.time),
        plain.pack(version.counter),
        plain.pack(version.node),
        plain.pack(now),
        plain.pack(0),
        plain.pack(0),
      ]),
    );
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    byte: fc.oneof(
      fc.constantFrom(0x00, 0x7f, 0x80, 0x90, 0xc0, 0xc1, 0xd4, 0xdc, 0xdd, 0xde, 0xdf, 0xff),
      fc.nat(255),
    ),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(bytes);
  for (const change of mutations) {
    const at = out.length === 0 ? 0 : change.at % out.length;
    switch (change.kind) {
      case 'flip':
        if (out.length > 0) out[at] = (out[at] as number) ^ (1 << change.bit);
        break;
      case 'set':
        if (out.length > 0) out[at] = change.byte;
        break;
      case 'cut':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(change.bytes), out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + change.count)]);
        break;
    }
  }
  return out;
}

export const mutationsArb = fc.array(mutation, { minLength: 1, maxLength: 3 });

/**
 * One frame after authentication, as a plaintext for the session keys: a valid message (to be
 * encoded by the session's codec), or bytes (near-valid, forbidden, mutated, random).
 */
export type FuzzPlaintext =
  | { readonly kind: 'valid'; readonly message: Message }
  | { readonly kind: 'mutated'; readonly message: Message; readonly mutations: readonly Mutation[] }
  | { readonly kind: 'bytes'; readonly what: string; readonly bytes: Buffer };

export function plaintextArb(now: number): fc.Arbitrary<FuzzPlaintext> {
  return fc.oneof(
    { weight: 5, arbitrary: messageArb(now).map((message) => ({ kind: 'valid' as const, message })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(messageArb(now), mutationsArb)
        .map(([message, mutations]) => ({ kind: 'mutated' as const, message, mutations })),
    },
    { weight: 3, arbitrary: nearValidArb(now).map((bytes) => ({ kind: 'bytes' as const, what: 'near-valid', bytes })) },
    {
      weight: 1,
      arbitrary: forbiddenPutArb(now).map((bytes) => ({ kind: 'bytes' as const, what: 'forbidden', bytes })),
    },
    {
      weight: 1,
      arbitrary: bytes(300).map((data) => ({ kind: 'bytes' as const, what: 'random', bytes: Buffer.from(data) })),
    },
  );
}

/** What is done to a sealed frame on its way (a relay's tampering): mostly nothing. */
export type Tampering = 'none' | 'flip' | 'cut' | 'replay' | 'drop-then-next';
export const tamperingArb: fc.Arbitrary<Tampering> = fc.oneof(
  { weight: 20, arbitrary: fc.constant('none' as const) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('flip' as const, 'cut' as const, 'replay' as const, 'drop-then-next' as const),
  },
);

/** Fields of a Hello payload, mostly right, sometimes wrong (for a Hello made with the key). */
export const helloPayloadArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(
      mostly(fc.constant(2), fc.constantFrom(0, 1, 3, 65_535, 65_536, -1, 1.5)),
      mostly(fc.constant(2), fc.constantFrom(0, 1, 3, 65_535, 65_536, -1)),
      mostly(fc.constantFrom('peer', 'admin'), fc.constantFrom('root', 'read-only', '', 'PEER')),
      mostly(fc.constant('gateways'), fc.constantFrom('', 'other', 'é'.repeat(100), 'x'.repeat(300), 'a\u0000b')),
      mostly(
        fc.constantFrom('fuzzer', 'gw-1', 'é'.repeat(128)),
        fc.oneof(fc.constantFrom('', 'n'.repeat(257), 'esc\u001b[2J', '\u202e'), fc.string({ maxLength: 10 })),
      ),
      mostly(fc.constantFrom('', 'ws://127.0.0.1:1'), fc.constantFrom('u'.repeat(600), 'ws://\u0007')),
    ),
  },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 8 }) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
);

/** The right value nine times in ten. */
function mostly<T, U>(right: fc.Arbitrary<T>, wrong: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ weight: 9, arbitrary: right }, { weight: 1, arbitrary: wrong });
}

/** What an outsider sends as a first frame (or two), without the key unless it is a keyed Hello. */
export type PreAuthFrame =
  | { readonly kind: 'bytes'; readonly what: string; readonly bytes: Buffer }
  | { readonly kind: 'keyed-hello'; readonly payload: unknown; readonly mutations: readonly Mutation[] | undefined };

export function preAuthFrameArb(now: number): fc.Arbitrary<PreAuthFrame> {
  const header = fc.oneof(
    { weight: 4, arbitrary: fc.constant([0x6d, 0x63, 1, 1]) },
    { weight: 1, arbitrary: fc.constant([0x6d, 0x63, 1, 2]) },
    { weight: 1, arbitrary: fc.tuple(fc.constant(0x6d), fc.constant(0x63), fc.nat(255), fc.nat(255)) },
  );
  return fc.oneof(
    {
      weight: 2,
      arbitrary: bytes(1200).map((data) => ({ kind: 'bytes' as const, what: 'random', bytes: Buffer.from(data) })),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(header, bytes(1100)).map(([head, body]) => ({
        kind: 'bytes' as const,
        what: 'handshake-shaped',
        bytes: Buffer.from([...head, ...body]),
      })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(helloPayloadArb, fc.option(mutationsArb, { nil: undefined }))
        .map(([payload, mutations]) => ({ kind: 'keyed-hello' as const, payload, mutations })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          messageArb(now).map((message) => plain.pack(wireOf(message))),
          nearValidArb(now),
          forbiddenPutArb(now),
        )
        .map((bytes) => ({ kind: 'bytes' as const, what: 'message in the clear', bytes })),
    },
  );
}

export { plain as plainPackr };
