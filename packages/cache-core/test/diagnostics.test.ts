import { tracingChannel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { LOAD_CHANNEL, type LoadTrace } from '../src/index.js';
import { setup } from './helpers.js';

type Seen = { event: string; cache: string; key: string; answeredBy?: string; stale?: boolean; outcome?: unknown };

/** Subscribes to every event of `meshcache:load` as an APM agent would; unsubscribe() undoes it. */
function listen() {
  const seen: Seen[] = [];
  const record = (event: string) => (context: LoadTrace) => {
    const { cache, key, answeredBy, stale } = context;
    const outcome = event.startsWith('async')
      ? context.result
      : event === 'error'
        ? (context.error as Error).message
        : undefined;
    seen.push({
      event,
      cache,
      key,
      ...(answeredBy === undefined ? {} : { answeredBy, stale }),
      ...(outcome === undefined ? {} : { outcome }),
    });
  };
  const handlers = {
    start: record('start'),
    end: record('end'),
    asyncStart: record('asyncStart'),
    asyncEnd: record('asyncEnd'),
    error: record('error'),
  };
  const channel = tracingChannel<unknown, LoadTrace>(LOAD_CHANNEL);
  channel.subscribe(handlers);
  return { seen, unsubscribe: () => channel.unsubscribe(handlers) };
}

let active: ReturnType<typeof listen> | undefined;
afterEach(() => {
  active?.unsubscribe();
  active = undefined;
});

describe('the meshcache:load diagnostics channel', () => {
  it('traces one load for many concurrent callers, with cache, key and who answered; never the value on start', async () => {
    active = listen();
    const { addCache } = setup();
    const cache = addCache<string>('tokens');
    let release!: (value: string) => void;
    const gate = new Promise<string>((resolve) => {
      release = resolve;
    });
    const callers = [cache.getOrLoad('svc/a', () => gate), cache.getOrLoad('svc/a', () => gate)];
    expect(active.seen).toEqual([
      { event: 'start', cache: 'tokens', key: 'svc/a' },
      { event: 'end', cache: 'tokens', key: 'svc/a' },
    ]);
    release('token-1');
    expect(await Promise.all(callers)).toEqual(['token-1', 'token-1']);
    expect(active.seen.slice(2)).toEqual([
      { event: 'asyncStart', cache: 'tokens', key: 'svc/a', answeredBy: 'local', stale: false, outcome: 'token-1' },
      { event: 'asyncEnd', cache: 'tokens', key: 'svc/a', answeredBy: 'local', stale: false, outcome: 'token-1' },
    ]);
    // A hit loads nothing, so it traces nothing.
    expect(await cache.getOrLoad('svc/a', () => 'unused')).toBe('token-1');
    expect(active.seen).toHaveLength(4);
  });

  it('publishes a failed load on the error channel, and a stale answer as stale', async () => {
    active = listen();
    const { addCache, clock } = setup();
    const cache = addCache<string>('tokens', { timeToLiveSeconds: 10 });
    await expect(
      cache.getOrLoad('svc/b', () => {
        throw new Error('auth server down');
      }),
    ).rejects.toThrow('auth server down');
    expect(active.seen.filter((s) => s.event === 'error')).toEqual([
      { event: 'error', cache: 'tokens', key: 'svc/b', outcome: 'auth server down' },
    ]);

    cache.put('svc/c', 'old token');
    clock.advance(10_001);
    active.seen.length = 0;
    const answer = await cache.getOrLoad('svc/c', () => Promise.reject(new Error('still down')), {
      staleIfErrorSeconds: 60,
    });
    expect(answer).toBe('old token');
    expect(active.seen.filter((s) => s.event === 'asyncEnd')).toEqual([
      { event: 'asyncEnd', cache: 'tokens', key: 'svc/c', answeredBy: 'local', stale: true, outcome: 'old token' },
    ]);
  });

  it('sends nothing once the subscriber has left', async () => {
    const listener = listen();
    listener.unsubscribe();
    const { addCache } = setup();
    const cache = addCache<string>('tokens');
    expect(await cache.getOrLoad('svc/d', () => 'v')).toBe('v');
    expect(listener.seen).toEqual([]);
  });
});
