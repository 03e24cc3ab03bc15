/**
 * A disk that fills, for real: the store on a 3 MB tmpfs (root, as CI runs), and, for
 * contributors without root, on any file system under a file-size limit (RLIMIT_FSIZE, set on
 * this very process with prlimit). lmdb-js 3 grows its map by itself, so lmdb's own MDB_MAP_FULL
 * cannot be provoked; the kernel refusing to grow the file (EFBIG) fails lmdb's page writes
 * exactly as a full disk does (ENOSPC). Both run the same story: a cache with overflowToDisk and
 * diskPersistent, a spool of 1 MB, and 12,000 puts of 500 bytes (6 MB):
 *
 * - no put throws, and the disk tier turns degraded with one log line;
 * - the spool stays within its bound; every key written is either readable or left with `evict`
 *   (never both, never neither), `size` counts exactly the readable ones, and a key whose older
 *   value was on disk before the disk filled never reads that older value again;
 * - when space returns (the tmpfs grows, the limit is raised) writing resumes by itself, with one
 *   log line, and a restart finds what the cache held;
 * - shutdown while the disk is still full completes and reports what it could not persist.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cache, CacheManager, type Logger, type ShutdownReport } from '../src/index.js';
import { waitFor } from './processes.js';

const MB = 1024 * 1024;
const PUTS = 12_000;
const VALUE = 'v'.repeat(500);
const OLD_KEYS = 1000;
const CONFIG = { maxElementsInMemory: 100, overflowToDisk: true, diskPersistent: true, diskSpoolBufferSizeMB: 1 };

interface Filler {
  /** Makes the directory the store goes in; its disk fills at about 3 MB. */
  setUp(): string;
  /** Gives the space back (grows the tmpfs, raises the limit). */
  free(): void;
  /** Undoes everything, also after a failure. */
  tearDown(): void;
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error}`);
}

/** A 3 MB tmpfs, mounted here and unmounted by its path. Needs root (CI runs as root). */
function tmpfs(): Filler {
  let dir: string | undefined;
  let mounted = false;
  return {
    setUp() {
      dir = mkdtempSync(join(tmpdir(), 'meshcache-full-'));
      run('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
      mounted = true;
      return join(dir, 'store');
    },
    free() {
      run('mount', ['-o', 'remount,size=64m', dir as string]);
    },
    tearDown() {
      if (dir === undefined) return;
      if (mounted) {
        const plain = spawnSync('umount', [dir]);
        if (plain.status !== 0) run('umount', ['-l', dir]); // a store a failed test left open
      }
      rmSync(dir, { recursive: true, force: true });
      dir = undefined;
      mounted = false;
    },
  };
}

/** This process may not grow any file past 3 MB (RLIMIT_FSIZE's soft limit; no root needed). */
function fileSizeLimit(): Filler {
  let dir: string | undefined;
  const pid = String(process.pid);
  const before = spawnSync('prlimit', ['--pid', pid, '--fsize', '--raw', '--noheadings', '--output=SOFT'], {
    encoding: 'utf8',
  }).stdout.trim();
  const restore = () => run('prlimit', ['--pid', pid, `--fsize=${before === '' ? 'unlimited' : before}:`]);
  return {
    setUp() {
      dir = mkdtempSync(join(tmpdir(), 'meshcache-fsize-'));
      run('prlimit', ['--pid', pid, `--fsize=${3 * MB}:`]);
      return join(dir, 'store');
    },
    free: restore,
    tearDown() {
      restore();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

const logged: string[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn: (_obj, msg) => logged.push(`warn ${msg}`),
  error: (_obj, msg) => logged.push(`error ${msg}`),
};
const managers: CacheManager[] = [];
let filler: Filler | undefined;

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
  filler?.tearDown();
  filler = undefined;
  logged.length = 0;
});

function open(path: string): { manager: CacheManager; cache: Cache<string> } {
  const manager = new CacheManager({ diskStorePath: path, logger });
  managers.push(manager);
  return { manager, cache: manager.addCache<string>('c', CONFIG) };
}

const lines = (start: string) => logged.filter((line) => line.startsWith(start));

/**
 * Fills the disk under a cache: old keys first (on disk before it fills), then 12,000 puts, the
 * old keys rewritten among them. Yields to the event loop as a server would between requests.
 */
async function fill(cache: Cache<string>) {
  const evicted = new Set<string>();
  cache.on('evict', (event) => {
    evicted.add(event.key as string);
  });
  for (let i = 0; i < OLD_KEYS; i++) cache.put(`old${i}`, 'old');
  await waitFor(() => (cache.statistics().diskPendingWrites === 0 ? true : undefined), 'the old keys to reach disk');
  let mostPending = 0;
  for (let i = 0; i < PUTS; i++) {
    cache.put(`k${i}`, `${i}${VALUE}`);
    if (i % 12 === 0) cache.put(`old${i / 12}`, `new${VALUE}`);
    mostPending = Math.max(mostPending, cache.statistics().diskPendingBytes);
    if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return { evicted, mostPending };
}

/**
 * Every key written is held with its last value or was evicted, never both, never neither. Read
 * quietly: a read would promote entries into memory and evict others from it, changing the state.
 */
function checkHeld(cache: Cache<string>, evicted: Set<string>): number {
  let readable = 0;
  const wrong: string[] = [];
  for (let i = 0; i < PUTS; i++) {
    const key = `k${i}`;
    const value = cache.peekEntry(key)?.value;
    if (value !== undefined) readable++;
    if (value === undefined ? !evicted.has(key) : value !== `${i}${VALUE}` || evicted.has(key)) wrong.push(key);
  }
  for (let i = 0; i < OLD_KEYS; i++) {
    const key = `old${i}`;
    const value = cache.peekEntry(key)?.value;
    if (value !== undefined) readable++;
    if (value === undefined ? !evicted.has(key) : value !== `new${VALUE}` || evicted.has(key)) wrong.push(key);
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  return readable;
}

describe.each([
  ['a 3 MB tmpfs (root)', tmpfs],
  ['a 3 MB file-size limit (RLIMIT_FSIZE, no root needed)', fileSizeLimit],
])('a disk tier whose disk fills: %s', (_name, make) => {
  it('keeps accepting writes from memory, stays within its spool bound, tells the truth, and resumes when space returns', async () => {
    filler = make();
    const path = filler.setUp();
    const { manager, cache } = open(path);
    const { evicted, mostPending } = await fill(cache);

    const stats = cache.statistics();
    expect(stats.diskState).toBe('degraded');
    expect(lines('error disk tier degraded')).toHaveLength(1);
    expect(logged).toHaveLength(1); // not one line per commit
    expect(mostPending).toBeLessThanOrEqual(MB + 600);
    expect(stats.diskPendingBytes).toBeLessThanOrEqual(MB + 600);
    expect(stats.diskWritesDropped).toBeGreaterThan(0);
    expect(evicted.size).toBe(stats.evictions);
    const readable = checkHeld(cache, evicted);
    expect(cache.size).toBe(readable);
    expect(cache.keys()).toHaveLength(readable);
    for (let i = PUTS - 100; i < PUTS; i++) expect(cache.get(`k${i}`)).toBe(`${i}${VALUE}`);

    filler.free();
    await waitFor(() => (cache.statistics().diskState === 'ok' ? true : undefined), 'writing to resume', 30_000);
    expect(lines('warn disk tier recovered')).toHaveLength(1);
    expect(cache.statistics().diskPendingWrites).toBe(0);
    cache.put('after', 'recovered');
    expect(checkHeld(cache, evicted)).toBe(readable);
    const report: ShutdownReport = await manager.shutdown();
    expect(report).toEqual({ notPersisted: [] });

    const again = open(path).cache; // as the restarted process finds it
    expect(again.size).toBe(readable + 1);
    expect(again.get('after')).toBe('recovered');
    expect(checkHeld(again, evicted)).toBe(readable);
    expect(logged).toHaveLength(2);
  }, 120_000);

  it('shuts down while the disk is full: completes, and reports what it could not persist', async () => {
    filler = make();
    const path = filler.setUp();
    const { manager, cache } = open(path);
    await fill(cache);
    const pending = cache.statistics().diskPendingWrites;
    expect(pending).toBeGreaterThan(0);
    const report = await manager.shutdown();
    expect(report.notPersisted).toEqual([
      { cache: 'c', entries: expect.any(Number), removals: expect.any(Number), reason: expect.any(String) },
    ]);
    const [lost] = report.notPersisted;
    expect((lost?.entries ?? 0) + (lost?.removals ?? 0)).toBeGreaterThan(0);
    expect(lines('error disk tier could not persist everything at shutdown')).toHaveLength(1);

    filler.free();
    mkdirSync(path, { recursive: true });
    const again = open(path).cache;
    // What the restart finds is what reached the disk: never an older value of a rewritten key,
    // unless its removal was reported as not persisted.
    let old = 0;
    for (let i = 0; i < OLD_KEYS; i++) if (again.get(`old${i}`) === 'old') old++;
    expect(old).toBeLessThanOrEqual(lost?.removals ?? 0);
    for (const key of again.keys()) {
      if (key.startsWith('k')) expect(again.get(key)).toBe(`${key.slice(1)}${VALUE}`);
    }
  }, 120_000);

  it('removes a cache while the disk is full: says what it could not persist, as shutdown does (it said nothing) (helper-120)', async () => {
    filler = make();
    const path = filler.setUp();
    const { manager, cache } = open(path);
    await fill(cache);
    expect(cache.statistics().diskPendingWrites).toBeGreaterThan(0);
    logged.length = 0;
    expect(await manager.removeCache('c')).toBe(true);
    expect(logged).toEqual([
      'error disk tier could not persist everything when its cache was removed: adding it again (or a restart) will not find these entries, and finds older values of the keys whose removals were not persisted',
    ]);
    // Told once: the shutdown after it has nothing more of that cache to report.
    expect(await manager.shutdown()).toEqual({ notPersisted: [] });
    expect(logged).toHaveLength(1);
  }, 120_000);
});
