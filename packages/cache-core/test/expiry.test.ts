import { afterEach, describe, expect, it, vi } from 'vitest';
import { CacheManager, type EntryOptions } from '../src/index.js';
import { until } from '../src/until.js';
import { setup } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('time to live', () => {
  it('expires strictly after createdAt + TTL, not at it', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 10 });
    cache.put('k', 'v');
    clock.advance(10_000);
    expect(cache.get('k')).toBe('v');
    clock.advance(1);
    expect(cache.get('k')).toBeUndefined();
  });

  it('is not extended by reads', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 10 });
    cache.put('k', 'v');
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      expect(cache.get('k')).toBe('v');
    }
    clock.advance(1);
    expect(cache.get('k')).toBeUndefined();
  });

  it('starts again on a put (the entry is created anew)', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 10 });
    cache.put('k', 'v1');
    clock.advance(8000);
    cache.put('k', 'v2');
    clock.advance(8000);
    expect(cache.get('k')).toBe('v2');
  });

  it('accepts fractional seconds', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 0.5 });
    cache.put('k', 'v');
    clock.advance(500);
    expect(cache.get('k')).toBe('v');
    clock.advance(1);
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('time to idle', () => {
  it('expires strictly after the last access + TTI', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToIdleSeconds: 5 });
    cache.put('k', 'v');
    clock.advance(5000);
    expect(cache.get('k')).toBe('v'); // at the boundary: still alive, and this read resets idle time
    clock.advance(5000);
    expect(cache.get('k')).toBe('v');
    clock.advance(5001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('expires a never-read entry TTI after its creation', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToIdleSeconds: 5 });
    cache.put('k', 'v');
    clock.advance(5001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('is not reset by has() or peekEntry(), which are not accesses', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToIdleSeconds: 5 });
    cache.put('k', 'v');
    clock.advance(4000);
    expect(cache.has('k')).toBe(true);
    expect(cache.peekEntry('k')?.value).toBe('v');
    clock.advance(1001);
    expect(cache.has('k')).toBe(false);
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('TTL and TTI together', () => {
  it('expires at whichever comes first: TTI when the entry sits idle', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 60, timeToIdleSeconds: 10 });
    cache.put('k', 'v');
    clock.advance(10_001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('expires at whichever comes first: TTL when the entry is read often', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 30, timeToIdleSeconds: 10 });
    cache.put('k', 'v');
    for (let t = 0; t < 30; t += 5) {
      clock.advance(5000);
      expect(cache.get('k')).toBe('v');
    }
    clock.advance(1);
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('eternal and per-entry overrides', () => {
  it('an eternal cache ignores its TTL and TTI', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { eternal: true, timeToLiveSeconds: 1, timeToIdleSeconds: 1 });
    cache.put('k', 'v');
    clock.advanceSeconds(1_000_000);
    expect(cache.get('k')).toBe('v');
  });

  it('0 means never', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 0, timeToIdleSeconds: 0 });
    cache.put('k', 'v');
    clock.advanceSeconds(10_000_000);
    expect(cache.get('k')).toBe('v');
  });

  it('an entry given only a TTL has no TTI (the cache default is replaced, not merged)', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 1, timeToIdleSeconds: 1 });
    cache.put('k', 'v', { timeToLiveSeconds: 3 });
    clock.advance(2500);
    expect(cache.get('k')).toBe('v');
    clock.advance(501);
    expect(cache.get('k')).toBeUndefined();
  });

  it('an entry given only a TTI has no TTL', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 2 });
    cache.put('k', 'v', { timeToIdleSeconds: 1 });
    for (let i = 0; i < 10; i++) {
      clock.advance(900);
      expect(cache.get('k')).toBe('v');
    }
  });

  it('an eternal entry outlives a TTL cache', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 1 });
    cache.put('k', 'v', { eternal: true });
    clock.advanceSeconds(3600);
    expect(cache.get('k')).toBe('v');
  });

  it('an entry TTL applies in an eternal cache', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { eternal: true });
    cache.put('k', 'v', { timeToLiveSeconds: 1 });
    clock.advance(1001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('eternal: false alone keeps the cache settings', () => {
    const { clock, addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 1 });
    cache.put('k', 'v', { eternal: false });
    clock.advance(1001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('refuses negative or non-numeric entry times with a clear error', () => {
    const { addCache } = setup();
    const cache = addCache('c');
    expect(() => cache.put('k', 'v', { timeToLiveSeconds: -1 })).toThrow(
      /"timeToLiveSeconds" must be a number of seconds >= 0/,
    );
    expect(() => cache.put('k', 'v', { timeToIdleSeconds: Number.NaN })).toThrow(/timeToIdleSeconds/);
    expect(cache.has('k')).toBe(false);
  });

  it('refuses an option it does not know (a typo would otherwise leave the cache lifespan, quietly), in put and getOrLoad', async () => {
    const { addCache } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 10 });
    const typo = { ttl: 1 } as unknown as EntryOptions;
    expect(() => cache.put('k', 'v', typo)).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_ARGUMENT',
        message: 'cache "c": "ttl" is not an entry option (timeToLiveSeconds, timeToIdleSeconds, eternal)',
      }),
    );
    expect(() => cache.put('k', 'v', 'soon' as unknown as EntryOptions)).toThrow(/entry options must be an object/);
    // An array of options (a lifespan in a list by mistake) read as no options at all.
    expect(() => cache.put('k', 'v', [] as unknown as EntryOptions)).toThrow(
      'entry options must be an object ({ timeToLiveSeconds: 60 }), got an array',
    );
    // A string where a number or boolean goes is quoted: "got 60" read as if 60 had been refused.
    const quoted = (options: unknown) => () => cache.put('k', 'v', options as EntryOptions);
    expect(quoted({ timeToLiveSeconds: '60' })).toThrow(/"timeToLiveSeconds" must be a number .*, got "60"$/);
    expect(quoted({ timeToIdleSeconds: '' })).toThrow(/, got ""$/);
    expect(quoted({ eternal: 'false' })).toThrow(/"eternal" must be true or false, got "false"$/);
    expect(cache.has('k')).toBe(false);
    // undefined values and null options are nothing said (a spread of optional fields)
    cache.put('k', 'v', { timeToLiveSeconds: 5, ttl: undefined } as unknown as EntryOptions);
    cache.put('k2', 'v', null as unknown as EntryOptions);
    expect(cache.has('k') && cache.has('k2')).toBe(true);
    // getOrLoad takes its own options too, but not unknown ones, nor getOrLoad's own from lifespanOf
    await expect(cache.getOrLoad('l', () => 'v', { staleIfErrorSeconds: 5, timeToLiveSeconds: 1 })).resolves.toBe('v');
    expect(() => cache.getOrLoad('m', () => 'v', { maxAge: 5 } as unknown as EntryOptions)).toThrow(
      /"maxAge" is not an entry option \(timeToLiveSeconds, timeToIdleSeconds, eternal, staleIfErrorSeconds, lifespanOf\)/,
    );
    await expect(
      cache.getOrLoad('n', () => 'v', { lifespanOf: () => ({ staleIfErrorSeconds: 1 }) as unknown as EntryOptions }),
    ).rejects.toThrow(/"staleIfErrorSeconds" is not an entry option \(timeToLiveSeconds, timeToIdleSeconds, eternal\)/);
    expect(cache.has('m') || cache.has('n')).toBe(false);
  });
});

