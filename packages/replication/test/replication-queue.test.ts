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

/** Records `change` as the replicator does, the key held in memory slot `slot` (-1: none). */
function record(queue: ReplicationQueue, change: ChangeMessage, slot = -1): boolean {
  switch (change.type) {
    case MessageType.RemoveAll:
      return queue.removeAll(change.version);
    case MessageType.Put: {
      const { key, value, version, createdAt, timeToLiveSeconds: ttl, timeToIdleSeconds: tti } = change;
      return queue.add(MessageType.Put, key, value, version, createdAt, ttl, tti, slot);
    }
    default:
      return queue.add(change.type, change.key, undefined, change.version, 0, 0, 0, slot);
  }
}

/** Slots as a store would hand them out: one per key, for as long as the test holds it. */
function slots(): (key: string) => number {
  const held = new Map<string, number>();
  return (key) => {
    let slot = held.get(key);
    if (slot === undefined) {
      slot = held.size;
      held.set(key, slot);
    }
    return slot;
  };
}

/** The batches `queue` makes for a peer starting at `from`, all of them. */
const batchesOf = (queue: ReplicationQueue, from: number, max: number, maxBytes?: number) => [
  ...queue.batches(from, max, maxBytes),
];
const everything = (queue: ReplicationQueue, max = 10_000) => batchesOf(queue, 0, max).flat();

