/**
 * A flush writes each batch straight from the replication queue's log (ChangeWriter.writeLog,
 * codec.ts's batchOfLog), with no change object made: the frames must be the very bytes that
 * writing the same changes as objects makes, which every release reads.
 */
import { describe, expect, it } from 'vitest';
import { MessageType } from '../src/internals.js';
import type { KeyChangeType } from '../src/protocol/change-log.js';
import { ChangeWriter } from '../src/protocol/change-writer.js';
import { batchOfLog } from '../src/protocol/codec.js';
import { ReplicationQueue } from '../src/replication-queue.js';

const node = 'node-a';
let counter = 0;
const version = (time = 1_700_000_000_000 + counter) => ({ time, counter: counter++, node });

const values: unknown[] = [
  '',
  'value',
  'é',
  '中文キー',
  '😀',
  'x'.repeat(300),
  'x'.repeat(70_000),
  'lone \ud800 surrogate',
  0,
  63,
  64,
  2 ** 32,
  -40_000,
  0.5,
  Number.NaN,
  null,
  true,
  false,
  Buffer.from('bytes'),
  Buffer.alloc(300, 1),
];

function filledQueue(withRemoveAll: boolean): ReplicationQueue {
  const queue = new ReplicationQueue('Response Cache', 1 << 30);
  if (withRemoveAll) queue.removeAll(version());
  values.forEach((value, i) => {
    queue.add(
      MessageType.Put,
      `key:${i}`,
      value,
      version(),
      1_700_000_000_123 + i,
      i % 3 === 0 ? 0.25 : 300,
      i % 4,
      -1,
    );
  });
  const others: KeyChangeType[] = [MessageType.Remove, MessageType.Expire];
  others.forEach((type, i) => {
    queue.add(type, `gone:${i}`, undefined, version(2 ** 53 - 1 - i), 0, 0, 0, -1);
  });
  return queue;
}

describe('a batch written from the replication queue', () => {
  it.each([true, false])(
    'is the bytes of the same changes written as objects, batch after batch (a removeAll first: %s)',
    (withRemoveAll) => {
      const queue = filledQueue(withRemoveAll);
      const fromLog = new ChangeWriter();
      const fromObjects = new ChangeWriter();
      let batches = 0;
      for (const range of queue.ranges(0, 7, 40_000)) {
        const changes = queue.changesOf(range);
        const bytes = ChangeWriter.bytesForLog(queue.log, range.from, range.to, range.clear);
        expect(bytes).toBe(ChangeWriter.bytesFor(changes));
        const frame = fromLog.writeLog(MessageType.Batch, queue.log, range.from, range.to, range.clear, bytes);
        expect(Buffer.from(frame)).toEqual(Buffer.from(fromObjects.write(MessageType.Batch, changes)));
        batches++;
      }
      // The same batches as before: at most 7 changes, and about 40,000 bytes (a larger change alone).
      expect(batches).toBe([...queue.batches(0, 7, 40_000)].length);
    },
  );

  it('makes its changes only when read, while the log holds them; read later, they throw rather than be wrong', () => {
    const queue = filledQueue(true);
    const [range] = [...queue.ranges(0, 1000)];
    if (range === undefined) throw new Error('no batch');
    const epoch = queue.epoch;
    let made = 0;
    const batch = batchOfLog(
      queue.log,
      range.from,
      range.to,
      range.clear,
      () => {
        made++;
        return queue.changesOf(range);
      },
      () => queue.epoch === epoch,
    );
    expect(batch.count).toBe(values.length + 3);
    expect(made).toBe(0);
    expect(batch.changes).toHaveLength(values.length + 3);
    expect(batch.changes).toBe(batch.changes); // made once
    expect(made).toBe(1);
    const later = queue.batchOf(range);
    queue.clear();
    expect(() => later.changes).toThrow('a batch of a replication queue read after its log moved on');
  });

  it('is made of change objects at once when a value is one ChangeWriter leaves to msgpackr', () => {
    const queue = new ReplicationQueue('c', 1 << 30);
    queue.add(MessageType.Put, 'k', { status: 200 }, version(), 0, 0, 0, -1);
    const [range] = [...queue.ranges(0, 1000)];
    if (range === undefined) throw new Error('no batch');
    expect(ChangeWriter.bytesForLog(queue.log, range.from, range.to, range.clear)).toBe(-1);
    const batch = queue.batchOf(range);
    queue.clear();
    expect(batch.changes).toEqual([expect.objectContaining({ key: 'k', value: { status: 200 } })]);
  });
});
