/**
 * The stream reader's gap rule against a real redis-server, from outside: writers trimming as
 * stream-writer.ts does (XADD MAXLEN ~, XTRIM MINID ~) while the reader lags and catches up, with
 * heartbeat probes taken on another connection and judged late. A gap costs a full repair, so one
 * reported where nothing unread was lost is as much a defect as a loss never reported.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { compareStreamIds } from '../src/backplane/keys.js';
import { type Probe, probeStream } from '../src/backplane/stream-probe.js';
import type { StreamReader } from '../src/backplane/stream-reader.js';
import { until } from './nodes.js';
import { generator } from './simulation/schedule.js';
import { gated, streamReaderFixture } from './stream-reader-fixture.js';

const KEYS = { changes: 'a:changes', generation: 'a:generation', inbox: 'a:inbox' };

const { client, readerOf, readingFrom, passedOverATrim } = streamReaderFixture(KEYS, () =>
  randomBytes(6).toString('hex'),
);

/** A seeded generator of whole numbers below `below`, so a failing schedule can be replayed. */
function random(seed: number): (below: number) => number {
  const next = generator(seed);
  return (below) => Math.floor(next() * below);
}

/** A heartbeat's probe, on another connection than the reader's. */
function heartbeat(writer: Redis, reader: StreamReader): Promise<Probe> {
  return probeStream(writer, KEYS, randomBytes(6).toString('hex'), reader.at);
}

/**
 * Makes the reader judge a fresh heartbeat probe and waits until any reposition it asked for is
 * done: two entries written one after the other, the second read by an XREAD issued after the
 * first was handed on, so after the reposition the probe asked for (it comes before the next read).
 */
async function settle(writer: Redis, reader: StreamReader, handed: string[], added: string[], name: string) {
  reader.noteProbe(await heartbeat(writer, reader));
  for (const mark of [`${name}:a`, `${name}:b`]) {
    await writer.xadd(KEYS.changes, '*', 'm', mark);
    added.push(mark);
    await until(() => handed.includes(mark), `${mark} read`);
  }
}

/**
 * Rounds of a reader held while writers add and trim (and, with `deletes`, a Redis user XDELs
 * entries read and not), heartbeats probe, some taken in at once (also while a read's reply is
 * held: answered before the probe, taken in after), some later; then it reads to the end. Each
 * round must report a gap exactly when entries it had not read were lost, and hand on every entry
 * it read once, in order.
 */
