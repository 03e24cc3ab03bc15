/**
 * A repair's entries are gathered as columns and each chunk's frame is written from them
 * (repair/entry-chunks.ts, codec.ts's entriesOfLog): the frames must be the very bytes that
 * writing the same changes as objects makes, chunked by the same bounds, and the message's changes,
 * when read, the changes added.
 */
import type { EntrySnapshot, Version } from '@meshcache/core';
import { SnapshotCursor } from '@meshcache/core/internal';
import { describe, expect, it } from 'vitest';
import { type ChangeMessage, type EntriesMessage, MessageType } from '../src/internals.js';
import { ChangeWriter } from '../src/protocol/change-writer.js';
import { WireCodec } from '../src/protocol/codec.js';
import { EntryChunks } from '../src/repair/entry-chunks.js';
import { estimateBytes } from '../src/replication-queue.js';

const cache = 'Response Cache';
const version = (i: number): Version => ({ time: 1_700_000_000_000 + i, counter: i % 70_000, node: `node-${i % 3}` });

function entry(i: number, value: unknown): EntrySnapshot<unknown> {
  return {
    key: `key:${i}`,
    value,
    createdAt: 1_700_000_000_123 + i,
    lastAccessedAt: 1_700_000_000_123 + i,
    timeToLiveSeconds: i % 3 === 0 ? 0.25 : 300,
    timeToIdleSeconds: i % 4,
    expiresAt: Number.POSITIVE_INFINITY,
    version: version(i),
  };
}

/** The Put of `e` as an object: what the repair sent before it gathered columns. */
const putOf = (e: EntrySnapshot<unknown>): ChangeMessage => ({
  type: MessageType.Put,
  cache,
  key: e.key,
  value: e.value,
  version: e.version as Version,
  createdAt: e.createdAt,
  timeToLiveSeconds: e.timeToLiveSeconds,
  timeToIdleSeconds: e.timeToIdleSeconds,
});

const strings = (count: number) =>
  Array.from({ length: count }, (_, i) => entry(i, `value ${'x'.repeat(i % 300)} ${i}`));

