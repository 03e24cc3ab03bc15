import { describe, expect, it } from 'vitest';
import type { Version } from '../src/index.js';
import { replicaPortOf } from '../src/internal.js';
import { deferred, setup } from './helpers.js';

describe('getOrLoad', () => {
  it('answers a hit from the cache without calling the loader', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    cache.put('k', 'cached');
    let calls = 0;
    expect(await cache.getOrLoad('k', () => `loaded${++calls}`)).toBe('cached');
    expect(calls).toBe(0);
  });

  it('calls the loader once for many concurrent callers, and caches the value', async () => {
    const { addCache, drain } = setup();
    const cache = addCache<string>('c');
    const gate = deferred<string>();
    let calls = 0;
    const loader = (key: string) => {
      calls++;
      expect(key).toBe('k');
      return gate.promise;
    };
    const callers = Array.from({ length: 50 }, () => cache.getOrLoad('k', loader));
    expect(calls).toBe(1);
    gate.resolve('v');
    expect(await Promise.all(callers)).toEqual(Array(50).fill('v'));
    expect(cache.get('k')).toBe('v');
    expect(drain()).toEqual(['put:k']);
    expect(cache.statistics()).toMatchObject({ loads: 1, loadFailures: 0, misses: 50, hits: 1 });
  });

  it('loads different keys independently', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    const calls: string[] = [];
    const values = await Promise.all(
      ['a', 'b', 'a', 'c', 'b'].map((key) =>
        cache.getOrLoad(key, async (k) => {
          calls.push(k);
          return k.toUpperCase();
        }),
      ),
    );
    expect(values).toEqual(['A', 'B', 'A', 'C', 'B']);
    expect(calls.sort()).toEqual(['a', 'b', 'c']);
  });

  it('never caches a rejected load, and every waiting caller gets the error', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    const gate = deferred<string>();
    const callers = Array.from({ length: 5 }, () => cache.getOrLoad('k', () => gate.promise));
    gate.reject(new Error('auth server said 503'));
    const results = await Promise.allSettled(callers);
    expect(
      results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'auth server said 503'),
    ).toBe(true);
    expect(cache.has('k')).toBe(false);
    expect(cache.statistics()).toMatchObject({ loads: 1, loadFailures: 1 });
    // the next caller tries again
    expect(await cache.getOrLoad('k', () => 'recovered')).toBe('recovered');
  });

  it('treats a loader that throws synchronously like a rejected one', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    await expect(
      cache.getOrLoad('k', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(cache.has('k')).toBe(false);
  });

  it('applies entry options to the loaded value', async () => {
    const { clock, addCache } = setup();
    const cache = addCache<string>('c');
    await cache.getOrLoad('k', () => 'v', { timeToLiveSeconds: 2 });
    clock.advance(2001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('does not store a load that a remove overtook (a revocation is not undone), but still answers', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    const gate = deferred<string>();
    const pending = cache.getOrLoad('token', () => gate.promise);
    cache.remove('token');
    gate.resolve('revoked-token');
    expect(await pending).toBe('revoked-token');
    expect(cache.has('token')).toBe(false);
  });

  it('a caller that comes after the revocation does not join the overtaken load: it loads anew, and that value is stored', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    const revoked = deferred<string>();
    const before = cache.getOrLoad('token', () => revoked.promise);
    cache.remove('token');
    const fresh = deferred<string>();
    let calls = 0;
    const after = cache.getOrLoad('token', () => {
      calls++;
      return fresh.promise;
    });
    expect(calls).toBe(1);
    revoked.resolve('revoked-token');
    fresh.resolve('new-token');
    expect([await before, await after]).toEqual(['revoked-token', 'new-token']);
    expect(cache.get('token')).toBe('new-token');
    // A loader that never answered no longer holds the key once it is removed.
    const stuck = cache.getOrLoad('stuck', () => new Promise<string>(() => {}));
    cache.remove('stuck');
    expect(await cache.getOrLoad('stuck', () => 'unstuck')).toBe('unstuck');
    void stuck;
  });

  it('a loader that asks for its own key joins its own load: one loader call', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    let calls = 0;
    let inner: Promise<string> | undefined;
    const loader = (key: string): string => {
      calls++;
      inner = cache.getOrLoad(key, loader);
      return 'v';
    };
    expect(await cache.getOrLoad('k', loader)).toBe('v');
    expect(await inner).toBe('v');
    expect(calls).toBe(1);
  });

  it('does not overwrite a put that happened during the load', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    const gate = deferred<string>();
    const pending = cache.getOrLoad('k', () => gate.promise);
    cache.put('k', 'newer');
    gate.resolve('older');
    await pending;
    expect(cache.get('k')).toBe('newer');
  });

  it('does not store a load that a removeAll overtook', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    const gate = deferred<string>();
    const pending = cache.getOrLoad('k', () => gate.promise);
    cache.removeAll();
    gate.resolve('v');
    await pending;
    expect(cache.has('k')).toBe(false);
  });

  it('caches nothing when the loader resolves to undefined', async () => {
    const { addCache } = setup();
    const cache = addCache<string>('c');
    expect(await cache.getOrLoad('k', () => undefined as unknown as string)).toBeUndefined();
    expect(cache.has('k')).toBe(false);
  });

  it('stale-if-error: answers with the recently expired value when the loader fails', async () => {
    const { clock, addCache } = setup();
    const cache = addCache<string>('c', { timeToLiveSeconds: 10, diskExpiryThreadIntervalSeconds: 3600 });
    cache.put('k', 'old');
    clock.advance(10_001);
    const failing = () => Promise.reject(new Error('origin down'));
    expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('old');
    expect(cache.has('k')).toBe(false); // the stale value is not stored again
  });

  it('stale-if-error: every failed load within the window gets the stale value, not only the first', async () => {
    const { clock, addCache } = setup();
    const cache = addCache<string>('c', { timeToLiveSeconds: 10, diskExpiryThreadIntervalSeconds: 3600 });
    cache.put('k', 'old');
    clock.advance(10_001);
    const failing = () => Promise.reject(new Error('origin down'));
    // An outage: request after request fails to load, each within the window of the expired value.
    expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('old');
    clock.advance(1_000);
    expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('old');
    clock.advance(58_999); // the window's last millisecond
    expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('old');
    expect(cache.has('k')).toBe(false); // never stored again: get, has and keys do not see it
    expect(cache.get('k')).toBeUndefined();
    clock.advance(1);
    await expect(cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).rejects.toThrow('origin down');
    expect(cache.statistics()).toMatchObject({ loads: 4, loadFailures: 4 });
  });

  it('stale-if-error: a remove, a removeAll, a put or a load that succeeds ends the stale value', async () => {
    const { clock, addCache } = setup();
    const cache = addCache<string>('c', { timeToLiveSeconds: 10, diskExpiryThreadIntervalSeconds: 3600 });
    const failing = () => Promise.reject(new Error('origin down'));
    const stale = { staleIfErrorSeconds: 600 };
    const outage = async () => {
      cache.put('k', 'old');
      clock.advance(10_001);
      expect(await cache.getOrLoad('k', failing, stale)).toBe('old');
    };
    // A revocation is not undone by the next failure.
    for (const revoke of [() => cache.remove('k'), () => cache.removeAll()]) {
      await outage();
      revoke();
      await expect(cache.getOrLoad('k', failing, stale)).rejects.toThrow('origin down');
    }
    // A newer value replaces it: once that one expires, it is the one a failure gets.
    for (const [renew, newer] of [
      [() => cache.put('k', 'new', { timeToLiveSeconds: 1 }), 'new'],
      [() => cache.getOrLoad('k', () => 'loaded', { timeToLiveSeconds: 1 }), 'loaded'],
    ] as const) {
      await outage();
      await renew();
      clock.advance(1_001);
      expect(await cache.getOrLoad('k', failing, stale)).toBe(newer);
      cache.remove('k');
    }
  });

  it("stale-if-error: a peer's put or remove ends the stale value also when it leaves nothing here to hold", async () => {
    // The key is held nowhere here once its stale value answered, so a peer's removal older than
    // the tombstone retention, or a peer's write whose TTL ran out on its way, is applied as
    // 'stale' (nothing to remove, nothing to hold): both are newer than the stale value all the
    // same, and it went on answering failures, a removal made elsewhere undone here for the rest
    // of the window. One older than the stale value leaves it answering.
    const failing = () => Promise.reject(new Error('origin down'));
    const stale = { staleIfErrorSeconds: 86_400 };
    const peer = (time: number): Version => ({ time, counter: 0, node: 'peer' });
    const outage = async () => {
      const kit = setup({ versionClock: () => ({ time: kit.clock.now(), counter: 0, node: 'me' }) });
      const cache = kit.addCache<string>('c', { timeToLiveSeconds: 10, diskExpiryThreadIntervalSeconds: 3600 });
      cache.put('k', 'old');
      const written = kit.clock.now();
      kit.clock.advance(10_001);
      expect(await cache.getOrLoad('k', failing, stale)).toBe('old');
      return { clock: kit.clock, cache, port: replicaPortOf(cache), written };
    };

    const removed = await outage();
    removed.clock.advance(3_600_000); // past the tombstone retention (300 s) since the removal
    const removal = peer(removed.written + 60_000);
    expect(removed.port.applyRemote({ type: 'remove', key: 'k', version: removal })).toBe('stale');
    await expect(removed.cache.getOrLoad('k', failing, stale)).rejects.toThrow('origin down');

    const lapsed = await outage();
    const at = lapsed.clock.now() - 5_000;
    const change = {
      type: 'put',
      key: 'k',
      value: 'lapsed',
      createdAt: at,
      timeToLiveSeconds: 1,
      timeToIdleSeconds: 0,
    } as const;
    expect(lapsed.port.applyRemote({ ...change, version: peer(at) })).toBe('stale');
    await expect(lapsed.cache.getOrLoad('k', failing, stale)).rejects.toThrow('origin down');

    const older = await outage();
    older.clock.advance(3_600_000);
    expect(older.port.applyRemote({ type: 'remove', key: 'k', version: peer(older.written - 1) })).toBe('stale');
    expect(await older.cache.getOrLoad('k', failing, stale)).toBe('old');
  });

  it('stale-if-error: past the window, the error reaches the caller', async () => {
    const { clock, addCache } = setup();
    const cache = addCache<string>('c', { timeToLiveSeconds: 10 });
    cache.put('k', 'old');
    clock.advance(10_000 + 60_001);
    await expect(
      cache.getOrLoad('k', () => Promise.reject(new Error('origin down')), { staleIfErrorSeconds: 60 }),
    ).rejects.toThrow('origin down');
  });

  it('stale-if-error: a hit copies nothing for a failure it cannot have; an expired entry is copied, and answers one', async () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache<string>('c', { timeToLiveSeconds: 60, timeToIdleSeconds: 10 });
    // The engine's held() is where getOrLoad copies what a failed load may answer with (loads.ts):
    // counted, a hit's copies show without timing anything.
    const engine = replicaPortOf(cache) as unknown as { held: (key: string) => unknown };
    const held = engine.held.bind(engine);
    let copies = 0;
    engine.held = (key: string) => {
      copies++;
      return held(key);
    };
    cache.put('k', 'v');
    drain();
    let loads = 0;
    const failing = () => {
      loads++;
      return Promise.reject(new Error('origin down'));
    };
    for (let second = 0; second < 30; second += 5) {
      expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('v');
      clock.advance(5_000); // past the TTI of 10 s, had a hit not moved the idle clock
    }
    expect(copies).toBe(0);
    expect(loads).toBe(0);
    expect(cache.statistics()).toMatchObject({ hits: 6, misses: 0, loads: 0 });
    expect(drain()).toEqual([]);
    // Idle for 10 s and a millisecond: expired. The copy is made before the read that frees it.
    clock.advance(5_001);
    expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('v');
    expect(copies).toBe(1);
    expect(loads).toBe(1);
    expect(cache.statistics()).toMatchObject({ hits: 6, misses: 1, loads: 1, loadFailures: 1, staleValues: 1 });
    expect(drain()).toEqual(['expire:k']);
    // Held nowhere now: the kept stale value answers, and the store is asked once more, not more.
    expect(await cache.getOrLoad('k', failing, { staleIfErrorSeconds: 60 })).toBe('v');
    expect(copies).toBe(2);
    expect(cache.statistics()).toMatchObject({ hits: 6, misses: 2, loads: 2, loadFailures: 2, staleValues: 1 });
  });

  it('rejects with E_CACHE_CLOSED after shutdown, and a load in flight at shutdown stores nothing', async () => {
    const { manager, addCache } = setup();
    const cache = addCache<string>('c');
    const gate = deferred<string>();
    const pending = cache.getOrLoad('k', () => gate.promise);
    await manager.shutdown();
    gate.resolve('v');
    expect(await pending).toBe('v');
    await expect(cache.getOrLoad('k', () => 'v')).rejects.toMatchObject({ code: 'E_CACHE_CLOSED' });
  });

  it('takes the entry’s lifespan from the loaded value when asked (a token’s expires_in)', async () => {
    const { addCache } = setup();
    const cache = addCache<{ token: string; expiresIn: number }>('tokens', { timeToLiveSeconds: 3600 });
    await cache.getOrLoad('svc', () => ({ token: 't', expiresIn: 120 }), {
      lifespanOf: (value) => ({ timeToLiveSeconds: value.expiresIn - 30 }),
    });
    expect(cache.peekEntry('svc')?.timeToLiveSeconds).toBe(90);
    await cache.getOrLoad('other', () => ({ token: 'u', expiresIn: 10 }), { lifespanOf: () => ({}) });
    expect(cache.peekEntry('other')?.timeToLiveSeconds).toBe(3600); // {} keeps the cache's
  });
});