async function lagAndCatchUp(seed: number, deletes: boolean, more = false) {
  const next = random(seed);
  const writer = client();
  await writer.flushall();
  // Small nodes: approximate trims come often, and end anywhere against the reader's position.
  await writer.config('SET', 'stream-node-max-entries', String(3 + next(12)));
  const maxLength = 20 + next(60);
  const added: string[] = [];
  const ids: string[] = [];
  let n = 0;
  const write = async () => {
    const value = `e:${n++}`;
    ids.push((await writer.xadd(KEYS.changes, 'MAXLEN', '~', maxLength, '*', 'm', value)) as string);
    added.push(value);
  };
  for (let i = 0; i < 30; i++) await write();
  const readerClient = client();
  const xread = gated(readerClient);
  const { reader, handed, gaps } = readerOf(readerClient);
  reader.start();
  await until(() => reader.lastId === ids.at(-1), 'the first position');
  const startedAt = added.length;
  let reordered = false;
  for (let round = 0; round < 12; round++) {
    const handedBefore = handed.length;
    const gapsBefore = gaps.length;
    const addedBefore = added.length;
    xread.hold();
    const stale: Probe[] = [];
    const writes = 1 + next(3 * maxLength);
    for (let i = 0; i < writes; i++) {
      await write();
      const what = next(deletes ? 50 : 40);
      // Trimming by age, as the writer does every few seconds: an id the stream had.
      if (what === 0) await writer.xtrim(KEYS.changes, 'MINID', '~', ids[ids.length - 1 - next(maxLength)] ?? '0');
      // A heartbeat probe, judged later, after the reader has read on.
      if (what === 1) stale.push(await heartbeat(writer, reader));
      if (what === 2) {
        xread.letGo();
        await until(() => handed.length > handedBefore || reader.lastId === ids.at(-1), 'some read');
        xread.hold();
      }
      if (deletes && what >= 40 && what < 45) {
        // A Redis user's XDEL, of entries read or not, one or a few at once.
        const from = Math.max(0, ids.length - 1 - next(maxLength));
        await writer.xdel(KEYS.changes, ...ids.slice(from, from + 1 + next(3)));
      }
      if (deletes && what === 45) {
        // A read let go whose reply is held: taken in after probes that come meanwhile.
        const replied = xread.replied;
        xread.letGo();
        xread.holdReply();
        await until(() => xread.replied > replied || reader.lastId === ids.at(-1), 'a reply held');
        xread.hold();
        // Trimmed after Redis answered the read, perhaps past what it brought, and probed.
        await writer.xtrim(KEYS.changes, 'MINID', '~', ids[ids.length - 1 - next(maxLength)] ?? '0');
        reader.noteProbe(await heartbeat(writer, reader));
      }
      // A heartbeat probe taken in at once (with a reply perhaps held).
      if (deletes && what > 45) reader.noteProbe(await heartbeat(writer, reader));
      if (more && what === 3) {
        // XTRIM MINID exactly at the entry the reader read last (it goes, what follows stays).
        await writer.xtrim(KEYS.changes, 'MINID', reader.at === '' ? '0' : reader.at);
      }
      if (more && what === 4) {
        // XTRIM MINID just past the entry read last: it goes too.
        const at = reader.at;
        if (at !== '') await writer.xtrim(KEYS.changes, 'MINID', `${at.split('-')[0]}-${Number(at.split('-')[1]) + 1}`);
      }
      if (more && what === 5 && reader.at !== '') {
        await writer.xdel(KEYS.changes, reader.at); // the entry read last, by a Redis user
        reader.noteProbe(await heartbeat(writer, reader));
      }
    }
    // A stream deleted under the reader may be a gap though it had read all of it (nothing tells
    // what the deleted key held), and need not be then.
    const remade = more && next(6) === 0;
    if (remade) {
      // The key deleted and made anew under the reader, perhaps with a new generation key (Redis
      // lost its data), perhaps not (a Redis user's DEL): everything unread of it is lost.
      await writer.del(KEYS.changes);
      if (next(2) === 0) await writer.del(KEYS.generation);
      // Made anew in a later millisecond than the reader's last entry: one made in the same
      // millisecond, all its ids at or before the reader's position, is jumped over (a known
      // defect, its own test below, marked to fail), and the round's marks with it.
      await new Promise((resolve) => setTimeout(resolve, 2));
      for (let i = 1 + next(3 * maxLength); i > 0; i--) await write();
    }
    xread.letGo();
    for (const probe of stale) {
      await until(() => handed.length > handedBefore, 'reading on');
      reader.noteProbe(probe);
    }
    // The stream's end: its last entry held (a Redis user may have deleted the last one added).
    const [[end] = [ids.at(-1)]] = await writer.xrevrange(KEYS.changes, '+', '-', 'COUNT', 1);
    await until(() => compareStreamIds(reader.lastId ?? '0-0', end ?? '0-0') >= 0, `round ${round}: read to the end`);
    await settle(writer, reader, handed, added, `round ${round}`);
    // Order kept, nothing twice: what was handed on is a subsequence of what was added. A stream
    // made anew may hold entries at or before the reader's position (made in the millisecond of
    // its last entry): read again from its start, they are handed on after later ones (by design:
    // stream-reader.ts, #readAgainUntil), so from then on only nothing twice, nothing made up.
    reordered ||= remade;
    if (reordered) {
      expect(new Set(handed).size, 'something handed on twice').toBe(handed.length);
      for (const value of handed) expect(added, `${value} handed on, never added`).toContain(value);
    } else {
      let i = startedAt;
      for (const value of handed) {
        while (i < added.length && added[i] !== value) i++;
        expect(i, `${value} handed on out of order or twice`).toBeLessThan(added.length);
        i++;
      }
    }
    const lost = added.slice(addedBefore).filter((value) => !handed.slice(handedBefore).includes(value));
    const found = gaps.length - gapsBefore;
    if (lost.length > 0)
      expect(found, `round ${round}: ${lost.length} lost (${lost[0]}…) and no gap`).toBeGreaterThan(0);
    else if (!remade) expect(found, `round ${round}: a gap with nothing lost (${gaps.slice(gapsBefore)})`).toBe(0);
  }
  expect(reader.lag).toBe(0);
}