describe('expiry events and lazy discovery', () => {
  it('a read that finds an expired entry fires expire, counts a miss, and frees it', () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 1 });
    cache.put('k', 'v');
    drain();
    clock.advance(1001);
    expect(cache.size).toBe(1); // not found yet: size counts it, as in Ehcache
    expect(cache.get('k')).toBeUndefined();
    expect(drain()).toEqual(['expire:k']);
    expect(cache.size).toBe(0);
    expect(cache.statistics()).toMatchObject({ misses: 1, hits: 0, expirations: 1 });
  });

  it('a put over an expired entry fires expire for the old one and put (not update) for the new', () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 1 });
    cache.put('k', 'v1');
    clock.advance(1001);
    drain();
    cache.put('k', 'v2');
    expect(drain()).toEqual(['expire:k', 'put:k']);
    expect(cache.statistics()).toMatchObject({ puts: 2, updates: 0, expirations: 1 });
  });

  it('keys() leaves out expired entries without firing anything', () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 10 });
    cache.put('a', 1);
    clock.advance(5000);
    cache.put('b', 2);
    clock.advance(5001);
    drain();
    expect(cache.keys()).toEqual(['b']);
    expect(drain()).toEqual([]);
  });
});

describe('the expiry sweep', () => {
  it('evictExpiredElements removes every expired entry, firing expire, with no read', () => {
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 10 });
    for (let i = 0; i < 5; i++) cache.put(`old${i}`, i);
    clock.advance(6000);
    cache.put('young', 1);
    clock.advance(4001);
    drain();
    expect(cache.evictExpiredElements()).toBe(5);
    expect(drain().sort()).toEqual(['expire:old0', 'expire:old1', 'expire:old2', 'expire:old3', 'expire:old4']);
    expect(cache.size).toBe(1);
    expect(cache.statistics()).toMatchObject({ expirations: 5, memorySize: 1, misses: 0 });
  });

  it('runs by itself every diskExpiryThreadIntervalSeconds, at its multiples on the clock', () => {
    // 10 s past a multiple of 30 s: the first sweep comes 20 s after the cache is made, the
    // next 30 s later (so nodes started at different moments sweep together).
    vi.useFakeTimers({ now: 1_700_000_010_000 + 10_000 });
    const { clock, addCache, drain } = setup();
    const cache = addCache('c', { timeToLiveSeconds: 1, diskExpiryThreadIntervalSeconds: 30 });
    cache.put('k', 'v');
    drain();
    clock.advance(2000);
    vi.advanceTimersByTime(19_999);
    expect(cache.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(drain()).toEqual(['expire:k']);
    expect(cache.size).toBe(0);
    cache.put('k2', 'v');
    drain();
    clock.advance(2000);
    vi.advanceTimersByTime(29_999);
    expect(cache.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(drain()).toEqual(['expire:k2']);
  });

  it('stops when the manager shuts down', async () => {
    vi.useFakeTimers();
    const { manager, addCache } = setup();
    addCache('c', { diskExpiryThreadIntervalSeconds: 1 });
    expect(vi.getTimerCount()).toBe(1);
    await manager.shutdown();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('the default clock', () => {
  it('sees time set by fake timers at once', () => {
    vi.useFakeTimers();
    const manager = new CacheManager();
    const cache = manager.addCache('c', { timeToLiveSeconds: 10 });
    cache.put('k', 'v');
    vi.setSystemTime(Date.now() + 10_001);
    expect(cache.get('k')).toBeUndefined();
  });

  it('moves with real time', async () => {
    const manager = new CacheManager();
    const cache = manager.addCache('c', { timeToLiveSeconds: 0.2 });
    // Read before the put: read after it, a pause of the process between the two (a collection,
    // a loaded machine) would shorten the wait measured and fail the bound below.
    const put = performance.now();
    cache.put('k', 'v');
    expect(cache.get('k')).toBe('v');
    await until(() => cache.get('k') === undefined, 'the entry to expire with real time', 3000);
    expect(performance.now() - put).toBeGreaterThanOrEqual(198); // not before its 200 ms (Date.now() has whole milliseconds)
  });
});
