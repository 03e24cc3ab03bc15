import { spawn, spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { LmdbEnvironment } from '../src/disk/lmdb-environment.js';
import { claimPath } from '../src/disk/store-lock.js';
import { silentLogger } from '../src/index.js';
import { killed, startChild, stopChildren, waitFor } from './processes.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const envs: LmdbEnvironment[] = [];

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
  for (const env of envs.splice(0)) await env.close();
  await stopChildren();
  removeTempDirs();
});

function openEnv(path: string): LmdbEnvironment {
  const env = LmdbEnvironment.open(path, silentLogger, 'c');
  envs.push(env);
  return env;
}

/** A store directory holding a lock with `content`, as a process that is gone left it. */
function storeWithLock(content: string): { dir: string; lock: string } {
  const dir = tempDir();
  const lock = join(dir, 'meshcache.lock');
  writeFileSync(lock, content, { mode: 0o600 });
  return { dir, lock };
}

/** Leaves a claim on `file` as a process with `content` would while taking it over. */
function claimLeftOn(dir: string, file: string, content: string): string {
  const claim = claimPath(dir, { ino: statSync(file).ino, content: readFileSync(file, 'utf8') });
  const own = join(dir, `meshcache.lock.tmp-${content.split('\n')[0]}-x`);
  writeFileSync(own, content, { mode: 0o600 });
  linkSync(own, claim);
  return claim;
}

function lockHolder(dir: string): string | undefined {
  return readFileSync(join(dir, 'meshcache.lock'), 'utf8').split('\n')[0];
}

/** The pid of a process that has exited: what a crashed owner leaves in its lock file. */
function goneProcess(): number {
  const { pid } = spawnSync(process.execPath, ['-e', '']);
  if (pid === undefined) throw new Error('could not start a process');
  return pid;
}

const THREAD = fileURLToPath(new URL('./fixtures/lock-thread.ts', import.meta.url));
const workers: Worker[] = [];

/**
 * A worker thread of this process running fixtures/lock-thread.ts (through tsx, which a worker
 * does not inherit), and a function that sends it a message and resolves its answer.
 */