describe('a reader lagging behind a stream its writers trim (MAXLEN ~, MINID ~) and catching up', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`reports a gap in a round exactly when entries it had not read were lost (seed ${seed})`, async () => {
      await lagAndCatchUp(seed, false);
    }, 60_000);
  }
});

describe('the same, with entries deleted (XDEL) read and unread, and replies taken in after probes', () => {
  for (const seed of [100, 101, 103, 105, 108, 109, 134, 212]) {
    it(`reports a gap in a round exactly when entries it had not read were lost (seed ${seed})`, async () => {
      await lagAndCatchUp(seed, true);
    }, 60_000);
  }
});

describe('the same, with XTRIM MINID at and just past the entry read last, XDEL of it, and the key deleted and made anew', () => {
  for (const seed of [300, 301, 302, 303, 304, 305, 306, 307, 711, 776]) {
    it(`reports a gap in a round exactly when entries it had not read were lost (seed ${seed})`, async () => {
      await lagAndCatchUp(seed, true, true);
    }, 60_000);
  }
});

describe("a shortfall a heartbeat finds at the stream's end", () => {
  it('is a gap, though the reader has read on by the time it probes again', async () => {
    // The reader passes over an entry trimmed between two of its reads: only a probe made while it
    // stands at the stream's end can tell (its count is short of entries-added). The heartbeat's
    // probe does; the reader probes again before its next read, but that comes after the read the
    // next write woke, and a writer's flush is a pipeline of XADDs: the stream's end has moved on,
    // and the count no longer tells.
    const { writer, reader, handed, gaps } = await passedOverATrim(1, 1, 1); // 3 gone unread
    expect(gaps).toEqual([]);
    reader.noteProbe(await heartbeat(writer, reader));
    // A writer's flush: two XADDs in one pipeline. The read under way is answered after the first.
    await writer.pipeline().xadd(KEYS.changes, '100-5', 'm', 'e:5').xadd(KEYS.changes, '100-6', 'm', 'e:6').exec();
    await until(() => handed.includes('e:6'), 'reading the flush');
    await writer.xadd(KEYS.changes, '100-7', 'm', 'e:7');
    await until(() => handed.includes('e:7'), 'reading on');
    expect(handed).toEqual(['e:2', 'e:4', 'e:5', 'e:6', 'e:7']);
    expect(gaps).toEqual(['entries this node had not read were trimmed']);
    expect(reader.lag).toBe(0);
  });
});

describe('a count known only as a lower bound (after a trim gap found while the stream held the entry read last)', () => {
  it('still finds entries trimmed unread after that gap', async () => {
    // Passes over 6 to 10 (the CI failure of 2026-12-03: stream-reader.test.ts).
    const { writer, readerClient, xread, reader, handed, gaps } = await passedOverATrim(4, 5, 1);
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let i = 12; i <= 13; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    // Back, it finds the gap while the stream holds 11 (its last) and what follows: its count is
    // a lower bound from here until it reads to the end. It is held from reading on meanwhile.
    xread.hold();
    await readerClient.connect();
    await until(() => gaps.length === 1, 'the first gap found');
    // Entries written after that gap, trimmed before the node read them: a loss of their own.
    for (let i = 14; i <= 16; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    await writer.xtrim(KEYS.changes, 'MAXLEN', 2); // 11 to 14 gone; 12, 13, 14 unread
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => handed.includes('e:16'), 'what the trim left read');
    reader.noteProbe(await heartbeat(writer, reader));
    await writer.xadd(KEYS.changes, '100-17', 'm', 'e:17');
    await until(() => handed.includes('e:17'), 'reading on');
    await writer.xadd(KEYS.changes, '100-18', 'm', 'e:18');
    await until(() => handed.includes('e:18'), 'reading on after a probe');
    expect(handed).toEqual(['e:5', 'e:11', 'e:15', 'e:16', 'e:17', 'e:18']);
    expect(gaps).toEqual([
      'entries this node had not read were trimmed',
      'entries this node had not read were trimmed',
    ]);
    expect(reader.lag).toBe(0);
  });
});

