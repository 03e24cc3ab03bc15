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
  },
});
