import { afterEach, describe, expect, it } from 'vitest';
import { type CacheEvent, CacheManager, type Version } from '../src/index.js';
import { DeferredValue, DeferredValues, replicaPortOf } from '../src/internal.js';
import { ManualClock } from '../src/testing.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

/** Values as strings kept aside, with a log of what the store asked of each. */
class LoggedValues extends DeferredValues<string> {
  readonly log: string[] = [];
  constructor(readonly texts: readonly string[]) {
    super();
  }
  override resolve(index: number): string {
    this.log.push(`resolve ${index}`);
    return this.texts[index] as string;
  }
  override estimatedBytes(index: number): number {
    return (this.texts[index] as string).length + 5;
  }
  override hold(index: number): void {
    this.log.push(`hold ${index}`);
  }
  override release(index: number): void {
    this.log.push(`release ${index}`);
  }
}

const version = (time: number): Version => ({ time, counter: 0, node: 'peer' });
const managers: CacheManager[] = [];

function cacheOf(config: Parameters<CacheManager['addCache']>[1] = {}) {
  const clock = new ManualClock();
  const manager = new CacheManager({ clock: clock.now });
  managers.push(manager);
  const cache = manager.addCache<string>('c', config);
  return { cache, port: replicaPortOf(cache) };
}

const put = (port: ReturnType<typeof cacheOf>['port'], key: string, value: DeferredValue<string> | string, time = 1) =>
  port.applyPut(key, value as string, version(time), 0, 0, 0);

afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.shutdown()));
  removeTempDirs();
});