describe('a stream made anew that was trimmed before the node read it', () => {
  it('is one gap, not a second one once the node has read it to the end', async () => {
    const writer = client();
    await writer.flushall();
    for (let i = 1; i <= 3; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `old:${i}`);
    const readerClient = client();
    const { reader, handed, gaps } = readerOf(readerClient);
    reader.start();
    await until(() => reader.lastId === '100-3', 'the first position');
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    // Redis restarted without its data; writers wrote what they had queued, trimmed by maxLength.
    await writer.flushall();
    for (let i = 1; i <= 10; i++) await writer.xadd(KEYS.changes, 'MAXLEN', 3, `200-${i}`, 'm', `new:${i}`);
    await readerClient.connect();
    await until(() => handed.includes('new:10'), 'the new stream read from its start');
    expect(gaps).toEqual(['the stream is a new one (Redis lost its data)']);
    reader.noteProbe(await heartbeat(writer, reader));
    await writer.xadd(KEYS.changes, '200-11', 'm', 'new:11');
    await until(() => handed.includes('new:11'), 'reading on');
    await writer.xadd(KEYS.changes, '200-12', 'm', 'new:12');
    await until(() => handed.includes('new:12'), 'reading on after a probe');
    // The new stream's first entries, trimmed before the node read it, came before the gap it
    // repairs: counted as passed, not found again at the end as a second gap (a second repair).
    expect(handed).toEqual(['new:8', 'new:9', 'new:10', 'new:11', 'new:12']);
    expect(gaps).toEqual(['the stream is a new one (Redis lost its data)']);
    expect(reader.lag).toBe(0);
  });
});

describe('a generation key rewritten over a stream trimmed empty (idle past the replay window)', () => {
  it('is the same stream: no gap', async () => {
    const writer = client();
    await writer.flushall();
    for (let i = 1; i <= 3; i++) await writer.xadd(KEYS.changes, `100-${i}`, 'm', `e:${i}`);
    const readerClient = client();
    const { reader, handed, gaps, probes } = readerOf(readerClient);
    reader.start();
    await until(() => reader.lastId === '100-3', 'the first position');
    // Idle: the writers' XTRIM MINID ~ takes every entry, the last one read among them.
    await writer.xtrim(KEYS.changes, 'MINID', '~', '100-4');
    expect(await writer.xlen(KEYS.changes)).toBe(0);
    await writer.set(KEYS.generation, 'rewritten');
    // Judged on the reader's connection as it comes back, and by a heartbeat.
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    const probed = probes.done;
    await readerClient.connect();
    await until(() => probes.done > probed, 'the reader probing as it comes back');
    reader.noteProbe(await heartbeat(writer, reader));
    await writer.xadd(KEYS.changes, '100-4', 'm', 'e:4');
    await until(() => handed.includes('e:4'), 'reading on');
    reader.noteProbe(await heartbeat(writer, reader));
    await writer.xadd(KEYS.changes, '100-5', 'm', 'e:5');
    await until(() => handed.includes('e:5'), 'reading on after a probe');
    expect(gaps).toEqual([]);
    expect(handed).toEqual(['e:4', 'e:5']);
  });
});

describe('a trim a heartbeat finds while the reply to a read Redis answered before it is on its way', () => {
  // Redis answers the reader's read, a trim takes what it brought, the heartbeat's probe finds the
  // reader's last entry trimmed with entries after it: its answer, on another connection, is taken
  // in before the read's reply.
  async function readAnsweredThenTrimmed(lostToo: boolean) {
    const read = await readingFrom(3);
    const { writer, add, xread, reader, handed } = read;
    xread.holdReply();
    await add(4);
    await until(() => xread.replied === 1, 'the read of e:4 answered, its reply on its way');
    if (lostToo) await add(5); // never read
    await writer.xtrim(KEYS.changes, 'MAXLEN', 0);
    await add(6);
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => handed.includes('e:6'), 'reading on');
    // Counted once, the reader stands where the stream's counter says: no stream made anew.
    reader.noteProbe(await heartbeat(writer, reader));
    for (const n of [7, 8]) {
      await add(n);
      await until(() => handed.includes(`e:${n}`), `e:${n} read`);
    }
    expect(reader.lag).toBe(0);
    return read;
  }

  it('is no gap when that reply brought all the trim took', async () => {
    const { handed, gaps } = await readAnsweredThenTrimmed(false);
    expect(handed).toEqual(['e:4', 'e:6', 'e:7', 'e:8']);
    expect(gaps).toEqual([]);
  });

  it('is one gap when the trim took more', async () => {
    const { handed, gaps } = await readAnsweredThenTrimmed(true);
    expect(handed).toEqual(['e:4', 'e:6', 'e:7', 'e:8']);
    expect(gaps).toEqual(['entries this node had not read were trimmed']);
  });
});

