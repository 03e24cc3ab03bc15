import { spawnSync } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LmdbEnvironment, STORE_FORMAT } from '../src/disk/lmdb-environment.js';
import { type Logger, silentLogger } from '../src/index.js';
import { record } from './disk-store-conformance.js';
import { killed, startChild, stopChildren, waitFor, writeThenKill } from './processes.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const envs: LmdbEnvironment[] = [];

/** Every lmdb root environment opened (a test makes one's database fail a write). */
const lmdbRoots = vi.hoisted(() => [] as object[]);
vi.mock('lmdb', async (importOriginal) => {
  const actual = await importOriginal<typeof import('lmdb')>();
  return {
    ...actual,
    open: (...args: Parameters<typeof actual.open>) => {
      const root = actual.open(...args);
      lmdbRoots.push(root);
      return root;
    },
  };
});

function openEnv(path: string, logger: Logger = silentLogger): LmdbEnvironment {
  const env = LmdbEnvironment.open(path, logger, 'c');
  envs.push(env);
  return env;
}

/**
 * The pid of the first child `pid` starts (the check of a store, which lives a few tens of
 * milliseconds), read from /proc as soon as it appears: polled without a pause, since a poll on a
 * timer could miss it.
 */
function checkProcessOf(pid: number): number {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    } catch {
      // not there yet
    }
    if (children !== '') return Number(children.split(' ')[0]);
  }
  throw new Error(`process ${pid} started no child within 20 s`);
}

afterEach(async () => {
  for (const env of envs.splice(0)) await env.close();
  await stopChildren();
  removeTempDirs();
});

