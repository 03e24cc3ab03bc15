/**
 * The lock that gives one process a disk store: the file meshcache.lock in the store directory,
 * holding the holder's pid and a random nonce. A lock whose process is gone is taken over, and
 * of any number of processes racing for one such lock exactly one gets it; the others get
 * E_DISK_LOCKED.
 *
 * Model. The only atomic steps are the file system's: link(2) makes a name for a file only if the
 * name is free (EEXIST otherwise), and one name names one file at a time. There is no "remove this
 * name if it still is that file", so the danger in a takeover is a process that judged an old
 * lock abandoned and then removes (or renames away) a fresh lock that another process made
 * meanwhile: both then hold the store. The protocol:
 *
 * 1. Each process writes its lock content to a file of its own (meshcache.lock.tmp-<pid>-<nonce>,
 *    0600) and tries link(own, meshcache.lock). Success: it holds the store. A lock therefore
 *    appears complete or not at all (never empty, as a create-then-write lock can be seen), and
 *    a creation never replaces a lock.
 * 2. EEXIST: it reads the lock through one open file: inode and content together are the lock's
 *    identity. The nonce makes identities unique, also when the file system reuses an inode
 *    number. If the pid is alive, E_DISK_LOCKED.
 * 3. Abandoned (the pid is gone, or no pid is written): the lock may only be removed by the
 *    holder of its claim, meshcache.lock.claim-<inode>-<hash of content>, made by link(own,
 *    claim): one holder at a time per identity. Holding the claim, the process reads the lock
 *    again and removes it only if it still has that identity; then it drops the claim and goes
 *    back to 1, where it may lose to a faster process (and find it alive).
 *
 * Why the check and the removal in 3 cannot be split by anyone: between them the name could only
 * change if the file there were removed (a creation needs the name free). Its owner is gone;
 * every other remover needs the claim for the same identity, which this process holds. So what
 * it removes is the file it judged abandoned, never a fresh lock. A process that acts late on an
 * old judgement makes a claim for an identity that no longer exists (identities never come
 * back), finds the name changed, and removes nothing.
 *
 * At most one holder: two holders would need the name to name two files, or a live holder's lock
 * to be removed; no one judges a live process's lock abandoned, and 3 removes only what was so
 * judged. Exactly one winner of a race: after the abandoned lock is removed the first link
 * succeeds; every other racer finds that winner alive, or finds a live claimer (E_DISK_LOCKED:
 * the claimer goes on to win, or to find whoever did).
 *
 * Crashes. A process killed anywhere leaves its own file (removed by the next holder, once its
 * pid is gone), a stale lock (taken over as above), or a claim whose process is gone: the next
 * process removes that claim by the same rule, one level up (a claim on the claim, at most
 * MAX_DEPTH levels deep, each needing another kill inside a few system calls).
 *
 * Threads. Worker threads of one process share its pid, and each has its own copy of this module
 * (and of heldHere), so a lock with this process's pid that this copy does not hold was taken for
 * one left by an earlier process of that pid: a CacheManager in a worker took the store over from
 * a live one in another thread, both then writing it, each with its own count. So a lock also
 * names the thread that took it, by its kernel thread id and that thread's start time (from
 * /proc: Linux); a lock with this pid is another thread's while a thread of that id and start
 * time runs in this process (E_DISK_LOCKED), and one left by an earlier process of this pid (a
 * restarted container) names a thread that started at another time, or none. Where /proc does
 * not tell (not Linux), a lock names no thread and threads are not told apart.
 *
 * Pids reused. A dead holder's pid may belong to another process by the time the lock is read
 * (after a reboot, a restarted container), which kill(pid, 0) finds alive: E_DISK_LOCKED, naming
 * a process that has nothing to do with the store, until it exits. So a lock whose pid is alive
 * is still judged abandoned when that process runs no thread of the id and start time the lock
 * names (the thread that took it may also have ended in a process that lives on: its manager is
 * gone with it), or when the lock names a boot of the machine other than this one (a boot that
 * starts the same services in the same order can give a process the same pid and start time).
 *
 * Zombies. A holder killed and not yet reaped by its parent is a zombie, which kill(pid, 0) still
 * reaches; /proc tells it apart (state Z), and its lock is abandoned like a dead process's.
 *
 * Not guaranteed. Liveness is kill(pid, 0) on this host, and /proc where it shows the process: a
 * reused pid is told apart only for locks that name their thread (this release's, on Linux) and
 * where /proc shows that process (not under hidepid for another user's); processes in different
 * pid namespaces (containers) sharing one store cannot see each other. An older release writes its
 * lock after creating it, so racing one, an empty lock can be judged abandoned; its locks name no
 * thread, so a worker thread of this release takes one an older release's manager holds in another
 * thread, and a reused pid in one looks alive. The file system must support hard links (every
 * local Linux one does); otherwise E_DISK_UNWRITABLE.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { MeshcacheError } from '../errors.js';
import { createPrivateFile } from './file-modes.js';

export const LOCK_FILE = 'meshcache.lock';
/** Takeover attempts before giving up: each one needs another process to take and leave the lock. */
const MAX_ATTEMPTS = 8;
/** Claims on claims: each level needs a process killed inside the few system calls a claim lasts. */
const MAX_DEPTH = 4;

