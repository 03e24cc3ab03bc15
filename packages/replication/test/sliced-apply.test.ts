/**
 * A large frame of changes is applied a slice at a time (peer-link.ts, APPLY_SLICE), the session
 * holding back the frames after it (session.ts, Handling): the event loop turns between slices,
 * and the order the peer sent in is still the order things apply in.
 */
import type { Logger } from '@meshcache/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ChangeMessage, type Message, MessageType } from '../src/internals.js';
import { APPLY_SLICE } from '../src/peer-link.js';
import type { Session, SessionMessage } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import type { Listener } from '../src/transport/transport.js';
import { startNode, until } from './nodes.js';
import { linkedRawPeer } from './raw-peer.js';
import { sessionOf } from './sessions.js';

let counter = 0;
const put = (key: string, value: string): ChangeMessage => {
  const time = Date.now();
  return {
    type: MessageType.Put,
    cache: 'r',
    key,
    value,
    version: { time, counter: counter++, node: 'a' },
    createdAt: time,
    timeToLiveSeconds: 0,
    timeToIdleSeconds: 0,
  };
};
const batchOf = (count: number, value: (i: number) => string): Message => ({
  type: MessageType.Batch,
  changes: Array.from({ length: count }, (_, i) => put(`k${i}`, value(i))),
});
const caches = { r: { maxElementsInMemory: 0, replication: { replicateAsynchronously: true } } };

/**
 * The sizes `size()` had at each turn of the event loop until it reached `total`, or `stopAt`
 * said to stop, or `millis` passed: a frame applied in one go shows none between 0 and `total`.
 */
async function sizesSeen(size: () => number, total: number, millis: number, stopAt?: (size: number) => boolean) {
  const seen: number[] = [];
  const deadline = Date.now() + millis;
  while (Date.now() < deadline) {
    const now = size();
    if (seen.at(-1) !== now) seen.push(now);
    if (now >= total || stopAt?.(now) === true) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return seen;
}

/** A node replicating cache 'r', and a raw peer 'a' linked to it that sends whatever a test writes. */
async function linkedNode() {
  const node = await startNode('b', [], { caches });
  const cache = node.manager.getCache<string>('r');
  const peer = await linkedRawPeer(node.url, 'a');
  return { node, cache, peer };
}

describe('a large frame of changes, applied a slice at a time', () => {
  it('lets the event loop turn between slices, and answers a Sync sent after it only once all of it is applied, in order', async () => {
    const { cache, peer } = await linkedNode();
    const total = 8 * APPLY_SLICE;
    const value = (i: number) => `${i}:${'v'.repeat(100)}`;
    peer.send(batchOf(total, value));
    // After it: a removal of the first key and a newer value for the second, then a Sync.
    peer.send({
      type: MessageType.Batch,
      changes: [
        {
          type: MessageType.Remove,
          cache: 'r',
          key: 'k0',
          version: { time: Date.now(), counter: counter++, node: 'a' },
        },
        put('k1', 'newer'),
      ],
    });
    const seen = await sizesSeen(() => cache?.size ?? 0, total - 1, 30_000);
    // Sizes between nothing and everything were seen from other turns of the event loop.
    expect(seen.filter((size) => size > 0 && size < total - 1).length).toBeGreaterThan(0);
    expect(await peer.settled(1, 30_000)).toBe(true);
    expect(cache?.size).toBe(total - 1);
    expect(cache?.get('k0')).toBeUndefined();
    expect(cache?.get('k1')).toBe('newer');
    for (let i = 2; i < total; i++) expect(cache?.get(`k${i}`)).toBe(value(i));
    peer.connection.close();
  });

  it('hands the frames that waited behind a large one on a few at a time, not all in the turn that finished it (found by a review)', async () => {
    const { cache, peer } = await linkedNode();
    const large = 4 * APPLY_SLICE;
    peer.send(batchOf(large, (i) => `${i}`));
    // Forty frames of a thousand changes each, every one small enough to be applied at once.
    const small = 40;
    for (let f = 0; f < small; f++) {
      peer.send({
        type: MessageType.Batch,
        changes: Array.from({ length: 1000 }, (_, i) => put(`s${f}/${i}`, 'small value')),
      });
    }
    const total = large + small * 1000;
    const seen = await sizesSeen(() => cache?.size ?? 0, total, 30_000);
    expect(seen.at(-1)).toBe(total);
    const jumps = seen.slice(1).map((size, i) => size - (seen[i] as number));
    // Applied in one go, the forty frames were one jump of 40,000.
    expect(Math.max(...jumps)).toBeLessThan(10_000);
    peer.connection.close();
  });

  it('a link that closes while a frame is applied applies no further slice of it', async () => {
    const { cache, peer } = await linkedNode();
    const total = 64 * APPLY_SLICE;
    peer.send(batchOf(total, (i) => `${i}`));
    const seen = await sizesSeen(
      () => cache?.size ?? 0,
      total,
      30_000,
      (size) => size > 0,
    );
    peer.connection.close();
    expect(seen.at(-1)).toBeLessThan(total);
    // The node hears the close at its next turn or so, and stops: the size settles short of the frame.
    let held = cache?.size ?? 0;
    for (let still = 0; still < 50; ) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const now = cache?.size ?? 0;
      still = now === held ? still + 1 : 0;
      held = now;
    }
    expect(held).toBeLessThan(total);
  });
});