describe('ReplicationQueue', () => {
  it('coalesces by key: only the last change of a key is sent, found by the slot the key is held in', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    record(queue, put('c', 'a', 1, 1), 0);
    record(queue, put('c', 'b', 2, 2), 1);
    record(queue, put('c', 'a', 3, 3), 0);
    record(queue, remove('c', 'b', 4), 1);
    expect(queue.size).toBe(2);
    expect(everything(queue)).toEqual([put('c', 'a', 3, 3), remove('c', 'b', 4)]);
    expect(queue.bytes).toBe(estimateBytes(put('c', 'a', 3, 3)) + estimateBytes(remove('c', 'b', 4)));
    queue.clear();
    expect(queue.size).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(everything(queue)).toEqual([]);
  });

  it('appends the changes of a key held in no slot (a value too large for memory): each copy carries its version', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    record(queue, put('c', 'a', 1, 1), 0);
    record(queue, put('c', 'huge', 2, 2), -1);
    record(queue, put('c', 'huge', 3, 3), -1);
    expect(everything(queue)).toEqual([put('c', 'a', 1, 1), put('c', 'huge', 2, 2), put('c', 'huge', 3, 3)]);
    record(queue, remove('c', 'a', 4), 0);
    expect(everything(queue)[0]).toEqual(remove('c', 'a', 4));
    expect(queue.size).toBe(3);
  });

  it('a removeAll replaces every pending change and goes first', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    record(queue, put('c', 'a', 1), 0);
    record(queue, put('c', 'b', 1), 1);
    const clear: ChangeMessage = { type: MessageType.RemoveAll, cache: 'c', version: version(9) };
    record(queue, clear);
    record(queue, put('c', 'z', 1, 10), 0);
    expect(queue.size).toBe(2);
    expect(everything(queue)).toEqual([clear, put('c', 'z', 1, 10)]);
    expect(queue.bytes).toBe(estimateBytes(clear) + estimateBytes(put('c', 'z', 1, 10)));
  });

  it('makes batches of at most the maximum, anew on each call, leaving the log as it was', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    for (let i = 0; i < 25; i++) record(queue, put('c', `k${i}`, i), i);
    const batches = batchesOf(queue, 0, 10);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((c) => (c.type === MessageType.Put ? c.key : ''))).toEqual(
      Array.from({ length: 25 }, (_, i) => `k${i}`),
    );
    expect(batchesOf(queue, 0, 10)).toEqual(batches);
    expect(queue.size).toBe(25);
  });

  it('also ends a batch where its estimated bytes would pass the bound; a larger change goes alone', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    const sizes = [250, 250, 250, 2000, 100, 100]; // about 290 bytes a change with its key and version, 2040, 140
    sizes.forEach((size, i) => {
      record(queue, put('c', `k${i}`, 'x'.repeat(size)), i);
    });
    const batches = batchesOf(queue, 0, 1000, 1000);
    expect(batches.map((batch) => batch.map((c) => (c.type === MessageType.Put ? c.key : '')))).toEqual([
      ['k0', 'k1', 'k2'],
      ['k3'],
      ['k4', 'k5'],
    ]);
    for (const batch of batches.filter((b) => b.length > 1)) {
      expect(batch.reduce((sum, change) => sum + estimateBytes(change), 0)).toBeLessThanOrEqual(1000);
    }
  });

  it('overflows instead of growing: drops what it held, refuses more, until cleared', () => {
    const queue = new ReplicationQueue('c', 2000);
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (record(queue, put('c', `k${i}`, 'v'.repeat(100)), i)) accepted++;
    expect(accepted).toBeGreaterThan(5);
    expect(accepted).toBeLessThan(20);
    expect(queue.overflowed).toBe(true);
    expect(queue.size).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(record(queue, put('c', 'late', 1), 0)).toBe(false);
    expect(queue.removeAll(version(5))).toBe(false);
    queue.clear();
    expect(queue.overflowed).toBe(false);
    expect(record(queue, put('c', 'after', 1), 0)).toBe(true);
  });

  it("finds a key's record by the key once the key left its slot: released, or its slot taken by another key", () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    record(queue, put('c', 'a', 1, 1), 0);
    record(queue, put('c', 'b', 2, 2), 1);
    queue.release('a', 0); // evicted
    record(queue, put('c', 'a', 3, 3), 7); // back, elsewhere
    record(queue, put('c', 'c', 4, 4), 1); // 'b' left slot 1 unheard of: 'c' holds it
    record(queue, put('c', 'b', 5, 5), 0);
    record(queue, put('c', 'a', 6, 6), 7); // by its slot again
    expect(everything(queue)).toEqual([put('c', 'a', 6, 6), put('c', 'b', 5, 5), put('c', 'c', 4, 4)]);
    expect(queue.bytes).toBe(
      estimateBytes(put('c', 'a', 6, 6)) + estimateBytes(put('c', 'b', 5, 5)) + estimateBytes(put('c', 'c', 4, 4)),
    );
    queue.release('nobody', 3); // a key with nothing pending: nothing changes
    queue.release('c', 0); // slot 0 is 'b''s: nothing changes
    expect(queue.size).toBe(3);
  });

  it('ends its batches when the log restarts while one is out, reading nothing of another log', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    for (let i = 0; i < 5; i++) record(queue, put('c', `k${i}`, i, i + 1), i);
    const seen: ChangeMessage[][] = [];
    for (const batch of queue.batches(0, 2)) {
      seen.push(batch);
      if (seen.length === 1) {
        queue.removeAll(version(10));
        record(queue, put('c', 'new', 1, 11), 0);
      }
    }
    expect(seen).toEqual([[put('c', 'k0', 0, 1), put('c', 'k1', 1, 2)]]);
    expect(everything(queue)).toEqual([
      { type: MessageType.RemoveAll, cache: 'c', version: version(10) },
      put('c', 'new', 1, 11),
    ]);
  });

  it('gives back the room a burst needed, half at a time, once its logs use less than a quarter of it', () => {
    const queue = new ReplicationQueue('c', 1 << 30);
    for (let i = 0; i < 10_000; i++) record(queue, put('c', `k${i}`, i, i + 1), i);
    const burst = queue.capacity;
    expect(burst).toBeGreaterThanOrEqual(10_000);
    queue.clear();
    expect(queue.capacity).toBe(burst); // a quarter or more used: kept
    const sizes: number[] = [];
    for (let flush = 0; flush < 20; flush++) {
      for (let i = 0; i < 10; i++) record(queue, put('c', `s${i}`, i, i + 1), i);
      expect(everything(queue).map((change) => (change.type === MessageType.Put ? change.key : ''))).toEqual(
        Array.from({ length: 10 }, (_, i) => `s${i}`),
      );
      queue.clear();
      sizes.push(queue.capacity);
    }
    expect(sizes[0]).toBe(burst / 2);
    expect(sizes.at(-1)).toBe(64);
  });

  it('trim() gives back all the room at once, but only when nothing is pending', () => {
    const queue = new ReplicationQueue('c', 1 << 30);
    for (let i = 0; i < 10_000; i++) record(queue, put('c', `k${i}`, i, i + 1), i);
    const burst = queue.capacity;
    queue.trim();
    expect(queue.capacity).toBe(burst); // pending: kept
    queue.clear();
    queue.trim();
    expect(queue.capacity).toBe(64);
    record(queue, put('c', 'after', 1, 1), 0);
    expect(everything(queue)).toEqual([put('c', 'after', 1, 1)]);
  });

  it('a peer marked mid-interval is sent what follows its mark, and no record below a mark is rewritten', () => {
    const queue = new ReplicationQueue('c', 1 << 20);
    record(queue, put('c', 'a', 1, 1), 0);
    record(queue, put('c', 'b', 2, 2), 1);
    const mark = queue.mark();
    const from = queue.fromOf(mark);
    expect(from).toBe(2);
    // 'a' changes again: the newer change must reach the marked peer too, so it is appended
    record(queue, put('c', 'a', 3, 3), 0);
    record(queue, put('c', 'a', 4, 4), 0); // and that one is its own to rewrite
    expect(everything(queue)).toEqual([put('c', 'a', 1, 1), put('c', 'b', 2, 2), put('c', 'a', 4, 4)]);
    expect(batchesOf(queue, from, 100).flat()).toEqual([put('c', 'a', 4, 4)]);
    expect(queue.sizeFrom(from)).toBe(1);
    expect(queue.bytesFrom(from)).toBe(estimateBytes(put('c', 'a', 4, 4)));
    // a removeAll is every peer's, marked or not
    const clear: ChangeMessage = { type: MessageType.RemoveAll, cache: 'c', version: version(9) };
    record(queue, put('c', 'x', 1, 8), 2);
    record(queue, clear);
    expect(batchesOf(queue, queue.fromOf(mark), 100).flat()).toEqual([clear]);
    // after the flush's clear(), every mark starts at the beginning
    queue.clear();
    record(queue, put('c', 'y', 1, 10), 3);
    expect(queue.fromOf(mark)).toBe(0);
    expect(batchesOf(queue, queue.fromOf(mark), 100).flat()).toEqual([put('c', 'y', 1, 10)]);
  });

  it('keeps order, count and bytes exact when one key is rewritten many times between flushes', () => {
    const queue = new ReplicationQueue('c', 1 << 30);
    const slotOf = slots();
    // a key's last change, in the order of its first change since the flush
    const last = new Map<string, ChangeMessage>();
    for (let i = 0; i < 5000; i++) {
      const change =
        i % 7 === 3 ? remove('c', `k${i % 50}`, i) : put('c', i % 3 === 0 ? 'hot' : `k${i % 50}`, `v${i}`, i);
      const key = change.type === MessageType.RemoveAll ? '' : change.key;
      last.set(key, change);
      record(queue, change, slotOf(key));
    }
    expect(queue.size).toBe(last.size);
    expect(queue.bytes).toBe([...last.values()].reduce((sum, change) => sum + estimateBytes(change), 0));
    expect(everything(queue)).toEqual([...last.values()]);
    const clear: ChangeMessage = { type: MessageType.RemoveAll, cache: 'c', version: version(6000) };
    record(queue, put('c', 'k1', 'before the clear', 5001), slotOf('k1'));
    record(queue, clear);
    record(queue, put('c', 'after', 1, 6001), slotOf('after'));
    expect(queue.size).toBe(2);
    expect(queue.bytes).toBe(estimateBytes(clear) + estimateBytes(put('c', 'after', 1, 6001)));
    expect(everything(queue)).toEqual([clear, put('c', 'after', 1, 6001)]);
    queue.clear();
    for (const [key, change] of last) record(queue, change, slotOf(key));
    expect(everything(queue)).toEqual([...last.values()]);
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