/** A file's identity: its inode and its content, read through one open file. */
interface FileId {
  readonly dev: number;
  readonly ino: number;
  readonly content: string;
}

type Holder =
  | { readonly state: 'alive'; readonly pid: number }
  | { readonly state: 'thread'; readonly tid: number }
  | { readonly state: 'here' | 'gone' };

/**
 * A thread as the kernel names it: its id, its start time (clock ticks after boot), and the boot
 * it ran in (the kernel's boot_id), where /proc tells it.
 */
interface ThreadId {
  readonly tid: number;
  readonly start: string;
  readonly boot?: string;
}

/** The thread this copy of the module runs in (each worker thread loads its own), where /proc tells. */
const thisThread: ThreadId | undefined = readThisThread();

/**
 * The content of each lock this process holds, by store path as given. Whether a lock is held
 * here is decided by its content, which is unique, not by the path: the same directory can be
 * spelled in many ways (`store/`, `./store`).
 */
const heldHere = new Map<string, string>();

/**
 * The contents of locks held here whose manager is shutting down: a manager made while another's
 * shutdown() is still under way (not awaited) is told to await it, not to pick another directory.
 */
const closingHere = new Set<string>();

/**
 * Takes the store's lock for this process.
 * @throws MeshcacheError E_DISK_LOCKED (another live process or CacheManager holds it, or is
 *   taking it over) or E_DISK_UNWRITABLE (the lock files cannot be made).
 */
