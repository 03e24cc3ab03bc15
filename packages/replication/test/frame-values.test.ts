import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DeferredValue } from '@meshcache/core/internal';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, type Message, MessageType, WireCodec } from '../src/internals.js';
import { DEFER_FROM } from '../src/protocol/change-reader.js';
import { FrameValues } from '../src/protocol/frame-values.js';
import { startNode, until } from './nodes.js';

// Put values a session receives are held as the frame's bytes until first read (frame-values.ts).
// Memory is measured after forced collections; vitest runs each file in a process of its own.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const time = 1_700_000_000_000;
const put = (key: string, value: unknown): ChangeMessage => ({
  type: MessageType.Put,
  cache: 'c',
  key,
  value,
  version: { time, counter: 0, node: 'n' },
  createdAt: time,
  timeToLiveSeconds: 0,
  timeToIdleSeconds: 0,
});
const batchOf = (values: unknown[]): Message => ({
  type: MessageType.Batch,
  changes: values.map((value, i) => put(`k${i}`, value)),
});
/** The values of a decoded batch's changes (all puts here). */
const valuesOf = (message: Message) =>
  (message as unknown as { changes: Array<{ value: unknown }> }).changes.map((change) => change.value);

describe('put values left undecoded by a session codec', () => {
  it('leaves values from DEFER_FROM bytes undecoded, in any UTF-8, and decodes them as the full path', () => {
    const long = 'a'.repeat(DEFER_FROM);
    const accented = 'é'.repeat(DEFER_FROM / 2); // DEFER_FROM bytes, half as many characters
    const values = ['short', 'b'.repeat(DEFER_FROM - 1), long, accented, '🚀'.repeat(40), 7, null];
    const bytes = new WireCodec().encode(batchOf(values));
    const deferring = new WireCodec({ deferValues: true });
    const decoded = valuesOf(deferring.decode(bytes));
    deferring.settle();
    expect(decoded.map((value) => value instanceof DeferredValue)).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
      false,
    ]);
    const full = valuesOf(new WireCodec({ readChanges: false }).decode(bytes));
    expect(decoded.map((value) => (value instanceof DeferredValue ? value.resolve() : value))).toEqual(full);
    expect(full).toEqual(values);
  });

  it('decodes a value of bytes that are not UTF-8 with U+FFFD, never throwing', () => {
    const bytes = Buffer.from(new WireCodec().encode(batchOf(['x'.repeat(100)])));
    const at = bytes.indexOf('x'.repeat(100));
    bytes[at + 10] = 0xff;
    bytes[at + 50] = 0xc3; // a lead byte with no continuation
    const deferring = new WireCodec({ deferValues: true });
    const value = valuesOf(deferring.decode(bytes))[0] as DeferredValue<string>;
    deferring.settle();
    const text = value.resolve();
    expect(text).toHaveLength(100);
    expect(text.slice(0, 10)).toBe('x'.repeat(10));
    expect(text[10]).toBe('\ufffd');
    expect(text[50]).toBe('\ufffd');
  });

  it('counts a value by its bytes against maxBytesLocalHeap, before it is decoded', () => {
    const deferring = new WireCodec({ deferValues: true });
    const value = valuesOf(deferring.decode(new WireCodec().encode(batchOf(['é'.repeat(50)]))))[0];
    // 100 bytes of UTF-8 for 50 characters: weighed as the longer of the two, plus 5, as a string.
    expect((value as DeferredValue<string>).estimatedBytes).toBe(105);
  });
});