describe('an entry a held reply brought, deleted (XDEL) before a heartbeat finds a trim', () => {
  // Found by the third attack's fuzz (seed 776). Redis answers the reader's read, an XDEL takes one
  // of the entries it brought, and the heartbeat's probe (the deletion below one taken as a gap
  // already) finds the stream short by one: a trim gap, judged with the reply (#hear). The probe
  // counted the deleted entry as passed and the reply as read: the position ran one ahead of the
  // stream's counter, and the next probe at the stream's end took it for a stream made anew.
  it('leaves the count a lower bound, not one ahead: no stream made anew after', async () => {
    const { writer, add, readerClient, xread, reader, handed, gaps } = await readingFrom(3);
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let n = 4; n <= 9; n++) await add(n);
    await writer.xdel(KEYS.changes, '100-8'); // unread: a deletion gap, its count exact
    await writer.xtrim(KEYS.changes, 'MINID', '100-4'); // e:1 to e:3, read
    xread.holdReply();
    await readerClient.connect();
    await until(() => gaps.length === 1 && xread.replied === 1, 'the gap found, e:4 to e:9 read');
    await writer.xdel(KEYS.changes, '100-6'); // read, its reply not taken in yet
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => handed.includes('e:9'), 'the reply taken in');
    reader.noteProbe(await heartbeat(writer, reader)); // at the stream's end
    await add(10);
    await until(() => handed.includes('e:10'), 'reading on');
    expect(handed).toEqual(['e:4', 'e:5', 'e:6', 'e:7', 'e:9', 'e:10']);
    // The second is a repair too many (the probe cannot tell e:6 was read), the sound side.
    expect(gaps).toEqual([
      'entries this node had not read were deleted',
      'entries this node had not read were trimmed',
    ]);
    expect(reader.lag).toBe(0);
  });
});

describe('a count known only as a lower bound (after entries deleted after the one read last)', () => {
  it('finds a trim the reader passes over between two reads while it catches up', async () => {
    const { writer, add, readerClient, xread, reader, handed, gaps } = await readingFrom(3);
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let n = 4; n <= 73; n++) await add(n);
    await writer.xdel(KEYS.changes, '100-70'); // a Redis user's: how many, the count cannot tell
    // Back, the reader finds the deletion (a gap) and reads on, 64 entries a read: the first
    // answered, a trim takes what it brought and two entries after them before the next.
    xread.holdReply();
    await readerClient.connect();
    await until(() => gaps.length === 1 && xread.replied === 1, 'the gap found, the first read answered');
    await writer.xtrim(KEYS.changes, 'MAXLEN', 3); // e:71 to e:73 left; e:68 and e:69 unread
    xread.letGo();
    await until(() => handed.includes('e:73'), 'what the trim left read');
    reader.noteProbe(await heartbeat(writer, reader));
    await add(74);
    await until(() => handed.includes('e:74'), 'reading on');
    const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `e:${from + i}`);
    expect(handed).toEqual([...numbers(4, 67), ...numbers(71, 74)]);
    expect(gaps).toEqual([
      'entries this node had not read were deleted',
      'entries this node had not read were trimmed',
    ]);
    expect(reader.lag).toBe(0);
  });
});

