import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CacheManager } from '@meshcache/core';
import { DeferredValue, replicaPortOf } from '@meshcache/core/internal';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, type Message, MessageType, WireCodec } from '../src/internals.js';
import { DEFER_FROM } from '../src/protocol/change-reader.js';
import { FrameValues, MIN_VALUES } from '../src/protocol/frame-values.js';
import { startNode, until } from './nodes.js';
import { linkedRawPeer } from './raw-peer.js';

// Put values a session receives are held as the frame's bytes until first read (frame-values.ts).
// Memory is measured after forced collections; vitest runs each file in a process of its own.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const memory = () => {
  for (let i = 0; i < 4; i++) gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return { heap: heapUsed / 2 ** 20, buffers: arrayBuffers / 2 ** 20 };
};

let counter = 0;
const put = (key: string, value: unknown, cache = 'c'): ChangeMessage => {
  const time = Date.now();
  return {
    type: MessageType.Put,
    cache,
    key,
    value,
    version: { time, counter: counter++, node: 'n' },
    createdAt: time,
    timeToLiveSeconds: 0,
    timeToIdleSeconds: 0,
  };
};
/** A batch of `values`, then enough long ones for the frame to leave its values undecoded. */
const batchOf = (values: unknown[]): Message => ({
  type: MessageType.Batch,
  changes: [...values, ...Array(MIN_VALUES).fill('p'.repeat(DEFER_FROM))].map((value, i) => put(`k${i}`, value)),
});
/** The values of a decoded batch's changes (all puts here). */
const valuesOf = (message: Message) =>
  (message as unknown as { changes: Array<{ value: unknown }> }).changes.map((change) => change.value);
const resolved = (values: unknown[]) =>
  values.map((value) => (value instanceof DeferredValue ? value.resolve() : value));

describe('put values left undecoded by a session codec', () => {
  it('leaves values from DEFER_FROM bytes undecoded, in any UTF-8, and decodes them as the full path', () => {
    const long = 'a'.repeat(DEFER_FROM);
    const accented = 'é'.repeat(DEFER_FROM / 2); // DEFER_FROM bytes, half as many characters
    const values = ['short', 'b'.repeat(DEFER_FROM - 1), long, accented, '🚀'.repeat(40), 7, null];
    const bytes = new WireCodec().encode(batchOf(values));
    const deferring = new WireCodec({ deferValues: true });
    const decoded = valuesOf(deferring.decode(bytes)).slice(0, values.length);
    expect(decoded.map((value) => value instanceof DeferredValue)).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
      false,
    ]);
    // Read while the frame is handled, as a cache with listeners does; then the frame is settled.
    const full = valuesOf(new WireCodec({ readChanges: false }).decode(bytes)).slice(0, values.length);
    expect(resolved(decoded)).toEqual(full);
    deferring.takeDeferred()?.settle();
    expect(full).toEqual(values);
  });

  it(`leaves nothing undecoded in a frame that would leave fewer than ${MIN_VALUES} values so`, () => {
    const values = [...Array(MIN_VALUES - 1).fill('x'.repeat(1000)), 'short', 7];
    const message = { type: MessageType.Batch, changes: values.map((value, i) => put(`k${i}`, value)) } as Message;
    const deferring = new WireCodec({ deferValues: true });
    expect(valuesOf(deferring.decode(new WireCodec().encode(message)))).toEqual(values);
    expect(deferring.takeDeferred()).toBeUndefined();
  });

  it('decodes a value of bytes that are not UTF-8 with U+FFFD, never throwing', () => {
    const bytes = Buffer.from(new WireCodec().encode(batchOf(['x'.repeat(100)])));
    const at = bytes.indexOf('x'.repeat(100));
    bytes[at + 10] = 0xff;
    bytes[at + 50] = 0xc3; // a lead byte with no continuation
    const deferring = new WireCodec({ deferValues: true });
    const value = valuesOf(deferring.decode(bytes))[0] as DeferredValue<string>;
    const text = value.resolve();
    expect(text).toHaveLength(100);
    expect(text.slice(0, 10)).toBe('x'.repeat(10));
    expect(text[10]).toBe('\ufffd');
    expect(text[50]).toBe('\ufffd');
  });

  it('weighs a value by its bytes before it is decoded, and by its characters once it is', () => {
    const deferring = new WireCodec({ deferValues: true });
    const value = valuesOf(deferring.decode(new WireCodec().encode(batchOf(['é'.repeat(50)]))))[0];
    // 100 bytes of UTF-8 for 50 characters: weighed as 100, plus 5, as a string of 100.
    expect((value as DeferredValue<string>).estimatedBytes).toBe(105);
    const manager = new CacheManager();
    const cache = manager.addCache<string>('c', { maxBytesLocalHeap: '1m' });
    replicaPortOf(cache).applyPut('k', value as string, { time: 1, counter: 0, node: 'n' }, 0, 0, 0);
    expect(cache.statistics().memoryBytes).toBe(100 + 1 + 105);
    expect(cache.get('k')).toBe('é'.repeat(50));
    expect(cache.statistics().memoryBytes).toBe(100 + 1 + 55);
    return manager.shutdown();
  });
});

