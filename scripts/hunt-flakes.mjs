#!/usr/bin/env node
// Hunts flaky tests the way CI meets them: the whole suite, many times, from a fresh clone of
// HEAD (with ../shared beside it, as CI has it), every other run with two CPU-burning processes
// beside it (a loaded CI machine). Prints one line per run and, at the end, every test that
// failed even once with how often, loaded or not. Exits 1 if any run failed.
//
//   node scripts/hunt-flakes.mjs [--runs 10] [--loaded every|none|all] [--keep] [-- vitest args]
//
// Everything after `--` goes to vitest (e.g. a file filter: -- test/gateway.test.ts).
// The clone is made once and reused by every run (its first `npm test` installs); it is removed
// at the end unless --keep. Burners are stopped by pid after each run.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const own = dashdash === -1 ? argv : argv.slice(0, dashdash);
const vitestArgs = dashdash === -1 ? [] : argv.slice(dashdash + 1);
const USAGE = 'usage: node scripts/hunt-flakes.mjs [--runs 10] [--loaded every|none|all] [--keep] [-- vitest args]';
// Strict: a mistyped option (--run 20, --loded all) is refused, naming it, before anything is
// cloned; read loosely, it was ignored and ten whole-suite runs with the defaults began.
let values;
try {
  ({ values } = parseArgs({
    args: own,
    options: {
      runs: { type: 'string' },
      loaded: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  fail(`${error.message}\n${USAGE}`);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const runs = /^\d+$/.test(values.runs ?? '10') ? Number(values.runs ?? '10') : Number.NaN;
const loaded = values.loaded ?? 'every';
const keep = values.keep === true;
if (!Number.isSafeInteger(runs) || runs < 1)
  fail(`--runs must be a whole number >= 1, got ${JSON.stringify(values.runs)}`);
if (!['every', 'none', 'all'].includes(loaded))
  fail(`--loaded must be every, none or all, got ${JSON.stringify(loaded)}`);

function firstLine(text) {
  return (
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim()
      .slice(0, 300) ?? ''
  );
}

function fail(message) {
  console.error(`hunt-flakes: ${message}`);
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'meshcache-flakes-'));
const clone = join(work, 'p');
const cloned = spawnSync('git', ['clone', '--quiet', root, clone], { stdio: 'inherit' });
if (cloned.status !== 0) fail('git clone failed');
const shared = join(root, '..', 'shared');
if (existsSync(shared)) cpSync(shared, join(work, 'shared'), { recursive: true });
const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: clone, encoding: 'utf8' }).stdout.trim();
console.log(`hunt-flakes: ${runs} runs of ${head} in ${clone}, loaded: ${loaded}`);

/** Two processes that burn a core each until stopped (by pid). */
function burn() {
  return [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

function runOnce(report, seed) {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn('npm', ['test', '--', ...vitestArgs], {
      cwd: clone,
      // CI would give every run of one commit the same fast-check seed (scripts/run-tests.mjs);
      // a hunt wants a new one each run.
      env: { ...process.env, CI: 'true', MESHCACHE_TEST_REPORT: report, MESHCACHE_TEST_SEED: String(seed) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keepTail = (chunk) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keepTail);
    child.stderr.on('data', keepTail);
    child.on('exit', (code) => done({ code, seconds: (Date.now() - started) / 1000, tail }));
  });
}

const failures = new Map(); // test name -> { quiet, loaded, errors }
let failedRuns = 0;
for (let run = 1; run <= runs; run++) {
  const underLoad = loaded === 'all' || (loaded === 'every' && run % 2 === 0);
  const burners = underLoad ? burn() : [];
  const report = join(work, `report-${run}.json`);
  const seed = (Math.random() * 2 ** 32) | 0;
  const result = await runOnce(report, seed);
  for (const burner of burners) burner.kill('SIGKILL');
  let passed = 0;
  const failed = [];
  const errors = new Map(); // test name -> the first line of its error, this run
  if (existsSync(report)) {
    const summary = JSON.parse(readFileSync(report, 'utf8'));
    passed = summary.numPassedTests;
    for (const file of summary.testResults ?? []) {
      const path = file.name.startsWith(clone) ? file.name.slice(clone.length + 1) : file.name;
      if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed.push(`${path} (did not load)`);
      for (const test of file.assertionResults ?? []) {
        if (test.status !== 'failed') continue;
        const name = `${path} > ${test.fullName}`;
        failed.push(name);
        errors.set(name, firstLine(test.failureMessages?.[0] ?? file.message ?? ''));
      }
    }
  }
  if (result.code !== 0 && failed.length === 0)
    failed.push(`(the run failed without a test failing: exit ${result.code})`);
  for (const name of failed) {
    const seen = failures.get(name) ?? { quiet: 0, loaded: 0, errors: [] };
    seen[underLoad ? 'loaded' : 'quiet']++;
    if (errors.get(name)) seen.errors.push(`run ${run}: ${errors.get(name)}`);
    failures.set(name, seen);
  }
  if (failed.length > 0) failedRuns++;
  console.log(
    `run ${String(run).padStart(2)} ${underLoad ? 'loaded' : 'quiet '} ${result.seconds.toFixed(0).padStart(4)} s  ` +
      `${passed} passed, ${failed.length} failed${failed.length > 0 ? ` (seed ${seed}): ${failed.join('; ')}` : ''}`,
  );
  if (result.code !== 0 && failed[0]?.startsWith('(the run')) console.log(result.tail);
}

console.log(`\nhunt-flakes: ${runs - failedRuns} of ${runs} runs green`);
for (const [name, seen] of [...failures].sort((a, b) => b[1].quiet + b[1].loaded - (a[1].quiet + a[1].loaded))) {
  console.log(`  failed ${seen.quiet} quiet, ${seen.loaded} loaded: ${name}`);
  for (const error of seen.errors) console.log(`    ${error}`);
}
if (!keep) rmSync(work, { recursive: true, force: true });
process.exit(failedRuns === 0 ? 0 : 1);
