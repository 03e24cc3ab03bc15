#!/usr/bin/env node
// The fuzzer's long run: packages/replication/test/fuzz.test.ts with many more frames than CI
// sends (10,000 each side of authentication). Prints the figures of each side (frames, sessions,
// accepted and rejected, heap growth after a forced GC) and exits with vitest's exit code.
//
//   node scripts/fuzz.mjs [--frames 100000] [--seed N]     (npm run fuzz)
//
// A failure prints fast-check's seed and path: `--seed N` runs that sequence again.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run fuzz -- [--frames 100000] [--seed N]';
/** Says what was wrong with the command line and exits 2 (bad usage). */
function usage(problem) {
  console.error(`fuzz: ${problem}`);
  console.error(USAGE);
  process.exit(2);
}
// Strict: a mistyped option (--frame 1000) is refused, naming it; read loosely, it was ignored
// and the default 100,000 frames ran for tens of minutes.
let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: { frames: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usage(error.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const frames = /^\d+$/.test(values.frames ?? '100000') ? Number(values.frames ?? '100000') : Number.NaN;
const seed = values.seed;
if (!Number.isSafeInteger(frames) || frames < 1)
  usage(`--frames must be a whole number >= 1, got ${JSON.stringify(values.frames)}`);
if (seed !== undefined && !/^-?\d+$/.test(seed)) usage(`--seed must be a whole number, got ${JSON.stringify(seed)}`);
console.log(`fuzz: ${frames} frames each side of authentication${seed === undefined ? '' : `, seed ${seed}`}`);
const run = spawnSync('vitest', ['run', 'packages/replication/test/fuzz.test.ts'], {
  stdio: 'inherit',
  shell: false,
  env: {
    ...process.env,
    MESHCACHE_FUZZ_FRAMES: String(frames),
    ...(seed === undefined ? {} : { MESHCACHE_FUZZ_SEED: seed }),
  },
});
if (run.error) {
  console.error(`fuzz: could not start vitest: ${run.error.message}`);
  process.exit(1);
}
process.exit(run.status ?? 1);
