import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager, ConfigError } from '../src/index.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

afterEach(removeTempDirs);

describe('CacheManager', () => {
  it('holds named caches', () => {
    const manager = new CacheManager();
    const responses = manager.addCache<{ status: number }>('Response Cache', { timeToLiveSeconds: 300 });
    const tokens = manager.addCache<string>('tokens');
    expect(manager.getCache('Response Cache')).toBe(responses);
    expect(manager.getCache('tokens')).toBe(tokens);
    expect(manager.getCache('nope')).toBeUndefined();
    expect(manager.cacheNames()).toEqual(['Response Cache', 'tokens']);
    responses.put('GET /a', { status: 200 });
    expect(tokens.has('GET /a')).toBe(false);
  });

  it('refuses a cache name with a control character or a lone surrogate, naming it escaped (found by the outside attack)', async () => {
    // "sessions" and "sessions\u0000tmp" named one lmdb database: each lost the other's entries at a restart.
    const dir = tempDir();
    const manager = new CacheManager({ diskStorePath: dir });
    for (const [name, why] of [
      ['sessions\u0000tmp', /cache "sessions\\u0000tmp": field "name" has a control character/],
      ['a\u001bb', /field "name" has a control character/],
      ['a\u0085', /cache "a\\u0085": field "name" has a control character/],
      ['a\u007fb', /cache "a\\u007fb": field "name" has a control character/],
      ['a\ud800', /cache "a\\ud800": field "name" has a lone surrogate/],
    ] as const) {
      expect(() => manager.addCache(name, { overflowToDisk: true })).toThrow(ConfigError);
      expect(() => manager.addCache(name)).toThrow(why);
    }
    expect(manager.cacheNames()).toEqual([]);
    // What users name caches is unchanged: spaces, slashes, accents, pairs of surrogates.
    for (const name of ['Response Cache', 'a/b', 'café', '\u{1f600}']) manager.addCache(name, { overflowToDisk: true });
    await manager.shutdown();
  });

  it('refuses bad options with a ConfigError naming them, not a TypeError (found by the outside attack)', () => {
    const refused = (options: unknown, message: RegExp) =>
      expect(() => new CacheManager(options as never)).toThrow(
        expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(message) }),
      );
    refused(null, /option "\(options\)" must be an object of CacheManager options, got null/);
    refused({ logger: null }, /option "logger" must be pino-compatible .*got null/);
    refused({ logger: { debug() {}, info() {}, warn() {} } }, /logger.error is not a function/);
    // Caught at once, not at the first addCache as "scheduler.setInterval is not a function".
    refused(
      { scheduler: { setTimeout() {} } },
      /option "scheduler" must be a Scheduler .*: scheduler.now is not a function/,
    );
    refused({ tombstoneRetentionSeconds: '5' }, /must be a number of seconds >= 0, got "5"/);
    refused({ maxTombstones: {} }, /must be a whole number >= 1, got an object/);
  });

  it('removeCache closes one cache and frees its name', async () => {
    const manager = new CacheManager();
    const cache = manager.addCache('c');
    expect(await manager.removeCache('c')).toBe(true);
    expect(await manager.removeCache('c')).toBe(false);
    expect(cache.closed).toBe(true);
    expect(manager.addCache('c')).not.toBe(cache);
  });

  it('shutdown closes every cache, is idempotent, and refuses later use with E_CACHE_CLOSED', async () => {
    const manager = new CacheManager();
    const cache = manager.addCache('c');
    cache.put('k', 'v');
    const first = manager.shutdown();
    expect(manager.shutdown()).toBe(first);
    await first;
    expect(manager.cacheNames()).toEqual([]);
    expect(() => cache.get('k')).toThrow(expect.objectContaining({ code: 'E_CACHE_CLOSED' }));
    expect(() => cache.put('k', 'v')).toThrow(/cache "c" is closed/);
    for (const use of [() => cache.peekEntry('k'), () => cache.evictExpiredElements(), () => cache.keys()]) {
      expect(use).toThrow(expect.objectContaining({ code: 'E_CACHE_CLOSED' }));
    }
    // What it counted stays readable: a closed cache's last figures
    expect(cache.statistics()).toMatchObject({ puts: 1 });
    expect(() => manager.addCache('d')).toThrow(expect.objectContaining({ code: 'E_CACHE_CLOSED' }));
  });

  it('refuses non-string keys and undefined values with clear errors', () => {
    const cache = new CacheManager().addCache('c');
    expect(() => cache.put(42 as never, 'v')).toThrow(/keys are strings, got number/);
    expect(() => cache.put('k', undefined)).toThrow(/cannot store undefined under key "k"/);
    expect(() => cache.remove({} as never)).toThrow(/keys are strings/);
  });

  it('stores anything in a memory-only cache, as itself', () => {
    const cache = new CacheManager().addCache<unknown>('c');
    class Session {
      constructor(readonly user: string) {}
      greet(): string {
        return `hi ${this.user}`;
      }
    }
    const session = new Session('ada');
    const fn = () => 1;
    cache.put('session', session);
    cache.put('fn', fn);
    cache.put('null', null);
    expect(cache.get('session')).toBe(session);
    expect((cache.get('session') as Session).greet()).toBe('hi ada');
    expect(cache.get('fn')).toBe(fn);
    expect(cache.get('null')).toBeNull();
  });
});