export function acquireStoreLock(path: string, requestedBy: string): void {
  const where = `disk store for cache "${requestedBy}" at ${path}`;
  const nonce = randomUUID();
  const thread =
    thisThread === undefined ? '' : `thread ${thisThread.tid} ${thisThread.start} ${thisThread.boot ?? ''}`.trimEnd();
  const content = `${process.pid}\n${nonce}\n${thread === '' ? '' : `${thread}\n`}`;
  const own = join(path, `${LOCK_FILE}.tmp-${process.pid}-${nonce}`);
  try {
    createPrivateFile(own, content);
  } catch (error) {
    throw new MeshcacheError('E_DISK_UNWRITABLE', `${where}: cannot create ${LOCK_FILE}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const lock = join(path, LOCK_FILE);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (linkExclusive(own, lock)) {
        heldHere.set(path, content);
        removeLeftovers(path, own);
        return;
      }
      const found = identify(lock);
      if (found === undefined) continue; // released meanwhile
      const holder = holderOf(found.content);
      if (holder.state === 'here' && closingHere.has(found.content)) {
        throw new MeshcacheError(
          'E_DISK_LOCKED',
          `${where} is still held by a CacheManager of this process that is shutting down: await its shutdown() before opening the store again`,
        );
      }
      if (holder.state === 'here') {
        throw new MeshcacheError(
          'E_DISK_LOCKED',
          `${where} is locked by another CacheManager in this process; give each CacheManager its own diskStorePath`,
        );
      }
      if (holder.state === 'thread') {
        throw new MeshcacheError(
          'E_DISK_LOCKED',
          `${where} is locked by a CacheManager in another thread of this process (a worker thread, kernel thread id ${holder.tid}); give each CacheManager its own diskStorePath`,
        );
      }
      if (holder.state === 'alive') {
        throw new MeshcacheError(
          'E_DISK_LOCKED',
          `${where} is locked by process ${holder.pid}; give each CacheManager its own diskStorePath`,
        );
      }
      removeIfStill(path, lock, found, own, 0, where);
    }
  } catch (error) {
    if (error instanceof MeshcacheError) throw error;
    throw new MeshcacheError('E_DISK_UNWRITABLE', `${where}: cannot take ${LOCK_FILE}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    rmSync(own, { force: true }); // the lock, if taken, is the same file under its own name
  }
  throw new MeshcacheError(
    'E_DISK_LOCKED',
    `${where}: could not take ${LOCK_FILE} in ${MAX_ATTEMPTS} attempts (other processes kept taking it and leaving it)`,
  );
}

/** Marks this process's lock of the store as being released (its manager is shutting down). */
export function markStoreLockClosing(path: string): void {
  const content = heldHere.get(path);
  if (content !== undefined) closingHere.add(content);
}

/** Removes this process's lock of the store, if it holds one there. Never throws. */
export function releaseStoreLock(path: string): void {
  const content = heldHere.get(path);
  if (content === undefined) return;
  heldHere.delete(path);
  closingHere.delete(content);
  const lock = join(path, LOCK_FILE);
  try {
    // Only our own: a lock that is not ours any more (removed by hand, say) belongs to someone else.
    if (identify(lock)?.content === content) rmSync(lock, { force: true });
  } catch {
    // An unreadable lock stays; the next process finds this one gone and takes it over.
  }
}

/** The path of the claim that lets one process at a time remove the file of identity `id`. */
export function claimPath(dir: string, id: { readonly ino: number; readonly content: string }): string {
  const digest = createHash('sha256').update(id.content).digest('hex').slice(0, 16);
  return join(dir, `${LOCK_FILE}.claim-${id.ino}-${digest}`);
}

/**
 * Removes `file` if it still is `id`, which was judged abandoned, holding the claim for `id`
 * while it checks and removes (the essay above says why that is enough). A claim left by a
 * process that is gone is removed the same way, one level up.
 */
function removeIfStill(dir: string, file: string, id: FileId, own: string, depth: number, where: string): void {
  const claim = claimPath(dir, id);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (linkExclusive(own, claim)) {
      try {
        if (sameFile(identify(file), id)) rmSync(file, { force: true });
      } finally {
        rmSync(claim, { force: true });
      }
      return;
    }
    const claimed = identify(claim);
    if (claimed === undefined) continue; // its holder is done: judge again
    const claimer = holderOf(claimed.content);
    if (claimer.state === 'alive' || claimer.state === 'thread') {
      const by =
        claimer.state === 'alive' ? `process ${claimer.pid}` : `another thread of this process (${claimer.tid})`;
      throw new MeshcacheError(
        'E_DISK_LOCKED',
        `${where} is being taken over by ${by} (its lock was left by a process that is gone); if no process uses the store, remove ${claim}`,
      );
    }
    if (depth === MAX_DEPTH) {
      throw new MeshcacheError(
        'E_DISK_LOCKED',
        `${where}: takeovers of ${LOCK_FILE} were interrupted ${MAX_DEPTH} times; if no process uses the store, remove the files ${LOCK_FILE}*`,
      );
    }
    removeIfStill(dir, claim, claimed, own, depth + 1, where);
  }
  throw new MeshcacheError(
    'E_DISK_LOCKED',
    `${where}: could not take ${LOCK_FILE} in ${MAX_ATTEMPTS} attempts (other processes kept taking it and leaving it)`,
  );
}

/**
 * Holding the lock: removes the own files and claims of processes that are gone (killed while
 * taking a lock). Safe while the lock is held: every claim names an identity that is not the
 * lock's, so no one acting on such a claim removes anything. An own file's process is read from
 * its name, not its content: it is written after it is created, so it may be read empty.
 */
function removeLeftovers(dir: string, own: string): void {
  const ownPrefix = `${LOCK_FILE}.tmp-`;
  try {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      if (file === own || !name.startsWith(`${LOCK_FILE}.`)) continue;
      const pid = name.startsWith(ownPrefix) ? Number.parseInt(name.slice(ownPrefix.length), 10) : undefined;
      let gone: boolean;
      if (pid !== undefined && pid !== process.pid) gone = holderOfPid(pid, undefined).state === 'gone';
      else {
        // An own file of this process may be another thread's, taking a lock with it: judged by the
        // thread it names, and left while it is still empty (being written).
        const found = identify(file);
        const beingWritten = pid !== undefined && found?.content === '';
        gone = found !== undefined && !beingWritten && holderOf(found.content).state === 'gone';
      }
      if (gone) rmSync(file, { force: true });
    }
  } catch {
    // Leftovers are a few bytes each; the next holder tries again.
  }
}

