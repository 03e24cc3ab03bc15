#!/usr/bin/env node
// Runs every test with vitest, then prints one plain closing line, "tests: N passed, N failed",
// that any CI can read, and exits with vitest's own exit code. With MESHCACHE_TEST_REPORT set, the
// JSON report is also copied there (scripts/hunt-flakes.mjs reads it). It also picks fast-check's
// seed for the run (below).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = mkdtempSync(join(tmpdir(), 'meshcache-tests-'));
// One fast-check seed for the whole run (test/fast-check-seed.ts), printed so that a failure can be
// replayed: MESHCACHE_TEST_SEED=N npm test. On CI it is the commit's own (its first 8 hex digits),
// so a property test cannot pass one run of a commit and fail the next: a fresh-clone run before
// submitting tries exactly what CI will, and every new commit still tries new cases.
const seed = process.env.MESHCACHE_TEST_SEED || chooseSeed();
process.env.MESHCACHE_TEST_SEED = seed;
console.log(`fast-check seed ${seed} (replay: MESHCACHE_TEST_SEED=${seed} npm test)`);
const results = join(dir, 'results.json');
// `pnpm run test:all -- FILE` hands the `--` on; vitest would then ignore FILE and run everything.
const args = process.argv.slice(2).filter((arg) => arg !== '--');
// The workspace's own vitest, so that `node scripts/run-tests.mjs FILE` runs as `pnpm run test:all`
// does; from PATH it was found only under pnpm ("spawnSync vitest ENOENT" from a plain shell).
const local = join(dirname(dirname(fileURLToPath(import.meta.url))), 'node_modules', '.bin', 'vitest');
const run = spawnSync(
  existsSync(local) ? local : 'vitest',
  ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...args],
  { stdio: 'inherit', shell: false },
);
if (run.error) {
  console.error(`could not start vitest: ${run.error.message}`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}
if (existsSync(results)) {
  if (process.env.MESHCACHE_TEST_REPORT) copyFileSync(results, process.env.MESHCACHE_TEST_REPORT);
  const summary = JSON.parse(readFileSync(results, 'utf8'));
  const skipped = summary.numPendingTests + summary.numTodoTests;
  // A test file that fails to load runs no test; count each such file as a failure.
  const brokenFiles = (summary.testResults ?? []).filter(
    (file) => file.status === 'failed' && (file.assertionResults ?? []).length === 0,
  ).length;
  const failed = summary.numFailedTests + brokenFiles;
  console.log(
    `\ntests: ${summary.numPassedTests} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`,
  );
  if (summary.numTotalTests === 0) {
    console.error('no test ran');
    run.status = 1;
  }
}
rmSync(dir, { recursive: true, force: true });
process.exit(run.status ?? 1);

function chooseSeed() {
  if (process.env.CI) {
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' });
    if (head.status === 0 && /^[0-9a-f]{8}/.test(head.stdout))
      return String(Number.parseInt(head.stdout.slice(0, 8), 16) | 0);
  }
  return String((Math.random() * 2 ** 32) | 0);
}