describe('the entry a node read last, deleted (XDEL) by a Redis user', () => {
  it('is no gap while its count is exact, also once the trim has taken every entry before it', async () => {
    const { writer, add, xread, reader, handed, gaps } = await readingFrom(3);
    xread.hold();
    await writer.xtrim(KEYS.changes, 'MINID', '100-3'); // e:1 and e:2 gone, read
    await writer.xdel(KEYS.changes, '100-3'); // the one read last: the stream's first entry now is after it
    await add(4);
    await add(5);
    reader.noteProbe(await heartbeat(writer, reader)); // judged with the read on its way
    xread.letGo();
    await until(() => handed.includes('e:5'), 'reading on');
    reader.noteProbe(await heartbeat(writer, reader));
    await add(6);
    await until(() => handed.includes('e:6'), 'reading on after a probe');
    expect(handed).toEqual(['e:4', 'e:5', 'e:6']);
    expect(gaps).toEqual([]);
    expect(reader.lag).toBe(0);
  });

  // A known cost, kept (a repair too many, right after the repair the first gap asked for): while
  // the count is a lower bound, a probe that finds the entry read last gone with the stream's first
  // entry after it cannot tell an XDEL of that entry alone from a trim that took it and entries
  // after it (stream-probe.ts, trimmedPast), and takes the gap, the sound side. Nothing is skipped:
  // the node reads on from that entry. Should the two be told apart one day, the second gap goes.
  it('is one gap too many while its count is a lower bound, the trim having taken every entry before it, and nothing skipped', async () => {
    const { writer, add, readerClient, xread, handed, gaps } = await readingFrom(3);
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let n = 4; n <= 73; n++) await add(n);
    await writer.xdel(KEYS.changes, '100-70'); // a gap: the count a lower bound from here
    xread.holdReply();
    await readerClient.connect();
    await until(() => gaps.length === 1 && xread.replied === 1, 'the gap found, e:4 to e:67 read');
    await writer.xtrim(KEYS.changes, 'MINID', '100-67'); // what the node read, but e:67
    await writer.xdel(KEYS.changes, '100-67'); // and e:67, the entry it read last: nothing unread lost
    xread.letGo();
    await until(() => handed.includes('e:73'), 'reading on');
    expect(gaps).toEqual([
      'entries this node had not read were deleted',
      'entries this node had not read were trimmed',
    ]);
    expect(handed.filter((entry) => entry !== 'e:70')).toEqual(
      Array.from({ length: 70 }, (_, i) => `e:${i + 4}`).filter((entry) => entry !== 'e:70'),
    );
  });
});

describe('an entry after the one read last deleted (XDEL), found by a heartbeat while a read is on its way', () => {
  // Found by the third attack's fuzz (seed 711, round 7). The heartbeat's probe finds the deletion
  // and asks the reader to probe again; the read on its way (blocked, woken by the next write)
  // reads on past the deleted id first, and the reader's own probe then finds max-deleted-entry-id
  // behind its last entry and the count blind (the stream holds entries it read): e:5 was lost
  // without a gap.
  it('is a gap once the read passes over the deleted entry', async () => {
    const { writer, add, xread, reader, handed, gaps } = await readingFrom(3);
    xread.hold();
    await add(4);
    await until(() => handed.includes('e:4'), 'e:4 read, the next read (from e:4) held');
    await add(5);
    await writer.xdel(KEYS.changes, '100-5'); // unread
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    xread.holdReply();
    await add(6);
    await until(() => xread.replied === 1, 'the read of e:6 answered, its reply on its way');
    // Written before the reader probes again: its probe does not find it at the stream's end.
    await add(7);
    await add(8);
    xread.letGo();
    await until(() => handed.includes('e:8'), 'reading on');
    expect(handed).toEqual(['e:4', 'e:6', 'e:7', 'e:8']);
    expect(gaps).toEqual(['entries this node had not read were deleted']);
  });

  it('is no gap when the read brought the entry (Redis answered it before the XDEL)', async () => {
    const { writer, add, xread, reader, handed, gaps } = await readingFrom(3);
    xread.holdReply();
    await add(4);
    await until(() => xread.replied === 1, 'the read of e:4 answered, its reply on its way');
    await writer.xdel(KEYS.changes, '100-4'); // read, its reply not taken in yet
    await add(5);
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => handed.includes('e:5'), 'reading on');
    await add(6);
    await until(() => handed.includes('e:6'), 'reading on after the reposition');
    expect(handed).toEqual(['e:4', 'e:5', 'e:6']);
    expect(gaps).toEqual([]);
  });
});

