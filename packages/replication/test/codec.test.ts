import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, type Message, MessageType, WireCodec } from '../src/internals.js';

const version = { time: 1_700_000_000_000, counter: 2, node: 'gw-1' };
const put: ChangeMessage = {
  type: MessageType.Put,
  cache: 'Response Cache',
  key: 'GET /orders/42',
  value: {
    status: 200,
    headers: new Map([['content-type', 'application/json']]),
    body: Buffer.from('{"id":42}'),
    tags: new Set(['orders']),
    at: new Date(1_700_000_000_000),
    nested: { list: [1, 'two', null] },
  },
  version,
  createdAt: 1_700_000_000_000,
  timeToLiveSeconds: 300,
  timeToIdleSeconds: 0,
};
const remove: ChangeMessage = { type: MessageType.Remove, cache: 'tokens', key: 'prod/orders', version };
const expire: ChangeMessage = { type: MessageType.Expire, cache: 'tokens', key: 'prod/orders', version };
const removeAll: ChangeMessage = { type: MessageType.RemoveAll, cache: 'tokens', version };

/** A sender and a receiver, each with its own codec, as the two ends of one connection. */
function link() {
  const sender = new WireCodec();
  const receiver = new WireCodec();
  return (message: Message) => receiver.decode(sender.encode(message));
}

