/**
 * Who may read a disk store: its owner only. meshcache caches service tokens, and a store
 * directory at 0755 with data.mdb at 0644 (what umask 022 gives) lets every local user read them.
 *
 * Model. The store directory is 0700 and every file meshcache makes in it is 0600, whatever the
 * process umask. Things are made with the right mode from the start, so there is no moment when
 * another user could open them: the directory is created 0700 before anything is put in it,
 * lmdb is told to create its files 0600, the lock files are created 0600. A umask can only take
 * bits away, so these files are never wider than asked; a umask that takes away the owner's own
 * bits (0o200, say) would leave them unusable, so modes are then set exactly with chmod.
 *
 * A store made by an older release (0755, 0644) is fixed when it is opened, before anything is
 * read from it, with one warning that lists what changed: the tokens in it may have been readable.
 *
 * Directories created above the store (mkdir -p) are 0755 at most: never writable by other users,
 * who could otherwise rename the store directory away and put their own in its place.
 *
 * A shared directory (sticky, as /tmp) is refused, never made private: lmdb-environment.ts.
 *
 * Not guaranteed. A store directory that belongs to another user cannot be chmod-ed (a volume
 * mount point, say); that is logged as a warning and the store is still opened, its files 0600.
 * Files in the directory that meshcache did not make are left alone. Who could read the files
 * before they were fixed is not known: rotate what they held if that matters.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

export const STORE_DIRECTORY_MODE = 0o700;
export const STORE_FILE_MODE = 0o600;
/** The most a directory made above the store may allow (masked further by the umask). */
const PARENT_DIRECTORY_MODE = 0o755;

/** Names of the files meshcache and lmdb make in a store directory. */
export function isStoreFile(name: string): boolean {
  return (
    name === 'data.mdb' ||
    name === 'lock.mdb' ||
    name.startsWith('meshcache.lock') ||
    name.startsWith('data.mdb.corrupt-')
  );
}

/**
 * mkdir -p, one level at a time: the store directory itself 0700, the ones above it 0755 at most.
 * Node's own `mkdirSync(path, { recursive: true })` never returns when a parent refuses new
 * entries with ENOENT (as /proc does), so it cannot be used here.
 */
export function makeStoreDirectory(path: string): void {
  makeDirectory(path, STORE_DIRECTORY_MODE);
}

function makeDirectory(path: string, mode: number): void {
  if (existsSync(path)) return;
  const parent = dirname(path);
  if (parent !== path) makeDirectory(parent, PARENT_DIRECTORY_MODE);
  try {
    mkdirSync(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Creates a file that must not exist yet (O_EXCL), 0600 from its creation, holding `content`.
 * @throws the fs error (EEXIST when the name is taken).
 */
export function createPrivateFile(path: string, content: string): void {
  const fd = openSync(path, 'wx', STORE_FILE_MODE);
  try {
    fchmodSync(fd, STORE_FILE_MODE); // exact, whatever the umask took away
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/** A mode that was changed, or could not be: `path`, the mode found, and the error if chmod failed. */
export interface ModeChange {
  readonly path: string;
  readonly from: string;
  readonly to: string;
  readonly error?: string;
}

/**
 * Sets the store directory to 0700 and the store's files to 0600 where they differ. Returns what
 * it changed (and what it could not), for the caller to log: a change on a store this process has
 * just made means an odd umask, on an existing store it means the files were open to others.
 */
export function makeStorePrivate(path: string): ModeChange[] {
  const changes: ModeChange[] = [];
  const fix = (target: string, mode: number, wanted: number): void => {
    if ((mode & 0o777) === wanted) return;
    const change = { path: target, from: octal(mode & 0o777), to: octal(wanted) };
    try {
      // Keeps setgid and sticky bits, which say nothing about who may read.
      chmodSync(target, (mode & 0o7000) | wanted);
      changes.push(change);
    } catch (error) {
      changes.push({ ...change, error: (error as Error).message });
    }
  };
  fix(path, statSync(path).mode, STORE_DIRECTORY_MODE);
  for (const name of readdirSync(path)) {
    if (!isStoreFile(name)) continue;
    const file = join(path, name);
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(file);
    } catch {
      continue; // gone meanwhile (a lock file of a process that just released it)
    }
    // A symlink's own mode means nothing, and following one would chmod a file outside the store.
    if (stat.isFile()) fix(file, stat.mode, STORE_FILE_MODE);
  }
  return changes;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
