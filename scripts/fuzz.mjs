#!/usr/bin/env node
// The fuzzer's long run: packages/replication/test/fuzz.test.ts with many more frames than CI
// sends (10,000 each side of authentication). Prints the figures of each side (frames, sessions,
// accepted and rejected, heap growth after a forced GC) and exits with vitest's exit code.
//
//   node scripts/fuzz.mjs [--frames 100000] [--seed N]     (npm run fuzz)
//
// A failure prints fast-check's seed and path: `--seed N` runs that sequence again.
import { spawnSync } from 'node:child_process';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const at = argv.indexOf(name);
  return at === -1 ? fallback : argv[at + 1];
};
const frames = Number(option('--frames', '100000'));
const seed = option('--seed', undefined);
if (!Number.isInteger(frames) || frames < 1) {
  console.error('fuzz: --frames must be a whole number >= 1');
  process.exit(2);
}
if (seed !== undefined && !Number.isInteger(Number(seed))) {
  console.error('fuzz: --seed must be a whole number');
  process.exit(2);
}
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