describe('FrameValues: what a frame keeps', () => {
  /** A frame of `count` values of `size` bytes each, in a buffer of its own, as a decryption makes one. */
  function frame(count: number, size: number, seed = 0) {
    const bytes = Buffer.alloc(count * size);
    for (let i = 0; i < count; i++) bytes.fill(97 + ((seed + i) % 26), i * size, (i + 1) * size);
    const values = new FrameValues(bytes);
    const deferred = Array.from({ length: count }, (_, i) => values.value(i * size, (i + 1) * size));
    const expected = (i: number) => String.fromCharCode(97 + ((seed + i) % 26)).repeat(size);
    return { values, deferred, expected };
  }

  it('keeps its bytes while a quarter are held unread; below it, copies the rest, which still answer', () => {
    const before = memory();
    const { values, expected } = frame(10, 1 << 20); // 10 MiB
    for (let i = 0; i < 10; i++) values.hold(i);
    values.settle();
    for (const i of [0, 1, 2, 3, 4, 5]) values.release(i);
    expect(values.resolve(6)).toBe(expected(6)); // 3 of 10 MiB held: kept
    expect(memory().buffers - before.buffers).toBeGreaterThan(9);
    values.release(7); // 2 MiB: copied into a buffer of their own
    expect(memory().buffers - before.buffers).toBeLessThan(3);
    for (const i of [8, 9]) expect(values.resolve(i)).toBe(expected(i));
  });

  it('once few of its values are held, decodes those and lets its buffer and bookkeeping go', () => {
    const before = memory();
    const frames = Array.from({ length: 20 }, (_, f) => {
      const { values, expected } = frame(100_000, 64, f); // 6.1 MiB, and 0.9 MB of bookkeeping
      values.hold(0); // one of a hundred thousand held; the rest went elsewhere
      values.settle();
      return { values, expected: expected(0) };
    });
    const after = memory();
    expect(after.buffers - before.buffers).toBeLessThan(1);
    expect(after.heap - before.heap).toBeLessThan(1);
    expect(frames.map(({ values }) => values.resolve(0))).toEqual(frames.map(({ expected }) => expected));
  });

  it('values no cache took while the frame was handled are done with: not decoded, their bytes let go', () => {
    const before = memory();
    const kept: Array<{ values: FrameValues; expected: string }> = [];
    for (let f = 0; f < 8; f++) {
      const { values, expected } = frame(1000, 4096, f); // 4 MiB, of which one value is held, decoded
      values.hold(0);
      values.settle();
      kept.push({ values, expected: expected(0) });
    }
    const after = memory();
    expect(after.buffers - before.buffers).toBeLessThan(2);
    expect(after.heap - before.heap).toBeLessThan(2); // the held values alone decoded
    expect(kept.map(({ values }) => values.resolve(0))).toEqual(kept.map(({ expected }) => expected));
  });

  it('keeps the bytes of values held unread until they go, then lets them go', () => {
    const before = memory();
    const frames = Array.from({ length: 8 }, (_, f) => {
      const made = frame(1000, 4096, f);
      for (let i = 0; i < 1000; i++) made.values.hold(i);
      made.values.settle();
      return made;
    });
    expect(memory().buffers - before.buffers).toBeGreaterThan(30);
    for (const { values } of frames) for (let i = 0; i < 1000; i++) values.release(i);
    expect(memory().buffers - before.buffers).toBeLessThan(2);
  });

  it('a value is held once, while its frame is handled; one read after it was released says so', () => {
    const { values } = frame(4, 100);
    values.hold(0);
    values.hold(2);
    expect(() => values.hold(0)).toThrow(/held twice or too late/);
    values.settle();
    expect(() => values.hold(1)).toThrow(/held twice or too late/); // taken by no cache in time
    values.release(0); // 100 of 400 bytes held, 1 of 4 values: copied
    expect(() => values.resolve(0)).toThrow(/read after it was released/);
    values.release(2);
    expect(() => values.resolve(2)).toThrow(/read after it was released/);
  });
});

