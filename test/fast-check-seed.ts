/**
 * Every test file's setup (vitest.config.ts, setupFiles): fast-check's seed comes from
 * MESHCACHE_TEST_SEED when it is set, which scripts/run-tests.mjs always does. A property test
 * that fails then fails again on the same seed, and CI's seed is the commit's own
 * (run-tests.mjs says how), so a fresh-clone run before submitting checks the very cases CI will
 * try. Without the variable (vitest run by hand) fast-check draws a seed of its own and prints it
 * on a failure.
 */
import fc from 'fast-check';

const seed = process.env['MESHCACHE_TEST_SEED'];
if (seed !== undefined && seed !== '') {
  const value = Number(seed);
  if (!Number.isSafeInteger(value))
    throw new Error(`MESHCACHE_TEST_SEED must be an integer, not ${JSON.stringify(seed)}`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: value | 0 });
}