/** link(2): makes `to` name the file `from` names, only if `to` is free. */
function linkExclusive(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function identify(file: string): FileId | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const { dev, ino } = fstatSync(fd);
    return { dev, ino, content: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

function sameFile(a: FileId | undefined, b: FileId): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino && a.content === b.content;
}

/**
 * Who holds a lock (or a claim, or an own file) with this content. Our own pid is 'here' only
 * for a lock this process holds: any other file with our pid was left by an earlier process that
 * had the same pid (a restarted container's process often does).
 */
function holderOf(content: string): Holder {
  return holderOfPid(Number.parseInt(content, 10), content);
}

function holderOfPid(pid: number, content: string | undefined): Holder {
  if (!Number.isInteger(pid) || pid <= 0) return { state: 'gone' }; // no owner was ever written
  const thread = content === undefined ? undefined : threadIn(content);
  // Taken before the machine last booted: every process of that boot is gone, whatever has its
  // pid and start time now (a boot that starts the same services in the same order gives both).
  if (thread?.boot !== undefined && thisThread?.boot !== undefined && thread.boot !== thisThread.boot) {
    return { state: 'gone' };
  }
  if (pid === process.pid) {
    if (content !== undefined && isHeldHere(content)) return { state: 'here' };
    // Not held by this copy of the module: another thread's (or another copy's in this thread),
    // if the thread it names runs now; else an earlier process's of the same pid.
    if (thread === undefined || threadStart(pid, thread.tid) !== thread.start) return { state: 'gone' };
    return thread.tid === thisThread?.tid ? { state: 'here' } : { state: 'thread', tid: thread.tid };
  }
  if (!isAlive(pid)) return { state: 'gone' };
  // The pid may have been given to another process since (after a reboot, or in a restarted
  // container): the holder is gone when that process, visible here, runs no thread of the id and
  // start time the lock names. Not visible (/proc mounted hidepid): taken to be the holder.
  if (thread !== undefined && existsSync(`/proc/${pid}/stat`) && threadStart(pid, thread.tid) !== thread.start) {
    return { state: 'gone' };
  }
  return { state: 'alive', pid };
}

/** The thread a lock's content names (its third line, `thread <tid> <start> [<boot>]`), if any. */
function threadIn(content: string): ThreadId | undefined {
  const match = /^thread (\d+) (\d+)(?: ([0-9a-f-]+))?$/m.exec(content);
  if (match === null) return undefined;
  const thread = { tid: Number(match[1]), start: match[2] as string };
  return match[3] === undefined ? thread : { ...thread, boot: match[3] };
}

/** This thread's id and start time, from /proc/thread-self (Linux 3.17 on); undefined elsewhere. */
function readThisThread(): ThreadId | undefined {
  try {
    const [pid, , tid] = readlinkSync('/proc/thread-self').split('/'); // "<pid>/task/<tid>"
    if (Number(pid) !== process.pid || tid === undefined) return undefined;
    const start = threadStart(process.pid, Number(tid));
    if (start === undefined) return undefined;
    const boot = readBootId();
    return boot === undefined ? { tid: Number(tid), start } : { tid: Number(tid), start, boot };
  } catch {
    return undefined;
  }
}

/** The kernel's id of this boot (Linux), if it can be read. */
function readBootId(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return /^[0-9a-f-]+$/.test(boot) ? boot : undefined;
  } catch {
    return undefined;
  }
}

/** When a thread of a process started (field 22 of its stat), if it runs. */
function threadStart(pid: number, tid: number): string | undefined {
  return statFields(`/proc/${pid}/task/${tid}/stat`)?.[19];
}

/**
 * The fields of a /proc stat file after the name in parentheses (field 3, the state, first), or
 * undefined when it cannot be read. The name may hold spaces and parentheses: the last `)` ends it.
 */
function statFields(file: string): string[] | undefined {
  try {
    const stat = readFileSync(file, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function isHeldHere(content: string): boolean {
  for (const held of heldHere.values()) if (held === content) return true;
  return false;
}

/**
 * Whether a process runs: kill(pid, 0) succeeds (or may not be sent to it), and it is not a zombie.
 * A holder killed (kill -9, the OOM killer) whose parent has not reaped it yet is a zombie, which
 * kill(pid, 0) still reaches: its lock was taken for a live one, E_DISK_LOCKED until the parent
 * waited for it. /proc says (Linux); elsewhere a zombie still counts as alive.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = statFields(`/proc/${pid}/stat`)?.[0];
  return state !== 'Z' && state !== 'X';
}
