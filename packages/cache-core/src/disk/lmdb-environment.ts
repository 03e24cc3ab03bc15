/**
 * One lmdb environment per CacheManager, under its diskStorePath, holding one database per cache.
 *
 * Opening it is where a user's mistakes surface, so each has a stable code and a message naming
 * the path (and the cache, when one asked for the disk):
 * - E_DISK_UNWRITABLE: the path cannot be created or written (or is a file, not a directory).
 * - E_DISK_LOCKED: another live process (or another CacheManager in this one) holds the store.
 *   lmdb itself lets processes share an environment; meshcache does not, because two managers
 *   evicting and sweeping the same entries would corrupt each other's accounting. The lock is a
 *   file holding the owner's pid; a lock left by a dead process is taken over, atomically: of
 *   processes racing for it exactly one wins (store-lock.ts has the protocol and its argument).
 * - A corrupt or foreign data file is not an error the process dies of: lmdb can crash the
 *   process outright on a data file that is not lmdb's, so an existing store is first opened in
 *   a child process. If the child fails, the file is moved aside (data.mdb.corrupt-<time>), the
 *   store starts empty, and the reason is logged with code E_DISK_CORRUPT.
 *
 * The store is private to its owner: directory 0700, files 0600, whatever the umask, and an
 * older store is made so when it is opened (file-modes.ts says how and why). diskStorePath is
 * always a directory, also when its name has a dot in it (lmdb would otherwise take
 * `store.v1` for a data file and put its lock file beside it, outside the private directory).
 *
 * Stored data is versioned. The environment records the format its records are written in (a
 * `meta` database: { format, release }). A store without the record was written by a release from
 * before formats were recorded, which wrote format 1: it is opened as such and the record added,
 * with a log line. A store in a format this release does not read (a newer release's) is never
 * misread: it is set aside like a corrupt one (data.mdb.format-<n>-<time>, E_DISK_FORMAT), and the
 * caches start empty. Format changes are documented in docs/configuration.md; a release reads the
 * previous format too (migrating it, with a log line), as the protocol policy asks of the wire.
 *
 * Not detected: damage deep inside an otherwise valid file, which lmdb has no checksums to see.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Database, type DatabaseOptions, open, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';
import { MeshcacheError } from '../errors.js';
import type { Logger } from '../logger.js';
import { type ModeChange, makeStoreDirectory, makeStorePrivate, STORE_FILE_MODE } from './file-modes.js';
import { escapeEarlierKeys } from './lmdb-keys.js';
import { LmdbDiskStore } from './lmdb-store.js';
import { RECORD_ENCODER_OPTIONS } from './record-codec.js';
import { acquireStoreLock, markStoreLockClosing, releaseStoreLock } from './store-lock.js';

const DATA_FILE = 'data.mdb';
/** lmdb's lock file (not meshcache's own lock, meshcache.lock). */
const LOCK_MDB = 'lock.mdb';
/** This package's release, recorded beside the format (for a person reading a set-aside store). */
const RELEASE = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
const PROBE_TIMEOUT_MS = 15_000;
/**
 * The signals lmdb dies of on a file it cannot read: a bad pointer or a page mapped past the
 * file's end (SIGSEGV, SIGBUS), a failed assertion (SIGABRT), and their kin. Any other that ends
 * the check came from outside and says nothing about the file: a Ctrl-C at the terminal (SIGINT,
 * which reached the check as it reached the process, and a server that traps SIGINT for a graceful
 * shutdown lived on to set a sound store aside as corrupt), a hang-up, the OOM killer's SIGKILL.
 */
const CRASH_SIGNALS: ReadonlySet<string> = new Set([
  'SIGSEGV',
  'SIGBUS',
  'SIGABRT',
  'SIGILL',
  'SIGFPE',
  'SIGTRAP',
  'SIGSYS',
]);
/** The format this release writes its records in (record-codec.ts), and reads. */
export const STORE_FORMAT = 1;
const META_DB = 'meta';

export interface OpenStoreOptions {
  readonly cacheName: string;
  /** Keep what the store holds across restarts; otherwise it is emptied when opened and closed. */
  readonly persistent: boolean;
  readonly spoolBytes: number;
}