describe('a second deletion (XDEL), below the first, while the count is a lower bound after the first', () => {
  it('is not a gap of its own: the entry was written before the first gap, whose repair covers it', async () => {
    // max-deleted-entry-id keeps the larger id, and the count is blind: the loss of e:68 is not
    // seen. It was in the stream when the first gap was found (ids only grow: '*' ids of a later
    // write are past the first deletion's), so it is among what that gap's repair is for, by the
    // same rule as e:70: a member that had it when the digests were exchanged gives it. One not
    // up to date gives neither, and anti-entropy covers both alike (redis-backplane.ts, "Not
    // guaranteed").
    const { writer, add, readerClient, xread, reader, handed, gaps } = await readingFrom(3);
    readerClient.disconnect();
    await until(() => readerClient.status === 'end', 'the reader away');
    for (let n = 4; n <= 73; n++) await add(n);
    await writer.xdel(KEYS.changes, '100-70');
    xread.holdReply();
    await readerClient.connect();
    await until(() => gaps.length === 1 && xread.replied === 1, 'the gap found, e:4 to e:67 read');
    await writer.xdel(KEYS.changes, '100-68'); // unread, below the first deletion
    xread.letGo();
    await until(() => handed.includes('e:73'), 'reading on');
    reader.noteProbe(await heartbeat(writer, reader));
    await add(74);
    await until(() => handed.includes('e:74'), 'reading on after a probe');
    expect(handed).not.toContain('e:68');
    expect(handed).not.toContain('e:70');
    expect(gaps).toEqual(['entries this node had not read were deleted']);
    expect(reader.lag).toBe(0);
  });
});

describe("a node's inbox (repair messages), trimmed or deleted before the node read it", () => {
  // Proven: nothing tells. The reader reads the inbox on from its last id; what a trim (MAXLEN ~
  // 10,000 when a repair outruns the reader), a Redis user's XDEL or DEL, an eviction (the inbox
  // has a TTL: volatile-* policies take it first) or its 10-minute expiry took unread is passed over
  // without a word, and no gap is reported. What that costs is in docs/backplane.md ("Inboxes").
  it('is passed over without a gap', async () => {
    const { writer, xread, reader, inbox, gaps, handed, add } = await readingFrom(3);
    xread.hold();
    for (let n = 1; n <= 4; n++) await writer.xadd(KEYS.inbox, `100-${n}`, 'm', `i:${n}`);
    await writer.xdel(KEYS.inbox, '100-2');
    await writer.xtrim(KEYS.inbox, 'MAXLEN', 1); // i:3 trimmed too
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => inbox.includes('i:4'), 'the inbox read');
    await add(4);
    await until(() => handed.includes('e:4'), 'reading on');
    // i:1 read by the XREAD under way as the gate shut; i:2 (XDEL) and i:3 (trimmed) never.
    expect(inbox).toEqual(['i:1', 'i:4']);
    expect(gaps).toEqual([]);
    expect(reader.lag).toBe(0);
  });
});

describe('a changes key deleted and made anew with every id at or before the node’s last entry', () => {
  // Found by the widened fuzz (the key deleted and written anew within the millisecond of the
  // node's last entry). The probe finds the stream's last id behind the node's ('the stream lost
  // entries this node had read'), and the node jumped to the stream's end, over every entry the
  // new stream holds, though it read none of them: what was jumped over reached the node only
  // through the repair. It now reads the stream from its start, handing on again nothing it still
  // remembers handing on (id and seal).
  it('is a gap, and the new stream is read, not jumped over', async () => {
    const { writer, xread, reader, handed, gaps } = await readingFrom(3);
    xread.hold();
    await writer.del(KEYS.changes);
    await writer.xadd(KEYS.changes, '100-1', 'm', 'new:1');
    await writer.xadd(KEYS.changes, '100-2', 'm', 'new:2');
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => gaps.length === 1, 'the gap found');
    await writer.xadd(KEYS.changes, '200-1', 'm', 'new:3');
    await until(() => handed.includes('new:3'), 'reading on');
    expect(gaps).toEqual(['the stream lost entries this node had read']);
    expect(handed).toEqual(['new:1', 'new:2', 'new:3']);
  });

  it('that Redis came back without its last writes: what the node handed on already is not handed on again', async () => {
    const { writer, add, xread, reader, handed, gaps } = await readingFrom(1);
    for (let n = 2; n <= 5; n++) await add(n);
    await until(() => handed.length === 4, 'e:2 to e:5 read');
    xread.hold();
    // The stream as a snapshot taken after e:3 holds it: e:4 and e:5 lost.
    await writer.del(KEYS.changes);
    await add(2);
    await add(3);
    reader.noteProbe(await heartbeat(writer, reader));
    xread.letGo();
    await until(() => gaps.length === 1, 'the gap found');
    await writer.xadd(KEYS.changes, '200-1', 'm', 'new:1');
    await until(() => handed.includes('new:1'), 'reading on');
    expect(gaps).toEqual(['the stream lost entries this node had read']);
    expect(handed).toEqual(['e:2', 'e:3', 'e:4', 'e:5', 'new:1']);
  });
});