describe('FrameValues: what a frame keeps', () => {
  /** A frame of `count` values of `size` bytes each, in a buffer of its own, as a decryption makes one. */
  function frame(count: number, size: number) {
    const bytes = Buffer.alloc(count * size);
    for (let i = 0; i < count; i++) bytes.fill(97 + (i % 26), i * size, (i + 1) * size);
    const values = new FrameValues(bytes, count);
    const deferred = Array.from({ length: count }, (_, i) => values.value(i * size, (i + 1) * size));
    const expected = (i: number) => String.fromCharCode(97 + (i % 26)).repeat(size);
    return { values, deferred, expected };
  }

  it('keeps its bytes while most of them are held unread; decodes what is left once half is not', () => {
    const { values, deferred, expected } = frame(10, 1000);
    for (let i = 0; i < 10; i++) values.hold(i);
    values.settle();
    // Four released and one read: 5,000 of 10,000 bytes held, not fewer than half: kept.
    for (const i of [0, 1, 2, 3]) values.release(i);
    expect(deferred[4]?.resolve()).toBe(expected(4));
    // One more: 4,000 bytes, fewer than half. The other four held are decoded and still answer.
    values.release(5);
    for (const i of [6, 7, 8, 9]) expect(values.resolve(i)).toBe(expected(i));
  });

  it('is let go at once when the caches took few of its values: the buffer is not kept', () => {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const kept: Array<DeferredValue<string>> = [];
    for (let f = 0; f < 8; f++) {
      const { values, deferred } = frame(1000, 4096); // 4 MiB
      values.hold(0); // one value held of a thousand; the rest stale
      for (let i = 1; i < 1000; i++) values.release(i);
      values.settle();
      kept.push(deferred[0] as DeferredValue<string>);
    }
    gc();
    gc();
    expect((process.memoryUsage().arrayBuffers - before) / 2 ** 20).toBeLessThan(8);
    expect(kept.map((value) => value.resolve())).toEqual(Array(8).fill('a'.repeat(4096)));
  });

  it('keeps the buffer of values held unread until they go, then lets it go', () => {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const frames = Array.from({ length: 8 }, () => {
      const made = frame(1000, 4096);
      for (let i = 0; i < 1000; i++) made.values.hold(i);
      made.values.settle();
      return made;
    });
    gc();
    expect((process.memoryUsage().arrayBuffers - before) / 2 ** 20).toBeGreaterThan(30);
    for (const { values } of frames) for (let i = 0; i < 1000; i++) values.release(i);
    gc();
    gc();
    expect((process.memoryUsage().arrayBuffers - before) / 2 ** 20).toBeLessThan(8);
  });

  it('a value taken by a cache only after its frame was let go is decoded, and keeps nothing', () => {
    const { values, deferred, expected } = frame(4, 100);
    values.settle(); // none held yet (a message waiting for its handler): let go, the values decoded
    values.hold(2);
    expect(deferred[2]?.resolve()).toBe(expected(2));
    expect(values.resolve(3)).toBe(expected(3));
  });
});

describe('deferred values between real nodes', () => {
  /** Two nodes over real WebSockets; B's cache takes what A puts. Says how many values B's cache took deferred. */
  async function replicate(options: { deferValues?: boolean }, listen: boolean) {
    const held: number[] = [];
    const hold = FrameValues.prototype.hold;
    FrameValues.prototype.hold = function (this: FrameValues, index: number) {
      held.push(index);
      hold.call(this, index);
    };
    try {
      const caches = {
        responses: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } },
      };
      const b = await startNode('b', [], { caches }, options);
      const a = await startNode('a', [b.url], { caches });
      await until(() => a.peers()[0]?.state === 'connected', 'a linked to b');
      const onB = b.manager.getCache<string>('responses');
      const heard: string[] = [];
      if (listen) onB?.on('put', (event) => heard.push(event.value as string));
      const values = Array.from({ length: 50 }, (_, i) => `${i}:${'é'.repeat(40 + i)}`);
      const onA = a.manager.getCache<string>('responses');
      for (const [i, value] of values.entries()) onA?.put(`k${i}`, value);
      await until(() => onB?.size === 50, 'b holds every value');
      return { held: held.length, read: values.map((_, i) => onB?.get(`k${i}`)), values, heard };
    } finally {
      FrameValues.prototype.hold = hold;
    }
  }

  it("a node holds a peer's long values undecoded, and its reads answer them whole", async () => {
    const { held, read, values } = await replicate({}, false);
    expect(held).toBe(50);
    expect(read).toEqual(values);
  });

  it('decodes them on arrival where a listener hears them, or with deferValues: false', async () => {
    const listened = await replicate({}, true);
    expect(listened.held).toBe(0);
    expect(listened.heard).toEqual(listened.values);
    const eager = await replicate({ deferValues: false }, false);
    expect(eager.held).toBe(0);
    expect(eager.read).toEqual(eager.values);
  });
});
