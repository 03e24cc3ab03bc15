/**
 * The stream reader alone, against a real redis-server: what it hands on when the changes key is
 * deleted and written anew under it. Ids are written explicitly, so the test says where the new
 * stream's entries fall against the node's position.
 */
import { describe, expect, it } from 'vitest';
import { probeStream } from '../src/backplane/stream-probe.js';
import { until } from './nodes.js';
import { streamReaderFixture } from './stream-reader-fixture.js';

const KEYS = { changes: 't:changes', generation: 't:generation', inbox: 't:inbox' };

const { client, readerOf, passedOverATrim } = streamReaderFixture(KEYS, () => 'g');

describe('a changes key deleted and written anew under a node reading along', () => {
  it('the new stream read again from its start hands on what the node had not read of it', async () => {
    const writer = client();
    await writer.flushall();
    for (let i = 1; i <= 3; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `old:${i}`);
    const readerClient = client();
    const { reader, handed } = readerOf(readerClient);
    reader.start();
    await until(() => reader.lastId === '100-3', 'the first position');
    for (let i = 4; i <= 6; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `old:${i}`);
    await until(() => handed.length === 3, 'reading along');
    // Deleted and written anew: the new stream's first entries come before the node's position
    // (Redis's clock stepped back, or the key was made in the same millisecond: one has the id of
    // an entry the node read of the old stream), its last after.
    await writer.del(KEYS.changes);
    await writer.xadd(KEYS.changes, '50-1', 'm', 'new:before');
    await writer.xadd(KEYS.changes, '100-5', 'm', 'new:same-id');
    await writer.xadd(KEYS.changes, '200-1', 'm', 'new:after');
    await until(() => handed.includes('new:after'), 'reading into the new stream');
    // A heartbeat's probe finds the counter (3) behind the position (8): read again from its start,
    // it hands on what it had not read of it (before, skipped by id: lost), and 'new:after' once.
    reader.noteProbe(await probeStream(writer, KEYS, 'g', reader.at));
    await until(() => reader.gaps === 1, 'the reader probes again, on its own connection');
    await writer.xadd(KEYS.changes, '300-1', 'm', 'new:later');
    await until(() => handed.includes('new:later'), 'reading on');
    expect(handed).toEqual(['old:4', 'old:5', 'old:6', 'new:after', 'new:before', 'new:same-id', 'new:later']);
    expect(reader.gaps).toBe(1);
    expect(reader.lastId).toBe('300-1');
  });
});

