import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources in tests (the `@meshcache/source`
// export condition), so tests never run against a stale build and need no build first. Vitest
// runs tests as server-side code, so the condition goes on the ssr side too, in front of Vite's
// default server conditions (setting conditions replaces the defaults).
const SOURCE = '@meshcache/source';

export default defineConfig({
  resolve: {
    conditions: [SOURCE, 'module', 'browser', 'development|production'],
  },
  ssr: {
    resolve: {
      conditions: [SOURCE, 'module', 'node', 'development|production'],
      externalConditions: [SOURCE],
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    // Byte arrays compared by their bytes, not element by element (test/byte-equality.ts says why);
    // fast-check's seed from the environment (test/fast-check-seed.ts).
    setupFiles: ['test/byte-equality.ts', 'test/fast-check-seed.ts'],
    // Two test files at a time, on CI's two cores too (vitest's default is cores - 1: one). Most of
    // the slow files wait on processes, sockets and timers rather than compute, and one worker
    // left the run near CI's 20-minute bound on a slow day (980 s of tests). Tests poll with
    // deadlines and give handshakes that are not about timing long timeouts, so a sibling file
    // slows them without failing them.
    maxWorkers: 2,
  },
});