describe('WireCodec', () => {
  it.each([
    ['put', put],
    ['remove', remove],
    ['expire', expire],
    ['removeAll', removeAll],
  ])('carries a %s unchanged, value types included', (_name, message) => {
    expect(link()(message)).toEqual(message);
  });

  it.each(['claim', 'withdraw', 'release'] as const)('carries a lease in state %s', (state) => {
    const lease: Message = { type: MessageType.Lease, cache: 'tokens', key: 'k', version, leaseMillis: 5000, state };
    expect(link()(lease)).toEqual(lease);
  });

  it('hands on a top-level message of a type above every known number as Unknown, for the link to skip', () => {
    expect(new WireCodec().decode(forged.pack([99, 'from', 'a', 'newer', 'release']))).toEqual({
      type: MessageType.Unknown,
      number: 99,
    });
    expect(link()({ type: MessageType.Unknown, number: 4242 })).toEqual({ type: MessageType.Unknown, number: 4242 });
  });

  it('carries a ClockSample (protocol 3)', () => {
    const sample: Message = { type: MessageType.ClockSample, wallMillis: 1_700_000_000_123 };
    expect(link()(sample)).toEqual(sample);
    expect(() => new WireCodec().decode(forged.pack([19, 1.5]))).toThrow(/clockSample must be/);
  });

  it('carries LinkCaches (protocol 4), and refuses one that is not a list of cache names', () => {
    const caches: Message = { type: MessageType.LinkCaches, caches: ['Response Cache', 'tokens'] };
    expect(link()(caches)).toEqual(caches);
    expect(link()({ type: MessageType.LinkCaches, caches: [] })).toEqual({ type: MessageType.LinkCaches, caches: [] });
    for (const wrong of [[20], [20, 'R'], [20, ['R', '']], [20, ['R', 7]], [20, ['R'], 'more']]) {
      expect(() => new WireCodec().decode(forged.pack(wrong))).toThrow(/linkCaches must be/);
    }
  });

  it('carries SkipRounds (protocol 5), and refuses one without a cache or with rounds past 255', () => {
    const skip: Message = { type: MessageType.SkipRounds, cache: 'Response Cache', rounds: 7 };
    expect(link()(skip)).toEqual(skip);
    for (const wrong of [
      [21, 'R'],
      [21, '', 1],
      [21, 'R', -1],
      [21, 'R', 1.5],
      [21, 'R', 256],
      [21, 'R', 1, 0],
    ]) {
      expect(() => new WireCodec().decode(forged.pack(wrong))).toThrow(/skipRounds must be/);
    }
  });

  it('carries AskDigest (protocol 6), and refuses one without a cache name', () => {
    const ask: Message = { type: MessageType.AskDigest, cache: 'Response Cache' };
    expect(link()(ask)).toEqual(ask);
    for (const wrong of [[22], [22, ''], [22, 7], [22, 'R', 'more']]) {
      expect(() => new WireCodec().decode(forged.pack(wrong))).toThrow(/askDigest must be/);
    }
  });

  it('carries Repaired (protocol 7), and refuses one without a cache name or a digest number from 1', () => {
    const repaired: Message = { type: MessageType.Repaired, cache: 'Response Cache', digestNumber: 3 };
    expect(link()(repaired)).toEqual(repaired);
    for (const wrong of [
      [23, 'R'],
      [23, '', 1],
      [23, 'R', 0],
      [23, 'R', 1.5],
      [23, 'R', -1],
      [23, 'R', 2 ** 60],
      [23, 'R', 1, 'more'],
    ]) {
      expect(() => new WireCodec().decode(forged.pack(wrong))).toThrow(/repaired must be/);
    }
  });

  it('refuses a lease whose state is not one of the three', () => {
    const bytes = new Packr({ useRecords: false }).pack([MessageType.Lease, 'tokens', 'k', 1, 0, 'gw-1', 5000, true]);
    expect(() => new WireCodec().decode(bytes)).toThrow(
      /lease: state must be 0 \(claim\), 1 \(withdraw\) or 2 \(release\)/,
    );
  });

  it('carries a batch, and keeps decoding as record structures are reused across frames', () => {
    const send = link();
    for (let round = 0; round < 3; round++) {
      const batch: Message = {
        type: MessageType.Batch,
        changes: [put, remove, { ...put, key: `k${round}` }, removeAll],
      };
      expect(send(batch)).toEqual(batch);
    }
  });

  it('a new connection (a fresh codec) decodes from scratch', () => {
    const first = new WireCodec();
    const bytes = first.encode(put);
    expect(new WireCodec().decode(bytes)).toEqual(put);
  });

  const forged = new Packr({ useRecords: false });
  it.each([
    ['garbage bytes', Buffer.from([0xc1, 0xff, 0x00]), /byte 0xc1 is not something meshcache sends/],
    ['truncated msgpack', forged.pack([2, 'c', 'k', 1, 0, 'n']).subarray(0, 6), /truncated msgpack/],
    ['bytes after the message', Buffer.concat([forged.pack([13, 1]), Buffer.from([0x01])]), /bytes after the message/],
    ['retired protocol 1 Hello', forged.pack([6, 1, 'c', 'n', '', Buffer.alloc(32)]), /message type 6 is retired/],
    ['a fractional time', forged.pack([4, 'c', 1.5, 0, 'n']), /version time must be whole epoch milliseconds/],
    [
      'a counter of 2^32',
      forged.pack([4, 'c', 1, 2 ** 32, 'n']),
      /version counter must be a whole number from 0 to 2\^32 - 1/,
    ],
    ['a non-array', forged.pack({ type: 1 }), /a message must be an array/],
    ['an unknown change type inside a batch', forged.pack([5, [[99, 'c']]]), /batch\[0\]: unknown message type 99/],
    ['a put with a missing field', forged.pack([1, 'c', 'k', 'v', 1, 0, 'n', 1, 0]), /put has 9 fields, expected 10/],
    ['an empty cache name', forged.pack([2, '', 'k', 1, 0, 'n']), /cache must be a non-empty string/],
    ['a numeric key', forged.pack([2, 'c', 7, 1, 0, 'n']), /key must be a string/],
    ['a negative TTL', forged.pack([1, 'c', 'k', 'v', 1, 0, 'n', 1, -5, 0]), /timeToLiveSeconds must be seconds >= 0/],
    ['a fractional counter', forged.pack([4, 'c', 1, 0.5, 'n']), /version counter must be a whole number/],
    ['a NaN time', forged.pack([4, 'c', Number.NaN, 0, 'n']), /version time must be whole epoch milliseconds/],
    // A node name as the handshake takes one: 15 MB names were held for good (found by an attack).
    ['a version node of 257 bytes', forged.pack([4, 'c', 1, 0, 'n'.repeat(257)]), /version node must be a node name/],
    ['a version node with a control character', forged.pack([2, 'c', 'k', 1, 0, 'gw\u0001']), /no control characters/],
    [
      'a batch whose version node is too long',
      forged.pack([
        5,
        [
          [2, 'c', 'k', 1, 0, 'n'],
          [2, 'c', 'k', 1, 0, 'n'.repeat(300)],
        ],
      ]),
      /batch\[1\]: version node must be a node name: 1 to 256 bytes/,
    ],
    [
      'a Keys item whose version node is too long',
      forged.pack([11, 'c', [['k', 1, 0, 'é'.repeat(129), 0]], true]),
      /version node must be a node name/,
    ],
    ['a batch of non-arrays', forged.pack([5, [1, 2]]), /batch\[0\]: a change must be an array/],
    ['a batch inside a batch', forged.pack([5, [[5, []]]]), /batch\[0\]: unknown message type 5/],
    // Said in a few words, not quoted whole: a 1 MiB type made a 1 MiB log line (found by an attack).
    [
      'a long string as a change type',
      forged.pack([5, [['x'.repeat(1 << 20), 'c']]]),
      /batch\[0\]: unknown message type \(a string of 1048576 characters\)$/,
    ],
    // ext 0x73 (a Set), then a number where the array of its items belongs: msgpackr threw on it,
    // and the peer was told only "not msgpack" (found by an attack).
    [
      'a Set not followed by an array',
      Buffer.from([0x92, 0x0d, 0xd4, 0x73, 0x00, 0x05]),
      /a Set must be followed by the array of its items/,
    ],
    [
      'an array as a change type',
      forged.pack([5, [[[1, 2, 3], 'c']]]),
      /batch\[0\]: unknown message type \(an array of 3 items\)$/,
    ],
  ])('refuses %s with E_PROTOCOL naming what was wrong', (_name, bytes, problem) => {
    expect(() => new WireCodec().decode(bytes)).toThrow(
      expect.objectContaining({ code: 'E_PROTOCOL', message: expect.stringMatching(problem) }),
    );
  });

  const items = (n: number, item: unknown) => Array.from({ length: n }, () => item);
  it.each([
    ['changes in a batch', (n: number) => [5, items(n, [2, 'c', 'k', 1, 0, 'n'])], /batch: changes: 100001 items/],
    ['changes in entries', (n: number) => [15, items(n, [2, 'c', 'k', 1, 0, 'n'])], /entries: changes: 100001 items/],
    ['items in keys', (n: number) => [11, 'c', items(n, ['k', 1, 0, 'n', 0]), true], /keys: items: 100001 items/],
    ['keys in a pull', (n: number) => [12, 'c', items(n, 'k'), true], /pull: keys: 100001 items/],
  ])('takes 100,000 %s and refuses 100,001', (_name, wire, problem) => {
    expect(() => new WireCodec().decode(forged.pack(wire(100_000)))).not.toThrow();
    expect(() => new WireCodec().decode(forged.pack(wire(100_001)))).toThrow(
      expect.objectContaining({ code: 'E_PROTOCOL', message: expect.stringMatching(problem) }),
    );
  });

  const withMoreTypes = new Packr({ moreTypes: true, useRecords: false });
  it.each([
    ['an Error', new Error('boom'), /extension 101 is not a type meshcache carries/],
    ['a RegExp', /a+$/g, /extension 120 is not a type meshcache carries/],
    ['a BigInt', 2n ** 70n, /byte 0xd8 is not something meshcache sends/],
    ['a 64-bit integer', 2n ** 63n - 1n, /a 64-bit integer/],
    ['an ArrayBuffer', new ArrayBuffer(4), /extension 116 of 5 bytes is not a type meshcache carries/],
    ['a Float64Array', new Float64Array([1.5]), /extension 116 of 9 bytes is not a type meshcache carries/],
  ])('never decodes %s from a peer: refused before msgpackr builds it', (_name, value, problem) => {
    const bytes = withMoreTypes.pack([1, 'c', 'k', value, 1, 0, 'n', 1, 0, 0]);
    expect(() => new WireCodec().decode(bytes)).toThrow(
      expect.objectContaining({ code: 'E_PROTOCOL', message: expect.stringMatching(problem) }),
    );
  });

  it('refuses a frame whose containers would decode to more than 1 GiB, before msgpackr builds them (16 MB of empty maps took 2.9 GB; found by an attack)', () => {
    /** A Put (type 1) of key 'k' whose value is an array of `count` copies of `item` (one byte each). */
    const putOfMany = (count: number, item: number) => {
      const header = Buffer.alloc(5);
      header[0] = 0xdd; // array 32
      header.writeUInt32BE(count, 1);
      return Buffer.concat([
        Buffer.from([0x9a, 0x01, 0xa1, 0x63, 0xa1, 0x6b]),
        header,
        Buffer.alloc(count, item),
        Buffer.from([0x01, 0x00, 0xa1, 0x6e, 0x01, 0x00, 0x00]),
      ]);
    };
    const codec = new WireCodec();
    const heap = process.memoryUsage().heapUsed;
    for (const maps of [8_000_000, 16_000_000]) {
      expect(() => codec.decode(putOfMany(maps, 0x80))).toThrow(
        expect.objectContaining({
          code: 'E_PROTOCOL',
          message: expect.stringMatching(/would decode to more than 1073741824 bytes/),
        }),
      );
    }
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 << 20); // nothing was built
    // What a peer may still send: a million empty maps (160 MB by the estimate), 16 million small integers
    // (128 MB), and what a put takes: small arrays and objects (a 15 MiB value of them stays below).
    const maps = codec.decode(putOfMany(1_000_000, 0x80)) as { value: unknown[] };
    expect(maps.value).toHaveLength(1_000_000);
    expect(maps.value[0]).toEqual(new Map());
    const integers = codec.decode(putOfMany(16_000_000, 0x07)) as { value: number[] };
    expect(integers.value).toHaveLength(16_000_000);
  });

  it('refuses nesting deeper than 100 levels without overflowing the stack', () => {
    // A put whose value is 10,000 arrays, each holding the next (written by hand: msgpackr's own
    // packer would overflow the stack building it).
    const bytes = Buffer.concat([
      Buffer.from([0x9a, 0x01, 0xa1, 0x63, 0xa1, 0x6b]),
      Buffer.alloc(10_000, 0x91),
      Buffer.from([0xc0, 0x01, 0x00, 0xa1, 0x6e, 0x01, 0x00, 0x00]),
    ]);
    expect(() => new WireCodec().decode(bytes)).toThrow(/nested deeper than 100 levels/);
  });

  it('keeps every type a cache may hold: objects, Maps, Sets, Dates, Buffers, Uint8Arrays, undefined inside', () => {
    const value = {
      object: { nested: [1, -1, 2 ** 31, 1.5, 'text', null, true, undefined] },
      map: new Map<unknown, unknown>([
        ['a', { b: 1 }],
        [2, [3]],
      ]),
      set: new Set(['x', 'y']),
      date: new Date(1_700_000_000_123),
      buffer: Buffer.from('bytes'),
      bytes: new Uint8Array([1, 2, 3]),
      many: Array.from({ length: 70 }, (_, i) => ({ [`field${i}`]: i })), // more than 64 record shapes
    };
    const send = link();
    for (let round = 0; round < 3; round++) expect((send({ ...put, value }) as typeof put).value).toEqual(value);
  });

  it('copies binary values out of the frame, so a stored value never keeps a frame alive', () => {
    const frame = Uint8Array.from(new WireCodec().encode({ ...put, value: Buffer.from('body bytes') }));
    const decoded = new WireCodec().decode(frame) as { value: Buffer };
    expect(Buffer.isBuffer(decoded.value)).toBe(true);
    expect(decoded.value.buffer).not.toBe(frame.buffer);
    frame.fill(0);
    expect(decoded.value.toString()).toBe('body bytes');
  });

  it('never builds class instances from the wire', () => {
    class Token {
      constructor(readonly secret: string) {}
      reveal(): string {
        return this.secret;
      }
    }
    const decoded = link()({ ...put, value: new Token('s') } as Message) as { value: unknown };
    expect(decoded.value).toEqual({ secret: 's' });
    expect(decoded.value).not.toBeInstanceOf(Token);
  });
});