/** What gathering `added` (a removeAll of `clear` first) would send in chunks of `maxBytes` and `maxCount`, as objects. */
function expectedChunks(added: ChangeMessage[], maxBytes: number, maxCount: number): ChangeMessage[][] {
  const chunks: ChangeMessage[][] = [];
  let chunk: ChangeMessage[] = [];
  let bytes = 0;
  for (const change of added) {
    const size = estimateBytes(change);
    if (chunk.length > 0 && (bytes + size > maxBytes || chunk.length >= maxCount)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(change);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

describe('a repair’s entries, gathered as columns', () => {
  it.each([
    ['by bytes', 10_000, 100_000],
    ['by count', 1 << 20, 7],
  ])(
    'are sent in the chunks the same changes as objects made (%s), each frame their very bytes, each message their changes',
    (_, maxBytes, maxCount) => {
      const sent: EntriesMessage[] = [];
      const frames: Buffer[] = [];
      const codec = new WireCodec();
      const chunks = new EntryChunks(cache, maxBytes, maxCount, (message) => {
        sent.push(message);
        frames.push(Buffer.from(codec.encode(message))); // as a session encodes it, when sent
      });
      const clear = version(999_999);
      chunks.clearFirst(clear);
      const snapshots = strings(500);
      const cursor = new SnapshotCursor(
        snapshots.map((e) => e.key),
        (key) => snapshots.find((e) => e.key === key),
      );
      const added: ChangeMessage[] = [{ type: MessageType.RemoveAll, cache, version: clear }];
      let reportedSends = 0;
      for (let i = 0; cursor.next(); i++) {
        const e = snapshots[i] as EntrySnapshot<unknown>;
        if (i % 5 === 4) {
          if (chunks.remove(e.key, e.version as Version)) reportedSends++;
          added.push({ type: MessageType.Remove, cache, key: e.key, version: e.version as Version });
        } else if (i % 5 === 3) {
          if (chunks.putEntry(e, e.version as Version)) reportedSends++;
          added.push(putOf(e));
        } else {
          if (chunks.put(cursor)) reportedSends++;
          added.push(putOf(e));
        }
      }
      expect(reportedSends).toBe(sent.length); // each add that sent the full chunk said so
      chunks.end();
      const expected = expectedChunks(added, maxBytes, maxCount);
      expect(sent.length).toBe(expected.length);
      expect(sent.length).toBeGreaterThan(5);
      expected.forEach((changes, i) => {
        expect(frames[i]).toEqual(Buffer.from(new ChangeWriter().write(MessageType.Entries, changes)));
        expect(sent[i]?.changes).toEqual(changes);
        expect(new WireCodec({ readChanges: false }).decode(frames[i] as Buffer)).toEqual({
          type: MessageType.Entries,
          changes,
        });
      });
    },
  );

  it('writes each chunk a session seals at once into the one transient buffer of the process, the bytes encode() writes (a chunk took a buffer of its own each)', () => {
    const sent: EntriesMessage[] = [];
    // Chunks of about 600 KB: each past half a kept chunk, so written alone when not transient.
    const chunks = new EntryChunks(cache, 600_000, 100_000, (message) => sent.push(message));
    const snapshots = Array.from({ length: 6_000 }, (_, i) => entry(i, `value ${i} `.padEnd(300, 'v')));
    for (const e of snapshots) chunks.putEntry(e, e.version as Version);
    chunks.end();
    expect(sent.length).toBeGreaterThanOrEqual(3);
    const codec = new WireCodec();
    const transient = sent.map((message) => {
      const frame = codec.encodeTransient(message);
      return { buffer: frame.buffer, bytes: Buffer.from(frame) };
    });
    expect(transient.every(({ buffer }) => buffer === transient[0]?.buffer)).toBe(true);
    sent.forEach((message, i) => {
      const own = new WireCodec().encode(message);
      expect(own.buffer === transient[0]?.buffer).toBe(false);
      expect(transient[i]?.bytes.equals(own)).toBe(true);
      expect(new WireCodec({ readChanges: false }).decode(own)).toEqual({
        type: MessageType.Entries,
        changes: message.changes,
      });
    });
    expect(sent.flatMap((message) => message.changes)).toEqual(snapshots.map(putOf));
  });

  it('packs a chunk holding values ChangeWriter leaves to msgpackr whole, and it decodes to the same changes', () => {
    const sent: EntriesMessage[] = [];
    const chunks = new EntryChunks(cache, 1 << 20, 100_000, (message) => sent.push(message));
    const values = [{ status: 200, headers: { a: 'b' } }, new Map([['k', 1]]), 'text', [1, 2, 3], new Date(5)];
    const snapshots = values.map((value, i) => entry(i, value));
    for (const e of snapshots) chunks.putEntry(e, e.version as Version);
    chunks.end();
    expect(sent).toHaveLength(1);
    const codec = new WireCodec();
    expect(new WireCodec().decode(codec.encode(sent[0] as EntriesMessage))).toEqual({
      type: MessageType.Entries,
      changes: snapshots.map(putOf),
    });
  });

  it('reads every field of the entry a cursor is at before it sends the chunk that entry does not fit (a send may let the cache change)', () => {
    const snapshots = strings(200);
    let sentSinceStep = false;
    const inner = new SnapshotCursor(
      snapshots.map((e) => e.key),
      (key) => snapshots.find((e) => e.key === key),
    );
    // A cursor whose fields may not be read once a chunk was sent after its step.
    const guarded = new Proxy(inner, {
      get(target, property) {
        if (property === 'next') {
          return () => {
            sentSinceStep = false;
            return target.next();
          };
        }
        if (sentSinceStep) throw new Error(`read ${String(property)} after a send`);
        const field = Reflect.get(target, property, target) as unknown;
        return typeof field === 'function' ? field.bind(target) : field;
      },
    });
    const sent: EntriesMessage[] = [];
    const chunks = new EntryChunks(cache, 2_000, 100_000, (message) => {
      sent.push(message);
      sentSinceStep = true;
    });
    while (guarded.next()) chunks.put(guarded);
    chunks.end();
    expect(sent.length).toBeGreaterThan(5);
    expect(sent.flatMap((message) => message.changes)).toEqual(snapshots.map(putOf));
  });

  it('sends nothing when nothing was added, and a lone removeAll when only that was', () => {
    const sent: EntriesMessage[] = [];
    const nothing = new EntryChunks(cache, 1 << 20, 100_000, (message) => sent.push(message));
    nothing.end();
    expect(sent).toEqual([]);
    const clear = version(3);
    const onlyClear = new EntryChunks(cache, 1 << 20, 100_000, (message) => sent.push(message));
    onlyClear.clearFirst(clear);
    onlyClear.end();
    expect(sent.map((message) => message.changes)).toEqual([[{ type: MessageType.RemoveAll, cache, version: clear }]]);
  });
});
