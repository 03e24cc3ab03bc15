/**
 * CI's soak: test/soak.ts for 60 seconds (three processes, 1,000 writes and removals per second
 * each over 20,000 keys): no process dies, no peer queue passes its bound (64 MiB) nor RSS 512
 * MiB, and the three hold the same contents at the end. The figures are printed, not asserted; the
 * 10-minute run and its RSS criterion are in bench/README.md.
 */
import { describe, expect, it } from 'vitest';
import './cluster-harness.js';
import { LONG, MiB, printTable } from './reliability-figures.js';
import { soak, summary } from './soak.js';

describe('soak', () => {
  it(
    'three processes under steady writes and removals: memory and queues stay bounded, contents equal at the end',
    async () => {
      const result = await soak({ seconds: LONG ? 600 : 60, rate: LONG ? 3000 : 1000, keys: 20_000 });
      expect(result.samples).toHaveLength(LONG ? 600 : 60);
      for (const sample of result.samples) {
        expect(sample.mostQueuedBytes).toBeLessThanOrEqual(64 * MiB);
        for (const rss of sample.rssMiB) expect(rss).toBeLessThan(512);
      }
      expect(result.entries).toBeGreaterThan(0);
      for (const growth of result.rssGrowth) if (growth !== undefined) expect(growth).toBeLessThanOrEqual(1.2);
      printTable('soak', [summary(result)]);
    },
    (LONG ? 15 : 3) * 60_000,
  );
});
