/**
 * The contract every DiskStore meets (src/disk/disk-store.ts). Each implementation's test calls
 * describeDiskStoreConformance with a factory; a new store is not done until it passes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type DiskRecord, type DiskStore, MAX_DISK_KEY_BYTES } from '../src/disk/disk-store.js';

export interface DiskStoreHarness {
  readonly store: DiskStore;
  /** Releases whatever the store used (files, environments). */
  dispose(): Promise<unknown>;
}

export type DiskStoreFactory = (options: { spoolBytes: number }) => Promise<DiskStoreHarness> | DiskStoreHarness;

export function record(value: unknown, overrides: Partial<DiskRecord> = {}): DiskRecord {
  return {
    value,
    createdAt: 1_700_000_000_000,
    lastAccessedAt: 1_700_000_001_000,
    timeToLiveSeconds: 60,
    timeToIdleSeconds: 0,
    version: undefined,
    ...overrides,
  };
}

export function describeDiskStoreConformance(name: string, factory: DiskStoreFactory): void {
  describe(`${name}: disk store conformance`, () => {
    const open: DiskStoreHarness[] = [];
    const make = async (spoolBytes = 30 * 1024 * 1024) => {
      const harness = await factory({ spoolBytes });
      open.push(harness);
      return harness.store;
    };
    afterEach(async () => {
      for (const harness of open.splice(0)) await harness.dispose();
    });

    it('gives back every value type that may go to disk, as itself, with its metadata', async () => {
      const store = await make();
      const value = {
        text: 'hello',
        number: 1.5e12,
        nothing: null,
        flag: true,
        list: [1, 'two', { three: 3 }],
        body: Buffer.from('body bytes'),
        when: new Date(1_700_000_000_000),
        headers: new Map([['content-type', 'text/plain']]),
        tags: new Set(['a', 'b']),
      };
      const version = { time: 1_700_000_000_000, counter: 3, node: 'gw-1' };
      store.put('k', record(value, { version, timeToIdleSeconds: 30 }));
      const back = store.get('k');
      expect(back).toEqual(record(value, { version, timeToIdleSeconds: 30 }));
      expect(back?.value).not.toBe(value);
      const got = back?.value as typeof value;
      expect(got.headers).toBeInstanceOf(Map);
      expect(got.tags).toBeInstanceOf(Set);
      expect(got.when).toBeInstanceOf(Date);
      expect(Buffer.isBuffer(got.body)).toBe(true);
      await store.flush();
      expect(store.get('k')).toEqual(record(value, { version, timeToIdleSeconds: 30 }));
    });

    it("keeps whether a record uses its cache's lifespan, across a commit", async () => {
      const store = await make();
      store.put('cache-decides', record(1, { usesDefaults: true }));
      store.put('own', record(2));
      expect(await store.flush()).toBe(true);
      expect(store.get('cache-decides')?.usesDefaults).toBe(true);
      expect(store.get('own')?.usesDefaults).toBeUndefined();
    });

    it('reads see writes at once, before they are committed', async () => {
      const store = await make();
      store.put('a', record(1));
      expect(store.get('a')?.value).toBe(1);
      expect(store.has('a')).toBe(true);
      store.remove('a');
      expect(store.get('a')).toBeUndefined();
      expect(store.has('a')).toBe(false);
    });

    it('keeps the last write of a key, also across commits', async () => {
      const store = await make();
      store.put('a', record(1));
      await store.flush();
      store.put('a', record(2));
      store.put('a', record(3));
      expect(store.get('a')?.value).toBe(3);
      await store.flush();
      expect(store.get('a')?.value).toBe(3);
      store.remove('a');
      store.put('a', record(4));
      await store.flush();
      expect(store.get('a')?.value).toBe(4);
    });

    it('counts records, pending ones included, and never twice', async () => {
      const store = await make();
      store.put('a', record(1));
      store.put('b', record(2));
      store.put('a', record(3));
      expect(store.size).toBe(2);
      await store.flush();
      expect(store.size).toBe(2);
      expect(store.remove('a')).toBe(true);
      expect(store.remove('a')).toBe(false);
      expect(store.remove('never')).toBe(false);
      expect(store.size).toBe(1);
      await store.flush();
      expect(store.size).toBe(1);
    });

    it('lists keys and entries, committed and pending, without the removed ones', async () => {
      const store = await make();
      store.put('a', record(1));
      store.put('b', record(2));
      await store.flush();
      store.put('c', record(3));
      store.remove('a');
      expect([...store.keys()].sort()).toEqual(['b', 'c']);
      expect([...store.entries()].map(([key, r]) => `${key}=${String(r.value)}`).sort()).toEqual(['b=2', 'c=3']);
    });

    it('scans in key order, in slices, pending writes included', async () => {
      const store = await make();
      for (const key of ['d', 'a', 'c']) store.put(key, record(key));
      await store.flush();
      store.put('b', record('b'));
      store.remove('c');
      const first = store.scan(undefined, 2);
      expect(first.map(([key]) => key)).toEqual(['a', 'b']);
      expect(first[1]?.[1].value).toBe('b');
      expect(store.scan('b', 2).map(([key]) => key)).toEqual(['d']);
      expect(store.scan('d', 2)).toEqual([]);
    });

    it('clear removes everything', async () => {
      const store = await make();
      store.put('a', record(1));
      await store.flush();
      store.put('b', record(2));
      store.clear();
      expect(store.size).toBe(0);
      expect(store.get('a')).toBeUndefined();
      expect([...store.keys()]).toEqual([]);
      await store.flush();
      expect(store.size).toBe(0);
    });

    it('refuses a record msgpack cannot encode with E_VALUE_NOT_ENCODABLE, writing nothing', async () => {
      const store = await make();
      expect(() => store.put('k', record({ id: Symbol('not data') }))).toThrow(
        expect.objectContaining({ code: 'E_VALUE_NOT_ENCODABLE' }),
      );
      expect(store.has('k')).toBe(false);
      expect(store.size).toBe(0);
    });

    it('refuses a key past MAX_DISK_KEY_BYTES with E_INVALID_ARGUMENT, reads one as not held, and commits what follows', async () => {
      const store = await make();
      const longest = 'k'.repeat(MAX_DISK_KEY_BYTES);
      store.put(longest, record('fits'));
      expect(() => store.put(`${longest}k`, record('too long'))).toThrow(
        expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
      );
      // Within the bound in UTF-8, past it with the escape its control character takes.
      const escaped = `\u0000${'k'.repeat(MAX_DISK_KEY_BYTES - 1)}`;
      expect(() => store.put(escaped, record('too long'))).toThrow(
        expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
      );
      for (const key of [`${longest}k`, 'x'.repeat(100_000), escaped]) {
        expect(store.get(key)).toBeUndefined();
        expect(store.has(key)).toBe(false);
        expect(store.remove(key)).toBe(false);
      }
      store.put('after', record('after'));
      expect(await store.flush()).toBe(true);
      expect(store.state).toBe('ok');
      expect([...store.keys()].sort()).toEqual(['after', longest]);
      expect(store.get(longest)?.value).toBe('fits');
    });

    it('keeps keys with control characters as they are, listed, scanned and read after a commit', async () => {
      const store = await make();
      // lmdb's key encoding writes a string of 64 units or more as plain UTF-8, and reads a byte
      // of 0 to 3 as the end of a string part: such a key came back from its listing as an array.
      const keys = [
        `GET\u0000${'/orders/42?page=1&'.repeat(5)}`,
        `\u0001${'k'.repeat(100)}`,
        `a\u0004b${'c'.repeat(70)}`,
        `\u0003${'x'.repeat(MAX_DISK_KEY_BYTES - 4)}\u0002`, // at the bound: each of its two control characters counts two
        '\u0002short',
        'plain',
      ];
      for (const key of keys) store.put(key, record(key.length));
      expect(await store.flush()).toBe(true);
      const sorted = [...keys].sort();
      expect([...store.keys()].sort()).toEqual(sorted);
      for (const key of keys) expect(store.get(key)?.value).toBe(key.length);
      const scanned: string[] = [];
      for (
        let after: string | undefined, slice = store.scan(undefined, 2);
        slice.length > 0;
        slice = store.scan(after, 2)
      ) {
        for (const [key] of slice) scanned.push(key);
        after = slice[slice.length - 1]?.[0];
      }
      expect([...scanned].sort()).toEqual(sorted);
      expect(store.remove(keys[0] as string)).toBe(true);
      expect(await store.flush()).toBe(true);
      expect(store.has(keys[0] as string)).toBe(false);
      expect([...store.keys()].sort()).toEqual(sorted.filter((key) => key !== keys[0]));
    });

    it('never holds more pending bytes than the spool bound (plus one record)', async () => {
      const spoolBytes = 4096;
      const store = await make(spoolBytes);
      const value = 'x'.repeat(200);
      let most = 0;
      for (let i = 0; i < 500; i++) {
        store.put(`k${i}`, record(value));
        most = Math.max(most, store.pendingBytes);
      }
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(spoolBytes + 300);
      expect(store.size).toBe(500);
      await store.flush();
      expect(store.pendingBytes).toBe(0);
      expect(store.get('k499')?.value).toBe(value);
      expect(store.get('k0')?.value).toBe(value);
    });

    it('refuses writes once closed', async () => {
      const store = await make();
      store.put('a', record(1));
      await store.close();
      await store.close();
      expect(() => store.put('b', record(2))).toThrow(expect.objectContaining({ code: 'E_CACHE_CLOSED' }));
    });
  });
}