async function inWorker(): Promise<{ worker: Worker; ask: (message: string) => Promise<string> }> {
  const worker = new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(THREAD)}); })`,
    { eval: true },
  );
  workers.push(worker);
  const answers: string[] = [];
  const waiting: Array<(answer: string) => void> = [];
  worker.on('message', (answer: string) => {
    const next = waiting.shift();
    if (next === undefined) answers.push(answer);
    else next(answer);
  });
  const answer = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const ready = answers.shift();
      if (ready !== undefined) resolve(ready);
      else waiting.push(resolve);
      worker.once('error', reject);
    });
  expect(await answer()).toBe('ready');
  return {
    worker,
    ask: (message) => {
      worker.postMessage(message);
      return answer();
    },
  };
}

const RACERS = 6;
const ROUNDS = 40;

describe('taking over a stale lock', () => {
  it('takes over a lock whose process is gone, and leaves no file of the takeover behind', () => {
    const { dir } = storeWithLock(`${goneProcess()}\nnonce\n`);
    openEnv(dir);
    expect(lockHolder(dir)).toBe(String(process.pid));
    expect(readdirSync(dir).sort()).toEqual(['data.mdb', 'lock.mdb', 'meshcache.lock']);
  });

  it('takes over an empty lock (an older release killed between creating and writing it)', () => {
    const { dir } = storeWithLock('');
    openEnv(dir);
    expect(lockHolder(dir)).toBe(String(process.pid));
  });

  it('takes over a lock with the pid of this process that this process does not hold (a restarted container)', () => {
    const { dir } = storeWithLock(`${process.pid}\nan-earlier-process\n`);
    openEnv(dir);
    expect(readFileSync(join(dir, 'meshcache.lock'), 'utf8')).not.toContain('an-earlier-process');
  });

  it('takes over a lock whose pid now belongs to another live process (a reused pid), and not one that process took', async () => {
    // A live process that has nothing to do with the store: it holds one elsewhere.
    const { child } = await startChild('hold', tempDir());
    const pid = child.pid as number;
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    // The lock a process of that pid left before it (it names its main thread, started earlier).
    const reused = storeWithLock(`${pid}\nearlier-holder\nthread ${pid} ${start - 1}\n`);
    openEnv(reused.dir);
    expect(lockHolder(reused.dir)).toBe(String(process.pid));
    // Its own lock, naming the thread as it runs, is still that process's.
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    for (const thread of [`thread ${pid} ${start}`, `thread ${pid} ${start} ${boot}`]) {
      const held = storeWithLock(`${pid}\nits-own\n${thread}\n`);
      expect(() => LmdbEnvironment.open(held.dir, silentLogger, 'c')).toThrow(
        expect.objectContaining({
          code: 'E_DISK_LOCKED',
          message: expect.stringContaining(`locked by process ${pid}`),
        }),
      );
    }
  });

  it('takes over a lock taken in an earlier boot of the machine, though a live process has its pid and start time now (a boot that starts the same services in the same order) (helper-120)', async () => {
    const { child } = await startChild('hold', tempDir());
    const pid = child.pid as number;
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const { dir } = storeWithLock(`${pid}\nlast-boot\nthread ${pid} ${start} 00000000-0000-4000-8000-000000000000\n`);
    openEnv(dir);
    expect(lockHolder(dir)).toBe(String(process.pid));
  });

  it('takes over a lock whose process was killed and is a zombie its parent has not reaped (kill(pid, 0) still reaches it) (helper-120)', async () => {
    // A shell whose background child ends first, then becomes a process that never waits for it.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) => parent.stdout.once('data', (d) => resolve(String(d)))),
      );
      await waitFor(() => {
        const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
        return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z' ? true : undefined;
      }, 'the child to become a zombie');
      for (const content of [`${zombie}\nkilled\n`, `${zombie}\n`]) {
        const { dir } = storeWithLock(content);
        openEnv(dir);
        expect(lockHolder(dir)).toBe(String(process.pid));
      }
    } finally {
      parent.kill('SIGKILL');
      await killed(parent);
    }
  });

  it('finishes a takeover that a killed process left half done, claims on claims included', () => {
    const { dir, lock } = storeWithLock(`${goneProcess()}\nnonce\n`);
    // One process was killed holding the claim on the lock; another was killed holding the claim
    // on that claim; their own files are still there too.
    const claim = claimLeftOn(dir, lock, `${goneProcess()}\nfirst\n`);
    claimLeftOn(dir, claim, `${goneProcess()}\nsecond\n`);
    expect(readdirSync(dir).filter((name) => name.startsWith('meshcache.lock.'))).toHaveLength(4);
    openEnv(dir);
    expect(lockHolder(dir)).toBe(String(process.pid));
    expect(readdirSync(dir).sort()).toEqual(['data.mdb', 'lock.mdb', 'meshcache.lock']);
  });

  it('refuses with E_DISK_LOCKED while a live process holds the claim (it is taking the lock over)', () => {
    const gone = goneProcess();
    const { dir, lock } = storeWithLock(`${gone}\nnonce\n`);
    const claimer = process.ppid; // alive, and not this process
    const claim = claimLeftOn(dir, lock, `${claimer}\nclaiming\n`);
    expect(() => LmdbEnvironment.open(dir, silentLogger, 'c')).toThrow(
      expect.objectContaining({
        code: 'E_DISK_LOCKED',
        message: expect.stringContaining(`is being taken over by process ${claimer}`),
      }),
    );
    // Nothing touched: the stale lock is the claimer's to remove, and its claim stays.
    expect(readFileSync(lock, 'utf8')).toBe(`${gone}\nnonce\n`);
    expect(existsSync(claim)).toBe(true);
  });

  it('releases only its own lock', async () => {
    const dir = tempDir();
    const env = openEnv(dir);
    rmSync(join(dir, 'meshcache.lock'));
    writeFileSync(join(dir, 'meshcache.lock'), `${process.ppid}\nsomeone-else\n`);
    await env.close();
    expect(readFileSync(join(dir, 'meshcache.lock'), 'utf8')).toBe(`${process.ppid}\nsomeone-else\n`);
  });

  it('of processes racing for one stale lock exactly one wins and the others get E_DISK_LOCKED, every round', async () => {
    const base = tempDir();
    const racers = await Promise.all(Array.from({ length: RACERS }, () => startChild('race', base)));
    const gone = goneProcess();
    for (let round = 0; round < ROUNDS; round++) {
      const dir = join(base, `round-${round}`);
      mkdirSync(dir, { mode: 0o700 });
      // Odd rounds: a lock an older release left (its pid alone); even rounds: one of this release.
      writeFileSync(join(dir, 'meshcache.lock'), round % 2 === 1 ? `${gone}\n` : `${gone}\nlost-holder\n`, {
        mode: 0o600,
      });
      const at = Date.now() + 25;
      for (const { child } of racers) child.stdin?.write(`go ${dir} ${at}\n`);
      const said = await waitFor(() => {
        const found = racers.map(({ lines }) => lines.find((line) => line.split(' ')[1] === dir));
        return found.every((line) => line !== undefined) ? (found as string[]) : undefined;
      }, `every racer's outcome in round ${round}`);
      const outcomes = said.map((line) => line.split(' ')[0]).sort();
      expect(outcomes, `round ${round}: ${said.join('; ')}`).toEqual([...Array(RACERS - 1).fill('locked'), 'won']);
      for (const { child } of racers) child.stdin?.write(`end ${dir}\n`);
      await waitFor(
        () => (racers.every(({ lines }) => lines.includes(`ended ${dir}`)) ? true : undefined),
        `every racer to end round ${round}`,
      );
      // Released, and nothing of the takeover left behind.
      expect(readdirSync(dir).sort(), `files after round ${round}`).toEqual(['data.mdb', 'lock.mdb']);
    }
  }, 120_000);
});

describe('worker threads', () => {
  it('a CacheManager in a worker thread gets E_DISK_LOCKED while another thread of the process holds the store, naming the thread, and takes it once that one closed (it took the store over and both wrote it)', async () => {
    const dir = tempDir();
    const env = openEnv(dir);
    const held = readFileSync(join(dir, 'meshcache.lock'), 'utf8');
    const { ask } = await inWorker();
    expect(await ask(`open ${dir}`)).toMatch(
      /^locked .* is locked by a CacheManager in another thread of this process/,
    );
    expect(readFileSync(join(dir, 'meshcache.lock'), 'utf8')).toBe(held);
    await env.close();
    expect(await ask(`open ${dir}`)).toBe('won');
    // And the other way: this thread is refused while the worker holds it.
    expect(() => LmdbEnvironment.open(dir, silentLogger, 'c')).toThrow(
      expect.objectContaining({ code: 'E_DISK_LOCKED', message: expect.stringContaining('another thread') }),
    );
    expect(await ask('close')).toBe('closed');
  });

  it('a lock a worker thread left when it ended without closing the store is taken over', async () => {
    const dir = tempDir();
    const { worker, ask } = await inWorker();
    expect(await ask(`open ${dir}`)).toBe('won');
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('leave');
    await exited;
    openEnv(dir);
    expect(lockHolder(dir)).toBe(String(process.pid));
    expect(readdirSync(dir).sort()).toEqual(['data.mdb', 'lock.mdb', 'meshcache.lock']);
  });
});