export class LmdbEnvironment {
  readonly path: string;
  readonly #env: RootDatabase;
  readonly #logger: Logger;
  readonly #stores = new Map<string, LmdbDiskStore>();
  /**
   * Every cache whose database this environment has opened, closed since or not: lmdb keeps a
   * database's slot (one of maxDbs) until the environment closes, so a cache removed and another
   * added in its place takes a slot more.
   */
  readonly #opened = new Set<string>();
  #closed: Promise<void> | undefined;

  private constructor(path: string, env: RootDatabase, logger: Logger) {
    this.path = path;
    this.#env = env;
    this.#logger = logger;
  }

  /** @throws MeshcacheError E_DISK_UNWRITABLE or E_DISK_LOCKED. */
  static open(path: string, logger: Logger, requestedBy: string): LmdbEnvironment {
    prepareDirectory(path, requestedBy);
    acquireStoreLock(path, requestedBy);
    try {
      // Before anything is read: a store an older release made may be open to every local user.
      logModeChanges(logger, path, makeStorePrivate(path), 'existing');
      // lmdb crashes the process (SIGSEGV, not a word logged) on a lock file it may not write,
      // one another user owns, say; the check in a child below opens read-only and does not see it.
      for (const file of [DATA_FILE, LOCK_MDB]) {
        const at = join(path, file);
        if (existsSync(at)) accessSync(at, constants.R_OK | constants.W_OK);
      }
      if (existsSync(join(path, DATA_FILE))) setAsideIfUnreadable(path, logger);
      const env = open(lmdbOptions(path));
      recordFormat(env, path, logger);
      // lmdb made its files 0600 at most; only a umask that takes the owner's bits leaves work here.
      logModeChanges(logger, path, makeStorePrivate(path), 'new');
      return new LmdbEnvironment(path, env, logger);
    } catch (error) {
      releaseStoreLock(path);
      throw new MeshcacheError(
        'E_DISK_UNWRITABLE',
        `disk store for cache "${requestedBy}" at ${path} cannot be opened: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Whether `cacheName`'s database was opened in this environment (its slot is still taken). */
  hasOpened(cacheName: string): boolean {
    return this.#opened.has(cacheName);
  }

  /** Caches whose databases were opened in this environment, closed since or not. */
  get databasesOpened(): number {
    return this.#opened.size;
  }

  openStore<V>(options: OpenStoreOptions): LmdbDiskStore<V> {
    if (this.#stores.has(options.cacheName)) {
      // One environment is one manager's, and a manager adds a name once: the store is that of
      // a cache of this name removed from it and still closing (its last writes going down).
      throw new MeshcacheError(
        'E_DISK_LOCKED',
        `disk store for cache "${options.cacheName}" at ${this.path} is still open in this CacheManager: the cache of that name was removed and its store is still closing; await manager.removeCache("${options.cacheName}") before adding it again`,
      );
    }
    const name = `cache:${options.cacheName}`;
    // Before the store's own handle is opened: two handles of one database with different key
    // encodings interfere in lmdb (the re-keying, through a handle of raw bytes opened after the
    // store's own, changed nothing), and the store's handle, opened last, is the one that stays.
    const meta = this.#env.openDB<unknown, string>({ name: META_DB });
    const moved = escapeEarlierKeys(this.#env, name, meta);
    if (moved > 0) {
      this.#logger.info(
        { cache: options.cacheName, path: this.path, keys: moved },
        'disk store: long keys with control characters an earlier release wrote in a form lmdb does not read back, re-keyed (once)',
      );
    }
    // lmdb's typings leave out `encoder`, which lmdb passes on to msgpackr.
    const db = this.#env.openDB<unknown, string>({
      name,
      encoder: { ...RECORD_ENCODER_OPTIONS },
    } as unknown as DatabaseOptions & { name: string });
    this.#markLifetime(meta, db, options);
    const store = new LmdbDiskStore<V>(db, {
      cacheName: options.cacheName,
      path: this.path,
      spoolBytes: options.spoolBytes,
      logger: this.#logger,
      onClose: () => {
        try {
          // Emptied, and its mark gone: a store closed cleanly leaves nothing a later persistent
          // open must drop (nor does an earlier release's persistent cache of that name, opened
          // in between by a rollback, have its entries dropped at the next open of this one).
          if (!options.persistent) {
            meta.transactionSync(() => {
              db.clearSync();
              meta.removeSync(temporaryMark(options.cacheName));
            });
          }
        } finally {
          this.#stores.delete(options.cacheName);
        }
      },
    });
    this.#stores.set(options.cacheName, store as LmdbDiskStore);
    this.#opened.add(options.cacheName);
    return store;
  }

  /**
   * A temporary store (overflowToDisk without diskPersistent) is emptied when it opens, and its
   * database is marked temporary, so that a cache opening it as persistent later does not serve
   * what it holds: a process killed with kill -9 left a temporary store as it was, and a restart
   * with diskPersistent added took those entries (written by a cache that promised to keep none
   * across a restart, its removals and expiries since unseen) for kept ones. The mark goes once a
   * persistent cache emptied the database.
   *
   * Emptying and marking (or unmarking) are one transaction: a disk that fails midway leaves both
   * as they were (never an emptied database still marked, which would empty the persistent
   * entries written next at the following open, nor entries dropped without the warning), and
   * the cache does not open, with E_DISK_UNWRITABLE naming it and the path rather than lmdb's
   * bare words. A persistent cache without the mark writes nothing here.
   * @throws MeshcacheError E_DISK_UNWRITABLE
   */
  #markLifetime(meta: Database<unknown, string>, db: Database<unknown, string>, options: OpenStoreOptions): void {
    const mark = temporaryMark(options.cacheName);
    if (options.persistent && meta.get(mark) !== true) return;
    const left = options.persistent ? db.getCount() : 0;
    try {
      meta.transactionSync(() => {
        db.clearSync();
        if (!options.persistent) {
          if (meta.get(mark) !== true) meta.putSync(mark, true);
        } else {
          meta.removeSync(mark);
        }
      });
    } catch (error) {
      const what = options.persistent
        ? 'the temporary store left there (overflowToDisk without diskPersistent, by a process that did not close it) could not be emptied'
        : 'its temporary store could not be emptied';
      throw new MeshcacheError(
        'E_DISK_UNWRITABLE',
        `disk store for cache "${options.cacheName}" at ${this.path} cannot be opened: ${what}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (left > 0) {
      this.#logger.warn(
        { cache: options.cacheName, path: this.path, entries: left },
        'disk store: a temporary store (overflowToDisk without diskPersistent) left by a process that did not close it is now opened as persistent; its entries were never meant to outlive that process and were dropped',
      );
    }
  }

  /**
   * Says the lock is on its way out: from here on, a manager of this process that asks for the
   * store is told to await the shutdown under way (its caches close first, then this).
   */
  markClosing(): void {
    markStoreLockClosing(this.path);
  }

  /**
   * Closes every store (flushing it), the environment, and releases the lock. Idempotent. A
   * failing disk does not make it throw: each store's close says what it could not persist.
   */
  close(): Promise<void> {
    this.markClosing();
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    try {
      for (const store of [...this.#stores.values()]) await store.close();
      try {
        await this.#env.close();
      } catch (error) {
        this.#logger.error({ path: this.path, err: error }, 'disk store did not close cleanly');
      }
    } finally {
      releaseStoreLock(this.path);
    }
  }
}

/** The `meta` key that marks a cache's database as a temporary store's while it is open (#markLifetime). */
function temporaryMark(cacheName: string): string {
  return `temporary:${cacheName}`;
}

function prepareDirectory(path: string, requestedBy: string): void {
  const unwritable = (problem: string, cause?: unknown): never => {
    throw new MeshcacheError('E_DISK_UNWRITABLE', `disk store for cache "${requestedBy}" at ${path} ${problem}`, {
      cause,
    });
  };
  if (existsSync(path)) {
    const stat = statSync(path);
    if (!stat.isDirectory()) unwritable('is a file, not a directory');
    // A shared directory (/tmp, /var/tmp, /dev/shm: sticky, and writable by others or not ours)
    // is not the store's to make private: chmod-ing it 0700 took it away from every other user
    // of the machine. A directory that is merely too open (an older release's store under umask
    // 000) is made private, as file-modes.ts says.
    const uid = process.getuid?.();
    const ours = uid === undefined || stat.uid === uid;
    if ((stat.mode & 0o1000) !== 0 && ((stat.mode & 0o022) !== 0 || !ours)) {
      unwritable(
        `is a shared directory (mode ${(stat.mode & 0o7777).toString(8)}, sticky, like /tmp): give the disk store a directory of its own, such as ${join(path, 'meshcache')}`,
      );
    }
    // In a shared directory, a name anyone can predict (/tmp/meshcache-gw-1) may have been made
    // first by another user, who could then swap the store's files.
    const parent = statSync(dirname(path));
    if (!ours && (parent.mode & 0o1000) !== 0) {
      unwritable(
        `belongs to another user (uid ${stat.uid}) and lies in a shared directory (${dirname(path)}): another user may have made it first; remove it, or choose a directory that is not shared`,
      );
    }
  }
  try {
    makeStoreDirectory(path);
    accessSync(path, constants.W_OK);
  } catch (error) {
    unwritable(`is not writable: ${(error as Error).message}`, error);
  }
}

/** lmdb's options for the environment: a directory, never a file; files created 0600. */
function lmdbOptions(path: string): RootDatabaseOptionsWithPath {
  // lmdb's typings leave out permissionsMode, which lmdb passes to mdb_env_open for data.mdb and
  // lock.mdb (its default is 0664). noSubdir is lmdb's guess from a dot in the name otherwise.
  return { path, maxDbs: 256, noSubdir: false, permissionsMode: STORE_FILE_MODE } as RootDatabaseOptionsWithPath;
}

/**
 * One line for what makeStorePrivate changed. On an existing store a change means its files were
 * open to other users (an older release, or a hand-made directory): a warning. After lmdb made its
 * files it means an odd umask, which the modes given at creation could not override (or a failure
 * the first pass has already reported): debug.
 */
function logModeChanges(logger: Logger, path: string, changes: readonly ModeChange[], store: 'existing' | 'new'): void {
  if (changes.length === 0) return;
  const changed = changes.filter((change) => change.error === undefined);
  const failed = changes.filter((change) => change.error !== undefined);
  if (store === 'new') {
    logger.debug({ path, changed, failed }, 'disk store modes set exactly (the umask took bits the owner needs)');
  } else if (failed.length > 0) {
    logger.warn(
      { path, changed, failed },
      'could not make every file of the disk store private (directory 0700, files 0600); is the directory owned by another user?',
    );
  } else if (changed.some((change) => (Number.parseInt(change.from, 8) & 0o077) !== 0)) {
    logger.warn(
      { path, changed },
      'disk store was open to other local users; made it private (directory 0700, files 0600)',
    );
  } else {
    // Only the owner's own bits moved (a data.mdb left 0400): nothing was open to anyone else.
    logger.info(
      { path, changed },
      'disk store modes set to directory 0700, files 0600 (the owner lacked bits it needs)',
    );
  }
}

/**
 * Records the store's format where it is missing: a new store, or one an earlier release wrote
 * before formats were recorded (format 1, logged). The probe has already set aside a store in a
 * format this release does not read; should the probe not have run to its end (a loaded machine),
 * such a store is refused here rather than misread.
 * @throws MeshcacheError E_DISK_FORMAT
 */
function recordFormat(env: RootDatabase, path: string, logger: Logger): void {
  const meta = env.openDB<unknown, string>({ name: META_DB });
  const recorded = meta.get('format') as { format?: unknown; release?: unknown } | undefined;
  if (recorded?.format === STORE_FORMAT) return;
  if (recorded !== undefined) {
    void env.close();
    throw new MeshcacheError(
      'E_DISK_FORMAT',
      `disk store at ${path} is in format ${String(recorded.format)}, written by release ${String(recorded.release)}; this release reads format ${STORE_FORMAT}`,
    );
  }
  const older = [...env.getKeys()].some((name) => typeof name === 'string' && name.startsWith('cache:'));
  meta.putSync('format', { format: STORE_FORMAT, release: RELEASE });
  if (older) {
    logger.info(
      { path, format: STORE_FORMAT },
      'disk store written by an earlier release (format 1, from before formats were recorded): opened as it is, and its format recorded',
    );
  }
}

/** Moves the data file aside (its lock file goes: lmdb remakes it), leaving an empty store. */
function setAside(path: string, why: string): string {
  const aside = join(path, `${DATA_FILE}.${why}-${Date.now()}`);
  renameSync(join(path, DATA_FILE), aside);
  rmSync(join(path, LOCK_MDB), { force: true });
  return aside;
}

/** The child's whole job: open the environment and every database in it, and touch each one's ends. */
const PROBE = `
const { open } = require(process.argv[1]);
// permissionsMode: lmdb may create lock.mdb here, and it must be 0600 from the start.
const options = { path: process.argv[2], maxDbs: 256, readOnly: true, noSubdir: false, permissionsMode: 0o600 };
let env = open(options);
// The names first: opening a database while iterating the main one can invalidate the
// iteration's read transaction (MDB_BAD_TXN), which made the check fail now and then.
const names = [...env.getKeys()];
// A store keeps the databases of caches removed or renamed over the years: past maxDbs of them,
// opening each failed (MDB_DBS_FULL) and every start went on unchecked, with a warning.
if (names.length > 250) {
  env.close();
  env = open({ ...options, maxDbs: names.length + 8 });
}
const format = names.includes('meta') ? env.openDB({ name: 'meta' }).get('format') : undefined;
for (const name of names) {
  if (typeof name !== 'string' || name === 'meta') continue;
  const db = env.openDB({ name, encoding: 'binary' });
  db.getStats();
  // Every key: a walk of the whole tree reads every branch and leaf page (values up to a page
  // sit in their leaves), where a damaged page makes lmdb fail an assertion or say MDB_CORRUPTED.
  // Its ends alone passed stores that then crashed the process at its first sweep, every start.
  for (const key of db.getKeys()) {}
  for (const key of db.getKeys({ limit: 1 })) db.getBinary(key);
  for (const key of db.getKeys({ limit: 1, reverse: true })) db.getBinary(key);
}
process.stdout.write('format ' + (format === undefined ? 'none' : JSON.stringify(format && format.format)) + '\\n');
env.close();
`;

/**
 * Opens an existing store in a child process first: lmdb can crash the whole process on a file
 * that is not lmdb's. A store that crashes it or that lmdb calls corrupt is set aside
 * (E_DISK_CORRUPT), and so is one in a format this release does not read (E_DISK_FORMAT).
 */
function setAsideIfUnreadable(path: string, logger: Logger): void {
  const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');
  const probe = spawnSync(process.execPath, ['-e', PROBE, lmdbEntry, path], {
    timeout: PROBE_TIMEOUT_MS,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (probe.status === 0) {
    const format = /^format (.+)$/m.exec(probe.stdout ?? '')?.[1];
    if (format === undefined || format === 'none' || format === String(STORE_FORMAT)) return;
    const shown = format.replace(/[^0-9a-z]/gi, '') || 'unknown';
    const aside = setAside(path, `format-${shown}`);
    logger.error(
      { code: 'E_DISK_FORMAT', path, format: shown, reads: STORE_FORMAT, movedTo: aside },
      'disk store is in a format this release does not read (a newer release wrote it); it was moved aside and the caches start empty',
    );
    return;
  }
  const crashed = probe.signal !== null && CRASH_SIGNALS.has(probe.signal);
  const lmdbSaysCorrupt = /MDB_(INVALID|CORRUPTED|PAGE_NOTFOUND|VERSION_MISMATCH)/.test(probe.stderr ?? '');
  if (!crashed && !lmdbSaysCorrupt) {
    // The check did not finish, or failed for a reason that says nothing about the file (a
    // loaded machine, a timeout, a signal from outside): setting a user's data aside then would
    // lose it. Open it as is; a real problem surfaces as an error from lmdb, not as lost data.
    logger.warn(
      { path, err: probe.error, signal: probe.signal, status: probe.status, stderr: probe.stderr?.trim() },
      'could not check the disk store before opening it; opening it unchecked',
    );
    return;
  }
  // lmdb's own words (an assertion, an MDB_ code), not the last line of stderr (Node's version banner).
  const said = probe.stderr
    ?.split('\n')
    .find((line) => /MDB_|Assertion|mdb\.c/.test(line))
    ?.trim();
  const why = crashed
    ? `lmdb crashed reading it (${probe.signal}${said ? `: ${said}` : ''})`
    : (said ?? probe.stderr.trim());
  const aside = setAside(path, 'corrupt');
  logger.error(
    { code: 'E_DISK_CORRUPT', path, movedTo: aside, reason: why },
    'disk store is corrupt or not an lmdb store; it was moved aside and the caches start empty',
  );
}