describe('deferred values in caches', () => {
  const frameOf = (count: number, size: number, seed: number) => {
    const bytes = Buffer.alloc(count * size);
    for (let i = 0; i < count; i++) bytes.fill(97 + ((seed + i) % 26), i * size, (i + 1) * size);
    const values = new FrameValues(bytes);
    return { values, deferred: Array.from({ length: count }, (_, i) => values.value(i * size, (i + 1) * size)) };
  };
  const version = (counter: number) => ({ time: 1, counter, node: 'p' });

  it('strings read and then dropped are not kept by the frame of a value still unread', async () => {
    const manager = new CacheManager();
    const cache = manager.addCache<string>('c');
    const port = replicaPortOf(cache);
    const before = memory();
    for (let f = 0; f < 10; f++) {
      const { values, deferred } = frameOf(1000, 4096, f);
      for (let i = 0; i < 1000; i++) port.applyPut(`${f}/${i}`, deferred[i] as never, version(i), 0, 0, 0);
      values.settle();
      for (let i = 1; i < 1000; i++) cache.get(`${f}/${i}`); // all read but one
      for (let i = 1; i < 1000; i++) cache.put(`${f}/${i}`, 'new'); // then replaced
    }
    const after = memory();
    expect(cache.size).toBe(10_000);
    expect(after.heap - before.heap).toBeLessThan(5); // the cache's own, not 40 MB of strings
    expect(after.buffers - before.buffers).toBeLessThan(2); // ten 4 KiB values
    await manager.shutdown();
  });

  it("a removeAll of one cache lets go of a frame another cache holds a value of, as far as that value's bytes", async () => {
    const manager = new CacheManager();
    const [a, b] = [manager.addCache<string>('a'), manager.addCache<string>('b')];
    const before = memory();
    for (let f = 0; f < 10; f++) {
      const { values, deferred } = frameOf(1000, 4096, f);
      for (let i = 0; i < 1000; i++) {
        replicaPortOf(i === 0 ? b : a).applyPut(`${f}/${i}`, deferred[i] as never, version(i), 0, 0, 0);
      }
      values.settle();
      a.removeAll();
    }
    expect(b.size).toBe(10);
    expect(memory().buffers - before.buffers).toBeLessThan(2);
    expect(b.get('3/0')).toBe('d'.repeat(4096));
    await manager.shutdown();
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
      for (const [i, value] of values.entries()) onA?.put(`k${i}`, value); // one batch of 50
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

  it('batches that arrive before the link is handed its handler keep every value, in a cache bounded by bytes', async () => {
    const caches = { r: { maxBytesLocalHeap: '64m', replication: { replicateAsynchronously: true } } };
    const node = await startNode('victim', [], { caches });
    const peer = await linkedRawPeer(node.url, 'early');
    const value = (i: number) => `${i}:${'v'.repeat(100)}`;
    for (let f = 0; f < 50; f++) {
      peer.send({
        type: MessageType.Batch,
        changes: Array.from({ length: 20 }, (_, i) => put(`${f}/${i}`, value(i), 'r')),
      });
    }
    expect(await peer.settled(1, 30_000)).toBe(true);
    const cache = node.manager.getCache<string>('r');
    expect(cache?.statistics().evictions).toBe(0);
    for (let f = 0; f < 50; f++) for (let i = 0; i < 20; i++) expect(cache?.get(`${f}/${i}`)).toBe(value(i));
    peer.connection.close();
  });

  it('a frame is not kept for values sent to a cache this node does not replicate', async () => {
    const node = await startNode('victim', [], {
      caches: { r: { maxElementsInMemory: 0, replication: { replicateAsynchronously: true } } },
    });
    const peer = await linkedRawPeer(node.url, 'sparse');
    expect(await peer.settled(1, 30_000)).toBe(true);
    const before = memory();
    for (let f = 0; f < 40; f++) {
      const changes = [put(`k${f}`, 'v'.repeat(64), 'r')];
      for (let i = 0; i < 19; i++) changes.push(put(`big${f}/${i}`, 'w'.repeat(64 * 1024), 'not-here'));
      peer.send({ type: MessageType.Batch, changes });
    }
    expect(await peer.settled(2, 30_000)).toBe(true);
    const after = memory();
    expect(node.manager.getCache('r')?.size).toBe(40);
    // Forty frames of 1.2 MiB went by; what stays is forty values of 64 bytes (and their frames' bookkeeping).
    expect(after.buffers - before.buffers).toBeLessThan(4);
    expect(after.heap - before.heap).toBeLessThan(4);
    peer.connection.close();
  });

  it('a repair lists what it holds by version alone: no value is decoded for keys it does not send whole', async () => {
    let resolves = 0;
    const resolve = FrameValues.prototype.resolve;
    FrameValues.prototype.resolve = function (this: FrameValues, index: number) {
      resolves++;
      return resolve.call(this, index);
    };
    try {
      const caches = { r: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 10 } } };
      const b = await startNode('b', [], { caches });
      const peer = await linkedRawPeer(b.url, 'a');
      peer.send({
        type: MessageType.Batch,
        changes: Array.from({ length: 500 }, (_, i) => put(`${i}`, 'v'.repeat(200), 'r')),
      });
      expect(await peer.settled(1, 30_000)).toBe(true);
      expect(b.manager.getCache('r')?.size).toBe(500);
      const port = replicaPortOf(b.manager.getCache('r') as never);
      expect(port.knownVersion('7')).toBeDefined();
      // A third node joins B: B's digest and repair read versions; the joiner pulls nothing it has.
      const c = await startNode('c', [b.url], { caches });
      await until(() => c.manager.getCache('r')?.size === 500, 'c bootstrapped from b');
      expect(resolves).toBe(500); // each value once: those B sent c whole, none for knownVersion or digests
      peer.connection.close();
    } finally {
      FrameValues.prototype.resolve = resolve;
    }
  });
});