describe('a value a peer sent, held deferred', () => {
  it('is held unread, and decoded once by the first read; later reads answer the same string', () => {
    const { cache, port } = cacheOf();
    const values = new LoggedValues(['first', 'second']);
    expect(put(port, 'a', new DeferredValue(values, 0))).toBe('applied');
    put(port, 'b', new DeferredValue(values, 1));
    expect(values.log).toEqual(['hold 0', 'hold 1']);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBe('first');
    expect(cache.get('a')).toBe('first');
    expect(values.log).toEqual(['hold 0', 'hold 1', 'resolve 0']);
  });

  it("is resolved by every kind of read: get, peekEntry, a replicator's entries", () => {
    const { cache, port } = cacheOf();
    const values = new LoggedValues(['p', 'q', 'r', 's']);
    for (let i = 0; i < 4; i++) put(port, `k${i}`, new DeferredValue(values, i));
    expect(cache.get('k0')).toBe('p');
    expect(cache.peekEntry('k1')?.value).toBe('q');
    expect([...port.entries()].map((entry) => entry.value).sort()).toEqual(['p', 'q', 'r', 's']);
    expect(values.log.filter((line) => line.startsWith('resolve')).sort()).toEqual([
      'resolve 0',
      'resolve 1',
      'resolve 2',
      'resolve 3',
    ]);
  });

  it('is released when overwritten, removed or evicted unread, and when it arrives stale; never decoded for it', () => {
    const { cache, port } = cacheOf({ maxElementsInMemory: 2 });
    const values = new LoggedValues(['a0', 'a1', 'b', 'c', 'old']);
    put(port, 'a', new DeferredValue(values, 0), 1);
    put(port, 'a', new DeferredValue(values, 1), 2); // overwrites 0 unread
    put(port, 'b', new DeferredValue(values, 2), 2);
    cache.remove('b'); // removes 2 unread
    put(port, 'c', new DeferredValue(values, 3), 2);
    expect(put(port, 'a', new DeferredValue(values, 4), 1)).toBe('stale');
    expect(values.log).toEqual(['hold 0', 'hold 1', 'release 0', 'hold 2', 'release 2', 'hold 3', 'release 4']);
    // A third key evicts one of the two held (LRU): no listener names its value, so it is not decoded.
    put(port, 'd', 'plain', 3);
    expect(cache.size).toBe(2);
    expect(values.log.slice(7)).toEqual(['release 1']);
  });

  it('is resolved at once where a listener hears the put, and the event carries the string', () => {
    const { cache, port } = cacheOf();
    const events: CacheEvent[] = [];
    cache.on('put', (event) => events.push(event as CacheEvent));
    const values = new LoggedValues(['heard']);
    put(port, 'k', new DeferredValue(values, 0));
    expect(events.map((event) => event.value)).toEqual(['heard']);
    expect(values.log).toEqual(['resolve 0']);
    expect(cache.get('k')).toBe('heard');
  });

  it('stays held where the listeners of puts and removals hear local changes only', () => {
    const { cache, port } = cacheOf();
    const local: string[] = [];
    for (const type of ['put', 'update', 'remove', 'expire'] as const) {
      cache.on(type, (event) => local.push(`${event.type} ${String(event.value)}`), { origin: 'local' });
    }
    const values = new LoggedValues(['first', 'second', 'third']);
    put(port, 'a', new DeferredValue(values, 0));
    put(port, 'a', new DeferredValue(values, 1), 2);
    put(port, 'b', new DeferredValue(values, 2));
    // A peer's removal: a listener of local removals is not handed the value, so it is not decoded.
    expect(port.applyRemote({ type: 'remove', key: 'b', version: version(3) })).toBe('applied');
    expect(values.log).toEqual(['hold 0', 'hold 1', 'release 0', 'hold 2', 'release 2']);
    expect(cache.get('a')).toBe('second');
    cache.put('a', 'mine');
    expect(local).toEqual(['update mine']);
    // A listener of a peer's puts is handed the value: it is decoded as it arrives.
    const remote: string[] = [];
    cache.on('put', (event) => remote.push(String(event.value)), { origin: 'remote' });
    const heard = new LoggedValues(['heard']);
    put(port, 'c', new DeferredValue(heard, 0));
    expect(heard.log).toEqual(['resolve 0']);
    expect(remote).toEqual(['heard']);
  });

  it('is decoded for a listener that came after it was stored: remove, evict and expire name the string', () => {
    const clock = new ManualClock();
    const manager = new CacheManager({ clock: clock.now });
    managers.push(manager);
    const cache = manager.addCache<string>('c', { maxElementsInMemory: 2, timeToLiveSeconds: 10 });
    const port = replicaPortOf(cache);
    const values = new LoggedValues(['removed', 'evicted', 'expired']);
    port.applyPut('a', new DeferredValue(values, 0) as unknown as string, version(1), clock.now(), 10, 0);
    port.applyPut('b', new DeferredValue(values, 1) as unknown as string, version(1), clock.now(), 10, 0);
    const events: string[] = [];
    for (const type of ['remove', 'evict', 'expire'] as const) {
      cache.on(type, (event) => events.push(`${event.type} ${String(event.value)}`));
    }
    cache.remove('a');
    port.applyPut('c', new DeferredValue(values, 2) as unknown as string, version(1), clock.now(), 10, 0);
    cache.put('d', 'plain'); // evicts b, the least recently used
    clock.advance(11_000);
    expect(cache.get('c')).toBeUndefined(); // found expired
    expect(events).toEqual(['remove removed', 'evict evicted', 'expire expired']);
  });

  it('is released by a clear, so that a frame shared with another cache is not kept for it', () => {
    const { cache, port } = cacheOf();
    const values = new LoggedValues(['a', 'b']);
    put(port, 'a', new DeferredValue(values, 0));
    put(port, 'b', new DeferredValue(values, 1));
    cache.removeAll();
    expect(values.log).toEqual(['hold 0', 'hold 1', 'release 0', 'release 1']);
  });

  it('counts its estimate against maxBytesLocalHeap, and is evicted by it, without decoding it', () => {
    const { cache, port } = cacheOf({ maxBytesLocalHeap: '1k' });
    const values = new LoggedValues(['x'.repeat(300), 'y'.repeat(300), 'z'.repeat(300)]);
    for (let i = 0; i < 3; i++) put(port, `k${i}`, new DeferredValue(values, i), 1 + i);
    // Each weighs 100 + 2 + 305 bytes: two fit in 1,000, the third evicts the first.
    expect(cache.size).toBe(2);
    expect(cache.statistics().memoryBytes).toBe(2 * (100 + 2 + 305));
    expect(values.log).toEqual(['hold 0', 'hold 1', 'hold 2', 'release 0']);
  });

  it('is resolved before a disk tier writes it', () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const manager = new CacheManager({ clock: clock.now, diskStorePath: dir });
    managers.push(manager);
    const cache = manager.addCache<string>('c', { overflowToDisk: true, maxElementsInMemory: 1 });
    const port = replicaPortOf(cache);
    const values = new LoggedValues(['on disk', 'second']);
    put(port, 'a', new DeferredValue(values, 0));
    put(port, 'b', new DeferredValue(values, 1));
    expect(values.log).toEqual(['resolve 0', 'resolve 1']);
    expect(cache.get('a')).toBe('on disk');
    expect(cache.get('b')).toBe('second');
  });
});
