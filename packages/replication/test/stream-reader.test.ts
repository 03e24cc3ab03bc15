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

/** A reader of KEYS.changes recording what it hands on (the field `m` of each changes entry). */
function readerOf(redis: Redis) {
  const handed: string[] = [];
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
    onGap: () => {},
  });
  readers.push(reader);
  return { reader, handed };
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