describe('LmdbEnvironment', () => {
  it('keeps a persistent store across a clean close and reopen', async () => {
    const dir = tempDir();
    const env = openEnv(dir);
    const store = env.openStore({ cacheName: 'tokens', persistent: true, spoolBytes: 1 << 20 });
    store.put('a', record('kept', { version: { time: 5, counter: 1, node: 'n' } }));
    await env.close();
    const again = openEnv(dir).openStore({ cacheName: 'tokens', persistent: true, spoolBytes: 1 << 20 });
    expect(again.size).toBe(1);
    expect(again.get('a')).toEqual(record('kept', { version: { time: 5, counter: 1, node: 'n' } }));
  });

  it('empties a non-persistent store when it is opened and when it is closed', async () => {
    const dir = tempDir();
    const env = openEnv(dir);
    env.openStore({ cacheName: 'keep', persistent: true, spoolBytes: 1 << 20 }).put('a', record(1));
    env.openStore({ cacheName: 'temp', persistent: false, spoolBytes: 1 << 20 }).put('a', record(1));
    await env.close();
    // Closed cleanly, the temporary store is no longer marked as one: a persistent cache of that
    // name opened meanwhile by a release without marks (a rollback) keeps what it writes.
    const raw = open({ path: dir });
    expect(raw.openDB({ name: 'meta' }).get('temporary:temp')).toBeUndefined();
    await raw.close();
    const reopened = openEnv(dir);
    expect(reopened.openStore({ cacheName: 'temp', persistent: true, spoolBytes: 1 << 20 }).size).toBe(0);
    expect(reopened.openStore({ cacheName: 'keep', persistent: true, spoolBytes: 1 << 20 }).size).toBe(1);
  });

  it('refuses a store another CacheManager of this process holds, with E_DISK_LOCKED', () => {
    const dir = tempDir();
    openEnv(dir);
    expect(() => LmdbEnvironment.open(dir, silentLogger, 'Response Cache')).toThrow(
      expect.objectContaining({
        code: 'E_DISK_LOCKED',
        message: expect.stringMatching(
          /cache "Response Cache" at .* is locked by another CacheManager in this process/,
        ),
      }),
    );
  });

  it('refuses a store another CacheManager of this process holds under another spelling of its path', () => {
    const dir = tempDir();
    openEnv(dir);
    for (const spelling of [`${dir}/`, `${dir}/.`, `${dir}/./`]) {
      expect(() => LmdbEnvironment.open(spelling, silentLogger, 'c')).toThrow(
        expect.objectContaining({ code: 'E_DISK_LOCKED', message: expect.stringContaining('in this process') }),
      );
    }
  });

  it('refuses a store held by another live process, and takes it over once that process is gone', async () => {
    const dir = tempDir();
    const { child } = await startChild('hold', dir);
    expect(() => LmdbEnvironment.open(dir, silentLogger, 'c')).toThrow(
      expect.objectContaining({ code: 'E_DISK_LOCKED', message: expect.stringContaining(`process ${child.pid}`) }),
    );
    child.kill('SIGKILL');
    await killed(child);
    const env = openEnv(dir);
    expect(readFileSync(join(dir, 'meshcache.lock'), 'utf8').split('\n')[0]).toBe(String(process.pid));
    expect(env.openStore({ cacheName: 'c', persistent: true, spoolBytes: 1 << 20 }).size).toBe(0);
  });

  it('refuses a path that is a file, or under a file, with E_DISK_UNWRITABLE naming the path', () => {
    const dir = tempDir();
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    expect(() => LmdbEnvironment.open(file, silentLogger, 'c')).toThrow(
      expect.objectContaining({ code: 'E_DISK_UNWRITABLE', message: expect.stringContaining(`${file} is a file`) }),
    );
    expect(() => LmdbEnvironment.open(join(file, 'store'), silentLogger, 'c')).toThrow(
      expect.objectContaining({ code: 'E_DISK_UNWRITABLE', message: expect.stringMatching(/is not writable/) }),
    );
  });

  it('sets a corrupt or foreign data file aside, starts empty and logs why, without crashing', () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data.mdb'), Buffer.alloc(64 * 1024, 7));
    const logged: Array<{ obj: object; msg?: string }> = [];
    const logger: Logger = { ...silentLogger, error: (obj, msg) => logged.push({ obj, msg }) };
    const env = openEnv(dir, logger);
    const store = env.openStore({ cacheName: 'c', persistent: true, spoolBytes: 1 << 20 });
    expect(store.size).toBe(0);
    store.put('a', record(1));
    expect(store.get('a')?.value).toBe(1);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.obj).toMatchObject({ code: 'E_DISK_CORRUPT', path: dir });
    expect(readdirSync(dir).some((name) => name.startsWith('data.mdb.corrupt-'))).toBe(true);
  });

  it('opens a sound store unchecked, with a warning, when a signal from outside ends the check (a Ctrl-C reaching it): it set the store aside as corrupt and a server that traps SIGINT started empty (helper-120)', async () => {
    const dir = tempDir();
    const first = openEnv(dir);
    const store = first.openStore({ cacheName: 'c', persistent: true, spoolBytes: 1 << 20 });
    for (let i = 0; i < 1000; i++) store.put(`key:${i}`, record(i));
    await first.close();
    envs.splice(envs.indexOf(first), 1);
    const { child, lines } = await startChild('trap-sigint', dir);
    child.stdin?.write('open\n');
    // The check runs in a child of that server, for a few tens of milliseconds: interrupt it by its pid.
    const check = checkProcessOf(child.pid as number);
    process.kill(check, 'SIGINT');
    await waitFor(() => (lines.includes('done') ? true : undefined), 'the server to open the store and shut down');
    expect(lines).toContain('size 1000');
    expect(lines.filter((line) => line.startsWith('logged'))).toEqual([
      'logged warn could not check the disk store before opening it; opening it unchecked',
    ]);
    expect(readdirSync(dir).filter((name) => name.startsWith('data.mdb.'))).toEqual([]);
  });

  it("sets aside a store with one damaged page in its middle (the check walks every page), with lmdb's own words as the reason", async () => {
    const dir = tempDir();
    const first = openEnv(dir);
    const store = first.openStore({ cacheName: 'p', persistent: true, spoolBytes: 1 << 20 });
    for (let i = 0; i < 20_000; i++) store.put(`key:${i}`, record({ i, body: 'b'.repeat(100) }));
    await first.close();
    envs.splice(envs.indexOf(first), 1);
    // One page of the tree's middle overwritten with noise: its first and last keys still read,
    // so a check of the ends passed it, and the first sweep then aborted the process, every start.
    const data = join(dir, 'data.mdb');
    const page = Math.floor(statSync(data).size / 4096 / 2);
    const fd = openSync(data, 'r+');
    let seed = 7;
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      noise[i] = seed & 255;
    }
    writeSync(fd, noise, 0, noise.length, page * 4096);
    closeSync(fd);
    const logged: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
    const logger: Logger = {
      ...silentLogger,
      error: (obj, msg) => logged.push({ obj: obj as Record<string, unknown>, msg }),
    };
    const again = openEnv(dir, logger).openStore({ cacheName: 'p', persistent: true, spoolBytes: 1 << 20 });
    expect(again.size).toBe(0);
    expect(logged.map(({ obj }) => obj['code'])).toEqual(['E_DISK_CORRUPT']);
    expect(logged[0]?.obj['reason']).toMatch(/^lmdb crashed reading it \(SIGABRT: .*mdb\.c:\d+: Assertion/);
    expect(readdirSync(dir).some((name) => name.startsWith('data.mdb.corrupt-'))).toBe(true);
  });

  // A file another user owns takes root to make; CI runs as root. The child runs as root without
  // the capabilities that pass over file permissions, so nobody's 0600 lock.mdb is closed to it as
  // root's is to a service user (run as nobody instead, it could not read a checkout under /tmp).
  it.runIf(process.getuid?.() === 0)(
    'refuses a store whose lock.mdb it may not write with E_DISK_UNWRITABLE naming the file (lmdb crashed the process)',
    async () => {
      const dir = tempDir();
      const env = openEnv(dir);
      env.openStore({ cacheName: 'c', persistent: true, spoolBytes: 1 << 20 }).put('a', record(1));
      await env.close();
      envs.splice(envs.indexOf(env), 1);
      chownSync(join(dir, 'lock.mdb'), 65534, 65534); // another user's, 0600
      const source = fileURLToPath(new URL('../src/disk/lmdb-environment.ts', import.meta.url));
      const script = `import(${JSON.stringify(source)}).then(({ LmdbEnvironment }) => {
        const quiet = { debug() {}, info() {}, warn() {}, error() {} };
        try { LmdbEnvironment.open(${JSON.stringify(dir)}, quiet, 'c'); console.log('opened'); }
        catch (error) { console.log(error.code + ' ' + error.message); }
      })`;
      const child = spawnSync(
        'setpriv',
        ['--bounding-set=-dac_override,-dac_read_search,-fowner', process.execPath, '--import', 'tsx', '-e', script],
        { encoding: 'utf8', timeout: 30_000 },
      );
      expect({ status: child.status, signal: child.signal, stderr: child.stderr.slice(-300) }).toEqual({
        status: 0,
        signal: null,
        stderr: '',
      });
      expect(child.stdout.trim()).toMatch(
        new RegExp(
          `^E_DISK_UNWRITABLE disk store for cache "c" at .* cannot be opened: EACCES: permission denied, access '${dir}/lock.mdb'$`,
        ),
      );
    },
    60_000,
  );

  it('does not serve, as persistent, a temporary store a kill -9 left behind: it drops what it holds and says so', async () => {
    const dir = tempDir();
    expect(await writeThenKill('write-temporary', dir)).toBeGreaterThan(0);
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_obj, msg) => warnings.push(msg ?? '') };
    const store = openEnv(dir, logger).openStore({ cacheName: 'crash', persistent: true, spoolBytes: 1 << 20 });
    expect(store.size).toBe(0);
    expect(warnings).toEqual([expect.stringContaining('a temporary store (overflowToDisk without diskPersistent)')]);
    // From then on it is persistent: what it keeps now survives a restart.
    store.put('a', record(1));
    await envs.splice(0)[0]?.close();
    expect(openEnv(dir).openStore({ cacheName: 'crash', persistent: true, spoolBytes: 1 << 20 }).size).toBe(1);
  });

  it.each([
    ['emptying it', 'clearSync'],
    ['unmarking it', 'removeSync'],
  ] as const)(
    'a disk that fails while a temporary store a kill -9 left is dropped (%s): a clear error, nothing half-done, and the next open drops it and says so',
    async (_step, method) => {
      const dir = tempDir();
      expect(await writeThenKill('write-temporary', dir)).toBeGreaterThan(0);
      const env = openEnv(dir);
      // A disk that refuses the write: lmdb throws, as it does with EIO or ENOSPC at commit. Each
      // lmdb environment has a class of its own, which its databases share.
      const prototype = Object.getPrototypeOf(lmdbRoots.at(-1)) as Record<typeof method, () => unknown>;
      const failing = vi.spyOn(prototype, method).mockImplementationOnce(() => {
        throw new Error('5 Input/output error');
      });
      try {
        expect(() => env.openStore({ cacheName: 'crash', persistent: true, spoolBytes: 1 << 20 })).toThrow(
          expect.objectContaining({
            code: 'E_DISK_UNWRITABLE',
            message: expect.stringMatching(/cache "crash" at .*Input\/output error/),
          }),
        );
        expect(failing).toHaveBeenCalled();
      } finally {
        failing.mockRestore();
      }
      await envs.splice(0)[0]?.close();
      const warned: unknown[] = [];
      const logger: Logger = { ...silentLogger, warn: (obj) => warned.push(obj) };
      const store = openEnv(dir, logger).openStore({ cacheName: 'crash', persistent: true, spoolBytes: 1 << 20 });
      expect(store.size).toBe(0);
      // Not dropped halfway, silently: the entries are still there to drop, and said so.
      expect(warned).toEqual([expect.objectContaining({ cache: 'crash', entries: expect.any(Number) })]);
      expect((warned[0] as { entries: number }).entries).toBeGreaterThan(0);
    },
    60_000,
  );

  it('loses nothing written more than the spool window before a kill -9', async () => {
    const dir = tempDir();
    const writtenBeforeWindow = await writeThenKill('write', dir);
    expect(existsSync(join(dir, 'meshcache.lock'))).toBe(true); // left behind by the dead process
    const store = openEnv(dir).openStore({ cacheName: 'crash', persistent: true, spoolBytes: 1 << 20 });
    const missing: number[] = [];
    for (let i = 0; i <= writtenBeforeWindow; i++) if (!store.has(`k${i}`)) missing.push(i);
    expect(missing).toEqual([]);
    expect(store.get(`k${writtenBeforeWindow}`)?.value).toBe('v'.repeat(200));
  });

  describe('the store format', () => {
    function recorder() {
      const lines: Array<{ level: string; obj: object; msg: string }> = [];
      const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj, msg: msg ?? '' });
      return { lines, logger: { debug() {}, info: at('info'), warn: at('warn'), error: at('error') } as Logger };
    }

    /** The store's format record, read with lmdb itself (as another tool would). */
    async function formatOf(dir: string): Promise<unknown> {
      const env = open({ path: dir, maxDbs: 256, noSubdir: false });
      const format = env.openDB({ name: 'meta' }).get('format');
      await env.close();
      return format;
    }

    async function writeFormat(dir: string, format: unknown): Promise<void> {
      const env = open({ path: dir, maxDbs: 256, noSubdir: false });
      const meta = env.openDB({ name: 'meta' });
      if (format === undefined) await meta.remove('format');
      else await meta.put('format', format);
      await env.close();
    }

    async function storeWithEntry(dir: string): Promise<void> {
      const env = openEnv(dir);
      env.openStore({ cacheName: 'tokens', persistent: true, spoolBytes: 1 << 20 }).put('a', record('kept'));
      await env.close();
    }

    it('is recorded in a new store: format 1, and the release that wrote it', async () => {
      const dir = tempDir();
      await storeWithEntry(dir);
      expect(await formatOf(dir)).toEqual({ format: STORE_FORMAT, release: expect.stringMatching(/^\d+\.\d+\.\d+/) });
      expect(STORE_FORMAT).toBe(1);
    });

    it('opens a store an earlier release wrote (no format recorded) as it is, records the format and says so', async () => {
      const dir = tempDir();
      await storeWithEntry(dir);
      await writeFormat(dir, undefined); // as the releases before this one left their stores
      const { lines, logger } = recorder();
      const store = openEnv(dir, logger).openStore({ cacheName: 'tokens', persistent: true, spoolBytes: 1 << 20 });
      expect(store.get('a')?.value).toBe('kept');
      expect(lines.map((line) => line.msg)).toEqual([
        'disk store written by an earlier release (format 1, from before formats were recorded): opened as it is, and its format recorded',
      ]);
      await envs.pop()?.close();
      expect(await formatOf(dir)).toMatchObject({ format: 1 });
    });

    it('never misreads a store in a format it does not read: sets it aside (E_DISK_FORMAT) and starts empty', async () => {
      const dir = tempDir();
      await storeWithEntry(dir);
      await writeFormat(dir, { format: 99, release: '9.0.0' });
      const { lines, logger } = recorder();
      const store = openEnv(dir, logger).openStore({ cacheName: 'tokens', persistent: true, spoolBytes: 1 << 20 });
      expect(store.size).toBe(0);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'error', obj: { code: 'E_DISK_FORMAT', format: '99', reads: 1 } });
      expect(readdirSync(dir).some((name) => name.startsWith('data.mdb.format-99-'))).toBe(true);
      store.put('b', record('new'));
      expect(store.get('b')?.value).toBe('new');
    });
  });
});
