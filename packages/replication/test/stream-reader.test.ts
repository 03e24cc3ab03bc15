/**
 * The stream reader alone, against a real redis-server: what it hands on when the changes key is
 * deleted and written anew under it. Ids are written explicitly, so the test says where the new
 * stream's entries fall against the node's position.
 */
import { silentLogger, systemScheduler } from '@meshcache/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { probeStream } from '../src/backplane/stream-probe.js';
import { StreamReader } from '../src/backplane/stream-reader.js';
import { until } from './nodes.js';
import { RedisServer } from './redis-server.js';

const KEYS = { changes: 't:changes', generation: 't:generation', inbox: 't:inbox' };

let server: RedisServer;
const clients: Redis[] = [];
const readers: StreamReader[] = [];
beforeAll(async () => {
  server = await RedisServer.start();
});
afterEach(async () => {
  for (const reader of readers.splice(0)) await reader.stop();
  for (const client of clients.splice(0)) client.disconnect();
});
afterAll(async () => {
  await server.close();
});

function client(): Redis {
  const redis = new Redis(server.url);
  clients.push(redis);
  return redis;
}

/** A reader of KEYS.changes recording what it hands on (the field `m` of each changes entry), and its gaps. */
function readerOf(redis: Redis) {
  const handed: string[] = [];
  const gaps: string[] = [];
  const reader = new StreamReader({
    redis,
    changesKey: KEYS.changes,
    inboxKey: KEYS.inbox,
    logger: silentLogger,
    scheduler: systemScheduler,
    probe: (c, at) => probeStream(c, KEYS, 'g', at),
    onEntry: (_key, changes, sealed) => {
      if (changes) handed.push(sealed?.toString() ?? '');
      return 'ok';
    },
    onFirstPosition: () => {},
    onGap: (why) => gaps.push(why),
  });
  readers.push(reader);
  return { reader, handed, gaps };
}

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