describe('WireCodec: repair and acknowledgement messages', () => {
  const digest = new Uint8Array(16).fill(7);
  it.each<[string, Message]>([
    ['digest', { type: MessageType.Digest, cache: 'c', bucketCount: 2, digest, clearVersion: version }],
    [
      'digest without a clear',
      { type: MessageType.Digest, cache: 'c', bucketCount: 2, digest, clearVersion: undefined },
    ],
    [
      'repairRequest',
      { type: MessageType.RepairRequest, cache: 'c', bucketCount: 4, keyBuckets: [0, 3], fullBuckets: [1] },
    ],
    ['keys', { type: MessageType.Keys, cache: 'c', items: [{ key: 'k', version, removed: true }], last: true }],
    ['pull', { type: MessageType.Pull, cache: 'c', keys: ['a', ''], last: false }],
    ['entries', { type: MessageType.Entries, changes: [put, remove] }],
    ['bootstrapDone', { type: MessageType.BootstrapDone, cache: 'c' }],
    ['sync', { type: MessageType.Sync, id: 7 }],
    ['ack', { type: MessageType.Ack, id: 7 }],
  ])('carries a %s unchanged', (_name, message) => {
    const decoded = link()(message) as Message & { digest?: Uint8Array };
    expect({ ...decoded, ...(decoded.digest ? { digest: [...decoded.digest] } : {}) }).toEqual({
      ...message,
      ...('digest' in message ? { digest: [...message.digest] } : {}),
    });
  });

  const packr = new Packr({ useRecords: false });
  it.each<[string, unknown[], RegExp]>([
    [
      'a bucket count that is not a power of two',
      [9, 'c', 3, new Uint8Array(24), null],
      /bucketCount must be a power of two/,
    ],
    ['a digest of the wrong length', [9, 'c', 2, new Uint8Array(8), null], /digest must be 16 bytes/],
    ['a bad clear version', [9, 'c', 1, new Uint8Array(8), [1, 2]], /clearVersion must be null or/],
    ['a bucket out of range', [10, 'c', 2, [2], []], /keyBuckets must be a list of bucket numbers below 2/],
    ['a keys item of the wrong shape', [11, 'c', [['k', 1, 0]], true], /keys.items\[0\] must be/],
    ['a keys item with a bad removed flag', [11, 'c', [['k', 1, 0, 'n', 2]], true], /removed must be 0 or 1/],
    ['a pull of non-strings', [12, 'c', [1], true], /keys must be a list of strings/],
    ['a pull without its last flag', [12, 'c', ['k'], 1], /last must be true or false/],
    ['a negative sync id', [13, -1], /sync: id must be a whole number/],
    ['entries that are not changes', [15, [[99]]], /entries\[0\]: unknown message type 99/],
  ])('refuses %s, naming it', (_name, wire, problem) => {
    expect(() => new WireCodec().decode(packr.pack(wire))).toThrow(problem);
  });
});