describe('a stream trimmed past a node while it was away', () => {
  it('is a gap, and what the trim left is read, not skipped', async () => {
    // What the trim left after the node's position holds the changes written last: a node cut off
    // from Redis writes its queued changes there as it comes back. Skipped to the stream's end,
    // they reached the others only through repair, and a repair from a member that had skipped them
    // too brought nothing (anti-entropy off: for good).
    const writer = client();
    await writer.flushall();
    for (let i = 1; i <= 3; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    const readerClient = client();
    const { reader, handed, gaps } = readerOf(readerClient);
    reader.start();
    await until(() => reader.lastId === '100-3', 'the first position');
    await writer.xadd(KEYS.changes, '100-4', 'm', 'e:4');
    await until(() => handed.length === 1, 'reading along');
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let i = 5; i <= 9; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    await writer.xtrim(KEYS.changes, 'MAXLEN', 2); // 5, 6 and 7 gone unread
    await readerClient.connect();
    await until(() => handed.includes('e:9'), 'what the trim left read');
    await writer.xadd(KEYS.changes, '100-10', 'm', 'e:10');
    await until(() => handed.includes('e:10'), 'reading on');
    expect(handed).toEqual(['e:4', 'e:8', 'e:9', 'e:10']);
    expect(gaps).toEqual(['entries this node had not read were trimmed']);
    // Its position counts the trimmed entries: no gap found again at the next probe, and no lag.
    reader.noteProbe(await probeStream(writer, KEYS, 'g', reader.at));
    await writer.xadd(KEYS.changes, '100-11', 'm', 'e:11');
    await until(() => handed.includes('e:11'), 'reading on after a probe');
    expect(reader.gaps).toBe(1);
    expect(reader.lag).toBe(0);
  });
});

describe('entries trimmed between two reads of a node reading along', () => {
  it('are found, and what the stream holds after the node is read, not skipped', async () => {
    // The CI failure of 2026-12-03 (backplane-faults, seed 1906264256): b passed over entries
    // trimmed between two of its reads, and the stream, holding entries b read since, never looked
    // short enough to tell. Cut off and back, b found the count short with the stream still holding
    // its last entry, and jumped to the end over the changes a cut-off node had just written.
    const { writer, readerClient, reader, handed, gaps } = await passedOverATrim(4, 5, 1);
    expect(gaps).toEqual([]);
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    // Written while it was away (a node cut off from Redis, writing what it queued).
    await writer.xadd(KEYS.changes, '100-12', 'm', 'e:12');
    await writer.xadd(KEYS.changes, '100-13', 'm', 'e:13');
    await readerClient.connect();
    await until(() => handed.includes('e:13'), 'what was written while it was away read');
    expect(handed).toEqual(['e:5', 'e:11', 'e:12', 'e:13']);
    expect(gaps).toEqual(['entries this node had not read were trimmed']);
    // Read to the end, its position is the counter again: no gap found again, no lag.
    reader.noteProbe(await probeStream(writer, KEYS, 'g', reader.at));
    await writer.xadd(KEYS.changes, '100-14', 'm', 'e:14');
    await until(() => handed.includes('e:14'), 'reading on');
    reader.noteProbe(await probeStream(writer, KEYS, 'g', reader.at));
    await writer.xadd(KEYS.changes, '100-15', 'm', 'e:15');
    await until(() => handed.includes('e:15'), 'reading on after a probe');
    expect(reader.gaps).toBe(1);
    expect(reader.lag).toBe(0);
  });

  it('are found by the first probe after the node has read to the end', async () => {
    const { writer, reader, handed, gaps } = await passedOverATrim(1, 1, 3); // 3 gone unread
    // The stream holds 3 entries, more than the 1 the node lacks: only the end tells.
    reader.noteProbe(await probeStream(writer, KEYS, 'g', reader.at));
    await until(() => gaps.length === 1, 'the gap found');
    await writer.xadd(KEYS.changes, '100-7', 'm', 'e:7');
    await until(() => handed.includes('e:7'), 'reading on');
    expect(handed).toEqual(['e:2', 'e:4', 'e:5', 'e:6', 'e:7']);
    expect(gaps).toEqual(['entries this node had not read were trimmed']);
    expect(reader.lag).toBe(0);
  });
});

describe('entries deleted (XDEL) after the one a node read last, while it was away', () => {
  it('are a gap, once, and what the stream holds after them is read, not skipped', async () => {
    const writer = client();
    await writer.flushall();
    for (let i = 1; i <= 4; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    const readerClient = client();
    const { reader, handed, gaps } = readerOf(readerClient);
    reader.start();
    await until(() => reader.lastId === '100-4', 'the first position');
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let i = 5; i <= 8; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    await writer.xdel(KEYS.changes, '100-6'); // a Redis user's XDEL: max-deleted-entry-id 100-6
    await readerClient.connect();
    await until(() => handed.includes('e:8'), 'what follows read');
    expect(handed).toEqual(['e:5', 'e:7', 'e:8']);
    expect(gaps).toEqual(['entries this node had not read were deleted']);
    // The deletion's id stays ahead of where the node stood: not a gap again, nor, once the node
    // has read to the end, a count short by the entry deleted.
    for (let probe = 0; probe < 2; probe++) {
      reader.noteProbe(await probeStream(writer, KEYS, 'g', reader.at));
      await writer.xadd(KEYS.changes, `100-${9 + probe}`, 'm', `e:${9 + probe}`);
      await until(() => handed.includes(`e:${9 + probe}`), 'reading on after a probe');
    }
    expect(gaps).toHaveLength(1);
    expect(reader.lag).toBe(0);
  });
});
