/**
 * What the stream-reader tests share: a redis-server for the file (started before its tests,
 * stopped after), clients and readers stopped after each test, a reader that records what it
 * hands on and the gaps it reports, and a gate on the reader's next XREAD, to change the stream
 * while the reader is busy elsewhere.
 */
import { silentLogger, systemScheduler } from '@meshcache/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { probeStream } from '../src/backplane/stream-probe.js';
import { StreamReader } from '../src/backplane/stream-reader.js';
import { until } from './nodes.js';
import { RedisServer } from './redis-server.js';

export interface StreamKeys {
  readonly changes: string;
  readonly generation: string;
  readonly inbox: string;
}

/**
 * Registers the file's hooks; `generation` is what each probe writes as the generation of a
 * stream key it finds missing (the backplane makes a new one each time).
 */
export function streamReaderFixture(keys: StreamKeys, generation: () => string) {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  const readers: StreamReader[] = [];
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterEach(async () => {
    // A test that failed while it held a reader's XREAD (or its reply) left the reader waiting at
    // the gate, where stop() waits for it: the hook timed out, its own error in front of the test's,
    // and the next test began with that reader and its clients still about. Let go first.
    for (const letGo of gates.splice(0)) letGo();
    for (const reader of readers.splice(0)) await reader.stop();
    for (const client of clients.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await server?.close();
  });

  function client(): Redis {
    if (server === undefined) throw new Error('the redis-server is not started yet');
    const redis = new Redis(server.url);
    clients.push(redis);
    return redis;
  }

  /** A reader of keys.changes recording what it hands on (the field `m` of each entry), its gaps and its probes. */
  function readerOf(redis: Redis) {
    const handed: string[] = [];
    /** What it hands on of its inbox (the field `m` of each entry). */
    const inbox: string[] = [];
    const gaps: string[] = [];
    const probes = { done: 0 };
    const reader = new StreamReader({
      redis,
      changesKey: keys.changes,
      inboxKey: keys.inbox,
      logger: silentLogger,
      scheduler: systemScheduler,
      probe: async (c, at) => {
        const probe = await probeStream(c, keys, generation(), at);
        probes.done++;
        return probe;
      },
      onEntry: (_key, changes, sealed) => {
        (changes ? handed : inbox).push(sealed?.toString() ?? '');
        return 'ok';
      },
      onFirstPosition: () => {},
      onGap: (why) => gaps.push(why),
    });
    readers.push(reader);
    return { reader, handed, inbox, gaps, probes };
  }

  /**
   * A stream emptied and given e:1 to e:`first` (ids 100-N for e:N, `add` writes more so), and a
   * reader of it, its XREAD gated, started there.
   */
  async function readingFrom(first: number) {
    const writer = client();
    await writer.flushall();
    const add = (n: number) => writer.xadd(keys.changes, `100-${n}`, 'm', `e:${n}`);
    for (let n = 1; n <= first; n++) await add(n);
    const readerClient = client();
    const xread = gated(readerClient);
    const read = readerOf(readerClient);
    read.reader.start();
    await until(() => read.reader.lastId === `100-${first}`, 'the first position');
    return { writer, add, readerClient, xread, ...read };
  }

  /**
   * A reader started on e:1 to e:`first` that passes over entries trimmed between two of its
   * reads: its next read held, the next entry read, `lost` entries after it written and trimmed
   * (XTRIM MAXLEN 0) unread, `then` entries written, the read let go. Its count is then `lost`
   * short of the stream's, and the stream, holding what it read since, never looked short enough
   * to tell.
   */
  async function passedOverATrim(first: number, lost: number, then: number) {
    const started = await readingFrom(first);
    const { writer, add, xread, handed } = started;
    xread.hold();
    await add(first + 1);
    await until(() => handed.includes(`e:${first + 1}`), 'the read under way, the next held');
    for (let n = first + 2; n <= first + 1 + lost; n++) await add(n);
    await writer.xtrim(keys.changes, 'MAXLEN', 0);
    const last = first + 1 + lost + then;
    for (let n = first + 2 + lost; n <= last; n++) await add(n);
    xread.letGo();
    await until(() => handed.includes(`e:${last}`), 'reading on past them, none the wiser');
    return started;
  }

  return { client, readerOf, readingFrom, passedOverATrim };
}

/** How to let go of every gate made (gated()), for the hooks to do after a test. */
const gates: Array<() => void> = [];

/**
 * Holds the reader's next XREAD until let go: the reader busy elsewhere while the stream changes.
 * With holdReply, the next XREAD that finds entries runs and its reply is held (`replied` counts
 * those) until let go: a read Redis answered before a heartbeat's probe, taken in after that
 * probe's answer (the two come on two connections, in no order).
 */
export function gated(redis: Redis) {
  const read = redis.xreadBuffer.bind(redis) as (...args: unknown[]) => Promise<unknown>;
  let open: Promise<void> = Promise.resolve();
  let reply: Promise<void> | undefined;
  const release: Array<() => void> = [];
  const shut = () =>
    new Promise<void>((resolve) => {
      release.push(resolve);
    });
  let replied = 0;
  const letGo = () => {
    reply = undefined;
    for (const resolve of release.splice(0)) resolve();
  };
  gates.push(letGo);
  (redis as unknown as { xreadBuffer: (...args: unknown[]) => Promise<unknown> }).xreadBuffer = async (...args) => {
    await open;
    const answer = await read(...args);
    if (answer !== null && reply !== undefined) {
      const held = reply;
      reply = undefined;
      replied++;
      await held;
    }
    return answer;
  };
  return {
    hold: () => {
      open = shut();
    },
    holdReply: () => {
      reply = shut();
    },
    /** Lets the read and any reply held go. */
    letGo,
    get replied() {
      return replied;
    },
  };
}
