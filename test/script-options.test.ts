/**
 * The long-running scripts CONTRIBUTING.md gives (hunt-flakes: ten whole-suite runs; fuzz: tens
 * of minutes) refuse an option they do not know, naming it, and exit 2 before they start: read
 * loosely, `--run 20` or `--frame 1000` was ignored and the defaults ran in its place.
 *
 * `npm` and `vitest` are stubs on the PATH here, so a script that ignored the mistake would end
 * at once (and this test would fail) instead of starting the suite.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const stubs = mkdtempSync(join(tmpdir(), 'meshcache-script-stubs-'));
for (const name of ['npm', 'vitest']) {
  writeFileSync(join(stubs, name), '#!/bin/sh\nexit 0\n');
  chmodSync(join(stubs, name), 0o755);
}
afterAll(() => rmSync(stubs, { recursive: true, force: true }));

function run(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(root, 'scripts', script), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PATH: `${stubs}${delimiter}${process.env['PATH'] ?? ''}` },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('scripts/hunt-flakes.mjs', () => {
  it('refuses an unknown option, naming it, with exit 2', () => {
    const { status, stderr, stdout } = run('hunt-flakes.mjs', ['--run', '3']);
    expect(stderr).toContain("Unknown option '--run'");
    expect(stderr).toContain('usage: node scripts/hunt-flakes.mjs');
    expect(stdout).not.toContain('runs of');
    expect(status).toBe(2);
  });

  it('prints its usage for --help and exits 0', () => {
    const { status, stdout } = run('hunt-flakes.mjs', ['--help']);
    expect(stdout).toContain('usage: node scripts/hunt-flakes.mjs');
    expect(status).toBe(0);
  });

  it('names a --runs that is not a whole number', () => {
    const { status, stderr } = run('hunt-flakes.mjs', ['--runs', '2x']);
    expect(stderr).toContain('--runs must be a whole number >= 1, got "2x"');
    expect(status).toBe(2);
  });
});

describe('scripts/fuzz.mjs', () => {
  it('refuses an unknown option, naming it, with exit 2', () => {
    const { status, stderr } = run('fuzz.mjs', ['--frame', '1000']);
    expect(stderr).toContain("Unknown option '--frame'");
    expect(stderr).toContain('usage: npm run fuzz');
    expect(status).toBe(2);
  });

  it('prints its usage for --help and exits 0', () => {
    const { status, stdout } = run('fuzz.mjs', ['--help']);
    expect(stdout).toContain('usage: npm run fuzz');
    expect(status).toBe(0);
  });

  it('still takes the options CONTRIBUTING.md gives', () => {
    const { status, stdout } = run('fuzz.mjs', ['--', '--frames', '1000', '--seed', '1234567']);
    expect(stdout).toContain('fuzz: 1000 frames each side of authentication, seed 1234567');
    expect(status).toBe(0); // the stub vitest
  });
});
