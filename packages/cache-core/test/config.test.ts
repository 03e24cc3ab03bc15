import { describe, expect, it } from 'vitest';
import { CACHE_DEFAULTS, CacheManager, ConfigError } from '../src/index.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('cache configuration', () => {
  it('fills every field with the Ehcache defaults', () => {
    const cache = new CacheManager().addCache('c');
    expect(cache.config).toEqual({
      maxElementsInMemory: 10_000,
      maxElementsOnDisk: 0,
      eternal: false,
      overflowToDisk: false,
      timeToIdleSeconds: 0,
      timeToLiveSeconds: 0,
      diskPersistent: false,
      diskExpiryThreadIntervalSeconds: 120,
      diskSpoolBufferSizeMB: 30,
      memoryStoreEvictionPolicy: 'LRU',
      maxBytesLocalHeap: 0,
    });
    expect(Object.isFrozen(CACHE_DEFAULTS)).toBe(true);
  });

  it('accepts policy names in any case', () => {
    const manager = new CacheManager();
    expect(manager.addCache('a', { memoryStoreEvictionPolicy: 'lfu' }).config.memoryStoreEvictionPolicy).toBe('LFU');
    expect(manager.addCache('b', { memoryStoreEvictionPolicy: 'FIFO' }).config.memoryStoreEvictionPolicy).toBe('FIFO');
    expect(manager.addCache('c', { memoryStoreEvictionPolicy: 'tinylfu' }).config.memoryStoreEvictionPolicy).toBe(
      'TINYLFU',
    );
    expect(manager.addCache('d', { memoryStoreEvictionPolicy: 'TinyLFU' as 'TINYLFU' }).config).toMatchObject({
      memoryStoreEvictionPolicy: 'TINYLFU',
    });
  });

  it.each([
    [{ maxElementsInMemory: -1 }, 'maxElementsInMemory', /must not be negative/],
    [{ maxElementsInMemory: 1.5 }, 'maxElementsInMemory', /whole number/],
    [
      { maxElementsInMemory: 1e300 },
      'maxElementsInMemory',
      /is too large \(at most 9007199254740991; 0 = unlimited\), got 1e\+300/,
    ],
    [{ maxElementsOnDisk: 2 ** 60 }, 'maxElementsOnDisk', /is too large/],
    [{ maxElementsInMemory: '100' }, 'maxElementsInMemory', /whole number.*got "100"/],
    [{ maxElementsOnDisk: -5 }, 'maxElementsOnDisk', /must not be negative/],
    [{ timeToLiveSeconds: -1 }, 'timeToLiveSeconds', /must not be negative/],
    [{ timeToIdleSeconds: Number.POSITIVE_INFINITY }, 'timeToIdleSeconds', /number of seconds/],
    [{ timeToIdleSeconds: '60' }, 'timeToIdleSeconds', /number of seconds/],
    [{ eternal: 'yes' }, 'eternal', /true or false/],
    [{ overflowToDisk: 1 }, 'overflowToDisk', /true or false/],
    [
      { memoryStoreEvictionPolicy: 'CLOCK' },
      'memoryStoreEvictionPolicy',
      /one of 'LRU', 'LFU', 'FIFO', 'TINYLFU'.*"CLOCK"/,
    ],
    [{ memoryStoreEvictionPolicy: 3 }, 'memoryStoreEvictionPolicy', /one of/],
    [{ diskExpiryThreadIntervalSeconds: 0 }, 'diskExpiryThreadIntervalSeconds', /greater than 0/],
    // A sweep every millisecond (or every nanosecond) kept a core half busy (found by the outside attack).
    [
      { diskExpiryThreadIntervalSeconds: 0.001 },
      'diskExpiryThreadIntervalSeconds',
      /must be at least 0.01 \(10 ms\), got 0.001/,
    ],
    [{ diskExpiryThreadIntervalSeconds: 1e-9 }, 'diskExpiryThreadIntervalSeconds', /must be at least 0.01/],
    [{ diskSpoolBufferSizeMB: -1 }, 'diskSpoolBufferSizeMB', /greater than 0/],
    // Said to be too large, not "must be a whole number of bytes" (found by the outside attack).
    [{ maxBytesLocalHeap: 2 ** 53 }, 'maxBytesLocalHeap', /is too large \(at most 9007199254740991 bytes\)/],
    [{ maxBytesLocalHeap: '8192t' }, 'maxBytesLocalHeap', /is too large/],
    [{ maxElementsInMem: 10 }, 'maxElementsInMem', /is not a cache option; known fields: maxElementsInMemory/],
    [{ replication: {} }, 'replication', /configured through ClusterNode/],
    // Ehcache 2.5's names for the two bounds: the error says which field they are here.
    [
      { maxEntriesLocalHeap: 100 },
      'maxEntriesLocalHeap',
      /is not a cache option: it is Ehcache 2.5's name for maxElementsInMemory; write maxElementsInMemory$/,
    ],
    [
      { maxEntriesLocalDisk: 100 },
      'maxEntriesLocalDisk',
      /is not a cache option: it is Ehcache 2.5's name for maxElementsOnDisk; write maxElementsOnDisk$/,
    ],
    [{ statistics: true }, 'statistics', /is not a cache option: meshcache always keeps statistics/],
  ])('refuses %j, naming the cache and the field', (config, field, message) => {
    const error = configError(() => new CacheManager().addCache('Response Cache', config as never));
    expect(error.code).toBe('E_CONFIG');
    expect(error.cacheName).toBe('Response Cache');
    expect(error.field).toBe(field);
    expect(error.message).toContain('cache "Response Cache"');
    expect(error.message).toContain(`"${field}"`);
    expect(error.message).toMatch(message);
  });

  it('refuses a config that is not a plain object, naming what it was (a Map took every default without a word; found by the outside attack)', () => {
    class Options {
      timeToLiveSeconds = 5;
    }
    for (const [config, got] of [
      [new Map([['timeToLiveSeconds', 5]]), 'an instance of Map'],
      [new Options(), 'an instance of Options'],
      [Object.create({ timeToLiveSeconds: 5 }), 'an object that inherits its fields'],
    ] as const) {
      const error = configError(() => new CacheManager().addCache('c', config as never));
      expect(error.field).toBe('(config)');
      expect(error.message).toContain(
        `must be a plain object of cache options ({ timeToLiveSeconds: 300 }), got ${got}`,
      );
    }
    // A JSON-parsed object, a literal and one without a prototype are plain.
    new CacheManager().addCache('c', JSON.parse('{"timeToLiveSeconds": 5}'));
    new CacheManager().addCache('c', Object.assign(Object.create(null), { timeToLiveSeconds: 5 }));
  });

  it('refuses a config that is not an object', () => {
    const error = configError(() => new CacheManager().addCache('c', 'big' as never));
    expect(error.message).toMatch(/must be an object/);
  });

  it('refuses a duplicate name, naming it', () => {
    const manager = new CacheManager();
    manager.addCache('Response Cache');
    const error = configError(() => manager.addCache('Response Cache'));
    expect(error.field).toBe('name');
    expect(error.message).toBe(
      'cache "Response Cache": field "name" is already used by another cache of this CacheManager',
    );
  });

  it('refuses an empty name', () => {
    expect(() => new CacheManager().addCache('  ')).toThrow(ConfigError);
  });

  it('refuses a disk tier without a diskStorePath', () => {
    const error = configError(() => new CacheManager().addCache('c', { overflowToDisk: true }));
    expect(error.field).toBe('overflowToDisk');
    expect(error.message).toMatch(/no diskStorePath/);
  });

  it('refuses a diskStorePath starting with ~, which only a shell expands (helper-120: it made a directory named "~")', () => {
    for (const path of ['~', '~/meshcache']) {
      const error = configError(() => new CacheManager({ diskStorePath: path }));
      expect(error.field).toBe('diskStorePath');
      expect(error.message).toMatch(/starts with ~, which only a shell expands .*write the whole path/);
    }
    // A ~ anywhere else is an ordinary character of a path.
    expect(() => new CacheManager({ diskStorePath: '/tmp/~backup' })).not.toThrow();
    expect(() => new CacheManager({ diskStorePath: '~backup' })).not.toThrow();
  });

  it('leaves nothing behind when a config is refused', () => {
    const manager = new CacheManager();
    configError(() => manager.addCache('c', { timeToLiveSeconds: -1 }));
    expect(manager.cacheNames()).toEqual([]);
    expect(manager.addCache('c').name).toBe('c');
  });
});

describe('manager options', () => {
  it('refuses unknown options and wrong types, naming the option', () => {
    expect(() => new CacheManager({ diskstorepath: '/tmp' } as never)).toThrow(
      /option "diskstorepath" is not a CacheManager option/,
    );
    expect(() => new CacheManager({ clock: 5 } as never)).toThrow(/option "clock" must be a function/);
    expect(() => new CacheManager({ logger: { info() {} } } as never)).toThrow(/logger.debug is not a function/);
    expect(() => new CacheManager({ tombstoneRetentionSeconds: -1 })).toThrow(/tombstoneRetentionSeconds/);
  });
});