describe('getOrLoad refuses a bad loader or option before it loads', () => {
  it('a loader that is not a function is an E_INVALID_ARGUMENT naming the cache, and is not counted as a load', () => {
    const { addCache } = setup();
    const cache = addCache<string>('tokens');
    for (const loader of [undefined, 5, 'fetchToken', null]) {
      expect(() => cache.getOrLoad('k', loader as unknown as () => string)).toThrow(
        expect.objectContaining({
          code: 'E_INVALID_ARGUMENT',
          message: expect.stringMatching(/^cache "tokens": getOrLoad's loader must be a function .*, got /),
        }),
      );
    }
    expect(cache.statistics()).toMatchObject({ loads: 0, loadFailures: 0 });
  });

  it('a staleIfErrorSeconds that is not a number >= 0 is refused, not read as off (or as a number)', () => {
    const { addCache } = setup();
    const cache = addCache<string>('tokens', { timeToLiveSeconds: 1 });
    for (const [stale, shown] of [
      [-5, '-5'],
      [Number.NaN, 'NaN'],
      ['abc', '"abc"'],
      ['60', '"60"'],
      [true, 'true'],
    ] as const) {
      expect(() => cache.getOrLoad('k', () => 'v', { staleIfErrorSeconds: stale as unknown as number })).toThrow(
        `cache "tokens": getOrLoad's option "staleIfErrorSeconds" must be a number of seconds >= 0 (0 = off), got ${shown}`,
      );
    }
    expect(cache.statistics().loads).toBe(0);
  });

  it('a lifespanOf that is not a function is refused before the loader calls the origin', () => {
    const { addCache } = setup();
    const cache = addCache<string>('tokens');
    let calls = 0;
    expect(() =>
      cache.getOrLoad(
        'k',
        () => {
          calls++;
          return 'v';
        },
        { lifespanOf: 300 as unknown as () => object },
      ),
    ).toThrow(`cache "tokens": getOrLoad's option "lifespanOf" must be a function (value) => entry options, got 300`);
    expect(calls).toBe(0);
  });
});
