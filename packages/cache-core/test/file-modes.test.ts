import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheManager, type Logger, silentLogger } from '../src/index.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

const managers: CacheManager[] = [];
const umaskBefore = process.umask();

afterEach(async () => {
  process.umask(umaskBefore);
  for (const manager of managers.splice(0)) await manager.shutdown();
  removeTempDirs();
});

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
}

/** The store directory's mode and every file's in it, by name ('.' for the directory). */
function modes(dir: string): Record<string, string> {
  const found: Record<string, string> = { '.': mode(dir) };
  for (const name of readdirSync(dir)) found[name] = mode(join(dir, name));
  return found;
}

/** The same names, the directory 0700 and every file 0600. */
function privateModes(dir: string): Record<string, string> {
  const wanted: Record<string, string> = { '.': '0700' };
  for (const name of readdirSync(dir)) wanted[name] = '0600';
  return wanted;
}

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; obj: object; msg?: string }> } {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

function openTokens(diskStorePath: string, logger: Logger = silentLogger) {
  const manager = new CacheManager({ diskStorePath, logger });
  managers.push(manager);
  const cache = manager.addCache<string>('tokens', { overflowToDisk: true, diskPersistent: true });
  return { manager, cache };
}

describe('disk store file modes', () => {
  for (const umask of [0o022, 0o000]) {
    it(`makes the store directory 0700 and every file in it 0600 under umask ${umask.toString(8).padStart(3, '0')}`, async () => {
      const base = tempDir();
      const path = join(base, 'made', 'by', 'meshcache');
      process.umask(umask);
      const { manager, cache } = openTokens(path);
      cache.put('service-token', 'secret');
      await new Promise((resolve) => setImmediate(resolve)); // the spool commits on the next turn
      const whileOpen = modes(path);
      expect(Object.keys(whileOpen).sort()).toEqual(['.', 'data.mdb', 'lock.mdb', 'meshcache.lock']);
      expect(whileOpen).toEqual(privateModes(path));
      // Directories made above the store are never writable by other users.
      for (const above of [join(base, 'made'), join(base, 'made', 'by')]) expect(statSync(above).mode & 0o022).toBe(0);
      await manager.shutdown();
      expect(Object.keys(modes(path)).sort()).toEqual(['.', 'data.mdb', 'lock.mdb']);
      expect(modes(path)).toEqual(privateModes(path));
      const again = openTokens(path).cache;
      expect(again.get('service-token')).toBe('secret');
      expect(modes(path)).toEqual(privateModes(path));
    });
  }

  it('makes a data file set aside as corrupt 0600, and the new store with it', () => {
    const path = join(tempDir(), 'store');
    process.umask(0o000);
    mkdirSync(path, { mode: 0o777 });
    writeFileSync(join(path, 'data.mdb'), Buffer.alloc(64 * 1024, 7), { mode: 0o666 });
    const { logger, lines } = recordingLogger();
    openTokens(path, logger).cache.put('k', 'v');
    expect(lines.some((line) => (line.obj as { code?: string }).code === 'E_DISK_CORRUPT')).toBe(true);
    const found = modes(path);
    expect(Object.keys(found).some((name) => name.startsWith('data.mdb.corrupt-'))).toBe(true);
    expect(found).toEqual(privateModes(path));
  });

  it('makes a store an older release left open to other users private when it opens it, with one warning', async () => {
    const path = join(tempDir(), 'store');
    process.umask(0o022);
    const first = openTokens(path);
    first.cache.put('service-token', 'secret');
    await first.manager.shutdown();
    // What an older release left behind under umask 022: the directory 0755, its files 0644, a
    // lock file of a process that is gone, a data file it set aside; and a file of the user's own.
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) chmodSync(join(path, name), 0o644);
    writeFileSync(join(path, 'meshcache.lock'), '999999999\n', { mode: 0o644 });
    writeFileSync(join(path, 'data.mdb.corrupt-1700000000000'), 'old', { mode: 0o644 });
    writeFileSync(join(path, 'README.txt'), 'not meshcache', { mode: 0o644 });

    const { logger, lines } = recordingLogger();
    const { cache } = openTokens(path, logger);
    expect(cache.get('service-token')).toBe('secret');
    const { 'README.txt': userFile, ...store } = modes(path);
    expect(userFile).toBe('0644'); // not meshcache's to change
    const wanted = privateModes(path);
    delete wanted['README.txt'];
    expect(store).toEqual(wanted);
    const warnings = lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    const [warning] = warnings as [(typeof warnings)[number]];
    expect(warning.msg).toMatch(/open to other local users; made it private/);
    const { changed } = warning.obj as { changed: Array<{ path: string; from: string; to: string }> };
    expect(changed).toEqual(
      expect.arrayContaining([
        { path, from: '0755', to: '0700' },
        { path: join(path, 'data.mdb'), from: '0644', to: '0600' },
        { path: join(path, 'lock.mdb'), from: '0644', to: '0600' },
        { path: join(path, 'data.mdb.corrupt-1700000000000'), from: '0644', to: '0600' },
      ]),
    );
    expect(changed.some((change) => change.path.endsWith('README.txt'))).toBe(false);
  });

  it('gives the owner back a bit it lacks (a data.mdb left 0400) with an info line, not a warning that others could read it', async () => {
    const path = join(tempDir(), 'store');
    const first = openTokens(path);
    first.cache.put('service-token', 'secret');
    await first.manager.shutdown();
    chmodSync(join(path, 'data.mdb'), 0o400);
    const { logger, lines } = recordingLogger();
    const { cache } = openTokens(path, logger);
    expect(cache.get('service-token')).toBe('secret');
    expect(modes(path)['data.mdb']).toBe('0600');
    expect(lines.filter((line) => line.level === 'warn')).toEqual([]);
    expect(lines.filter((line) => line.level === 'info').map((line) => line.msg)).toContain(
      'disk store modes set to directory 0700, files 0600 (the owner lacked bits it needs)',
    );
  });

  for (const shared of [0o1777, 0o1770]) {
    it(`refuses a shared directory (sticky, mode ${shared.toString(8)}, like /tmp) and leaves its mode alone`, () => {
      const path = join(tempDir(), 'shared');
      mkdirSync(path);
      chmodSync(path, shared);
      let thrown: unknown;
      try {
        openTokens(path);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({
        code: 'E_DISK_UNWRITABLE',
        message: expect.stringMatching(
          /is a shared directory \(mode 17[0-7]{2}, sticky, like \/tmp\): give the disk store a directory of its own/,
        ),
      });
      expect(statSync(path).mode & 0o7777).toBe(shared);
      expect(readdirSync(path)).toEqual([]);
    });
  }

  it('takes a sticky directory that only its owner may write to (1700): nothing shared about it', () => {
    const path = join(tempDir(), 'own-sticky');
    mkdirSync(path);
    chmodSync(path, 0o1700);
    openTokens(path).cache.put('k', 'v');
    expect(statSync(path).mode & 0o7777).toBe(0o1700);
  });

  // Making a directory another user owns takes root; CI runs as root.
  it.runIf(process.getuid?.() === 0)(
    'refuses a store directory another user made first in a shared directory (/tmp/meshcache-gw-1 made by someone else)',
    () => {
      const shared = join(tempDir(), 'tmp');
      mkdirSync(shared);
      chmodSync(shared, 0o1777);
      const path = join(shared, 'meshcache-gw-1');
      mkdirSync(path);
      chmodSync(path, 0o777);
      chownSync(path, 12345, 12345);
      expect(() => openTokens(path)).toThrow(/belongs to another user \(uid 12345\) and lies in a shared directory/);
      expect(statSync(path).mode & 0o777).toBe(0o777);
    },
  );

  it('says nothing when the store is private already', async () => {
    const path = join(tempDir(), 'store');
    await openTokens(path).manager.shutdown();
    const { logger, lines } = recordingLogger();
    openTokens(path, logger);
    expect(lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  });

  it('treats a diskStorePath with a dot in its name as a directory, with every file inside it', async () => {
    const base = tempDir();
    const path = join(base, 'store.v1');
    const first = openTokens(path);
    first.cache.put('k', 'v');
    await first.manager.shutdown();
    expect(readdirSync(base)).toEqual(['store.v1']);
    expect(existsSync(join(path, 'data.mdb'))).toBe(true);
    expect(openTokens(path).cache.get('k')).toBe('v');
    expect(modes(path)).toEqual(privateModes(path));
  });
});
