import { describe, expect, it } from 'vitest';
import { type ChangeMessage, MessageType } from '../src/internals.js';
import { estimateBytes, ReplicationQueue } from '../src/replication-queue.js';

const version = (time: number) => ({ time, counter: 0, node: 'a' });
const put = (cache: string, key: string, value: unknown, time = 1): ChangeMessage => ({
  type: MessageType.Put,
  cache,
  key,
  value,
  version: version(time),
  createdAt: time,
  timeToLiveSeconds: 0,
  timeToIdleSeconds: 0,
});
const remove = (cache: string, key: string, time = 1): ChangeMessage => ({
  type: MessageType.Remove,
  cache,
  key,
  version: version(time),
});

describe('ReplicationQueue', () => {
  it('coalesces by cache and key: only the last change of a key is sent', () => {
    const queue = new ReplicationQueue(1 << 20);
    queue.enqueue(put('c', 'a', 1, 1));
    queue.enqueue(put('c', 'b', 2, 2));
    queue.enqueue(put('c', 'a', 3, 3));
    queue.enqueue(remove('c', 'b', 4));
    queue.enqueue(put('other', 'a', 5, 5));
    expect(queue.size).toBe(3);
    expect(queue.drainAll(100).flat()).toEqual([put('c', 'a', 3, 3), remove('c', 'b', 4), put('other', 'a', 5, 5)]);
    expect(queue.size).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  it('a removeAll replaces every pending change of its cache, and only of its cache', () => {
    const queue = new ReplicationQueue(1 << 20);
    queue.enqueue(put('c', 'a', 1));
    queue.enqueue(put('d', 'a', 1));
    const clear: ChangeMessage = { type: MessageType.RemoveAll, cache: 'c', version: version(9) };
    queue.enqueue(clear);
    queue.enqueue(put('c', 'z', 1, 10));
    // every removeAll goes first: it is older than whatever its cache queued after it
    expect(queue.drainAll(100).flat()).toEqual([clear, put('c', 'z', 1, 10), put('d', 'a', 1)]);
  });

  it('drains everything at once into batches of at most the maximum', () => {
    const queue = new ReplicationQueue(1 << 20);
    for (let i = 0; i < 25; i++) queue.enqueue(put('c', `k${i}`, i));
    const batches = queue.drainAll(10);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((c) => (c.type === MessageType.Put ? c.key : ''))).toEqual(
      Array.from({ length: 25 }, (_, i) => `k${i}`),
    );
    expect(queue.size).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  it('also ends a batch where its estimated bytes would pass the bound; a larger change goes alone', () => {
    const queue = new ReplicationQueue(1 << 20);
    const sizes = [250, 250, 250, 2000, 100, 100]; // about 290 bytes a change with its key and version, 2040, 140
    sizes.forEach((size, i) => {
      queue.enqueue(put('c', `k${i}`, 'x'.repeat(size)));
    });
    const batches = queue.drainAll(1000, 1000);
    expect(batches.map((batch) => batch.map((c) => (c.type === MessageType.Put ? c.key : '')))).toEqual([
      ['k0', 'k1', 'k2'],
      ['k3'],
      ['k4', 'k5'],
    ]);
    for (const batch of batches.filter((b) => b.length > 1)) {
      expect(batch.reduce((sum, change) => sum + estimateBytes(change), 0)).toBeLessThanOrEqual(1000);
    }
  });

  it('keeps its byte count exact as changes come and go', () => {
    const queue = new ReplicationQueue(1 << 20);
    const a = put('c', 'a', 'x'.repeat(100));
    const b = put('c', 'b', 'y'.repeat(50));
    queue.enqueue(a);
    queue.enqueue(b);
    expect(queue.bytes).toBe(estimateBytes(a) + estimateBytes(b));
    queue.enqueue(put('c', 'a', 'z'));
    expect(queue.bytes).toBe(estimateBytes(put('c', 'a', 'z')) + estimateBytes(b));
    queue.drainAll(1);
    expect(queue.bytes).toBe(0);
  });

  it('overflows instead of growing: drops what it held, refuses more, until reset', () => {
    const queue = new ReplicationQueue(2000);
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (queue.enqueue(put('c', `k${i}`, 'v'.repeat(100)))) accepted++;
    expect(accepted).toBeGreaterThan(5);
    expect(accepted).toBeLessThan(20);
    expect(queue.overflowed).toBe(true);
    expect(queue.size).toBe(0);
    expect(queue.enqueue(put('c', 'late', 1))).toBe(false);
    queue.reset();
    expect(queue.overflowed).toBe(false);
    expect(queue.enqueue(put('c', 'after', 1))).toBe(true);
  });

  it('keeps order, count and bytes exact when one key is rewritten many times between drains', () => {
    const queue = new ReplicationQueue(1 << 30);
    const last = new Map<string, ChangeMessage>();
    for (let i = 0; i < 5000; i++) {
      const change =
        i % 7 === 3 ? remove('c', `k${i % 50}`, i) : put('c', i % 3 === 0 ? 'hot' : `k${i % 50}`, `v${i}`, i);
      const key = change.type === MessageType.RemoveAll ? '' : change.key;
      last.delete(key);
      last.set(key, change);
      queue.enqueue(change);
    }
    expect(queue.size).toBe(last.size);
    expect(queue.bytes).toBe([...last.values()].reduce((sum, change) => sum + estimateBytes(change), 0));
    const clear: ChangeMessage = { type: MessageType.RemoveAll, cache: 'c', version: version(6000) };
    queue.enqueue(put('c', 'k1', 'before the clear', 5001));
    queue.enqueue(clear);
    queue.enqueue(put('c', 'after', 1, 6001));
    expect(queue.size).toBe(2);
    expect(queue.bytes).toBe(estimateBytes(clear) + estimateBytes(put('c', 'after', 1, 6001)));
    expect(queue.drainAll(100).flat()).toEqual([clear, put('c', 'after', 1, 6001)]);
    for (const change of last.values()) queue.enqueue(change);
    expect(queue.drainAll(10_000).flat()).toEqual([...last.values()]);
  });

  it('estimates strings and bytes exactly enough to bound memory', () => {
    const small = estimateBytes(put('c', 'k', 'x'));
    const big = estimateBytes(put('c', 'k', Buffer.alloc(10_000)));
    expect(big - small).toBeGreaterThanOrEqual(9_990);
    expect(estimateBytes(put('c', 'k', { a: new Map([['b', [1, 2, new Set(['c'])]]]) }))).toBeGreaterThan(small);
  });

  it('estimates containers as it always has (pinned: the walk was rewritten without entry arrays)', () => {
    const object = {
      status: 200,
      headers: { etag: 'W/"abc"' },
      body: 'x'.repeat(150),
      tags: ['a', undefined, 'b'],
      at: new Date(0),
    };
    // 32 + 'c' + 'a' + 'k', then the value: 5 + (6+1+9) + (7+1+5+(4+1+12)) + (4+1+155) + (4+1+5+6+9+6) + (2+1+5)
    expect(estimateBytes(put('c', 'k', object))).toBe(35 + 250);
    const nested = new Map<unknown, unknown>([
      ['a', new Set([1, { x: [1, 2] }])],
      [2, Buffer.alloc(10)],
    ]);
    // 5 + 'a' 6 + the Set (5 + 9 + (5 + 1 + 1 + (5 + 9 + 9))) + 2 9 + the Buffer 15
    expect(estimateBytes(put('c', 'k', nested))).toBe(35 + 79);
  });
});
