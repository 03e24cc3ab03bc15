/**
 * What KeyvMeshcache promises beyond Keyv's suite: a Keyv TTL is a meshcache TTL (expiry without
 * Keyv reading, on the cache's injected clock), no TTL keeps the cache's settings, namespaces are
 * key prefixes and clear() touches only its own, reads through `has` and the iterator are quiet,
 * values are stored as Keyv hands them, and bad input is a clear error.
 */
import { type CacheEvent, CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { ManualClock } from '@meshcache/core/testing';
import Keyv, { type KeyvStoreAdapter } from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyvMeshcache } from '../src/index.js';

const managers: CacheManager[] = [];
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
});

function setup(config: Parameters<CacheManager['addCache']>[1] = {}) {
  const clock = new ManualClock();
  const manager = new CacheManager({ clock: clock.now });
  managers.push(manager);
  const cache = manager.addCache('keyv', config);
  return { clock, cache, store: new KeyvMeshcache(cache) };
}

describe('KeyvMeshcache', () => {
  it('a Keyv TTL in milliseconds is the entry’s meshcache TTL: it expires on the cache’s clock, with an expire event', async () => {
    const { clock, cache, store } = setup({ timeToLiveSeconds: 600, timeToIdleSeconds: 60 });
    const expired: CacheEvent[] = [];
    cache.on('expire', (event) => expired.push(event));
    await store.set('keyv:token', 'eyJ', 1500);
    expect(cache.peekEntry('keyv:token')).toMatchObject({ timeToLiveSeconds: 1.5, timeToIdleSeconds: 0 });
    clock.advance(1500);
    expect(cache.get('keyv:token')).toBe('eyJ'); // at the deadline it is still alive (strict, as in Ehcache)
    clock.advance(1);
    expect(cache.evictExpiredElements()).toBe(1); // the sweep finds it: nobody had to read it
    expect(expired.map((event) => event.key)).toEqual(['keyv:token']);
  });

  it('without a TTL (or with 0, which Keyv sends as none) the entry takes the cache’s own settings', async () => {
    const { cache, store } = setup({ timeToLiveSeconds: 600, timeToIdleSeconds: 60 });
    const keyv = new Keyv({ store });
    await keyv.set('a', 1);
    await keyv.set('b', 2, 0);
    await store.set('keyv:c', '3', 0);
    for (const key of ['keyv:a', 'keyv:b', 'keyv:c']) {
      expect(cache.peekEntry(key)).toMatchObject({ timeToLiveSeconds: 600, timeToIdleSeconds: 60 });
    }
  });

  it('Keyv’s default TTL and setMany TTLs reach the cache too', async () => {
    const { cache, store } = setup();
    const keyv = new Keyv({ store, ttl: 30_000 });
    await keyv.set('a', 1);
    expect(
      await keyv.setMany([
        { key: 'b', value: 2, ttl: 5000 },
        { key: 'c', value: 3 },
      ]),
    ).toEqual([true, true]);
    expect(cache.peekEntry('keyv:a')?.timeToLiveSeconds).toBe(30);
    expect(cache.peekEntry('keyv:b')?.timeToLiveSeconds).toBe(5);
    expect(cache.peekEntry('keyv:c')?.timeToLiveSeconds).toBe(30);
  });

  it('stores Keyv’s serialised string, and the { value, expires } object as it is when Keyv has no serializer', async () => {
    const { cache, store } = setup();
    const value = { status: 200, headers: { etag: '"x"' } };
    await new Keyv({ store }).set('json', value);
    expect(cache.get('keyv:json')).toBe('{"value":{"status":200,"headers":{"etag":"\\"x\\""}}}');

    const raw = new Keyv({ store: new KeyvMeshcache(cache), serialize: undefined, deserialize: undefined });
    await raw.set('object', value);
    expect(cache.get('keyv:object')).toEqual({ value, expires: undefined });
    expect((cache.get('keyv:object') as { value: unknown }).value).toBe(value); // the same object, not a copy
    expect(await raw.get('object')).toBe(value);
  });

  it('namespaces are key prefixes in one cache; clear() removes its own namespace only, one remove each', async () => {
    const { cache, store } = setup();
    const orders = new Keyv({ store, namespace: 'orders' });
    const users = new Keyv({ store: new KeyvMeshcache(cache), namespace: 'users' });
    await orders.set('1', 'o1');
    await orders.set('2', 'o2');
    await users.set('1', 'u1');
    cache.put('unrelated', 'kept');
    expect(cache.keys().sort()).toEqual(['orders:1', 'orders:2', 'unrelated', 'users:1']);
    const events: string[] = [];
    for (const type of ['remove', 'removeAll'] as const)
      cache.on(type, (event) => events.push(`${type} ${event.key ?? ''}`));
    await orders.clear();
    expect(events.sort()).toEqual(['remove orders:1', 'remove orders:2']);
    expect(cache.keys().sort()).toEqual(['unrelated', 'users:1']);
    expect(await users.get('1')).toBe('u1');
  });

  it('without a namespace, keys are stored as given and clear() is one removeAll', async () => {
    const { cache, store } = setup();
    const keyv = new Keyv({ store, namespace: undefined });
    await keyv.set('plain', 1);
    expect(cache.keys()).toEqual(['plain']);
    const events: string[] = [];
    cache.on('removeAll', (event) => events.push(event.type));
    cache.on('remove', (event) => events.push(event.type));
    await keyv.clear();
    expect(events).toEqual(['removeAll']);
    expect(cache.size).toBe(0);
  });

  it('get is a meshcache access (a hit or a miss); has, hasMany and the iterator are quiet', async () => {
    const { cache, store } = setup();
    const keyv = new Keyv({ store });
    await keyv.set('a', 1);
    expect(await keyv.has('a')).toBe(true);
    expect(await keyv.has(['a', 'b'])).toEqual([true, false]);
    const iterated = [];
    for await (const entry of store.iterator('keyv')) iterated.push(entry);
    expect(iterated).toEqual([['keyv:a', '{"value":1}']]);
    expect(cache.statistics()).toMatchObject({ hits: 0, misses: 0 });
    expect(await keyv.get('a')).toBe(1);
    expect(await keyv.get('b')).toBeUndefined();
    expect(cache.statistics()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('delete answers whether the key was held; deleteMany whether any was', async () => {
    const { store } = setup();
    const keyv = new Keyv({ store });
    await keyv.set('a', 1);
    await keyv.set('b', 2);
    expect(await keyv.delete('a')).toBe(true);
    expect(await keyv.delete('a')).toBe(false);
    expect(await keyv.delete(['a', 'b', 'c'])).toBe(true);
    expect(await keyv.delete(['a', 'b'])).toBe(false);
  });

  it('disconnect leaves the cache open: the application owns it', async () => {
    const { cache, store } = setup();
    const keyv = new Keyv({ store });
    await keyv.disconnect();
    cache.put('still', 'open');
    expect(cache.get('still')).toBe('open');
  });

  it('a negative TTL writes a value already expired, as with Keyv’s own stores: the older value does not stay readable', async () => {
    const { cache, store } = setup({ timeToLiveSeconds: 600 });
    const keyv = new Keyv({ store });
    const errors: unknown[] = [];
    keyv.on('error', (error) => errors.push(error));
    await keyv.set('token', 'old');
    // A TTL computed from an expiry time that has passed (exp - Date.now()): Keyv's Map answers
    // true and reads nothing; the store refused the write and left 'old' readable for 10 minutes.
    expect(await keyv.set('token', 'new', -5)).toBe(true);
    expect(await keyv.get('token')).toBeUndefined();
    expect(await keyv.has('token')).toBe(false);
    await keyv.set('a', 1);
    expect(
      await keyv.setMany([
        { key: 'a', value: 2, ttl: -1 },
        { key: 'b', value: 3, ttl: Number.NEGATIVE_INFINITY },
        { key: 'c', value: 4 },
      ]),
    ).toEqual([true, true, true]);
    expect(cache.keys()).toEqual(['keyv:c']);
    expect(errors).toEqual([]);
  });

  it('an Infinity TTL is an eternal entry, as Keyv’s own stores never expire it', async () => {
    const { clock, cache, store } = setup({ timeToLiveSeconds: 600, timeToIdleSeconds: 60 });
    const keyv = new Keyv({ store });
    expect(await keyv.set('forever', 'v', Number.POSITIVE_INFINITY)).toBe(true);
    expect(await keyv.setMany([{ key: 'also', value: 'w', ttl: Number.POSITIVE_INFINITY }])).toEqual([true]);
    clock.advance(3_600_000);
    expect(cache.evictExpiredElements()).toBe(0);
    expect(await keyv.get(['forever', 'also'])).toEqual(['v', 'w']);
  });

  it('a TTL that is not a number is an error naming it: the store rejects, Keyv answers false and emits it', async () => {
    const { cache, store } = setup();
    await expect(store.set('k', 'v', Number.NaN)).rejects.toThrow(
      "KeyvMeshcache: ttl must be a number of milliseconds (0 or none: the cache's own settings), got NaN",
    );
    await expect(store.set('k', 'v', '1000' as never)).rejects.toThrow(/got 1000/);
    await expect(
      store.setMany([
        { key: 'ok', value: 1 },
        { key: 'bad', value: 2, ttl: Number.NaN },
      ]),
    ).rejects.toThrow(/got NaN/);
    expect(cache.size).toBe(0); // setMany checks every TTL before storing anything
    const keyv = new Keyv({ store });
    const errors: unknown[] = [];
    keyv.on('error', (error) => errors.push(error));
    expect(await keyv.set('k', 'v', Number.NaN)).toBe(false);
    expect(String(errors[0])).toMatch(/ttl must be a number of milliseconds/);
  });

  it('setMany writes every entry the cache takes, answers false for one it refuses, and emits why; Keyv re-emits it', async () => {
    const { cache, store } = setup();
    replicaPortOf(cache).requireEncodableValues('the cache is replicated');
    const refused = { value: { callback: () => 1 } }; // a function: msgpack cannot carry it
    const errors: unknown[] = [];
    store.on('error', (error) => errors.push(error));
    expect(
      await store.setMany([
        { key: 'a', value: { value: 1 } },
        { key: 'b', value: refused },
        { key: 'c', value: { value: 3 } },
      ]),
    ).toEqual([true, false, true]);
    expect(cache.keys().sort()).toEqual(['a', 'c']);
    expect(errors).toEqual([expect.objectContaining({ name: 'ValueNotEncodableError' })]);

    const keyv = new Keyv({ store, serialize: undefined, deserialize: undefined });
    const keyvErrors: unknown[] = [];
    keyv.on('error', (error) => keyvErrors.push(error));
    expect(
      await keyv.setMany([
        { key: 'd', value: 4 },
        { key: 'e', value: () => 5 },
      ]),
    ).toEqual([true, false]);
    expect(await keyv.get('d')).toBe(4);
    expect(keyvErrors).toEqual([expect.objectContaining({ name: 'ValueNotEncodableError' })]);

    // With no one listening, the refusal is the false alone: the call still resolves.
    const quiet = setup();
    replicaPortOf(quiet.cache).requireEncodableValues('the cache is replicated');
    expect(
      await quiet.store.setMany([
        { key: 'x', value: refused },
        { key: 'y', value: 1 },
      ]),
    ).toEqual([false, true]);
  });

  it('refuses anything but a meshcache Cache, saying what it got', () => {
    const manager = new CacheManager();
    managers.push(manager);
    expect(() => new KeyvMeshcache(manager.getCache('missing') as never)).toThrow(
      'KeyvMeshcache needs a meshcache Cache (node.manager.getCache(name) or manager.addCache(name)), got undefined (no cache of that name?)',
    );
    expect(() => new KeyvMeshcache(new Map() as never)).toThrow(/needs a meshcache Cache .* got object/);
  });

  it('is a KeyvStoreAdapter (cacheable takes one as its primary or secondary), and setMany still answers a boolean per entry', async () => {
    const { store } = setup();
    // Type-checked by tsc: before, setMany's Promise<boolean[]> was not Keyv's Promise<void>, so
    // `new Cacheable({ secondary: new KeyvMeshcache(cache) })` did not compile.
    const adapter: KeyvStoreAdapter = store;
    expect(adapter).toBe(store);
    expect(
      await store.setMany([
        { key: 'a', value: 1 },
        { key: 'b', value: 2, ttl: 1000 },
      ]),
    ).toEqual([true, true]);
  });

  it('takes a typed cache: Cache<string> (what Keyv stores with its serializer) or a cache of objects', async () => {
    const manager = new CacheManager();
    managers.push(manager);
    // Type-checked by tsc: before, only a Cache<unknown> was accepted (Cache is invariant in its value).
    const strings = new KeyvMeshcache(manager.addCache<string>('strings'));
    const objects = new KeyvMeshcache(manager.addCache<{ value: { user: string } }>('objects'));
    await new Keyv({ store: strings }).set('s', 'v');
    expect(strings.cache.get('keyv:s')).toBe('{"value":"v"}');
    const raw = new Keyv({ store: objects, serialize: undefined, deserialize: undefined });
    await raw.set('o', { user: 'ada' });
    expect(objects.cache.get('keyv:o')?.value).toEqual({ user: 'ada' });
  });

  it('tells Keyv who it is: dialect, cache name, and a url string (Keyv reads it)', () => {
    const { store } = setup();
    expect(store.opts).toEqual({ dialect: 'meshcache', url: 'meshcache:', cache: 'keyv' });
  });
});