describe('the applySlice option', () => {
  it('is a whole number of changes, at least 1: anything else is refused at start, naming it', async () => {
    for (const applySlice of [0, -1, 1.5, Number.NaN]) {
      await expect(startNode('b', [], { caches }, { applySlice })).rejects.toThrow(
        /^applySlice must be a whole number/,
      );
    }
  });

  it('a slice of one change applies a frame a change a turn, in order', async () => {
    const node = await startNode('b', [], { caches }, { applySlice: 1 });
    const cache = node.manager.getCache<string>('r');
    const peer = await linkedRawPeer(node.url, 'a');
    peer.send(batchOf(50, (i) => `${i}`));
    const seen = await sizesSeen(() => cache?.size ?? 0, 50, 30_000);
    expect(seen.at(-1)).toBe(50);
    expect(seen.length).toBeGreaterThan(10);
    expect(await peer.settled(1, 30_000)).toBe(true);
    peer.connection.close();
  });
});

describe('a session whose handler is still handling a message', () => {
  const listeners: Listener[] = [];
  afterEach(async () => {
    for (const listener of listeners.splice(0)) await listener.close();
  });

  async function pair(logger?: Logger) {
    const network = new MemoryNetwork();
    let server: Promise<Session> | undefined;
    listeners.push(
      await network.listen('b', (connection) => {
        server = sessionOf(connection, 'listener', { node: 'gw-2', ...(logger === undefined ? {} : { logger }) });
      }),
    );
    const dialler = await sessionOf(await network.dial('b'), 'dialler', { node: 'gw-1' });
    await dialler.established;
    await until(() => server !== undefined, 'the listener has its session');
    const listener = await (server as Promise<Session>);
    await listener.established;
    return { dialler, listener };
  }

  const sync = (id: number): SessionMessage => ({ type: MessageType.Sync, id });
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('holds the frames after it back, and hands them on in order once it is done', async () => {
    const { dialler, listener } = await pair();
    const got: number[] = [];
    let finish: () => void = () => {};
    listener.onMessage((message) => {
      if (message.type !== MessageType.Sync) return undefined;
      got.push(message.id);
      return message.id === 1 ? new Promise<void>((resolve) => (finish = resolve)) : undefined;
    });
    for (let id = 1; id <= 4; id++) dialler.send(sync(id));
    await until(() => got.length > 0, 'the first message handled');
    await tick();
    expect(got).toEqual([1]);
    finish();
    await until(() => got.length === 4, 'the others handled');
    expect(got).toEqual([1, 2, 3, 4]);
  });

  it('stops reading while more than 4 MiB wait, and reads again once they are handled', async () => {
    const { dialler, listener } = await pair();
    const pause = vi.spyOn(listener.connection, 'pauseReading');
    const resume = vi.spyOn(listener.connection, 'resumeReading');
    let finish: () => void = () => {};
    let handled = 0;
    listener.onMessage(() => {
      handled++;
      return handled === 1 ? new Promise<void>((resolve) => (finish = resolve)) : undefined;
    });
    const megabyte = batchOf(1, () => 'w'.repeat(1 << 20));
    for (let i = 0; i < 7; i++) dialler.send(megabyte);
    await until(() => pause.mock.calls.length === 1, 'reading paused');
    expect(resume).not.toHaveBeenCalled();
    finish();
    await until(() => handled === 7, 'every frame handled');
    expect(pause).toHaveBeenCalledTimes(1);
    expect(resume).toHaveBeenCalledTimes(1);
  });

  it('closes the session (4002) when the handling fails, never the process', async () => {
    const errors: unknown[] = [];
    const logger = { error: (fields: unknown) => errors.push(fields), warn() {}, info() {}, debug() {} } as never;
    const { dialler, listener } = await pair(logger);
    const closed = new Promise<number>((resolve) => listener.connection.onClose((code) => resolve(code)));
    const got: number[] = [];
    listener.onMessage((message) => {
      if (message.type === MessageType.Sync) got.push(message.id);
      return Promise.reject(new RangeError('a store that broke'));
    });
    dialler.send(sync(1));
    dialler.send(sync(2));
    expect(await closed).toBe(4002);
    expect(got).toEqual([1]);
    expect(errors).toHaveLength(1);
  });
});
